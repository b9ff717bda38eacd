"""How the CLI prints results: tables, JSON, and row files (neuratlas.cli.output)."""

from __future__ import annotations

import csv
import json
import os
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from rich.console import Console

from neuratlas.cli import output
from neuratlas.cli.output import (
    ROW_FORMATS,
    check_output_path,
    check_rows_output,
    emit_json,
    emit_object,
    emit_rows,
    one_line,
    write_rows,
)
from neuratlas.errors import ArgumentError

ROWS = [
    {"name": "hOc1", "volume": 0.123456, "labels": [1, 2], "note": None},
    {"name": "hOc2", "volume": np.float64(2 / 3), "labels": (3,), "note": "x"},
]


# names of the embedded Juelich atlas, the longest a table shows
LONG_NAMES = [
    "Anterior intra-parietal sulcus hIP1 - left hemisphere",
    "Hippocampus hippocampal-amygdaloid transition area - right hemisphere",
]


def _lines(text: str) -> list[str]:
    return [line.rstrip() for line in text.splitlines()]


def _strict_json(text: str) -> object:
    """Parse ``text`` as strict JSON: NaN and Infinity tokens are errors."""

    def refuse(token: str) -> None:
        raise ValueError(f"not strict JSON: {token}")

    return json.loads(text, parse_constant=refuse)


@pytest.fixture
def narrow(monkeypatch: pytest.MonkeyPatch, tmp_path: Path):
    """The CLI's console as a 60-column terminal; returns a function giving what it printed."""
    path = tmp_path / "console.txt"
    handle = path.open("w", encoding="utf-8")
    monkeypatch.setattr(output, "console", Console(file=handle, width=60))

    def printed() -> str:
        handle.flush()
        return path.read_text(encoding="utf-8")

    yield printed
    handle.close()


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

    def test_nan_and_infinity_are_null(self, capsys: pytest.CaptureFixture[str]) -> None:
        # strict JSON has no NaN: jq, JavaScript and most parsers refuse the bare token
        emit_json(
            {
                "nan": float("nan"),
                "f32": np.float32("nan"),
                "inf": -np.inf,
                "array": np.array([1.5, np.nan]),
                "rows": [{"correlation": np.float64("nan")}],
            }
        )
        assert _strict_json(capsys.readouterr().out) == {
            "nan": None,
            "f32": None,
            "inf": None,
            "array": [1.5, None],
            "rows": [{"correlation": None}],
        }


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

    def test_undefined_values_in_a_table(self, capsys: pytest.CaptureFixture[str]) -> None:
        emit_rows(
            [{"name": "a", "value": float("nan")}, {"name": "b", "value": np.float64(0.5)}],
            title="t",
            as_json=False,
        )
        out = capsys.readouterr().out
        assert "nan" not in out
        first = next(line for line in _lines(out) if "│ a" in line)
        assert [c.strip() for c in first.split("│")[1:-1]] == ["a", output.UNDEFINED]

    def test_long_names_wrap_and_are_never_cut(self, narrow) -> None:
        rows = [
            {"input": 0, "region": name, "map value": 0.28, "IoU": 0.068, "correlation": -0.062}
            for name in LONG_NAMES
        ]
        emit_rows(rows, title="Assignment", as_json=False)
        out = narrow()
        assert "…" not in out
        assert all(len(line) <= 60 for line in _lines(out))
        cells = "".join(line.split("│")[2] for line in _lines(out) if "│" in line)
        for name in LONG_NAMES:  # every character of every name, in order (wrapped or folded)
            assert name.replace(" ", "") in cells.replace(" ", "")
        # numbers keep their column narrow and whole
        assert all(n in out for n in ("0.28", "0.068", "-0.062"))

    def test_brackets_in_names_are_text_not_markup(
        self, capsys: pytest.CaptureFixture[str]
    ) -> None:
        emit_rows([{"name": "Area [bold]X[/bold]"}], title="[red]t", as_json=False)
        out = capsys.readouterr().out
        assert "Area [bold]X[/bold]" in out and "[red]t" in out

    def test_empty_message_instead_of_a_table(self, capsys: pytest.CaptureFixture[str]) -> None:
        emit_rows(
            [], title="t", as_json=False, columns=("a",), empty="no region of M at (1, 2, 3) mm"
        )
        assert capsys.readouterr().out == "no region of M at (1, 2, 3) mm\n"

    def test_empty_message_json_is_an_empty_list(self, capsys: pytest.CaptureFixture[str]) -> None:
        emit_rows([], title="t", as_json=True, empty="no region")
        assert capsys.readouterr().out == "[]\n"

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

    def test_empty_values_and_lists_of_dicts(self, capsys: pytest.CaptureFixture[str]) -> None:
        emit_object(
            {
                "children": [],
                "parent": None,
                "parts": [{"#": 1, "size": "8,128"}, {"#": 2, "size": "61"}],
                "name": "hIP1",
            },
            as_json=False,
        )
        lines = _lines(capsys.readouterr().out)
        # plain lines first, then each list of dicts as a table titled by its key
        assert lines[:3] == ["children: –", "parent: –", "name: hIP1"]
        assert lines[3].strip() == "parts"
        cells = [[c.strip() for c in line.split("│")[1:-1]] for line in lines if "│" in line]
        assert cells == [["1", "8,128"], ["2", "61"]]


