"""``neuratlas lesion ...`` on a synthetic BIDS dataset, as a user runs it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from neuratlas.cli.main import cli
from tests.lesion.conftest import build_bids_dataset

runner = CliRunner()


def lesion(*args: str):
    return runner.invoke(cli, ["lesion", *args])


def console(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    """The console script in a fresh process (the real entry point, exit codes, stderr)."""
    env = {**os.environ, "PYTHONWARNINGS": "ignore", "NEURATLAS_CACHE": str(cwd / "cache")}
    return subprocess.run(
        [str(Path(sys.executable).parent / "neuratlas"), *args],
        capture_output=True, text=True, timeout=300, cwd=cwd, env=env,
    )  # fmt: skip


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    return build_bids_dataset(tmp_path_factory.mktemp("cli") / "stroke")


def test_run_rd_then_collect_end_to_end(dataset, tmp_path):
    out = tmp_path / "derivatives"
    done = console(
        "lesion", "run", "rd", str(dataset.root), str(out),
        "-p", "aal3", "--workers", "1", "--json", cwd=tmp_path,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert [s["status"] for s in report["subjects"]] == ["done"] * len(dataset.masks)
    again = console(
        "lesion", "run", "rd", str(dataset.root), str(out), "-p", "aal3",
        "--workers", "1", cwd=tmp_path,
    )  # fmt: skip
    assert again.returncode == 0
    assert f"0 done, {len(dataset.masks)} already done, 0 failed" in again.stdout
    collected = lesion("collect", str(out))
    assert collected.exit_code == 0
    (table,) = collected.stdout.split()
    assert Path(table).name == "space-MNI152NLin6Asym_atlas-AAL3_desc-percent_group.tsv"


def test_a_failing_subject_exits_1_after_the_others(dataset, tmp_path):
    broken = dataset.root.parent / "broken"
    import shutil

    shutil.copytree(dataset.root, broken)
    (broken / "sub-09" / "anat").mkdir(parents=True)
    (broken / "sub-09" / "anat" / "sub-09_space-MNI152NLin6Asym_mask.nii.gz").write_bytes(b"no")
    done = console(
        "lesion", "run", "rd", str(broken), str(tmp_path / "d"), "-p", "aal3",
        "--workers", "1", cwd=tmp_path,
    )  # fmt: skip
    assert done.returncode == 1
    assert "failed: sub-09_space-MNI152NLin6Asym:" in done.stderr
    assert f"{len(dataset.masks)} done" in done.stdout
    assert "Traceback" not in done.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["run", "xx", "{bids}", "{out}"], "unknown analysis 'xx'"),
        (["run", "rd", "{bids}", "{out}"], "needs a parcellation"),
        (["run", "rd", "{bids}", "{out}", "-p", "no such atlas"], "no parcellation matches"),
        (["run", "fnm", "{bids}", "{out}"], "needs a connectome"),
        (["run", "snm", "{bids}", "{out}"], "needs a tractogram"),
        (["run", "rd", "{tmp}/nothing", "{out}", "-p", "aal3"], "no such folder"),
        (["run", "rd", "{bids}", "{tmp}/no/out", "-p", "aal3"], "does not exist"),
        (["info", "{tmp}/nothing.nii.gz"], "no such file"),
        (["fetch"], "needs a connectome name"),
    ],
)
def test_bad_input_is_one_line(dataset, tmp_path, args, message):
    fill = {"bids": str(dataset.root), "out": str(tmp_path / "out"), "tmp": str(tmp_path)}
    done = console("lesion", *[a.format(**fill) for a in args], cwd=tmp_path)
    assert done.returncode in (1, 2)
    first = done.stderr.strip().splitlines()[0]
    assert first.startswith("error: ") and message in first, done.stderr
    assert "Traceback" not in done.stderr


def test_info_of_a_mask_and_of_a_dataset(dataset):
    mask = dataset.masks[0].path
    one = lesion("info", str(mask), "--json")
    assert one.exit_code == 0
    row = json.loads(one.stdout)
    assert row["subject"] == "sub-01" and row["space"] == "MNI152NLin6Asym"
    many = lesion("info", str(dataset.root), "--json")
    assert len(json.loads(many.stdout)) == len(dataset.masks)


def test_fetch_list_and_connectomes(tmp_path, monkeypatch):
    monkeypatch.setenv("NEURATLAS_DATA_DIR", str(tmp_path))
    listed = lesion("fetch", "--list", "--json")
    assert {c["name"] for c in json.loads(listed.stdout)} == {"gsp1000", "dtor985", "hcp1065"}
    assert "no connectome registered" in lesion("connectomes").stdout


def test_bidsify(tmp_path):
    import nibabel as nib

    from tests.lesion.masks import box_mask

    loose = tmp_path / "loose"
    loose.mkdir()
    for name in ("patient1", "patient2"):
        nib.save(box_mask(), loose / f"{name}.nii.gz")
    done = lesion("bidsify", str(loose), str(tmp_path / "bids"), "--space", "MNI152NLin6Asym")
    assert done.exit_code == 0, done.stdout
    assert sorted(p.name for p in (tmp_path / "bids").glob("sub-*")) == [
        "sub-patient1",
        "sub-patient2",
    ]


def test_run_fnm_on_a_small_connectome(dataset, tmp_path):
    import numpy as np

    from neuratlas.lesion.connectomes import write_connectome
    from tests.lesion.masks import GRIDS

    shape, affine = GRIDS["nlin6_2mm"]
    # a coarse "brain": every third voxel of the central box, covering the dataset's lesions
    ijk = np.indices(shape)[:, 10:80:3, 10:100:3, 10:80:3].reshape(3, -1)
    rng = np.random.default_rng(3)
    series = rng.normal(size=(6, 30, ijk.shape[1])).astype(np.float32)
    h5 = write_connectome(
        tmp_path / "tiny.h5", series, ijk, affine, shape, space="MNI152NLin6Asym"
    )
    done = console(
        "lesion", "run", "fnm", str(dataset.root), str(tmp_path / "fnm"),
        "--connectome", str(h5), "--workers", "1", "--json", cwd=tmp_path,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert {s["status"] for s in json.loads(done.stdout)["subjects"]} == {"done"}
    maps = sorted(p.name for p in (tmp_path / "fnm").glob("sub-02/**/*_statmap.nii.gz"))
    assert any("desc-zmap" in m for m in maps) and any("desc-rmap" in m for m in maps), maps
