"""Tests of neuratlas.core.sparse_sources: the sparse index of a statistical map and its key.

Maps come from the toy atlas (tests/toy_atlas.py) and from generated configuration
folders: a map whose region images are spread over a 4D file (some of its volumes
only, out of order) and a 3D file.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest

from neuratlas.catalogue import Catalogue
from neuratlas.core import sparse_sources
from neuratlas.core.sparse_sources import build_sparse_index, index_key, scaled, sparse_index_of
from neuratlas.errors import DataUnavailableError, ImageError
from neuratlas.volumes.sparse import SparseIndex
from tests.toy_atlas import AFFINE, LEAVES, PARC_ID, SHAPE, SPACE_ID, probability_volumes

STATISTICAL = "toy/map/statistical"
SPLIT = "toy/map/split"


def split_values(seed: int = 3) -> tuple[np.ndarray, np.ndarray]:
    """A 4D float32 file of 3 maps and a 3D file of 1 map, positive blobs on the toy grid."""
    rng = np.random.default_rng(seed)
    four = np.zeros((*SHAPE, 3), np.float32)
    four[2:12, 3:15, 2:10] = rng.random((10, 12, 8, 3), dtype=np.float32)
    three = np.zeros(SHAPE, np.float32)
    three[8:18, 10:20, 6:14] = rng.random((10, 10, 8), dtype=np.float32)
    return four, three


def write_split_map(root: Path, four: np.ndarray, three: np.ndarray, affine3=AFFINE) -> None:
    """Map ``toy/map/split``: regions at z 2 and 0 of the 4D file, and the 3D file."""
    nib.save(nib.Nifti1Image(four, AFFINE), root / "data" / "four.nii.gz")
    nib.save(nib.Nifti1Image(three, affine3), root / "data" / "three.nii.gz")
    spec = {
        "@id": SPLIT,
        "@type": "siibra/map/v0.0.1",
        "name": "Split statistical map",
        "species": "Homo sapiens",
        "space": {"@id": SPACE_ID},
        "parcellation": {"@id": PARC_ID},
        "volumes": [
            {"@type": "siibra/volume/v0.0.1", "providers": {"nii": "../data/four.nii.gz"}},
            {"@type": "siibra/volume/v0.0.1", "providers": {"nii": "../data/three.nii.gz"}},
        ],
        # listed out of the order of the index, which is by (volume, z)
        "indices": {
            "Area A - left hemisphere": [{"volume": 0, "z": 2}],
            "Nucleus C": [{"volume": 1}],
            "Area A - right hemisphere": [{"volume": 0, "z": 0}],
        },
    }
    (root / "maps" / "split.json").write_text(json.dumps(spec, indent=1))


def catalogue_of(root: Path) -> Catalogue:
    return Catalogue([root], strict=True)


def dense(index: SparseIndex) -> np.ndarray:
    return np.stack([index.fetch(k) for k in range(index.num_volumes)], axis=3)


def set_scale(root: Path, map_file: str, scale: float) -> None:
    path = root / "maps" / map_file
    spec = json.loads(path.read_text())
    spec["neuratlas:value_scale"] = scale
    path.write_text(json.dumps(spec))


@pytest.fixture
def cache_root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A private, empty cache for one test."""
    root = tmp_path / "cache"
    monkeypatch.setenv("NEURATLAS_CACHE", str(root))
    return root


@pytest.fixture
def split_folder(toy_copy: Path) -> Path:
    write_split_map(toy_copy, *split_values())
    return toy_copy


# --- scaled --------------------------------------------------------------------------------------
def test_scaled_is_float32_times_float32() -> None:
    percent = np.arange(101, dtype=np.uint8)
    got = scaled(percent, 0.01)
    assert got.dtype == np.float32
    np.testing.assert_array_equal(got, percent.astype(np.float32) * np.float32(0.01))
    assert got[0] == 0 and got[100] == 1.0
    # not the float64 product rounded afterwards: the two differ by one ulp for 30 values
    rounded64 = (percent * 0.01).astype(np.float32)
    assert (got != rounded64).sum() == 30
    assert (np.abs(got - rounded64) <= np.spacing(np.float32(1))).all()


