"""Tests of neuratlas.locations.point: parsing, voxel round trips, arithmetic, space checks."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from neuratlas.errors import (
    ArgumentError,
    ArgumentTypeError,
    Error,
    NotFoundError,
    SpaceMismatchError,
)
from neuratlas.locations.boundingbox import BoundingBox
from neuratlas.locations.point import COORDS_HINT, Point
from tests.toy_atlas import AFFINE

finite = st.floats(-1e4, 1e4, allow_nan=False, allow_infinity=False)


def test_construction_from_sequences_arrays_and_strings() -> None:
    for value in ([1, 2, 3], (1.0, 2.0, 3.0), np.array([1, 2, 3]), "1, 2, 3", "1 2 3 mm"):
        np.testing.assert_array_equal(Point(value).coordinate, [1.0, 2.0, 3.0])
    assert Point([1, 2, 3]).space is None
    assert Point([1, 2, 3]).sigma_mm == 0.0


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ([1, 2], "a point needs 3 coordinates, got 2"),
        ([1, 2, 3, 4], "a point needs 3 coordinates, got 4"),
        ([1, np.nan, 3], "point coordinates must be finite"),
        ([1, np.inf, 3], "point coordinates must be finite"),
        ("1, two, 3", "cannot read coordinates from '1, two, 3'"),
        ("", "a point needs 3 coordinates, got 0"),
    ],
)
def test_bad_coordinates(value, message: str) -> None:
    with pytest.raises(Error, match=message):
        Point(value)


@pytest.mark.parametrize(
    ("value", "error", "message"),
    [
        (("a", "b", "c"), ArgumentError, "cannot read point coordinates from ('a', 'b', 'c'): "),
        ([1, "two", 3], ArgumentError, "cannot read point coordinates from [1, 'two', 3]: "),
        (np.array(["x", "1", "2"]), ArgumentError, "cannot read point coordinates from array("),
        ([1, [2, 3]], ArgumentError, "the rows have different lengths"),
        ([1j, 2, 3], ArgumentTypeError, "point coordinates must be numbers, got [1j, 2, 3]"),
        ({"x": 1}, ArgumentTypeError, "point coordinates must be numbers, got {'x': 1}"),
        (None, ArgumentTypeError, "no point coordinates given (got None)"),
        (np.arange(1000.0), ArgumentError, "a point needs 3 coordinates, got 1000"),
    ],
)
def test_coordinates_of_the_wrong_kind(value, error: type, message: str) -> None:
    # these used to escape as bare ValueError / TypeError from NumPy
    with pytest.raises(error) as info:
        Point(value, sigma_mm=1)
    assert info.value.message.startswith(message) or message in info.value.message
    assert info.value.hint == COORDS_HINT
    assert len(info.value.message) < 200  # long inputs are abbreviated


def test_point_in_a_space_with_text_coordinates(toy_active) -> None:
    with pytest.raises(ArgumentError) as info:
        Point(("a", "b", "c"), "toy")
    assert info.value.message == (
        "cannot read point coordinates from ('a', 'b', 'c'): could not convert string to "
        "float: 'a'"
    )
    assert info.value.hint == 'give 3 numbers in mm, e.g. (-40, 10, 35) or "-40, 10, 35"'


@pytest.mark.parametrize("other", [["a", 1, 2], [1, 2], None])
def test_arithmetic_with_bad_offsets(other) -> None:
    with pytest.raises((ArgumentError, ArgumentTypeError)) as info:
        Point([1, 2, 3]) + other
    assert info.value.hint == COORDS_HINT
    with pytest.raises((ArgumentError, ArgumentTypeError)):
        Point([1, 2, 3]) - other


def test_bad_sigma() -> None:
    for sigma in (-1.0, np.nan, np.inf, [1.0, 2.0]):
        with pytest.raises(ArgumentError, match="sigma_mm must be a finite number >= 0"):
            Point([0, 0, 0], sigma_mm=sigma)
    with pytest.raises(ArgumentError, match="cannot read sigma_mm from 'wide'"):
        Point([0, 0, 0], sigma_mm="wide")
    with pytest.raises(ArgumentTypeError, match=r"no sigma_mm given \(got None\)"):
        Point([0, 0, 0], sigma_mm=None)
    assert Point([0, 0, 0], sigma_mm="2").sigma_mm == 2.0


def test_space_by_name_uses_active_catalogue(toy_active) -> None:
    point = Point([0, 0, 0], "toy")
    assert point.space is toy_active.spaces[0]
    with pytest.raises(NotFoundError, match="no space matches 'nowhere'"):
        Point([0, 0, 0], "nowhere")


def test_repr_eq_hash(spaces) -> None:
    toy, other = spaces
    a = Point([1, 2, 3], toy, sigma_mm=2)
    assert repr(a) == "<Point (1.00, 2.00, 3.00) mm in toy, sigma 2 mm>"
    assert repr(Point([1, 2, 3])) == "<Point (1.00, 2.00, 3.00) mm in no space>"
    assert a == Point([1, 2, 3 + 1e-12], toy)
    assert a != Point([1, 2, 3], other)
    assert a != Point([1, 2, 4], toy)
    assert a != (1, 2, 3)
    assert hash(a) == hash(Point([1, 2, 3], toy))
    assert list(a) == [1.0, 2.0, 3.0]
    np.testing.assert_array_equal(np.asarray(a), [1, 2, 3])


@given(st.tuples(finite, finite, finite), st.floats(-1e-6, 1e-6))
def test_equal_points_hash_alike(xyz, shift) -> None:
    a = Point(xyz)
    b = Point(np.asarray(xyz) + shift)
    if a == b:
        assert hash(a) == hash(b)
    assert {a, b} == ({a} if a == b else {a, b})


def test_points_near_a_rounding_boundary_are_equal_only_if_they_hash_alike() -> None:
    # 1.4999999e-6 and 1.5000001e-6 mm were equal (a tolerance) but hashed apart
    a, b = Point([1.4999999e-6, 0, 0]), Point([1.5000001e-6, 0, 0])
    assert (a == b) == (hash(a) == hash(b))
    assert Point([-0.0, 0, 0]) == Point([0.0, 0, 0])
    assert hash(Point([-0.0, 0, 0])) == hash(Point([0.0, 0, 0]))


@given(st.tuples(finite, finite, finite))
def test_physical_voxel_round_trip(xyz) -> None:
    point = Point(xyz)
    back = Point.from_voxel(point.voxel_coordinate(AFFINE), AFFINE)
    np.testing.assert_allclose(back.coordinate, xyz, atol=1e-6)


@given(st.tuples(*[st.integers(-50, 50)] * 3))
def test_voxel_physical_round_trip(ijk) -> None:
    point = Point.from_voxel(ijk, AFFINE)
    np.testing.assert_array_equal(point.voxel(AFFINE), ijk)
    assert point.voxel(AFFINE).dtype.kind == "i"


def test_voxel_of_known_points() -> None:
    # voxel (0, 0, 0) of the toy grid is at (-20, -24, -16) mm, voxels are 2 mm
    np.testing.assert_array_equal(Point([-20, -24, -16]).voxel(AFFINE), [0, 0, 0])
    np.testing.assert_array_equal(Point([-17.1, -24, -16]).voxel(AFFINE), [1, 0, 0])
    np.testing.assert_allclose(Point([-19, -24, -16]).voxel_coordinate(AFFINE), [0.5, 0, 0])


def test_from_voxel_carries_the_space(spaces) -> None:
    toy, _ = spaces
    assert Point.from_voxel([1, 1, 1], AFFINE, toy).space is toy


def test_arithmetic_and_distance(spaces) -> None:
    toy, _other = spaces
    a = Point([1, 2, 3], toy, sigma_mm=1.5)
    b = Point([4, 6, 3], toy)
    assert a.distance(b) == pytest.approx(5.0)
    total = a + b
    np.testing.assert_array_equal(total.coordinate, [5, 8, 6])
    assert total.space is toy and total.sigma_mm == 1.5
    np.testing.assert_array_equal((b - a).coordinate, [3, 4, 0])
    shifted = a + np.ones(3)
    np.testing.assert_array_equal(shifted.coordinate, [2, 3, 4])
    # a point without space combines with any
    assert (a + Point([0, 0, 0])).space is toy


@pytest.mark.parametrize("operation", ["add", "sub", "distance", "intersects"])
def test_space_mismatch(spaces, operation: str) -> None:
    toy, other = spaces
    a, b = Point([1, 2, 3], toy), Point([1, 2, 3], other)
    with pytest.raises(SpaceMismatchError) as info:
        if operation == "add":
            a + b
        elif operation == "sub":
            a - b
        elif operation == "distance":
            a.distance(b)
        else:
            a.intersects(BoundingBox([0, 0, 0], [5, 5, 5], other))
    assert "one is in 'Toy space', the other in 'Other space'" in str(info.value)
    assert "same space" in info.value.hint
    assert isinstance(info.value, ValueError)


def test_intersects_box(spaces) -> None:
    toy, _ = spaces
    box = BoundingBox([0, 0, 0], [2, 2, 2], toy)
    assert Point([1, 1, 1], toy).intersects(box)
    assert Point([2, 2, 2], toy).intersects(box)  # borders included
    assert not Point([2.01, 1, 1], toy).intersects(box)
