"""Download bundles: one zip with a space's template and a parcellation's or region's map.

:func:`build_bundle` is the work behind siibra-api's ``download_all`` handler. The
zip holds

- ``README.md``: the neuratlas version, the UTC time the bundle was made, and the
  request (the resolved space, parcellation, region and feature);
- ``LICENCE.txt``: the licence of each part, from the specs' ``source.licence``,
  with where the data comes from;
- ``{space key}.nii.gz`` and ``{space key}.info.md``: the space's template;
- without a region, ``{parcellation key}.nii.gz``: the parcellation's labelled map;
  with a region, ``{region key}.nii.gz``: its statistical map, or its labelled mask
  where the parcellation has no statistical map in that space; each with an
  ``.info.md`` (name, description, publications as citations);
- with a ``feature_id``, ``export-{feature id}.zip``: the feature's export (its data
  and ``metadata.json``, see :meth:`neuratlas.features.Feature.export`), or, as
  siibra-api does, ``{feature id}.error.txt`` ("Feature exporting failed: ...")
  when the id is unknown or its data cannot be had. Characters of the id other
  than letters, digits, ``.``, ``_`` and ``-`` become ``_`` in these names.

A surface space (e.g. fsaverage5) has meshes instead of images, so its bundle holds
GIfTI files, one per hemisphere (``left``, ``right``, as :meth:`Mesh.split` names
them), as FreeSurfer and Connectome Workbench write them: the template as
``{space key}_{hemisphere}.surf.gii``, the labelled map as
``{parcellation key}_{hemisphere}.label.gii`` (its label table names the regions
and gives their colours) and a region's 0/1 mask as
``{region key}_{hemisphere}.label.gii``, with the same ``.info.md`` files.

A part that cannot be made becomes ``{file name}.error.txt`` (the error's message
and hint), so that a bundle is always a valid zip. Bundles live in the neuratlas
cache under a key made of the resolved ``@id`` s, the neuratlas version and
:data:`BUNDLE_LAYOUT`, so identical requests (also through different aliases)
reuse one file; the cache's LRU cap bounds their disk use. A bundle in which a
part failed for a reason that may pass (data not fetched, a corrupt file) is
written next to the reusable one and rebuilt by the next request.
"""

from __future__ import annotations

import contextlib
import logging
import re
import tempfile
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

import neuratlas
from neuratlas.core.label_table import surface_label_table
from neuratlas.errors import Error, NotFoundError
from neuratlas.retrieval.cache import (
    atomic_write,
    cache_key,
    cache_path,
    evict,
    max_bytes,
    touch,
)

if TYPE_CHECKING:
    import nibabel as nib

    from neuratlas.core.concept import Concept
    from neuratlas.core.maps import Map
    from neuratlas.core.parcellation import Parcellation
    from neuratlas.core.region import Region
    from neuratlas.core.space import Space

log = logging.getLogger(__name__)

_T = TypeVar("_T")

#: The cache area that holds the bundles.
BUNDLE_AREA = "bundles"
#: What the bundles hold, in the key of each: raised when that changes, so that a
#: bundle made before is not reused (2: GIfTI parts for surface spaces, which were
#: error parts, and reusable ones, before).
BUNDLE_LAYOUT = 3
# 3: a feature's export instead of a note that neuratlas has no features
#: What the error part of a feature says before the reason (siibra-api's words).
FEATURE_EXPORT_FAILED = "Feature exporting failed: "
# characters kept in the file names made from a feature id (ids hold "/" and ":")
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


@dataclass(frozen=True)
class BundleRequest:
    """A download request with its ids resolved to catalogue objects.

    Attributes
    ----------
    space : Space
    parcellation : Parcellation
    region : Region or None
        None for the whole parcellation's labelled map.
    feature_id : str or None
    """

    space: Space
    parcellation: Parcellation
    region: Region | None = None
    feature_id: str | None = None

    @property
    def ids(self) -> dict[str, str | None]:
        """The request as ``@id`` s: the same for every alias of the same objects."""
        return {
            "space": self.space.id,
            "parcellation": self.parcellation.id,
            "region": self.region.id if self.region is not None else None,
            "feature": self.feature_id,
        }

    @property
    def key(self) -> str:
        """The cache key of the bundle: the resolved request, the neuratlas version, the layout."""
        return cache_key(self.ids, neuratlas.__version__, BUNDLE_LAYOUT)

    def cached(self) -> Path | None:
        """The complete bundle made earlier for this request (a use, for the LRU cap), or None."""
        done = cache_path(BUNDLE_AREA, self.key, ".zip")
        if not done.is_file():
            return None
        touch(done)
        return done


