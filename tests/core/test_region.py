"""Tests of neuratlas.core.region on the toy atlas: hierarchy, lookup, masks, properties."""

from __future__ import annotations

import nibabel as nib
import numpy as np
import pytest

from neuratlas.core.region import Region
from neuratlas.errors import (
    AmbiguousError,
    ArgumentError,
    ArgumentTypeError,
    ImageError,
    NotFoundError,
)
from neuratlas.locations.pointcloud import PointCloud
from tests.toy_atlas import AFFINE, LEAVES, label_volume

VOXEL_MM3 = abs(np.linalg.det(AFFINE[:3, :3]))


@pytest.fixture
def parc(toy):
    return toy.parcellations["toy"]


def label_of(name: str) -> int:
    return LEAVES.index(name) + 1


# --- hierarchy invariants ---------------------------------------------------------------------
def test_parent_children_consistency(parc) -> None:
    for region in parc:
        for child in region.children:
            assert child.parent is region
        if region.parent is not None:
            assert region in region.parent.children
    assert parc.parent is None


def test_leaves_are_leaves(parc) -> None:
    assert sorted(r.name for r in parc.leaves) == sorted(LEAVES)
    for leaf in parc.leaves:
        assert leaf.is_leaf
        assert leaf.children == ()
        assert leaf.leaves == [leaf]
        assert leaf.descendants == []


def test_descendants_depth_first(parc) -> None:
    names = [r.name for r in parc.descendants]
    assert names == [
        "cortex",
        "Area A",
        "Area A - left hemisphere",
        "Area A - right hemisphere",
        "Area B",
        "Area B - left hemisphere",
        "Area B - right hemisphere",
        "subcortex",
        "Nucleus C",
    ]
    assert next(r.name for r in parc) == parc.name
    assert len(list(parc)) == len(names) + 1


def test_ancestors_end_at_the_parcellation(parc) -> None:
    leaf = parc.get_region("Area A - left hemisphere")
    assert [r.name for r in leaf.ancestors] == ["Area A", "cortex", parc.name]
    assert leaf.ancestors[-1] is parc
    for region in parc.descendants:
        assert region.ancestors[-1] is parc
        assert region.parcellation is parc
    assert parc.ancestors == []


def test_unique_names(parc) -> None:
    names = [r.name for r in parc]
    assert len(names) == len(set(names))


def test_includes_and_contains(parc) -> None:
    area = parc.get_region("Area A")
    left = parc.get_region("Area A - left hemisphere")
    other = parc.get_region("Area B - left hemisphere")
    assert area.includes(left) and area.includes(area)
    assert not left.includes(area)
    assert not area.includes(other)
    assert left in area and area in area and other not in area
    assert left in parc


def test_hemisphere(parc) -> None:
    assert parc.get_region("Area A - left hemisphere").hemisphere == "left"
    assert parc.get_region("Area B - right hemisphere").hemisphere == "right"
    assert parc.get_region("Area A").hemisphere is None
    assert parc.get_region("Nucleus C").hemisphere is None


def test_hemisphere_inherited_from_ancestor() -> None:
    inner = Region("V1")
    Region("Left hemisphere", children=[Region("occipital", children=[inner])])
    assert inner.hemisphere == "left"
    assert Region("Leftover").hemisphere is None  # a whole word only


def test_identity(parc) -> None:
    leaf = parc.get_region("Nucleus C")
    assert leaf.id == f"{parc.id}#Nucleus C"
    assert leaf.key == "NUCLEUS_C"
    assert str(leaf) == "Nucleus C"
    assert repr(leaf) == "<Region 'Nucleus C' in 'Toy parcellation v2' (leaf)>"
    assert "(2 leaves)" in repr(parc.get_region("Area A"))
    assert leaf.rgb == (10, 10, 200)
    assert parc.get_region("cortex").rgb is None


def test_tree(parc) -> None:
    text = parc.get_region("cortex").tree()
    assert text.splitlines()[0] == "cortex"
    assert "    Area A - left hemisphere" in text.splitlines()
    shallow = parc.tree(max_depth=1)
    assert shallow.splitlines() == [parc.name, "  cortex", "  subcortex"]


