"""``neuratlas allen expression`` on the phantom of tests/allen/expression_phantom.py."""

from __future__ import annotations

import csv
import io
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from rich.console import Console
from typer.testing import CliRunner

from neuratlas.cli.allen import _expression_progress
from neuratlas.cli.main import app, cli, exit_status
from neuratlas.errors import ArgumentError
from tests.allen.expression_phantom import LEVEL_GREY, served_mouse_atlas, served_sagittal_atlas
from tests.allen.fake_allen_api import CORONAL_ID, SAGITTAL_ID, FakeAllenAPI

runner = CliRunner()


@pytest.fixture
def phantom(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    with served_mouse_atlas(tmp_path, monkeypatch) as url:
        yield url


def _run(*args: str):
    return runner.invoke(cli, ["allen", "expression", *args])


def test_table_and_picture(phantom: str, tmp_path: Path) -> None:
    table, picture = tmp_path / "gad1.csv", tmp_path / "gad1.png"
    result = _run("Gad1", "--resolution-um", "100", "-o", str(table), "--png", str(picture))
    assert result.exit_code == 0, result.output
    with table.open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    cp = next(row for row in rows if row["acronym"] == "CP")
    assert cp["region"] == "Caudoputamen" and int(cp["dataset_id"]) == CORONAL_ID
    assert float(cp["mean"]) == pytest.approx(LEVEL_GREY, abs=2.0)
    assert float(cp["coverage"]) == pytest.approx(6 / 25)
    assert int(cp["voxels"]) == 400
    ca1 = next(row for row in rows if row["acronym"] == "CA1")
    assert float(ca1["mean"]) == pytest.approx(0.0, abs=1.0)
    assert float(rows[0]["mean"]) == pytest.approx(float(cp["mean"]))
    assert picture.read_bytes().startswith(b"\x89PNG")


def _console(monkeypatch: pytest.MonkeyPatch, capsys, *args: str) -> tuple[int, list[str]]:
    """Run the console script's entry point; its exit status and stderr lines."""
    monkeypatch.setattr(sys, "argv", ["neuratlas", "allen", "expression", *args])
    with pytest.raises(SystemExit) as caught:
        app()
    return caught.value.code, capsys.readouterr().err.strip().splitlines()


def test_unknown_gene_is_one_line_with_a_hint(
    phantom: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    table = tmp_path / "t.csv"
    status, lines = _console(monkeypatch, capsys, "Nogene", "-o", str(table))
    assert status == 2  # one error line and one hint line
    assert (
        lines[0]
        == "error: unknown gene 'Nogene': the Allen API knows no mouse gene of that acronym"
    )
    assert lines[1] == "hint: check the gene acronym (e.g. 'Gad1')" and len(lines) == 2
    assert not table.exists()


def test_misspelt_gene_suggests_the_closest(
    phantom: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    status, lines = _console(monkeypatch, capsys, "Gda1", "-o", str(tmp_path / "t.csv"))
    assert status == 2 and len(lines) == 2
    assert lines[0].startswith("error: unknown gene 'Gda1'")
    assert lines[1].startswith("hint: did you mean 'Gad1'")


def test_no_dataset_in_that_plane(
    phantom: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    args = ("Gad1", "--plane", "sagittal", "-o", str(tmp_path / "t.csv"))
    status, lines = _console(monkeypatch, capsys, *args)
    assert status == 2
    assert lines == [
        "error: no sagittal ISH dataset of gene 'Gad1' in the Allen mouse brain atlas "
        "(it has 1 coronal)",
        "hint: use --plane coronal",
    ]


def test_output_path_is_checked_before_any_request(tmp_path: Path, monkeypatch) -> None:
    api = FakeAllenAPI([]).start()
    monkeypatch.setenv("NEURATLAS_ALLEN_API", api.base_url)
    try:
        (tmp_path / "a-file").write_text("in the way")
        for args, words in [
            (["-o", str(tmp_path / "missing" / "t.csv")], "missing"),
            (["-o", str(tmp_path / "t.txt")], ".csv"),
            (["-o", str(tmp_path / "t.csv"), "--png", str(tmp_path / "t.jpg")], "--png"),
            (["-o", str(tmp_path / "a-file" / "t.csv")], "a-file"),  # a file is in the way
            (["-o", str(tmp_path)], "folder"),  # a folder, not a file
        ]:
            error = _run("Gad1", *args).exception
            assert isinstance(error, ArgumentError) and exit_status(error) == 2
            assert words in str(error)
        assert api.requests == []
    finally:
        api.stop()


def test_unknown_plane_is_a_usage_error(tmp_path: Path) -> None:
    result = _run("Gad1", "--plane", "transverse", "-o", str(tmp_path / "t.csv"))
    assert result.exit_code == 2 and "coronal or sagittal" in result.output


def test_downsampling_option(phantom: str, tmp_path: Path) -> None:
    table = tmp_path / "t.csv"
    args = ("Gad1", "--resolution-um", "100", "--downsample-img", "4", "-o", str(table))
    result = _run(*args)
    assert result.exit_code == 0, result.output
    requests = FakeAllenAPI.serving(phantom).paths("section_image_download")
    assert {r.params["downsample"] for r in requests} == {"4"}
    assert _run("Gad1", "--downsample-img", "-1", "-o", str(table)).exit_code == 2


def test_progress_shows_datasets_and_sections() -> None:
    stream = io.StringIO()
    console = Console(file=stream, force_terminal=True, width=100)
    with _expression_progress("Gad1", console) as progress:
        progress["on_datasets"]([CORONAL_ID, 2])
        for dataset_id in (CORONAL_ID, 2):
            progress["on_dataset"](dataset_id, _Sized(3))
            for image_id in range(3):
                progress["on_section"](image_id, 0.0)
        console.print("done")
    shown = stream.getvalue()
    assert "Gad1: datasets" in shown and f"dataset {CORONAL_ID}: sections" in shown
    assert "dataset 2: sections" in shown


class _Sized:
    def __init__(self, n: int) -> None:
        self.n = n

    def __len__(self) -> int:
        return self.n


@pytest.fixture
def sagittal(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    with served_sagittal_atlas(tmp_path, monkeypatch) as url:
        yield url


def test_sagittal_end_to_end(sagittal: str, tmp_path: Path) -> None:
    table = tmp_path / "sagittal.csv"
    args = ("Gad1", "--plane", "sagittal", "--resolution-um", "100", "--downsample-img", "4")
    result = _run(*args, "-o", str(table))
    assert result.exit_code == 0, result.output
    assert "one hemisphere" in result.output  # the note on stderr
    with table.open(newline="") as handle:
        rows = {row["acronym"]: row for row in csv.DictReader(handle)}
    assert 0 < float(rows["CP"]["coverage"]) <= 0.5  # CP lies on both sides
    assert float(rows["CA1"]["coverage"]) > 0  # the left hemisphere, where the sections are
    assert rows["CA2"]["coverage"] == "0.0" and rows["CA2"]["mean"] == ""  # the right one
    assert int(rows["CP"]["dataset_id"]) == SAGITTAL_ID
