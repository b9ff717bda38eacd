"""Tests of neuratlas.configuration.loader: reading siibra-layout folders into specs."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import warnings
from pathlib import Path

import pytest

from neuratlas.configuration import loader
from neuratlas.configuration.loader import (
    FOLDERS,
    LoadedSpec,
    SpecWarning,
    json_path,
    load_file,
    load_folder,
)
from neuratlas.configuration.specs import AtlasSpec, MapSpec, ParcellationSpec, SpaceSpec
from neuratlas.errors import SpecError
from tests.toy_atlas import PARC_ID


def read(file: Path) -> dict:
    return json.loads(file.read_text())


def write(file: Path, obj: object) -> Path:
    file.write_text(json.dumps(obj))
    return file


# --- json_path -----------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("location", "expected"),
    [
        ((), "$"),
        (("name",), "$.name"),
        (("regions", 0, "children", 1, "name"), "$.regions[0].children[1].name"),
        (("indices", "Area A", 0, "label"), "$.indices.Area A[0].label"),
    ],
)
def test_json_path(location: tuple, expected: str) -> None:
    assert json_path(location) == expected


# --- the toy folder ------------------------------------------------------------------------
def test_toy_folder_loads_unchanged(toy_folder: Path) -> None:
    loaded = load_folder(toy_folder, strict=True)
    kinds = [type(s.spec) for s in loaded]
    assert kinds.count(AtlasSpec) == 1
    assert kinds.count(SpaceSpec) == 1
    assert kinds.count(ParcellationSpec) == 2
    assert kinds.count(MapSpec) == 3
    # stable order: by sub-folder in FOLDERS order, then file name
    order = [FOLDERS.index(s.file.parent.name) for s in loaded]
    assert order == sorted(order)
    names = [s.file.name for s in loaded if s.file.parent.name == "maps"]
    assert names == sorted(names)
    for item in loaded:
        assert isinstance(item, LoadedSpec)
        assert item.folder == item.file.parent
        assert item.spec.id == read(item.file)["@id"]


def test_toy_specs_fields(toy_folder: Path) -> None:
    parc = load_file(toy_folder / "parcellations" / "toy-v2.json").spec
    assert isinstance(parc, ParcellationSpec)
    assert parc.short_name == "toy v2"
    assert parc.version is not None and parc.version.name == "2"
    assert parc.version.collection == "Toy parcellation"
    assert parc.regions[0].children[0].rgb == (200, 10, 10)
    stat = load_file(toy_folder / "maps" / "toy-statistical.json").spec
    assert stat.resolved_maptype == "statistical"
    assert stat.value_scale == pytest.approx(0.01)
    labelled = load_file(toy_folder / "maps" / "toy-labelled.json").spec
    assert labelled.resolved_maptype == "labelled"
    assert labelled.value_scale == 1.0


def test_siibra_extras_are_ignored_and_hex_colours_read(tmp_path: Path, toy_folder: Path) -> None:
    data = read(toy_folder / "parcellations" / "toy-v2.json")
    data["someSiibraKey"] = {"anything": [1, 2]}
    data["regions"][0]["rgb"] = "#ff8001"
    data["regions"][0]["ontologyMetadata"] = {"x": 1}
    spec = load_file(write(tmp_path / "p.json", data)).spec
    assert spec.regions[0].rgb == (255, 128, 1)


# --- malformed files ----------------------------------------------------------------------
def test_invalid_json(tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text('{"@id": "x",\n  "name": }')
    with pytest.raises(SpecError) as info:
        load_file(bad)
    assert info.value.file == str(bad)
    assert str(bad) in str(info.value)
    assert "not valid JSON (line 2" in str(info.value)
    assert info.value.hint == "fix the JSON syntax"


def test_not_an_object(tmp_path: Path) -> None:
    with pytest.raises(SpecError, match=r"expected a JSON object") as info:
        load_file(write(tmp_path / "list.json", [1, 2]))
    assert info.value.path == "$"


@pytest.mark.parametrize("kind", ["siibra/space/v9", None, 42])
def test_unknown_type(tmp_path: Path, kind: object) -> None:
    file = write(tmp_path / "x.json", {"@id": "x", "@type": kind, "name": "x"})
    with pytest.raises(SpecError) as info:
        load_file(file)
    assert info.value.path == "$['@type']"
    assert f"unknown @type {kind!r}" in str(info.value)
    assert "siibra/parcellation/v0.0.1" in info.value.hint


def test_missing_type(tmp_path: Path) -> None:
    with pytest.raises(SpecError, match="unknown @type None"):
        load_file(write(tmp_path / "x.json", {"@id": "x", "name": "x"}))


def test_missing_required_field(tmp_path: Path, toy_folder: Path) -> None:
    data = read(toy_folder / "parcellations" / "toy-v2.json")
    del data["regions"]
    file = write(tmp_path / "p.json", data)
    with pytest.raises(SpecError) as info:
        load_file(file)
    assert info.value.file == str(file)
    assert info.value.path == "$.regions"
    assert "Field required" in str(info.value)
    assert str(info.value).startswith(f"{file}:$.regions: ")


def test_wrong_type_deep_in_region_tree(tmp_path: Path, toy_folder: Path) -> None:
    data = read(toy_folder / "parcellations" / "toy-v2.json")
    data["regions"][0]["children"][1]["name"] = 42
    file = write(tmp_path / "p.json", data)
    with pytest.raises(SpecError) as info:
        load_file(file)
    assert info.value.path == "$.regions[0].children[1].name"
    assert "$.regions[0].children[1].name" in str(info.value)
    assert "(got 42)" in str(info.value)


def test_wrong_type_in_map_index(tmp_path: Path, toy_folder: Path) -> None:
    data = read(toy_folder / "maps" / "toy-labelled.json")
    data["indices"]["Nucleus C"][0]["label"] = "five"
    with pytest.raises(SpecError) as info:
        load_file(write(tmp_path / "m.json", data))
    assert info.value.path == "$.indices.Nucleus C[0].label"


def test_long_bad_values_are_shortened(tmp_path: Path, toy_folder: Path) -> None:
    data = read(toy_folder / "spaces" / "toy.json")
    data["volumes"] = "x" * 500
    with pytest.raises(SpecError) as info:
        load_file(write(tmp_path / "s.json", data))
    assert "..." in str(info.value)
    assert "x" * 100 not in str(info.value)


def test_unreadable_file(tmp_path: Path) -> None:
    with pytest.raises(SpecError, match="cannot read"):
        load_file(tmp_path / "missing.json")


# --- folders -------------------------------------------------------------------------------
def test_missing_folder(tmp_path: Path) -> None:
    with pytest.raises(SpecError, match="does not exist"):
        load_folder(tmp_path / "nope")


def test_folder_without_spec_folders(tmp_path: Path) -> None:
    (tmp_path / "other").mkdir()
    with pytest.raises(SpecError, match="has none of the folders atlases, spaces") as info:
        load_folder(tmp_path)
    assert "siibra-configurations layout" in info.value.hint


def test_partial_layout_is_fine(tmp_path: Path, toy_folder: Path) -> None:
    (tmp_path / "spaces").mkdir()
    write(tmp_path / "spaces" / "toy.json", read(toy_folder / "spaces" / "toy.json"))
    loaded = load_folder(tmp_path)
    assert [type(s.spec) for s in loaded] == [SpaceSpec]


def test_non_json_files_are_ignored(toy_copy: Path) -> None:
    (toy_copy / "maps" / "README.md").write_text("# not a spec")
    assert len(load_folder(toy_copy, strict=True)) == 7


def test_non_strict_warns_and_keeps_good_files(toy_copy: Path) -> None:
    (toy_copy / "parcellations" / "broken.json").write_text("{ nope")
    data = read(toy_copy / "maps" / "toy-labelled.json")
    data["indices"] = []
    write(toy_copy / "maps" / "zz-bad-indices.json", data)
    with pytest.warns(SpecWarning) as record:
        loaded = load_folder(toy_copy)
    messages = [str(w.message) for w in record]
    assert len(messages) == 2
    assert any("broken.json" in m and "not valid JSON" in m for m in messages)
    assert any("zz-bad-indices.json:$.indices" in m for m in messages)
    assert all(m.startswith("skipped ") for m in messages)
    assert len(loaded) == 7  # the seven good files


def test_strict_raises_on_first_bad_file(toy_copy: Path) -> None:
    (toy_copy / "parcellations" / "broken.json").write_text("{ nope")
    with pytest.raises(SpecError, match=r"broken\.json"):
        load_folder(toy_copy, strict=True)


def test_spec_warning_is_a_user_warning() -> None:
    assert issubclass(SpecWarning, UserWarning)


# --- a folder of which nothing loads -------------------------------------------------------------
def test_folder_where_no_spec_loads_raises(tmp_path: Path) -> None:
    (tmp_path / "parcellations").mkdir()
    for n in range(5):
        (tmp_path / "parcellations" / f"bad{n}.json").write_text("{ nope")
    with pytest.raises(SpecError) as info:
        load_folder(tmp_path)
    message = info.value.message
    assert message.startswith(f"none of the 5 spec files in {str(tmp_path)!r} could be read: ")
    # the first three problems, each with its file, then a count of the rest
    assert message.count("not valid JSON") == 3
    assert "bad0.json" in message and "bad2.json" in message and "bad3.json" not in message
    assert message.endswith("; and 2 more")
    assert "NEURATLAS_CONFIGURATION" in info.value.hint


def test_folder_where_no_spec_loads_does_not_warn_too(tmp_path: Path) -> None:
    (tmp_path / "spaces").mkdir()
    write(tmp_path / "spaces" / "x.json", {"@id": "x", "@type": "siibra/space/v9"})
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a SpecWarning would turn into an exception here
        with pytest.raises(SpecError, match=r"none of the 1 spec files .*unknown @type"):
            load_folder(tmp_path)


def test_empty_folders_are_an_empty_configuration(tmp_path: Path) -> None:
    (tmp_path / "maps").mkdir()
    (tmp_path / "maps" / "notes.txt").write_text("no specs yet")
    assert load_folder(tmp_path) == []


# --- how a SpecWarning prints ------------------------------------------------------------------
def test_spec_warning_prints_as_one_line() -> None:
    out = io.StringIO()
    loader._show_warning(
        SpecWarning("skipped a.json: not valid JSON"), SpecWarning, "catalogue.py", 60, out
    )
    assert out.getvalue() == "warning: skipped a.json: not valid JSON\n"


def test_other_warnings_print_as_before(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[tuple] = []
    monkeypatch.setattr(loader, "_previous_show_warning", lambda *args: seen.append(args))
    loader._show_warning(UserWarning("x"), UserWarning, "f.py", 3)
    assert [args[1:] for args in seen] == [(UserWarning, "f.py", 3, None, None)]


def _console(configuration: Path, *args: str) -> subprocess.CompletedProcess:
    """The installed console script with ``$NEURATLAS_CONFIGURATION`` and warnings on."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONWARNINGS"}
    env["NEURATLAS_CONFIGURATION"] = str(configuration)
    return subprocess.run(
        [str(Path(sys.executable).parent / "neuratlas"), *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_console_prints_each_skipped_spec_once_without_source_lines(toy_copy: Path) -> None:
    broken = toy_copy / "parcellations" / "broken.json"
    broken.write_text("{ nope")
    done = _console(toy_copy, "regions", PARC_ID, "--json")
    assert done.returncode == 0, done.stderr
    assert done.stderr.splitlines() == [
        f"warning: skipped {broken}: not valid JSON (line 1, column 3): Expecting property "
        "name enclosed in double quotes (fix the JSON syntax)"
    ]
    assert len(json.loads(done.stdout)) == 9


def test_console_fails_on_a_folder_of_which_nothing_loads(tmp_path: Path) -> None:
    (tmp_path / "parcellations").mkdir()
    (tmp_path / "parcellations" / "broken.json").write_text("{ nope")
    done = _console(tmp_path, "parcellations")
    assert done.returncode == 1
    lines = done.stderr.splitlines()
    assert len(lines) == 2, done.stderr
    assert lines[0].startswith(
        f"error: none of the 1 spec files in {str(tmp_path)!r} could be read: "
        f"{tmp_path / 'parcellations' / 'broken.json'}: not valid JSON"
    )
    assert lines[1].startswith("hint: fix those files")
    assert done.stdout == ""