# --- find and get_region ----------------------------------------------------------------------
def test_find_is_best_first(parc) -> None:
    names = [r.name for r in parc.find("area a")]
    assert names[0] == "Area A"
    # every word is a substring ("a" occurs in "Area B" too), the area's own names rank first
    assert set(names[:3]) == {"Area A", "Area A - left hemisphere", "Area A - right hemisphere"}
    assert parc.find("nothing like this") == []


def test_find_lists_equal_ranks_from_the_top_of_the_tree(parc) -> None:
    names = [r.name for r in parc.find("area")]
    assert names == [
        "Area A",
        "Area B",
        "Area A - left hemisphere",
        "Area A - right hemisphere",
        "Area B - left hemisphere",
        "Area B - right hemisphere",
    ]


def test_hemisphere_words_alone_find_nothing_at_the_root(parc) -> None:
    # they would fit every lateralised region alike: not a match (see neuratlas.matching)
    for query in ("left", "left hemisphere", "hemisphere", "RH"):
        assert parc.find(query) == [], query


def test_find_below_a_region_only(parc) -> None:
    area = parc.get_region("Area B")
    assert {r.name for r in area.find("left")} == {"Area B - left hemisphere"}


def test_find_returns_a_copy(parc) -> None:
    hits = parc.find("area")
    hits.clear()
    assert parc.find("area")


def test_get_region_exact_wins(parc) -> None:
    assert parc.get_region("Area A").name == "Area A"
    assert parc.get_region("area_a").name == "Area A"
    assert parc.get_region("AREA A - LEFT HEMISPHERE").name == "Area A - left hemisphere"


def test_get_region_unique_match(parc) -> None:
    assert parc.get_region("nucleus").name == "Nucleus C"
    assert parc.get_region("area a left").name == "Area A - left hemisphere"
    assert parc.get_region("B right").name == "Area B - right hemisphere"
    assert parc.get_region("/^sub/").name == "subcortex"


def test_get_region_area_versus_its_leaves(parc) -> None:
    # "Area A" names the area exactly; its leaves also match but lose
    assert parc.get_region("area a").is_leaf is False


def test_get_region_ambiguous(parc) -> None:
    with pytest.raises(AmbiguousError) as info:
        parc.get_region("Area")
    assert set(info.value.candidates) == {"Area A", "Area B"}
    assert "'Area' matches 2 regions of 'Toy parcellation v2' equally well" in str(info.value)
    with pytest.raises(AmbiguousError) as info:
        parc.get_region("area left")
    assert info.value.candidates == ["Area A - left hemisphere", "Area B - left hemisphere"]


def test_get_region_hemisphere_alone_is_not_a_region(parc) -> None:
    with pytest.raises(NotFoundError) as info:
        parc.get_region("left hemisphere")
    assert str(info.value.message) == (
        "'left hemisphere' names only a hemisphere, not a region of 'Toy parcellation v2'"
    )
    assert info.value.hint == "add the region's name, e.g. 'Area A - left hemisphere'"


def test_get_region_hemisphere_alone_names_the_hemisphere_of_a_subtree(parc) -> None:
    area = parc.get_region("Area B")
    assert area.get_region("right").name == "Area B - right hemisphere"
    assert area.get_region("RH").name == "Area B - right hemisphere"
    assert [r.name for r in area.find("left hemisphere")] == ["Area B - left hemisphere"]
    with pytest.raises(NotFoundError, match="names only a hemisphere"):
        parc.get_region("Nucleus C").get_region("left")


def test_get_region_by_id_and_key(parc) -> None:
    leaf = parc.get_region("Area A - left hemisphere")
    assert parc.get_region(leaf.id) is leaf
    assert parc.get_region(leaf.key) is leaf
    with pytest.raises(NotFoundError):
        parc.get_region(f"{parc.id}#Area Z")


def test_get_region_and_find_of_the_wrong_type(parc) -> None:
    with pytest.raises(ArgumentTypeError, match="not int") as info:
        parc.get_region(3)
    assert "hIP1 left" in info.value.hint
    with pytest.raises(ArgumentTypeError, match="regions are found by a string, not NoneType"):
        parc.find(None)


def test_get_region_tie_resolved_by_containing_region(parc) -> None:
    # both hemispheres of Area B tie for "/Area B -/", nothing contains both: ambiguous
    with pytest.raises(AmbiguousError):
        parc.get_region("/Area B -/")
    # regex scores are equal for all matches; "cortex" contains every other match
    assert parc.get_region("/^(cortex|Area A)/").name == "cortex"