def resolve_request(
    space_id: str,
    parcellation_id: str,
    region_id: str | None = None,
    feature_id: str | None = None,
) -> BundleRequest:
    """Look up the objects a download request names, with the catalogue's fuzzy matching.

    Raises
    ------
    NotFoundError
        An unknown space, parcellation or region (with suggestions).
    AmbiguousError
        An id that fits several objects equally well (with the candidates).
    """
    space = neuratlas.get_space(space_id)
    parcellation = neuratlas.get_parcellation(parcellation_id)
    region = parcellation.get_region(region_id) if region_id else None
    return BundleRequest(space, parcellation, region, feature_id or None)


def find_bundle(
    space_id: str,
    parcellation_id: str,
    region_id: str | None = None,
    feature_id: str | None = None,
) -> Path | None:
    """The bundle :func:`build_bundle` would return, if it is made already; else None.

    Cheap (lookups and one file check), for the HTTP app to answer a cached bundle
    at once and send only the making of a new one to its workers.

    Raises
    ------
    NotFoundError, AmbiguousError
        As :func:`resolve_request`.
    """
    return resolve_request(space_id, parcellation_id, region_id, feature_id).cached()


def build_bundle(
    space_id: str,
    parcellation_id: str,
    region_id: str | None = None,
    feature_id: str | None = None,
) -> Path:
    """Make (or reuse) the download bundle of a space, a parcellation and optionally a region.

    Parameters
    ----------
    space_id : str
        Name, alias, key or ``@id`` of the space of the template and the map.
    parcellation_id : str
        Name, alias, key or ``@id`` of the parcellation.
    region_id : str, optional
        A region of the parcellation: the bundle holds its map instead of the
        parcellation's labelled map.
    feature_id : str, optional
        A feature (:func:`neuratlas.features.get_instance_by_id`): the bundle also
        holds its export, ``export-{feature id}.zip``, or ``{feature id}.error.txt``.

    Returns
    -------
    pathlib.Path
        The zip in the neuratlas cache. A bundle made earlier for the same objects
        is returned as it is (its README keeps the time it was made).

    Raises
    ------
    NotFoundError
        An unknown id; nothing is built.
    AmbiguousError
        An ambiguous id; nothing is built.
    """
    request = resolve_request(space_id, parcellation_id, region_id, feature_id)
    found = request.cached()
    if found is not None:
        return found
    done = cache_path(BUNDLE_AREA, request.key, ".zip")
    # built under another name, so that a bundle with a part that may work next time
    # is never reused: only a complete one is renamed to the name looked up above
    partial = cache_path(BUNDLE_AREA, request.key, ".partial.zip")
    target = partial
    if _write(request, partial).reusable:
        # gone: the same bundle was built and renamed meanwhile by another worker
        with contextlib.suppress(FileNotFoundError):
            partial.replace(done)
        target = done
    # the cap bounds the bundles, but never deletes the one just made (a cap smaller
    # than one bundle would otherwise hand back a path that is gone); a partial bundle
    # renamed meanwhile by another worker leaves nothing to measure, and that one evicts
    with contextlib.suppress(FileNotFoundError):
        evict(max(max_bytes(), target.stat().st_size))
    return target


