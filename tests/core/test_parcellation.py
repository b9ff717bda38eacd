"""Tests of neuratlas.core.parcellation on the toy atlas: versions, maps, summaries."""

from __future__ import annotations

import pytest

from neuratlas.errors import NotFoundError
from tests.toy_atlas import LEAVES, PARC_ID, SPACE_ID


@pytest.fixture
def parc(toy):
    return toy.parcellations[PARC_ID]


@pytest.fixture
def old(toy):
    return toy.parcellations["toy/parcellation/toy-v1"]


def test_identity(parc) -> None:
    assert parc.name == "Toy parcellation v2"
    assert parc.short_name == "toy v2"
    assert parc.key == "TOY_V2"
    assert parc.id == PARC_ID
    assert parc.species == "Homo sapiens"
    assert parc.spec_file.endswith("toy-v2.json")
    assert parc.lookup_names == ("Toy parcellation v2", "toy v2")


def test_versions(parc, old) -> None:
    assert parc.version == "2" and old.version == "1"
    assert parc.collection == old.collection == "Toy parcellation"
    assert parc.version_order > old.version_order
    assert parc.is_newest_version
    assert not old.is_newest_version


def test_root_of_its_own_tree(parc) -> None:
    assert parc.parcellation is parc
    assert parc.parent is None
    assert [c.name for c in parc.children] == ["cortex", "subcortex"]
    assert len(parc.leaves) == len(LEAVES)


def test_maps_and_spaces(parc, old, toy) -> None:
    assert {m.id for m in parc.maps} == {"toy/map/labelled", "toy/map/statistical"}
    assert [m.id for m in old.maps] == ["toy/map/remote"]
    assert [s.id for s in parc.spaces] == [SPACE_ID]
    assert parc.spaces[0] is toy.spaces[SPACE_ID]


def test_get_map(parc, toy) -> None:
    space = toy.spaces[0]
    assert parc.get_map().id == "toy/map/labelled"
    assert parc.get_map(space).id == "toy/map/labelled"
    assert parc.get_map("toy", "statistical").id == "toy/map/statistical"


def test_get_map_errors_list_what_is_available(old) -> None:
    with pytest.raises(NotFoundError) as info:
        old.get_map("toy", "statistical")
    assert "'Toy parcellation v1' has no statistical map in 'Toy space'" in str(info.value)
    assert "available: labelled in toy" in str(info.value)
    with pytest.raises(NotFoundError, match="unknown map type 'density'"):
        old.get_map("toy", "density")
    with pytest.raises(NotFoundError, match="no space matches 'bigbrain'"):
        old.get_map("bigbrain")


def test_citations(parc) -> None:
    assert parc.citations() == "[Doe et al. (2020)](https://doi.org/10/x)"


def test_repr_and_str(parc) -> None:
    assert repr(parc) == (
        "<Parcellation 'Toy parcellation v2' version 2: 5 leaf regions, mapped in toy>"
    )
    assert str(parc) == "Toy parcellation v2"


def test_regions_of_two_versions_are_distinct(parc, old) -> None:
    new_leaf = parc.get_region("Nucleus C")
    old_leaf = old.get_region("Nucleus C")
    assert new_leaf is not old_leaf
    assert new_leaf.id != old_leaf.id
    assert old_leaf.parcellation is old


def test_a_parcellation_is_a_region_root_equal_by_id(parc, toy_copy) -> None:
    from neuratlas.catalogue import Catalogue

    twin = Catalogue([toy_copy], strict=True).parcellations[PARC_ID]
    assert twin is not parc and twin == parc and hash(twin) == hash(parc)
    assert parc == "Toy parcellation v2"
    assert not parc.has_parent("cortex")
    assert parc.get_region("Nucleus C").has_parent(parc)
    assert parc.tree2str(max_depth=1).splitlines() == [parc.name, "├── cortex", "╰── subcortex"]


def test_versions_are_found_by_words_newest_first(toy) -> None:
    # "toy" fits both versions alike: they are one collection, the newest wins
    assert toy.parcellations["toy"].version == "2"
    assert [p.version for p in toy.parcellations.find("toy parcellation")] == ["2", "1"]
