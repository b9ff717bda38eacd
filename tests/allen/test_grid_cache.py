"""The annotation on an expression grid, cached per annotation file and grid."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from neuratlas import catalogue
from neuratlas.allen import grid_cache
from neuratlas.allen.expression import DEFAULT_PARCELLATION, SPACE
from neuratlas.allen.grid_labels import GridLabels
from neuratlas.allen.volume import ccf_affine, volume_shape
from neuratlas.errors import DataUnavailableError
from tests.allen.expression_phantom import annotation, served_mouse_atlas


@pytest.fixture
def the_map(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[object]:
    with served_mouse_atlas(tmp_path, monkeypatch):
        yield catalogue.active().get_map(DEFAULT_PARCELLATION, SPACE, "labelled")


def _stored(tmp_path: Path, suffix: str) -> list[Path]:
    return sorted((tmp_path / "cache" / "allen").glob(f"*{suffix}"))


def test_built_once_then_read_memory_mapped(the_map, tmp_path: Path, monkeypatch) -> None:
    labels, counts = grid_cache.grid_labels(the_map, 100)
    expected = GridLabels(the_map.fetch(), volume_shape(100), ccf_affine(100))
    assert np.array_equal(labels.volume(), expected.volume())
    (npy,) = _stored(tmp_path, ".labels.npy")
    assert len(_stored(tmp_path, ".counts.npz")) == 1
    stored = np.load(npy)
    assert stored.flags.c_contiguous and np.array_equal(stored, expected.volume())

    def no_annotation(*args):
        raise AssertionError("the annotation was read again")

    monkeypatch.setattr(grid_cache, "_from_annotation", no_annotation)
    monkeypatch.setattr(GridLabels, "counts", no_annotation)
    again, counts_again = grid_cache.grid_labels(the_map, 100)
    assert isinstance(again.data, np.memmap) and again.same_grid
    for axis, index in [(0, 60), (1, 20), (2, 14)]:
        assert np.array_equal(again.plane(axis, index), expected.plane(axis, index))
    assert all(np.array_equal(a, b) for a, b in zip(counts, counts_again, strict=True))
    assert np.array_equal(counts[0], np.unique(expected.volume()))


def test_stored_in_the_background_when_asked(the_map, tmp_path: Path, monkeypatch) -> None:
    written = []
    real_store = grid_cache._store_labels

    def slow_store(labels, path):
        # the caller has its grid before the entry is written
        assert not written
        real_store(labels, path)
        written.append(path)

    monkeypatch.setattr(grid_cache, "_store_labels", slow_store)
    labels, counts = grid_cache.grid_labels(the_map, 100, store_in_background=True)
    expected = GridLabels(the_map.fetch(), volume_shape(100), ccf_affine(100))
    assert np.array_equal(labels.volume(), expected.volume())
    grid_cache.wait_for_stores()
    assert [p.name for p in written] == [p.name for p in _stored(tmp_path, ".labels.npy")]
    assert len(_stored(tmp_path, ".counts.npz")) == 1
    again, counts_again = grid_cache.grid_labels(the_map, 100, store_in_background=True)
    assert isinstance(again.data, np.memmap)
    assert all(np.array_equal(a, b) for a, b in zip(counts, counts_again, strict=True))


def test_a_failed_background_store_is_only_a_missed_shortcut(the_map, tmp_path, monkeypatch):
    def full_disk(labels, path):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(grid_cache, "_store_labels", full_disk)
    labels, _ = grid_cache.grid_labels(the_map, 100, store_in_background=True)
    grid_cache.wait_for_stores()
    assert _stored(tmp_path, ".labels.npy") == []
    assert labels.shape == volume_shape(100)


def test_a_grid_finer_than_the_annotation_is_not_stored(the_map, tmp_path: Path) -> None:
    # the 25 µm grid has 77 million voxels, the phantom's annotation two million
    labels, (present, _counts) = grid_cache.grid_labels(the_map, 25)
    assert labels.same_grid is False and labels.shape == volume_shape(25)
    assert _stored(tmp_path, ".labels.npy") == []
    assert len(_stored(tmp_path, ".counts.npz")) == 1
    assert set(present.tolist()) == set(np.unique(annotation()).tolist())


def test_a_damaged_entry_is_built_again(the_map, tmp_path: Path) -> None:
    first, _ = grid_cache.grid_labels(the_map, 100)
    (npy,) = _stored(tmp_path, ".labels.npy")
    npy.write_bytes(b"\x93NUMPY damaged")
    (npz,) = _stored(tmp_path, ".counts.npz")
    npz.write_bytes(b"not a zip")
    again, (present, _) = grid_cache.grid_labels(the_map, 100)
    assert np.array_equal(again.volume(), first.volume()) and present.size
    assert np.load(npy).shape == volume_shape(100)


def test_another_grid_is_another_entry(the_map, tmp_path: Path) -> None:
    grid_cache.grid_labels(the_map, 100)
    grid_cache.grid_labels(the_map, 200)
    assert len(_stored(tmp_path, ".labels.npy")) == 2


class _Unfetchable:
    """A map whose file cannot be named (no cache key): built from its image each time."""

    def __init__(self, image) -> None:
        self.image = image
        self.volumes = []

    def fetch(self):
        return self.image


def test_a_map_without_a_file_is_built_each_time(the_map, tmp_path: Path) -> None:
    plain = _Unfetchable(the_map.fetch())
    labels, (_present, counts) = grid_cache.grid_labels(plain, 100)
    assert labels.shape == volume_shape(100) and counts.sum() > 0
    assert _stored(tmp_path, ".labels.npy") == []


def test_an_unreachable_annotation_is_data_unavailable(tmp_path: Path, monkeypatch) -> None:
    with served_mouse_atlas(tmp_path, monkeypatch):
        the_map = catalogue.active().get_map(DEFAULT_PARCELLATION, SPACE, "labelled")
        volume = the_map.volumes[0]
        monkeypatch.setattr(
            type(volume),
            "path",
            lambda self, *a, **k: (_ for _ in ()).throw(DataUnavailableError("offline")),
        )
        with pytest.raises(DataUnavailableError, match="offline"):
            grid_cache.grid_labels(the_map, 100)


@pytest.mark.parametrize("order", ["F", "C"])
def test_stored_labels_are_the_grid_in_c_order(tmp_path: Path, order: str) -> None:
    # a shape that is no multiple of the tiles, so that the last planes and columns count
    rng = np.random.default_rng(4)
    data = np.asarray(rng.integers(0, 1000, size=(37, 11, 21), dtype=np.uint32), order=order)
    labels = GridLabels.of_grid(data)
    path = tmp_path / "labels.npy"
    grid_cache._store_labels(labels, path)
    stored = np.load(path)
    assert stored.flags.c_contiguous and stored.dtype == np.uint32
    assert np.array_equal(stored, data)


def test_stored_labels_of_another_grid_are_read_plane_by_plane(the_map, tmp_path: Path) -> None:
    labels = GridLabels(the_map.fetch(), volume_shape(200), ccf_affine(200))
    assert not labels.same_grid
    path = tmp_path / "labels.npy"
    grid_cache._store_labels(labels, path)
    assert np.array_equal(np.load(path), labels.volume())