@dataclass
class _Writer:
    """Writes the parts of one bundle, turning a failed part into an error file."""

    archive: zipfile.ZipFile
    #: (what, source) pairs whose licences go into LICENCE.txt
    licensed: list[tuple[str, Concept]] = field(default_factory=list)
    #: False once a part failed for a reason that may pass on another try
    reusable: bool = True

    def text(self, name: str, content: str) -> None:
        self.archive.writestr(name, content, compress_type=zipfile.ZIP_DEFLATED)

    def nifti(self, name: str, fetch: Callable[[], nib.Nifti1Image]) -> None:
        """Write one gzipped NIfTI part; on failure write ``{name}.error.txt``."""
        # heavy: NumPy and nibabel, only when a bundle is actually built
        from neuratlas.volumes.nifti import to_nifti_bytes

        data = self._make(name, lambda: to_nifti_bytes(fetch()))
        if data is not None:
            # already gzip: deflating it again costs time and saves nothing
            self.archive.writestr(name, data, compress_type=zipfile.ZIP_STORED)

    def gifti(
        self, stem: str, suffix: str, fetch: Callable[[], dict[str, nib.gifti.GiftiImage]]
    ) -> list[str]:
        """Write a GIfTI part per hemisphere: ``{stem}_{hemisphere}{suffix}``.

        ``fetch`` gives the image of each hemisphere; an image under ``""`` (a mesh
        not split by hemisphere) is written as ``{stem}{suffix}``. On failure, one
        ``{stem}{suffix}.error.txt`` stands for the part. Returns the names of the
        files, or ``[stem + suffix]`` for a part that failed (for LICENCE.txt, which
        names a failed NIfTI part the same way).
        """
        name = f"{stem}{suffix}"
        files = self._make(
            name,
            lambda: {
                (f"{stem}_{hemisphere}" if hemisphere else stem) + suffix: img.to_bytes()
                for hemisphere, img in fetch().items()
            },
        )
        if files is None:
            return [name]
        for file, data in files.items():
            # base64 text around gzipped arrays: deflate still saves about a quarter
            self.archive.writestr(file, data, compress_type=zipfile.ZIP_DEFLATED)
        return list(files)

    def _make(self, name: str, make: Callable[[], _T]) -> _T | None:
        """``make()``, or None after writing ``{name}.error.txt`` if it fails."""
        try:
            return make()
        except Error as exc:
            # a lookup that fails now fails every time; anything else may pass
            self.reusable = self.reusable and isinstance(exc, NotFoundError)
            self.text(f"{name}.error.txt", _error_text(exc))
        except Exception as exc:
            # never a broken bundle: the user gets a zip that says what went wrong
            log.exception("bundle part %s failed", name)
            self.reusable = False
            self.text(f"{name}.error.txt", f"internal error: {type(exc).__name__}: {exc}\n")
        return None


def _write(request: BundleRequest, target: Path) -> _Writer:
    """Write the bundle of ``request`` atomically to ``target``."""
    with (
        atomic_write(target) as handle,
        zipfile.ZipFile(handle, "w", zipfile.ZIP_DEFLATED) as archive,
    ):
        writer = _Writer(archive)
        writer.text("README.md", _readme(request))
        if request.feature_id is not None:
            _write_feature(writer, request.feature_id)
        if request.space.is_surface:
            _write_surface_template(writer, request.space)
            _write_surface_labels(writer, request.parcellation, request.space, request.region)
        else:
            _write_template(writer, request.space)
            if request.region is None:
                _write_parcellation_map(writer, request.parcellation, request.space)
            else:
                _write_region_map(writer, request.region, request.space)
        writer.text("LICENCE.txt", _licences(writer.licensed))
    return writer


def feature_file_stem(feature_id: str) -> str:
    """``feature_id`` as a file name: unsafe characters (``/``, ``:`` ...) become ``_``."""
    return _UNSAFE.sub("_", feature_id).strip("._") or "feature"


def _write_feature(writer: _Writer, feature_id: str) -> None:
    """The feature's export as ``export-{id}.zip``, or ``{id}.error.txt`` saying why not."""
    stem = feature_file_stem(feature_id)
    try:
        data = _feature_export(feature_id)
    except Error as exc:
        # an unknown id may become known (a live feature), data may become reachable
        writer.reusable = False
        writer.text(f"{stem}.error.txt", FEATURE_EXPORT_FAILED + _error_text(exc))
        return
    except Exception as exc:
        log.exception("exporting feature %s failed", feature_id)
        writer.reusable = False
        writer.text(
            f"{stem}.error.txt",
            f"{FEATURE_EXPORT_FAILED}internal error: {type(exc).__name__}: {exc}\n",
        )
        return
    # a zip in a zip: deflating it again saves nothing
    writer.archive.writestr(f"export-{stem}.zip", data, compress_type=zipfile.ZIP_STORED)


