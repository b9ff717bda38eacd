"""Tests of neuratlas.locations.pointcloud."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from neuratlas.errors import Error, SpaceMismatchError
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


def test_bad_sigma() -> None:
    with pytest.raises(Error, match="sigma_mm must be finite and >= 0 for every point"):
        PointCloud([[0, 0, 0], [1, 1, 1]], sigma_mm=[1, -1])
    with pytest.raises(ValueError, match="broadcast"):
        PointCloud([[0, 0, 0], [1, 1, 1]], sigma_mm=[1, 2, 3])


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
