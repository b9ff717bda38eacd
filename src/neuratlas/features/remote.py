"""Fetch and decode the remote data of feature specs, with provider remapping.

siibra's feature specs name their data by URL: tables (``.csv``, ``.tsv``,
``.txt``), NIfTI volumes, members of zip archives (``"<zip URL> <member>"``),
files of a repository (a zip, a local folder, a GitLab project) and
neuroglancer precomputed volumes. Every fetch goes through the retrieval layer
(:mod:`neuratlas.retrieval.packages` and :mod:`neuratlas.retrieval.http`), so a
file is downloaded once and read from the on-disk cache afterwards.

``NEURATLAS_REMAP_PROVIDERS="from::to[,from::to]"`` rewrites URL prefixes before
anything is fetched, so that the data can come from a mirror. A URL that cannot
be fetched raises :class:`~neuratlas.errors.DataUnavailableError` naming it and
the two remedies: a mirror, or the file placed in the cache by hand.
"""

from __future__ import annotations

import gzip
import json
import os
from collections.abc import Mapping
from pathlib import Path, PurePosixPath
from typing import Any
from urllib.parse import quote, urlsplit

from neuratlas.errors import ArgumentError, DataUnavailableError, ImageError, SpecError
from neuratlas.retrieval import cache, http, packages

#: The environment variable holding the URL prefix rewrites.
REMAP_ENV = "NEURATLAS_REMAP_PROVIDERS"
#: The options of ``pandas.read_csv`` a spec's csv decoder may set.
CSV_OPTIONS = frozenset(
    {"delimiter", "sep", "header", "index_col", "names", "skiprows", "comment", "decimal"}
)
#: The precomputed volume encodings this module decodes.
PRECOMPUTED_ENCODINGS = frozenset({"raw"})
#: A precomputed scale larger than this many voxels is refused (it would not fit in memory).
MAX_PRECOMPUTED_VOXELS = 512 * 1024**2

_parsed_rules: tuple[str, tuple[tuple[str, str], ...]] = ("", ())


def remap_rules() -> tuple[tuple[str, str], ...]:
    """The prefix rewrites of ``$NEURATLAS_REMAP_PROVIDERS``, in the order given.

    Returns
    -------
    tuple of (str, str)
        ``(from, to)`` pairs; empty when the variable is unset.

    Raises
    ------
    ArgumentError
        An entry is not ``from::to`` with both sides non-empty.
    """
    global _parsed_rules
    text = os.environ.get(REMAP_ENV, "").strip()
    if text == _parsed_rules[0]:
        return _parsed_rules[1]
    rules = []
    for entry in filter(None, (part.strip() for part in text.split(","))):
        source, sep, target = entry.partition("::")
        if not sep or not source.strip() or not target.strip():
            raise ArgumentError(
                f"{REMAP_ENV} entry {entry!r} is not 'from::to'",
                hint=f'write {REMAP_ENV}="https://original.host/path/::https://mirror/path/" '
                "(several rules separated by commas)",
            )
        rules.append((source.strip(), target.strip()))
    _parsed_rules = (text, tuple(rules))
    return _parsed_rules[1]


def remap(url: str) -> str:
    """Rewrite ``url`` by the first rule of ``$NEURATLAS_REMAP_PROVIDERS`` whose prefix it has.

    Examples
    --------
    >>> import os
    >>> os.environ["NEURATLAS_REMAP_PROVIDERS"] = "https://a.org/data/::http://127.0.0.1:8000/"
    >>> remap("https://a.org/data/x.csv")
    'http://127.0.0.1:8000/x.csv'
    >>> del os.environ["NEURATLAS_REMAP_PROVIDERS"]
    """
    for source, target in remap_rules():
        if url.startswith(source):
            return target + url[len(source) :]
    return url


def _is_web(url: str) -> bool:
    return urlsplit(url).scheme.lower() in ("http", "https")


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}/"


def _unavailable(exc: DataUnavailableError, asked: str, fetched: str) -> DataUnavailableError:
    """The retrieval layer's error, with this module's remedies added."""
    via = f" (remapped to {fetched})" if fetched != asked else ""
    mirror = (
        f'point {REMAP_ENV} at a mirror, e.g. {REMAP_ENV}="{_origin(asked)}::<mirror URL>"'
        if _is_web(asked)
        else "check the path in the spec"
    )
    other = f"; or {exc.hint}" if exc.hint else ""
    if "place it at" in other:
        other += f" (${cache.CACHE_ENV} chooses the cache folder)"
    return DataUnavailableError(
        f"the data at {http.short_url(asked)}{via} is not available: {exc.message}",
        source=asked,
        hint=mirror + other,
    )