class TestCheckOutputPath:
    @pytest.mark.parametrize("name", ["map.nii.gz", "MAP.NII.GZ", "map.nii"])
    def test_a_writable_path_passes_and_nothing_is_created(
        self, tmp_path: Path, name: str
    ) -> None:
        assert check_output_path(tmp_path / name, (".nii.gz", ".nii")) == tmp_path / name
        assert list(tmp_path.iterdir()) == []

    def test_an_existing_file_is_fine(self, tmp_path: Path) -> None:
        (tmp_path / "rows.csv").write_text("old")
        check_output_path(tmp_path / "rows.csv", (".csv",))

    def test_missing_folder_is_not_created(self, tmp_path: Path) -> None:
        target = tmp_path / "new" / "deeper" / "map.nii.gz"
        with pytest.raises(ArgumentError) as caught:
            check_output_path(target, (".nii.gz",))
        assert caught.value.message == (
            f"cannot write {target}: the folder {target.parent} does not exist"
        )
        assert f"mkdir -p {target.parent}" in caught.value.hint
        assert not (tmp_path / "new").exists()

    def test_folder_that_is_a_file(self, tmp_path: Path) -> None:
        (tmp_path / "notes.txt").write_text("x")
        with pytest.raises(ArgumentError, match=r"notes\.txt is a file, not a folder"):
            check_output_path(tmp_path / "notes.txt" / "rows.csv", (".csv",))

    def test_path_that_is_a_folder(self, tmp_path: Path) -> None:
        (tmp_path / "out.csv").mkdir()
        with pytest.raises(ArgumentError, match="it is a folder") as caught:
            check_output_path(tmp_path / "out.csv", (".csv",))
        assert caught.value.hint == f"give the name of a file in it: {tmp_path / 'out.csv'}/<name>"

    @pytest.mark.skipif(
        not sys.platform.startswith("linux") or not os.path.isdir("/sys"),
        reason="/sys is a read-only folder (even for root) on Linux only",
    )
    def test_folder_without_write_permission(self) -> None:
        with pytest.raises(ArgumentError, match="the folder /sys is not writable"):
            check_output_path(Path("/sys/rows.csv"), (".csv",))

    @pytest.mark.parametrize("name", ["map.png", "map"])
    def test_unknown_extension_names_the_known(self, tmp_path: Path, name: str) -> None:
        with pytest.raises(ArgumentError) as caught:
            check_output_path(tmp_path / name, (".nii.gz", ".nii"))
        assert caught.value.message == (
            f"--output {str(tmp_path / name)!r} does not end in .nii.gz or .nii"
        )
        assert caught.value.hint == "name the file e.g. map.nii.gz"


