"""Tests of neuratlas.cli.maps: map and template files from the toy catalogue."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest
from typer.testing import CliRunner

import neuratlas
from neuratlas.cli.main import cli
from neuratlas.cli.maps import surface_files
from neuratlas.core.maps import Map
from neuratlas.errors import ArgumentError
from neuratlas.volumes.resampling import grid_at_resolution
from neuratlas.volumes.volume import Volume
from tests.toy_atlas import LEAVES, SHAPE, probability_volumes


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


# --- files on the template's grid ----------------------------------------------------------
def embedded(*args: str):
    """Invoke the CLI in-process on the embedded atlases."""
    return CliRunner().invoke(cli, list(args))


def embedded_script(tmp_path: Path, *args: str) -> subprocess.CompletedProcess:
    """Run the console script on the embedded atlases, in a fresh process."""
    return subprocess.run(
        [sys.executable, "-c", "from neuratlas.cli.main import app; app()", *args],
        env={**os.environ, "PYTHONWARNINGS": "ignore"},
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
    )


def test_a_labelled_map_is_written_on_the_template_grid(tmp_path: Path) -> None:
    # AAL3 is stored RAS on a cropped 181-voxel grid; FSL's template is LAS, 182 voxels
    out = tmp_path / "aal.nii.gz"
    result = embedded("map", "aal3", "MNI152 NLin6", "-o", str(out))
    assert result.exit_code == 0, result.output
    aal = neuratlas.get_map("aal3", "MNI152 NLin6", "labelled")
    template = aal.space.get_template().fetch()
    written = nib.load(out)
    assert written.shape == template.shape
    np.testing.assert_allclose(written.affine, template.affine)
    # each labelled voxel of the map has its label at the same place in mm
    labels = np.asanyarray(aal.fetch().dataobj)
    ijk = np.argwhere(labels > 0)[::97]
    xyz = nib.affines.apply_affine(aal.fetch().affine, ijk)
    there = np.rint(nib.affines.apply_affine(np.linalg.inv(template.affine), xyz)).astype(int)
    np.testing.assert_array_equal(
        np.asanyarray(written.dataobj)[tuple(there.T)], labels[tuple(ijk.T)]
    )
    np.testing.assert_array_equal(
        np.bincount(np.asanyarray(written.dataobj).ravel())[1:], np.bincount(labels.ravel())[1:]
    )


def test_crop_keeps_the_maps_own_grid(tmp_path: Path) -> None:
    out = tmp_path / "aal.nii.gz"
    result = embedded("map", "aal3", "MNI152 NLin6", "-o", str(out), "--crop")
    assert result.exit_code == 0, result.output
    expected = neuratlas.get_map("aal3", "MNI152 NLin6", "labelled").fetch()
    written = nib.load(out)
    assert written.shape == expected.shape == (181, 217, 181)
    np.testing.assert_allclose(written.affine, expected.affine)
    np.testing.assert_array_equal(np.asanyarray(written.dataobj), np.asanyarray(expected.dataobj))


def test_a_region_at_a_resolution_covers_the_templates_field_of_view(tmp_path: Path) -> None:
    out = tmp_path / "thalamus.nii.gz"
    result = embedded(
        "map",
        "harvard oxford subcortical",
        "MNI152 NLin6",
        "-t",
        "statistical",
        "-r",
        "Thalamus - left hemisphere",
        "--resolution-mm",
        "2",
        "-o",
        str(out),
    )
    assert result.exit_code == 0, result.output
    template = neuratlas.get_template("MNI152 NLin6").fetch()
    affine, shape = grid_at_resolution(template.affine, template.shape, 2.0)
    written = nib.load(out)
    assert written.shape == shape == (91, 109, 91)
    np.testing.assert_allclose(written.affine, affine)
    values = np.asanyarray(written.dataobj)
    assert values.dtype == np.float32 and 0.5 < values.max() <= 1.0
    # linear: values between the percent steps of the source
    assert not np.allclose(values * 100, np.round(values * 100), atol=1e-3)


# --- a whole statistical map: the 4D image of probabilities -------------------------------
def test_a_whole_statistical_map_is_4d_with_a_table_of_regions(run, toy, tmp_path: Path) -> None:
    out, png = tmp_path / "probs.nii.gz", tmp_path / "probs.png"
    result = run("map", "toy", "toy", "-t", "statistical", "-o", str(out), "--png", str(png))
    assert result.exit_code == 0, result.output
    written = nib.load(out)
    assert written.shape == (*SHAPE, len(LEAVES))
    assert written.get_data_dtype() == np.float32
    expected = probability_volumes().astype(np.float32) * np.float32(0.01)
    np.testing.assert_array_equal(np.asanyarray(written.dataobj), expected)
    lines = (tmp_path / "probs.tsv").read_text().splitlines()
    assert lines[0] == "volume\tregion\tfragment"
    assert lines[1:] == [f"{k}\t{name}\t" for k, name in enumerate(LEAVES)]
    assert "the region of each of the 5 volumes" in result.output
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.slow
def test_the_whole_harvard_oxford_subcortical_map(tmp_path: Path) -> None:
    # it used to write the maximum-probability labels, drawn as probabilities
    out = tmp_path / "ho.nii"
    args = ["map", "harvard oxford subcortical", "MNI152 NLin6", "-t", "statistical"]
    result = embedded(*args, "-o", str(out), "--crop")
    assert result.exit_code == 0, result.output
    the_map = neuratlas.get_map("harvard oxford subcortical", "MNI152 NLin6", "statistical")
    written = nib.load(out)
    assert written.shape == (151, 194, 159, len(the_map.sparse_sources))
    for k in (0, 9):
        name, _ = the_map.sparse_entries[k]
        np.testing.assert_array_equal(
            np.asanyarray(written.dataobj[..., k]),
            np.asanyarray(the_map.fetch(region=name).dataobj),
        )


# --- surface maps: GIfTI label files -----------------------------------------------------------
def test_a_surface_map_is_written_as_one_gifti_file_per_hemisphere(tmp_path: Path) -> None:
    result = embedded(
        "map", "desikan-killiany", "fsaverage5", "-o", str(tmp_path / "dk.label.gii")
    )
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "dk.left.label.gii",
        "dk.right.label.gii",
    ]
    the_map = neuratlas.get_map("desikan-killiany", "fsaverage5", "labelled")
    for side in ("left", "right"):
        gii = nib.load(tmp_path / f"dk.{side}.label.gii")
        expected = the_map.fetch(fragment=side).labels
        np.testing.assert_array_equal(gii.darrays[0].data, expected)
        names = gii.labeltable.get_labels_as_dict()
        precentral = the_map.get_index(f"Precentral - {side} hemisphere").label
        assert names[precentral] == f"Precentral - {side} hemisphere"
        assert all(name.endswith(f"{side} hemisphere") for k, name in names.items() if k)
    assert result.output.count("(10242 vertices)") == 2


def test_a_surface_region_is_a_mask_of_its_hemisphere(tmp_path: Path) -> None:
    out = tmp_path / "precentral.gii"
    result = embedded(
        "map", "desikan-killiany", "fsaverage5", "-r", "Precentral left", "-o", str(out)
    )
    assert result.exit_code == 0, result.output
    assert [p.name for p in tmp_path.iterdir()] == ["precentral.left.gii"]
    gii = nib.load(tmp_path / "precentral.left.gii")
    mask = gii.darrays[0].data
    the_map = neuratlas.get_map("desikan-killiany", "fsaverage5", "labelled")
    label = the_map.get_index("Precentral - left hemisphere").label
    np.testing.assert_array_equal(mask, the_map.fetch(fragment="left").labels == label)
    assert gii.labeltable.get_labels_as_dict() == {
        0: "unknown",
        1: "Precentral - left hemisphere",
    }


def test_the_files_of_one_hemisphere_and_of_two(tmp_path: Path) -> None:
    the_map = neuratlas.get_map("desikan-killiany", "fsaverage5", "labelled")
    left = the_map.fetch(fragment="left")
    assert surface_files(tmp_path / "x.label.gii", left, masked=False) == {
        tmp_path / "x.label.gii": ("", left)
    }
    both = surface_files(tmp_path / "x.gii", the_map.fetch(), masked=False)
    assert {path.name: hemi for path, (hemi, _) in both.items()} == {
        "x.left.gii": "left",
        "x.right.gii": "right",
    }


def test_a_surface_map_named_as_nifti_is_a_usage_error(tmp_path: Path) -> None:
    # it used to end in AttributeError: 'Mesh' object has no attribute 'get_fdata'
    done = embedded_script(tmp_path, "map", "desikan-killiany", "fsaverage5", "-o", "dk.nii.gz")
    assert done.returncode == 2
    assert done.stderr.splitlines() == [
        "error: 'Desikan-Killiany atlas in fsaverage5 (labelled map)' is a surface map: it is "
        "written as GIfTI, not as 'dk.nii.gz'",
        "hint: name the output dk.label.gii (one file per hemisphere is written)",
    ]
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    "extra", [["--png", "dk.png"], ["--resolution-mm", "2"], ["--crop"]], ids=lambda e: e[0]
)
def test_volume_options_for_a_surface_map(
    extra: list[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    option = extra[0]
    out = tmp_path / "dk.label.gii"
    result = embedded("map", "desikan-killiany", "fsaverage5", "-o", str(out), *extra)
    assert isinstance(result.exception, ArgumentError)
    assert str(result.exception).startswith(f"{option} applies to volumetric maps")
    assert list(tmp_path.iterdir()) == []


# --- output paths are checked before any work ----------------------------------------------------
@pytest.fixture
def no_fetch(monkeypatch: pytest.MonkeyPatch) -> None:
    """Any image work fails: the checks must come first."""

    def fail(*args: object, **kwargs: object) -> None:
        raise AssertionError("fetched before the output was checked")

    monkeypatch.setattr(Map, "fetch", fail)
    monkeypatch.setattr(Volume, "fetch", fail)


@pytest.mark.parametrize(
    ("where", "message"),
    [
        ("missing/dir/x.nii.gz", "the folder {t}/missing/dir does not exist"),
        ("blocker/x.nii.gz", "{t}/blocker is a file, not a folder"),
        ("folder", "it is a folder"),
    ],
)
def test_an_unwritable_output(run, no_fetch, tmp_path: Path, where: str, message: str) -> None:
    (tmp_path / "blocker").write_text("a file")
    (tmp_path / "folder").mkdir()
    target = tmp_path / where
    for command in (["map", "toy", "toy"], ["template", "toy"]):
        result = run(*command, "-o", str(target))
        assert isinstance(result.exception, ArgumentError), result.output
        assert result.exception.message == f"cannot write {target}: {message.format(t=tmp_path)}"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["blocker", "folder"]  # nothing made
    assert list((tmp_path / "folder").iterdir()) == []


@pytest.mark.skipif(os.geteuid() == 0, reason="root may write into read-only folders")
def test_a_read_only_output_folder(run, no_fetch, tmp_path: Path) -> None:
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    try:
        result = run("map", "toy", "toy", "-o", str(locked / "x.nii.gz"))
        assert isinstance(result.exception, ArgumentError)
        assert "is not writable" in result.exception.message
    finally:
        locked.chmod(0o700)


@pytest.mark.parametrize(
    ("args", "message", "hint"),
    [
        (["-o", "x.gii"], "--output 'x.gii' does not end in .nii.gz or .nii", "x.nii.gz"),
        (["-o", "x.png"], "--output 'x.png' does not end in .nii.gz or .nii", "x.nii.gz"),
        (["-o", "x.nii.gz", "--png", "x.jpg"], "--png 'x.jpg' does not end in .png", "x.png"),
    ],
)
def test_an_output_of_the_wrong_kind(
    run, no_fetch, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, args, message, hint
) -> None:
    monkeypatch.chdir(tmp_path)
    result = run("map", "toy", "toy", *args)
    assert isinstance(result.exception, ArgumentError)
    assert result.exception.message == message
    assert result.exception.hint == f"name the file e.g. {hint}"
    assert list(tmp_path.iterdir()) == []


def test_a_missing_output_folder_exits_2_and_creates_nothing(script, tmp_path: Path) -> None:
    # it used to create /missing/dir silently
    done = script("map", "toy", "toy", "-o", "missing/dir/x.nii.gz")
    assert done.returncode == 2
    assert done.stderr.splitlines()[0] == (
        "error: cannot write missing/dir/x.nii.gz: the folder missing/dir does not exist"
    )
    assert done.stderr.splitlines()[1].startswith("hint: create it first")
    assert not (tmp_path / "missing").exists()
