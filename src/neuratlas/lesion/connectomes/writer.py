"""Writing connectome batch files in lacuna's layout (:mod:`.layout`), atomically."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterable, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any

import h5py
import numpy as np
from numpy.typing import ArrayLike

from neuratlas.errors import ArgumentError
from neuratlas.lesion.connectomes.batches import (
    MASK_AFFINE,
    MASK_INDICES,
    MASK_SHAPE,
    SUBJECT_IDS,
    TIMESERIES,
)
from neuratlas.lesion.connectomes.existing import output_exists
from neuratlas.retrieval.cache import atomic_write

__all__ = ["CHUNK_BYTES", "ConnectomeWriter", "write_connectome"]

#: Bytes of one HDF5 chunk of ``timeseries`` (one subject, all time points, some voxels).
CHUNK_BYTES = 1024**2
_GZIP_LEVEL = 1  # lacuna's choice: most of gzip's gain on float data, at a fraction of its cost


def _as_grid(
    mask_indices: ArrayLike, mask_shape: Sequence[int] | None
) -> tuple[np.ndarray, tuple[int, int, int]]:
    """(3, V) int64 indices and the grid shape, from indices or a 3D boolean mask."""
    raw = np.asarray(mask_indices)
    if raw.ndim == 3:
        if mask_shape is not None and tuple(mask_shape) != raw.shape:
            raise ArgumentError(
                f"mask_shape {tuple(mask_shape)} contradicts the mask's shape {raw.shape}"
            )
        indices = np.stack(np.nonzero(raw)).astype(np.int64)
        shape = raw.shape
    else:
        if mask_shape is None:
            raise ArgumentError(
                "mask_shape is needed with mask_indices",
                hint="give the shape of the mask grid, or pass the 3D mask itself",
            )
        if raw.ndim != 2 or 3 not in raw.shape:
            raise ArgumentError(f"mask_indices of shape {raw.shape} is neither (3, V) nor (V, 3)")
        indices = raw if raw.shape[0] == 3 else raw.T
        if not np.issubdtype(indices.dtype, np.integer):
            raise ArgumentError("mask_indices must hold integer voxel indices")
        indices = np.ascontiguousarray(indices, dtype=np.int64)
        shape = tuple(int(n) for n in mask_shape)
    if len(shape) != 3 or min(shape) < 1:
        raise ArgumentError(f"mask_shape {shape} is not the shape of a 3D grid")
    if indices.shape[1] == 0:
        raise ArgumentError("the brain mask is empty: a connectome needs at least one voxel")
    if indices.min() < 0 or np.any(indices.max(axis=1) >= np.array(shape)):
        raise ArgumentError(f"mask_indices lie outside the grid of shape {shape}")
    flat = np.ravel_multi_index(tuple(indices), shape)
    if np.unique(flat).size != flat.size:
        raise ArgumentError("mask_indices name some voxels twice")
    return indices, (shape[0], shape[1], shape[2])


class ConnectomeWriter:
    """Write one batch file of a connectome, subject by subject, atomically.

    The file appears at ``path`` only when :meth:`close` (or the end of the
    ``with`` block) finds every subject written; on an error nothing is left
    behind. Use it to write connectomes too large to hold in memory;
    :func:`write_connectome` writes an array in one call.

    Parameters
    ----------
    path : path-like
        The ``.h5`` file to write.
    n_subjects, n_timepoints : int
        The shape of ``timeseries`` is (n_subjects, n_timepoints, V).
    mask_indices : array_like
        (3, V) or (V, 3) voxel indices of the columns, or a 3D boolean mask
        (its true voxels in C order become the columns, as lacuna does).
    mask_affine : array_like, shape (4, 4)
        Voxel to world (mm) of the mask grid.
    mask_shape : sequence of 3 int, optional
        The grid shape; required with indices, taken from a mask.
    space : str, optional
        The template space (``space`` attribute), e.g. ``"MNI152NLin6Asym"``.
    description, source : str
        Free text for the attributes of the same names.
    subject_ids : sequence of str, optional
        One identifier per subject, stored in ``subject_ids``.
    compression : {None, "gzip", "lzf"}
        ``None`` (default) reads fastest; ``"gzip"`` (level 1, with shuffle) is
        what lacuna writes and saves 10-20 % on BOLD data, at several times
        the reading cost.
    overwrite : bool
        Replace an existing file.

    Raises
    ------
    ArgumentError
        Shapes that do not fit, a bad grid, or an unknown compression.
    FileExistsError
        ``path`` exists and ``overwrite`` is False (see
        :mod:`neuratlas.lesion.connectomes.existing`).
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        n_subjects: int,
        n_timepoints: int,
        mask_indices: ArrayLike,
        mask_affine: ArrayLike,
        mask_shape: Sequence[int] | None = None,
        *,
        space: str | None = None,
        description: str = "",
        source: str = "",
        subject_ids: Sequence[str] | None = None,
        compression: str | None = None,
        overwrite: bool = False,
    ) -> None:
        self.path = Path(path)
        if n_subjects < 1 or n_timepoints < 1:
            raise ArgumentError(
                f"a connectome needs at least one subject and one time point, got "
                f"{n_subjects} subjects and {n_timepoints} time points"
            )
        indices, shape = _as_grid(mask_indices, mask_shape)
        affine = np.asarray(mask_affine, dtype=np.float64)
        if affine.shape != (4, 4) or not np.all(np.isfinite(affine)):
            raise ArgumentError(f"mask_affine must be a finite 4x4 matrix, got {affine.shape}")
        if compression not in (None, "gzip", "lzf"):
            raise ArgumentError(
                f"unknown compression {compression!r}", hint="use None, 'gzip' or 'lzf'"
            )
        if subject_ids is not None and len(subject_ids) != n_subjects:
            raise ArgumentError(
                f"{len(subject_ids)} subject_ids for {n_subjects} subjects",
                hint="give one identifier per subject",
            )
        if self.path.exists() and not overwrite:
            raise output_exists(self.path, what="the connectome file")
        self.n_subjects = int(n_subjects)
        self.n_timepoints = int(n_timepoints)
        self.n_voxels = int(indices.shape[1])
        self._written = np.zeros(self.n_subjects, dtype=bool)
        self._stack = contextlib.ExitStack()
        try:
            # h5py writes through the file object: atomic_write's temporary file
            handle = self._stack.enter_context(atomic_write(self.path, "w+b"))
            self._h5 = self._stack.enter_context(h5py.File(handle, "w"))
            chunk_voxels = min(self.n_voxels, max(1, CHUNK_BYTES // (4 * self.n_timepoints)))
            options: dict[str, Any] = {}
            if compression == "gzip":
                options = {"compression": "gzip", "compression_opts": _GZIP_LEVEL}
                options["shuffle"] = True
            elif compression == "lzf":
                options = {"compression": "lzf", "shuffle": True}
            self._series = self._h5.create_dataset(
                TIMESERIES,
                shape=(self.n_subjects, self.n_timepoints, self.n_voxels),
                dtype=np.float32,
                chunks=(1, self.n_timepoints, chunk_voxels),
                **options,
            )
            self._h5.create_dataset(MASK_INDICES, data=indices)
            self._h5.create_dataset(MASK_AFFINE, data=affine)
            if subject_ids is not None:
                self._h5.create_dataset(
                    SUBJECT_IDS, data=[str(s) for s in subject_ids], dtype=h5py.string_dtype()
                )
            attrs = self._h5.attrs
            attrs["n_subjects"] = self.n_subjects
            attrs["n_timepoints"] = self.n_timepoints
            attrs["n_voxels"] = self.n_voxels
            attrs[MASK_SHAPE] = np.asarray(shape, dtype=np.int64)
            attrs["space"] = space or ""
            attrs["description"] = description
            attrs["source"] = source
        except BaseException as exc:
            self._stack.__exit__(type(exc), exc, exc.__traceback__)
            raise

    def write(self, subjects: int | slice, data: ArrayLike) -> None:
        """Write the time series of one subject (T, V) or of a slice of subjects (n, T, V).

        Raises
        ------
        ArgumentError
            Data of the wrong shape, or values that are not finite.
        """
        block = np.asarray(data, dtype=np.float32)
        if isinstance(subjects, slice):
            rows = range(self.n_subjects)[subjects]
            expected: tuple[int, ...] = (len(rows), self.n_timepoints, self.n_voxels)
        else:
            if not 0 <= subjects < self.n_subjects:
                raise ArgumentError(f"subject {subjects} is out of range 0..{self.n_subjects - 1}")
            rows = range(subjects, subjects + 1)
            expected = (self.n_timepoints, self.n_voxels)
        if block.shape != expected:
            raise ArgumentError(
                f"time series of shape {block.shape} for subject(s) {subjects}, "
                f"expected {expected} (time points, voxels)"
            )
        if not np.all(np.isfinite(block)):
            raise ArgumentError(
                f"the time series of subject(s) {subjects} hold NaN or infinite values",
                hint="a connectome's correlations need finite values; fix or drop the subject",
            )
        self._series[subjects] = block
        self._written[rows.start : rows.stop : rows.step] = True

    def close(self) -> Path:
        """Finish the file and move it into place.

        Raises
        ------
        ArgumentError
            Some subjects were never written (the file is not kept).
        """
        missing = np.flatnonzero(~self._written)
        if missing.size:
            error = ArgumentError(
                f"{missing.size} of {self.n_subjects} subjects were never written "
                f"(first: {missing[0]}); {self.path} was not written"
            )
            self._stack.__exit__(ArgumentError, error, None)
            raise error
        self._stack.close()
        return self.path

    def __enter__(self) -> ConnectomeWriter:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if exc is None:
            self.close()
        else:
            self._stack.__exit__(exc_type, exc, tb)


def write_connectome(
    path: str | os.PathLike[str],
    timeseries: ArrayLike | Iterable[ArrayLike],
    mask_indices: ArrayLike,
    mask_affine: ArrayLike,
    mask_shape: Sequence[int] | None = None,
    *,
    n_subjects: int | None = None,
    space: str | None = None,
    description: str = "",
    source: str = "",
    subject_ids: Sequence[str] | None = None,
    compression: str | None = None,
    overwrite: bool = False,
) -> Path:
    """Write a connectome batch file in lacuna's layout, atomically.

    Parameters
    ----------
    path : path-like
        The ``.h5`` file to write.
    timeseries : array_like (subjects, T, V), or an iterable of (T, V) arrays
        The time series; an iterable (with ``n_subjects``) is written one
        subject at a time, never held in memory whole.
    mask_indices, mask_affine, mask_shape
        The columns' voxels and the grid (see :class:`ConnectomeWriter`).
    n_subjects : int, optional
        Required when ``timeseries`` is an iterable.
    space, description, source, subject_ids, compression, overwrite
        See :class:`ConnectomeWriter`.

    Returns
    -------
    Path
        ``path``.

    Examples
    --------
    >>> mask = np.zeros((4, 5, 6), bool); mask[1:3, 1:4, 2:5] = True
    >>> series = np.random.default_rng(0).normal(size=(3, 20, mask.sum()))
    >>> write_connectome(tmp / "c.h5", series, mask, np.eye(4))  # doctest: +SKIP
    """

    def writer_for(subjects: int, timepoints: int) -> ConnectomeWriter:
        return ConnectomeWriter(
            path,
            subjects,
            timepoints,
            mask_indices,
            mask_affine,
            mask_shape,
            space=space,
            description=description,
            source=source,
            subject_ids=subject_ids,
            compression=compression,
            overwrite=overwrite,
        )

    if isinstance(timeseries, np.ndarray) or n_subjects is None:
        array = np.asarray(timeseries, dtype=np.float32)
        if array.ndim != 3:
            raise ArgumentError(
                f"timeseries of shape {array.shape}, expected (subjects, time points, voxels)"
            )
        with writer_for(array.shape[0], array.shape[1]) as writer:
            if array.shape[2] != writer.n_voxels:
                raise ArgumentError(
                    f"timeseries has {array.shape[2]} voxels but the mask {writer.n_voxels}"
                )
            writer.write(slice(None), array)
        return writer.path
    subjects = iter(timeseries)
    first = np.asarray(next(subjects), dtype=np.float32)
    with writer_for(n_subjects, first.shape[0]) as writer:
        writer.write(0, first)
        for index, subject in enumerate(subjects, start=1):
            if index >= n_subjects:
                raise ArgumentError(f"timeseries yields more than n_subjects={n_subjects}")
            writer.write(index, subject)
    return writer.path
