"""One pass over a connectome that maps many lesions at once.

For each subject, in order, read once: the lesions' seed time courses (L, T),
their correlations with every voxel as one matrix product (L, T) @ (T, V),
Fisher's z, and the float64 running moments of z over subjects
(:class:`~neuratlas.lesion.analysis.fnm_stats.RunningMoments`). The voxels are
processed in blocks of about a megabyte, so the temporaries stay in the CPU's
cache and memory holds one block of subjects (two while the next is read in the
background) and the moments: 16 bytes per lesion and voxel, whatever the number
of subjects.

Subjects larger than the byte budget are read in voxel blocks (the reader's
``iter_blocks``); their seeds then come from the lesion columns alone
(``read_voxels``), which gives the same values.
"""

from __future__ import annotations

import contextlib
import itertools
import os
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

import numpy as np
from threadpoolctl import threadpool_limits

from neuratlas.lesion.analysis.fnm_seeds import (
    mean_time_courses,
    pini_selection,
    seed_voxel_correlations,
    unit_seeds,
)
from neuratlas.lesion.analysis.fnm_stats import RunningMoments, fisher_z
from neuratlas.lesion.connectomes.layout import ConnectomeReader

__all__ = ["available_cores", "map_lesions", "pini_columns"]

#: Bytes of the float64 temporaries of one voxel block: small enough to stay in cache.
_WORKING_BYTES = 1024**2
_MIN_BLOCK_VOXELS = 256
#: Seeds are multiplied in groups of this many rows (see :func:`_padded`).
_ROWS = 8

Item = TypeVar("Item")


def _prefetched(items: Iterator[Item]) -> Iterator[Item]:
    """``items``, each next one read in a background thread while the current one is used.

    HDF5 reads and decompression release the GIL for most of their time, so
    reading overlaps the computation; two items are alive at a time.
    """
    done = object()
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="neuratlas-fnm-read") as pool:
        pending = pool.submit(next, items, done)
        while True:
            item = pending.result()
            if item is done:
                return
            pending = pool.submit(next, items, done)
            yield item  # type: ignore[misc]


def available_cores() -> int:
    """The CPU cores this process may run on."""
    if hasattr(os, "sched_getaffinity"):
        return max(1, len(os.sched_getaffinity(0)))
    return os.cpu_count() or 1  # pragma: no cover - macOS, Windows


def _blas_threads(prefetch: bool) -> contextlib.AbstractContextManager[Any]:
    """Leave one core to the reading thread: BLAS gets the others.

    Measured on 2 cores with gzip-compressed subjects: one BLAS thread next to the
    reading thread maps 100 lesions 2-3x faster than two BLAS threads competing
    with it (idle BLAS threads spin, and a preempted thread stalls every product).
    """
    if not prefetch:
        return contextlib.nullcontext()
    return threadpool_limits(max(1, available_cores() - 1), user_api="blas")


def _union(columns: Sequence[np.ndarray]) -> tuple[np.ndarray, list[np.ndarray]]:
    """The sorted union of the column sets, and each set's positions in it."""
    union = np.unique(np.concatenate(columns))
    return union, [np.searchsorted(union, cols) for cols in columns]


