"""The HDF5 layout of functional connectomes, shared with lacuna: reading and writing it.

A functional connectome is one HDF5 file, or a folder of batch files (``*.h5``,
read in name order), each holding some of the subjects:

================  ==================  ==============================================
``timeseries``    (subjects, T, V)    BOLD time series of the V in-mask voxels, float32
``mask_indices``  (3, V)              voxel indices (i, j, k) of the V columns
``mask_affine``   (4, 4)              voxel to world (mm) of the mask grid
attributes                            ``n_subjects``, ``n_timepoints``, ``n_voxels``,
                                      ``mask_shape`` (3 ints), ``space``,
                                      ``description``, ``source``
``subject_ids``   (subjects,)         optional, strings (neuratlas writes it; lacuna
                                      ignores it)
================  ==================  ==============================================

This is what lacuna's ``gsp1000_to_hdf5`` writes and what its
``FunctionalNetworkMapping`` reads (``timeseries``, ``mask_indices``,
``mask_affine`` and the ``mask_shape`` attribute). Lacuna's readers take
``mask_indices`` as (3, V) or (V, 3), and lacuna's own converter writes (V, 3);
:class:`ConnectomeReader` accepts both, :class:`ConnectomeWriter` writes (3, V).
Every batch file carries the same mask: the reader checks it.

Reading streams: :meth:`ConnectomeReader.iter_subject_blocks` yields as many
whole subjects as fit in a byte budget, :meth:`ConnectomeReader.read_voxels`
reads chosen voxel columns without reading the rest of a subject. Files are
written chunked one subject by about a megabyte of voxels, so that both are
cheap.
"""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any, NamedTuple

import h5py
import nibabel as nib
import numpy as np
from numpy.typing import ArrayLike

from neuratlas.errors import ArgumentError
from neuratlas.lesion.connectomes.batches import (
    HDF5_SUFFIXES,
    TIMESERIES,
    batch_files,
    check_same,
    read_info,
)
from neuratlas.lesion.connectomes.writer import ConnectomeWriter, write_connectome

__all__ = [
    "DEFAULT_BLOCK_BYTES",
    "HDF5_SUFFIXES",
    "Block",
    "ConnectomeReader",
    "ConnectomeWriter",
    "SubjectBlock",
    "batch_files",
    "write_connectome",
]

#: Default budget of one block of subjects read at once.
DEFAULT_BLOCK_BYTES = 256 * 1024**2


class SubjectBlock(NamedTuple):
    """Whole subjects ``start:stop`` (indices over all files) and their time series."""

    start: int
    stop: int
    #: (stop - start, T, V) float32
    data: np.ndarray


class Block(NamedTuple):
    """Subjects ``start:stop`` and voxel columns ``voxels`` of the time series."""

    start: int
    stop: int
    voxels: slice
    #: (stop - start, T, voxels) float32
    data: np.ndarray


# -- reading ------------------------------------------------------------------------------------


