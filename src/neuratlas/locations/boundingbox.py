"""BoundingBox: an axis-aligned box in physical coordinates of a space."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

from neuratlas.errors import ArgumentTypeError, ImageError
from neuratlas.locations.location import resolve_space, same_space
from neuratlas.locations.point import Point, as_coordinates
from neuratlas.volumes.grid import voxel_to_world, world_to_voxel

if TYPE_CHECKING:
    import nibabel as nib

    from neuratlas.core.space import Space


class BoundingBox:
    """The box spanned by two corner points (in any order), in mm.

    Parameters
    ----------
    point1, point2 : sequence of 3 floats or Point
    space : str or Space, optional

    Raises
    ------
    ArgumentError, ArgumentTypeError
        A corner that is not 3 finite numbers (see :class:`Point`).
    SpaceMismatchError
        Corners (or ``space``) in different spaces.
    """

    def __init__(
        self,
        point1: Sequence[float] | Point,
        point2: Sequence[float] | Point,
        space: str | Space | None = None,
    ) -> None:
        spaces = [p.space for p in (point1, point2) if isinstance(p, Point)]
        if len(spaces) == 2:
            same_space(spaces[0], spaces[1], "span a box")
        resolved = resolve_space(space)
        for s in spaces:
            same_space(resolved, s, "span a box")
        self.space = resolved if resolved is not None else (spaces[0] if spaces else None)
        a = Point(point1).coordinate if not isinstance(point1, Point) else point1.coordinate
        b = Point(point2).coordinate if not isinstance(point2, Point) else point2.coordinate
        self.minpoint = np.minimum(a, b)
        self.maxpoint = np.maximum(a, b)

    def __repr__(self) -> str:
        lo = ", ".join(f"{v:.2f}" for v in self.minpoint)
        hi = ", ".join(f"{v:.2f}" for v in self.maxpoint)
        space = self.space.short_name if self.space is not None else "no space"
        return f"<BoundingBox ({lo}) - ({hi}) mm in {space}>"

    @property
    def shape(self) -> np.ndarray:
        """Side lengths in mm."""
        return self.maxpoint - self.minpoint

    @property
    def volume(self) -> float:
        return float(np.prod(self.shape))

    @property
    def center(self) -> Point:
        return Point((self.minpoint + self.maxpoint) / 2, self.space)

    def contains(self, point: Point | Sequence[float]) -> bool:
        """True if the point is inside the box (borders included)."""
        if isinstance(point, Point):
            same_space(self.space, point.space, "test containment")
        return bool(self.contains_many(Point(point).coordinate[None])[0])

    def __contains__(self, point: Point | Sequence[float]) -> bool:
        return self.contains(point)

    def contains_many(self, coords: np.ndarray) -> np.ndarray:
        """Boolean mask of the rows of an (N, 3) array that lie inside the box.

        Raises
        ------
        ArgumentError
            ``coords`` is not an (N, 3) array of finite numbers.
        """
        coords = as_coordinates(coords, "coordinates")
        return np.all((coords >= self.minpoint) & (coords <= self.maxpoint), axis=1)

    def intersection(self, other: BoundingBox) -> BoundingBox | None:
        """The overlap of two boxes, or ``None`` if they do not overlap."""
        if not isinstance(other, BoundingBox):
            raise ArgumentTypeError(
                f"can only intersect a box with a box, got {type(other).__name__}"
            )
        same_space(self.space, other.space, "intersect boxes")
        lo = np.maximum(self.minpoint, other.minpoint)
        hi = np.minimum(self.maxpoint, other.maxpoint)
        if np.any(lo > hi):
            return None
        return BoundingBox(lo, hi, self.space)

    def voxel_slices(self, affine: np.ndarray, shape: Sequence[int]) -> tuple[slice, ...]:
        """Index slices of the voxels of a grid (``affine``, ``shape``) inside the box."""
        corners = np.array(np.meshgrid(*zip(self.minpoint, self.maxpoint, strict=True)))
        ijk = world_to_voxel(affine, corners.reshape(3, -1).T)
        lo = np.clip(np.ceil(ijk.min(0) - 1e-9).astype(int), 0, np.array(shape[:3]))
        hi = np.clip(np.floor(ijk.max(0) + 1e-9).astype(int) + 1, 0, np.array(shape[:3]))
        return tuple(slice(int(a), int(b)) for a, b in zip(lo, hi, strict=True))

    @classmethod
    def from_image(
        cls, img: nib.Nifti1Image, space: str | Space | None = None, threshold: float = 0.0
    ) -> BoundingBox:
        """The box around the voxels of ``img`` above ``threshold``.

        Raises
        ------
        ImageError
            No voxel of the image is above ``threshold``.
        """
        ijk = np.argwhere(np.asanyarray(img.dataobj) > threshold)
        if not len(ijk):
            raise ImageError(
                "the image has no voxel above the threshold: no bounding box",
                hint="lower the threshold or check that the image is not empty",
            )
        a, b = voxel_to_world(img.affine, np.array([ijk.min(0), ijk.max(0)]))
        return cls(a, b, space)
