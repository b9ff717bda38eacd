"""``neuratlas tour``, the main job of ``make run``, on the embedded atlases."""

from __future__ import annotations

from pathlib import Path

import nibabel as nib
import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

import neuratlas
from neuratlas.cli.main import cli
from neuratlas.errors import ArgumentError


@pytest.fixture(scope="module")
def toured(juelich_statistical, tmp_path_factory: pytest.TempPathFactory):
    """The default tour, run once: its folder and its output."""
    folder = tmp_path_factory.mktemp("tour")
    result = CliRunner().invoke(cli, ["tour", "-o", str(folder)])
    assert result.exit_code == 0, result.output
    return folder, result.output


def test_tour_writes_the_region_maps_and_pictures(toured) -> None:
    tmp_path, output = toured
    assert "Spatial properties" in output and "volume: 8,204 mm³" in output
    region = neuratlas.get_region("juelich", "hIP1 left")
    template = neuratlas.get_template("MNI152 NLin6").fetch()
    for maptype in ("labelled", "statistical"):
        nii = tmp_path / f"{region.key.lower()}_{maptype}.nii.gz"
        png = tmp_path / f"{region.key.lower()}_{maptype}.png"
        fetched = neuratlas.get_map("juelich", "MNI152 NLin6", maptype).fetch(region=region)
        written = nib.load(nii)
        # on the template's grid, so that it overlays the template in any viewer
        assert written.shape == template.shape
        np.testing.assert_allclose(written.affine, template.affine)
        # the map's grid is the template's, cropped: the same voxels, moved by whole voxels
        values, expected = np.asanyarray(written.dataobj), np.asanyarray(fetched.dataobj)
        assert values.dtype == expected.dtype
        np.testing.assert_array_equal(np.sort(values[values > 0]), np.sort(expected[expected > 0]))
        with Image.open(png) as picture:
            assert picture.format == "PNG" and picture.size[0] > 500


def test_tour_lists_overlapping_regions_of_other_parcellations(toured) -> None:
    # it used to list the region itself as "the same words in other parcellations"
    text = " ".join(toured[1].split())
    line = text.split("overlapping regions of other parcellations (intersection over union): ")
    assert len(line) == 2
    listed = line[1].split(" ─")[0]  # up to the next rule
    related = neuratlas.get_region("juelich", "hIP1 left").get_related_regions()[:5]
    assert len(related) == 5
    for relation in related:
        assert relation.region.parcellation.short_name != "Juelich"
        assert (
            f"{relation.region.name} ({relation.region.parcellation.short_name}, "
            f"{relation.intersection_over_union:.2f})" in listed
        )
    assert "(Juelich" not in listed


def test_tour_with_an_unknown_region_fails_with_suggestions(tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["tour", "-o", str(tmp_path), "--region", "hIP99 left"])
    assert isinstance(result.exception, neuratlas.NotFoundError)
    assert "did you mean" in str(result.exception)
    assert not any(tmp_path.iterdir())  # nothing written


def test_tour_into_a_file_fails_before_any_work(tmp_path: Path) -> None:
    blocker = tmp_path / "results.txt"
    blocker.write_text("not a folder")
    for output in (blocker, blocker / "tour"):
        result = CliRunner().invoke(cli, ["tour", "-o", str(output)])
        assert isinstance(result.exception, ArgumentError), result.output
        assert "The catalogue" not in result.output  # failed before the first step
    assert blocker.read_text() == "not a folder"


def test_tour_of_a_surface_region(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # related regions are compared in volume spaces only (assignment/related.py), which
    # this test leaves out: it is about the surface's properties and files
    monkeypatch.setattr(neuratlas.Region, "get_related_regions", lambda self: [])
    args = ["tour", "-o", str(tmp_path), "--parcellation", "desikan-killiany"]
    result = CliRunner().invoke(cli, [*args, "--region", "precentral left"])
    assert result.exit_code == 0, result.output
    region = neuratlas.get_region("desikan-killiany", "precentral left")
    props = region.spatial_props("fsaverage5")
    assert f"area: {props.area_mm2:,.0f} mm²" in result.output
    assert "mm³" not in result.output
    (written,) = tmp_path.iterdir()
    assert written.name == f"{region.key.lower()}_labelled.left.label.gii"
    mask = region.get_regional_mask("fsaverage5")
    np.testing.assert_array_equal(nib.load(written).darrays[0].data, mask.labels[:10242])
