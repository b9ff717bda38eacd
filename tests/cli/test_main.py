"""Tests of neuratlas.cli.main: the console script's one-line errors and exit statuses."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import platformdirs
import pytest

from neuratlas import errors
from neuratlas.cli.main import exit_status
from tests.cli.conftest import run_console
from tests.toy_atlas import PARC_ID, SPACE_ID


@pytest.mark.parametrize(
    ("error", "status"),
    [
        (errors.ArgumentError("bad value"), 2),
        (errors.ArgumentTypeError("bad type"), 2),
        (errors.NotFoundError("unknown"), 2),
        (errors.AmbiguousError("several"), 2),
        (errors.DatasetNotFoundError("no dataset"), 2),
        (errors.ImageError("corrupt"), 1),
        (errors.DataUnavailableError("offline"), 1),
        (errors.SpecError("malformed"), 1),
        (errors.SpaceMismatchError("other space"), 1),
        (errors.RMAError("refused"), 1),
    ],
)
def test_usage_and_lookups_exit_2_everything_else_1(error: errors.Error, status: int) -> None:
    assert exit_status(error) == status


# --- the console script: exit codes and one-line errors -------------------------------------
def test_script_lookup_error_exit_2(script, tmp_path: Path) -> None:
    done = script("region", PARC_ID, "Nucleus D")
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert lines[0] == "error: no region of 'Toy parcellation v2' matches 'Nucleus D'"
    assert lines[1] == "hint: did you mean 'Nucleus C'?"
    assert "Traceback" not in done.stderr
    assert done.stdout == ""


def test_script_debug_shows_traceback(script, tmp_path: Path) -> None:
    done = script("--debug", "region", PARC_ID, "Area")
    assert done.returncode == 1
    assert "Traceback" in done.stderr
    assert "AmbiguousError" in done.stderr


def test_script_other_error_exit_1_and_json_success(script, tmp_path: Path) -> None:
    done = script("map", "toy/parcellation/toy-v1", SPACE_ID, "-o", "remote.nii.gz")
    # the remote map's URL is not reachable: DataUnavailableError, exit 1
    assert done.returncode == 1, done.stderr
    assert done.stderr.startswith("error: could not fetch http://127.0.0.1:9/toy/labels.nii.gz")
    assert not (tmp_path / "remote.nii.gz").exists()
    ok = script("regions", PARC_ID, "--json")
    assert ok.returncode == 0, ok.stderr
    assert len(json.loads(ok.stdout)) == 9


def test_script_usage_error_exit_2(script, tmp_path: Path) -> None:
    done = script("map", PARC_ID)
    assert done.returncode == 2, done.stderr
    assert "Missing" in done.stderr
    assert "Traceback" not in done.stderr


def test_script_missing_input_is_a_usage_error(script) -> None:
    done = script("assign", PARC_ID, SPACE_ID)
    assert done.returncode == 2, done.stderr
    lines = done.stderr.strip().splitlines()
    assert lines[0] == "error: give exactly one of --point, --points or --image"
    assert lines[1].startswith("hint: e.g. --point=")
    assert "Traceback" not in done.stderr


def test_script_bad_argument_value_exits_2(script) -> None:
    done = script("assign", PARC_ID, SPACE_ID, "--point=1,2")
    assert done.returncode == 2, done.stderr
    assert done.stderr.startswith("error: a point needs 3 coordinates, got 2")


def test_console_script_is_installed() -> None:
    script = Path(sys.executable).parent / "neuratlas"
    if not script.exists():
        pytest.skip("no console script next to this interpreter")
    done = subprocess.run([str(script), "--help"], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "Offline-first toolkit" in done.stdout


# --- the cache folder of the environment --------------------------------------------------------
@pytest.mark.parametrize(
    "command",
    [
        ("map", "toy/parcellation/toy-v1", SPACE_ID, "-o", "remote.nii.gz"),
        ("allen", "cache", "info"),
    ],
)
@pytest.mark.parametrize("below", [False, True])
def test_script_cache_that_is_a_file(
    toy_folder: Path, tmp_path: Path, command: tuple[str, ...], below: bool
) -> None:
    blocker = tmp_path / "cache"
    blocker.write_text("a file, not a folder")
    cache = blocker / "neuratlas" if below else blocker
    done = run_console(toy_folder, toy_folder.parent, str(cache), *command)
    assert done.returncode == 1, done.stderr
    assert done.stderr.splitlines() == [
        f"error: NEURATLAS_CACHE={cache} cannot be used as the neuratlas cache: "
        f"{blocker} is a file, not a folder",
        "hint: set NEURATLAS_CACHE to a folder you can write to (it is created if missing), "
        f"or unset it to use {platformdirs.user_cache_dir('neuratlas')}",
    ]
    assert done.stdout == ""


@pytest.mark.skipif(not Path("/proc/self").is_dir(), reason="needs /proc, where mkdir fails")
def test_script_cache_that_cannot_be_created(toy_folder: Path) -> None:
    done = run_console(
        toy_folder, toy_folder.parent, "/proc/no-such-process/cache", "allen", "cache", "info"
    )
    assert done.returncode == 1, done.stderr
    first, hint = done.stderr.splitlines()
    assert first == (
        "error: NEURATLAS_CACHE=/proc/no-such-process/cache cannot be used as the neuratlas "
        "cache: the folder cannot be created (no such file or directory)"
    )
    assert hint.startswith("hint: set NEURATLAS_CACHE to a folder you can write to")
