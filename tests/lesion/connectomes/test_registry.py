"""The registry of connectomes on disk: names to paths, kept across processes."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from neuratlas.errors import ArgumentError, DataUnavailableError, ImageError, NotFoundError
from neuratlas.lesion.connectomes import (
    get_connectome,
    get_connectome_path,
    get_data_dir,
    get_fetch_status,
    list_connectomes,
    open_connectome,
    register_connectome,
    unregister_connectome,
    write_connectome,
)
from neuratlas.lesion.connectomes.registry import record_fetch
from neuratlas.lesion.connectomes.tck import TckWriter
from tests.lesion.connectomes.synthetic import AFFINE, brain_mask, streamlines


@pytest.fixture
def functional(tmp_path) -> Path:
    mask = brain_mask()
    series = np.random.default_rng(0).normal(size=(3, 6, int(mask.sum())))
    folder = tmp_path / "conn"
    write_connectome(folder / "a.h5", series[:2], mask, AFFINE, space="MNI152NLin6Asym")
    write_connectome(folder / "b.h5", series[2:], mask, AFFINE, space="MNI152NLin6Asym")
    return folder


@pytest.fixture
def structural(tmp_path) -> Path:
    with TckWriter(tmp_path / "t.tck") as writer:
        writer.write(streamlines(5))
    return tmp_path / "t.tck"


def test_the_data_folder_comes_from_the_environment(tmp_path, monkeypatch, isolated):
    assert get_data_dir() == isolated.resolve() and isolated.is_dir()
    monkeypatch.delenv("NEURATLAS_DATA_DIR")
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    assert get_data_dir() == (tmp_path / "xdg" / "neuratlas" / "connectomes").resolve()
    (tmp_path / "file").write_text("x")
    monkeypatch.setenv("NEURATLAS_DATA_DIR", str(tmp_path / "file" / "sub"))
    with pytest.raises(DataUnavailableError, match="cannot be created") as info:
        get_data_dir()
    assert "NEURATLAS_DATA_DIR" in info.value.hint


def test_functional_and_structural_connectomes_register_and_resolve(functional, structural):
    entry = register_connectome("GSP-test", functional, description="three subjects")
    assert entry.kind == "functional" and entry.n_subjects == 3 and entry.resolution == 2.0
    assert entry.space == "MNI152NLin6Asym" and entry.path == functional.resolve()
    tract = register_connectome("tracts", structural, space="MNI152NLin2009cAsym", n_subjects=9)
    assert tract.kind == "structural" and tract.n_subjects == 9 and tract.resolution is None
    assert [e.name for e in list_connectomes()] == ["GSP-test", "tracts"]
    assert [e.name for e in list_connectomes("structural")] == ["tracts"]
    assert get_connectome_path("gsp-TEST") == functional.resolve()
    assert get_connectome_path(str(structural)) == structural  # a path stays a path
    assert open_connectome("GSP-test").n_subjects == 3
    assert "functional connectome in MNI152NLin6Asym, 3 subjects" in str(
        get_connectome("GSP-test")
    )


def test_registrations_survive_a_new_process(functional, isolated):
    register_connectome("GSP-test", functional)
    code = (
        "from neuratlas.lesion.connectomes import get_connectome_path as g; print(g('GSP-test'))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == str(functional.resolve())
    stored = json.loads((isolated / "registry.json").read_text())
    assert stored["format"] == 1 and stored["connectomes"]["GSP-test"]["kind"] == "functional"


def test_a_name_taken_by_another_path_needs_overwrite(functional, tmp_path, structural):
    register_connectome("c", functional)
    register_connectome("c", functional)  # the same path again: fine
    other = tmp_path / "other"
    other.mkdir()
    (other / "x.h5").write_bytes((functional / "a.h5").read_bytes())
    with pytest.raises(ArgumentError, match="'c' is already registered at") as info:
        register_connectome("C", other)
    assert "overwrite=True" in info.value.hint
    register_connectome("C", other, overwrite=True)
    assert [e.name for e in list_connectomes()] == ["C"]
    assert get_connectome_path("c") == other.resolve()


def test_unregistering_keeps_the_files(functional):
    register_connectome("c", functional)
    assert unregister_connectome("C").path == functional.resolve()
    assert list_connectomes() == [] and functional.is_dir()
    with pytest.raises(NotFoundError, match="no connectome named 'c' is registered"):
        unregister_connectome("c")


def test_unknown_names_suggest_registered_ones(functional):
    with pytest.raises(NotFoundError, match="registered: none yet") as info:
        get_connectome_path("GSP1000")
    assert "fetch_connectome" in info.value.hint
    register_connectome("GSP1000", functional)
    with pytest.raises(NotFoundError) as info:
        get_connectome_path("GSP100")
    assert info.value.suggestions == ["GSP1000"]


def test_a_registered_connectome_whose_files_are_gone(functional, tmp_path):
    moved = tmp_path / "moved"
    register_connectome("c", functional)
    functional.rename(moved)
    with pytest.raises(NotFoundError, match="no longer exists") as info:
        get_connectome_path("c")
    assert "unregister_connectome('c')" in info.value.hint


def test_registration_checks_what_it_registers(tmp_path, functional, structural):
    with pytest.raises(ArgumentError, match="non-empty name"):
        register_connectome("  ", functional)
    with pytest.raises(NotFoundError, match="does not exist"):
        register_connectome("x", tmp_path / "none.h5")
    (tmp_path / "notes.txt").write_text("x")
    with pytest.raises(ArgumentError, match="cannot tell what kind"):
        register_connectome("x", tmp_path / "notes.txt")
    (tmp_path / "bad.tck").write_bytes(b"not a tractogram")
    with pytest.raises(ImageError, match="not a readable tractogram"):
        register_connectome("x", tmp_path / "bad.tck", space="MNI152NLin6Asym")
    with pytest.raises(ArgumentError, match="template space is not known") as info:
        register_connectome("x", structural)
    assert "space=" in info.value.hint
    with pytest.raises(ArgumentError, match="one tractogram file"):
        register_connectome("x", functional, kind="structural", space="MNI152NLin6Asym")
    with pytest.raises(ArgumentError, match="unknown kind"):
        register_connectome("x", structural, kind="diffusion", space="MNI152NLin6Asym")
    (tmp_path / "empty").mkdir()
    with pytest.raises(NotFoundError, match="no HDF5 batch files"):
        register_connectome("x", tmp_path / "empty")
    assert list_connectomes() == []


def test_a_damaged_registry_file_is_reported(isolated):
    isolated.mkdir(parents=True)
    (isolated / "registry.json").write_text("{not json")
    with pytest.raises(ImageError, match=r"registry .* is not valid JSON") as info:
        list_connectomes()
    assert "NEURATLAS_DATA_DIR" in info.value.hint


def test_fetch_status_follows_the_record_and_the_files(tmp_path, functional, structural):
    empty = get_fetch_status("gsp1000")
    assert empty == {
        "downloaded": False,
        "processed": False,
        "registered": False,
        "register_names": [],
        "location": None,
        "size_bytes": None,
        "output_dir": None,
    }
    raw = tmp_path / "raw.tar"
    raw.write_bytes(b"x" * 10)
    record_fetch(
        "gsp1000", output_dir=tmp_path, downloads=[raw], processed=sorted(functional.glob("*.h5"))
    )
    register_connectome("GSP1000", functional, source="gsp1000")
    status = get_fetch_status("GSP1000")
    assert status["downloaded"] and status["processed"] and status["register_names"] == ["GSP1000"]
    assert status["location"] == functional
    assert status["size_bytes"] == sum(p.stat().st_size for p in functional.iterdir())
    raw.unlink()
    assert not get_fetch_status("gsp1000")["downloaded"]
    with pytest.raises(NotFoundError, match="unknown connectome 'tor'"):
        get_fetch_status("tor")


def test_fetch_status_looks_into_the_default_folder_without_a_record(isolated, structural):
    folder = get_data_dir() / "hcp1065"
    folder.mkdir()
    (folder / "hcp1065.tck").write_bytes(structural.read_bytes())
    status = get_fetch_status("hcp1065")
    assert status["processed"] and status["location"] == folder / "hcp1065.tck"
    assert status["output_dir"] == folder and not status["registered"]