def _voxel_blocks(n_voxels: int, n_timepoints: int) -> list[tuple[int, int]]:
    """Voxel ranges of about a megabyte of float64 time series, of nearly equal widths.

    They depend on the time series only, not on the number of lesions, and none is
    much narrower than the others, so that a voxel's correlations come out of the
    same BLAS kernel in every batch (a one-column product takes another path).
    """
    width = max(_MIN_BLOCK_VOXELS, _WORKING_BYTES // (8 * n_timepoints))
    count = max(1, -(-n_voxels // width))
    edges = np.linspace(0, n_voxels, count + 1).round().astype(int)
    return [(int(a), int(b)) for a, b in itertools.pairwise(edges)]


def _padded(seeds: np.ndarray) -> np.ndarray:
    """``seeds`` with zero rows added up to a multiple of :data:`_ROWS`.

    BLAS takes other code paths for products of one or a few rows; padded, the
    correlations of a lesion are the very same numbers alone or in a batch.
    """
    rows = -(-seeds.shape[0] // _ROWS) * _ROWS
    out = np.zeros((rows, seeds.shape[1]), dtype=np.float64)
    out[: seeds.shape[0]] = seeds
    return out


def _add_subject_maps(
    moments: RunningMoments, seeds: np.ndarray, series: np.ndarray, start: int
) -> None:
    """Add the z maps of padded unit ``seeds`` against ``series`` (T, v), voxels from ``start``.

    Only the first ``moments.mean.shape[0]`` rows of ``seeds`` are real.
    """
    n_maps = moments.mean.shape[0]
    for a, b in _voxel_blocks(series.shape[1], series.shape[0]):
        y = series[:, a:b].astype(np.float64)
        y -= y.mean(axis=0)
        norm = np.sqrt((y * y).sum(axis=0))
        # r = 0 for a voxel that does not vary (all zeros already) or is not finite
        # (lacuna's files are not checked for NaN): lacuna's nan_to_num, in advance
        varies = norm > 0
        np.divide(y, norm, out=y, where=varies)
        if not varies.all():
            y[:, ~varies] = 0.0
        r = (seeds @ y)[:n_maps]
        moments.update(fisher_z(r, out=r), start + a)


def map_lesions(
    reader: ConnectomeReader,
    columns: Sequence[np.ndarray],
    *,
    max_block_bytes: int,
    prefetch: bool = True,
) -> RunningMoments:
    """The running moments of the Fisher z maps of many seeds over every subject.

    Parameters
    ----------
    reader : ConnectomeReader
        The connectome.
    columns : sequence of ndarray of int
        Each seed's columns (none empty); its time course is their mean.
    max_block_bytes : int
        Budget of one block of time series read at once (at least 256 voxel
        columns of a subject are read at once, whatever the budget).
    prefetch : bool
        Read the next block in a background thread.

    Returns
    -------
    RunningMoments
        Row ``i`` belongs to ``columns[i]``; ``count`` is the number of subjects.
    """
    n_voxels, n_timepoints = reader.n_voxels, reader.n_timepoints
    moments = RunningMoments(len(columns), n_voxels)
    union, positions = _union(columns)
    # a subject larger than the budget is read in voxel blocks: not absurdly thin ones
    budget = max(int(max_block_bytes), 4 * n_timepoints * _MIN_BLOCK_VOXELS)
    blocks = reader.iter_blocks(budget)
    seeds = np.zeros((len(columns), n_timepoints))
    with _blas_threads(prefetch):
        for block in _prefetched(blocks) if prefetch else blocks:
            first, stop = block.voxels.start, block.voxels.stop
            for row, subject in enumerate(range(block.start, block.stop)):
                series = block.data[row]
                if first == 0:
                    moments.start_subject()
                    if stop == n_voxels:
                        means = mean_time_courses(series, columns)
                    else:  # the subject comes in voxel blocks: read its lesion columns first
                        lesions = reader.read_voxels(union, [subject], max_bytes=budget)
                        means = mean_time_courses(lesions[0], positions)
                    seeds = _padded(unit_seeds(means))
                _add_subject_maps(moments, seeds, series, first)
    return moments


def pini_columns(
    reader: ConnectomeReader,
    columns: Sequence[np.ndarray],
    percentile: float,
    *,
    max_block_bytes: int,
) -> list[np.ndarray]:
    """The columns Pini's method keeps of each lesion (a first pass over the lesion voxels).

    Only the lesions' columns are read. Memory holds, per lesion, one correlation
    per subject and lesion voxel (8 bytes each) until the selection.

    Parameters
    ----------
    reader : ConnectomeReader
        The connectome.
    columns : sequence of ndarray of int
        Each lesion's columns (none empty).
    percentile : float
        See :func:`~neuratlas.lesion.analysis.fnm_seeds.pini_selection`.
    max_block_bytes : int
        Budget of the lesion time series read at once.

    Returns
    -------
    list of ndarray of int
        A subset of each lesion's columns, never empty.
    """
    union, positions = _union(columns)
    n_subjects, n_timepoints = reader.n_subjects, reader.n_timepoints
    rows = [np.empty((n_subjects, cols.size)) for cols in columns]
    step = max(1, max_block_bytes // (4 * n_timepoints * union.size))
    for start in range(0, n_subjects, step):
        stop = min(start + step, n_subjects)
        series = reader.read_voxels(union, slice(start, stop), max_bytes=max_block_bytes)
        for offset in range(stop - start):
            for lesion, pos in enumerate(positions):
                rows[lesion][start + offset] = seed_voxel_correlations(series[offset][:, pos])
    return [
        cols[pini_selection(corr, percentile)] for cols, corr in zip(columns, rows, strict=True)
    ]