def _feature_export(feature_id: str) -> bytes:
    """The bytes of the export zip of the feature with this id."""
    # heavy: the features bring pandas and read their sources; only for a feature_id
    from neuratlas.features.query import get_instance_by_id

    feature = get_instance_by_id(feature_id)
    with tempfile.TemporaryDirectory(prefix="neuratlas-feature-") as folder:
        return feature.export(Path(folder) / "export.zip").read_bytes()


def _write_template(writer: _Writer, space: Space) -> None:
    name = f"{space.key}.nii.gz"
    writer.licensed.append((f"the template of {space.name} ({name})", space))
    writer.text(f"{space.key}.info.md", _info(space.name, space))
    writer.nifti(name, lambda: space.get_template().fetch())


def _write_parcellation_map(writer: _Writer, parcellation: Parcellation, space: Space) -> None:
    name = f"{parcellation.key}.nii.gz"
    writer.licensed.append((f"the parcellation {parcellation.name} ({name})", parcellation))
    writer.text(f"{parcellation.key}.info.md", _info(parcellation.name, parcellation))

    def fetch() -> nib.Nifti1Image:
        the_map = parcellation.get_map(space, "labelled")
        if the_map.source is not None:  # most maps share their parcellation's source
            writer.licensed.append((f"the map {the_map.name} ({name})", the_map))
        return the_map.fetch()

    writer.nifti(name, fetch)


def _write_region_map(writer: _Writer, region: Region, space: Space) -> None:
    parcellation = region.parcellation
    name = f"{region.key}.nii.gz"
    writer.licensed.append((f"the parcellation {parcellation.name} ({name})", parcellation))
    what = f"{region.name}, a region of {parcellation.name}"
    writer.text(f"{region.key}.info.md", _info(what, parcellation))

    def fetch() -> nib.Nifti1Image:
        the_map = _region_map(parcellation, space)
        if the_map.source is not None:  # most maps share their parcellation's source
            writer.licensed.append((f"the map {the_map.name} ({name})", the_map))
        return the_map.fetch(region=region)

    writer.nifti(name, fetch)


def _region_map(parcellation: Parcellation, space: Space) -> Map:
    """The statistical map of ``parcellation`` in ``space``, else its labelled map."""
    try:
        return parcellation.get_map(space, "statistical")
    except NotFoundError:
        return parcellation.get_map(space, "labelled")


def _write_surface_template(writer: _Writer, space: Space) -> None:
    """The template of a surface space: the mesh of each hemisphere."""
    # heavy: NumPy and nibabel, only when a bundle is actually built
    from neuratlas.volumes.surfaces import gifti_mesh

    writer.text(f"{space.key}.info.md", _info(space.name, space))
    files = writer.gifti(
        space.key,
        ".surf.gii",
        lambda: {
            hemisphere: gifti_mesh(part, hemisphere)
            for hemisphere, part in space.get_template().fetch().split().items()
        },
    )
    writer.licensed.append((f"the template of {space.name} ({', '.join(files)})", space))


