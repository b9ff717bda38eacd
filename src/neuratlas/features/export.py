"""Feature exports: one zip holding the data file(s) and ``metadata.json``.

The zip is written to a temporary file next to the target and moved into place,
so a reader never sees half an export.
"""

from __future__ import annotations

import gzip
import json
import zipfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from neuratlas.errors import ArgumentError
from neuratlas.retrieval.cache import atomic_write

METADATA_NAME = "metadata.json"


def write_zip(path: str | Path, files: Mapping[str, bytes], metadata: Mapping[str, Any]) -> Path:
    """Write ``files`` and ``metadata`` (as ``metadata.json``) into a zip at ``path``.

    Parameters
    ----------
    path : path-like
        The zip to write; its folder is created when missing.
    files : mapping of str to bytes
        Name inside the zip -> content.
    metadata : mapping
        JSON-serialisable facts about the feature.

    Returns
    -------
    pathlib.Path
        ``path``.

    Raises
    ------
    ArgumentError
        ``path`` is a folder or cannot be written, or a file is named like the
        metadata.
    """
    target = Path(path)
    if target.is_dir():
        raise ArgumentError(
            f"cannot export to {str(target)!r}: it is a folder",
            hint="give a file name, e.g. feature.zip",
        )
    if METADATA_NAME in files:
        raise ArgumentError(f"an export's data file may not be called {METADATA_NAME!r}")
    text = json.dumps(dict(metadata), indent=2, ensure_ascii=False, default=str)
    with (
        atomic_write(target, "wb") as out,
        zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as archive,
    ):
        for name, content in files.items():
            archive.writestr(name, content)
        archive.writestr(METADATA_NAME, text)
    return target


def dataframe_bytes(frame: Any, sep: str = ",") -> bytes:
    """A pandas DataFrame as CSV (``sep=","``) or TSV (``sep="\\t"``) bytes, index kept."""
    return frame.to_csv(sep=sep).encode("utf-8")


def nifti_bytes(img: Any) -> bytes:
    """A nibabel image as gzipped NIfTI bytes (for ``data.nii.gz``)."""
    # heavy: nibabel only for image features
    import nibabel as nib

    if not isinstance(img, nib.Nifti1Image | nib.Nifti2Image):
        img = nib.Nifti1Image(img.get_fdata(), img.affine, img.header)
    return gzip.compress(img.to_bytes(), compresslevel=6)
