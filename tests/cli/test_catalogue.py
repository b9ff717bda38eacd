"""Tests of neuratlas.cli.catalogue: listings and regions of the toy catalogue."""

from __future__ import annotations

import json
from dataclasses import dataclass

import nibabel as nib
import numpy as np
import pytest
from typer.testing import CliRunner

import neuratlas
from neuratlas.cli.catalogue import for_people, spatial_info
from neuratlas.cli.main import cli
from neuratlas.errors import AmbiguousError, DataUnavailableError, NotFoundError
from tests.toy_atlas import AFFINE, LEAVES, PARC_ID, SPACE_ID, label_volume


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
    # a hemisphere alone matches nothing (every region has one): name the area too
    found = json.loads(run("regions", "toy", "--find", "Area right", "--json").stdout)
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
    lines = result.stdout.splitlines()
    assert "hemisphere: –" in lines and "children: –" in lines
    volume = (label_volume() == 5).sum() * 8.0
    assert f"volume: {volume:,.0f} mm³" in lines
    assert "volume_mm3" not in result.stdout


def test_a_region_whose_map_cannot_be_fetched_still_shows_its_place(run, monkeypatch) -> None:
    from neuratlas.core.region import Region

    def offline(self, space):
        raise DataUnavailableError(
            "could not fetch http://example.org/annotation.nrrd: offline",
            hint="check the network connection",
        )

    monkeypatch.setattr(Region, "spatial_props", offline)
    result = run("region", "toy", "Nucleus C", "--json")
    assert result.exit_code == 0, result.output
    info = json.loads(result.stdout)
    assert info["name"] == "Nucleus C" and info["spaces"] == ["Toy space"]
    assert "annotation.nrrd" in info["spatial properties"]
    assert "warning: no spatial properties" in result.stderr
    assert "hint: check the network connection" in result.stderr
    # a space asked for by name: its spatial properties are the answer, so it fails
    asked = run("region", "toy", "Nucleus C", "--space", "Toy space")
    assert isinstance(asked.exception, DataUnavailableError)


def test_errors_propagate_in_process(run) -> None:
    result = run("region", "toy", "Area")
    assert isinstance(result.exception, AmbiguousError)
    result = run("regions", "nothing-like-this")
    assert isinstance(result.exception, NotFoundError)


def test_region_ambiguity_is_one_line_with_the_candidates(script) -> None:
    done = script("region", PARC_ID, "Area")
    assert done.returncode == 2
    error, hint = done.stderr.splitlines()
    assert error.startswith("error: ") and "'Area'" in error
    assert hint.startswith("hint: ") and "'Area A'" in hint and "'Area B'" in hint
    assert done.stdout == ""


# --- region on the embedded atlases: volumes, components, surfaces --------------------------
HIP1_LEFT = "Anterior intra-parietal sulcus hIP1 - left hemisphere"


def _invoke(*args: str):
    # not the run fixture: its catalogue is the toy one, the embedded atlases are not in it
    return CliRunner().invoke(cli, list(args))


@pytest.mark.slow  # the first to load the embedded map takes 3-9 s
def test_region_volume_and_components_for_people() -> None:
    result = _invoke("region", "JUELICH", HIP1_LEFT)
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    region = neuratlas.get_region("JUELICH", HIP1_LEFT)
    props = region.spatial_props("MNI152 NLin6")
    assert props.volume_mm3 > 1000  # so that the thousands separator shows
    assert f"volume: {props.volume_mm3:,.0f} mm³" in lines
    x, y, z = (round(v, 2) for v in props.centroid_mm)
    assert f"centroid: ({x:g}, {y:g}, {z:g}) mm" in lines
    assert any(line.startswith("bounding box: (") and line.endswith(") mm") for line in lines)
    # the components as a table: one row each, numbered, volumes with separators
    assert f"components ({len(props.components)})" in result.stdout
    rows = [[c.strip() for c in line.split("│")[1:-1]] for line in lines if "│" in line]
    assert [r[0] for r in rows] == [str(i) for i in range(1, len(props.components) + 1)]
    assert [r[2] for r in rows] == [f"{c.volume_mm3:,.0f}" for c in props.components]
    assert "{'centroid_mm'" not in result.stdout


@dataclass
class _SurfaceComponent:
    centroid_mm: tuple[float, float, float]
    area_mm2: float


@dataclass
class _SurfaceProps:
    """What surface spatial properties offer: an area instead of a volume, no bounding box."""

    area_mm2: float
    centroid_mm: tuple[float, float, float]
    components: tuple[_SurfaceComponent, ...]


def test_surface_properties_show_an_area() -> None:
    props = _SurfaceProps(
        2345.678, (-38.123, -12.5, 51.0), (_SurfaceComponent((-38.1, -12.5, 51.0), 2345.678),)
    )
    info = spatial_info(props)
    assert info == {
        "area_mm2": 2345.7,
        "centroid_mm": [-38.12, -12.5, 51.0],
        "components": [{"centroid_mm": [-38.1, -12.5, 51.0], "area_mm2": 2345.7}],
    }
    assert for_people(info) == {
        "area": "2,345.7 mm²",
        "centroid": "(-38.12, -12.5, 51) mm",
        "components (1)": [
            {"#": 1, "centroid (mm)": "(-38.1, -12.5, 51)", "area (mm²)": "2,345.7"}
        ],
    }


def test_region_on_a_surface_shows_its_area() -> None:
    args = ("region", "desikan-killiany", "Precentral - left hemisphere", "--space", "fsaverage5")
    result = _invoke(*args)
    assert result.exit_code == 0, result.output
    assert any(
        line.startswith("area: ") and line.endswith(" mm²") for line in result.stdout.splitlines()
    )
    info = json.loads(_invoke(*args, "--json").stdout)
    assert info["space"] == "fsaverage5" and info["area_mm2"] > 100
    assert "volume_mm3" not in info


# --- regions --find with the matching rules -------------------------------------------------
def test_find_lists_best_first_in_the_parcellation_order() -> None:
    parc = neuratlas.parcellations["JUELICH"]
    rows = json.loads(_invoke("regions", "JUELICH", "--find", "hIP", "--json").stdout)
    assert [r["name"] for r in rows] == [r.name for r in parc.find("hIP")]
    table = _invoke("regions", "JUELICH", "--find", "hIP")
    title = f"Regions of {parc.name} matching 'hIP', best first"
    assert " ".join(table.stdout.split()).startswith(title)


def test_find_without_a_match_says_so() -> None:
    parc = neuratlas.parcellations["JUELICH"]
    result = _invoke("regions", "JUELICH", "--find", "zzzz")
    assert result.exit_code == 0
    assert " ".join(result.stdout.split()) == f"no region of {parc.name} matches 'zzzz'"
    assert _invoke("regions", "JUELICH", "--find", "zzzz", "--json").stdout == "[]\n"


def test_find_hip_lists_the_hip_areas_before_the_hippocampus() -> None:
    # the README's own example
    names = [
        r["name"] for r in json.loads(_invoke("regions", "JUELICH", "-f", "hIP", "--json").stdout)
    ]
    last_hip = max(i for i, n in enumerate(names) if "hIP" in n)
    first_hippocampus = min(i for i, n in enumerate(names) if "Hippocampus" in n)
    assert last_hip < first_hippocampus


def test_region_ba4_is_ambiguous_between_ba4a_and_ba4p() -> None:
    result = _invoke("region", "JUELICH", "BA4")
    assert isinstance(result.exception, AmbiguousError)
    assert {c for c in result.exception.candidates if "BA4" in c} == {
        "Primary motor cortex BA4a",
        "Primary motor cortex BA4p",
    }
