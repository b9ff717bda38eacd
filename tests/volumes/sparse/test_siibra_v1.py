"""Tests of neuratlas.volumes.sparse.siibra_v1: siibra's three-file sparseindex_v1 format."""

from __future__ import annotations

import gzip
import os
import tempfile
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest

from neuratlas.errors import ImageError
from neuratlas.volumes.sparse import (
    SIIBRA_V1_SUFFIXES,
    SparseIndex,
    load_siibra_v1,
    save_siibra_v1,
)
from tests.volumes.sparse.sparse_helpers import (
    AFFINE,
    assert_same_content,
    many_volumes_index,
    positive,
    sparse_maps,
    write_v1,
)


@pytest.fixture
def hand_written(tmp_path: Path) -> Path:
    """Three mapped voxels, rows numbered in siibra's first-seen order, not grid order."""
    grid = np.full((3, 2, 2), -1)
    grid[2, 1, 0] = 0
    grid[0, 0, 1] = 1
    grid[1, 1, 1] = 2
    probs = "1 0.25 0 0.5\n0 1\n2 0.125 0 0.75\n"  # volumes unsorted within a line
    bboxes = "0 0 0 2 1 1\n2 1 0 2 1 0\n1 1 1 1 1 1\n"
    return write_v1(tmp_path, "hand", grid, probs, bboxes)


def test_hand_written_v1_files_load(hand_written):
    index = load_siibra_v1(hand_written)
    assert index.num_volumes == 3 and index.shape == (3, 2, 2)
    np.testing.assert_allclose(index.affine, AFFINE)
    assert index.source_dtype is None and index.dtype == np.float32
    expected = np.zeros((3, 2, 2, 3), dtype=np.float32)
    expected[2, 1, 0, [1, 0]] = [0.25, 0.5]
    expected[0, 0, 1, 0] = 1
    expected[1, 1, 1, [2, 0]] = [0.125, 0.75]
    for v in range(3):
        np.testing.assert_array_equal(index.fetch(v), expected[..., v])
    np.testing.assert_array_equal(index.bboxes[1], [[2, 1, 0], [2, 1, 0]])
    assert index.max() == 2
    # the folder form finds the one set of files in it
    assert_same_content(load_siibra_v1(hand_written.parent), index)


def test_v1_float_text_is_read_without_rounding(tmp_path):
    grid = np.array([0, 1, -1]).reshape(3, 1, 1)
    # float32 values written as float64 reprs, as siibra writes them
    f32 = write_v1(tmp_path, "f32", grid, "0 0.10000000149011612\n0 3\n", "0 0 0 1 0 0\n")
    index = load_siibra_v1(f32)
    assert index.dtype == np.float32 and index.fetch(0)[0, 0, 0] == np.float32(0.1)
    # a short decimal that float32 cannot hold is kept as float64
    f64 = write_v1(tmp_path, "f64", grid, "0 0.1\n0 0.5\n", "0 0 0 1 0 0\n")
    index = load_siibra_v1(f64)
    assert index.dtype == np.float64 and index.fetch(0)[0, 0, 0] == 0.1
    forced = load_siibra_v1(f64, value_dtype=np.float32)
    assert forced.dtype == np.float32 and forced.fetch(0)[0, 0, 0] == np.float32(0.1)


def test_v1_writer_follows_siibra_text_layout(tmp_path):
    data = np.zeros((2, 2, 1, 3), dtype=np.uint8)
    data[0, 0, 0] = [5, 0, 7]
    data[1, 1, 0] = [0, 200, 0]
    paths = save_siibra_v1(SparseIndex.from_4d(data, AFFINE), tmp_path / "out", "x")
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == sorted(
        f"x{s}" for s in SIIBRA_V1_SUFFIXES.values()
    )
    probs = gzip.decompress(paths["probs"].read_bytes()).decode()
    assert probs == "0 5 2 7\n1 200\n"
    bboxes = gzip.decompress(paths["bboxes"].read_bytes()).decode()
    assert bboxes == "0 0 0 0 0 0\n1 1 0 1 1 0\n0 0 0 0 0 0\n"
    grid = nib.load(paths["voxels"])
    assert grid.get_data_dtype() == np.int32
    np.testing.assert_array_equal(np.asanyarray(grid.dataobj)[..., 0], [[0, -1], [-1, 1]])
    floats = np.zeros((1, 1, 1, 1), dtype=np.float32)
    floats[0, 0, 0, 0] = 0.1
    save_siibra_v1(SparseIndex.from_4d(floats, AFFINE), tmp_path, "f")
    text = gzip.decompress((tmp_path / "f.sparseindex_v1.probs.txt.gz").read_bytes()).decode()
    assert text == f"0 {float(np.float32(0.1))!r}\n"