class TestCheckRowsOutput:
    def test_formats(self, tmp_path: Path) -> None:
        assert list(ROW_FORMATS) == [".csv", ".tsv", ".json", ".parquet", ".xlsx"]
        assert check_rows_output(tmp_path / "a.TSV") == ".tsv"

    @pytest.mark.parametrize(
        ("suffix", "writer"), [(".parquet", "pyarrow"), (".xlsx", "openpyxl")]
    )
    def test_a_format_whose_writer_is_missing(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, suffix: str, writer: str
    ) -> None:
        monkeypatch.setattr(output.importlib.util, "find_spec", lambda name: None)
        with pytest.raises(ArgumentError, match=f"{suffix} files need {writer} or ") as caught:
            check_rows_output(tmp_path / f"rows{suffix}")
        assert (
            caught.value.hint
            == f"pip install {writer}, or end the file name in one of .csv, .tsv, .json"
        )


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

    def test_json_is_strict(self, tmp_path: Path) -> None:
        target = tmp_path / "rows.json"
        write_rows([{"a": np.arange(2), "b": float("nan"), "c": tmp_path}], target)
        assert _strict_json(target.read_text()) == [{"a": [0, 1], "b": None, "c": str(tmp_path)}]

    @pytest.mark.parametrize("name", ["rows.txt", "rows", "rows.nii.gz"])
    def test_unknown_extensions_are_refused(self, tmp_path: Path, name: str) -> None:
        refused = r"does not end in \.csv or \.tsv or \.json"
        with pytest.raises(ArgumentError, match=refused) as caught:
            write_rows([{"a": 1}], tmp_path / name)
        assert caught.value.hint == "name the file e.g. rows.csv"
        assert list(tmp_path.iterdir()) == []

    def test_does_not_create_the_folder(self, tmp_path: Path) -> None:
        target = tmp_path / "new" / "deeper" / "rows.csv"
        with pytest.raises(ArgumentError, match="does not exist"):
            write_rows([{"a": 1}], target)
        assert not (tmp_path / "new").exists()

    def test_empty_keeps_the_header(self, tmp_path: Path) -> None:
        write_rows([], tmp_path / "rows.json")
        assert json.loads((tmp_path / "rows.json").read_text()) == []
        write_rows([], tmp_path / "rows.csv", columns=["region", "map value"])
        assert (tmp_path / "rows.csv").read_text().splitlines() == ["region,map value"]

    def test_parquet(self, tmp_path: Path) -> None:
        pytest.importorskip("pyarrow")
        write_rows([{"a": 1, "b": "x", "c": [1.0, 2.0]}], tmp_path / "rows.parquet")
        back = pd.read_parquet(tmp_path / "rows.parquet")
        assert back["a"].tolist() == [1] and list(back["c"][0]) == [1.0, 2.0]

    def test_xlsx_writes_lists_as_text(self, tmp_path: Path) -> None:
        pytest.importorskip("openpyxl")
        write_rows([{"a": 1, "c": [1.5, 2.0]}], tmp_path / "rows.xlsx")
        back = pd.read_excel(tmp_path / "rows.xlsx")
        assert back.to_dict("records") == [{"a": 1, "c": "1.5, 2"}]

    def test_binary_formats_go_through_pandas_atomically(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        # without pyarrow installed: a stand-in writer shows what write_rows hands pandas
        monkeypatch.setattr(output.importlib.util, "find_spec", lambda name: object())
        seen = {}

        def fake_to_parquet(frame: pd.DataFrame, handle: object, **kw: object) -> None:
            seen.update(kw, columns=list(frame.columns))
            handle.write(b"PAR1")  # type: ignore[attr-defined]

        monkeypatch.setattr(pd.DataFrame, "to_parquet", fake_to_parquet)
        write_rows([{"a": 1}], tmp_path / "rows.parquet", columns=["a"])
        assert seen == {"index": False, "columns": ["a"]}
        assert (tmp_path / "rows.parquet").read_bytes() == b"PAR1"

    def test_atomic_when_writing_fails(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        target = tmp_path / "rows.csv"
        target.write_text("old content")

        def half_then_fail(frame: pd.DataFrame, handle: object, **kw: object) -> None:
            handle.write("a,b\n1,")  # type: ignore[attr-defined]
            raise RuntimeError("disk full")

        monkeypatch.setattr(pd.DataFrame, "to_csv", half_then_fail)
        with pytest.raises(RuntimeError, match="disk full"):
            write_rows([{"a": 1}], target)
        assert target.read_text() == "old content"
        assert [p.name for p in tmp_path.iterdir()] == ["rows.csv"]  # no temporary file left


def test_one_line() -> None:
    # nibabel's message for a truncated file, as it comes
    text = "Expected 4657746 bytes, got 499648 bytes from t.nii\n - could the file be damaged?"
    assert one_line(OSError(text)) == (
        "Expected 4657746 bytes, got 499648 bytes from t.nii - could the file be damaged?"
    )
