"""Tests of neuratlas.cli.maps: map and template files from the toy catalogue."""

from __future__ import annotations

from pathlib import Path

import nibabel as nib
import numpy as np


# --- map and template ----------------------------------------------------------------------
def test_map_writes_nifti_and_png(run, toy, tmp_path: Path) -> None:
    out, png = tmp_path / "x.nii.gz", tmp_path / "x.png"
    result = run("map", "toy", "toy", "-o", str(out), "--png", str(png))
    assert result.exit_code == 0, result.output
    written = nib.load(out)
    expected = toy.get_map("toy", "toy").fetch()
    np.testing.assert_array_equal(np.asanyarray(written.dataobj), np.asanyarray(expected.dataobj))
    np.testing.assert_allclose(written.affine, expected.affine)
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert not list(tmp_path.glob("*.tmp*"))


def test_map_region_statistical(run, toy, tmp_path: Path) -> None:
    out = tmp_path / "r.nii.gz"
    result = run("map", "toy", "toy", "-o", str(out), "-r", "Nucleus C", "-t", "statistical")
    assert result.exit_code == 0, result.output
    expected = toy.get_map("toy", "toy", "statistical").fetch(region="Nucleus C")
    np.testing.assert_array_equal(nib.load(out).get_fdata(), np.asanyarray(expected.dataobj))


def test_map_resolution(run, tmp_path: Path) -> None:
    out = tmp_path / "fine.nii"
    result = run("map", "toy", "toy", "-o", str(out), "--resolution-mm", "1")
    assert result.exit_code == 0, result.output
    assert nib.load(out).shape == (40, 48, 32)


def test_template(run, tmp_path: Path) -> None:
    out = tmp_path / "t.nii.gz"
    result = run("template", "toy", "-o", str(out))
    assert result.exit_code == 0, result.output
    assert nib.load(out).shape == (20, 24, 16)