@pytest.mark.parametrize(
    ("probs", "bboxes", "bad_file", "message"),
    [
        ("1 0.25 0 0.5\n0 1\n", None, "probs", "has 2 lines but .* maps 3 voxels"),
        ("1 0.25 0 0.5\n0 1\n2 0.1\n0 1\n", None, "probs", "has 4 lines"),
        ("1 0.25 0\n0 1\n2 0.1\n", None, "probs", "line 1 has 3 numbers"),
        ("1 0.25\n\n2 0.1\n", None, "probs", "line 2 has 0 numbers"),
        ("1 0.25\n0 x\n2 0.1\n", None, "probs", "not a number"),
        ("1 0.25\n7 1\n2 0.1\n", None, "probs", "volume index 7 out of range"),
        ("1.5 0.25\n0 1\n2 0.1\n", None, "probs", "every volume index must be an integer"),
        ("1 0.25\n0 -1\n2 0.1\n", None, "probs", "values must be > 0"),
        ("1 0.25\n0 nan\n2 0.1\n", None, "probs", "values must be > 0"),
        ("1 0.25 1 0.5\n0 1\n2 0.1\n", None, "probs", "names volume 1 twice"),
        (None, "0 0 0 1 1\n", "bboxes", "line 1 has 5 numbers, expected 6"),
    ],
)
def test_v1_inconsistent_files_name_the_file(tmp_path, probs, bboxes, bad_file, message):
    grid = np.full((3, 2, 2), -1)
    grid[2, 1, 0], grid[0, 0, 1], grid[1, 1, 1] = 0, 1, 2
    prefix = write_v1(
        tmp_path,
        "bad",
        grid,
        probs or "1 0.25 0 0.5\n0 1\n2 0.125\n",
        bboxes or "0 0 0 2 1 1\n2 1 0 2 1 0\n1 1 1 1 1 1\n",
    )
    with pytest.raises(ImageError, match=message) as info:
        load_siibra_v1(prefix)
    assert f"bad{SIIBRA_V1_SUFFIXES[bad_file]}" in str(info.value)


@pytest.mark.parametrize("part", ["voxels", "probs", "bboxes"])
def test_v1_truncated_files_name_the_file(hand_written, part):
    path = Path(f"{hand_written}{SIIBRA_V1_SUFFIXES[part]}")
    path.write_bytes(path.read_bytes()[:-12])
    with pytest.raises(ImageError, match=path.name):
        load_siibra_v1(hand_written)


def test_v1_missing_files_and_ambiguous_folders(hand_written):
    folder = hand_written.parent
    with pytest.raises(ImageError, match=r"missing.*nothere.sparseindex_v1"):
        load_siibra_v1(folder / "nothere")
    other = folder / f"second{SIIBRA_V1_SUFFIXES['voxels']}"
    other.write_bytes(b"")
    with pytest.raises(ImageError, match="holds 2 siibra sparse indexes"):
        load_siibra_v1(folder)
    empty = folder / "empty"
    empty.mkdir()
    with pytest.raises(ImageError, match="holds 0 siibra sparse indexes"):
        load_siibra_v1(empty)


def test_v1_voxel_grid_must_be_3d_integers(tmp_path):
    prefix = write_v1(tmp_path, "g", np.zeros((2, 2, 2)), "0 1\n", "0 0 0 0 0 0\n")
    nib.save(
        nib.Nifti1Image(np.zeros((2, 2, 2), dtype=np.float32), AFFINE),
        f"{prefix}{SIIBRA_V1_SUFFIXES['voxels']}",
    )
    with pytest.raises(ImageError, match="must be a 3D integer image, got float32"):
        load_siibra_v1(prefix)


