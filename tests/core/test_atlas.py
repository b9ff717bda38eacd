"""Tests of neuratlas.core.atlas on the toy atlas."""

from __future__ import annotations

import pytest

from neuratlas.errors import AmbiguousError, NotFoundError
from tests.toy_atlas import PARC_ID, SPACE_ID


@pytest.fixture
def atlas(toy):
    return toy.atlases["toy"]


def test_identity(atlas) -> None:
    assert atlas.name == "Toy atlas"
    assert atlas.id == "toy/atlas"
    assert atlas.key == "TOY_ATLAS"
    assert repr(atlas) == "<Atlas 'Toy atlas': 1 spaces, 2 parcellations>"


def test_tables_hold_catalogue_objects(atlas, toy) -> None:
    assert [s.id for s in atlas.spaces] == [SPACE_ID]
    assert atlas.spaces[0] is toy.spaces[0]
    assert [p.id for p in atlas.parcellations] == [PARC_ID, "toy/parcellation/toy-v1"]
    assert atlas.parcellations["toy v1"] is toy.parcellations["toy v1"]


def test_defaults_are_the_first_entries(atlas) -> None:
    assert atlas.get_parcellation().id == PARC_ID
    assert atlas.get_space().id == SPACE_ID
    assert atlas.get_parcellation("toy").version == "2"  # newest of the collection


def test_shortcuts(atlas) -> None:
    assert atlas.get_region("Area A left").name == "Area A - left hemisphere"
    assert atlas.get_region("Nucleus C", "toy v1").parcellation.version == "1"
    assert atlas.get_map().id == "toy/map/labelled"
    assert atlas.get_map("toy", maptype="statistical").id == "toy/map/statistical"
    assert atlas.get_map(parcellation="toy v1").id == "toy/map/remote"


def test_errors(atlas) -> None:
    with pytest.raises(NotFoundError, match="no parcellation matches 'julich'"):
        atlas.get_parcellation("julich")
    with pytest.raises(NotFoundError, match="no space matches 'colin27'"):
        atlas.get_space("colin27")
    with pytest.raises(AmbiguousError):
        atlas.get_region("Area")
    with pytest.raises(NotFoundError, match="has no statistical map"):
        atlas.get_map(parcellation="toy v1", maptype="statistical")
