"""Region masks and spatial properties in a surface space: Desikan-Killiany on fsaverage5."""

from __future__ import annotations

import nibabel as nib
import numpy as np
import pytest

import neuratlas
from neuratlas.volumes import providers
from neuratlas.volumes.properties import SpatialProperties, SurfaceProperties
from neuratlas.volumes.surfaces import Mesh

HEMISPHERE_VERTICES = 10242  # fsaverage5: icosahedron of order 5


@pytest.fixture(scope="module")
def dk():
    return neuratlas.get_map("desikan-killiany", "fsaverage5", "labelled")


@pytest.fixture(scope="module")
def source_labels(dk) -> dict[str, np.ndarray]:
    """The labels of each hemisphere, read straight from the map's GIfTI files."""
    volume = dk.volumes[0]
    return {
        side: providers.load_labels(volume.path("gii-label", side)) for side in ("left", "right")
    }


def test_a_regional_mask_is_a_mesh_of_the_regions_vertices(dk, source_labels) -> None:
    region = neuratlas.get_region("desikan-killiany", "Precentral - left hemisphere")
    mask = region.get_regional_mask("fsaverage5")
    assert isinstance(mask, Mesh)
    assert mask.n_vertices == 2 * HEMISPHERE_VERTICES
    assert set(np.unique(mask.labels)) == {0, 1}
    label = dk.get_index(region).label
    expected = np.concatenate([source_labels["left"] == label, np.zeros(HEMISPHERE_VERTICES)])
    np.testing.assert_array_equal(mask.labels, expected)
    # the left pial surface: every vertex of the mask lies at x < 0
    assert (mask.vertices[mask.labels == 1, 0] < 0).all()


def test_a_bilateral_mask_covers_both_hemispheres(dk, source_labels) -> None:
    region = neuratlas.get_region("desikan-killiany", "Precentral")
    assert not region.is_leaf
    mask = region.get_regional_mask("fsaverage5")
    left, right = (dk.get_index(f"Precentral - {s} hemisphere").label for s in ("left", "right"))
    expected = np.concatenate([source_labels["left"] == left, source_labels["right"] == right])
    np.testing.assert_array_equal(mask.labels, expected)


def test_surface_spatial_properties_of_a_gyrus(dk) -> None:
    region = neuratlas.get_region("desikan-killiany", "Precentral - left hemisphere")
    props = region.spatial_props("fsaverage5")
    assert isinstance(props, SurfaceProperties)
    assert (props.measure, props.unit) == ("area", "mm²")
    mask = region.get_regional_mask("fsaverage5")
    inside = mask.labels == 1
    assert props.area_mm2 == pytest.approx(mask.vertex_areas()[inside].sum())
    assert props.size == props.area_mm2
    # the pial precentral gyrus of fsaverage5: a few thousand mm² (full fsaverage: ~5000)
    assert 2_000 < props.area_mm2 < 10_000
    # the centroid is a vertex of the gyrus, on the lateral convexity around the central
    # sulcus: left, a little in front of the ear, high up
    assert any(np.allclose(props.centroid_mm, v) for v in mask.vertices[inside])
    x, y, z = props.centroid_mm
    assert -60 < x < -20 and -30 < y < 10 and 30 < z < 70
    # the box spans the gyrus's vertices, and holds the centroid
    np.testing.assert_allclose(props.bbox_mm[0], mask.vertices[inside].min(0))
    np.testing.assert_allclose(props.bbox_mm[1], mask.vertices[inside].max(0))
    lo, hi = np.array(props.bbox_mm)
    assert (lo <= props.centroid_mm).all() and (props.centroid_mm <= hi).all()
    # components of the mesh graph, largest first, adding up to the whole
    assert props.components[0].vertices > 0.9 * inside.sum()
    assert sum(c.vertices for c in props.components) == inside.sum()
    assert sum(c.area_mm2 for c in props.components) == pytest.approx(props.area_mm2)
    sizes = [c.size for c in props.components]
    assert sizes == sorted(sizes, reverse=True)


def test_a_bilateral_region_has_a_component_per_hemisphere() -> None:
    props = neuratlas.get_region("desikan-killiany", "Precentral").spatial_props("fsaverage5")
    sides = sorted(np.sign(c.centroid_mm[0]) for c in props.components[:2])
    assert sides == [-1, 1]  # no mesh edge joins the hemispheres
    left = neuratlas.get_region("desikan-killiany", "Precentral - left hemisphere")
    right = neuratlas.get_region("desikan-killiany", "Precentral - right hemisphere")
    both = left.spatial_props("fsaverage5").area_mm2 + right.spatial_props("fsaverage5").area_mm2
    assert props.area_mm2 == pytest.approx(both)


def test_the_areas_of_all_regions_add_up_to_the_labelled_surface(dk) -> None:
    whole = dk.fetch()
    areas = whole.vertex_areas()
    labelled = areas[whole.labels > 0].sum()
    regions = [r for r in dk.parcellation.leaves if r.name in dk.indices]
    total = sum(r.spatial_props("fsaverage5").area_mm2 for r in regions)
    assert total == pytest.approx(labelled)
    # fsaverage5's pial surface: about 75,000 mm² per hemisphere
    assert 100_000 < areas.sum() < 200_000


def test_as_dict_of_surface_properties() -> None:
    props = neuratlas.get_region("desikan-killiany", "Insula - left hemisphere").spatial_props(
        "fsaverage5"
    )
    out = props.as_dict()
    assert set(out) == {"area_mm2", "centroid_mm", "bbox_mm", "components"}
    assert out["area_mm2"] == props.area_mm2
    assert set(out["components"][0]) == {"centroid_mm", "area_mm2", "vertices"}


def test_the_same_region_in_a_volume_space_has_a_volume() -> None:
    region = neuratlas.get_region("desikan-killiany", "Precentral - left hemisphere")
    volume_space = next(s for s in region.supported_spaces if not s.is_surface)
    props = region.spatial_props(volume_space)
    assert isinstance(props, SpatialProperties)
    assert (props.measure, props.unit) == ("volume", "mm³")
    mask = region.get_regional_mask(volume_space)
    assert isinstance(mask, nib.Nifti1Image)
    assert props.size == props.volume_mm3 == pytest.approx(np.asanyarray(mask.dataobj).sum())
