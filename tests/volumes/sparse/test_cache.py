"""Tests of neuratlas.volumes.sparse.cache: build once, load memory-mapped, repair, evict."""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from neuratlas.errors import ImageError
from neuratlas.retrieval import cache
from neuratlas.volumes.sparse import SparseIndex, cached_index, store_index
from neuratlas.volumes.sparse.cache import CACHE_AREA
from neuratlas.volumes.sparse.header import HEADER_NAME
from tests.volumes.sparse.sparse_helpers import AFFINE, assert_same_index, positive, sparse_maps


@pytest.fixture
def cache_root(tmp_path, monkeypatch) -> Path:
    monkeypatch.setenv("NEURATLAS_CACHE", str(tmp_path))
    monkeypatch.delenv("NEURATLAS_CACHE_MAX_GB", raising=False)
    return tmp_path


class Builder:
    """A build function that counts its calls."""

    def __init__(self, seed: int = 9) -> None:
        self.data = sparse_maps(np.random.default_rng(seed))
        self.calls = 0

    def __call__(self) -> SparseIndex:
        self.calls += 1
        return SparseIndex.from_4d(self.data, AFFINE)


def set_mtime(entry: Path, when: float) -> None:
    for path in [entry, *entry.iterdir()]:
        os.utime(path, (when, when))


def test_cached_builds_once_then_loads_memory_mapped(cache_root):
    build = Builder()
    first = cached_index("key1", build)
    second = cached_index("key1", build)
    assert build.calls == 1
    assert isinstance(first.voxels, np.memmap) and isinstance(second.voxels, np.memmap)
    assert_same_index(first, second)
    assert (cache_root / CACHE_AREA / "key1" / HEADER_NAME).is_file()
    in_memory = cached_index("key1", build, mmap=False)
    assert build.calls == 1 and not isinstance(in_memory.voxels, np.memmap)
    assert_same_index(in_memory, first)
    other = cached_index("key2", Builder(seed=3))
    assert not np.array_equal(other.fetch(0), first.fetch(0))


def damage_array(folder: Path) -> None:
    (folder / "indptr.npy").write_bytes(b"garbage")


def truncate_values(folder: Path) -> None:
    values = folder / "values.npy"
    values.write_bytes(values.read_bytes()[:-8])


def drop_bboxes(folder: Path) -> None:
    (folder / "bboxes.npy").unlink()


def mangle_header(folder: Path) -> None:
    (folder / HEADER_NAME).write_text("{not json")


def future_version(folder: Path) -> None:
    header = json.loads((folder / HEADER_NAME).read_text())
    header["version"] = 99
    (folder / HEADER_NAME).write_text(json.dumps(header))


def wrong_counts(folder: Path) -> None:
    header = json.loads((folder / HEADER_NAME).read_text())
    header["num_entries"] += 1
    (folder / HEADER_NAME).write_text(json.dumps(header))


def drop_header(folder: Path) -> None:
    (folder / HEADER_NAME).unlink()


@pytest.mark.parametrize(
    "damage",
    [
        damage_array,
        truncate_values,
        drop_bboxes,
        mangle_header,
        future_version,
        wrong_counts,
        drop_header,
    ],
)
def test_a_damaged_entry_is_rebuilt(cache_root, damage: Callable[[Path], None]):
    build = Builder()
    cached_index("key1", build)
    damage(cache_root / CACHE_AREA / "key1")
    repaired = cached_index("key1", build)
    assert build.calls == 2
    np.testing.assert_array_equal(repaired.fetch(0), positive(build.data[..., 0]))
    cached_index("key1", build)
    assert build.calls == 2  # the repaired entry is good again


def test_build_errors_are_not_swallowed(cache_root):
    def build() -> SparseIndex:
        raise ImageError("source is corrupt", hint="download it again")

    with pytest.raises(ImageError, match="source is corrupt"):
        cached_index("key1", build)
    assert not (cache_root / CACHE_AREA / "key1").exists()


def test_store_index_replaces_the_entry_and_returns_the_cached_copy(cache_root):
    first = Builder(seed=1)()
    second = Builder(seed=2)()
    store_index("key1", first)
    stored = store_index("key1", second)
    assert isinstance(stored.voxels, np.memmap)
    assert_same_index(stored, second)
    assert not isinstance(store_index("key1", second, mmap=False).voxels, np.memmap)
    never = Builder()
    assert_same_index(cached_index("key1", never), second)
    assert never.calls == 0


def test_store_index_refuses_an_empty_index(cache_root):
    with pytest.raises(ImageError, match="cannot save an empty sparse index"):
        store_index("key1", SparseIndex())
    assert not (cache_root / CACHE_AREA / "key1").exists()


def test_a_new_entry_evicts_the_least_recently_used(cache_root, monkeypatch):
    old = cache.cache_path("downloads", "old", ".bin")
    old.write_bytes(b"x" * 200_000)
    os.utime(old, (1_000_000, 1_000_000))  # used long ago
    build = Builder()
    size = sum(p.stat().st_size for p in cache_root.rglob("*") if p.is_file())
    monkeypatch.setenv("NEURATLAS_CACHE_MAX_GB", str((size - 1000) / 1024**3))
    index = cached_index("key1", build)
    assert not old.exists()
    assert (cache_root / CACHE_AREA / "key1" / HEADER_NAME).is_file()
    assert index.num_volumes == build.data.shape[3]


def test_a_cache_hit_counts_as_a_use_for_eviction(cache_root, monkeypatch):
    build = Builder()
    cached_index("a", build)
    cached_index("b", build)
    set_mtime(cache_root / CACHE_AREA / "a", 1_000_000)  # a was used first ...
    set_mtime(cache_root / CACHE_AREA / "b", 2_000_000)
    cached_index("a", build)  # ... but is used again now
    assert build.calls == 2
    entry = sum(p.stat().st_size for p in (cache_root / CACHE_AREA / "a").iterdir())
    monkeypatch.setenv("NEURATLAS_CACHE_MAX_GB", str((2 * entry + 100) / 1024**3))
    cached_index("c", build)
    assert (cache_root / CACHE_AREA / "a").exists()
    assert not (cache_root / CACHE_AREA / "b").exists()
    assert (cache_root / CACHE_AREA / "c").exists()


def test_threads_asking_at_once_share_one_build(cache_root) -> None:
    build = Builder()

    def slow_build() -> SparseIndex:
        time.sleep(0.3)  # long enough for the other threads to ask meanwhile
        return build()

    results: list[SparseIndex] = []
    threads = [
        threading.Thread(target=lambda: results.append(cached_index("shared", slow_build)))
        for _ in range(4)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert build.calls == 1
    assert len(results) == 4
    for result in results[1:]:
        assert_same_index(result, results[0])
