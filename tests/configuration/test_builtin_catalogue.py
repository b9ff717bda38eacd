"""The embedded catalogue loaded through neuratlas itself: real data, end to end."""

from __future__ import annotations

import nibabel as nib
import numpy as np
import pytest

import neuratlas
from neuratlas.catalogue import Catalogue
from neuratlas.configuration.loader import BUILTIN
from neuratlas.core.derived import maximum_probability_values
from neuratlas.core.map_index import MapType
from neuratlas.volumes.surfaces import Mesh


@pytest.fixture(scope="module")
def builtin() -> Catalogue:
    return Catalogue([BUILTIN], strict=True)


def test_everything_loads_strictly(builtin: Catalogue) -> None:
    assert len(builtin.spaces) == 6  # five human (two surfaces), the Allen mouse CCFv3
    assert len(builtin.parcellations) >= 15
    assert len(builtin.atlases) == 2
    maps = list(builtin.maps)
    assert all(m.space in builtin.spaces and m.parcellation in builtin.parcellations for m in maps)
    # each parcellation in exactly one atlas, of its species
    owners = [a for p in builtin.parcellations for a in builtin.atlases if p in a.parcellations]
    assert len(owners) == len(builtin.parcellations)
    assert all(
        a.species == p.species
        for p in builtin.parcellations
        for a in builtin.atlases
        if p in a.parcellations
    )


def test_hierarchies_are_trees_with_mapped_leaves(builtin: Catalogue) -> None:
    for parc in builtin.parcellations:
        names = [r.name for r in parc.descendants]
        assert len(names) == len(set(names)), parc.name
        mapped = {name for m in parc.maps for name in m.indices}
        for region in parc.descendants:
            assert region.parent is not None and region in region.parent.children
            assert region.ancestors[-1] is parc
            assert "_" not in region.name
            assert region.rgb is None or len(region.rgb) == 3
        for leaf in parc.leaves:
            assert leaf.name in mapped, (parc.name, leaf.name)
            if leaf.name.endswith(" - left hemisphere"):
                assert leaf.hemisphere == "left"
            if leaf.name.endswith(" - right hemisphere"):
                assert leaf.hemisphere == "right"
        assert any(not child.is_leaf for child in parc.children), f"{parc.name} is flat"


def test_every_template_can_be_fetched(builtin: Catalogue) -> None:
    # the Allen CCF volumes are downloaded on first use: tests/core/test_mouse_atlas.py
    # fetches them from a local server
    for space in builtin.spaces:
        if space.species == "Mus musculus":
            continue
        for volume in space.volumes:
            item = volume.fetch()
            if space.is_surface:
                per_hemisphere = {"fsaverage5": 10242, "fs_LR 32k": 32492}[space.name]
                assert isinstance(item, Mesh) and item.n_vertices == 2 * per_hemisphere
            else:
                assert isinstance(item, nib.Nifti1Image) and item.ndim == 3


@pytest.mark.parametrize(
    ("parcellation", "region"),
    [
        ("AAL3", "Hippocampus left"),
        ("AICHA", "/^G Frontal Sup-1 - left/"),
        ("Desikan-Killiany", "precentral right"),
        ("HCPex", "Primary Visual Cortex left"),
        ("Talairach gyri", "Precentral Gyrus"),
        ("Neuromorphometrics", "/Hippocampus - right/"),
    ],
)
def test_labelled_masks_and_properties_match_numpy(builtin, parcellation, region) -> None:
    parc = builtin.parcellations[parcellation]
    found = parc.get_region(region)
    the_map = next(m for m in parc.maps if m.maptype is MapType.LABELLED and not m.is_surface)
    source = nib.load(the_map.volumes[0].path())
    labels = np.asanyarray(source.dataobj)
    wanted = [i.label for r in found for i in the_map.indices.get(r.name, [])]
    expected = np.isin(labels, wanted)
    mask = the_map.fetch(region=found)
    assert np.array_equal(np.asanyarray(mask.dataobj).astype(bool), expected)
    np.testing.assert_allclose(mask.affine, source.affine)

    props = found.spatial_props(the_map.space)
    voxel = abs(np.linalg.det(source.affine[:3, :3]))
    assert props.volume_mm3 == pytest.approx(expected.sum() * voxel)
    centroid = nib.affines.apply_affine(source.affine, np.argwhere(expected).mean(0))
    np.testing.assert_allclose(props.centroid_mm, centroid, atol=1e-6)