class ConnectomeReader:
    """Read a functional connectome (one HDF5 file or many batch files) block by block.

    Nothing but the metadata is read when the reader is made; the time series
    are read when asked for, a block at a time, so memory stays bounded by the
    block size whatever the size of the connectome. Files written by lacuna and
    by neuratlas read the same way.

    Parameters
    ----------
    source : path-like or sequence of path-like
        An HDF5 file, a folder of batch files (``*.h5``, in name order), or a
        list of batch files.
    cache_bytes : int
        HDF5 chunk cache per open file; only matters when compressed chunks are
        read in parts (:meth:`read_voxels`).

    Attributes
    ----------
    files : list of Path
        The batch files, in subject order.
    mask_indices : ndarray, shape (3, V)
        Voxel indices of the V columns of every time series (read-only).
    mask_affine : ndarray, shape (4, 4)
        Voxel to world (mm) of the mask grid.
    mask_shape : tuple of 3 int
        Shape of the mask grid.
    attrs : dict
        The attributes of the first file (``space``, ``description``, ...).

    Raises
    ------
    NotFoundError
        A missing file or a folder without batch files.
    ImageError
        A file that is not a connectome in this layout, or batch files that
        disagree (time points, voxels, mask or affine).

    Examples
    --------
    >>> reader = ConnectomeReader("gsp1000/processed")  # doctest: +SKIP
    >>> reader.shape  # doctest: +SKIP
    (1000, 120, 228483)
    >>> for block in reader.iter_subject_blocks(max_bytes=512 * 1024**2):  # doctest: +SKIP
    ...     block.data.shape  # (subjects in the block, T, V)
    """

    def __init__(
        self,
        source: str | os.PathLike[str] | Sequence[str | os.PathLike[str]],
        *,
        cache_bytes: int = 16 * 1024**2,
    ) -> None:
        self._source = source
        self._cache_bytes = int(cache_bytes)
        self.files = batch_files(source)
        infos = []
        ids: list[str] = []
        first = None
        for path in self.files:
            info, indices, affine, shape, attrs = read_info(path)
            if first is None:
                first = (info, indices, affine, shape, attrs)
            else:
                check_same(first, info, indices, affine, shape)
            infos.append(info)
            stored = attrs.pop("_subject_ids")
            if stored is None or len(stored) != info.n_subjects:
                stored = [f"{path.stem}:{i}" for i in range(info.n_subjects)]
            ids.extend(str(s) for s in stored)
        assert first is not None
        _, indices, affine, shape, attrs = first
        indices.setflags(write=False)
        affine.setflags(write=False)
        self._infos = infos
        self._ids = ids
        self.mask_indices = indices
        self.mask_affine = affine
        self.mask_shape: tuple[int, int, int] = (shape[0], shape[1], shape[2])
        self.attrs = attrs
        counts = [info.n_subjects for info in infos]
        #: index of each file's first subject, and the total at the end
        self._starts = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
        self._lock = threading.RLock()
        self._open: tuple[int, h5py.File] | None = None
        self._lookup: np.ndarray | None = None

    # -- description --------------------------------------------------------------------------

    @property
    def n_subjects(self) -> int:
        """Subjects over all batch files."""
        return int(self._starts[-1])

    @property
    def n_timepoints(self) -> int:
        """Time points per subject (T)."""
        return self._infos[0].n_timepoints

    @property
    def n_voxels(self) -> int:
        """Voxels (columns) per time point (V)."""
        return self._infos[0].n_voxels

    @property
    def shape(self) -> tuple[int, int, int]:
        """``(n_subjects, n_timepoints, n_voxels)`` over all batch files."""
        return (self.n_subjects, self.n_timepoints, self.n_voxels)

    @property
    def subject_bytes(self) -> int:
        """Bytes of one subject's time series in memory (float32)."""
        return 4 * self.n_timepoints * self.n_voxels

    @property
    def nbytes(self) -> int:
        """Bytes of all time series in memory (float32)."""
        return self.n_subjects * self.subject_bytes

    @property
    def space(self) -> str | None:
        """The ``space`` attribute of the files, if any (lacuna writes ``MNI152_2mm``)."""
        value = self.attrs.get("space")
        return str(value) if value else None

    @property
    def resolution(self) -> float:
        """Voxel size of the mask grid in mm (mean over the three axes)."""
        return float(np.mean(np.linalg.norm(self.mask_affine[:3, :3], axis=0)))

    @property
    def subject_ids(self) -> list[str]:
        """One identifier per subject: stored ones, else ``<file stem>:<index in file>``."""
        return list(self._ids)

    @property
    def subjects_per_file(self) -> list[int]:
        """How many subjects each batch file holds."""
        return [info.n_subjects for info in self._infos]

    def __repr__(self) -> str:
        where = (
            self.files[0]
            if len(self.files) == 1
            else f"{len(self.files)} files in {self.files[0].parent}"
        )
        return (
            f"ConnectomeReader({where}: {self.n_subjects} subjects x {self.n_timepoints} "
            f"time points x {self.n_voxels} voxels, grid {self.mask_shape} at "
            f"{self.resolution:g} mm)"
        )

    # -- the mask grid ------------------------------------------------------------------------

    def mask(self) -> np.ndarray:
        """The brain mask as a boolean array of ``mask_shape``."""
        out = np.zeros(self.mask_shape, dtype=bool)
        out[tuple(self.mask_indices)] = True
        return out

    def mask_image(self) -> nib.Nifti1Image:
        """The brain mask as a uint8 NIfTI image on the mask grid."""
        return nib.Nifti1Image(self.mask().astype(np.uint8), np.array(self.mask_affine))

    @property
    def column_lookup(self) -> np.ndarray:
        """Flat (C-order) grid index -> column of that voxel, -1 outside the mask."""
        if self._lookup is None:
            # int32: a 1 mm grid has 7 million voxels, and no mask has 2**31 columns
            lookup = np.full(int(np.prod(self.mask_shape)), -1, dtype=np.int32)
            flat = np.ravel_multi_index(tuple(self.mask_indices), self.mask_shape)
            lookup[flat] = np.arange(self.n_voxels, dtype=np.int32)
            lookup.setflags(write=False)
            self._lookup = lookup
        return self._lookup

    def columns(self, mask: ArrayLike) -> np.ndarray:
        """The columns of the voxels that are true in ``mask`` and inside the brain mask.

        Parameters
        ----------
        mask : array_like, shape ``mask_shape``
            A boolean (or 0/1) volume on the connectome's grid, e.g. a lesion
            already resampled to it.

        Returns
        -------
        ndarray of int64
            Column indices, ascending; voxels outside the brain mask are left out.

        Raises
        ------
        ArgumentError
            ``mask`` is not on the grid (another shape).
        """
        volume = np.asarray(mask)
        if volume.shape != self.mask_shape:
            raise ArgumentError(
                f"a mask of shape {volume.shape} is not on the connectome grid {self.mask_shape}",
                hint="resample the mask to the connectome's grid (mask_affine, mask_shape)",
            )
        found = self.column_lookup[np.flatnonzero(volume.ravel(order="C"))]
        return np.sort(found[found >= 0]).astype(np.int64)

    def to_volume(self, values: ArrayLike, fill: float = 0.0) -> np.ndarray:
        """Place per-column values on the mask grid.

        Parameters
        ----------
        values : array_like, shape (V,) or (V, k)
            One value (or k values) per column.
        fill : float
            The value outside the brain mask.

        Returns
        -------
        ndarray, shape ``mask_shape`` or ``mask_shape + (k,)``
        """
        data = np.asarray(values)
        if data.shape[:1] != (self.n_voxels,) or data.ndim > 2:
            raise ArgumentError(
                f"values of shape {data.shape} do not have one row per voxel "
                f"({self.n_voxels},) or ({self.n_voxels}, k)"
            )
        dtype = np.result_type(data.dtype, np.min_scalar_type(fill))
        out = np.full(self.mask_shape + data.shape[1:], fill, dtype=dtype)
        out[tuple(self.mask_indices)] = data
        return out

    def to_image(self, values: ArrayLike, fill: float = 0.0) -> nib.Nifti1Image:
        """Per-column values as a NIfTI image on the mask grid (see :meth:`to_volume`)."""
        return nib.Nifti1Image(self.to_volume(values, fill), np.array(self.mask_affine))

    # -- reading ------------------------------------------------------------------------------

    def _dataset(self, file_index: int) -> h5py.Dataset:
        """``timeseries`` of one file; one file is open at a time (reading is sequential)."""
        if self._open is None or self._open[0] != file_index:
            self._close_open()
            handle = h5py.File(self.files[file_index], "r", rdcc_nbytes=self._cache_bytes)
            self._open = (file_index, handle)
        return self._open[1][TIMESERIES]

    def _close_open(self) -> None:
        if self._open is not None:
            with contextlib.suppress(Exception):
                self._open[1].close()
            self._open = None

    def _locate(self, subject: int) -> tuple[int, int]:
        """(file index, index within the file) of a subject."""
        file_index = int(np.searchsorted(self._starts, subject, side="right")) - 1
        return file_index, subject - int(self._starts[file_index])

    def _check_range(self, start: int, stop: int) -> None:
        if not 0 <= start <= stop <= self.n_subjects:
            raise ArgumentError(
                f"subjects {start}:{stop} are out of range: the connectome has "
                f"{self.n_subjects} subjects"
            )

    def read_subjects(self, start: int, stop: int) -> np.ndarray:
        """Read the whole time series of subjects ``start:stop`` (over all files).

        Returns
        -------
        ndarray, shape (stop - start, T, V), float32
        """
        self._check_range(start, stop)
        out = np.empty((stop - start, self.n_timepoints, self.n_voxels), dtype=np.float32)
        with self._lock:
            for file_index, lo, hi, at in self._runs(start, stop):
                _read_into(self._dataset(file_index), out, lo, hi, at)
        return out

    def _runs(self, start: int, stop: int) -> Iterator[tuple[int, int, int, int]]:
        """``(file, first, end, position in output)`` of the runs covering subjects start:stop."""
        at = start
        while at < stop:
            file_index, local = self._locate(at)
            end = min(stop - at, self._infos[file_index].n_subjects - local)
            yield file_index, local, local + end, at - start
            at += end

    def iter_subject_blocks(self, max_bytes: int = DEFAULT_BLOCK_BYTES) -> Iterator[SubjectBlock]:
        """Yield whole subjects, as many per block as fit in ``max_bytes``.

        Every subject is read exactly once, in order. A block never spans two
        batch files, and holds at least one subject even when one subject is
        larger than ``max_bytes`` (use :meth:`iter_blocks` to split subjects
        into voxel blocks as well).

        Parameters
        ----------
        max_bytes : int
            Budget of one block's array (float32), default 256 MiB.

        Yields
        ------
        SubjectBlock
            ``start``, ``stop`` (subject indices over all files) and ``data``
            of shape (stop - start, T, V).
        """
        per_block = max(1, int(max_bytes) // self.subject_bytes)
        for file_index, info in enumerate(self._infos):
            first = int(self._starts[file_index])
            for lo in range(0, info.n_subjects, per_block):
                hi = min(lo + per_block, info.n_subjects)
                data = np.empty((hi - lo, self.n_timepoints, self.n_voxels), dtype=np.float32)
                with self._lock:
                    _read_into(self._dataset(file_index), data, lo, hi, 0)
                yield SubjectBlock(first + lo, first + hi, data)

    def iter_blocks(self, max_bytes: int = DEFAULT_BLOCK_BYTES) -> Iterator[Block]:
        """Yield blocks of subjects and voxel columns that fit in ``max_bytes``.

        Whole subjects when at least one fits (as :meth:`iter_subject_blocks`);
        otherwise one subject at a time, cut into voxel blocks aligned with the
        file's chunks. Every value is read exactly once.

        Yields
        ------
        Block
            ``start``, ``stop``, ``voxels`` (a slice of columns) and ``data``
            of shape (stop - start, T, columns).
        """
        if self.subject_bytes <= max_bytes:
            for block in self.iter_subject_blocks(max_bytes):
                yield Block(block.start, block.stop, slice(0, self.n_voxels), block.data)
            return
        for file_index, info in enumerate(self._infos):
            first = int(self._starts[file_index])
            width = max(1, int(max_bytes) // (4 * self.n_timepoints))
            if width >= info.chunk_voxels:  # whole chunks: each chunk is decompressed once
                width -= width % info.chunk_voxels
            for subject in range(info.n_subjects):
                for lo in range(0, self.n_voxels, width):
                    hi = min(lo + width, self.n_voxels)
                    data = np.empty((1, self.n_timepoints, hi - lo), dtype=np.float32)
                    with self._lock:
                        self._dataset(file_index).read_direct(
                            data, np.s_[subject : subject + 1, :, lo:hi]
                        )
                    yield Block(first + subject, first + subject + 1, slice(lo, hi), data)

    def read_voxels(
        self,
        columns: ArrayLike,
        subjects: slice | Sequence[int] | None = None,
        *,
        max_bytes: int = 64 * 1024**2,
    ) -> np.ndarray:
        """Read the time series of some voxel columns only.

        Neighbouring columns are read together in slabs aligned with the files'
        chunks, so a compact lesion costs a few chunk reads per subject rather
        than the whole subject.

        Parameters
        ----------
        columns : array_like of int
            Column indices (e.g. from :meth:`columns`), in any order, repeats
            allowed; the output follows this order.
        subjects : slice or sequence of int, optional
            Subjects over all files (default all), in the order wanted.
        max_bytes : int
            Budget of the slabs read at once.

        Returns
        -------
        ndarray, shape (subjects, T, len(columns)), float32

        Raises
        ------
        ArgumentError
            Columns or subjects out of range.
        """
        wanted = np.asarray(columns, dtype=np.int64).ravel()
        if wanted.size and (wanted.min() < 0 or wanted.max() >= self.n_voxels):
            raise ArgumentError(
                f"voxel columns must lie in 0..{self.n_voxels - 1}, got "
                f"{wanted.min()}..{wanted.max()}"
            )
        chosen = self._subject_list(subjects)
        out = np.empty((len(chosen), self.n_timepoints, wanted.size), dtype=np.float32)
        if not wanted.size or not len(chosen):
            return out
        unique, inverse = np.unique(wanted, return_inverse=True)
        for row, (file_index, lo, hi) in _consecutive_runs(chosen, self._locate):
            info = self._infos[file_index]
            slabs = _slabs(unique, info.chunk_voxels)
            widest = max(b - a for a, b in slabs)
            step = max(1, int(max_bytes) // (4 * self.n_timepoints * widest))
            picked = np.empty((hi - lo, self.n_timepoints, unique.size), dtype=np.float32)
            for s0 in range(lo, hi, step):
                s1 = min(s0 + step, hi)
                done = 0
                for a, b in slabs:
                    with self._lock:
                        slab = self._dataset(file_index)[s0:s1, :, a:b]
                    inside = unique[(unique >= a) & (unique < b)]
                    picked[s0 - lo : s1 - lo, :, done : done + inside.size] = slab[
                        :, :, inside - a
                    ]
                    done += inside.size
            out[row : row + hi - lo] = picked[:, :, inverse]
        return out

    def _subject_list(self, subjects: slice | Sequence[int] | None) -> np.ndarray:
        if subjects is None:
            return np.arange(self.n_subjects)
        if isinstance(subjects, slice):
            return np.arange(self.n_subjects)[subjects]
        chosen = np.asarray(subjects, dtype=np.int64).ravel()
        if chosen.size and (chosen.min() < 0 or chosen.max() >= self.n_subjects):
            raise ArgumentError(
                f"subjects must lie in 0..{self.n_subjects - 1}, got "
                f"{chosen.min()}..{chosen.max()}"
            )
        return chosen

    # -- lifetime -----------------------------------------------------------------------------

    def close(self) -> None:
        """Close the open file (the reader reopens files when used again)."""
        with self._lock:
            self._close_open()

    def __enter__(self) -> ConnectomeReader:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __del__(self) -> None:
        with contextlib.suppress(Exception):
            self._close_open()

    def __reduce__(self) -> tuple[Any, ...]:
        # open HDF5 handles cannot travel to another process (Dask workers): reopen there
        return (_reopen, (self.files, self._cache_bytes))


def _read_into(series: h5py.Dataset, out: np.ndarray, lo: int, hi: int, at: int) -> None:
    """Read subjects ``lo:hi`` of a file into ``out[at:]``, one subject per HDF5 read.

    One HDF5 read of many subjects into a large array measured up to 2.5x
    slower (1 GB blocks) than these reads of one subject each.
    """
    for k in range(hi - lo):
        series.read_direct(out, np.s_[lo + k], np.s_[at + k])


def _reopen(files: list[Path], cache_bytes: int) -> ConnectomeReader:
    return ConnectomeReader(files, cache_bytes=cache_bytes)


def _slabs(columns: np.ndarray, chunk: int) -> list[tuple[int, int]]:
    """Cover sorted unique ``columns`` with ranges, joining those a chunk or less apart."""
    gaps = np.flatnonzero(np.diff(columns) > chunk)
    starts = np.concatenate([[0], gaps + 1])
    ends = np.concatenate([gaps, [columns.size - 1]])
    return [(int(columns[s]), int(columns[e]) + 1) for s, e in zip(starts, ends, strict=True)]


def _consecutive_runs(
    subjects: np.ndarray, locate: Any
) -> Iterator[tuple[int, tuple[int, int, int]]]:
    """``(output row, (file, first, end))`` for runs of consecutive subjects within one file."""
    row = 0
    while row < subjects.size:
        file_index, local = locate(int(subjects[row]))
        end = row + 1
        while (
            end < subjects.size
            and subjects[end] == subjects[end - 1] + 1
            and locate(int(subjects[end]))[0] == file_index
        ):
            end += 1
        yield row, (file_index, local, local + end - row)
        row = end
