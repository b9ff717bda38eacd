"""Writing NIfTI images atomically."""

from __future__ import annotations

import gzip
from pathlib import Path

import nibabel as nib

from neuratlas.retrieval.cache import atomic_write


def to_nifti_bytes(img: nib.Nifti1Image, compress: bool = True) -> bytes:
    """Serialise an image as NIfTI-1 bytes (gzip-compressed by default)."""
    if not isinstance(img, nib.Nifti1Image):
        img = nib.Nifti1Image(img.get_fdata(), img.affine)
    img.header.set_xyzt_units("mm")
    raw = img.to_bytes()
    return gzip.compress(raw, compresslevel=6, mtime=0) if compress else raw


def save_nifti(img: nib.Nifti1Image, path: str | Path) -> Path:
    """Write ``img`` to ``path`` atomically (gzip when the name ends in ``.gz``)."""
    target = Path(path)
    with atomic_write(target) as handle:
        handle.write(to_nifti_bytes(img, compress=target.name.endswith(".gz")))
    return target