def test_desikan_killiany_on_the_surface(builtin: Catalogue) -> None:
    the_map = builtin.get_map("Desikan-Killiany", "fsaverage5", "labelled")
    mesh = the_map.fetch()
    assert mesh.n_vertices == 20484 and mesh.labels is not None
    left = the_map.fetch(region="precentral left")
    assert set(np.unique(left.labels)) == {0, 1}
    assert set(mesh.hemispheres[left.labels == 1]) == {"left"}
    one = the_map.fetch(fragment="right")
    assert one.n_vertices == 10242


def test_find_regions_across_parcellations() -> None:
    hits = neuratlas.find_regions("hippocampus left")
    parcellations = {r.parcellation.short_name for r in hits}
    assert len(parcellations) >= 4, parcellations
    assert all(r.hemisphere in ("left", None) for r in hits)


def test_versions_of_aal_newest_first(builtin: Catalogue) -> None:
    assert builtin.parcellations["aal"].version == "3"
    assert builtin.parcellations["aal 1"].version == "1"


def test_a_real_region_resampled_to_2mm(builtin: Catalogue) -> None:
    the_map = builtin.get_map("AAL3", None, "labelled")
    fine = the_map.fetch(region="Hippocampus left")
    coarse = the_map.fetch(region="Hippocampus left", resolution_mm=2.0)
    assert np.allclose(np.sqrt((coarse.affine[:3, :3] ** 2).sum(0)), 2.0)
    ratio = np.asanyarray(coarse.dataobj).sum() * 8 / np.asanyarray(fine.dataobj).sum()
    assert 0.8 < ratio < 1.25  # nearest neighbour keeps the volume roughly


@pytest.mark.slow  # decodes the 113-volume Harvard-Oxford file twice (about 8 s)
def test_thresholded_harvard_oxford_maps_follow_fsls_rule(builtin: Catalogue) -> None:
    statistical = builtin.get_map("ho subcortical", "MNI152 NLin6", "statistical")
    source = nib.load(statistical.volumes[0].path())
    regions = sorted(statistical.regions, key=lambda name: statistical.indices[name][0].z)
    zs = [statistical.indices[name][0].z for name in regions]
    percent = np.asanyarray(source.dataobj)[..., zs]  # uint8 percentages, in label order
    top, winner = percent.max(axis=3), percent.argmax(axis=3) + 1
    labelled_voxels = []
    for threshold in (0, 0.25, 0.5):
        the_map = builtin.get_map("ho subcortical", "MNI152 NLin6", threshold=threshold)
        assert [the_map.label_lut[k] for k in range(1, len(zs) + 1)] == regions
        img = the_map.fetch()
        np.testing.assert_allclose(img.affine, source.affine)
        # FSL's maxprob-thrN: the most probable region, where its probability is above N %
        expected = np.where(top > threshold * 100, winner, 0)
        np.testing.assert_array_equal(np.asanyarray(img.dataobj), expected)
        labelled_voxels.append(int((expected > 0).sum()))
        # and the probability of that region, as the statistical map gives it
        values = np.asanyarray(maximum_probability_values(statistical, threshold).dataobj)
        scaled = top.astype(np.float32) * np.float32(0.01)
        np.testing.assert_array_equal(values, np.where(expected > 0, scaled, np.float32(0)))
    assert labelled_voxels[0] > labelled_voxels[1] > labelled_voxels[2] > 0
