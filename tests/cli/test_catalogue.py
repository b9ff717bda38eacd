"""Tests of neuratlas.cli.catalogue: listings and regions of the toy catalogue."""

from __future__ import annotations

import json

import nibabel as nib
import numpy as np
import pytest

from neuratlas.errors import AmbiguousError, NotFoundError
from tests.toy_atlas import AFFINE, LEAVES, SPACE_ID, label_volume


# --- listings ------------------------------------------------------------------------------
def test_atlases_json(run) -> None:
    result = run("atlases", "--json")
    assert result.exit_code == 0, result.output
    rows = json.loads(result.stdout)
    assert rows == [
        {
            "key": "TOY_ATLAS",
            "name": "Toy atlas",
            "species": "Homo sapiens",
            "spaces": 1,
            "parcellations": 2,
        }
    ]


def test_spaces_json(run) -> None:
    rows = json.loads(run("spaces", "--json").stdout)
    assert [r["id"] for r in rows] == [SPACE_ID]
    assert rows[0]["kind"] == "volume"


def test_parcellations_json_and_table(run) -> None:
    rows = json.loads(run("parcellations", "--json").stdout)
    by_version = {r["version"]: r for r in rows}
    assert by_version["2"]["leaves"] == len(LEAVES)
    assert by_version["2"]["maps"] == "labelled in toy, statistical in toy"
    table = run("parcellations")
    assert table.exit_code == 0
    assert "Toy parcellation v2" in table.stdout


def test_regions(run) -> None:
    rows = json.loads(run("regions", "toy", "--json").stdout)
    assert len(rows) == 9
    leaf = next(r for r in rows if r["name"] == "Area A - left hemisphere")
    assert leaf == {
        "name": "Area A - left hemisphere",
        "parent": "Area A",
        "leaf": True,
        "hemisphere": "left",
    }
    found = json.loads(run("regions", "toy", "--find", "right", "--json").stdout)
    assert {r["name"] for r in found} == {"Area A - right hemisphere", "Area B - right hemisphere"}
    tree = run("regions", "toy", "--tree")
    assert tree.exit_code == 0
    assert "    Area A - left hemisphere" in tree.stdout


def test_region_json_has_spatial_properties(run, toy) -> None:
    result = run("region", "toy", "Area B left", "--json")
    assert result.exit_code == 0, result.output
    info = json.loads(result.stdout)
    assert info["name"] == "Area B - left hemisphere"
    assert info["parent"] == "Area B"
    assert info["hemisphere"] == "left"
    assert info["spaces"] == ["Toy space"]
    count = (label_volume() == 3).sum()
    assert info["volume_mm3"] == pytest.approx(count * 8.0, abs=0.1)
    assert len(info["components"]) == 2
    ijk = np.argwhere(label_volume() == 3).mean(0)
    np.testing.assert_allclose(
        info["centroid_mm"], nib.affines.apply_affine(AFFINE, ijk), atol=0.01
    )


def test_region_human_output(run) -> None:
    result = run("region", "toy", "Nucleus C")
    assert result.exit_code == 0
    assert "volume_mm3" in result.stdout


def test_errors_propagate_in_process(run) -> None:
    result = run("region", "toy", "Area")
    assert isinstance(result.exception, AmbiguousError)
    result = run("regions", "nothing-like-this")
    assert isinstance(result.exception, NotFoundError)
