"""Voxel grids: world (mm) to voxel coordinates and back, and the volume of a voxel.

The one place where these conversions are written, so that every caller (points,
boxes, assignment, spatial properties) agrees to the last bit.
"""

from __future__ import annotations

import numpy as np
from nibabel.affines import apply_affine
from numpy.typing import ArrayLike


def voxel_to_world(affine: ArrayLike, ijk: ArrayLike) -> np.ndarray:
    """Physical coordinates (mm) of voxel coordinates ``ijk`` (shape ``(..., 3)``)."""
    return apply_affine(np.asarray(affine, dtype=float), np.asarray(ijk, dtype=float))


def world_to_voxel(affine: ArrayLike, xyz: ArrayLike) -> np.ndarray:
    """Continuous voxel coordinates of physical coordinates ``xyz`` (shape ``(..., 3)``)."""
    inverse = np.linalg.inv(np.asarray(affine, dtype=float))
    return apply_affine(inverse, np.asarray(xyz, dtype=float))


def nearest_voxel(affine: ArrayLike, xyz: ArrayLike) -> np.ndarray:
    """The nearest voxel (``int64``, rounded half to even) of physical coordinates ``xyz``."""
    return np.rint(world_to_voxel(affine, xyz)).astype(np.int64)


def voxel_sizes(affine: ArrayLike) -> np.ndarray:
    """The edge lengths (mm) of a voxel along the three grid axes."""
    return np.sqrt((np.asarray(affine, dtype=float)[:3, :3] ** 2).sum(0))


def voxel_volume_mm3(affine: ArrayLike) -> float:
    """The volume (mm³) of one voxel of a grid with this affine."""
    # rounded: 2 mm voxels are 8 mm³, not 7.999999999999998
    return round(float(abs(np.linalg.det(np.asarray(affine, dtype=float)[:3, :3]))), 9)
