"""Tests of lazy loading: folder indexes, headers first, whole specs on first use."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from neuratlas.catalogue import Catalogue
from neuratlas.configuration.loader import (
    BUILTIN,
    INDEX_NAME,
    LoadedSpec,
    load_folder,
    read_index,
    scan_file,
    spec_files,
    write_index,
)
from neuratlas.configuration.specs import ParcellationSpec
from neuratlas.errors import SpecError


def edit(file: Path, change) -> None:
    data = json.loads(file.read_text())
    change(data)
    file.write_text(json.dumps(data))


def test_shipped_index_is_up_to_date() -> None:
    """The embedded folder's index lists every spec with its current size.

    When this fails, regenerate it:
    ``python -c "from neuratlas.configuration.loader import write_index, BUILTIN;
    write_index(BUILTIN)"`` (tools/build_builtin_specs.py does it after writing specs).
    """
    indexed = read_index(BUILTIN, spec_files(BUILTIN))
    assert indexed is not None, "the index of the embedded specs is stale: regenerate it"
    scanned = [scan_file(f) for f in spec_files(BUILTIN)]
    assert [i.file for i in indexed] == [s.file for s in scanned]
    assert [i.header for i in indexed] == [s.header for s in scanned]


def test_index_round_trip_and_staleness(toy_copy: Path) -> None:
    assert read_index(toy_copy, spec_files(toy_copy)) is None  # no index yet
    write_index(toy_copy)
    indexed = load_folder(toy_copy, lazy=True)
    whole = load_folder(toy_copy, strict=True)
    assert [i.header for i in indexed] == [w.header for w in whole]
    assert all(i._spec is None for i in indexed)  # nothing validated yet
    # a file that changed size makes the index stale: the folder is scanned instead
    edit(toy_copy / "spaces" / "toy.json", lambda d: d.update(name="Toy space, renamed"))
    assert read_index(toy_copy, spec_files(toy_copy)) is None
    names = {s.header.name for s in load_folder(toy_copy, lazy=True)}
    assert "Toy space, renamed" in names
    # an index of another format or broken JSON is ignored, not an error
    (toy_copy / INDEX_NAME).write_text("{ nope")
    assert len(load_folder(toy_copy, lazy=True)) == len(whole)


def test_write_index_refuses_a_malformed_folder(toy_copy: Path) -> None:
    edit(toy_copy / "maps" / "toy-labelled.json", lambda d: d.update(indices=[]))
    with pytest.raises(SpecError, match=r"toy-labelled\.json"):
        write_index(toy_copy)
    assert not (toy_copy / INDEX_NAME).exists()


def test_whole_spec_is_validated_on_first_use(toy_copy: Path) -> None:
    loaded = scan_file(toy_copy / "parcellations" / "toy-v2.json")
    assert isinstance(loaded, LoadedSpec) and loaded._spec is None
    assert isinstance(loaded.spec, ParcellationSpec)
    assert loaded.spec is loaded.spec  # validated once


def test_malformed_region_is_reported_when_the_tree_is_used(toy_copy: Path) -> None:
    def break_colour(data: dict) -> None:
        data["regions"][0]["children"][0]["rgb"] = "not a colour"

    edit(toy_copy / "parcellations" / "toy-v2.json", break_colour)
    cat = Catalogue([toy_copy])
    parcellation = cat.parcellations["toy v2"]  # found by its header
    assert parcellation.name
    with pytest.raises(SpecError, match=r"toy-v2\.json") as info:
        parcellation.get_region("Area A")
    assert info.value.path.startswith("$.regions[0].children[0].rgb")


def test_catalogue_builds_no_tree_until_asked(toy_copy: Path) -> None:
    cat = Catalogue([toy_copy])
    parcellations = list(cat.parcellations)
    assert all(p._children is None for p in parcellations)
    assert cat.maps  # finding maps needs no tree and no indices either
    assert all(p._children is None for p in parcellations)
    parcellation = cat.parcellations["toy v2"]
    region = parcellation.get_region("Area A left")
    assert region.parcellation is parcellation
    assert region in parcellation
    assert parcellation._children is not None  # built now, for this parcellation only
    assert sum(p._children is None for p in parcellations) == len(parcellations) - 1


def test_header_gives_the_maptype_of_a_map_without_one(toy_copy: Path) -> None:
    headers = {s.header.id: s.header for s in load_folder(toy_copy, lazy=True)}
    whole = {s.header.id: s.spec for s in load_folder(toy_copy, strict=True)}
    for id_, header in headers.items():
        if header.type.startswith("siibra/map"):
            assert header.maptype == whole[id_].resolved_maptype
