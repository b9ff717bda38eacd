"""Tests of neuratlas.volumes.properties and masks: volume, components, centroids, boxes."""

from __future__ import annotations

import nibabel as nib
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from neuratlas.errors import ImageError
from neuratlas.volumes.grid import voxel_volume_mm3
from neuratlas.volumes.masks import binary_mask
from neuratlas.volumes.properties import spatial_properties

AFFINE = np.array([[1.5, 0, 0, -10], [0, 2.0, 0, 5], [0, 0, 0.5, 0], [0, 0, 0, 1]])


def test_voxel_volume() -> None:
    assert voxel_volume_mm3(AFFINE) == pytest.approx(1.5)
    flipped = np.diag([-2.0, 2.0, 2.0, 1.0])
    assert voxel_volume_mm3(flipped) == pytest.approx(8.0)


@given(angle=st.floats(0, 2 * np.pi), zooms=st.tuples(*[st.floats(0.1, 5)] * 3))
def test_voxel_volume_is_rotation_invariant(angle: float, zooms) -> None:
    c, s = np.cos(angle), np.sin(angle)
    rotation = np.array([[c, -s, 0], [s, c, 0], [0, 0, 1]])
    affine = np.eye(4)
    affine[:3, :3] = rotation @ np.diag(zooms)
    assert voxel_volume_mm3(affine) == pytest.approx(np.prod(zooms))


def test_diagonal_neighbours_form_one_component() -> None:
    data = np.zeros((5, 5, 5), np.uint8)
    data[1, 1, 1] = data[2, 2, 2] = 1  # corners touch: one component (26-connectivity)
    data[4, 4, 4] = 1  # separate
    props = spatial_properties(nib.Nifti1Image(data, np.eye(4)))
    assert [c.voxels for c in props.components] == [2, 1]
    assert props.components[0].centroid_mm == pytest.approx((1.5, 1.5, 1.5))


@settings(max_examples=50, deadline=None)
@given(hnp.arrays(np.bool_, (6, 5, 4)).filter(lambda a: a.any()))
def test_properties_match_numpy(mask: np.ndarray) -> None:
    props = spatial_properties(nib.Nifti1Image(mask.astype(np.uint8), AFFINE))
    assert props.volume_mm3 == pytest.approx(mask.sum() * 1.5)
    assert sum(c.voxels for c in props.components) == mask.sum()
    assert [c.voxels for c in props.components] == sorted(
        (c.voxels for c in props.components), reverse=True
    )
    ijk = np.argwhere(mask)
    centre = nib.affines.apply_affine(AFFINE, ijk.mean(0))
    np.testing.assert_allclose(props.centroid_mm, centre, atol=1e-9)
    np.testing.assert_allclose(props.bbox_mm[0], nib.affines.apply_affine(AFFINE, ijk.min(0)))
    np.testing.assert_allclose(props.bbox_mm[1], nib.affines.apply_affine(AFFINE, ijk.max(0)))
    for c in props.components:
        assert c.volume_mm3 == pytest.approx(c.voxels * 1.5)


def test_bbox_with_flipped_axis() -> None:
    data = np.zeros((4, 4, 4), np.uint8)
    data[1:3, 0, 0] = 1
    affine = np.diag([-2.0, 1.0, 1.0, 1.0])
    props = spatial_properties(nib.Nifti1Image(data, affine))
    assert props.bbox_mm[0][0] == pytest.approx(-4.0)
    assert props.bbox_mm[1][0] == pytest.approx(-2.0)


def test_empty_mask() -> None:
    with pytest.raises(ImageError, match="the region mask is empty") as info:
        spatial_properties(nib.Nifti1Image(np.zeros((2, 2, 2), np.uint8), np.eye(4)))
    assert "check the space and map type" in info.value.hint


def test_probabilities_count_where_positive() -> None:
    data = np.array([[[0.0, 0.2], [0.9, 0.0]]], np.float32)
    props = spatial_properties(nib.Nifti1Image(data, np.eye(4)))
    assert props.volume_mm3 == pytest.approx(2.0)


def test_binary_mask() -> None:
    data = np.array([[[0.0, 0.2], [0.9, -1.0]]], np.float32)
    mask = binary_mask(nib.Nifti1Image(data, AFFINE))
    assert np.asanyarray(mask.dataobj).dtype == np.uint8
    np.testing.assert_array_equal(np.asanyarray(mask.dataobj), [[[0, 1], [1, 0]]])
    np.testing.assert_allclose(mask.affine, AFFINE)
    high = binary_mask(nib.Nifti1Image(data, AFFINE), threshold=0.5)
    np.testing.assert_array_equal(np.asanyarray(high.dataobj), [[[0, 0], [1, 0]]])


def test_as_dict_round_numbers() -> None:
    data = np.zeros((3, 3, 3), np.uint8)
    data[0, 0, 0] = data[2, 2, 2] = 1
    out = spatial_properties(nib.Nifti1Image(data, np.eye(4))).as_dict()
    assert out["volume_mm3"] == 2.0
    assert out["centroid_mm"] == [1.0, 1.0, 1.0]
    assert len(out["components"]) == 2
