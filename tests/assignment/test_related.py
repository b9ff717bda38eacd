"""Tests of neuratlas.assignment.related: regions of other parcellations and versions."""

from __future__ import annotations

import numpy as np
import pytest

import neuratlas
from tests.toy_atlas import label_volume


# --- related regions -------------------------------------------------------------------
@pytest.fixture
def toy_with_local_v1(toy_folder, tmp_path):
    """The toy configuration with version 1's map pointing to a local copy of the labels."""
    import json
    import shutil

    from neuratlas.catalogue import Catalogue

    folder = tmp_path / "toy"
    shutil.copytree(toy_folder, folder)
    spec_file = folder / "maps" / "toy-v1-remote.json"
    spec = json.loads(spec_file.read_text())
    spec["volumes"][0]["providers"]["nii"] = "../data/labels.nii.gz"
    spec_file.write_text(json.dumps(spec))
    return Catalogue([folder], strict=True)


def test_related_regions_of_an_identical_version_are_exact(toy_with_local_v1) -> None:
    region = toy_with_local_v1.parcellations["toy v2"].get_region("Area B left")
    relations = region.get_related_regions()
    assert [r.region.name for r in relations] == ["Area B - left hemisphere"]
    (relation,) = relations
    assert relation.region.parcellation.version == "1"
    assert relation.qualification == "EXACT"
    assert relation.intersection_over_union == pytest.approx(1.0)


def test_a_group_contains_its_leaves_in_the_other_version(toy_with_local_v1) -> None:
    area = toy_with_local_v1.parcellations["toy v2"].get_region("Area A")
    relations = {r.region.name: r for r in area.get_related_regions()}
    # its namesake in the other version is compared whole; the leaves are contained in it
    assert set(relations) == {"Area A", "Area A - left hemisphere", "Area A - right hemisphere"}
    assert relations["Area A"].qualification == "EXACT"
    labels = label_volume()
    for k, name in enumerate(("Area A - left hemisphere", "Area A - right hemisphere")):
        relation = relations[name]
        assert relation.qualification == "CONTAINS"
        assert relation.contains == pytest.approx(1.0)
        expected = (labels == k + 1).sum() / np.isin(labels, [1, 2]).sum()
        assert relation.contained == pytest.approx(expected)
        assert relation.intersection_over_union == pytest.approx(expected)


def test_an_unreachable_map_is_skipped_with_a_warning(toy, no_retry_waits) -> None:
    region = toy.parcellations["toy v2"].get_region("Area B left")
    with pytest.warns(UserWarning, match="skipped 'Toy remote map'"):
        assert region.get_related_regions() == []


@pytest.mark.parametrize(
    ("qualification", "contained", "contains"),
    [
        ("EXACT", 0.95, 0.92),
        ("CONTAINED", 0.95, 0.3),
        ("CONTAINS", 0.2, 0.9),
        ("OVERLAPS", 0.5, 0.5),
    ],
)
def test_qualification_rule(qualification: str, contained: float, contains: float) -> None:
    from neuratlas.assignment import qualify

    assert qualify(contained, contains) == qualification


def test_related_regions_on_the_embedded_atlases(juelich_statistical) -> None:

    hip1 = neuratlas.get_region("juelich", "hIP1 left")
    relations = hip1.get_related_regions()
    names = {r.region.parcellation.short_name for r in relations}
    assert {"AAL3", "HO cortical"} <= names, names
    top = relations[0]
    assert top.region.hemisphere == "left"
    # hIP1 lies in the intraparietal sulcus: the best match names the parietal lobe, the
    # supramarginal gyrus, or (Schaefer's parcels) the IPS
    assert any(w in top.region.name.lower() for w in ("parietal", "supramarginal", "ips")), top
    assert all(0 < r.intersection_over_union <= 1 for r in relations)
    assert all(
        r.qualification in {"EXACT", "CONTAINS", "CONTAINED", "OVERLAPS"} for r in relations
    )
    # Harvard-Oxford has three labelled maps (unthresholded, 25 %, 50 %): each region once
    found = [(r.region.parcellation.id, r.region.name, r.space.id) for r in relations]
    assert len(found) == len(set(found))


def test_a_region_mapped_on_a_surface_too_relates_through_its_volume() -> None:
    # Desikan-Killiany is mapped on fsaverage5 (meshes) and in MNI152 2009c (voxels):
    # relations come from the volume, and the surface map is skipped, not a crash
    region = neuratlas.get_region("desikan-killiany", "precentral left")
    assert any(space.is_surface for space in region.supported_spaces)
    relations = region.get_related_regions()
    assert relations and all(not r.space.is_surface for r in relations)
