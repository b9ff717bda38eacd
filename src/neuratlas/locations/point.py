"""Point: one physical location (mm) in a reference space, optionally uncertain."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

from neuratlas.errors import ArgumentError
from neuratlas.locations.location import resolve_space, same_space
from neuratlas.volumes.grid import voxel_to_world, world_to_voxel

if TYPE_CHECKING:
    from neuratlas.core.space import Space
    from neuratlas.locations.boundingbox import BoundingBox


class Point:
    """A point in physical coordinates (mm) of a reference space.

    Parameters
    ----------
    coords : sequence of 3 floats, or a string "x, y, z"
        Physical coordinates in mm.
    space : str or Space, optional
        The reference space (name, key or @id).
    sigma_mm : float
        Location uncertainty: the standard deviation of an isotropic Gaussian;
        0 means an exact point.
    """

    def __init__(
        self,
        coords: Sequence[float] | str,
        space: str | Space | None = None,
        sigma_mm: float = 0.0,
    ) -> None:
        self.coordinate = _parse_coords(coords)
        self.space = resolve_space(space)
        if not np.isfinite(sigma_mm) or sigma_mm < 0:
            raise ArgumentError(f"sigma_mm must be a finite number >= 0, got {sigma_mm}")
        self.sigma_mm = float(sigma_mm)

    def __iter__(self):
        return iter(self.coordinate.tolist())

    def __array__(self, dtype=None, copy=None) -> np.ndarray:
        return self.coordinate.astype(dtype or float)

    @property
    def _identity(self) -> tuple:
        # equality and hash share one key, so equal points always hash alike: the
        # coordinates on a 1e-6 mm grid (+ 0.0 turns -0.0 into 0.0), and the space
        rounded = np.round(self.coordinate, 6) + 0.0
        return (tuple(rounded.tolist()), getattr(self.space, "id", None))

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Point):
            return NotImplemented
        return self._identity == other._identity

    def __hash__(self) -> int:
        return hash(self._identity)

    def __repr__(self) -> str:
        x, y, z = self.coordinate
        space = self.space.short_name if self.space is not None else "no space"
        sigma = f", sigma {self.sigma_mm:g} mm" if self.sigma_mm else ""
        return f"<Point ({x:.2f}, {y:.2f}, {z:.2f}) mm in {space}{sigma}>"

    def voxel(self, affine: np.ndarray) -> np.ndarray:
        """The (integer, nearest) voxel index of the point on a grid with ``affine``."""
        return np.rint(self.voxel_coordinate(affine)).astype(int)

    def voxel_coordinate(self, affine: np.ndarray) -> np.ndarray:
        """The continuous voxel coordinate of the point on a grid with ``affine``."""
        return world_to_voxel(affine, self.coordinate)

    @classmethod
    def from_voxel(
        cls, ijk: Sequence[float], affine: np.ndarray, space: str | Space | None = None
    ) -> Point:
        """The point at voxel ``ijk`` of a grid with ``affine``."""
        return cls(voxel_to_world(affine, ijk), space)

    def intersects(self, other: BoundingBox) -> bool:
        """True if the point lies inside the bounding box ``other``."""
        same_space(self.space, other.space, "intersect a point and a box")
        return other.contains(self)

    def __add__(self, other: Point | Sequence[float]) -> Point:
        if isinstance(other, Point):
            same_space(self.space, other.space, "add points")
            other = other.coordinate
        return Point(self.coordinate + np.asarray(other, dtype=float), self.space, self.sigma_mm)

    def __sub__(self, other: Point | Sequence[float]) -> Point:
        if isinstance(other, Point):
            same_space(self.space, other.space, "subtract points")
            other = other.coordinate
        return Point(self.coordinate - np.asarray(other, dtype=float), self.space, self.sigma_mm)

    def distance(self, other: Point) -> float:
        """Euclidean distance in mm."""
        same_space(self.space, other.space, "measure a distance")
        return float(np.linalg.norm(self.coordinate - other.coordinate))


def _parse_coords(coords: Sequence[float] | str | np.ndarray) -> np.ndarray:
    if isinstance(coords, str):
        parts = coords.replace("mm", "").replace(",", " ").split()
        try:
            coords = [float(p) for p in parts]
        except ValueError:
            raise ArgumentError(
                f"cannot read coordinates from {coords!r}",
                hint='write them as "x, y, z" in mm, e.g. "-40, 10, 35"',
            ) from None
    array = np.asarray(coords, dtype=float).reshape(-1)
    if array.shape != (3,):
        raise ArgumentError(f"a point needs 3 coordinates, got {array.size}")
    if not np.all(np.isfinite(array)):
        raise ArgumentError(f"point coordinates must be finite, got {array.tolist()}")
    return array
