"""The sparse index data structure: many 3D maps on one voxel grid, in flat arrays.

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
    volumes, see :func:`volume_dtype`) and its value.
``bboxes``
    ``(num_volumes, 2, 3)`` inclusive voxel bounding boxes.

Rows are numbered in the memory order of the grid (:attr:`SparseIndex.order`),
entries of a row sort by volume, so that every query is a handful of vectorised
NumPy operations.

Rules (shared with siibra)
    Only values ``> 0`` are mapped. Zero, negative values and NaN are background;
    ``+inf`` is kept. A volume without positive values is kept (later volume
    indices must not shift), with the empty bounding box ``(0, 0, 0)..(-1, -1, -1)``.

Value types
    Values are stored as ``float32`` when every mapped value survives the round
    trip through ``float32`` unchanged (always true for ``uint8``, ``int16``,
    ``float16``, ``float32``... sources); otherwise the source dtype is kept
    (e.g. ``float64`` maps with full precision, ``int32`` beyond 2**24), see
    :func:`compact_values`. The dtype of the source images is remembered, and
    :meth:`SparseIndex.fetch` returns it, so a fetched volume equals the source bit
    for bit (with background as above).

This module knows no file: the formats live in :mod:`~neuratlas.volumes.sparse.folder`,
:mod:`~neuratlas.volumes.sparse.zipped` and :mod:`~neuratlas.volumes.sparse.siibra_v1`,
which rebuild an index with :meth:`SparseIndex.from_arrays` or
:meth:`SparseIndex.from_entries`.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence

import numpy as np
from numpy.typing import ArrayLike, DTypeLike

from neuratlas.errors import ArgumentError, ArgumentTypeError, ImageError, NotFoundError
from neuratlas.volumes.sparse.arrays import (
    Order,
    as_affine,
    as_real_array,
    compact_values,
    concat_as,
    concat_values,
    empty_triples,
    flat_view,
    read_only,
    volume_dtype,
)

__all__ = ["SparseIndex", "require_grid"]

# Bound the temporary "> 0" mask of a 4D build to about 64 MB.
_CHUNK_ELEMENTS = 1 << 26
# Affines of one grid may differ by float32 rounding (NIfTI headers), never by more.
_AFFINE_ATOL = 1e-5
_EMPTY_BBOX = np.array([[0, 0, 0], [-1, -1, -1]], dtype=np.int64)


class SparseIndex:
    """Many 3D maps on one voxel grid, stored as a voxel grid plus compressed rows.

    ``SparseIndex()`` is empty; build one with :meth:`from_4d` (vectorised, from a
    4D array), :meth:`from_volumes` or repeated :meth:`add_img` (siibra's
    interface; one call = the next volume). File readers rebuild a finished index
    with :meth:`from_arrays` or :meth:`from_entries` (see
    :func:`neuratlas.volumes.sparse.load_folder`, ``load_zip`` and
    ``load_siibra_v1``). Images added after the index was used are merged on the
    next query.

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

        Returns
        -------
        SparseIndex
        """
        index = cls()
        for volume in volumes:
            index.add_img(volume, affine)
        index._finalize()
        return index

    @classmethod
    def from_arrays(
        cls,
        voxels: ArrayLike,
        indptr: ArrayLike,
        volumes: ArrayLike,
        values: ArrayLike,
        bboxes: ArrayLike,
        affine: ArrayLike,
        *,
        source_dtype: DTypeLike | None = None,
    ) -> SparseIndex:
        """A finished index from its stored arrays (as :attr:`voxels`... return them).

        The arrays are used as they are, never copied (memory-mapped arrays stay
        memory-mapped), and the index sees them read-only. Only cheap checks are
        made (shapes, dtypes, layout, the ends of ``indptr``): no full scan, so that
        a cached index loads in milliseconds.

        Parameters
        ----------
        voxels : array_like of int32, shape (X, Y, Z)
            Row of each voxel, ``-1`` where nothing is mapped; C- or
            Fortran-contiguous, rows numbered in that memory order.
        indptr : array_like of int64, shape (rows + 1,)
            Row ``r`` owns the entries ``indptr[r]:indptr[r + 1]``.
        volumes : array_like, shape (entries,)
            Volume index of each entry, of dtype :func:`volume_dtype` ``(V)``.
        values : array_like of real numbers, shape (entries,)
            Value of each entry.
        bboxes : array_like of int64, shape (V, 2, 3)
            Inclusive voxel bounding box of each volume; gives the number of volumes.
        affine : array_like, shape (4, 4)
            Voxel to world transform.
        source_dtype : dtype, optional
            The dtype of the source images (what :meth:`fetch` returns), if known.

        Returns
        -------
        SparseIndex

        Raises
        ------
        neuratlas.errors.ImageError
            If an array has the wrong shape, dtype or layout, or they disagree.
        """
        grid = np.asanyarray(voxels)  # asanyarray: an np.memmap stays one
        if grid.ndim != 3 or grid.dtype != np.int32 or grid.size == 0:
            raise ImageError(
                f"voxels must be a 3D int32 grid, got {grid.dtype} with shape {grid.shape}",
                hint="pass the voxels array of a sparse index",
            )
        if not (grid.flags.c_contiguous or grid.flags.f_contiguous):
            raise ImageError(
                "the voxel grid is neither C- nor Fortran-contiguous",
                hint="pass np.ascontiguousarray(voxels), whose rows follow C order",
            )
        boxes = np.asanyarray(bboxes)
        if boxes.ndim != 3 or boxes.shape[1:] != (2, 3) or boxes.dtype != np.int64:
            raise ImageError(
                f"bboxes must be an int64 array of shape (V, 2, 3), got {boxes.dtype} "
                f"with shape {boxes.shape}",
                hint="pass one (min corner, max corner) pair per volume",
            )
        num_volumes = boxes.shape[0]
        vols, vals, starts = (np.asanyarray(a) for a in (volumes, values, indptr))
        want = volume_dtype(num_volumes)
        if vols.ndim != 1 or vols.dtype != want:
            raise ImageError(
                f"volumes must be a 1D {want} array for {num_volumes} volumes, got "
                f"{vols.dtype} with shape {vols.shape}",
                hint=f"convert it with volumes.astype(np.{want})",
            )
        if vals.shape != vols.shape or vals.dtype.kind not in "biuf":
            raise ImageError(
                f"values must be real numbers, one per entry ({vols.size}), got "
                f"{vals.dtype} with shape {vals.shape}",
                hint="pass one value per item of volumes",
            )
        if (
            starts.ndim != 1
            or starts.dtype != np.int64
            or starts.size == 0
            or starts[0] != 0
            or starts[-1] != vals.size
        ):
            raise ImageError(
                f"indptr must be an int64 array from 0 to the {vals.size} entries, got "
                f"{starts.dtype} with shape {starts.shape}",
                hint="pass the indptr array of the same sparse index",
            )
        fortran = grid.flags.f_contiguous and not grid.flags.c_contiguous
        index = cls()
        index._start_grid(grid.shape, affine, "F" if fortran else "C", "the sparse index")
        index._num_volumes = num_volumes
        index._source_dtype = None if source_dtype is None else np.dtype(source_dtype)
        index._grid = read_only(grid)
        index._indptr = read_only(starts)
        index._volumes = read_only(vols)
        index._values = read_only(vals)
        index._bboxes = read_only(boxes)
        return index

    @classmethod
    def from_entries(
        cls,
        keys: ArrayLike,
        volumes: ArrayLike,
        values: ArrayLike,
        *,
        shape: Sequence[int],
        affine: ArrayLike,
        bboxes: ArrayLike,
        order: Order = "C",
        source_dtype: DTypeLike | None = None,
    ) -> SparseIndex:
        """A finished index from its entries sorted by (grid key, volume), for file readers.

        Parameters
        ----------
        keys : array_like of int, shape (entries,)
            Flat position of each entry's voxel in the grid, in memory order ``order``.
        volumes : array_like of int, shape (entries,)
            Volume index of each entry.
        values : array_like of real numbers, shape (entries,)
            Value of each entry, stored as given (see :func:`compact_values`).
        shape : sequence of 3 int
            The grid shape.
        affine : array_like, shape (4, 4)
            Voxel to world transform.
        bboxes : array_like of int, shape (V, 2, 3)
            Inclusive voxel bounding box of each volume; gives the number of volumes.
        order : {"C", "F"}
            Memory order of the grid, in which ``keys`` count and rows are numbered.
        source_dtype : dtype, optional
            The dtype of the source images, if known.

        Returns
        -------
        SparseIndex

        Raises
        ------
        neuratlas.errors.ImageError
            If the arrays disagree in length, are not sorted by (key, volume) without
            repeats, or point outside the grid or the volumes.
        neuratlas.errors.ArgumentError
            If ``order`` is neither ``"C"`` nor ``"F"``.
        """
        keys, vols, vals = (np.asarray(a) for a in (keys, volumes, values))
        boxes = np.asarray(bboxes, dtype=np.int64)
        grid_shape = tuple(int(n) for n in shape)
        if len(grid_shape) != 3 or min(grid_shape) < 1 or boxes.shape[1:] != (2, 3):
            raise ImageError(
                f"a sparse index needs a 3D grid shape and (V, 2, 3) bounding boxes, got "
                f"shape {grid_shape} and bboxes of shape {boxes.shape}",
                hint="pass the grid's shape and one (min, max) corner pair per volume",
            )
        if not (keys.ndim == vols.ndim == vals.ndim == 1 and keys.size == vols.size == vals.size):
            raise ImageError(
                f"keys, volumes and values must be 1D and of one length, got shapes "
                f"{keys.shape}, {vols.shape} and {vals.shape}",
                hint="pass one key, volume and value per entry",
            )
        if (
            keys.dtype.kind not in "iu"
            or vols.dtype.kind not in "iu"
            or vals.dtype.kind not in "biuf"
        ):
            raise ImageError(
                f"keys and volumes must be integers and values real numbers, got "
                f"{keys.dtype}, {vols.dtype} and {vals.dtype}",
                hint="convert the arrays before building the index",
            )
        if order not in ("C", "F"):
            raise ArgumentError(
                f"order must be 'C' or 'F', got {order!r}",
                hint="pass the memory order in which the keys count voxels",
            )
        # signed, so that differences of unsorted keys come out negative, not wrapped
        keys, vols = keys.astype(np.int64, copy=False), vols.astype(np.int64, copy=False)
        step = np.diff(keys)
        if np.any((step < 0) | ((step == 0) & (np.diff(vols) <= 0))):
            raise ImageError(
                "entries are not sorted by (grid key, volume), or repeat a (key, volume) pair",
                hint="sort them with np.lexsort((volumes, keys)) and drop repeats",
            )
        num_volumes = boxes.shape[0]
        # sorted keys: the first and last bound them all
        if keys.size and (
            keys[0] < 0
            or keys[-1] >= math.prod(grid_shape)
            or vols.min() < 0
            or vols.max() >= num_volumes
        ):
            raise ImageError(
                f"entries point outside the {grid_shape} grid or the {num_volumes} volumes",
                hint="keys count voxels in the grid's memory order; volumes from 0",
            )
        index = cls()
        index._start_grid(grid_shape, affine, order, "the sparse index")
        index._num_volumes = num_volumes
        index._source_dtype = None if source_dtype is None else np.dtype(source_dtype)
        index._bboxes = read_only(boxes)
        index._set_rows(keys, vols.astype(volume_dtype(num_volumes)), vals.view())
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
        data = as_real_array(imgdata, ndim=3, what=f"image for volume {self._num_volumes}")
        self._claim_grid(data.shape, affine, data, what=f"volume {self._num_volumes}")
        flat = np.ravel(data, order=self._order)
        keys = np.flatnonzero(flat > 0)
        self._pending.append((keys, self._num_volumes, compact_values(flat[keys])))
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

        Raises
        ------
        neuratlas.errors.ImageError
            If the array is not 4D, not real-valued, has no voxels, or lies on
            another grid than the images before it.
        """
        array = as_real_array(data, ndim=4, what="4D image")
        shape3 = array.shape[:3]
        self._claim_grid(shape3, affine, array, what="4D image")
        nvox = math.prod(shape3)
        count = array.shape[3]
        first = self._num_volumes
        vol_dtype = volume_dtype(first + count)
        keys_parts, vol_parts, value_parts = [], [], []
        if array.flags.c_contiguous and not array.flags.f_contiguous:
            # Memory order x, y, z, v: slabs along x come out sorted by voxel already.
            step = max(1, _CHUNK_ELEMENTS // (nvox // shape3[0] * count))
            for start in range(0, shape3[0], step):
                flat = array[start : start + step].reshape(-1)
                hits = np.flatnonzero(flat > 0)
                keys_parts.append(hits // count + start * (nvox // shape3[0]))
                vol_parts.append((hits % count + first).astype(vol_dtype))
                value_parts.append(compact_values(flat[hits]))
            natural: Order = "C"
        else:
            # Memory order v slowest (nibabel's Fortran arrays): chunk over volumes.
            step = max(1, _CHUNK_ELEMENTS // nvox)
            for start in range(0, count, step):
                flat = np.ravel(array[..., start : start + step], order="F")
                hits = np.flatnonzero(flat > 0)
                keys_parts.append(hits % nvox)
                vol_parts.append((hits // nvox + first + start).astype(vol_dtype))
                value_parts.append(compact_values(flat[hits]))
            natural = "F"
        keys = concat_as(keys_parts, np.int64)
        vols = concat_as(vol_parts, vol_dtype)
        values = concat_values(value_parts)
        if natural != self._order:
            keys = np.ravel_multi_index(
                np.unravel_index(keys, shape3, order=natural), shape3, order=self._order
            )
        self._bboxes = np.concatenate([self._bboxes, self._bboxes_of(keys, vols, first, count)])
        self._pending.append((keys, vols, values))
        self._note_source(array.dtype)
        self._num_volumes += count

    def _start_grid(
        self, shape: tuple[int, ...], affine: ArrayLike, order: Order, what: str
    ) -> None:
        """Fix the grid (shape, affine, memory order) of an index that has none yet."""
        self._shape = (int(shape[0]), int(shape[1]), int(shape[2]))
        self._affine = as_affine(affine, what)
        self._affine.flags.writeable = False
        self._order = order

    def _claim_grid(
        self, shape: tuple[int, ...], affine: ArrayLike, data: np.ndarray, what: str
    ) -> None:
        if self._shape is None:
            fortran = data.flags.f_contiguous and not data.flags.c_contiguous
            self._start_grid(shape, affine, "F" if fortran else "C", what)
            return
        matrix = as_affine(affine, what)
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
        vol_dtype = volume_dtype(self._num_volumes)
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
        keys = concat_as(keys_parts, np.int64)
        vols = concat_as(vol_parts, vol_dtype)
        values = concat_values(value_parts)
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
            raise ImageError(
                f"{starts.size} mapped voxels exceed the int32 row index",
                hint="split the maps into several indexes on smaller grids",
            )
        grid = np.full(self._shape, -1, dtype=np.int32, order=self._order)
        flat_view(grid, self._order)[keys[starts]] = np.arange(starts.size, dtype=np.int32)
        self._grid = grid
        self._indptr = np.r_[starts, keys.size].astype(np.int64)
        self._volumes = vols
        self._values = values
        for array in (self._grid, self._indptr, self._volumes, self._values):
            array.flags.writeable = False

    def _row_keys(self) -> np.ndarray:
        """Grid key (flat index in memory order) of every row; rows follow that order."""
        assert self._grid is not None
        return np.flatnonzero(flat_view(self._grid, self._order) >= 0)

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
    def order(self) -> Order:
        """Memory order of the grid (``"C"`` or ``"F"``), in which rows are numbered.

        The order of the first image added (nibabel's arrays are Fortran-ordered),
        so that building never copies the sources into another layout.
        """
        return self._order

    @property
    def source_dtype(self) -> np.dtype | None:
        """The dtype of the source images (promoted over all of them), None if unknown.

        Unknown after :func:`~neuratlas.volumes.sparse.siibra_v1.load_siibra_v1`,
        whose files do not record it.
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
        # bool is an int subclass, but True as a volume index is surely a mistake
        if isinstance(volume, bool) or not isinstance(volume, int | np.integer):
            raise ArgumentTypeError(
                f"volume must be an integer index, got {volume!r} ({type(volume).__name__})",
                hint="pass the volume's position in the index as an int, e.g. int(volume)",
            )
        if not 0 <= volume < self._num_volumes:
            raise NotFoundError(
                f"volume {volume} is not in this sparse index, which holds "
                f"{self._num_volumes} volumes (0..{self._num_volumes - 1})",
                hint="add an image first" if self._num_volumes == 0 else None,
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
        neuratlas.errors.ArgumentTypeError
            If ``volume`` is not an integer.
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

        Parameters
        ----------
        volume : int
            The volume index.

        Returns
        -------
        numpy.ndarray
            Integer array of shape ``(3, N)`` (rows x, y, z), in C (``np.nonzero``)
            order.

        Raises
        ------
        neuratlas.errors.ArgumentTypeError
            If ``volume`` is not an integer.
        neuratlas.errors.NotFoundError
            If ``volume`` is not a volume index of this index.
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

        Parameters
        ----------
        volume : int
            The volume index.

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
            return empty_triples(self._volumes.dtype, self._values.dtype)
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

        Raises
        ------
        neuratlas.errors.ImageError
            If the index is empty (no image added).
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


# ------------------------------------------------------------- helpers


def require_grid(index: SparseIndex, action: str) -> None:
    """Refuse to ``action`` an index that holds no image yet: it has no grid.

    Parameters
    ----------
    index : SparseIndex
        The index.
    action : str
        What the caller wanted to do (``"save"``), for the message.

    Raises
    ------
    neuratlas.errors.ImageError
        If no image was added to ``index``.
    """
    if index.shape is None:
        raise ImageError(f"cannot {action} an empty sparse index: add an image first")