def test_get_region_not_found_with_suggestions(parc) -> None:
    with pytest.raises(NotFoundError) as info:
        parc.get_region("Nucleus D")
    assert "no region of 'Toy parcellation v2' matches 'Nucleus D'" in str(info.value)
    assert "Nucleus C" in info.value.suggestions
    assert "did you mean" in str(info.value)


def test_get_region_by_object(parc, toy) -> None:
    leaf = parc.get_region("Nucleus C")
    assert parc.get_region(leaf) is leaf
    other = toy.parcellations["toy v1"].get_region("Nucleus C")
    with pytest.raises(NotFoundError, match="'Nucleus C' is not part of 'Toy parcellation v2'"):
        parc.get_region(other)
    with pytest.raises(NotFoundError, match="is not part of 'Area A'"):
        parc.get_region("Area A").get_region(leaf)


def test_get_region_from_a_subtree(parc) -> None:
    area = parc.get_region("Area A")
    assert area.get_region("left").name == "Area A - left hemisphere"
    with pytest.raises(NotFoundError):
        area.get_region("Nucleus")


# --- masks -----------------------------------------------------------------------------------
@pytest.mark.parametrize("name", LEAVES)
def test_leaf_mask_equals_numpy(parc, name: str) -> None:
    mask = parc.get_region(name).get_regional_mask("toy")
    expected = (label_volume() == label_of(name)).astype(np.uint8)
    data = np.asanyarray(mask.dataobj)
    assert data.dtype == np.uint8
    np.testing.assert_array_equal(data, expected)
    np.testing.assert_allclose(mask.affine, AFFINE)


@pytest.mark.parametrize("name", ["Area A", "Area B", "cortex", "subcortex"])
def test_non_leaf_mask_is_union_of_descendants(parc, name: str) -> None:
    region = parc.get_region(name)
    labels = [label_of(leaf.name) for leaf in region.leaves]
    expected = np.isin(label_volume(), labels).astype(np.uint8)
    np.testing.assert_array_equal(np.asanyarray(region.get_regional_mask("toy").dataobj), expected)


def test_whole_parcellation_mask(parc) -> None:
    mask = np.asanyarray(parc.get_regional_mask("toy").dataobj)
    np.testing.assert_array_equal(mask, (label_volume() > 0).astype(np.uint8))


def test_statistical_mask_is_where_probability_is_positive(parc) -> None:
    from tests.toy_atlas import probability_volumes

    region = parc.get_region("Area A - right hemisphere")
    mask = np.asanyarray(region.get_regional_mask("toy", "statistical").dataobj)
    expected = probability_volumes()[..., LEAVES.index(region.name)] > 0
    np.testing.assert_array_equal(mask.astype(bool), expected)


def test_regional_map_statistical(parc) -> None:
    from tests.toy_atlas import probability_volumes

    img = parc.get_region("Nucleus C").get_regional_map("toy")
    expected = probability_volumes()[..., 4].astype(np.float32) * np.float32(0.01)
    np.testing.assert_allclose(np.asanyarray(img.dataobj), expected, rtol=1e-6)


def test_regional_mask_unknown_space(parc) -> None:
    with pytest.raises(NotFoundError, match="no space matches 'MNI'"):
        parc.get_region("Area A").get_regional_mask("MNI")


# --- spatial properties ------------------------------------------------------------------------
def centre_mm(mask: np.ndarray) -> np.ndarray:
    return nib.affines.apply_affine(AFFINE, np.argwhere(mask).mean(0))


@pytest.mark.parametrize("name", [*LEAVES, "Area A", "cortex"])
def test_spatial_props_volume_and_centroid(parc, name: str) -> None:
    region = parc.get_region(name)
    mask = np.isin(label_volume(), [label_of(leaf.name) for leaf in region.leaves])
    props = region.spatial_props("toy")
    assert props.volume_mm3 == pytest.approx(mask.sum() * VOXEL_MM3)
    np.testing.assert_allclose(props.centroid_mm, centre_mm(mask), atol=1e-9)
    ijk = np.argwhere(mask)
    lo = nib.affines.apply_affine(AFFINE, ijk.min(0))
    hi = nib.affines.apply_affine(AFFINE, ijk.max(0))
    np.testing.assert_allclose(props.bbox_mm[0], lo)
    np.testing.assert_allclose(props.bbox_mm[1], hi)


