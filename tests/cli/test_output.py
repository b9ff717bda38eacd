"""How the CLI prints results: tables, JSON, and row files (neuratlas.cli.output)."""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path

import numpy as np
import pytest

from neuratlas.cli import output
from neuratlas.cli.output import emit_json, emit_object, emit_rows, write_rows

ROWS = [
    {"name": "hOc1", "volume": 0.123456, "labels": [1, 2], "note": None},
    {"name": "hOc2", "volume": np.float64(2 / 3), "labels": (3,), "note": "x"},
]


def _lines(text: str) -> list[str]:
    return [line.rstrip() for line in text.splitlines()]


class TestEmitJson:
    def test_format(self, capsys: pytest.CaptureFixture[str]) -> None:
        emit_json({"a": 1, "b": [True, None]})
        assert capsys.readouterr().out == '{\n "a": 1,\n "b": [\n  true,\n  null\n ]\n}\n'

    def test_values_json_cannot_encode(
        self, capsys: pytest.CaptureFixture[str], tmp_path: Path
    ) -> None:
        emit_json(
            {
                "int": np.int64(7),
                "float": np.float32(0.5),
                "bool": np.bool_(True),
                "array": np.arange(6, dtype=np.uint8).reshape(2, 3),
                "path": tmp_path / "x.nii.gz",
                "nested": [{"affine": np.eye(2)}],
            }
        )
        data = json.loads(capsys.readouterr().out)
        assert data == {
            "int": 7,
            "float": 0.5,
            "bool": True,
            "array": [[0, 1, 2], [3, 4, 5]],
            "path": str(tmp_path / "x.nii.gz"),
            "nested": [{"affine": [[1.0, 0.0], [0.0, 1.0]]}],
        }
        assert isinstance(data["int"], int) and isinstance(data["bool"], bool)

    def test_nan_is_written_as_python_writes_it(self, capsys: pytest.CaptureFixture[str]) -> None:
        # json's own choice: the NaN token, which Python (not strict JSON) reads back
        emit_json([float("nan"), np.float32("nan")])
        text = capsys.readouterr().out
        assert text.count("NaN") == 2
        assert all(math.isnan(v) for v in json.loads(text))


class TestEmitRows:
    def test_table(self, capsys: pytest.CaptureFixture[str]) -> None:
        emit_rows(ROWS, title="Regions", as_json=False)
        out = capsys.readouterr().out
        lines = _lines(out)
        assert lines[0].strip() == "Regions"
        header = next(line for line in lines if "name" in line)
        assert header.replace("┃", " ").split() == [
            "name",
            "volume",
            "labels",
            "note",
        ]
        first = next(line for line in lines if "hOc1" in line)
        assert [c.strip() for c in first.split("│")[1:-1]] == ["hOc1", "0.1235", "1, 2", ""]
        second = next(line for line in lines if "hOc2" in line)
        assert [c.strip() for c in second.split("│")[1:-1]] == ["hOc2", "0.6667", "3", "x"]

    def test_table_columns(self, capsys: pytest.CaptureFixture[str]) -> None:
        emit_rows(ROWS, title="Regions", as_json=False, columns=("note", "name"))
        lines = _lines(capsys.readouterr().out)
        header = next(line for line in lines if "name" in line)
        assert header.replace("┃", " ").split() == ["note", "name"]
        assert not any("0.1235" in line for line in lines)

    def test_empty_table_keeps_its_title_and_header(
        self, capsys: pytest.CaptureFixture[str]
    ) -> None:
        emit_rows([], title="0 regions", as_json=False, columns=("id", "name"))
        out = capsys.readouterr().out
        assert "0 regions" in out
        assert next(line for line in _lines(out) if "id" in line).replace("┃", " ").split() == [
            "id",
            "name",
        ]

    def test_nan_in_a_table(self, capsys: pytest.CaptureFixture[str]) -> None:
        emit_rows([{"value": float("nan")}], title="t", as_json=False)
        assert any(line.strip("│ ") == "nan" for line in _lines(capsys.readouterr().out))

    def test_json(self, capsys: pytest.CaptureFixture[str]) -> None:
        emit_rows(ROWS, title="Regions", as_json=True)
        assert json.loads(capsys.readouterr().out) == [
            {"name": "hOc1", "volume": 0.123456, "labels": [1, 2], "note": None},
            {"name": "hOc2", "volume": 2 / 3, "labels": [3], "note": "x"},
        ]

    def test_json_of_nothing(self, capsys: pytest.CaptureFixture[str]) -> None:
        emit_rows([], title="t", as_json=True, columns=("id",))
        assert capsys.readouterr().out == "[]\n"

    @pytest.mark.parametrize("as_json", [False, True])
    def test_output_file_wins(
        self, capsys: pytest.CaptureFixture[str], tmp_path: Path, as_json: bool
    ) -> None:
        target = tmp_path / "rows.json"
        emit_rows(ROWS, title="Regions", as_json=as_json, output=target)
        captured = capsys.readouterr()
        assert captured.out == ""
        assert " ".join(captured.err.split()) == f"wrote 2 rows to {target}"
        assert json.loads(target.read_text())[1]["volume"] == 2 / 3


