"""``neuratlas tour``, the main job of ``make run``, on the embedded atlases."""

from __future__ import annotations

from pathlib import Path

import nibabel as nib
import numpy as np
from PIL import Image
from typer.testing import CliRunner

import neuratlas
from neuratlas.cli.main import cli


def test_tour_writes_the_region_maps_and_pictures(juelich_statistical, tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["tour", "-o", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert "Spatial properties" in result.output and "mm³" in result.output
    region = neuratlas.get_region("juelich", "hIP1 left")
    for maptype in ("labelled", "statistical"):
        nii = tmp_path / f"{region.key.lower()}_{maptype}.nii.gz"
        png = tmp_path / f"{region.key.lower()}_{maptype}.png"
        expected = neuratlas.get_map("juelich", "MNI152 NLin6", maptype).fetch(region=region)
        written = nib.load(nii)
        assert np.array_equal(np.asanyarray(written.dataobj), np.asanyarray(expected.dataobj))
        np.testing.assert_allclose(written.affine, expected.affine)
        with Image.open(png) as picture:
            assert picture.format == "PNG" and picture.size[0] > 500


def test_tour_with_an_unknown_region_fails_with_suggestions(tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["tour", "-o", str(tmp_path), "--region", "hIP99 left"])
    assert isinstance(result.exception, neuratlas.NotFoundError)
    assert "did you mean" in str(result.exception)
    assert not any(tmp_path.iterdir())  # nothing written
