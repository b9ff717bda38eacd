"""Writing NIfTI images atomically."""

from __future__ import annotations

import gzip
from pathlib import Path

import nibabel as nib

from neuratlas.retrieval.cache import atomic_write


def to_nifti_bytes(img: nib.spatialimages.SpatialImage, compress: bool = True) -> bytes:
    """Serialise an image as NIfTI-1 bytes (gzip-compressed by default).

    The caller's image is left as it is; a NIfTI-2 image is written as NIfTI-1,
    another format (e.g. MGH) as float64 NIfTI-1. Spatial units are millimetres.
    """
    if type(img) is nib.Nifti1Image:
        # a copy of the header: serialising must not change the caller's image
        img = nib.Nifti1Image(img.dataobj, img.affine, img.header.copy())
    elif isinstance(img, nib.Nifti1Image):  # Nifti2Image derives from Nifti1Image
        img = nib.Nifti1Image(img.dataobj, img.affine)
    else:
        img = nib.Nifti1Image(img.get_fdata(), img.affine)
    img.header.set_xyzt_units("mm", img.header.get_xyzt_units()[1])  # keeps the time unit
    raw = img.to_bytes()
    return gzip.compress(raw, compresslevel=6, mtime=0) if compress else raw


def save_nifti(img: nib.Nifti1Image, path: str | Path) -> Path:
    """Write ``img`` to ``path`` atomically (gzip when the name ends in ``.gz``)."""
    target = Path(path)
    with atomic_write(target) as handle:
        # nibabel reads any case of .gz as gzip: write it the same way
        handle.write(to_nifti_bytes(img, compress=target.name.lower().endswith(".gz")))
    return target
