"""PointCloud: many points in one space, handled as one (N, 3) array."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING

import numpy as np

from neuratlas.errors import ArgumentError
from neuratlas.locations.boundingbox import BoundingBox
from neuratlas.locations.location import resolve_space, same_space
from neuratlas.locations.point import Point, as_coordinates, as_float_array
from neuratlas.volumes.grid import nearest_voxel

if TYPE_CHECKING:
    from neuratlas.core.space import Space


def _holds_points(coords: object) -> bool:
    """True for a non-empty sequence of Points (arrays and numbers hold none)."""
    if isinstance(coords, np.ndarray | str) or not hasattr(coords, "__len__"):
        return False
    return len(coords) > 0 and all(isinstance(c, Point) for c in coords)  # type: ignore[arg-type]


class PointCloud:
    """Points in physical coordinates (mm) of one space.

    Parameters
    ----------
    coords : array-like, shape (N, 3), or a sequence of Points
    space : str or Space, optional
        Required unless ``coords`` are Points that carry one.
    sigma_mm : float or array-like of N floats
        Location uncertainty per point.

    Raises
    ------
    ArgumentError
        The coordinates are not an (N, 3) array of finite numbers, or
        ``sigma_mm`` is not one finite number >= 0 (or one per point).
    ArgumentTypeError
        The coordinates or ``sigma_mm`` hold values of a type that is no number.
    SpaceMismatchError
        Points of different spaces, or points in another space than ``space``.
    """

    def __init__(
        self,
        coords: np.ndarray | Sequence[Sequence[float]] | Sequence[Point],
        space: str | Space | None = None,
        sigma_mm: float | Sequence[float] = 0.0,
    ) -> None:
        if _holds_points(coords):
            points: Sequence[Point] = coords  # type: ignore[assignment]
            known = list({p.space.id: p.space for p in points if p.space is not None}.values())
            for other in known[1:]:
                same_space(known[0], other, "build a point cloud")
            if known and space is not None:
                same_space(resolve_space(space), known[0], "build a point cloud")
            space = space if space is not None else (known[0] if known else None)
            coords = np.array([p.coordinate for p in points])
            sigma_mm = [p.sigma_mm for p in points]
        array = as_coordinates(coords)
        self.coordinates = array
        self.space = resolve_space(space)
        sigma_hint = "give one uncertainty in mm for all points, or one per point"
        sigma = as_float_array(sigma_mm, "sigma_mm", sigma_hint)
        if sigma.ndim > 1 or (sigma.ndim == 1 and len(sigma) != len(array)):
            raise ArgumentError(
                f"sigma_mm must be one number or one per point ({len(array)}), "
                f"got shape {sigma.shape}",
                hint=sigma_hint,
            )
        sigma = np.broadcast_to(sigma, (len(array),))
        if np.any(sigma < 0) or not np.all(np.isfinite(sigma)):
            raise ArgumentError(
                "sigma_mm must be finite and >= 0 for every point", hint=sigma_hint
            )
        self.sigma_mm = sigma

    def __len__(self) -> int:
        return len(self.coordinates)

    def __iter__(self) -> Iterator[Point]:
        for xyz, sigma in zip(self.coordinates, self.sigma_mm, strict=True):
            yield Point(xyz, self.space, float(sigma))

    def __getitem__(self, i: int) -> Point:
        return Point(self.coordinates[i], self.space, float(self.sigma_mm[i]))

    def __repr__(self) -> str:
        space = self.space.short_name if self.space is not None else "no space"
        return f"<PointCloud {len(self)} points in {space}>"

    @property
    def centroid(self) -> Point:
        return Point(self.coordinates.mean(axis=0), self.space)

    @property
    def boundingbox(self) -> BoundingBox:
        """The smallest box holding every point."""
        return BoundingBox(self.coordinates.min(0), self.coordinates.max(0), self.space)

    def voxels(self, affine: np.ndarray) -> np.ndarray:
        """Nearest voxel indices (N, 3) of all points on a grid with ``affine``."""
        return nearest_voxel(affine, self.coordinates)

    def intersection(self, box: BoundingBox) -> PointCloud:
        """The points inside ``box``."""
        same_space(self.space, box.space, "intersect a point cloud and a box")
        inside = box.contains_many(self.coordinates)
        return PointCloud(self.coordinates[inside], self.space, self.sigma_mm[inside])
