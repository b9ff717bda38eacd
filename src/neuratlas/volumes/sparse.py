"""Sparse storage of probabilistic (statistical) maps: many 3D volumes on one voxel grid.

A probabilistic atlas holds one 3D map per region, and almost every voxel of each
map is zero. :class:`SparseIndex` keeps only the positive values, the way siibra's
``SparseIndex`` does, but in flat NumPy arrays instead of one dictionary per voxel:

``voxels`` (the *grid*)
    An ``int32`` array with the shape of the volumes; ``-1`` where no volume has a
    value, else the *row* of that voxel.
``indptr``
    ``int64``, ``rows + 1`` long: row ``r`` owns the entries ``indptr[r]:indptr[r+1]``
    (compressed sparse rows).
``volumes``, ``values``
    One item per entry: the volume index (``int16``, or ``int32`` beyond 32767
    volumes) and its value.
``bboxes``
    ``(num_volumes, 2, 3)`` inclusive voxel bounding boxes.

Rows are numbered in the memory order of the grid, entries of a row sort by
volume, so that every query is a handful of vectorised NumPy operations.

Rules (shared with siibra)
    Only values ``> 0`` are mapped. Zero, negative values and NaN are background;
    ``+inf`` is kept. A volume without positive values is kept (later volume
    indices must not shift), with the empty bounding box ``(0, 0, 0)..(-1, -1, -1)``.

Value types
    Values are stored as ``float32`` when every mapped value survives the round
    trip through ``float32`` unchanged (always true for ``uint8``, ``int16``,
    ``float16``, ``float32``... sources); otherwise the source dtype is kept
    (e.g. ``float64`` maps with full precision, ``int32`` beyond 2**24). The dtype
    of the source images is remembered, and :meth:`SparseIndex.fetch` returns it, so
    a fetched volume equals the source bit for bit (with background as above).

Files
    :meth:`SparseIndex.save` / :meth:`SparseIndex.load` write a folder of ``.npy``
    arrays plus ``header.json`` that loads memory-mapped in milliseconds (the cache
    form); :meth:`SparseIndex.save_zip` / :meth:`SparseIndex.load_zip` the same in
    one zip; :meth:`SparseIndex.save_siibra_v1` / :meth:`SparseIndex.load_siibra_v1`
    siibra's three-file ``sparseindex_v1`` format (in :mod:`neuratlas.volumes.sparse_siibra`).
"""

from __future__ import annotations

import json
import math
import zipfile
import zlib
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any, Literal

import numpy as np
from numpy.typing import ArrayLike, DTypeLike

from neuratlas.errors import ImageError, NotFoundError, SpecError
from neuratlas.retrieval.cache import atomic_dir, atomic_write, cache_path, evict, touch

__all__ = ["SIIBRA_V1_SUFFIXES", "SparseIndex", "cached_index", "store_index"]

#: File name endings of siibra's ``sparseindex_v1`` format, by part. Defined here, not in
#: :mod:`neuratlas.volumes.sparse_siibra` (which imports this module), so that both export it.
SIIBRA_V1_SUFFIXES = {
    "voxels": ".sparseindex_v1.voxels.nii.gz",
    "probs": ".sparseindex_v1.probs.txt.gz",
    "bboxes": ".sparseindex_v1.bboxes.txt.gz",
}

_FORMAT = "neuratlas-sparse-index"
_VERSION = 1
_ARRAYS = ("voxels", "indptr", "volumes", "values", "bboxes")
_HEADER = "header.json"
# Float32 holds every value of these dtypes exactly: no per-value check needed.
_FLOAT32_EXACT = {np.dtype(t) for t in ("bool", "uint8", "int8", "uint16", "int16", "float16")}
# Bound the temporary "> 0" mask of a 4D build to about 64 MB.
_CHUNK_ELEMENTS = 1 << 26
# Affines of one grid may differ by float32 rounding (NIfTI headers), never by more.
_AFFINE_ATOL = 1e-5
# Fast compression: these files are written once per build, and level 6+ costs ~10x the time.
_GZIP_LEVEL = 2
_EMPTY_BBOX = np.array([[0, 0, 0], [-1, -1, -1]], dtype=np.int64)

Order = Literal["C", "F"]


