"""Point: one physical location (mm) in a reference space, optionally uncertain."""

from __future__ import annotations

import reprlib
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from neuratlas.errors import ArgumentError, ArgumentTypeError
from neuratlas.locations.location import resolve_space, same_space
from neuratlas.volumes.grid import voxel_to_world, world_to_voxel

if TYPE_CHECKING:
    from neuratlas.core.space import Space
    from neuratlas.locations.boundingbox import BoundingBox

#: How to write a point, for the hints of errors about coordinates.
COORDS_HINT = 'give 3 numbers in mm, e.g. (-40, 10, 35) or "-40, 10, 35"'


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

    Raises
    ------
    ArgumentError
        The coordinates are not 3 finite numbers (text that is no number, a wrong
        count, NaN or inf), or ``sigma_mm`` is not a finite number >= 0.
    ArgumentTypeError
        The coordinates or ``sigma_mm`` are of a type that holds no numbers.
    """

    def __init__(
        self,
        coords: Sequence[float] | str,
        space: str | Space | None = None,
        sigma_mm: float = 0.0,
    ) -> None:
        self.coordinate = _parse_coords(coords)
        self.space = resolve_space(space)
        sigma = as_float_array(sigma_mm, "sigma_mm", "give the uncertainty in mm, e.g. 2")
        if sigma.shape != () or not np.isfinite(sigma) or sigma < 0:
            raise ArgumentError(
                f"sigma_mm must be a finite number >= 0, got {_short(sigma_mm)}",
                hint="give the uncertainty in mm, e.g. 2, or 0 for an exact point",
            )
        self.sigma_mm = float(sigma)

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
        return Point(self.coordinate + _parse_coords(other), self.space, self.sigma_mm)

    def __sub__(self, other: Point | Sequence[float]) -> Point:
        if isinstance(other, Point):
            same_space(self.space, other.space, "subtract points")
            other = other.coordinate
        return Point(self.coordinate - _parse_coords(other), self.space, self.sigma_mm)

    def distance(self, other: Point) -> float:
        """Euclidean distance in mm."""
        same_space(self.space, other.space, "measure a distance")
        return float(np.linalg.norm(self.coordinate - other.coordinate))


def _short(value: Any) -> str:
    """A repr that stays short for long sequences and arrays."""
    return reprlib.repr(value)


def as_float_array(value: Any, what: str, hint: str) -> np.ndarray:
    """``value`` as a float array, or an error from the hierarchy saying what is wrong.

    Parameters
    ----------
    value : array-like
        Numbers: a number, a sequence, nested sequences or an array.
    what : str
        How to name the value in a message, e.g. ``"point coordinates"``.
    hint : str
        What to do, for the error's hint.

    Raises
    ------
    ArgumentTypeError
        ``value`` is None, or holds objects that are no numbers (dicts, complex...).
    ArgumentError
        ``value`` holds text that is not a number, or rows of different lengths.
    """
    if value is None:
        raise ArgumentTypeError(f"no {what} given (got None)", hint=hint)
    try:
        return np.asarray(value, dtype=float)
    except TypeError:
        raise ArgumentTypeError(
            f"{what} must be numbers, got {_short(value)}", hint=hint
        ) from None
    except ValueError as exc:
        # numpy's wording for ragged input ("inhomogeneous shape") says little to a user
        reason = (
            "the rows have different lengths"
            if "inhomogeneous" in str(exc) or "sequence" in str(exc)
            else str(exc)
        )
        raise ArgumentError(
            f"cannot read {what} from {_short(value)}: {reason}", hint=hint
        ) from None


#: How to write a point cloud, for the hints of errors about its coordinates.
CLOUD_HINT = "give an (N, 3) array of numbers in mm (one row per point), or a list of Points"


def as_coordinates(coords: Any, what: str = "point cloud coordinates") -> np.ndarray:
    """``coords`` as a finite (N, 3) float array, or an error saying what is wrong.

    Raises
    ------
    ArgumentError
        Text that is no number, another shape than (N, 3), NaN or inf.
    ArgumentTypeError
        Values of a type that holds no numbers.
    """
    array = as_float_array(coords, what, CLOUD_HINT)
    if array.ndim != 2 or array.shape[1] != 3:
        raise ArgumentError(
            f"a point cloud needs an (N, 3) array of coordinates, got {array.shape}",
            hint=CLOUD_HINT,
        )
    bad = ~np.all(np.isfinite(array), axis=1)
    if bad.any():
        rows = np.flatnonzero(bad)
        raise ArgumentError(
            f"{what} must be finite (found NaN or inf in {len(rows)} row(s), the first is "
            f"row {rows[0]}: {array[rows[0]].tolist()})",
            hint="drop or fix those rows",
        )
    return array


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
    array = as_float_array(coords, "point coordinates", COORDS_HINT).reshape(-1)
    if array.shape != (3,):
        raise ArgumentError(f"a point needs 3 coordinates, got {array.size}", hint=COORDS_HINT)
    if not np.all(np.isfinite(array)):
        raise ArgumentError(
            f"point coordinates must be finite, got {array.tolist()}", hint=COORDS_HINT
        )
    return array
