"""Tests of neuratlas.volumes.sparse.folder: the memory-mappable .npy folder form."""

from __future__ import annotations

import json

import numpy as np
import pytest

from neuratlas.errors import ImageError, SpecError
from neuratlas.volumes.sparse import SparseIndex, load_folder, save_folder
from neuratlas.volumes.sparse.header import ARRAY_NAMES, FORMAT, HEADER_NAME, VERSION
from tests.volumes.sparse.sparse_helpers import (
    AFFINE,
    assert_same_index,
    many_volumes_index,
    positive,
    sparse_maps,
)


@pytest.fixture
def saved(tmp_path):
    """A random index and the folder it was saved to."""
    index = SparseIndex.from_4d(sparse_maps(np.random.default_rng(6)), AFFINE)
    return index, save_folder(index, tmp_path / "index")


# ----------------------------------------------------------------- good input


@pytest.mark.parametrize("layout", [np.ascontiguousarray, np.asfortranarray])
def test_round_trip_memory_mapped_or_in_memory(tmp_path, layout):
    data = sparse_maps(np.random.default_rng(1), dtype="int16")
    index = SparseIndex.from_4d(layout(data), AFFINE)
    folder = save_folder(index, tmp_path / "index")
    assert folder == tmp_path / "index"
    assert sorted(p.name for p in folder.iterdir()) == sorted(
        [HEADER_NAME, *(f"{name}.npy" for name in ARRAY_NAMES)]
    )
    mapped = load_folder(folder)
    assert isinstance(mapped.voxels, np.memmap) and isinstance(mapped.values, np.memmap)
    assert_same_index(mapped, index)
    in_memory = load_folder(str(folder), mmap=False)
    assert not isinstance(in_memory.voxels, np.memmap)
    assert_same_index(in_memory, index)
    for loaded in (mapped, in_memory):
        assert loaded.fetch(2).dtype == np.int16
        np.testing.assert_array_equal(loaded.fetch(2), positive(data[..., 2]))
        with pytest.raises(ValueError, match="read-only"):
            loaded.values[0] = 1


def test_header_records_grid_counts_and_source_dtype(saved):
    index, folder = saved
    header = json.loads((folder / HEADER_NAME).read_text())
    assert header == {
        "format": FORMAT,
        "version": VERSION,
        "shape": [9, 8, 7],
        "affine": AFFINE.tolist(),
        "order": "C",
        "num_volumes": 5,
        "num_rows": index.num_mapped_voxels,
        "num_entries": index.num_entries,
        "source_dtype": "<f4",
    }


def test_empty_volumes_and_an_all_empty_index_round_trip(tmp_path):
    data = np.zeros((3, 3, 3, 3), dtype=np.float32)
    data[1, 1, 1, 0] = 0.5
    for source in (data, np.zeros((2, 3, 4, 2))):
        index = SparseIndex.from_4d(source, AFFINE)
        loaded = load_folder(save_folder(index, tmp_path / "index"))
        assert_same_index(loaded, index)
        np.testing.assert_array_equal(loaded.bboxes[-1], [[0, 0, 0], [-1, -1, -1]])
        assert not loaded.fetch(source.shape[3] - 1).any()


def test_int32_volumes_round_trip(tmp_path):
    data, index = many_volumes_index()
    loaded = load_folder(save_folder(index, tmp_path / "many"))
    assert loaded.volumes.dtype == np.int32
    assert_same_index(loaded, index)
    np.testing.assert_array_equal(loaded.fetch(data.shape[3] - 1), data[..., -1])


def test_save_is_atomic_and_replaces_an_old_folder(tmp_path):
    first = SparseIndex.from_4d(np.ones((2, 2, 2, 1)), AFFINE)
    second = SparseIndex.from_4d(sparse_maps(np.random.default_rng(5)), AFFINE)
    save_folder(first, tmp_path / "index")
    save_folder(second, tmp_path / "index")
    assert_same_index(load_folder(tmp_path / "index"), second)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["index"]


# ------------------------------------------------------------------ bad input