def test_scaled_inputs() -> None:
    assert scaled([0, 50, 100], 0.01).tolist() == [
        0.0,
        float(np.float32(50) * np.float32(0.01)),
        float(np.float32(100) * np.float32(0.01)),
    ]
    doubles = np.array([0.1, 0.123456789012345], dtype=np.float64)
    np.testing.assert_array_equal(scaled(doubles, 1), doubles.astype(np.float32))
    volume = probability_volumes()[..., 0]
    out = scaled(volume, 0.01)
    assert out.shape == volume.shape and out.dtype == np.float32
    assert volume.dtype == np.uint8  # the input is not changed
    assert scaled(np.zeros((0,), np.int16), 0.5).shape == (0,)


def test_scaled_agrees_with_every_way_out_of_the_map(toy) -> None:
    the_map = toy.maps[STATISTICAL]
    for k, (name, _) in enumerate(the_map.sparse_entries):
        stored = the_map.sparse_index.fetch(k)
        expected = scaled(stored, the_map.value_scale)
        np.testing.assert_array_equal(the_map.scaled(stored), expected)
        np.testing.assert_array_equal(np.asanyarray(the_map.fetch(region=name).dataobj), expected)


# --- index_key -----------------------------------------------------------------------------------
def test_the_key_is_stable(toy_copy: Path) -> None:
    first = index_key(catalogue_of(toy_copy).maps[STATISTICAL])
    assert re.fullmatch(r"[0-9a-f]{20}", first)
    assert index_key(catalogue_of(toy_copy).maps[STATISTICAL]) == first


def test_the_key_changes_with_the_mtime(toy_copy: Path) -> None:
    source = toy_copy / "data" / "probs.nii.gz"
    first = index_key(catalogue_of(toy_copy).maps[STATISTICAL])
    stat = source.stat()
    os.utime(source, (stat.st_atime, stat.st_mtime + 5))
    second = index_key(catalogue_of(toy_copy).maps[STATISTICAL])
    assert second != first
    os.utime(source, ns=(stat.st_atime_ns, stat.st_mtime_ns))  # back: the key comes back too
    assert index_key(catalogue_of(toy_copy).maps[STATISTICAL]) == first


def test_the_key_changes_with_the_size(toy_copy: Path) -> None:
    source = toy_copy / "data" / "probs.nii.gz"
    first = index_key(catalogue_of(toy_copy).maps[STATISTICAL])
    stat = source.stat()
    changed = probability_volumes(seed=1)
    nib.save(nib.Nifti1Image(changed, AFFINE), source)
    os.utime(source, ns=(stat.st_atime_ns, stat.st_mtime_ns))  # same mtime
    assert source.stat().st_size != stat.st_size
    assert index_key(catalogue_of(toy_copy).maps[STATISTICAL]) != first


def test_the_key_changes_with_the_value_scale(toy_copy: Path) -> None:
    first = index_key(catalogue_of(toy_copy).maps[STATISTICAL])
    set_scale(toy_copy, "toy-statistical.json", 0.004)
    the_map = catalogue_of(toy_copy).maps[STATISTICAL]
    assert the_map.value_scale == pytest.approx(0.004)
    assert index_key(the_map) != first


def test_maps_have_their_own_keys(split_folder: Path) -> None:
    catalogue = catalogue_of(split_folder)
    keys = {index_key(catalogue.maps[m]) for m in (STATISTICAL, SPLIT)}
    assert len(keys) == 2


def test_the_key_changes_with_a_sub_second_mtime(toy_copy: Path) -> None:
    source = toy_copy / "data" / "probs.nii.gz"
    os.utime(source, ns=(1_700_000_000_100_000_000, 1_700_000_000_100_000_000))
    first = index_key(catalogue_of(toy_copy).maps[STATISTICAL])
    os.utime(source, ns=(1_700_000_000_600_000_000, 1_700_000_000_600_000_000))
    assert index_key(catalogue_of(toy_copy).maps[STATISTICAL]) != first


def test_a_missing_source_file_raises(toy_copy: Path) -> None:
    the_map = catalogue_of(toy_copy).maps[STATISTICAL]
    (toy_copy / "data" / "probs.nii.gz").unlink()
    with pytest.raises(DataUnavailableError, match=r"probs\.nii\.gz does not exist"):
        index_key(the_map)


