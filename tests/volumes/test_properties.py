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
from neuratlas.volumes.properties import (
    SpatialProperties,
    SurfaceProperties,
    spatial_properties,
    surface_properties,
)
from neuratlas.volumes.surfaces import Mesh
from tests.volumes.test_surfaces import octahedron

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


def test_both_kinds_say_what_they_measure() -> None:
    data = np.zeros((3, 3, 3), np.uint8)
    data[1, 1, 1] = 1
    volume = spatial_properties(nib.Nifti1Image(data, np.diag([2.0, 2.0, 2.0, 1.0])))
    surface = surface_properties(octahedron().with_labels([1, 0, 0, 0, 0, 0]))
    assert (volume.measure, volume.unit, volume.size) == ("volume", "mm³", 8.0)
    assert volume.components[0].size == 8.0
    assert (surface.measure, surface.unit) == ("area", "mm²")
    assert surface.size == surface.area_mm2 == surface.components[0].size
    assert SpatialProperties.measure == "volume" and SurfaceProperties.measure == "area"


# --- surfaces -----------------------------------------------------------------------------
FACE = np.sqrt(3) / 4 * 200  # the faces of the octahedron of radius 10: sides 10 sqrt(2)


def two_octahedra(left: list[int], right: list[int]) -> Mesh:
    merged = Mesh.merge({"left": octahedron(-40), "right": octahedron(40)})
    return merged.with_labels(np.array(left + right))


def test_the_area_is_a_third_of_each_face_per_vertex() -> None:
    props = surface_properties(octahedron().with_labels([1, 1, 1, 1, 1, 1]))
    assert props.area_mm2 == pytest.approx(8 * FACE)
    one = surface_properties(octahedron().with_labels([0, 0, 0, 0, 1, 0]))
    assert one.area_mm2 == pytest.approx(4 * FACE / 3)
    assert one.centroid_mm == (0.0, 0.0, 10.0) and one.bbox_mm == ((0, 0, 10), (0, 0, 10))


def test_components_follow_the_mesh_edges() -> None:
    # on the left: 0 and 1 are opposite corners (no edge between them) but 4 touches
    # both; on the right: 0 alone. Two components, largest first: {0, 1, 4} and {0}
    props = surface_properties(two_octahedra([1, 1, 0, 0, 1, 0], [1, 0, 0, 0, 0, 0]))
    assert [c.vertices for c in props.components] == [3, 1]
    assert props.components[0].area_mm2 == pytest.approx(3 * 4 * FACE / 3)
    assert props.components[0].centroid_mm[0] < 0 and props.components[1].centroid_mm[0] > 0
    apart = surface_properties(two_octahedra([1, 1, 0, 0, 0, 0], [0] * 6))
    assert [c.vertices for c in apart.components] == [1, 1]  # opposite corners only


def test_the_centroid_is_the_mask_vertex_nearest_the_weighted_mean() -> None:
    # the three corners 0 (+x), 2 (+y), 4 (+z): the mean lies inside the octahedron;
    # the nearest vertex of the mask is one of them, not the mean itself
    mesh = octahedron().with_labels([1, 0, 1, 0, 1, 0])
    props = surface_properties(mesh)
    assert props.centroid_mm in {(10.0, 0.0, 0.0), (0.0, 10.0, 0.0), (0.0, 0.0, 10.0)}
    assert props.bbox_mm == ((0.0, 0.0, 0.0), (10.0, 10.0, 10.0))


def test_surface_as_dict() -> None:
    out = surface_properties(two_octahedra([1, 1, 0, 0, 1, 0], [1, 0, 0, 0, 0, 0])).as_dict()
    assert out["area_mm2"] == pytest.approx(4 * 4 * FACE / 3)
    assert [c["vertices"] for c in out["components"]] == [3, 1]
    assert len(out["centroid_mm"]) == 3 and len(out["bbox_mm"]) == 2


def test_an_empty_surface_mask() -> None:
    with pytest.raises(ImageError, match="the region mask is empty") as info:
        surface_properties(octahedron().with_labels(np.zeros(6, int)))
    assert "check the space and map type" in info.value.hint


def test_a_mesh_without_a_mask() -> None:
    with pytest.raises(ImageError, match="the mesh carries no mask") as info:
        surface_properties(octahedron())
    assert "fetch_mask" in info.value.hint