def test_an_empty_index_is_not_saved(tmp_path):
    with pytest.raises(ImageError, match="cannot save an empty sparse index: add an image"):
        save_folder(SparseIndex(), tmp_path / "index")
    assert not (tmp_path / "index").exists()


def test_load_reports_truncated_and_missing_files(saved):
    index, folder = saved
    values = folder / "values.npy"
    values.write_bytes(values.read_bytes()[:-10])
    with pytest.raises(ImageError, match=r"values.npy") as info:
        load_folder(folder)
    assert "save_folder" in str(info.value)  # says what to do
    with pytest.raises(ImageError, match=r"values.npy"):
        load_folder(folder, mmap=False)
    save_folder(index, folder)
    (folder / "bboxes.npy").unlink()
    with pytest.raises(ImageError, match=r"cannot read sparse index array .*bboxes.npy"):
        load_folder(folder)
    (folder / "header.json").unlink()
    with pytest.raises(ImageError, match=r"header.json is missing") as info:
        load_folder(folder)
    assert "delete the folder" in str(info.value)
    with pytest.raises(ImageError, match=r"nothere.header.json is missing"):
        load_folder(folder.parent / "nothere")


def test_load_reports_inconsistent_arrays(saved):
    index, folder = saved
    np.save(folder / "volumes.npy", np.zeros(3, dtype=np.int16))
    with pytest.raises(ImageError, match=r"array 'volumes' has shape \(3,\)"):
        load_folder(folder)
    save_folder(index, folder)
    np.save(folder / "voxels.npy", np.ascontiguousarray(index.voxels.transpose(1, 0, 2)))
    with pytest.raises(ImageError, match=r"array 'voxels' has shape \(8, 9, 7\)"):
        load_folder(folder)
    np.save(folder / "voxels.npy", np.asfortranarray(index.voxels))
    with pytest.raises(ImageError, match="not stored in C order"):
        load_folder(folder)


def test_arrays_the_index_refuses_are_reported_with_the_folder(saved):
    index, folder = saved
    np.save(folder / "values.npy", index.values.astype(np.complex64))
    with pytest.raises(ImageError, match=r"index: values must be real numbers") as info:
        load_folder(folder)
    assert str(folder) in str(info.value) and "delete the folder" in str(info.value)
    save_folder(index, folder)
    indptr = np.array(index.indptr)
    indptr[-1] += 1
    np.save(folder / "indptr.npy", indptr)
    with pytest.raises(ImageError, match=r"indptr must be an int64 array from 0 to the"):
        load_folder(folder)


@pytest.mark.parametrize(
    ("header", "message"),
    [
        ('{"format": "other"}', "not a neuratlas-sparse-index header"),
        ('{"format": "neuratlas-sparse-index", "version": 9}', "version 9"),
        ("{not json", "unreadable sparse index header"),
        ("[1, 2]", "not a neuratlas-sparse-index header"),
    ],
)
def test_load_reports_bad_headers(saved, header, message):
    _, folder = saved
    (folder / "header.json").write_text(header)
    with pytest.raises(ImageError, match=message) as info:
        load_folder(folder)
    assert not isinstance(info.value, SpecError)
    assert "header.json" in str(info.value)
    assert info.value.hint  # says what to do


@pytest.mark.parametrize(
    ("entry", "value", "message"),
    [
        ("shape", None, "lacks or mangles"),
        ("num_rows", "many", "lacks or mangles"),
        ("source_dtype", "no such dtype", "lacks or mangles"),
        ("affine", [[1, 0], [0, 1]], "bad affine or order"),
        ("order", "A", "bad affine or order"),
    ],
)
def test_load_reports_mangled_header_entries(saved, entry, value, message):
    _, folder = saved
    header = json.loads((folder / HEADER_NAME).read_text())
    header[entry] = value
    (folder / HEADER_NAME).write_text(json.dumps(header))
    with pytest.raises(ImageError, match=message) as info:
        load_folder(folder)
    assert str(folder) in str(info.value) and "rebuilt" in str(info.value)
    del header[entry]
    (folder / HEADER_NAME).write_text(json.dumps(header))
    with pytest.raises(ImageError, match=f"lacks or mangles '{entry}'"):
        load_folder(folder)