def test_two_components_for_area_b_left(parc) -> None:
    props = parc.get_region("Area B - left hemisphere").spatial_props("toy")
    assert len(props.components) == 2
    big, small = props.components
    labels = label_volume()
    first = np.zeros_like(labels, dtype=bool)
    first[2:6, 14:20, 8:14] = True
    second = np.zeros_like(labels, dtype=bool)
    second[7:9, 21:23, 10:12] = True
    assert big.voxels == first.sum() and small.voxels == second.sum()
    assert big.volume_mm3 == pytest.approx(first.sum() * VOXEL_MM3)
    np.testing.assert_allclose(big.centroid_mm, centre_mm(first))
    np.testing.assert_allclose(small.centroid_mm, centre_mm(second))
    assert sum(c.voxels for c in props.components) * VOXEL_MM3 == pytest.approx(props.volume_mm3)


def test_one_component_for_each_hemisphere_of_area_a(parc) -> None:
    assert len(parc.get_region("Area A - left hemisphere").spatial_props("toy").components) == 1
    assert len(parc.get_region("Area A").spatial_props("toy").components) == 2


def test_spatial_props_as_dict(parc) -> None:
    props = parc.get_region("Nucleus C").spatial_props("toy")
    out = props.as_dict()
    assert out["volume_mm3"] == props.volume_mm3
    assert len(out["components"]) == 1
    assert out["bbox_mm"][0] == list(props.bbox_mm[0])


# --- supported spaces ------------------------------------------------------------------------
def test_supported_spaces(parc, toy) -> None:
    toy_space = toy.spaces["toy"]
    assert parc.get_region("Nucleus C").supported_spaces == [toy_space]
    assert parc.get_region("cortex").supported_spaces == [toy_space]
    assert parc.supported_spaces == [toy_space]


def test_unmapped_region_has_no_space() -> None:
    lonely = Region("lonely")
    parent = Region("root", children=[lonely])
    assert parent.parcellation is parent
    assert lonely.parcellation is parent


def test_spatial_props_of_empty_mask() -> None:
    from neuratlas.volumes.properties import spatial_properties

    with pytest.raises(ImageError, match="the region mask is empty"):
        spatial_properties(nib.Nifti1Image(np.zeros((3, 3, 3), np.uint8), np.eye(4)))


def test_mask_defaults_to_the_labelled_map_else_the_statistical_one(toy, toy_copy) -> None:
    from neuratlas.catalogue import Catalogue

    region = toy.parcellations["toy v2"].get_region("Area A left")
    default = np.asanyarray(region.get_regional_mask("toy").dataobj)
    labelled = np.asanyarray(region.get_regional_mask("toy", "labelled").dataobj)
    assert np.array_equal(default, labelled)

    (toy_copy / "maps" / "toy-labelled.json").unlink()  # leave only the statistical map
    only_stats = Catalogue([toy_copy], strict=True).parcellations["toy v2"]
    region = only_stats.get_region("Area A left")
    default = np.asanyarray(region.get_regional_mask("toy").dataobj)
    statistical = np.asanyarray(region.get_regional_mask("toy", "statistical").dataobj)
    assert np.array_equal(default, statistical) and not np.array_equal(default, labelled)
    assert region.spatial_props("toy").volume_mm3 == statistical.sum() * 8.0


# --- the siibra names: equality, has_parent, matches, tree2str, centroids, thresholds ----------
def test_equality_with_regions_by_id(parc, toy, toy_copy) -> None:
    from neuratlas.catalogue import Catalogue

    leaf = parc.get_region("Nucleus C")
    twin = Catalogue([toy_copy], strict=True).parcellations["toy v2"].get_region("Nucleus C")
    assert twin is not leaf and twin == leaf and hash(twin) == hash(leaf)
    old = toy.parcellations["toy v1"].get_region("Nucleus C")
    assert old != leaf  # same name, other parcellation: another @id
    assert leaf != parc.get_region("Area A")
    assert {leaf, twin} == {leaf}


