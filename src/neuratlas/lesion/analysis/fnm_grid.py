"""A lesion on a connectome's grid: the connectome voxels (columns) it covers.

A connectome stores the time series of the V voxels of its brain mask, in the
order of ``mask_indices``. A lesion on the same grid covers the columns of its
voxels inside the mask. A lesion on another grid of the same space (a 1 mm mask,
a 2 mm connectome) is resampled to the connectome's grid by **nearest
neighbour**: a connectome voxel belongs to the lesion when the lesion voxel
nearest to its centre does. That is lacuna's choice and the rule by which
:mod:`neuratlas.lesion.parcels` puts atlases on lesion grids, so that every
analysis sees the same voxels; on the standard MNI grids the 2 mm voxel centres
are 1 mm voxel centres, so no rounding tie arises. (A fraction rule, "more than
half of the voxel's volume", would only change voxels on the lesion's border,
and the seed is a mean over all of them.)

Only the V mask voxels are looked up, not the whole grid: for each grid of lesion
masks the lookup table (connectome column -> lesion voxel) is computed once.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

__all__ = ["GridLookup"]

# voxel coordinates are rounded to this many decimals before taking the nearest
# voxel, so that a centre exactly between two voxels always goes the same way
_DECIMALS = 6


class GridLookup:
    """The connectome columns of lesion masks, on the connectome's grid or any other.

    Parameters
    ----------
    mask_indices : ndarray, shape (3, V)
        The voxel indices of the connectome's columns.
    mask_affine : ndarray, shape (4, 4)
        Voxel to world (mm) of the connectome's grid.
    mask_shape : sequence of 3 int
        The connectome's grid.
    """

    def __init__(
        self, mask_indices: np.ndarray, mask_affine: np.ndarray, mask_shape: Sequence[int]
    ) -> None:
        self._indices = np.asarray(mask_indices, dtype=np.int64)
        self._affine = np.asarray(mask_affine, dtype=np.float64)
        self._shape = tuple(int(n) for n in mask_shape)
        self._tables: dict[tuple[tuple[int, ...], bytes], np.ndarray] = {}

    def same_grid(self, shape: Sequence[int], affine: np.ndarray) -> bool:
        """Whether a mask of ``shape`` and ``affine`` lies on the connectome's grid."""
        return tuple(shape) == self._shape and np.allclose(affine, self._affine, atol=1e-5)

    def columns(self, mask: np.ndarray, affine: np.ndarray) -> np.ndarray:
        """The columns whose voxels the lesion covers, ascending.

        Parameters
        ----------
        mask : ndarray of bool, 3D
            The lesion, on any grid of the connectome's space.
        affine : ndarray, shape (4, 4)
            The lesion's voxel to world (mm).

        Returns
        -------
        ndarray of int64
            Empty when no connectome voxel lies in the lesion.
        """
        source = self._table(mask.shape, np.asarray(affine, dtype=np.float64))
        inside = source >= 0
        hit = np.zeros(source.shape, dtype=bool)
        hit[inside] = mask.ravel()[source[inside]]
        return np.flatnonzero(hit).astype(np.int64)

    def _table(self, shape: tuple[int, ...], affine: np.ndarray) -> np.ndarray:
        """Connectome column -> flat index of the nearest voxel of the lesion grid, or -1."""
        key = (tuple(shape), affine.tobytes())
        table = self._tables.get(key)
        if table is None:
            table = self._nearest(shape, affine)
            table.setflags(write=False)
            self._tables[key] = table
        return table

    def _nearest(self, shape: tuple[int, ...], affine: np.ndarray) -> np.ndarray:
        if self.same_grid(shape, affine):
            return np.ravel_multi_index(tuple(self._indices), shape).astype(np.int64)
        to_lesion = np.linalg.inv(affine) @ self._affine  # connectome voxel -> lesion voxel
        coords = to_lesion[:3, :3] @ self._indices + to_lesion[:3, 3:4]
        coords = np.round(coords, _DECIMALS)
        size = np.asarray(shape, dtype=np.float64)[:, None]
        # a voxel's field of view ends half a voxel beyond its centre
        inside = np.all((coords >= -0.5) & (coords <= size - 0.5), axis=0)
        nearest = np.floor(coords + 0.5).astype(np.int64)
        np.clip(nearest, 0, np.asarray(shape)[:, None] - 1, out=nearest)
        table = np.full(self._indices.shape[1], -1, dtype=np.int64)
        table[inside] = np.ravel_multi_index(tuple(nearest[:, inside]), shape)
        return table
