"""The Allen structure ontology from the API, against the one neuratlas ships.

The fake API serves structure graph 1 from the iblatlas package's copy of the Allen
ontology (a source independent of neuratlas's spec, which was built from it once),
nested as ``structure_graph_download/1.json`` answers.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator

import pytest

from neuratlas.allen.client import AllenClient
from neuratlas.allen.ontology import (
    CHANGE_KINDS,
    OntologyChange,
    Structure,
    compare_ontology,
    embedded_structures,
    structure_graph,
)
from neuratlas.errors import DatasetNotFoundError, NotFoundError, RMAError
from tests.allen.fake_allen_api import FakeAllenAPI, Reply, structure_rows
from tests.allen.fake_allen_api import structure_graph as nest

# Allen structure ids
ROOT, CA1, CA, HIP, CP = 997, 382, 375, 1080, 672


@pytest.fixture(scope="module")
def rows() -> list[dict]:
    return structure_rows()


def _serve(rows: list[dict]) -> Iterator[tuple[FakeAllenAPI, AllenClient]]:
    api = FakeAllenAPI([], structures=rows).start()
    try:
        with AllenClient(api.base_url, timeout=10.0, retries=1, backoff=0.0) as client:
            yield api, client
    finally:
        api.stop()


@pytest.fixture
def served(cache, rows) -> Iterator[tuple[FakeAllenAPI, AllenClient]]:
    yield from _serve(rows)


def test_structure_graph_is_flat_in_graph_order(served):
    _, client = served
    structures = structure_graph(client=client)
    assert len(structures) == 1327  # structure graph 1
    root = structures[0]
    assert (root.id, root.acronym, root.parent_structure_id) == (ROOT, "root", None)
    assert [s.graph_order for s in structures] == sorted(s.graph_order for s in structures)
    seen: set[int] = set()
    for structure in structures:  # parents come before their children
        assert structure.parent_structure_id is None or structure.parent_structure_id in seen
        seen.add(structure.id)
    ca1 = next(s for s in structures if s.id == CA1)
    assert ca1 == Structure(CA1, "CA1", "Field CA1", "7ED04B", CA, ca1.graph_order)


def test_the_answer_is_cached(served):
    api, client = served
    structure_graph(client=client)
    structure_graph(client=client)
    assert len(api.paths("structure_graph_download/1.json")) == 1


def test_the_embedded_ontology_is_the_apis(served):
    _, client = served
    assert compare_ontology(client=client) == []
    ours = embedded_structures()
    theirs = structure_graph(client=client)
    assert {s.id for s in ours} == {s.id for s in theirs}
    assert {(s.id, s.acronym, s.name, s.color_hex_triplet) for s in ours} == {
        (s.id, s.acronym, s.name, s.color_hex_triplet) for s in theirs
    }


def test_a_graph_built_from_the_embedded_ontology_reads_back_the_same(cache):
    ours = embedded_structures()
    rows = [
        {
            "id": s.id,
            "atlas_id": None,
            "ontology_id": 1,
            "acronym": s.acronym,
            "name": s.name,
            "color_hex_triplet": s.color_hex_triplet,
            "graph_order": s.graph_order,
            "st_level": None,
            "hemisphere_id": 3,
            "parent_structure_id": s.parent_structure_id,
        }
        for s in ours
    ]
    for _, client in _serve(rows):
        assert structure_graph(client=client) == ours


def test_differences_are_listed(cache, rows):
    changed = copy.deepcopy(rows)
    by_id = {row["id"]: row for row in changed}
    by_id[CA1]["name"] = "Field CA1 (renamed)"
    by_id[CP]["color_hex_triplet"] = "000000"
    by_id[CP]["acronym"] = "CPu"
    by_id[CA1]["parent_structure_id"] = HIP  # moved up one level
    parents = {row["parent_structure_id"] for row in changed}
    removed = next(
        row for row in changed if row["acronym"].startswith("CA2") and row["id"] not in parents
    )
    changed.remove(removed)
    added = {**by_id[CA1], "id": 123456789, "acronym": "NEW", "name": "A new structure"}
    added["graph_order"] = max(row["graph_order"] for row in changed) + 1
    changed.append(added)
    for _, client in _serve(changed):
        changes = compare_ontology(client=client)
    kinds = {(c.structure_id, c.kind) for c in changes}
    assert kinds == {
        (CA1, "name"),
        (CA1, "parent"),
        (CP, "acronym"),
        (CP, "colour"),
        (removed["id"], "removed"),
        (123456789, "added"),
    }
    cp_colour = next(c for c in changes if c.kind == "colour")
    assert cp_colour == OntologyChange(CP, "CPu", "colour", "98D6F9", "000000")
    moved = next(c for c in changes if c.kind == "parent")
    assert (moved.embedded, moved.api) == (str(CA), str(HIP))
    assert changes[-1].kind == "removed" and changes[-1].api is None
    assert {c.kind for c in changes} <= set(CHANGE_KINDS)


def test_refused_and_malformed_answers(served):
    api, client = served
    refusal = json.dumps({"success": False, "id": -1, "msg": "Data Access error"}).encode()
    api.add_fault(lambda r: Reply(body=refusal) if "structure_graph" in r.path else None)
    with pytest.raises(RMAError, match="refused"):
        structure_graph(client=client)
    with pytest.raises(RMAError, match="refused"):
        structure_graph(7, client=client)  # the fake has graph 1 only
    with pytest.raises(DatasetNotFoundError, match="structure graph"):
        structure_graph(-1, client=client)


@pytest.mark.parametrize(
    ("msg", "match"),
    [
        ([], "holds no structures"),
        ("oops", "holds no structures"),
        ([{"id": 997, "name": "root", "children": []}], "lacks a valid 'acronym'"),
        (
            [
                {
                    "id": 997,
                    "acronym": "root",
                    "name": "root",
                    "parent_structure_id": None,
                    "children": [
                        {"id": 8, "acronym": "grey", "name": "grey", "parent_structure_id": 5}
                    ],
                }
            ],
            "sits under 997 but names 5",
        ),
    ],
)
def test_malformed_graphs(served, msg, match):
    api, client = served
    body = json.dumps({"success": True, "id": 0, "msg": msg}).encode()
    api.add_fault(lambda r: Reply(body=body) if "structure_graph" in r.path else None)
    with pytest.raises(RMAError, match=match):
        structure_graph(client=client)


def test_nested_answer_format(rows):
    (root,) = nest(rows)
    assert set(root) == {
        "id",
        "atlas_id",
        "ontology_id",
        "acronym",
        "name",
        "color_hex_triplet",
        "graph_order",
        "st_level",
        "hemisphere_id",
        "parent_structure_id",
        "children",
    }
    assert [c["acronym"] for c in root["children"]] == [
        "grey",
        "fiber tracts",
        "VS",
        "grv",
        "retina",
    ]


def test_an_unknown_parcellation():
    with pytest.raises(NotFoundError):
        embedded_structures("no such parcellation")
