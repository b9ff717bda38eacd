"""The folder form of a sparse index: ``.npy`` arrays plus ``header.json``, memory-mappable.

The cache form (see :mod:`neuratlas.volumes.sparse.cache`): written once,
atomically, then loaded memory-mapped in milliseconds and shared read-only between
processes. The header is described in :mod:`neuratlas.volumes.sparse.header`.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from neuratlas.errors import ImageError
from neuratlas.retrieval.cache import atomic_dir
from neuratlas.volumes.sparse.header import (
    ARRAY_NAMES,
    HEADER_NAME,
    arrays_of,
    header_of,
    index_from_parts,
    read_header,
)
from neuratlas.volumes.sparse.index import SparseIndex, require_grid

__all__ = ["load_folder", "save_folder"]

_REMEDY = "delete the folder so that the index is rebuilt, or write it again with save_folder"


def save_folder(index: SparseIndex, folder: str | Path) -> Path:
    """Write ``index`` as ``.npy`` arrays plus ``header.json``, atomically.

    The folder is built under a temporary name and renamed into place, so a
    reader never sees half of it. Load it with :func:`load_folder` (memory-mapped).

    Parameters
    ----------
    index : SparseIndex
        The index to write.
    folder : path-like
        The folder to create (replaced if it exists).

    Returns
    -------
    pathlib.Path
        ``folder``.

    Raises
    ------
    neuratlas.errors.ImageError
        If the index is empty (no image added).
    """
    require_grid(index, "save")
    with atomic_dir(folder) as tmp:
        for name, array in arrays_of(index).items():
            np.save(tmp / f"{name}.npy", array, allow_pickle=False)
        (tmp / HEADER_NAME).write_text(json.dumps(header_of(index), indent=1))
    return Path(folder)


def load_folder(folder: str | Path, mmap: bool = True) -> SparseIndex:
    """Load an index written by :func:`save_folder`.

    Parameters
    ----------
    folder : path-like
        The folder.
    mmap : bool
        Memory-map the arrays read-only (fast, shared between processes) instead
        of reading them into memory.

    Returns
    -------
    SparseIndex

    Raises
    ------
    neuratlas.errors.ImageError
        If a file is missing, truncated, unreadable or inconsistent with the header;
        the message names the file.
    """
    folder = Path(folder)
    header = read_header((folder / HEADER_NAME).read_bytes, str(folder / HEADER_NAME), _REMEDY)
    arrays = {}
    for name in ARRAY_NAMES:
        path = folder / f"{name}.npy"
        try:
            arrays[name] = np.load(path, mmap_mode="r" if mmap else None, allow_pickle=False)
        except (OSError, ValueError, EOFError) as exc:
            raise ImageError(
                f"cannot read sparse index array {path}: {exc}", hint=_REMEDY
            ) from exc
    return index_from_parts(header, arrays, str(folder), _REMEDY)