class TestEmitObject:
    def test_lines(self, capsys: pytest.CaptureFixture[str]) -> None:
        emit_object({"name": "hOc1", "size": 1.23456, "spaces": ["MNI", "Colin"]}, as_json=False)
        assert _lines(capsys.readouterr().out) == [
            "name: hOc1",
            "size: 1.235",
            "spaces: MNI, Colin",
        ]

    def test_json(self, capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
        emit_object({"file": tmp_path, "shape": np.array([2, 3])}, as_json=True)
        assert json.loads(capsys.readouterr().out) == {"file": str(tmp_path), "shape": [2, 3]}


class TestWriteRows:
    def test_csv(self, tmp_path: Path) -> None:
        target = tmp_path / "rows.csv"
        write_rows(
            [
                {"name": "a", "value": np.float32(0.5), "where": tmp_path, "n": np.int64(3)},
                {"name": "b, c", "value": float("nan"), "where": None, "n": 4},
            ],
            target,
        )
        with target.open(newline="") as handle:
            rows = list(csv.reader(handle))
        assert rows == [
            ["name", "value", "where", "n"],
            ["a", "0.5", str(tmp_path), "3"],
            ["b, c", "", "", "4"],  # NaN and None are empty cells; the comma is quoted
        ]

    def test_tsv(self, tmp_path: Path) -> None:
        target = tmp_path / "rows.tsv"
        write_rows([{"a": 1, "b": "x y"}, {"a": 2, "b": "z"}], target)
        assert target.read_text().splitlines() == ["a\tb", "1\tx y", "2\tz"]

    @pytest.mark.parametrize("name", ["rows.json", "rows.txt", "rows"])
    def test_json_otherwise(self, tmp_path: Path, name: str) -> None:
        target = tmp_path / name
        write_rows([{"a": np.arange(2), "b": float("nan"), "c": tmp_path}], target)
        (row,) = json.loads(target.read_text())
        assert row["a"] == [0, 1] and math.isnan(row["b"]) and row["c"] == str(tmp_path)

    def test_creates_the_folder(self, tmp_path: Path) -> None:
        target = tmp_path / "new" / "deeper" / "rows.csv"
        write_rows([{"a": 1}], target)
        assert target.read_text().splitlines() == ["a", "1"]

    def test_empty(self, tmp_path: Path) -> None:
        write_rows([], tmp_path / "rows.json")
        assert json.loads((tmp_path / "rows.json").read_text()) == []

    def test_atomic_when_writing_fails(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        target = tmp_path / "rows.json"
        target.write_text("old content")

        def half_then_fail(obj: object, handle: object, **kw: object) -> None:
            handle.write('[{"a": ')  # type: ignore[attr-defined]
            raise RuntimeError("disk full")

        monkeypatch.setattr(output.json, "dump", half_then_fail)
        with pytest.raises(RuntimeError, match="disk full"):
            write_rows([{"a": 1}], target)
        assert target.read_text() == "old content"
        assert [p.name for p in tmp_path.iterdir()] == ["rows.json"]  # no temporary file left