# --- build_sparse_index --------------------------------------------------------------------------
def test_the_toy_index_equals_the_dense_source(toy) -> None:
    the_map = toy.maps[STATISTICAL]
    index = build_sparse_index(the_map)
    assert isinstance(index, SparseIndex)
    assert index.num_volumes == len(LEAVES) and index.shape == SHAPE
    np.testing.assert_allclose(index.affine, AFFINE)
    np.testing.assert_array_equal(dense(index), probability_volumes())  # stored values, unscaled
    assert index.fetch(0).dtype == np.uint8


def test_sources_over_several_files_are_stacked_in_index_order(split_folder: Path) -> None:
    the_map = catalogue_of(split_folder).maps[SPLIT]
    assert the_map.sparse_sources == [(0, 0), (0, 2), (1, None)]
    assert [name for name, _ in the_map.sparse_entries] == [
        "Area A - right hemisphere",
        "Area A - left hemisphere",
        "Nucleus C",
    ]
    four, three = split_values()
    index = build_sparse_index(the_map)
    assert index.num_volumes == 3
    np.testing.assert_array_equal(dense(index), np.stack([four[..., 0], four[..., 2], three], 3))
    # z = 1 of the 4D file belongs to no region: it is not in the index
    assert not any(np.array_equal(index.fetch(k), four[..., 1]) for k in range(3))
    np.testing.assert_allclose(index.affine, AFFINE)


def test_background_follows_the_sparse_rules(toy_copy: Path) -> None:
    four, three = split_values()
    four[0, 0, 0] = [-0.5, np.nan, 0.0]
    three[1, 1, 1] = -2.0
    write_split_map(toy_copy, four, three)
    index = build_sparse_index(catalogue_of(toy_copy).maps[SPLIT])
    values = dense(index)
    assert (values[0, 0, 0] == 0).all() and values[1, 1, 1, 2] == 0
    assert (values >= 0).all()