def fetch(url: str, *, base: str | os.PathLike[str] | None = None) -> Path:
    """A local copy of the file at ``url``, remapped, downloaded once into the cache.

    Parameters
    ----------
    url : str
        ``http(s)://``, ``pkg://``, ``file://``, an absolute or relative path, or
        ``"<zip location> <member>"`` for a file inside a zip archive.
    base : path-like, optional
        The folder relative paths are read from (the spec's folder).

    Returns
    -------
    pathlib.Path
        An existing local file.

    Raises
    ------
    DataUnavailableError
        The file cannot be fetched or found; names the URL, a mirror setting and
        where to place the file by hand.
    SpecError
        The location is malformed.
    """
    location = url.strip()
    first, _, member = location.partition(" ")
    if member.strip() and first.lower().endswith(".zip"):
        return fetch_member(first, member.strip(), base=base)
    target = remap(location)
    try:
        return packages.resolve(target, base=base)
    except DataUnavailableError as exc:
        raise _unavailable(exc, location, target) from exc


def fetch_member(archive: str, member: str, *, base: str | os.PathLike[str] | None = None) -> Path:
    """A file inside a zip archive at ``archive`` (fetched and extracted once, cached).

    Raises
    ------
    DataUnavailableError
        The archive cannot be fetched or read, or lacks the member.
    """
    target = remap(archive.strip())
    try:
        return packages.resolve_in_zip(f"{target} {member}", base=base)
    except DataUnavailableError as exc:
        raise _unavailable(exc, archive.strip(), target) from exc


def repository_url(repository: Mapping[str, Any], file: str) -> str:
    """The location of ``file`` in a siibra repository spec, as :func:`fetch` reads it.

    Parameters
    ----------
    repository : mapping
        ``{"@type": "siibra/repository/zippedfile/v1.0.0", "url": ...}``,
        ``{"@type": "siibra/repository/localfolder/v1.0.0", "folder": ...}`` or
        ``{"@type": "siibra/repository/gitlab/v1.0.0", "server", "project", "branch"}``.
    file : str
        The file's path within the repository.

    Raises
    ------
    SpecError
        An unknown repository type, or a field missing.
    """
    kind = str(repository.get("@type", ""))
    try:
        if kind == "siibra/repository/zippedfile/v1.0.0":
            return f"{repository['url']} {file}"
        if kind == "siibra/repository/localfolder/v1.0.0":
            return str(Path(repository["folder"]) / file)
        if kind == "siibra/repository/gitlab/v1.0.0":
            server = str(repository["server"]).rstrip("/")
            path = quote(file, safe="")
            ref = quote(str(repository["branch"]), safe="")
            return (
                f"{server}/api/v4/projects/{repository['project']}/repository/files/"
                f"{path}/raw?ref={ref}"
            )
    except KeyError as exc:
        raise SpecError(
            f"the repository of type {kind!r} has no {exc.args[0]!r}", path="$.repository"
        ) from None
    raise SpecError(
        f"unknown repository type {kind!r}",
        path="$.repository['@type']",
        hint="expected siibra/repository/zippedfile/v1.0.0, .../localfolder/v1.0.0 or "
        ".../gitlab/v1.0.0",
    )


# -- decoders ----------------------------------------------------------------------------------


def _suffixes(name: str) -> tuple[str, bool]:
    """The decoding suffix of a file name (``.csv``, ``.nii``...), and whether it is gzipped."""
    lower = PurePosixPath(urlsplit(name).path if "://" in name else name).name.lower()
    zipped = lower.endswith(".gz")
    if zipped:
        lower = lower[:-3]
    return PurePosixPath(lower).suffix, zipped


def read_csv(path: str | os.PathLike[str], **options: Any) -> Any:
    """Read a delimited table with the options of a spec's csv decoder.

    Parameters
    ----------
    path : path-like
        The local file (``.gz`` decompressed).
    **options
        Any of :data:`CSV_OPTIONS` (``delimiter``, ``header``, ``index_col``...).

    Returns
    -------
    pandas.DataFrame

    Raises
    ------
    SpecError
        An option outside :data:`CSV_OPTIONS`.
    DataUnavailableError
        The file is not a readable table.
    """
    unknown = sorted(set(options) - CSV_OPTIONS)
    if unknown:
        raise SpecError(
            f"unsupported csv decoder option(s) {', '.join(unknown)}",
            path="$.decoder",
            hint="supported: " + ", ".join(sorted(CSV_OPTIONS)),
        )
    # heavy: pandas costs ~0.3 s to import; only decoding a table needs it
    import pandas as pd

    try:
        return pd.read_csv(path, compression="infer", **options)
    except (ValueError, OSError, UnicodeDecodeError, pd.errors.ParserError) as exc:
        raise DataUnavailableError(
            f"cannot read {path} as a table: {exc}",
            source=str(path),
            hint="the file may be truncated or not a table; delete it from the cache "
            "so that it is fetched again",
        ) from None


