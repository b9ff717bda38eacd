"""``neuratlas features`` on the toy feature source over the embedded parcellations."""

from __future__ import annotations

import json
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from neuratlas.cli.features import concept_of, parse_filters
from neuratlas.cli.main import cli
from neuratlas.cli.running import run as run_app
from neuratlas.errors import ArgumentError
from neuratlas.locations.point import Point
from tests.features.toy_features import NLIN6, only_sources, toy_features

runner = CliRunner()


@pytest.fixture(autouse=True)
def toy(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("MPLBACKEND", "Agg")
    with only_sources(toy=toy_features):
        yield


def run(*args: str):
    return runner.invoke(cli, ["features", *args])


def test_a_table_of_the_features_of_a_region() -> None:
    result = run("hOc1", "--modality", "fingerprint")
    assert result.exit_code == 0, result.output
    # the table wraps long cells on a narrow terminal: check words that fit a cell
    assert result.output.startswith("fingerprint features of hOc1")
    assert "exact" in result.output and "contained" in result.output
    assert "qualification" in result.output


def test_json_rows_best_first() -> None:
    result = run("hOc1", "-m", "fingerprint", "--json")
    assert result.exit_code == 0, result.output
    rows = json.loads(result.stdout)
    assert [r["qualification"] for r in rows] == ["exact", "contained"]
    assert set(rows[0]) == {"id", "name", "modality", "qualification", "anchor"}


def test_filters_and_a_region_of_a_named_parcellation() -> None:
    result = run("LH Vis 1", "-p", "schaefer 100 7", "-m", "fc", "-f", "subject=01", "--json")
    assert result.exit_code == 0, result.output
    assert [r["id"] for r in json.loads(result.stdout)] == ["toy/fc/schaefer-100-7/subject-01"]


def test_a_point_with_a_space() -> None:
    result = run("10, -90, 0", "--space", NLIN6, "-m", "cell density profile", "--json")
    assert result.exit_code == 0, result.output
    rows = json.loads(result.stdout)
    assert rows[0]["id"] == "toy/profile/hoc1-right"
    assert rows[0]["qualification"] == "contains"


def test_a_point_given_with_point_may_start_with_a_minus_sign() -> None:
    as_argument = run("10, -90, 0", "--space", NLIN6, "--json")
    with_option = run("--point", "-10,-90,0", "--space", NLIN6, "--json")
    assert with_option.exit_code == 0, with_option.output
    assert json.loads(with_option.stdout)  # the toy samples and maps there
    assert {r["id"] for r in json.loads(as_argument.stdout)} >= {"toy/samples"}


def test_nothing_found_says_so() -> None:
    result = run("hOc2", "-m", "fingerprint")
    assert result.exit_code == 0
    assert "no fingerprint features found for 'hOc2'" in result.output
    assert json.loads(run("hOc2", "-m", "fingerprint", "--json").stdout) == []


def test_png_draws_the_first_feature(tmp_path: Path) -> None:
    picture = tmp_path / "fp.png"
    result = run("hOc1", "-m", "fingerprint", "--png", str(picture))
    assert result.exit_code == 0, result.output
    assert picture.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_png_path_is_checked_first(tmp_path: Path, capsys) -> None:
    with pytest.raises(SystemExit) as exit_info:
        run_app(cli, ["features", "hOc1", "--png", str(tmp_path / "fp.jpg")])
    assert exit_info.value.code == 2
    assert "does not end in .png" in capsys.readouterr().err


def test_export_writes_a_zip(tmp_path: Path) -> None:
    target = tmp_path / "fc.zip"
    result = run("--export", "toy/fc/schaefer-100-7", "-o", str(target))
    assert result.exit_code == 0, result.output
    with zipfile.ZipFile(target) as archive:
        assert sorted(archive.namelist()) == ["matrix.csv", "metadata.json"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("hOc1", "-m", "funtional conectivity"), "no modality matches"),
        (("hOc1", "-f", "colour"), "is not key=value"),
        (("hOc1", "-m", "fc", "-f", "colour=red"), "unknown filter"),
        (("qqqzzz xxyy",), "names no parcellation, space or region"),
        ((), "name a region, parcellation, space or point"),
        (("--export", "toy/fc/schaefer-100-7"), "--export needs -o/--output"),
        (("hOc1", "-o", "x.zip"), "names the zip of --export"),
        (("--point", "-10,-90,0"), "--point needs --space"),
        (("hOc1", "--point", "-10,-90,0", "--space", NLIN6), "or --point, not both"),
        (("--export", "no/such/id", "-o", "x.zip"), "no feature has the id"),
    ],
)
def test_errors_are_one_line_with_exit_status_2(
    args: tuple[str, ...], message: str, capsys
) -> None:
    with pytest.raises(SystemExit) as exit_info:
        run_app(cli, ["features", *args])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and message in err
    assert "Traceback" not in err


def test_error_messages(capsys) -> None:
    with pytest.raises(SystemExit):
        run_app(cli, ["features", "hOc1", "-m", "funtional conectivity"])
    err = capsys.readouterr().err
    assert err.startswith("error: no modality matches 'funtional conectivity'")
    assert "hint: did you mean 'functional connectivity'" in err


def test_parse_filters() -> None:
    assert parse_filters(["a=1", "b=x=y", "a=2"]) == {"a": ["1", "2"], "b": "x=y"}
    assert parse_filters([]) == {}
    with pytest.raises(ArgumentError, match="not key=value"):
        parse_filters(["=1"])


def test_concept_of() -> None:
    point = concept_of("1, 2, 3", None, NLIN6)
    assert isinstance(point, Point) and point.space.name == NLIN6
    assert concept_of("hOc1", "juelich", None).name == "Visual cortex V1 BA17"