def test_a_truncated_source_raises_image_error(toy_copy: Path) -> None:
    source = toy_copy / "data" / "probs.nii.gz"
    source.write_bytes(source.read_bytes()[: source.stat().st_size // 2])
    with pytest.raises(ImageError, match=r"cannot read .*probs\.nii\.gz") as info:
        build_sparse_index(catalogue_of(toy_copy).maps[STATISTICAL])
    assert "corrupt or truncated" in str(info.value)


@pytest.mark.parametrize("content", [b"", b"<html>503 Service Unavailable</html>" * 20])
def test_a_source_that_is_not_an_image_raises_image_error(toy_copy: Path, content: bytes) -> None:
    (toy_copy / "data" / "probs.nii.gz").write_bytes(content)
    with pytest.raises(ImageError, match=r"probs\.nii\.gz"):
        build_sparse_index(catalogue_of(toy_copy).maps[STATISTICAL])


def test_sources_on_another_affine_raise_image_error(toy_copy: Path) -> None:
    shifted = AFFINE.copy()
    shifted[0, 3] += 2.0  # one voxel to the right
    write_split_map(toy_copy, *split_values(), affine3=shifted)
    with pytest.raises(ImageError, match=r"three\.nii\.gz.* is on another grid"):
        build_sparse_index(catalogue_of(toy_copy).maps[SPLIT])


def test_sources_of_another_shape_raise_image_error(toy_copy: Path) -> None:
    four, three = split_values()
    write_split_map(toy_copy, four, three[:-1])
    with pytest.raises(ImageError, match=r"three\.nii\.gz.* is on another grid"):
        build_sparse_index(catalogue_of(toy_copy).maps[SPLIT])


# --- sparse_index_of -----------------------------------------------------------------------------
@pytest.fixture
def builds(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Record every build of a sparse index from the source images."""
    calls: list[str] = []
    original = sparse_sources.build_sparse_index

    def counting(the_map):
        calls.append(the_map.id)
        return original(the_map)

    monkeypatch.setattr(sparse_sources, "build_sparse_index", counting)
    return calls


def test_built_once_then_loaded_from_the_cache(
    toy_copy: Path, cache_root: Path, builds: list[str]
) -> None:
    the_map = catalogue_of(toy_copy).maps[STATISTICAL]
    first = sparse_index_of(the_map)
    assert builds == [STATISTICAL]
    entry = cache_root / "sparse" / index_key(the_map)
    assert (entry / "header.json").is_file()
    np.testing.assert_array_equal(dense(first), probability_volumes())
    # a second call, and a new catalogue (another process), load the cached entry
    second = sparse_index_of(the_map)
    third = sparse_index_of(catalogue_of(toy_copy).maps[STATISTICAL])
    assert builds == [STATISTICAL]
    for index in (second, third):
        np.testing.assert_array_equal(dense(index), probability_volumes())
        np.testing.assert_allclose(index.affine, AFFINE)
    assert [p.name for p in (cache_root / "sparse").iterdir()] == [entry.name]


def test_the_maps_sparse_index_property_uses_the_cache(
    toy_copy: Path, cache_root: Path, builds: list[str]
) -> None:
    the_map = catalogue_of(toy_copy).maps[STATISTICAL]
    assert the_map.sparse_index is the_map.sparse_index  # cached on the map as well
    again = catalogue_of(toy_copy).maps[STATISTICAL].sparse_index
    assert builds == [STATISTICAL]
    np.testing.assert_array_equal(dense(again), dense(the_map.sparse_index))


def test_a_changed_source_is_built_again(
    toy_copy: Path, cache_root: Path, builds: list[str]
) -> None:
    sparse_index_of(catalogue_of(toy_copy).maps[STATISTICAL])
    source = toy_copy / "data" / "probs.nii.gz"
    stat = source.stat()
    nib.save(nib.Nifti1Image(probability_volumes(seed=9), AFFINE), source)
    os.utime(source, (stat.st_atime + 10, stat.st_mtime + 10))
    index = sparse_index_of(catalogue_of(toy_copy).maps[STATISTICAL])
    assert builds == [STATISTICAL, STATISTICAL]
    np.testing.assert_array_equal(dense(index), probability_volumes(seed=9))
    assert len(list((cache_root / "sparse").iterdir())) == 2


def test_a_new_value_scale_is_a_new_entry_with_the_same_stored_values(
    toy_copy: Path, cache_root: Path, builds: list[str]
) -> None:
    before = sparse_index_of(catalogue_of(toy_copy).maps[STATISTICAL])
    set_scale(toy_copy, "toy-statistical.json", 0.004)
    after_map = catalogue_of(toy_copy).maps[STATISTICAL]
    after = sparse_index_of(after_map)
    assert len(builds) == 2
    np.testing.assert_array_equal(dense(after), dense(before))  # the scale applies on the way out
    np.testing.assert_array_equal(
        np.asanyarray(after_map.fetch(region=LEAVES[0]).dataobj),
        probability_volumes()[..., 0].astype(np.float32) * np.float32(0.004),
    )


def test_a_damaged_cache_entry_is_rebuilt(
    toy_copy: Path, cache_root: Path, builds: list[str]
) -> None:
    the_map = catalogue_of(toy_copy).maps[STATISTICAL]
    sparse_index_of(the_map)
    entry = cache_root / "sparse" / index_key(the_map)
    arrays = sorted(p for p in entry.iterdir() if p.suffix == ".npy")
    assert arrays
    arrays[-1].write_bytes(arrays[-1].read_bytes()[:20])  # truncated
    index = sparse_index_of(catalogue_of(toy_copy).maps[STATISTICAL])
    assert len(builds) == 2
    np.testing.assert_array_equal(dense(index), probability_volumes())


def test_a_corrupt_source_is_not_cached(toy_copy: Path, cache_root: Path) -> None:
    source = toy_copy / "data" / "probs.nii.gz"
    good = source.read_bytes()
    source.write_bytes(good[: len(good) // 2])
    with pytest.raises(ImageError):
        sparse_index_of(catalogue_of(toy_copy).maps[STATISTICAL])
    sparse = cache_root / "sparse"
    assert not sparse.exists() or not any(sparse.iterdir())
    source.write_bytes(good)
    index = sparse_index_of(catalogue_of(toy_copy).maps[STATISTICAL])
    np.testing.assert_array_equal(dense(index), probability_volumes())
