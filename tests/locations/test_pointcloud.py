"""Tests of neuratlas.locations.pointcloud."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from neuratlas.errors import ArgumentError, ArgumentTypeError, Error, SpaceMismatchError
from neuratlas.locations.boundingbox import BoundingBox
from neuratlas.locations.point import Point
from neuratlas.locations.pointcloud import PointCloud
from tests.toy_atlas import AFFINE

coords = hnp.arrays(
    np.float64,
    st.tuples(st.integers(1, 30), st.just(3)),
    elements=st.floats(-500, 500, allow_nan=False),
)


def test_from_array(spaces) -> None:
    toy, _ = spaces
    cloud = PointCloud([[0, 0, 0], [2, 4, 6]], toy, sigma_mm=[0, 1])
    assert len(cloud) == 2
    assert cloud.space is toy
    assert repr(cloud) == "<PointCloud 2 points in toy>"
    assert cloud[1] == Point([2, 4, 6], toy)
    assert cloud[1].sigma_mm == 1.0
    assert [p.sigma_mm for p in cloud] == [0.0, 1.0]
    assert cloud.centroid == Point([1, 2, 3], toy)


def test_from_points_takes_their_space(spaces) -> None:
    toy, _ = spaces
    cloud = PointCloud([Point([0, 0, 0], toy, 2.0), Point([1, 1, 1])])
    assert cloud.space is toy
    np.testing.assert_array_equal(cloud.sigma_mm, [2.0, 0.0])


def test_points_in_two_spaces(spaces) -> None:
    toy, other = spaces
    with pytest.raises(SpaceMismatchError, match="cannot build a point cloud"):
        PointCloud([Point([0, 0, 0], toy), Point([1, 1, 1], other)])
    with pytest.raises(SpaceMismatchError):
        PointCloud([Point([0, 0, 0], toy)], space=other)


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ([[1, 2]], r"needs an \(N, 3\) array of coordinates, got \(1, 2\)"),
        ([1, 2, 3], r"got \(3,\)"),
        ([[1, 2, np.nan]], "must be finite"),
    ],
)
def test_bad_coordinates(value, message: str) -> None:
    with pytest.raises(Error, match=message):
        PointCloud(value)


@pytest.mark.parametrize(
    ("value", "error", "message"),
    [
        ([["a", "b", "c"]], ArgumentError, "cannot read point cloud coordinates from [['a',"),
        ([[1, 2, 3], [4, 5]], ArgumentError, "the rows have different lengths"),
        ([[1, 2, 3], [4, 5, None]], ArgumentError, "row 1: [4.0, 5.0, nan]"),
        ([[1j, 2, 3]], ArgumentTypeError, "point cloud coordinates must be numbers"),
        (None, ArgumentTypeError, "no point cloud coordinates given (got None)"),
        (7, ArgumentError, "a point cloud needs an (N, 3) array of coordinates, got ()"),
        (np.zeros((2, 3, 1)), ArgumentError, "got (2, 3, 1)"),
    ],
)
def test_coordinates_of_the_wrong_kind(value, error: type, message: str) -> None:
    # these used to escape as bare ValueError / TypeError from NumPy (or len() of an int)
    with pytest.raises(error) as info:
        PointCloud(value)
    assert message in info.value.message
    assert info.value.hint


def test_nan_rows_are_counted_and_the_first_named() -> None:
    coords = np.zeros((5, 3))
    coords[[1, 3], 2] = np.inf
    with pytest.raises(ArgumentError) as info:
        PointCloud(coords)
    assert info.value.message == (
        "point cloud coordinates must be finite (found NaN or inf in 2 row(s), the first is "
        "row 1: [0.0, 0.0, inf])"
    )


def test_bad_sigma() -> None:
    with pytest.raises(Error, match="sigma_mm must be finite and >= 0 for every point"):
        PointCloud([[0, 0, 0], [1, 1, 1]], sigma_mm=[1, -1])
    with pytest.raises(ArgumentError) as info:
        PointCloud([[0, 0, 0], [1, 1, 1]], sigma_mm=[1, 2, 3])
    assert info.value.message == "sigma_mm must be one number or one per point (2), got shape (3,)"
    assert info.value.hint == "give one uncertainty in mm for all points, or one per point"
    with pytest.raises(ArgumentError, match="cannot read sigma_mm from 'x'"):
        PointCloud([[0, 0, 0]], sigma_mm="x")
    with pytest.raises(ArgumentError, match=r"got shape \(1, 1\)"):
        PointCloud([[0, 0, 0]], sigma_mm=[[1.0]])


def test_from_a_point_cloud() -> None:
    cloud = PointCloud([[0, 0, 0], [1, 2, 3]], sigma_mm=[0, 4])
    again = PointCloud(cloud)
    np.testing.assert_array_equal(again.coordinates, cloud.coordinates)
    np.testing.assert_array_equal(again.sigma_mm, [0, 4])


def test_empty_cloud() -> None:
    cloud = PointCloud(np.zeros((0, 3)))
    assert len(cloud) == 0
    assert list(cloud) == []
    np.testing.assert_array_equal(cloud.voxels(AFFINE), np.zeros((0, 3)))


@given(coords)
def test_voxels_match_points(xyz: np.ndarray) -> None:
    cloud = PointCloud(xyz)
    voxels = cloud.voxels(AFFINE)
    assert voxels.shape == xyz.shape
    for point, voxel in zip(cloud, voxels, strict=True):
        np.testing.assert_array_equal(point.voxel(AFFINE), voxel)


@given(coords)
def test_boundingbox_contains_every_point(xyz: np.ndarray) -> None:
    cloud = PointCloud(xyz)
    box = cloud.boundingbox
    assert box.contains_many(xyz).all()
    np.testing.assert_array_equal(box.minpoint, xyz.min(0))
    np.testing.assert_array_equal(box.maxpoint, xyz.max(0))


@given(coords, st.floats(-500, 500), st.floats(0, 300))
def test_intersection(xyz: np.ndarray, low: float, size: float) -> None:
    cloud = PointCloud(xyz, sigma_mm=np.arange(len(xyz), dtype=float))
    box = BoundingBox([low] * 3, [low + size] * 3)
    inside = cloud.intersection(box)
    expected = np.all((xyz >= low) & (xyz <= low + size), axis=1)
    np.testing.assert_array_equal(inside.coordinates, xyz[expected])
    np.testing.assert_array_equal(inside.sigma_mm, np.arange(len(xyz))[expected])


def test_intersection_space_mismatch(spaces) -> None:
    toy, other = spaces
    cloud = PointCloud([[0, 0, 0]], toy)
    with pytest.raises(SpaceMismatchError, match="intersect a point cloud and a box"):
        cloud.intersection(BoundingBox([0, 0, 0], [1, 1, 1], other))