class SparseIndex:
    """Many 3D maps on one voxel grid, stored as a voxel grid plus compressed rows.

    Build one with :meth:`from_4d` (vectorised, from a 4D array), :meth:`from_volumes`
    or repeated :meth:`add_img` (siibra's interface; one call = the next volume);
    load one with :meth:`load`, :meth:`load_zip` or :meth:`load_siibra_v1`. Images
    added after the index was used are merged on the next query.

    Examples
    --------
    >>> data = np.zeros((4, 4, 4, 2), dtype=np.float32)
    >>> data[1, 2, 3] = [0.25, 0.5]
    >>> index = SparseIndex.from_4d(data, np.eye(4))
    >>> index.num_volumes, index.max()
    (2, 0)
    >>> index.values_at(np.array([[1, 2, 3]]))[2].tolist()
    [0.25, 0.5]
    """

    def __init__(self) -> None:
        self._shape: tuple[int, int, int] | None = None
        self._affine: np.ndarray | None = None
        self._order: Order = "C"
        self._source_dtype: np.dtype | None = None
        self._num_volumes = 0
        self._grid: np.ndarray | None = None
        self._indptr = np.zeros(1, dtype=np.int64)
        self._volumes = np.zeros(0, dtype=np.int16)
        self._values = np.zeros(0, dtype=np.float32)
        self._bboxes = np.zeros((0, 2, 3), dtype=np.int64)
        # Entries added since the last build: (grid keys, volume(s), values).
        self._pending: list[tuple[np.ndarray, np.ndarray | int, np.ndarray]] = []

    # ------------------------------------------------------------------ building

    @classmethod
    def from_4d(cls, data: ArrayLike | Sequence[ArrayLike], affine: ArrayLike) -> SparseIndex:
        """Build an index from a 4D array whose last axis lists the volumes.

        Fully vectorised: one ``np.flatnonzero`` per chunk of the array (chunks keep
        the temporary mask small), then one stable sort by voxel.

        Parameters
        ----------
        data : array_like, shape (X, Y, Z, V), or sequence of (X, Y, Z) arrays
            The maps; volume ``v`` is ``data[..., v]``. A list or tuple of 3D arrays
            is passed on to :meth:`from_volumes`.
        affine : array_like, shape (4, 4)
            Voxel to world transform shared by all volumes.

        Returns
        -------
        SparseIndex

        Raises
        ------
        neuratlas.errors.ImageError
            If the array is not 4D, not real-valued, empty, or the affine is not 4x4.
        """
        if isinstance(data, list | tuple):
            return cls.from_volumes(data, affine)
        index = cls()
        index.add_4d(data, affine)
        index._finalize()
        return index

    @classmethod
    def from_volumes(cls, volumes: Iterable[ArrayLike], affine: ArrayLike) -> SparseIndex:
        """Build an index from 3D volumes on one grid (one :meth:`add_img` each).

        Parameters
        ----------
        volumes : iterable of array_like, each (X, Y, Z)
            The maps, in volume order.
        affine : array_like, shape (4, 4)
            Voxel to world transform shared by all volumes.
        """
        index = cls()
        for volume in volumes:
            index.add_img(volume, affine)
        index._finalize()
        return index

    def add_img(self, imgdata: ArrayLike, affine: ArrayLike) -> None:
        """Add one 3D map as the next volume (siibra's interface).

        Parameters
        ----------
        imgdata : array_like, shape (X, Y, Z)
            The map; trailing axes of length 1 are dropped. Values ``> 0`` are kept.
        affine : array_like, shape (4, 4)
            Its voxel to world transform; must match the first image's grid.

        Raises
        ------
        neuratlas.errors.ImageError
            If the image is not 3D, not real-valued, has no voxels, or lies on
            another grid (shape or affine) than the images before it.
        """
        data = _as_array(imgdata, ndim=3, what=f"image for volume {self._num_volumes}")
        self._claim_grid(data.shape, affine, data, what=f"volume {self._num_volumes}")
        flat = np.ravel(data, order=self._order)
        keys = np.flatnonzero(flat > 0)
        self._pending.append((keys, self._num_volumes, _compact(flat[keys])))
        self._bboxes = np.concatenate([self._bboxes, self._bbox_of(keys)[None]])
        self._note_source(data.dtype)
        self._num_volumes += 1

    def add_4d(self, data: ArrayLike, affine: ArrayLike) -> None:
        """Add every volume of a 4D array (last axis) as the next volumes.

        Parameters
        ----------
        data : array_like, shape (X, Y, Z, V)
            The maps; values ``> 0`` are kept.
        affine : array_like, shape (4, 4)
            Voxel to world transform; must match the grid of earlier images.
        """
        array = _as_array(data, ndim=4, what="4D image")
        shape3 = array.shape[:3]
        self._claim_grid(shape3, affine, array, what="4D image")
        nvox = math.prod(shape3)
        count = array.shape[3]
        first = self._num_volumes
        vol_dtype = _volume_dtype(first + count)
        keys_parts, vol_parts, value_parts = [], [], []
        if array.flags.c_contiguous and not array.flags.f_contiguous:
            # Memory order x, y, z, v: slabs along x come out sorted by voxel already.
            step = max(1, _CHUNK_ELEMENTS // (nvox // shape3[0] * count))
            for start in range(0, shape3[0], step):
                flat = array[start : start + step].reshape(-1)
                hits = np.flatnonzero(flat > 0)
                keys_parts.append(hits // count + start * (nvox // shape3[0]))
                vol_parts.append((hits % count + first).astype(vol_dtype))
                value_parts.append(_compact(flat[hits]))
            natural: Order = "C"
        else:
            # Memory order v slowest (nibabel's Fortran arrays): chunk over volumes.
            step = max(1, _CHUNK_ELEMENTS // nvox)
            for start in range(0, count, step):
                flat = np.ravel(array[..., start : start + step], order="F")
                hits = np.flatnonzero(flat > 0)
                keys_parts.append(hits % nvox)
                vol_parts.append((hits // nvox + first + start).astype(vol_dtype))
                value_parts.append(_compact(flat[hits]))
            natural = "F"
        keys = _concat(keys_parts, np.int64)
        vols = _concat(vol_parts, vol_dtype)
        values = _concat_values(value_parts)
        if natural != self._order:
            keys = np.ravel_multi_index(
                np.unravel_index(keys, shape3, order=natural), shape3, order=self._order
            )
        self._bboxes = np.concatenate([self._bboxes, self._bboxes_of(keys, vols, first, count)])
        self._pending.append((keys, vols, values))
        self._note_source(array.dtype)
        self._num_volumes += count

    def _claim_grid(
        self, shape: tuple[int, ...], affine: ArrayLike, data: np.ndarray, what: str
    ) -> None:
        matrix = _as_affine(affine, what)
        if self._shape is None:
            self._shape = (int(shape[0]), int(shape[1]), int(shape[2]))
            self._affine = matrix
            self._affine.flags.writeable = False
            fortran = data.flags.f_contiguous and not data.flags.c_contiguous
            self._order = "F" if fortran else "C"
            return
        if tuple(shape) != self._shape:
            raise ImageError(
                f"{what} has shape {tuple(shape)} but this sparse index holds "
                f"volumes of shape {self._shape}",
                hint="resample the image to the grid of the first volume before adding it",
            )
        assert self._affine is not None
        if not np.allclose(matrix, self._affine, rtol=0, atol=_AFFINE_ATOL):
            raise ImageError(
                f"{what} has affine {matrix.round(4).tolist()} but this sparse index "
                f"uses {self._affine.round(4).tolist()}",
                hint="resample the image to the grid of the first volume before adding it",
            )

    def _note_source(self, dtype: np.dtype) -> None:
        self._source_dtype = (
            dtype if self._source_dtype is None else np.result_type(self._source_dtype, dtype)
        )

    def _bbox_of(self, keys: np.ndarray) -> np.ndarray:
        if keys.size == 0:
            return _EMPTY_BBOX.copy()
        assert self._shape is not None
        ijk = np.stack(np.unravel_index(keys, self._shape, order=self._order))
        return np.stack([ijk.min(axis=1), ijk.max(axis=1)]).astype(np.int64)

    def _bboxes_of(self, keys: np.ndarray, vols: np.ndarray, first: int, count: int) -> np.ndarray:
        """Bounding boxes of ``count`` volumes from their entries, without a loop."""
        assert self._shape is not None
        boxes = np.repeat(_EMPTY_BBOX[None], count, axis=0)
        if keys.size == 0:
            return boxes
        if np.any(vols[1:] < vols[:-1]):
            by_volume = np.argsort(vols, kind="stable")
            keys, vols = keys[by_volume], vols[by_volume]
        sizes = np.bincount(vols.astype(np.int64) - first, minlength=count)
        starts = (np.cumsum(sizes) - sizes)[sizes > 0]
        ijk = np.unravel_index(keys, self._shape, order=self._order)
        boxes[sizes > 0, 0] = np.stack([np.minimum.reduceat(a, starts) for a in ijk], axis=1)
        boxes[sizes > 0, 1] = np.stack([np.maximum.reduceat(a, starts) for a in ijk], axis=1)
        return boxes

    def _finalize(self) -> None:
        """Merge pending entries into the compressed rows (one stable sort by voxel)."""
        if not self._pending:
            return
        vol_dtype = _volume_dtype(self._num_volumes)
        keys_parts: list[np.ndarray] = []
        vol_parts: list[np.ndarray] = []
        value_parts: list[np.ndarray] = []
        if self._volumes.size:
            keys_parts.append(np.repeat(self._row_keys(), np.diff(self._indptr)))
            vol_parts.append(self._volumes.astype(vol_dtype))
            value_parts.append(np.asarray(self._values))
        for keys, vols, values in self._pending:
            keys_parts.append(keys)
            vol_parts.append(
                vols.astype(vol_dtype)
                if isinstance(vols, np.ndarray)
                else np.full(keys.size, vols, vol_dtype)
            )
            value_parts.append(values)
        keys = _concat(keys_parts, np.int64)
        vols = _concat(vol_parts, vol_dtype)
        values = _concat_values(value_parts)
        # Volumes were appended in ascending order, so a stable sort by voxel keeps
        # each row's entries sorted by volume.
        if np.any(keys[1:] < keys[:-1]):
            by_voxel = np.argsort(keys, kind="stable")
            keys, vols, values = keys[by_voxel], vols[by_voxel], values[by_voxel]
        self._set_rows(keys, vols, values)
        self._pending = []

    def _set_rows(self, keys: np.ndarray, vols: np.ndarray, values: np.ndarray) -> None:
        """Install entries sorted by (grid key, volume) as the grid plus compressed rows."""
        assert self._shape is not None
        starts = np.flatnonzero(np.r_[True, keys[1:] != keys[:-1]]) if keys.size else keys[:0]
        if starts.size > np.iinfo(np.int32).max:
            raise ImageError(f"{starts.size} mapped voxels exceed the int32 row index")
        grid = np.full(self._shape, -1, dtype=np.int32, order=self._order)
        _flat(grid, self._order)[keys[starts]] = np.arange(starts.size, dtype=np.int32)
        self._grid = grid
        self._indptr = np.r_[starts, keys.size].astype(np.int64)
        self._volumes = vols
        self._values = values
        for array in (self._grid, self._indptr, self._volumes, self._values):
            array.flags.writeable = False

    def _row_keys(self) -> np.ndarray:
        """Grid key (flat index in memory order) of every row; rows follow that order."""
        assert self._grid is not None
        return np.flatnonzero(_flat(self._grid, self._order) >= 0)

    # ---------------------------------------------------------------- properties

    @property
    def num_volumes(self) -> int:
        """The number of volumes (maps) in the index."""
        return self._num_volumes

    @property
    def shape(self) -> tuple[int, int, int] | None:
        """The voxel grid shape, or None before the first image."""
        return self._shape

    @property
    def affine(self) -> np.ndarray | None:
        """The 4x4 voxel to world transform, or None before the first image."""
        return self._affine

    @property
    def source_dtype(self) -> np.dtype | None:
        """The dtype of the source images (promoted over all of them), None if unknown.

        Unknown after :meth:`load_siibra_v1`, whose files do not record it.
        """
        return self._source_dtype

    @property
    def dtype(self) -> np.dtype:
        """The dtype in which values are stored (see the module notes)."""
        self._finalize()
        return self._values.dtype

    @property
    def voxels(self) -> np.ndarray:
        """The ``int32`` grid of row indices, ``-1`` where nothing is mapped."""
        self._finalize()
        if self._grid is None:
            raise ImageError("this sparse index is empty: add an image first")
        return self._grid

    @property
    def indptr(self) -> np.ndarray:
        """Row ``r`` owns the entries ``indptr[r]:indptr[r + 1]``."""
        self._finalize()
        return self._indptr

    @property
    def volumes(self) -> np.ndarray:
        """The volume index of each entry."""
        self._finalize()
        return self._volumes

    @property
    def values(self) -> np.ndarray:
        """The value of each entry."""
        self._finalize()
        return self._values

    @property
    def bboxes(self) -> np.ndarray:
        """Inclusive voxel bounding boxes, shape ``(num_volumes, 2, 3)``: min, max corner.

        An empty volume has the box ``(0, 0, 0)..(-1, -1, -1)``.
        """
        return self._bboxes

    @property
    def num_mapped_voxels(self) -> int:
        """The number of voxels where at least one volume has a value (the rows)."""
        self._finalize()
        return int(self._indptr.size - 1)

    @property
    def num_entries(self) -> int:
        """The number of stored (voxel, volume, value) entries."""
        self._finalize()
        return int(self._values.size)

    @property
    def nbytes(self) -> int:
        """Bytes held by the stored arrays (grid, indptr, volumes, values, bboxes)."""
        self._finalize()
        arrays = (self._grid, self._indptr, self._volumes, self._values, self._bboxes)
        return int(sum(a.nbytes for a in arrays if a is not None))

    def max(self) -> int:
        """The largest row index in the grid (siibra's meaning): mapped voxels - 1.

        Returns ``-1`` when nothing is mapped.
        """
        return self.num_mapped_voxels - 1

    def __repr__(self) -> str:
        if self._shape is None:
            return "SparseIndex(empty)"
        shape = "x".join(map(str, self._shape))
        return (
            f"SparseIndex({self.num_volumes} volumes on a {shape} grid, "
            f"{self.num_mapped_voxels:,} mapped voxels, {self.num_entries:,} values "
            f"({self.dtype}), {self.nbytes / 1e6:.1f} MB)"
        )

    # ------------------------------------------------------------------- queries

    def _check_volume(self, volume: int) -> int:
        if isinstance(volume, bool) or not isinstance(volume, int | np.integer):
            raise NotFoundError(f"volume must be an integer index, got {volume!r}")
        if not 0 <= volume < self._num_volumes:
            raise NotFoundError(
                f"volume {volume} is not in this sparse index, which holds "
                f"{self._num_volumes} volumes (0..{self._num_volumes - 1})"
            )
        return int(volume)

    def _row_values(self, volume: int, dtype: DTypeLike) -> np.ndarray:
        """Value of ``volume`` per row, plus a trailing 0 that grid value -1 picks."""
        entries = np.flatnonzero(self._volumes == volume)
        rows = np.searchsorted(self._indptr, entries, side="right") - 1
        table = np.zeros(self._indptr.size, dtype=dtype)
        table[rows] = self._values[entries]
        return table

    def _box_slices(self, volume: int) -> tuple[slice, slice, slice]:
        low, high = self._bboxes[volume]
        return tuple(slice(int(a), int(b) + 1) for a, b in zip(low, high, strict=True))  # type: ignore[return-value]

    def fetch(self, volume: int, dtype: DTypeLike | None = None) -> np.ndarray:
        """Rebuild one volume as a dense array.

        Parameters
        ----------
        volume : int
            The volume index.
        dtype : dtype, optional
            The output dtype; by default the source images' dtype when known (so the
            result equals the source bit for bit, background as in the module notes),
            else the stored dtype.

        Returns
        -------
        numpy.ndarray
            Shape :attr:`shape`, zero where the volume has no value.

        Raises
        ------
        neuratlas.errors.NotFoundError
            If ``volume`` is not a volume index of this index.
        """
        volume = self._check_volume(volume)
        self._finalize()
        assert self._grid is not None and self._shape is not None
        if dtype is not None:
            out_dtype = np.dtype(dtype)
        elif self._source_dtype is not None:
            out_dtype = self._source_dtype
        else:
            out_dtype = self._values.dtype
        dense = np.zeros(self._shape, dtype=out_dtype, order=self._order)
        box = self._box_slices(volume)
        dense[box] = np.take(self._row_values(volume, out_dtype), self._grid[box])
        return dense

    def coords(self, volume: int) -> np.ndarray:
        """Voxel coordinates where ``volume`` has a value, as siibra returns them.

        Returns
        -------
        numpy.ndarray
            Integer array of shape ``(3, N)`` (rows x, y, z), in C (``np.nonzero``)
            order.
        """
        volume = self._check_volume(volume)
        self._finalize()
        assert self._grid is not None
        box = self._box_slices(volume)
        sub = self._grid[box]
        member = self._row_values(volume, bool)
        found = np.array(np.nonzero(np.take(member, sub)), dtype=np.intp)
        return found + np.array([b.start for b in box], dtype=np.intp)[:, None]

    def mapped_voxels(self, volume: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Coordinates and values of the voxels mapped by ``volume`` (siibra's meaning).

        Returns
        -------
        x, y, z : numpy.ndarray
            1D integer arrays, in the order of :meth:`coords`.
        v : numpy.ndarray
            The values there, in the stored dtype (siibra returns a list).
        """
        x, y, z = self.coords(volume)
        assert self._grid is not None
        values = self._row_values(volume, self._values.dtype)
        return x, y, z, values[self._grid[x, y, z]]

    def values_at(self, ijk: ArrayLike) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Every (point, volume, value) triple for many voxels at once.

        Parameters
        ----------
        ijk : array_like of int, shape (N, 3)
            Voxel coordinates. Points outside the grid are skipped without error.

        Returns
        -------
        point_index : numpy.ndarray of intp
            Row of ``ijk`` each triple belongs to; ascending.
        volume : numpy.ndarray of int
            The volume index, ascending within a point.
        value : numpy.ndarray
            The value, in the stored dtype.

        Raises
        ------
        neuratlas.errors.ImageError
            If ``ijk`` is not an integer array of shape (N, 3).
        """
        points = np.asarray(ijk)
        if points.ndim != 2 or points.shape[1] != 3 or points.dtype.kind not in "iu":
            raise ImageError(
                f"voxel coordinates must be an integer array of shape (N, 3), got "
                f"{points.dtype} with shape {points.shape}",
                hint="convert world coordinates to voxels first and round to int",
            )
        self._finalize()
        if self._grid is None or points.shape[0] == 0:
            return _empty_triples(self._volumes.dtype, self._values.dtype)
        shape = np.asarray(self._shape)
        inside = np.flatnonzero(np.all((points >= 0) & (points < shape), axis=1))
        where = points[inside]
        rows = self._grid[where[:, 0], where[:, 1], where[:, 2]]
        hit = rows >= 0
        inside, rows = inside[hit], rows[hit]
        starts = self._indptr[rows]
        counts = self._indptr[rows + 1] - starts
        total = int(counts.sum())
        offsets = np.repeat(starts - (np.cumsum(counts) - counts), counts)
        entries = offsets + np.arange(total, dtype=np.int64)
        return np.repeat(inside, counts), self._volumes[entries], self._values[entries]

    def max_label_map(self, threshold: float = 0.0) -> np.ndarray:
        """The maximum-probability labelled map.

        Each voxel gets ``1 + `` the index of the volume with the largest value
        there, provided that value is ``> threshold``; else 0 (background). Ties go
        to the lowest volume index.

        Parameters
        ----------
        threshold : float
            Values at or below it do not label a voxel.

        Returns
        -------
        numpy.ndarray of int32
            Shape :attr:`shape`.
        """
        self._finalize()
        if self._grid is None:
            raise ImageError("this sparse index is empty: add an image first")
        labels = np.zeros(self._indptr.size, dtype=np.int32)  # last item: background
        if self._values.size:
            starts = self._indptr[:-1]
            counts = np.diff(self._indptr)
            peak = np.maximum.reduceat(self._values, starts)
            is_peak = self._values == np.repeat(peak, counts)
            first = np.minimum.reduceat(
                np.where(is_peak, np.arange(self._values.size), self._values.size), starts
            )
            labels[:-1] = np.where(
                peak > np.float64(threshold), self._volumes[first].astype(np.int32) + 1, 0
            )
        return np.take(labels, self._grid)

    # ---------------------------------------------------------- our own formats

    def _require_data(self, action: str) -> None:
        self._finalize()
        if self._grid is None:
            raise ImageError(f"cannot {action} an empty sparse index: add an image first")

    def _header(self) -> dict[str, Any]:
        assert self._affine is not None and self._shape is not None
        return {
            "format": _FORMAT,
            "version": _VERSION,
            "shape": list(self._shape),
            "affine": self._affine.tolist(),
            "order": self._order,
            "num_volumes": self._num_volumes,
            "num_rows": self.num_mapped_voxels,
            "num_entries": self.num_entries,
            "source_dtype": None if self._source_dtype is None else self._source_dtype.str,
        }

    def _arrays(self) -> dict[str, np.ndarray]:
        assert self._grid is not None
        return {
            "voxels": self._grid,
            "indptr": self._indptr,
            "volumes": self._volumes,
            "values": self._values,
            "bboxes": self._bboxes,
        }

    def save(self, folder: str | Path) -> Path:
        """Write the index as ``.npy`` arrays plus ``header.json``, atomically.

        The folder is built under a temporary name and renamed into place, so a
        reader never sees half of it. Load it with :meth:`load` (memory-mapped).

        Parameters
        ----------
        folder : path-like
            The folder to create (replaced if it exists).

        Returns
        -------
        pathlib.Path
        """
        self._require_data("save")
        with atomic_dir(folder) as tmp:
            for name, array in self._arrays().items():
                np.save(tmp / f"{name}.npy", array, allow_pickle=False)
            (tmp / _HEADER).write_text(json.dumps(self._header(), indent=1))
        return Path(folder)

    @classmethod
    def load(cls, folder: str | Path, mmap: bool = True) -> SparseIndex:
        """Load an index written by :meth:`save`.

        Parameters
        ----------
        folder : path-like
            The folder.
        mmap : bool
            Memory-map the arrays read-only (fast, shared between processes) instead
            of reading them into memory.

        Raises
        ------
        neuratlas.errors.ImageError
            If a file is missing, truncated or inconsistent with the header.
        """
        folder = Path(folder)
        header = _read_header((folder / _HEADER).read_bytes, str(folder / _HEADER))
        arrays = {}
        for name in _ARRAYS:
            path = folder / f"{name}.npy"
            try:
                arrays[name] = np.load(path, mmap_mode="r" if mmap else None, allow_pickle=False)
            except (OSError, ValueError, EOFError) as exc:
                raise ImageError(
                    f"cannot read sparse index array {path}: {exc}",
                    hint="delete the folder so that the index is rebuilt",
                ) from exc
        return cls._from_parts(header, arrays, str(folder))

    def save_zip(self, path: str | Path) -> Path:
        """Write the index as one zip file (the :meth:`save` files, deflated), atomically.

        Parameters
        ----------
        path : path-like
            The zip file to write.
        """
        self._require_data("save")
        with (
            atomic_write(path) as handle,
            zipfile.ZipFile(
                handle, "w", zipfile.ZIP_DEFLATED, compresslevel=_GZIP_LEVEL
            ) as archive,
        ):
            archive.writestr(_HEADER, json.dumps(self._header(), indent=1))
            for name, array in self._arrays().items():
                with archive.open(f"{name}.npy", "w", force_zip64=True) as member:
                    np.save(member, array, allow_pickle=False)
        return Path(path)

    @classmethod
    def load_zip(cls, path: str | Path) -> SparseIndex:
        """Load an index written by :meth:`save_zip`.

        Raises
        ------
        neuratlas.errors.ImageError
            If the zip is missing, corrupt or lacks a member.
        """
        where = str(path)
        try:
            with zipfile.ZipFile(path) as archive:
                header = _read_header(lambda: archive.read(_HEADER), f"{where}:{_HEADER}")
                arrays = {}
                for name in _ARRAYS:
                    with archive.open(f"{name}.npy") as member:
                        arrays[name] = np.lib.format.read_array(member, allow_pickle=False)
        except ImageError:
            raise
        except (OSError, KeyError, ValueError, EOFError, zipfile.BadZipFile, zlib.error) as exc:
            raise ImageError(
                f"cannot read sparse index zip {where}: {exc}",
                hint="the file is corrupt or incomplete; write it again with save_zip",
            ) from exc
        return cls._from_parts(header, arrays, where)

    @classmethod
    def _from_parts(
        cls, header: dict[str, Any], arrays: dict[str, np.ndarray], where: str
    ) -> SparseIndex:
        """Check arrays against the header (cheap checks only: no full scan)."""
        try:
            shape = tuple(int(n) for n in header["shape"])
            affine = np.asarray(header["affine"], dtype=np.float64)
            order = header["order"]
            num_volumes, rows, entries = (
                int(header[k]) for k in ("num_volumes", "num_rows", "num_entries")
            )
            source = header["source_dtype"]
        except (KeyError, TypeError, ValueError) as exc:
            raise SpecError(f"sparse index header lacks or mangles {exc}", file=where) from exc
        expected = {
            "voxels": (shape, np.int32),
            "indptr": ((rows + 1,), np.int64),
            "volumes": ((entries,), _volume_dtype(num_volumes)),
            "values": ((entries,), None),
            "bboxes": ((num_volumes, 2, 3), np.int64),
        }
        for name, (want_shape, want_dtype) in expected.items():
            array = arrays[name]
            if array.shape != want_shape or (want_dtype and array.dtype != want_dtype):
                raise ImageError(
                    f"{where}: array {name!r} has shape {array.shape} and dtype "
                    f"{array.dtype}, expected {want_shape} {np.dtype(want_dtype or 'f4')}"
                )
        if affine.shape != (4, 4) or order not in ("C", "F"):
            raise SpecError("sparse index header has a bad affine or order", file=where)
        grid_flags = arrays["voxels"].flags
        if not (grid_flags.f_contiguous if order == "F" else grid_flags.c_contiguous):
            raise ImageError(f"{where}: the voxel grid is not stored in {order} order")
        if rows and (arrays["indptr"][0] != 0 or arrays["indptr"][-1] != entries):
            raise ImageError(f"{where}: indptr does not span the {entries} entries")
        index = cls()
        index._shape = shape  # type: ignore[assignment]
        index._affine = affine
        index._affine.flags.writeable = False
        index._order = order
        index._num_volumes = num_volumes
        index._source_dtype = None if source is None else np.dtype(source)
        index._grid = arrays["voxels"]
        index._indptr = arrays["indptr"]
        index._volumes = arrays["volumes"]
        index._values = arrays["values"]
        index._bboxes = arrays["bboxes"]
        return index

    # ------------------------------------------------------- siibra's v1 format

    def save_siibra_v1(self, folder: str | Path, base: str) -> dict[str, Path]:
        """Write siibra's three ``sparseindex_v1`` files, each atomically.

        See :func:`neuratlas.volumes.sparse_siibra.save_siibra_v1`.

        Parameters
        ----------
        folder : path-like
            Destination folder (created if needed).
        base : str
            File name prefix.

        Returns
        -------
        dict
            The written paths by part (``voxels``, ``probs``, ``bboxes``).
        """
        # imported here: sparse_siibra imports this module
        from neuratlas.volumes.sparse_siibra import save_siibra_v1

        return save_siibra_v1(self, folder, base)

    @classmethod
    def load_siibra_v1(
        cls, folder_or_prefix: str | Path, value_dtype: DTypeLike | None = None
    ) -> SparseIndex:
        """Read siibra's three ``sparseindex_v1`` files.

        See :func:`neuratlas.volumes.sparse_siibra.load_siibra_v1`.

        Parameters
        ----------
        folder_or_prefix : path-like
            The common prefix of the three files (``<folder>/<base>``), or a folder
            holding exactly one such set.
        value_dtype : dtype, optional
            The value dtype to store; by default the narrowest of ``float32`` and
            ``float64`` that holds every value of the text exactly.

        Raises
        ------
        neuratlas.errors.ImageError
            If a file is missing, truncated or corrupt, or the files disagree.
        """
        from neuratlas.volumes.sparse_siibra import load_siibra_v1

        return load_siibra_v1(folder_or_prefix, value_dtype)

    @classmethod
    def _from_entries(
        cls,
        shape: tuple[int, ...],
        affine: np.ndarray,
        order: Order,
        num_volumes: int,
        bboxes: np.ndarray,
        keys: np.ndarray,
        vols: np.ndarray,
        values: np.ndarray,
    ) -> SparseIndex:
        """An index from entries sorted by (grid key, volume), for file readers."""
        index = cls()
        index._shape = shape  # type: ignore[assignment]
        index._affine = affine
        index._affine.flags.writeable = False
        index._order = order
        index._num_volumes = num_volumes
        index._bboxes = bboxes
        index._set_rows(keys, vols, values)
        return index


# ---------------------------------------------------------------------- helpers


def _as_array(data: ArrayLike, ndim: int, what: str) -> np.ndarray:
    array = np.asanyarray(data)
    while array.ndim > ndim and array.shape[-1] == 1:
        array = array[..., 0]
    if array.ndim != ndim:
        raise ImageError(
            f"{what} must be {ndim}D, got shape {array.shape}",
            hint="pass 4D arrays to SparseIndex.from_4d and 3D arrays to add_img",
        )
    if array.dtype.kind not in "biuf":
        raise ImageError(f"{what} must hold real numbers, got dtype {array.dtype}")
    if array.size == 0:
        raise ImageError(f"{what} has no voxels (shape {array.shape})")
    return array


def _as_affine(affine: ArrayLike, what: str) -> np.ndarray:
    try:
        matrix = np.array(affine, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise ImageError(f"affine of {what} is not numeric: {exc}") from exc
    if matrix.shape != (4, 4) or not np.all(np.isfinite(matrix)):
        raise ImageError(f"affine of {what} must be a finite 4x4 matrix, got shape {matrix.shape}")
    return matrix


def _volume_dtype(num_volumes: int) -> np.dtype:
    return np.dtype(np.int16 if num_volumes <= np.iinfo(np.int16).max else np.int32)


def _compact(values: np.ndarray) -> np.ndarray:
    """Values as float32 when that is exact, else unchanged (see the module notes)."""
    if values.dtype == np.float32:
        return values
    as32 = values.astype(np.float32)
    if values.dtype in _FLOAT32_EXACT or np.array_equal(as32.astype(values.dtype), values):
        return as32
    return values


def _concat(parts: list[np.ndarray], dtype: DTypeLike) -> np.ndarray:
    return np.concatenate(parts).astype(dtype, copy=False) if parts else np.zeros(0, dtype)


def _concat_values(parts: list[np.ndarray]) -> np.ndarray:
    """Concatenate value arrays in a dtype that holds every one of them exactly."""
    if not parts:
        return np.zeros(0, np.float32)
    common = np.result_type(*parts)
    for part in parts:
        if part.dtype != common and not np.array_equal(
            part.astype(common).astype(part.dtype), part
        ):
            raise ImageError(
                f"cannot store {part.dtype} values together with {common} values "
                "without losing precision",
                hint="convert the images to one dtype before building the index",
            )
    return np.concatenate(parts).astype(common, copy=False)


def _flat(array: np.ndarray, order: Order) -> np.ndarray:
    """A 1D view of a contiguous array in its memory order (never a copy)."""
    flat = array.reshape(-1, order=order)
    if flat.size and not np.shares_memory(flat, array):
        raise AssertionError("grid is not contiguous in its recorded order")
    return flat


def _empty_triples(
    vol_dtype: np.dtype, value_dtype: np.dtype
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    return np.zeros(0, np.intp), np.zeros(0, vol_dtype), np.zeros(0, value_dtype)


def _read_header(read: Callable[[], bytes], where: str) -> dict[str, Any]:
    try:
        header = json.loads(read())
    except FileNotFoundError as exc:
        raise ImageError(f"sparse index header {where} is missing") from exc
    except (OSError, KeyError, ValueError) as exc:
        raise SpecError(f"unreadable sparse index header: {exc}", file=where) from exc
    if not isinstance(header, dict) or header.get("format") != _FORMAT:
        raise SpecError(f"not a {_FORMAT} header", file=where)
    if header.get("version") != _VERSION:
        raise SpecError(
            f"sparse index format version {header.get('version')!r} is not supported "
            f"(expected {_VERSION})",
            file=where,
            hint="rebuild the index with this neuratlas version",
        )
    return header


# ------------------------------------------------------------------- cache policy


def cached_index(key: str, build: Callable[[], SparseIndex], *, mmap: bool = True) -> SparseIndex:
    """Load the index cached under ``key``, building and caching it if needed.

    A damaged cache entry (missing or inconsistent files) is rebuilt; every new
    entry keeps the cache under its size cap, least recently used out first.

    Parameters
    ----------
    key : str
        Cache key (e.g. from :func:`neuratlas.retrieval.cache.cache_key`).
    build : callable
        Returns the index when the cache has none (or a corrupt one).
    mmap : bool
        Memory-map the cached arrays.
    """
    folder = cache_path("sparse", key)
    if (folder / _HEADER).is_file():
        try:
            index = SparseIndex.load(folder, mmap=mmap)
        except (ImageError, SpecError):
            pass  # a damaged entry is rebuilt below
        else:
            touch(folder / _HEADER)
            return index
    return store_index(key, build(), mmap=mmap)


def store_index(key: str, index: SparseIndex, *, mmap: bool = True) -> SparseIndex:
    """Put ``index`` in the cache under ``key`` and return the cached copy."""
    folder = cache_path("sparse", key)
    index.save(folder)
    evict()  # keep the cache under its cap, least recently used out first
    return SparseIndex.load(folder, mmap=mmap)