def _write_surface_labels(
    writer: _Writer, parcellation: Parcellation, space: Space, region: Region | None
) -> None:
    """The labelled map of a surface space, or a region's mask on it, per hemisphere."""
    # heavy: NumPy and nibabel, only when a bundle is actually built
    from neuratlas.volumes.surfaces import gifti_labels

    if region is None:
        stem, title = parcellation.key, parcellation.name
    else:
        stem, title = region.key, f"{region.name}, a region of {parcellation.name}"
    writer.text(f"{stem}.info.md", _info(title, parcellation))
    used: list[Map] = []  # the map, once found, for LICENCE.txt

    def fetch() -> dict[str, nib.gifti.GiftiImage]:
        # surface maps hold labels only: a region's map is its mask on the labelled map
        the_map = parcellation.get_map(space, "labelled")
        used.append(the_map)
        mesh = the_map.fetch() if region is None else the_map.fetch_mask(region)
        images = {}
        for hemisphere, half in mesh.split().items():
            names, colours = surface_label_table(the_map, hemisphere, region)
            images[hemisphere] = gifti_labels(half.labels, names, colours, hemisphere)
        return images

    listed = ", ".join(writer.gifti(stem, ".label.gii", fetch))
    writer.licensed.append((f"the parcellation {parcellation.name} ({listed})", parcellation))
    for the_map in used:
        if the_map.source is not None:  # most maps share their parcellation's source
            writer.licensed.append((f"the map {the_map.name} ({listed})", the_map))


def _error_text(exc: Error) -> str:
    """The contents of an ``.error.txt`` part: the message and, if any, the hint."""
    text = f"{exc.message}\n"
    return text + (f"hint: {exc.hint}\n" if exc.hint else "")


def _readme(request: BundleRequest) -> str:
    space, parcellation, region = request.space, request.parcellation, request.region
    lines = [
        "# neuratlas download bundle",
        "",
        f"- neuratlas version: {neuratlas.__version__}",
        f"- created (UTC): {datetime.now(UTC).isoformat(timespec='seconds')}",
        "",
        "## Request",
        "",
        f"- space: {space.name} (`{space.id}`)",
        f"- parcellation: {parcellation.name} (`{parcellation.id}`)",
    ]
    if region is not None:
        lines.append(f"- region: {region.name} (`{region.id}`)")
    if request.feature_id is not None:
        lines.append(f"- feature: `{request.feature_id}`")
    lines += ["", "## Contents", "", "- `LICENCE.txt`: the licences of the data in this bundle"]
    part = region if region is not None else parcellation
    if space.is_surface:
        kind = (
            "the region's mask (label 1 in the region), one GIfTI label file per hemisphere"
            if region
            else "the labelled map, one GIfTI label file per hemisphere (its label table "
            "names the regions and gives their colours)"
        )
        lines += [
            f"- `{space.key}_<hemisphere>.surf.gii`: the template of the space, one GIfTI "
            f"mesh per hemisphere (coordinates in mm), `{space.key}.info.md` about it",
            f"- `{part.key}_<hemisphere>.label.gii`: {kind}, `{part.key}.info.md` about it",
            "",
            "`<hemisphere>` is `left` or `right`; a label file goes with the mesh of its "
            "hemisphere.",
        ]
    else:
        kind = "the region's statistical map (or its mask)" if region else "the labelled map"
        lines += [
            f"- `{space.key}.nii.gz`: the template of the space, `{space.key}.info.md` about it",
            f"- `{part.key}.nii.gz`: {kind}, `{part.key}.info.md` about it",
        ]
    lines += ["", "A part that could not be made is replaced by `<file name>.error.txt`.", ""]
    return "\n".join(lines)


def _info(title: str, concept: Concept) -> str:
    """The ``.info.md`` of a part: its name, the description and the citations."""
    citations = concept.citations() or "No publications are listed."
    description = concept.description or "No description is given."
    return f"# {title}\n\n## Description\n\n{description}\n\n## Publications\n\n{citations}\n"


def _licences(licensed: list[tuple[str, Concept]]) -> str:
    """LICENCE.txt: each licence once, with the parts it covers and their sources."""
    by_licence: dict[str, list[str]] = {}
    for what, concept in licensed:
        source = concept.source
        licence = (source.licence if source else None) or "no licence is stated in the spec"
        where = [source.url, source.package and f"package {source.package}"] if source else []
        found = ", ".join(w for w in where if w)
        line = f"- {what}" + (f", from {found}" if found else "")
        entries = by_licence.setdefault(licence, [])
        if line not in entries:
            entries.append(line)
    blocks = [f"Licence: {licence}\n" + "\n".join(lines) for licence, lines in by_licence.items()]
    header = "Licences of the data in this bundle (from the neuratlas specs)\n\n"
    return header + "\n\n".join(blocks) + "\n"
