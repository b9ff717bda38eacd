"""Tests of neuratlas.locations.boundingbox."""

from __future__ import annotations

import nibabel as nib
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from neuratlas.errors import ArgumentError, Error, SpaceMismatchError
from neuratlas.locations.boundingbox import BoundingBox
from neuratlas.locations.point import Point
from tests.toy_atlas import AFFINE, SHAPE, label_volume

value = st.floats(-100, 100, allow_nan=False)
corner = st.tuples(value, value, value)


@given(corner, corner)
def test_corners_in_any_order(a, b) -> None:
    box1, box2 = BoundingBox(a, b), BoundingBox(b, a)
    np.testing.assert_array_equal(box1.minpoint, box2.minpoint)
    np.testing.assert_array_equal(box1.maxpoint, box2.maxpoint)
    assert np.all(box1.minpoint <= box1.maxpoint)
    assert box1.volume == pytest.approx(np.prod(np.abs(np.subtract(a, b))))
    assert box1.contains(a) and box1.contains(b)
    assert box1.contains(box1.center)


def test_properties(spaces) -> None:
    toy, _ = spaces
    box = BoundingBox(Point([0, 0, 0], toy), [2, 4, 6])
    assert box.space is toy
    np.testing.assert_array_equal(box.shape, [2, 4, 6])
    assert box.volume == 48.0
    assert box.center == Point([1, 2, 3], toy)
    assert repr(box) == "<BoundingBox (0.00, 0.00, 0.00) - (2.00, 4.00, 6.00) mm in toy>"
    assert [1, 1, 1] in box
    assert [3, 1, 1] not in box


def test_space_checks(spaces) -> None:
    toy, other = spaces
    with pytest.raises(SpaceMismatchError, match="cannot span a box"):
        BoundingBox(Point([0, 0, 0], toy), Point([1, 1, 1], other))
    with pytest.raises(SpaceMismatchError, match="cannot span a box"):
        BoundingBox(Point([0, 0, 0], toy), [1, 1, 1], space=other)
    box = BoundingBox([0, 0, 0], [1, 1, 1], toy)
    with pytest.raises(SpaceMismatchError, match="cannot test containment"):
        box.contains(Point([0, 0, 0], other))
    with pytest.raises(SpaceMismatchError, match="cannot intersect boxes"):
        box.intersection(BoundingBox([0, 0, 0], [1, 1, 1], other))


def test_bad_input() -> None:
    with pytest.raises(Error, match="a point needs 3 coordinates"):
        BoundingBox([0, 0], [1, 1, 1])
    with pytest.raises(Error, match="can only intersect a box with a box, got Point"):
        BoundingBox([0, 0, 0], [1, 1, 1]).intersection(Point([0, 0, 0]))


def test_corners_and_points_of_the_wrong_kind() -> None:
    # each of these escaped as a bare ValueError from NumPy (or broadcast silently)
    with pytest.raises(ArgumentError, match=r"cannot read point coordinates from \('a', 'b'"):
        BoundingBox(("a", "b", "c"), [1, 1, 1])
    with pytest.raises(ArgumentError, match="point coordinates must be finite"):
        BoundingBox([0, 0, np.nan], [1, 1, 1])
    box = BoundingBox([0, 0, 0], [1, 1, 1])
    with pytest.raises(ArgumentError, match="cannot read point coordinates from"):
        box.contains(["x", 0, 0])
    with pytest.raises(ArgumentError, match="a point needs 3 coordinates, got 2"):
        [0.5, 0.5] in box  # noqa: B015 - the test is that this raises
    with pytest.raises(ArgumentError) as info:
        box.contains_many(np.zeros((4, 2)))
    assert info.value.message == "a point cloud needs an (N, 3) array of coordinates, got (4, 2)"
    with pytest.raises(ArgumentError, match="got \\(3,\\)"):
        box.contains_many(np.zeros(3))


@given(corner, corner, corner, corner)
def test_intersection_is_the_overlap(a, b, c, d) -> None:
    one, two = BoundingBox(a, b), BoundingBox(c, d)
    both = one.intersection(two)
    overlap = np.all(
        np.maximum(one.minpoint, two.minpoint) <= np.minimum(one.maxpoint, two.maxpoint)
    )
    if not overlap:
        assert both is None
        return
    assert both is not None
    for box in (one, two):
        assert np.all(both.minpoint >= box.minpoint) and np.all(both.maxpoint <= box.maxpoint)
    # symmetric
    other = two.intersection(one)
    np.testing.assert_array_equal(other.minpoint, both.minpoint)
    np.testing.assert_array_equal(other.maxpoint, both.maxpoint)


def test_touching_boxes_intersect_in_a_face() -> None:
    face = BoundingBox([0, 0, 0], [1, 1, 1]).intersection(BoundingBox([1, 0, 0], [2, 1, 1]))
    assert face is not None
    assert face.volume == 0.0


def test_from_image_and_voxel_slices() -> None:
    img = nib.Nifti1Image((label_volume() == 5).astype(np.uint8), AFFINE)
    box = BoundingBox.from_image(img)
    # Nucleus C spans voxels [9:11, 11:13, 6:10]
    np.testing.assert_allclose(box.minpoint, nib.affines.apply_affine(AFFINE, [9, 11, 6]))
    np.testing.assert_allclose(box.maxpoint, nib.affines.apply_affine(AFFINE, [10, 12, 9]))
    slices = box.voxel_slices(AFFINE, SHAPE)
    assert slices == (slice(9, 11), slice(11, 13), slice(6, 10))
    assert label_volume()[slices].min() == 5


def test_voxel_slices_clip_to_the_grid() -> None:
    box = BoundingBox([-1000, -1000, -1000], [1000, 1000, 1000])
    assert box.voxel_slices(AFFINE, SHAPE) == tuple(slice(0, n) for n in SHAPE)
    outside = BoundingBox([500, 500, 500], [600, 600, 600])
    for s in outside.voxel_slices(AFFINE, SHAPE):
        assert s.start == s.stop


def test_from_empty_image() -> None:
    with pytest.raises(Error, match="the image has no voxel above the threshold"):
        BoundingBox.from_image(nib.Nifti1Image(np.zeros((2, 2, 2)), np.eye(4)))
