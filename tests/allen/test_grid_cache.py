"""The annotation read on an expression grid: planes from the file, counts cached."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from neuratlas import catalogue
from neuratlas.allen import grid_cache, grid_labels
from neuratlas.allen.expression import DEFAULT_PARCELLATION, SPACE
from neuratlas.allen.grid_labels import GridLabels
from neuratlas.allen.volume import ccf_affine, volume_shape
from neuratlas.errors import DataUnavailableError
from neuratlas.retrieval.http import HttpClient
from neuratlas.volumes.nrrd import NrrdSlabs
from tests.allen.expression_phantom import annotation, served_mouse_atlas


@pytest.fixture
def the_map(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[object]:
    with served_mouse_atlas(tmp_path, monkeypatch):
        yield catalogue.active().get_map(DEFAULT_PARCELLATION, SPACE, "labelled")


def _stored(tmp_path: Path) -> list[Path]:
    return sorted((tmp_path / "cache" / "allen").glob("*.counts.npz"))


def _expected(the_map, resolution_um: int) -> GridLabels:
    return GridLabels(the_map.fetch(), volume_shape(resolution_um), ccf_affine(resolution_um))


def _no(*args, **kwargs):
    raise AssertionError("should not be called")


@pytest.mark.parametrize(("resolution_um", "axis"), [(25, 0), (100, 0), (100, 2), (10, 1)])
def test_planes_and_counts_are_the_grids(the_map, resolution_um: int, axis: int) -> None:
    expected = _expected(the_map, resolution_um)
    indices = [0, 7, 30, volume_shape(resolution_um)[axis] - 1]
    sample = grid_cache.sample_annotation(the_map, resolution_um, axis, indices)
    assert sorted(sample.planes) == indices
    for index, plane in sample.planes.items():
        assert np.array_equal(plane, expected.plane(axis, index)), index
    assert all(np.array_equal(a, b) for a, b in zip(sample.counts, expected.counts(), strict=True))


def test_the_annotation_is_never_decoded_whole(the_map, monkeypatch) -> None:
    expected = _expected(the_map, 25)
    monkeypatch.setattr(NrrdSlabs, "read", _no)
    sample = grid_cache.sample_annotation(the_map, 25, 0, [200, 250])
    assert np.array_equal(sample.planes[200], expected.plane(0, 200))
    assert sample.planes[200].any()
    assert sample.counts[1].sum() == annotation().size  # the grid holds the annotation


def test_counted_once_per_annotation_and_grid(the_map, tmp_path: Path, monkeypatch) -> None:
    first = grid_cache.sample_annotation(the_map, 100, 0, [60])
    assert len(_stored(tmp_path)) == 1
    with monkeypatch.context() as patch:
        patch.setattr(grid_labels, "_runs", _no)
        again = grid_cache.sample_annotation(the_map, 100, 0, [61])  # other planes
    assert all(np.array_equal(a, b) for a, b in zip(first.counts, again.counts, strict=True))
    assert np.array_equal(again.planes[61], _expected(the_map, 100).plane(0, 61))
    grid_cache.sample_annotation(the_map, 200, 0, [30])
    assert len(_stored(tmp_path)) == 2  # another grid, another entry


def test_a_damaged_entry_is_counted_again(the_map, tmp_path: Path) -> None:
    first = grid_cache.sample_annotation(the_map, 100, 0, [60])
    (npz,) = _stored(tmp_path)
    npz.write_bytes(b"not a zip")
    again = grid_cache.sample_annotation(the_map, 100, 0, [60])
    assert all(np.array_equal(a, b) for a, b in zip(first.counts, again.counts, strict=True))
    assert npz.read_bytes().startswith(b"PK")


def test_an_unwritable_cache_is_only_a_missed_shortcut(the_map, tmp_path, monkeypatch) -> None:
    def full_disk(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(grid_cache, "atomic_write", full_disk)
    sample = grid_cache.sample_annotation(the_map, 100, 0, [60])
    assert sample.counts[1].sum() > 0 and _stored(tmp_path) == []


class _Unfetchable:
    """A map whose file cannot be named (no cache key): read from its image each time."""

    def __init__(self, image) -> None:
        self.image = image
        self.volumes = []

    def fetch(self):
        return self.image


def test_a_map_without_a_file_is_read_each_time(the_map, tmp_path: Path) -> None:
    plain = _Unfetchable(the_map.fetch())
    grid_cache.fetch_annotation(plain)  # nothing to fetch
    sample = grid_cache.sample_annotation(plain, 100, 0, [60])
    assert sample.counts[1].sum() > 0 and _stored(tmp_path) == []


def test_fetched_ahead_then_read_offline(the_map, monkeypatch) -> None:
    grid_cache.fetch_annotation(the_map)
    monkeypatch.setattr(HttpClient, "download", _no)  # the file is in the cache now
    sample = grid_cache.sample_annotation(the_map, 100, 0, [60])
    assert sample.counts[1].sum() > 0


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
            grid_cache.sample_annotation(the_map, 100, 0, [60])
