"""Tests of the core CLI commands (catalogue listings, region, map, template) on the toy atlas."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest
from typer.testing import CliRunner

from neuratlas.cli.main import _register_areas, cli
from neuratlas.errors import AmbiguousError, NotFoundError

from toy_atlas import AFFINE, LEAVES, PARC_ID, SPACE_ID, label_volume


@pytest.fixture
def run(toy_active, monkeypatch: pytest.MonkeyPatch, toy_folder: Path):
    """Invoke the CLI in-process on the toy catalogue; returns the click Result."""
    monkeypatch.setenv("NEURATLAS_CONFIGURATION", str(toy_folder))
    _register_areas()
    runner = CliRunner()

    def invoke(*args: str):
        return runner.invoke(cli, list(args))

    return invoke


# the console script's entry point, run on the toy catalogue only (not the embedded one)
ENTRY = (
    "import sys, neuratlas\n"
    "neuratlas.use_configuration(sys.argv[1], strict=True)\n"
    # offline retries without waiting between them, to keep the test short
    "from neuratlas.retrieval import http\n"
    "http._default_client = http.HttpClient(sleep=lambda _: None)\n"
    "sys.argv = ['neuratlas', *sys.argv[2:]]\n"
    "from neuratlas.cli.main import app\n"
    "app()\n"
)


def run_script(toy_folder: Path, tmp_path: Path, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "NEURATLAS_CACHE": str(tmp_path / "cache"), "PYTHONWARNINGS": "ignore"}
    return subprocess.run(
        [sys.executable, "-c", ENTRY, str(toy_folder), *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
    )


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


# --- the console script: exit codes and one-line errors -------------------------------------
def test_script_lookup_error_exit_2(toy_folder: Path, tmp_path: Path) -> None:
    done = run_script(toy_folder, tmp_path, "region", PARC_ID, "Nucleus D")
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert lines[0] == "error: no region of 'Toy parcellation v2' matches 'Nucleus D'"
    assert lines[1] == "hint: did you mean 'Nucleus C'?"
    assert "Traceback" not in done.stderr
    assert done.stdout == ""


def test_script_debug_shows_traceback(toy_folder: Path, tmp_path: Path) -> None:
    done = run_script(toy_folder, tmp_path, "--debug", "region", PARC_ID, "Area")
    assert done.returncode == 1
    assert "Traceback" in done.stderr
    assert "AmbiguousError" in done.stderr


def test_script_other_error_exit_1_and_json_success(toy_folder: Path, tmp_path: Path) -> None:
    done = run_script(
        toy_folder, tmp_path, "map", "toy/parcellation/toy-v1", SPACE_ID, "-o", "remote.nii.gz"
    )
    # the remote map's URL is not reachable: DataUnavailableError, exit 1
    assert done.returncode == 1, done.stderr
    assert done.stderr.startswith("error: could not fetch http://127.0.0.1:9/toy/labels.nii.gz")
    assert not (tmp_path / "remote.nii.gz").exists()
    ok = run_script(toy_folder, tmp_path, "regions", PARC_ID, "--json")
    assert ok.returncode == 0, ok.stderr
    assert len(json.loads(ok.stdout)) == 9


def test_script_usage_error_exit_2(toy_folder: Path, tmp_path: Path) -> None:
    done = run_script(toy_folder, tmp_path, "map", PARC_ID)
    assert done.returncode == 2, done.stderr
    assert "Missing" in done.stderr
    assert "Traceback" not in done.stderr


def test_console_script_is_installed() -> None:
    script = Path(sys.executable).parent / "neuratlas"
    if not script.exists():
        pytest.skip("no console script next to this interpreter")
    done = subprocess.run([str(script), "--help"], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "Offline-first toolkit" in done.stdout