def decode(path: str | os.PathLike[str], name: str | None = None) -> Any:
    """Decode a local file by the suffix of ``name`` (default: the file's own name).

    ``.csv`` (comma), ``.tsv`` (tab, empty rows dropped) and ``.txt`` (space, no
    header) become DataFrames, ``.nii`` a nibabel image, ``.json`` its value,
    ``.npy`` an array; ``.gz`` is decompressed first. These are the suffix rules
    of siibra's requests, so a spec's file reads the same in both.

    Raises
    ------
    DataUnavailableError
        An unknown suffix, or a file that does not decode.
    """
    local = Path(path)
    suffix, zipped = _suffixes(name or local.name)
    if suffix == ".csv":
        return read_csv(local)
    if suffix == ".tsv":
        return read_csv(local, delimiter="\t").dropna(axis=0, how="all")
    if suffix == ".txt":
        return read_csv(local, delimiter=" ", header=None)
    if suffix == ".nii":
        # heavy: nibabel and the volume readers load only when an image is decoded
        from neuratlas.volumes.providers import load_nifti

        try:
            return load_nifti(local)
        except ImageError as exc:
            raise DataUnavailableError(exc.message, source=str(local), hint=exc.hint) from None
    raw = local.read_bytes()
    if zipped:
        try:
            raw = gzip.decompress(raw)
        except (OSError, EOFError) as exc:
            raise DataUnavailableError(f"cannot decompress {local}: {exc}") from None
    if suffix == ".json":
        try:
            return json.loads(raw)
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise DataUnavailableError(f"{local} is not valid JSON: {exc}") from None
    if suffix == ".npy":
        # heavy: NumPy stays out of catalogue lookups
        import io

        import numpy as np

        return np.load(io.BytesIO(raw), allow_pickle=False)
    raise DataUnavailableError(
        f"no decoder for the file {name or local.name!r} (suffix {suffix or 'none'!r})",
        source=str(local),
        hint="supported: .csv, .tsv, .txt, .nii, .json, .npy (optionally .gz), or a spec "
        "decoder of type siibra/decoder/csv",
    )


def fetch_decoded(
    url: str,
    *,
    base: str | os.PathLike[str] | None = None,
    csv: Mapping[str, Any] | None = None,
) -> Any:
    """Fetch ``url`` and decode it: with ``csv`` options when given, else by its suffix."""
    local = fetch(url, base=base)
    if csv is not None:
        return read_csv(local, **dict(csv))
    member = url.strip().partition(" ")[2].strip()
    return decode(local, name=member or url)


# -- neuroglancer precomputed ------------------------------------------------------------------


def _join(url: str, *parts: str) -> str:
    return "/".join([url.rstrip("/"), *parts])


