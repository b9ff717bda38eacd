"""``neuratlas allen expression`` on the phantom of tests/allen/expression_phantom.py."""

from __future__ import annotations

import csv
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from neuratlas.cli.main import app, cli, exit_status
from neuratlas.errors import ArgumentError
from tests.allen.expression_phantom import LEVEL_GREY, served_mouse_atlas
from tests.allen.fake_allen_api import CORONAL_ID, FakeAllenAPI

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


def test_unknown_gene_is_one_line_with_a_hint(
    phantom: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    table = tmp_path / "t.csv"
    argv = ["neuratlas", "allen", "expression", "Nogene", "-o", str(table)]
    monkeypatch.setattr(sys, "argv", argv)
    with pytest.raises(SystemExit) as caught:
        app()  # the console script's entry point: one error line and one hint line
    assert caught.value.code == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert lines[0].startswith("error: no coronal ISH dataset of gene 'Nogene'")
    assert lines[1].startswith("hint: check the gene acronym") and len(lines) == 2
    assert not table.exists()


def test_output_path_is_checked_before_any_request(tmp_path: Path, monkeypatch) -> None:
    api = FakeAllenAPI([]).start()
    monkeypatch.setenv("NEURATLAS_ALLEN_API", api.base_url)
    try:
        for args, words in [
            (["-o", str(tmp_path / "missing" / "t.csv")], "missing"),
            (["-o", str(tmp_path / "t.txt")], ".csv"),
            (["-o", str(tmp_path / "t.csv"), "--png", str(tmp_path / "t.jpg")], "--png"),
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