def test_an_empty_index_is_not_saved(tmp_path):
    with pytest.raises(ImageError, match="cannot save an empty sparse index"):
        save_siibra_v1(SparseIndex(), tmp_path, "empty")
    assert not list(tmp_path.iterdir())


@pytest.mark.parametrize("layout", [np.ascontiguousarray, np.asfortranarray])
def test_round_trip_keeps_the_maps(tmp_path, layout):
    data = sparse_maps(np.random.default_rng(17), shape=(6, 5, 4, 3), dtype="uint8")
    index = SparseIndex.from_4d(layout(data), AFFINE)
    paths = save_siibra_v1(index, tmp_path, "maps")
    assert set(paths) == set(SIIBRA_V1_SUFFIXES)
    loaded = load_siibra_v1(tmp_path / "maps")
    assert_same_content(loaded, index)
    for v in range(3):
        np.testing.assert_array_equal(loaded.fetch(v, np.uint8), positive(data[..., v]))


def test_an_all_empty_index_and_empty_volumes_round_trip(tmp_path):
    index = SparseIndex.from_4d(np.zeros((2, 3, 4, 2), dtype=np.float32), AFFINE)
    paths = save_siibra_v1(index, tmp_path, "empty")
    assert gzip.decompress(paths["probs"].read_bytes()) == b""
    loaded = load_siibra_v1(tmp_path / "empty")
    assert loaded.num_volumes == 2 and loaded.max() == -1
    np.testing.assert_array_equal(loaded.bboxes, index.bboxes)
    assert_same_content(loaded, index)


def test_int32_volumes_round_trip(tmp_path):
    data, index = many_volumes_index()
    save_siibra_v1(index, tmp_path, "many")
    loaded = load_siibra_v1(tmp_path / "many")
    assert loaded.volumes.dtype == np.int32 and loaded.num_volumes == data.shape[3]
    np.testing.assert_array_equal(loaded.fetch(data.shape[3] - 1, np.uint8), data[..., -1])
    np.testing.assert_array_equal(loaded.volumes, index.volumes)


# ------------------------------------------------------ siibra itself, if present


@pytest.fixture(scope="module")
def siibra_sparse():
    os.environ.setdefault("SIIBRA_CACHEDIR", tempfile.mkdtemp(prefix="siibra-cache-"))
    os.environ.setdefault("SIIBRA_LOG_LEVEL", "WARNING")
    os.environ.setdefault("SKIP_CACHEINIT_MAINTENANCE", "1")
    return pytest.importorskip("siibra.volumes.sparsemap")


@pytest.mark.parametrize("dtype", ["float32", "uint8"])
def test_siibra_written_index_loads_here_and_ours_loads_in_siibra(siibra_sparse, tmp_path, dtype):
    data = sparse_maps(np.random.default_rng(10), shape=(6, 7, 8, 4), dtype=dtype)
    theirs = siibra_sparse.SparseIndex()
    for v in range(data.shape[3]):
        theirs.add_img(data[..., v], AFFINE)
    theirs.save("theirs", str(tmp_path))
    ours = load_siibra_v1(tmp_path / "theirs")
    built = SparseIndex.from_4d(data, AFFINE)
    save_siibra_v1(built, tmp_path, "ours")
    back = siibra_sparse.SparseIndex.load(str(tmp_path / "ours"))
    for index in (ours, built):
        assert index.max() == theirs.max() == back.max()
        for v in range(data.shape[3]):
            np.testing.assert_array_equal(index.fetch(v, dtype=data.dtype), positive(data[..., v]))
            np.testing.assert_array_equal(index.coords(v), theirs.coords(v))
            np.testing.assert_array_equal(back.coords(v), theirs.coords(v))
            _, _, _, values = index.mapped_voxels(v)
            np.testing.assert_array_equal(
                values, np.asarray(theirs.mapped_voxels(v)[3], dtype=values.dtype)
            )
            np.testing.assert_array_equal(back.mapped_voxels(v)[3], theirs.mapped_voxels(v)[3])
        boxes = [[list(b["minpoint"]), list(b["maxpoint"])] for b in theirs.bboxes]
        assert index.bboxes.tolist() == boxes
    assert [b["minpoint"] for b in back.bboxes] == [b["minpoint"] for b in theirs.bboxes]
