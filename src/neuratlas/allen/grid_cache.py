"""The annotation on an expression grid, built once per annotation file and cached.

Every gene's expression table reads the same annotation on the same grid: the
labels of a few dozen planes, and the voxel count of every label. Decoding the
annotation (308 MB at 25 µm) and counting its 77 million voxels each time would
cost more than placing the sections, so both are kept in the Allen cache, keyed by
the annotation file's content and the grid (DESIGN: indexes built once, cached on
disk, memory-mapped where large):

- the labels as a ``.npy`` file in C order (p slowest), read memory-mapped, so that
  a coronal plane is one contiguous block and a run reads only its planes (for
  grids as fine as the annotation or coarser; a finer grid would multiply its size,
  so it is built from the annotation each time);
- the labels' voxel counts as a small ``.npz``.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from neuratlas.allen.client import CACHE_AREA
from neuratlas.allen.grid_labels import GridLabels
from neuratlas.allen.volume import ccf_affine, volume_shape
from neuratlas.errors import Error
from neuratlas.retrieval.cache import atomic_write, cache_dir, cache_key, touch

__all__ = ["grid_labels", "wait_for_stores"]

#: Bumped when the layout of the cached files changes.
_VERSION = 1
LabelCounts = tuple[NDArray[Any], NDArray[np.int64]]
#: Planes and columns copied at a time when the labels are stored (see _store_labels).
_TILE = (16, 8)


def grid_labels(
    the_map: Any, resolution_um: int, *, store_in_background: bool = False
) -> tuple[GridLabels, LabelCounts]:
    """The annotation of ``the_map`` on the CCF grid of ``resolution_um``, and its counts.

    Parameters
    ----------
    the_map : neuratlas.core.maps.Map
        A labelled map of the Allen CCF (one annotation volume).
    resolution_um : int
        The grid's voxel size in micrometres.
    store_in_background : bool
        When the grid is built (not yet cached), return it at once and write the
        cache entry in a thread of its own (which the interpreter waits for at
        exit, see :func:`wait_for_stores`): writing 308 MB at 25 µm then overlaps
        the caller's work instead of delaying it.

    Returns
    -------
    labels : GridLabels
    counts : (numpy.ndarray, numpy.ndarray)
        The grid's labels, sorted, and their voxel counts (:meth:`GridLabels.counts`).

    Raises
    ------
    neuratlas.errors.DataUnavailableError
        The annotation cannot be fetched.
    neuratlas.errors.TransformError
        Its axes are not those of the CCF grid.
    """
    shape = volume_shape(resolution_um)
    try:
        digest = _file_digest(the_map.volumes[0].path())
    except (Error, OSError, IndexError, AttributeError):
        digest = None  # no file to key on: build every time
    if digest is None:
        labels = _from_annotation(the_map, resolution_um)
        return labels, labels.counts()
    stem = cache_dir(CACHE_AREA) / cache_key("grid labels", _VERSION, digest, shape)
    labels_file = stem.with_name(stem.name + ".labels.npy")
    counts_file = stem.with_name(stem.name + ".counts.npz")
    labels = _load_labels(labels_file, shape)
    if labels is not None:
        return labels, _counts(labels, counts_file)
    labels = _from_annotation(the_map, resolution_um)
    counts = labels.counts()

    def store() -> None:
        if np.prod(shape) <= labels.data.size:
            _store_labels(labels, labels_file)
        _store_counts(counts, counts_file)

    if store_in_background:
        _start_store(store)
    else:
        store()
    return labels, counts


#: Cache entries being written in the background (see grid_labels).
_stores: list[threading.Thread] = []


def _start_store(store: Callable[[], None]) -> None:
    def run() -> None:
        # the lowest CPU priority (Linux sets it per thread): writing the entry only
        # uses what the caller's threads leave, and still ends before the program does
        if sys.platform.startswith("linux"):  # elsewhere a thread id is not a process id
            with contextlib.suppress(OSError, AttributeError):
                os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), 19)
        # a cache entry that cannot be written is only a missed shortcut: the next
        # run builds the grid again (and atomic_write leaves no half-written file)
        with contextlib.suppress(Error, OSError):
            store()

    # not a daemon: the interpreter waits for it at exit, so that the entry is written
    thread = threading.Thread(target=run, name="allen-grid-cache")
    thread.start()
    _stores.append(thread)


def wait_for_stores() -> None:
    """Wait until the cache entries being written in the background are written."""
    while _stores:
        _stores.pop().join()


def _from_annotation(the_map: Any, resolution_um: int) -> GridLabels:
    annotation = the_map.fetch()
    return GridLabels(annotation, volume_shape(resolution_um), ccf_affine(resolution_um))


def _load_labels(path: Path, shape: tuple[int, ...]) -> GridLabels | None:
    try:
        array = np.load(path, mmap_mode="r")
    except (OSError, ValueError, EOFError):
        return None  # not there yet, or damaged: built again
    if array.shape != shape or array.ndim != 3:
        return None
    touch(path)
    return GridLabels.of_grid(array)


def _store_labels(labels: GridLabels, path: Path) -> None:
    """Write the grid's labels as a C-ordered ``.npy``, a few planes at a time (no second copy)."""
    header = {
        "descr": np.lib.format.dtype_to_descr(labels.data.dtype),
        "fortran_order": False,
        "shape": labels.shape,
    }
    with atomic_write(path, "wb") as handle:
        np.lib.format.write_array_header_1_0(handle, header)
        if not labels.same_grid:
            for index in range(labels.shape[0]):
                handle.write(np.ascontiguousarray(labels.plane(0, index)).data)
            return
        # the annotation's own array, Fortran-ordered as NRRD and NIfTI store it: copied
        # plane by plane, every element read is a cache miss (~0.3 s at 25 µm); in tiles
        # of a few planes and columns, reads and writes stay in the CPU cache (~0.1 s)
        data = labels.data
        block = np.empty((_TILE[0], *data.shape[1:]), dtype=data.dtype)
        for start in range(0, data.shape[0], _TILE[0]):
            planes = data[start : start + _TILE[0]]
            out = block[: planes.shape[0]]
            for column in range(0, data.shape[2], _TILE[1]):
                out[:, :, column : column + _TILE[1]] = planes[:, :, column : column + _TILE[1]]
            # a plane per write, as above: larger writes make the page cache keep the file
            # in larger folios, and a run mapping a few planes then maps (and counts as
            # resident) whole folios around them
            for plane in out:
                handle.write(plane.data)


def _counts(labels: GridLabels, path: Path) -> LabelCounts:
    try:
        with np.load(path) as stored:
            return stored["labels"], stored["counts"]
    except (OSError, ValueError, KeyError, EOFError):
        pass  # not there yet, or damaged: counted again
    counts = labels.counts()
    _store_counts(counts, path)
    return counts


def _store_counts(counts: LabelCounts, path: Path) -> None:
    present, voxels = counts
    with atomic_write(path, "wb") as handle:
        np.savez(handle, labels=present, counts=voxels)


def _file_digest(path: Path) -> str:
    """SHA-256 of a file's bytes (its modification time changes whenever the cache uses it)."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
