"""Read image data named by a provider URL: NIfTI and NRRD volumes, GIfTI meshes and labels.

Per-vertex labels come as GIfTI label files (``gii-label``) or as text files of one
integer per line (``neuratlas:csv-label``, brainspace's parcellations): see
:func:`surface_labels`.

Decoded arrays are kept in a small in-memory LRU keyed by the resolved file, so the
second fetch of anything from one file costs no I/O. A file that cannot be decoded
(corrupt, truncated, not an image) raises :class:`~neuratlas.errors.ImageError`
naming the file.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from functools import lru_cache
from pathlib import Path

import nibabel as nib
import numpy as np

from neuratlas.errors import ArgumentError, DataUnavailableError, ImageError, NotFoundError
from neuratlas.retrieval import packages
from neuratlas.volumes import gz
from neuratlas.volumes.nifti import open_image
from neuratlas.volumes.nrrd import NRRD_FORMATS, read_nrrd
from neuratlas.volumes.surfaces import Mesh

#: Per-vertex labels as a text file, one integer per line (0 = unlabelled). A surface
#: map's volume names one file per hemisphere (``{"left": url, "right": url}``);
#: hemispheres that name the same file share it in equal consecutive blocks, in the
#: order they are listed (brainspace's files hold the left hemisphere, then the right).
CSV_LABEL = "neuratlas:csv-label"
#: The provider formats of per-vertex labels, in order of preference.
LABEL_FORMATS = ("gii-label", CSV_LABEL)

# what nibabel raises for a file that is not an image, or a corrupt or truncated one
DECODE_ERRORS = (
    OSError,
    *gz.ERRORS,
    ValueError,
    nib.filebasedimages.ImageFileError,
)


def resolve(url: str, base: Path | None = None) -> Path:
    """Resolve a provider URL (``pkg://``, file path, ``http(s)://``, ``"zip member"``)."""
    if " " in url and url.split(" ", 1)[0].lower().endswith(".zip"):
        return packages.resolve_in_zip(url, base=base)
    return packages.resolve(url, base=base)


def _stamp(path: str | Path) -> tuple[str, int, int]:
    # the in-memory caches key on size and mtime too: a file replaced in place is re-read
    try:
        st = Path(path).stat()
    except OSError:
        return str(path), -1, -1
    return str(path), st.st_size, st.st_mtime_ns


@lru_cache(maxsize=16)
def _load_nifti_stamped(stamp: tuple[str, int, int]) -> nib.Nifti1Image:
    return _load_nifti(stamp[0])


def _load_nifti(path: str) -> nib.Nifti1Image:
    try:
        with open_image(path) as img:
            data = np.asanyarray(img.dataobj)  # decode once: truncation shows up here
    except DECODE_ERRORS as exc:
        raise ImageError(
            f"cannot read the image {path!r}: {exc}",
            hint="the file is corrupt or truncated; delete it so that it is fetched again",
        ) from None
    if not isinstance(img, nib.Nifti1Image | nib.Nifti2Image):
        img = nib.Nifti1Image(data, img.affine)
    data.setflags(write=False)
    return nib.Nifti1Image(data, img.affine, img.header)


def load_nifti(path: str | Path) -> nib.Nifti1Image:
    """Load a NIfTI image with its data decoded (cached; the array is read-only)."""
    return _load_nifti_stamped(_stamp(path))


def load_array(path: str | Path) -> np.ndarray:
    """The decoded, read-only data array of a NIfTI file (cached)."""
    return np.asanyarray(load_nifti(path).dataobj)


@lru_cache(maxsize=4)
def _load_nrrd_stamped(stamp: tuple[str, int, int], fmt: str) -> nib.Nifti1Image:
    img = read_nrrd(stamp[0], fmt)
    np.asanyarray(img.dataobj).setflags(write=False)
    return img


def load_volume(path: str | Path, fmt: str = "nii") -> nib.Nifti1Image:
    """Load a volume of provider format ``fmt`` as a NIfTI image (cached; read-only data).

    ``nii`` and ``zip/nii`` are NIfTI files; ``nrrd`` and ``nrrd/ccf`` NRRD files
    (:mod:`neuratlas.volumes.nrrd` says how each is placed in space).
    """
    if fmt in NRRD_FORMATS:
        return _load_nrrd_stamped(_stamp(path), fmt)
    return load_nifti(path)


@lru_cache(maxsize=32)
def _load_gifti_stamped(stamp: tuple[str, int, int]) -> nib.gifti.GiftiImage:
    return _load_gifti(stamp[0])


def _load_gifti(path: str) -> nib.gifti.GiftiImage:
    try:
        if path.endswith(".gz"):
            with gz.open_gz(path) as handle:
                return nib.gifti.GiftiImage.from_bytes(handle.read())
        return nib.load(path)
    except DECODE_ERRORS as exc:
        raise ImageError(
            f"cannot read the surface file {path!r}: {exc}",
            hint="the file is corrupt or truncated; delete it so that it is fetched again",
        ) from None
    except Exception as exc:  # the GIfTI XML parser raises its own types
        raise ImageError(f"cannot parse the surface file {path!r}: {exc}") from None


def load_mesh(path: str | Path) -> Mesh:
    """Load a GIfTI mesh (``.gii`` or ``.gii.gz``)."""
    gii = _load_gifti_stamped(_stamp(path))
    try:
        vertices = gii.agg_data("NIFTI_INTENT_POINTSET")
        faces = gii.agg_data("NIFTI_INTENT_TRIANGLE")
    except Exception as exc:  # pragma: no cover - nibabel's own errors
        raise ImageError(f"{path!r} is not a mesh: {exc}") from None
    if not isinstance(vertices, np.ndarray) or not isinstance(faces, np.ndarray):
        raise ImageError(f"{str(path)!r} holds no mesh (no point set and triangle arrays)")
    return Mesh(np.asarray(vertices, dtype=np.float64), np.asarray(faces, dtype=np.int64))


def load_labels(path: str | Path) -> np.ndarray:
    """Load per-vertex integer labels from a GIfTI label file."""
    gii = _load_gifti_stamped(_stamp(path))
    if not gii.darrays:
        raise ImageError(f"{str(path)!r} holds no data arrays")
    return np.asarray(gii.darrays[0].data).astype(np.int64, copy=False)


@lru_cache(maxsize=32)
def _load_csv_labels_stamped(stamp: tuple[str, int, int]) -> np.ndarray:
    path = stamp[0]
    try:
        text = Path(path).read_text(encoding="ascii")
    except (OSError, UnicodeDecodeError) as exc:
        raise ImageError(
            f"cannot read the label file {path!r}: {exc}",
            hint="a label file is plain text, one integer label per vertex and line",
        ) from None
    try:
        # str -> int64 in one call: about 20 times numpy.loadtxt on 65k lines
        labels = np.array(text.split(), dtype=np.int64)
    except ValueError as exc:
        raise ImageError(
            f"{path!r} is not a label file: {exc}",
            hint="a label file is plain text, one integer label per vertex and line",
        ) from None
    labels.setflags(write=False)
    return labels


def load_csv_labels(path: str | Path, block: int = 0, blocks: int = 1) -> np.ndarray:
    """Per-vertex integer labels from a text file of one label per line (cached, read-only).

    Parameters
    ----------
    path : path-like
        The file (brainspace's ``*_conte69.csv``).
    block, blocks : int
        Return block ``block`` of the file cut into ``blocks`` equal consecutive
        parts (a file of both hemispheres: block 0 of 2 is the left one).

    Returns
    -------
    ndarray of int64, shape (V,)

    Raises
    ------
    ImageError
        The file is unreadable, holds something other than integers, is empty, or
        cannot be cut into ``blocks`` equal parts.
    ArgumentError
        ``block`` is not one of the ``blocks`` parts.
    """
    if not (isinstance(blocks, int) and blocks >= 1 and isinstance(block, int)):
        raise ArgumentError(f"blocks must be a positive integer, got {blocks!r}")
    if not 0 <= block < blocks:
        raise ArgumentError(f"block {block!r} is not one of the {blocks} blocks 0..{blocks - 1}")
    labels = _load_csv_labels_stamped(_stamp(path))
    if not labels.size or labels.size % blocks:
        raise ImageError(
            f"{str(path)!r} has {labels.size} labels, which cannot be cut into {blocks} "
            "equal hemispheres",
            hint="the label file does not belong to this surface space",
        )
    size = labels.size // blocks
    return labels[block * size : (block + 1) * size]


def label_format(formats: Iterable[str]) -> str:
    """The per-vertex label format among a volume's provider ``formats`` (see LABEL_FORMATS).

    Raises
    ------
    DataUnavailableError
        None of the formats holds per-vertex labels.
    """
    formats = list(formats)
    found = next((f for f in LABEL_FORMATS if f in formats), None)
    if found is None:
        raise DataUnavailableError(
            f"no per-vertex labels among the providers {formats}",
            hint="a surface map names its labels as " + " or ".join(LABEL_FORMATS),
        )
    return found


def surface_labels(
    providers: Mapping[str, str | Mapping[str, str]],
    fragment: str | None = None,
    base: Path | None = None,
) -> np.ndarray:
    """The per-vertex labels of one hemisphere (``fragment``) of a surface map's volume.

    Parameters
    ----------
    providers : mapping
        The volume's providers (``Volume.providers``): a label format of
        :data:`LABEL_FORMATS` -> URL, or -> ``{fragment: URL}``.
    fragment : str, optional
        ``"left"`` or ``"right"``; required when the labels are split by hemisphere.
    base : Path, optional
        The folder relative URLs resolve against.

    Returns
    -------
    ndarray of int64, shape (V,)

    Raises
    ------
    DataUnavailableError
        No label format among the providers (or the file cannot be fetched).
    NotFoundError
        A fragment is needed and missing, or the volume has no such fragment.
    ImageError
        The file cannot be decoded.
    """
    fmt = label_format(providers)
    urls = providers[fmt]
    if isinstance(urls, str):
        url, block, blocks = urls, 0, 1
    else:
        if fragment is None or fragment not in urls:
            what = "choose a fragment" if fragment is None else f"no fragment {fragment!r}"
            raise NotFoundError(f"{what} of the {fmt} labels", suggestions=list(urls))
        url = urls[fragment]
        sharing = [name for name, other in urls.items() if other == url]
        block, blocks = sharing.index(fragment), len(sharing)
    path = resolve(url, base)
    if fmt == CSV_LABEL:
        return load_csv_labels(path, block, blocks)
    return load_labels(path)
