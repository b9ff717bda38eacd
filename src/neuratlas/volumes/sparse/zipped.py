"""The zip form of a sparse index: the folder's files in one zip, for sharing.

Members are ``header.json`` and the ``.npy`` arrays (see
:mod:`neuratlas.volumes.sparse.header`), deflated. :meth:`SparseMap.save_sparseindex`
and :meth:`SparseMap.load_zipped_sparseindex` use this form.
"""

from __future__ import annotations

import json
import zipfile
import zlib
from pathlib import Path

import numpy as np

from neuratlas.errors import ImageError
from neuratlas.retrieval.cache import atomic_write
from neuratlas.volumes.sparse.header import (
    ARRAY_NAMES,
    HEADER_NAME,
    arrays_of,
    header_of,
    index_from_parts,
    read_header,
)
from neuratlas.volumes.sparse.index import SparseIndex, require_grid

__all__ = ["ZIP_LEVEL", "load_zip", "save_zip"]

#: Deflate level: fast, since an index is zipped once per build and level 6+ costs ~10x
#: the time.
ZIP_LEVEL = 2

_REMEDY = "the file is corrupt or incomplete; write it again with save_zip"


def save_zip(index: SparseIndex, path: str | Path) -> Path:
    """Write ``index`` as one zip file (the folder form's files, deflated), atomically.

    Parameters
    ----------
    index : SparseIndex
        The index to write.
    path : path-like
        The zip file to write (replaced if it exists).

    Returns
    -------
    pathlib.Path
        ``path``.

    Raises
    ------
    neuratlas.errors.ImageError
        If the index is empty (no image added).
    """
    require_grid(index, "save")
    with (
        atomic_write(path) as handle,
        zipfile.ZipFile(handle, "w", zipfile.ZIP_DEFLATED, compresslevel=ZIP_LEVEL) as archive,
    ):
        archive.writestr(HEADER_NAME, json.dumps(header_of(index), indent=1))
        for name, array in arrays_of(index).items():
            with archive.open(f"{name}.npy", "w", force_zip64=True) as member:
                np.save(member, array, allow_pickle=False)
    return Path(path)


def load_zip(path: str | Path) -> SparseIndex:
    """Load an index written by :func:`save_zip` (into memory).

    Parameters
    ----------
    path : path-like
        The zip file.

    Returns
    -------
    SparseIndex

    Raises
    ------
    neuratlas.errors.ImageError
        If the zip is missing, corrupt or lacks a member; the message names the file.
    """
    where = str(path)
    try:
        with zipfile.ZipFile(path) as archive:
            header = read_header(
                lambda: archive.read(HEADER_NAME), f"{where}:{HEADER_NAME}", _REMEDY
            )
            arrays = {}
            for name in ARRAY_NAMES:
                with archive.open(f"{name}.npy") as member:
                    arrays[name] = np.lib.format.read_array(member, allow_pickle=False)
    except ImageError:
        raise
    except (OSError, KeyError, ValueError, EOFError, zipfile.BadZipFile, zlib.error) as exc:
        raise ImageError(f"cannot read sparse index zip {where}: {exc}", hint=_REMEDY) from exc
    return index_from_parts(header, arrays, where, _REMEDY)