def test_equality_with_a_string_is_with_the_name(parc) -> None:
    leaf = parc.get_region("Area A - left hemisphere")
    assert leaf == "Area A - left hemisphere"
    assert "Area A - left hemisphere" == leaf  # noqa: SIM300 (the reflected comparison)
    assert leaf != "area a left"  # words are for matches() and get_region()
    # equal objects hash alike: the name finds the region in sets and dicts ...
    assert hash(leaf) == hash("Area A - left hemisphere")
    assert "Area A - left hemisphere" in {leaf}
    assert {leaf: 1}["Area A - left hemisphere"] == 1
    # ... so the key and the @id, which hash differently, are not equal to it
    assert leaf != leaf.key and leaf != leaf.id
    assert leaf.matches(leaf.key) and leaf.matches(leaf.id)
    assert leaf != 3 and leaf is not None


def test_id_of_a_bare_tree() -> None:
    leaf = Region("leaf")
    root = Region("root", children=[leaf])
    assert root.id == "root"
    assert leaf.id == "root#leaf"
    assert leaf == Region("root", children=[Region("leaf")]).children[0]


def test_has_parent(parc) -> None:
    leaf = parc.get_region("Area A - left hemisphere")
    assert leaf.has_parent(parc.get_region("Area A"))
    assert leaf.has_parent(parc.get_region("cortex"))  # any ancestor, as in siibra
    assert leaf.has_parent(parc)
    assert leaf.has_parent("Area A") and leaf.has_parent("AREA_A")
    assert leaf.has_parent(f"{parc.id}#cortex")
    assert not leaf.has_parent("area")  # names, not words
    assert not leaf.has_parent(parc.get_region("Area B"))
    assert not leaf.has_parent(leaf)
    assert not parc.has_parent("cortex")
    with pytest.raises(ArgumentTypeError, match="has_parent takes a Region or a region name"):
        leaf.has_parent(1)


def test_matches(parc) -> None:
    import re

    leaf = parc.get_region("Area A - left hemisphere")
    assert leaf.matches(leaf) and not leaf.matches(parc.get_region("Area A"))
    assert leaf.matches("Area A - left hemisphere")
    assert leaf.matches("area a left") and leaf.matches("a left") and leaf.matches("AREA_A_L")
    assert not leaf.matches("area a right")
    assert not leaf.matches("left")  # a hemisphere alone fits no region
    assert leaf.matches("/^Area A/") and not leaf.matches("/^area a/")
    assert leaf.matches(re.compile("left hemisphere$"))
    # matches agrees with find
    for query in ("area", "area a", "left", "A left", "/B/", "nucleus"):
        assert {r.name for r in parc.find(query)} == {r.name for r in parc if r.matches(query)}
    with pytest.raises(ArgumentTypeError, match="not float"):
        leaf.matches(1.5)


def test_tree2str_draws_branches_as_siibra(parc) -> None:
    assert parc.get_region("cortex").tree2str() == "\n".join(
        [
            "cortex",
            "├── Area A",
            "│   ├── Area A - left hemisphere",
            "│   ╰── Area A - right hemisphere",
            "╰── Area B",
            "    ├── Area B - left hemisphere",
            "    ╰── Area B - right hemisphere",
        ]
    )
    assert parc.tree2str(max_depth=1).splitlines() == [parc.name, "├── cortex", "╰── subcortex"]
    assert parc.get_region("Nucleus C").tree2str() == "Nucleus C"


def test_compute_centroids_one_per_component(parc) -> None:
    centroids = parc.get_region("Area B - left hemisphere").compute_centroids("toy")
    props = parc.get_region("Area B - left hemisphere").spatial_props("toy")
    assert isinstance(centroids, PointCloud)  # as siibra returns them
    assert centroids.space is parc.references.space("toy")
    np.testing.assert_allclose(centroids.coordinates, [c.centroid_mm for c in props.components])
    assert len(centroids) == 2
    first = np.zeros(label_volume().shape, dtype=bool)
    first[2:6, 14:20, 8:14] = True
    np.testing.assert_allclose(centroids.coordinates[0], centre_mm(first))
    assert len(parc.get_region("Area A").compute_centroids("toy")) == 2


def test_statistical_mask_above_a_threshold(parc) -> None:
    from tests.toy_atlas import probability_volumes

    region = parc.get_region("Area A - right hemisphere")
    probability = probability_volumes()[..., LEAVES.index(region.name)] * 0.01
    # a threshold without a map type asks for the statistical map
    mask = np.asanyarray(region.get_regional_mask("toy", threshold=0.5).dataobj)
    np.testing.assert_array_equal(mask.astype(bool), probability > 0.5)
    assert 0 < mask.sum() < (probability > 0).sum()
    props = region.spatial_props("toy", threshold=0.5)
    assert props.volume_mm3 == pytest.approx(mask.sum() * VOXEL_MM3)
    with pytest.raises(ArgumentError, match="labelled map: a threshold needs a statistical map"):
        region.get_regional_mask("toy", "labelled", threshold=0.5)


