"""The header of neuratlas's own sparse index formats (the folder and the zip).

Both hold the five arrays of a :class:`~neuratlas.volumes.sparse.index.SparseIndex`
as ``<name>.npy`` files (:data:`ARRAY_NAMES`) next to ``header.json``
(:data:`HEADER_NAME`), which records the format name and version, the grid (shape,
affine, memory order), the counts of volumes, rows and entries, and the source
dtype. The counts let a reader check the arrays without scanning them, so that a
memory-mapped index loads in milliseconds.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import numpy as np

from neuratlas.errors import ImageError
from neuratlas.volumes.sparse.arrays import volume_dtype
from neuratlas.volumes.sparse.index import SparseIndex

__all__ = [
    "ARRAY_NAMES",
    "FORMAT",
    "HEADER_NAME",
    "VERSION",
    "arrays_of",
    "header_of",
    "index_from_parts",
    "read_header",
]

#: The ``format`` entry of every header.
FORMAT = "neuratlas-sparse-index"
#: The layout version; a reader refuses any other.
VERSION = 1
#: File name of the header in the folder and in the zip.
HEADER_NAME = "header.json"
#: The stored arrays, each as ``<name>.npy``.
ARRAY_NAMES = ("voxels", "indptr", "volumes", "values", "bboxes")


def header_of(index: SparseIndex) -> dict[str, Any]:
    """The header of ``index`` (JSON-ready).

    Parameters
    ----------
    index : SparseIndex
        A non-empty index.

    Returns
    -------
    dict
    """
    assert index.affine is not None and index.shape is not None
    return {
        "format": FORMAT,
        "version": VERSION,
        "shape": list(index.shape),
        "affine": index.affine.tolist(),
        "order": index.order,
        "num_volumes": index.num_volumes,
        "num_rows": index.num_mapped_voxels,
        "num_entries": index.num_entries,
        "source_dtype": None if index.source_dtype is None else index.source_dtype.str,
    }


def arrays_of(index: SparseIndex) -> dict[str, np.ndarray]:
    """The stored arrays of ``index`` by name, in :data:`ARRAY_NAMES` order.

    Parameters
    ----------
    index : SparseIndex
        A non-empty index.

    Returns
    -------
    dict
    """
    return {name: getattr(index, name) for name in ARRAY_NAMES}


def read_header(read: Callable[[], bytes], where: str, remedy: str) -> dict[str, Any]:
    """Read and check a header: the format name and version.

    Parameters
    ----------
    read : callable
        Returns the raw header bytes.
    where : str
        The header's file name, for messages.
    remedy : str
        What to do about a missing or damaged header (the message's hint).

    Returns
    -------
    dict

    Raises
    ------
    neuratlas.errors.ImageError
        If the header is missing, unreadable, of another format or version.
    """
    try:
        header = json.loads(read())
    except FileNotFoundError as exc:
        raise ImageError(f"sparse index header {where} is missing", hint=remedy) from exc
    except (OSError, KeyError, ValueError) as exc:
        raise ImageError(f"{where}: unreadable sparse index header: {exc}", hint=remedy) from exc
    if not isinstance(header, dict) or header.get("format") != FORMAT:
        raise ImageError(f"{where}: not a {FORMAT} header", hint=remedy)
    if header.get("version") != VERSION:
        raise ImageError(
            f"{where}: sparse index format version {header.get('version')!r} is not supported "
            f"(expected {VERSION})",
            hint="rebuild the index with this neuratlas version",
        )
    return header


def index_from_parts(
    header: dict[str, Any], arrays: dict[str, np.ndarray], where: str, remedy: str
) -> SparseIndex:
    """The index of a header and its arrays, checked against each other (no full scan).

    Parameters
    ----------
    header : dict
        As returned by :func:`read_header`.
    arrays : dict
        The arrays by name (:data:`ARRAY_NAMES`).
    where : str
        The file or folder they come from, for messages.
    remedy : str
        What to do about damaged files (the message's hint).

    Returns
    -------
    SparseIndex

    Raises
    ------
    neuratlas.errors.ImageError
        If the header lacks an entry or an array disagrees with it.
    """
    try:
        shape = tuple(int(n) for n in header["shape"])
        affine = np.asarray(header["affine"], dtype=np.float64)
        order = header["order"]
        num_volumes, rows, entries = (
            int(header[k]) for k in ("num_volumes", "num_rows", "num_entries")
        )
        source = None if header["source_dtype"] is None else np.dtype(header["source_dtype"])
    except (KeyError, TypeError, ValueError) as exc:
        raise ImageError(
            f"{where}: sparse index header lacks or mangles {exc}", hint=remedy
        ) from exc
    if affine.shape != (4, 4) or order not in ("C", "F"):
        raise ImageError(f"{where}: sparse index header has a bad affine or order", hint=remedy)
    expected = {
        "voxels": (shape, np.int32),
        "indptr": ((rows + 1,), np.int64),
        "volumes": ((entries,), volume_dtype(num_volumes)),
        "values": ((entries,), None),
        "bboxes": ((num_volumes, 2, 3), np.int64),
    }
    for name, (want_shape, want_dtype) in expected.items():
        array = arrays[name]
        if array.shape != want_shape or (want_dtype and array.dtype != want_dtype):
            raise ImageError(
                f"{where}: array {name!r} has shape {array.shape} and dtype "
                f"{array.dtype}, expected {want_shape} {np.dtype(want_dtype or 'f4')}",
                hint=remedy,
            )
    grid_flags = arrays["voxels"].flags
    if not (grid_flags.f_contiguous if order == "F" else grid_flags.c_contiguous):
        raise ImageError(f"{where}: the voxel grid is not stored in {order} order", hint=remedy)
    try:
        return SparseIndex.from_arrays(
            *(arrays[name] for name in ARRAY_NAMES), affine, source_dtype=source
        )
    except ImageError as exc:
        raise ImageError(f"{where}: {exc.message}", hint=remedy) from exc