def read_precomputed(url: str, *, scale: int | str = -1) -> Any:
    """Read one scale of a neuroglancer precomputed image volume.

    Parameters
    ----------
    url : str
        The volume's folder (holding ``info`` and, optionally, ``transform.json``);
        a leading ``precomputed://`` is dropped.
    scale : int or str
        The scale's index in ``info["scales"]`` sorted from finest to coarsest
        (default ``-1``, the coarsest), or its ``key``.

    Returns
    -------
    nibabel.Nifti1Image
        The volume with an affine in mm: ``transform.json`` (nm, of the finest
        scale) when present, else the scale's resolution and voxel offset.

    Raises
    ------
    DataUnavailableError
        The info or a chunk cannot be fetched, the volume is sharded, its encoding
        is not ``raw``, or the scale is too large to hold in memory.
    ArgumentError
        No such scale.
    """
    # heavy: NumPy and nibabel load only when a volume is decoded
    import nibabel as nib
    import numpy as np

    root = url.strip().removeprefix("precomputed://")
    info = decode(fetch(_join(root, "info")), name="info.json")
    scales = sorted(info.get("scales", []), key=lambda s: float(np.prod(s["resolution"])))
    if not scales:
        raise DataUnavailableError(f"{_join(root, 'info')} lists no scales", source=root)
    chosen = _pick_scale(scales, scale, root)
    unsupported = _unsupported(info, chosen)
    if unsupported:
        raise DataUnavailableError(
            f"the precomputed volume {root} uses {unsupported}, which neuratlas does not decode",
            source=root,
            hint="only unsharded volumes with raw encoding are read; fetch the volume in "
            "another format (e.g. a NIfTI provider of the same spec)",
        )
    size = [int(n) for n in chosen["size"]]
    channels = int(info.get("num_channels", 1))
    if int(np.prod(size)) * channels > MAX_PRECOMPUTED_VOXELS:
        raise DataUnavailableError(
            f"scale {chosen['key']!r} of {root} has {int(np.prod(size))} voxels, "
            "too many to hold in memory",
            source=root,
            hint="ask for a coarser scale (scale=-1 is the coarsest)",
        )
    dtype = np.dtype(info["data_type"]).newbyteorder("<")
    offset = [int(n) for n in chosen.get("voxel_offset", [0, 0, 0])]
    step = [int(n) for n in chosen["chunk_sizes"][0]]
    boxes = [
        (x, y, z)
        for x in range(0, size[0], step[0])
        for y in range(0, size[1], step[1])
        for z in range(0, size[2], step[2])
    ]

    def chunk_url(box: tuple[int, int, int]) -> str:
        lo = [b + o for b, o in zip(box, offset, strict=True)]
        hi = [min(b + s, n) + o for b, s, n, o in zip(box, step, size, offset, strict=True)]
        name = "_".join(f"{a}-{b}" for a, b in zip(lo, hi, strict=True))
        return _join(root, chosen["key"], name)

    files = http.default_client().map(lambda box: fetch(chunk_url(box)), boxes)
    volume = np.zeros((*size, channels), dtype=dtype)
    for box, file in zip(boxes, files, strict=True):
        if isinstance(file, BaseException):
            raise file
        ext = [min(s, n - b) for b, s, n in zip(box, step, size, strict=True)]
        raw = file.read_bytes()
        expected = int(np.prod(ext)) * channels * dtype.itemsize
        if len(raw) != expected:
            raise DataUnavailableError(
                f"the chunk {chunk_url(box)} has {len(raw)} bytes, expected {expected}",
                source=chunk_url(box),
                hint=f"delete {file} so that it is fetched again",
            )
        # raw chunks are stored x fastest: Fortran order of (x, y, z, channel)
        block = np.frombuffer(raw, dtype=dtype).reshape((*ext, channels), order="F")
        volume[box[0] : box[0] + ext[0], box[1] : box[1] + ext[1], box[2] : box[2] + ext[2]] = (
            block
        )
    affine = _precomputed_affine(root, scales[0], chosen, offset)
    data = volume[..., 0] if channels == 1 else volume
    return nib.Nifti1Image(data.astype(dtype.newbyteorder("="), copy=False), affine)


def _pick_scale(scales: list[dict[str, Any]], scale: int | str, root: str) -> dict[str, Any]:
    if isinstance(scale, str):
        for entry in scales:
            if entry.get("key") == scale:
                return entry
    elif -len(scales) <= scale < len(scales):
        return scales[scale]
    keys = ", ".join(repr(s.get("key")) for s in scales)
    raise ArgumentError(f"{root} has no scale {scale!r}", hint=f"its scales are {keys}")


def _unsupported(info: Mapping[str, Any], scale: Mapping[str, Any]) -> str:
    if info.get("type", "image") != "image":
        return f"volume type {info.get('type')!r}"
    if scale.get("sharding"):
        return "sharded chunks"
    encoding = scale.get("encoding", "raw")
    if encoding not in PRECOMPUTED_ENCODINGS:
        return f"the {encoding!r} encoding"
    return ""


def _precomputed_affine(
    root: str, finest: Mapping[str, Any], chosen: Mapping[str, Any], offset: list[int]
) -> Any:
    """The voxel-to-mm affine of ``chosen``: transform.json (nm, finest voxels) if any."""
    # heavy: NumPy only for decoded volumes
    import numpy as np

    try:
        transform = np.asarray(decode(fetch(_join(root, "transform.json"))), dtype=float)
    except DataUnavailableError:
        transform = np.diag([*map(float, finest["resolution"]), 1.0])
    if transform.shape != (4, 4):
        raise DataUnavailableError(
            f"{_join(root, 'transform.json')} is not a 4x4 matrix", source=root
        )
    ratio = np.asarray(chosen["resolution"], float) / np.asarray(finest["resolution"], float)
    scaling = np.diag([*ratio, 1.0])
    shift = np.eye(4)
    shift[:3, 3] = offset
    affine = transform @ scaling @ shift
    affine[:3, :] /= 1e6  # nm to mm
    affine[3] = [0, 0, 0, 1]
    return affine