def test_mask_in_a_space_without_a_map_says_where_the_region_is_mapped(toy, toy_copy) -> None:
    import json

    from neuratlas.catalogue import Catalogue

    # a second space in which the toy parcellation has no map
    spec = json.loads((toy_copy / "spaces" / "toy.json").read_text())
    spec.update({"@id": "toy/space/other", "name": "Other space", "shortName": "other"})
    (toy_copy / "spaces" / "other.json").write_text(json.dumps(spec))
    region = Catalogue([toy_copy], strict=True).parcellations["toy v2"].get_region("Nucleus C")
    with pytest.raises(NotFoundError) as info:
        region.get_regional_mask("other")
    assert info.value.message == (
        "'Toy parcellation v2' has no labelled or statistical map in 'Other space' "
        "to make a mask of 'Nucleus C' from"
    )
    assert info.value.hint == "use a space in which it is mapped: Toy space"
    with pytest.raises(NotFoundError, match="no statistical map in 'Other space'"):
        region.get_regional_mask("other", threshold=0.5)


def test_mask_in_mni152_names_the_space_of_the_embedded_maps() -> None:
    import neuratlas

    region = neuratlas.get_region("juelich", "hIP1 left")
    with pytest.raises(NotFoundError) as info:
        region.get_regional_mask("mni152")  # ICBM 2009c: Juelich is mapped in NLin6 only
    assert "has no labelled or statistical map in 'MNI 152 ICBM 2009c" in info.value.message
    assert info.value.hint == (
        "use a space in which it is mapped: MNI 152 Nonlinear 6th Generation Asymmetric (FSL)"
    )


# --- aliases -----------------------------------------------------------------------------------
def _aliased_tree() -> Region:
    area = Region(
        "Visual cortex V1 BA17",
        children=[
            Region("Visual cortex V1 BA17 - left hemisphere"),
            Region("Visual cortex V1 BA17 - right hemisphere"),
        ],
        aliases=["hOc1", "Area hOc1 (V1, 17, CalcS)"],
    )
    return Region("toy", children=[area, Region("Visual cortex V2 BA18", aliases=["hOc2"])])


def test_an_alias_finds_its_region_as_exactly_as_its_name() -> None:
    root = _aliased_tree()
    assert root.get_region("hOc1").name == "Visual cortex V1 BA17"
    assert root.get_region("area hoc1 (v1, 17, calcs)").name == "Visual cortex V1 BA17"
    assert root.get_region("hOc2").name == "Visual cortex V2 BA18"
    assert root.get_region("hOc1").matches("hOc1")


def test_the_hemispheres_of_an_aliased_region_are_found_by_its_aliases() -> None:
    root = _aliased_tree()
    assert root.get_region("hOc1 left").name == "Visual cortex V1 BA17 - left hemisphere"
    assert root.get_region("hOc1 rh").name == "Visual cortex V1 BA17 - right hemisphere"
    left = root.get_region("hOc1 left")
    assert left.names == (left.name, "hOc1 left", "Area hOc1 (V1, 17, CalcS) left")


def test_find_ranks_by_the_best_of_the_names_and_suggests_aliases() -> None:
    root = _aliased_tree()
    assert [r.name for r in root.find("hOc")][:2] == [
        "Visual cortex V1 BA17",
        "Visual cortex V2 BA18",
    ]
    with pytest.raises(NotFoundError) as caught:
        root.get_region("hOc3")
    assert set(caught.value.suggestions) & {"hOc1", "hOc2"}


def test_the_juelich_atlas_knows_siibras_area_names() -> None:
    import neuratlas

    for query, expected in [
        ("hOc1", "Visual cortex V1 BA17"),
        ("hOc1 left", "Visual cortex V1 BA17 - left hemisphere"),
        ("Area 44 (IFG) right", "Broca's area BA44 - right hemisphere"),
        ("Area hIP1 (IPS)", "Anterior intra-parietal sulcus hIP1"),
        ("CA", "Hippocampus cornu ammonis"),
    ]:
        assert neuratlas.get_region("juelich", query).name == expected
