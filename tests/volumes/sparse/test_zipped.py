"""Tests of neuratlas.volumes.sparse.zipped: the one-file zip form."""

from __future__ import annotations

import json
import zipfile

import numpy as np
import pytest

from neuratlas.errors import ImageError
from neuratlas.volumes.sparse import SparseIndex, load_zip, save_zip
from neuratlas.volumes.sparse.header import ARRAY_NAMES, HEADER_NAME
from tests.volumes.sparse.sparse_helpers import (
    AFFINE,
    assert_same_index,
    many_volumes_index,
    sparse_maps,
)


def rewrite(source, target, skip=(), replace=None):
    """Copy a zip's members except ``skip``, with ``replace`` = {name: bytes}."""
    replace = replace or {}
    with zipfile.ZipFile(source) as old, zipfile.ZipFile(target, "w") as new:
        for name in old.namelist():
            if name not in skip:
                new.writestr(name, replace.get(name, old.read(name)))
    return target


# ----------------------------------------------------------------- good input


@pytest.mark.parametrize("layout", [np.ascontiguousarray, np.asfortranarray])
def test_round_trip_through_one_deflated_file(tmp_path, layout):
    index = SparseIndex.from_4d(layout(sparse_maps(np.random.default_rng(7))), AFFINE)
    path = save_zip(index, tmp_path / "index.zip")
    assert path == tmp_path / "index.zip"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["index.zip"]  # no leftovers
    with zipfile.ZipFile(path) as archive:
        assert sorted(archive.namelist()) == sorted(
            [HEADER_NAME, *(f"{n}.npy" for n in ARRAY_NAMES)]
        )
        assert {m.compress_type for m in archive.infolist()} == {zipfile.ZIP_DEFLATED}
    loaded = load_zip(str(path))
    assert_same_index(loaded, index)
    assert not isinstance(loaded.voxels, np.memmap)


def test_edge_cases_round_trip(tmp_path):
    _, many = many_volumes_index()
    empty = SparseIndex.from_4d(np.zeros((2, 2, 2, 3), dtype=np.uint8), AFFINE)
    for index in (many, empty):
        assert_same_index(load_zip(save_zip(index, tmp_path / "i.zip")), index)


def test_save_replaces_an_old_zip(tmp_path):
    save_zip(SparseIndex.from_4d(np.ones((2, 2, 2, 1)), AFFINE), tmp_path / "i.zip")
    second = SparseIndex.from_4d(sparse_maps(np.random.default_rng(3)), AFFINE)
    assert_same_index(load_zip(save_zip(second, tmp_path / "i.zip")), second)


# ------------------------------------------------------------------ bad input


def test_an_empty_index_is_not_saved(tmp_path):
    with pytest.raises(ImageError, match="cannot save an empty sparse index"):
        save_zip(SparseIndex(), tmp_path / "i.zip")
    assert not list(tmp_path.iterdir())


def test_load_zip_reports_corrupt_and_incomplete_archives(tmp_path):
    index = SparseIndex.from_4d(sparse_maps(np.random.default_rng(8)), AFFINE)
    path = save_zip(index, tmp_path / "index.zip")
    broken = tmp_path / "broken.zip"
    broken.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    with pytest.raises(ImageError, match=r"broken.zip") as info:
        load_zip(broken)
    assert "write it again with save_zip" in str(info.value)
    partial = rewrite(path, tmp_path / "partial.zip", skip=["values.npy"])
    with pytest.raises(ImageError, match=r"partial.zip.*values.npy"):
        load_zip(partial)
    with pytest.raises(ImageError, match=r"missing.zip"):
        load_zip(tmp_path / "missing.zip")


def test_load_zip_reports_a_missing_or_bad_header(tmp_path):
    index = SparseIndex.from_4d(sparse_maps(np.random.default_rng(9)), AFFINE)
    path = save_zip(index, tmp_path / "index.zip")
    headless = rewrite(path, tmp_path / "headless.zip", skip=[HEADER_NAME])
    with pytest.raises(ImageError, match=r"headless.zip:header.json.*unreadable"):
        load_zip(headless)
    header = json.dumps({"format": "neuratlas-sparse-index", "version": 2})
    old = rewrite(path, tmp_path / "old.zip", replace={HEADER_NAME: header})
    with pytest.raises(ImageError, match=r"old.zip:header.json: .*version 2") as info:
        load_zip(old)
    assert "rebuild the index" in str(info.value)


def test_load_zip_reports_arrays_that_disagree_with_the_header(tmp_path):
    index = SparseIndex.from_4d(sparse_maps(np.random.default_rng(10)), AFFINE)
    path = save_zip(index, tmp_path / "index.zip")
    with zipfile.ZipFile(path) as archive:
        header = json.loads(archive.read(HEADER_NAME))
    header["num_volumes"] = 2
    bad = rewrite(path, tmp_path / "bad.zip", replace={HEADER_NAME: json.dumps(header)})
    with pytest.raises(ImageError, match=r"bad.zip: array 'bboxes' has shape \(5, 2, 3\)"):
        load_zip(bad)
