"""Tests of neuratlas.retrieval.cache: keys, atomic writes, usage and LRU eviction."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from neuratlas.errors import ArgumentError, DataUnavailableError
from neuratlas.retrieval import cache

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=4), inner),
    max_leaves=10,
)


def umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def entry(path: Path, size: int, when: float) -> Path:
    """A cache file of ``size`` bytes last used at ``when`` (seconds since the epoch)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"x" * size)
    os.utime(path, (when, when))
    return path


def files_under(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*"))


# -- root, areas, paths -----------------------------------------------------------------------


def test_cache_root_from_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("NEURATLAS_CACHE", str(tmp_path / "c" / "d"))
    assert cache.cache_root() == tmp_path / "c" / "d"
    assert (tmp_path / "c" / "d").is_dir()


def test_cache_root_default_is_platform_folder(tmp_path, monkeypatch):
    monkeypatch.delenv("NEURATLAS_CACHE")
    monkeypatch.setattr(cache.platformdirs, "user_cache_dir", lambda app: str(tmp_path / app))
    assert cache.cache_root() == tmp_path / "neuratlas"


def test_cache_dir_and_path(tmp_path, monkeypatch):
    monkeypatch.setenv("NEURATLAS_CACHE", str(tmp_path))
    assert cache.cache_dir("sparse") == tmp_path / "sparse"
    assert (tmp_path / "sparse").is_dir()
    assert cache.cache_path("maps", "abc", ".nii.gz") == tmp_path / "maps" / "abc.nii.gz"
    assert not (tmp_path / "maps" / "abc.nii.gz").exists()


def test_cache_root_that_is_a_file(tmp_path, monkeypatch):
    blocker = tmp_path / "cache-file"
    blocker.write_text("not a folder")
    monkeypatch.setenv("NEURATLAS_CACHE", str(blocker))
    with pytest.raises(DataUnavailableError) as info:
        cache.cache_root()
    assert info.value.message == (
        f"NEURATLAS_CACHE={blocker} cannot be used as the neuratlas cache: "
        f"{blocker} is a file, not a folder"
    )
    assert info.value.hint.startswith("set NEURATLAS_CACHE to a folder you can write to")
    assert "or unset it to use " in info.value.hint
    assert blocker.read_text() == "not a folder"


def test_cache_root_below_a_file(tmp_path, monkeypatch):
    blocker = tmp_path / "cache-file"
    blocker.write_text("not a folder")
    monkeypatch.setenv("NEURATLAS_CACHE", str(blocker / "sub" / "cache"))
    with pytest.raises(DataUnavailableError) as info:
        cache.cache_path("downloads", "abc", ".nii.gz")
    assert info.value.message.endswith(f"cache: {blocker} is a file, not a folder")


@pytest.mark.skipif(not Path("/proc/self").is_dir(), reason="needs /proc, where mkdir fails")
def test_cache_root_that_cannot_be_created(monkeypatch):
    monkeypatch.setenv("NEURATLAS_CACHE", "/proc/no-such-process/cache")
    with pytest.raises(DataUnavailableError) as info:
        cache.cache_dir("sparse")
    assert info.value.message == (
        "NEURATLAS_CACHE=/proc/no-such-process/cache cannot be used as the neuratlas cache: "
        "the folder cannot be created (no such file or directory)"
    )


def test_default_cache_root_that_cannot_be_created(tmp_path, monkeypatch):
    blocker = tmp_path / "home-cache"
    blocker.write_text("x")
    monkeypatch.delenv("NEURATLAS_CACHE")
    monkeypatch.setattr(cache.platformdirs, "user_cache_dir", lambda app: str(blocker / app))
    with pytest.raises(DataUnavailableError) as info:
        cache.cache_root()
    assert info.value.message.startswith(f"the cache folder {blocker / 'neuratlas'} cannot be")
    assert info.value.hint == (
        "set NEURATLAS_CACHE to a folder you can write to (it is created if missing)"
    )


def test_cache_area_blocked_by_a_file(tmp_path, monkeypatch):
    monkeypatch.setenv("NEURATLAS_CACHE", str(tmp_path))
    (tmp_path / "maps").write_text("stray file")
    with pytest.raises(DataUnavailableError) as info:
        cache.cache_dir("maps")
    assert info.value.message == (
        f"the cache folder {tmp_path / 'maps'} cannot be created: "
        f"{tmp_path / 'maps'} is a file, not a folder"
    )
    assert (
        info.value.hint == f"delete the file {tmp_path / 'maps'}; the cache makes a folder there"
    )


# -- cache_key --------------------------------------------------------------------------------


@given(json_values, json_values)
def test_cache_key_equal_iff_same_canonical_json(a, b):
    key = cache.cache_key(a)
    assert len(key) == 20
    assert int(key, 16) >= 0
    assert key == cache.cache_key(a)
    same = json.dumps(a, sort_keys=True) == json.dumps(b, sort_keys=True)
    assert (key == cache.cache_key(b)) == same


def test_cache_key_distinguishes_argument_structure():
    assert cache.cache_key("a", "b") != cache.cache_key("ab")
    assert cache.cache_key("a", "b") != cache.cache_key(["a", "b"], None)
    assert cache.cache_key({"x": 1, "y": 2}) == cache.cache_key({"y": 2, "x": 1})


def test_cache_key_paths_count_by_text():
    assert cache.cache_key(Path("/a/b.nii")) == cache.cache_key("/a/b.nii")


def test_cache_key_arrays_count_by_content():
    a = np.arange(5000, dtype=np.float64)
    b = a.copy()
    b[2500] += 1e-9  # hidden in the middle of str(a)
    assert cache.cache_key(a) == cache.cache_key(a.copy())
    assert cache.cache_key(a) != cache.cache_key(b)
    assert cache.cache_key(a) != cache.cache_key(a.astype(np.float32))
    assert cache.cache_key(a) != cache.cache_key(a.reshape(50, 100))
    assert cache.cache_key(np.float64(2.5)) == cache.cache_key(2.5)
    assert cache.cache_key(np.asfortranarray(np.eye(3))) == cache.cache_key(np.eye(3))


def test_cache_key_sets_stable_across_processes():
    code = (
        "from neuratlas.retrieval.cache import cache_key;"
        "print(cache_key({'alpha', 'beta', 'gamma', 'delta'}, frozenset({'x', 'y'})))"
    )
    keys = {
        subprocess.run(
            [sys.executable, "-c", code],
            env={**os.environ, "PYTHONHASHSEED": seed},
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        for seed in ("1", "2", "3")
    }
    assert len(keys) == 1
    assert keys == {cache.cache_key({"delta", "gamma", "beta", "alpha"}, frozenset("yx"))}


# -- atomic_write -----------------------------------------------------------------------------


def test_atomic_write_binary_and_text(tmp_path):
    with cache.atomic_write(tmp_path / "new" / "a.bin") as f:
        f.write(b"\x00\x01")
    with cache.atomic_write(tmp_path / "b.txt", "w") as f:
        f.write("héllo")
    assert (tmp_path / "new" / "a.bin").read_bytes() == b"\x00\x01"
    assert (tmp_path / "b.txt").read_text() == "héllo"
    assert files_under(tmp_path) == ["b.txt", "new", "new/a.bin"]


def test_atomic_write_readers_see_old_content_until_done(tmp_path):
    target = tmp_path / "a.txt"
    target.write_text("old")
    with cache.atomic_write(target, "w") as f:
        f.write("new")
        f.flush()
        assert target.read_text() == "old"
    assert target.read_text() == "new"


def test_atomic_write_failure_keeps_old_file_and_leaves_no_temp(tmp_path):
    target = tmp_path / "a.txt"
    target.write_text("old")
    with pytest.raises(RuntimeError, match="disk on fire"), cache.atomic_write(target, "w") as f:
        f.write("half")
        raise RuntimeError("disk on fire")
    assert target.read_text() == "old"
    assert files_under(tmp_path) == ["a.txt"]


def test_atomic_write_failure_creates_nothing(tmp_path):
    with pytest.raises(KeyboardInterrupt), cache.atomic_write(tmp_path / "a.bin") as f:
        f.write(b"abc")
        raise KeyboardInterrupt
    assert files_under(tmp_path) == []


def test_atomic_write_permissions_follow_umask(tmp_path):
    with cache.atomic_write(tmp_path / "a.bin") as f:
        f.write(b"x")
    assert stat.S_IMODE((tmp_path / "a.bin").stat().st_mode) == 0o666 & ~umask()


def test_atomic_write_below_a_file(tmp_path):
    (tmp_path / "taken").write_text("a file")
    target = tmp_path / "taken" / "sub" / "a.png"
    with pytest.raises(ArgumentError) as info, cache.atomic_write(target) as f:
        f.write(b"never")
    assert info.value.message == (
        f"cannot write {target}: {tmp_path / 'taken'} is a file, not a folder"
    )
    assert files_under(tmp_path) == ["taken"]


def test_atomic_write_onto_a_folder_leaves_no_temp(tmp_path):
    (tmp_path / "out").mkdir()
    with pytest.raises(ArgumentError) as info, cache.atomic_write(tmp_path / "out") as f:
        f.write(b"x")
    assert info.value.message == f"cannot write {tmp_path / 'out'}: it is a folder"
    assert files_under(tmp_path) == ["out"]


# -- check_writable ---------------------------------------------------------------------------


def test_check_writable_accepts_files_in_existing_folders_and_new_folders(tmp_path):
    assert cache.check_writable(tmp_path / "a.png") == tmp_path / "a.png"
    (tmp_path / "a.png").write_bytes(b"old")
    assert cache.check_writable(tmp_path / "a.png") == tmp_path / "a.png"  # replaced later
    assert cache.check_writable(tmp_path / "new", folder=True) == tmp_path / "new"
    assert cache.check_writable(tmp_path, folder=True) == tmp_path
    assert not (tmp_path / "new").exists()  # checking creates nothing


@pytest.mark.parametrize(
    ("relative", "folder", "reason", "hint"),
    [
        ("missing/a.png", False, "the folder {t}/missing does not exist", "mkdir -p {t}/missing"),
        ("missing/deeper/out", True, "the folder {t}/missing/deeper does not exist", "mkdir -p"),
        ("file.txt/a.png", False, "{t}/file.txt is a file, not a folder", "existing folder"),
        ("file.txt/x/a.png", False, "{t}/file.txt is a file, not a folder", "existing folder"),
        ("folder", False, "it is a folder", "give the name of a file in it: {t}/folder/<name>"),
        ("file.txt", True, "it is a file", "give the path of a folder"),
    ],
)
def test_check_writable_says_why_not(tmp_path, relative, folder, reason, hint):
    (tmp_path / "file.txt").write_text("x")
    (tmp_path / "folder").mkdir()
    target = tmp_path / relative
    with pytest.raises(ArgumentError) as info:
        cache.check_writable(target, folder=folder)
    assert info.value.message == f"cannot write {target}: {reason.format(t=tmp_path)}"
    assert hint.format(t=tmp_path) in info.value.hint
    assert files_under(tmp_path) == ["file.txt", "folder"]


@pytest.mark.skipif(os.geteuid() == 0, reason="root may write into read-only folders")
def test_check_writable_read_only_folder(tmp_path):
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    try:
        with pytest.raises(ArgumentError) as info:
            cache.check_writable(locked / "a.png")
        assert info.value.message.endswith(f"the folder {locked} is not writable")
    finally:
        locked.chmod(0o700)


# -- atomic_dir -------------------------------------------------------------------------------


def test_atomic_dir_builds_in_place(tmp_path):
    target = tmp_path / "index"
    with cache.atomic_dir(target) as build:
        assert build != target
        assert not target.exists()
        (build / "part0.npy").write_bytes(b"0")
    assert files_under(tmp_path) == ["index", "index/part0.npy"]
    assert stat.S_IMODE(target.stat().st_mode) == 0o777 & ~umask()


def test_atomic_dir_replaces_existing_folder(tmp_path):
    target = tmp_path / "index"
    target.mkdir()
    (target / "stale.npy").write_bytes(b"old")
    with cache.atomic_dir(target) as build:
        (build / "fresh.npy").write_bytes(b"new")
    assert files_under(tmp_path) == ["index", "index/fresh.npy"]


def test_atomic_dir_failure_keeps_existing_folder(tmp_path):
    target = tmp_path / "index"
    target.mkdir()
    (target / "good.npy").write_bytes(b"good")
    with pytest.raises(ValueError, match="bad region"), cache.atomic_dir(target) as build:
        (build / "half.npy").write_bytes(b"half")
        raise ValueError("bad region")
    assert files_under(tmp_path) == ["index", "index/good.npy"]


def test_atomic_dir_over_a_file_raises_and_cleans_up(tmp_path):
    target = tmp_path / "index"
    target.mkdir()
    (target / "x").write_bytes(b"x")
    blocker = tmp_path / "blocker"
    blocker.write_bytes(b"a file")
    with pytest.raises(OSError), cache.atomic_dir(blocker) as build:
        (build / "a").write_bytes(b"a")
    assert blocker.read_bytes() == b"a file"
    assert files_under(tmp_path) == ["blocker", "index", "index/x"]


# -- touch, usage, evict, clear ---------------------------------------------------------------


def test_touch_refreshes_and_tolerates_missing(tmp_path):
    f = entry(tmp_path / "a", 1, 1_000_000)
    cache.touch(f)
    assert f.stat().st_mtime > 1_000_000
    cache.touch(tmp_path / "missing")  # no error
    assert not (tmp_path / "missing").exists()


def test_usage_counts_files_and_bytes():
    root = cache.cache_root()
    entry(root / "downloads" / "a", 100, 1e9)
    entry(root / "sparse" / "idx" / "b", 30, 1e9)
    assert cache.usage() == (2, 130)


def test_evict_drops_least_recently_used_first():
    area = cache.cache_dir("downloads")
    oldest = entry(area / "oldest", 100, 1_000_000)
    middle = entry(area / "middle", 100, 2_000_000)
    newest = entry(area / "newest", 100, 3_000_000)
    assert cache.evict(limit=150) == 200
    assert not oldest.exists()
    assert not middle.exists()
    assert newest.exists()


def test_evict_respects_touch():
    area = cache.cache_dir("downloads")
    used = entry(area / "old-but-used", 100, 1_000_000)
    other = entry(area / "newer", 100, 2_000_000)
    cache.touch(used)
    assert cache.evict(limit=100) == 100
    assert used.exists()
    assert not other.exists()


def test_evict_removes_folder_entries_whole():
    area = cache.cache_dir("sparse")
    with cache.atomic_dir(area / "index") as build:
        entry(build / "a.npy", 60, 1_000_000)
        entry(build / "b.npy", 60, 1_000_000)
    os.utime(area / "index", (1_000_000, 1_000_000))
    lone = entry(cache.cache_dir("maps") / "m.nii", 60, 2_000_000)
    # dropping one file of the folder would suffice by size, but would corrupt it
    assert cache.evict(limit=100) == 120
    assert not (area / "index").exists()
    assert lone.exists()


def test_evict_folder_last_use_is_its_newest_file():
    area = cache.cache_dir("sparse")
    folder = area / "index"
    entry(folder / "a.npy", 50, 1_000_000)
    entry(folder / "b.npy", 50, 3_000_000)
    os.utime(folder, (1_000_000, 1_000_000))
    other = entry(area / "x.bin", 50, 2_000_000)
    assert cache.evict(limit=100) == 50
    assert folder.is_dir()
    assert not other.exists()


def test_evict_under_limit_does_nothing():
    f = entry(cache.cache_dir("downloads") / "a", 100, 1_000_000)
    assert cache.evict(limit=100) == 0
    assert f.exists()


def test_evict_default_limit_from_environment(monkeypatch):
    f = entry(cache.cache_dir("downloads") / "a", 2000, 1_000_000)
    monkeypatch.setenv("NEURATLAS_CACHE_MAX_GB", str(1000 / 1024**3))
    assert cache.max_bytes() == 1000
    assert cache.evict() == 2000
    assert not f.exists()


def test_max_bytes_default(monkeypatch):
    monkeypatch.delenv("NEURATLAS_CACHE_MAX_GB", raising=False)
    assert cache.max_bytes() == cache.DEFAULT_MAX_BYTES


@pytest.mark.parametrize("value", ["twenty", "-1", "nan", "inf", "20GB"])
def test_max_bytes_bad_value(monkeypatch, value):
    monkeypatch.setenv("NEURATLAS_CACHE_MAX_GB", value)
    with pytest.raises(ArgumentError) as info:
        cache.max_bytes()
    assert info.value.message == f"NEURATLAS_CACHE_MAX_GB={value} is not a size in gigabytes"
    assert "NEURATLAS_CACHE_MAX_GB=20" in info.value.hint


def test_max_bytes_fractions_and_blank(monkeypatch):
    monkeypatch.setenv("NEURATLAS_CACHE_MAX_GB", " 0.5 ")
    assert cache.max_bytes() == 1024**3 // 2
    monkeypatch.setenv("NEURATLAS_CACHE_MAX_GB", "")
    assert cache.max_bytes() == cache.DEFAULT_MAX_BYTES


def test_clear_area_and_all():
    entry(cache.cache_dir("downloads") / "a", 1, 1e9)
    entry(cache.cache_dir("maps") / "b", 1, 1e9)
    cache.clear("downloads")
    assert files_under(cache.cache_root()) == ["maps", "maps/b"]
    cache.clear()
    assert cache.usage() == (0, 0)
    cache.clear("never-created")  # no error


# --- synced_together ------------------------------------------------------------------------
@pytest.fixture
def sync_calls(monkeypatch):
    """Count per-file fsyncs and file-system syncs (neither is really done)."""
    calls = {"fsync": 0, "syncfs": []}
    monkeypatch.setattr(os, "fsync", lambda fd: calls.__setitem__("fsync", calls["fsync"] + 1))

    def fake_syncfs(fd):
        calls["syncfs"].append(os.fstat(fd).st_dev)
        return 0

    monkeypatch.setattr(cache, "_syncfs", lambda: fake_syncfs)
    return calls


def test_atomic_write_syncs_each_file_by_default(tmp_path, sync_calls):
    for name in ("a", "b"):
        with cache.atomic_write(tmp_path / name, "w") as fh:
            fh.write(name)
    assert sync_calls == {"fsync": 2, "syncfs": []}


def test_files_written_together_are_synced_once(tmp_path, sync_calls):
    with cache.synced_together():
        for name in ("a", "b", "c"):
            with cache.atomic_write(tmp_path / "sub" / name, "w") as fh:
                fh.write(name)
        # in place at once (atomically), durable at the end of the block
        assert (tmp_path / "sub" / "a").read_text() == "a"
        assert sync_calls["syncfs"] == []
    assert sync_calls == {"fsync": 0, "syncfs": [os.stat(tmp_path).st_dev]}
    # outside the block, files are synced one by one again
    with cache.atomic_write(tmp_path / "d", "w") as fh:
        fh.write("d")
    assert sync_calls["fsync"] == 1


def test_without_syncfs_each_file_is_synced_at_the_end(tmp_path, sync_calls, monkeypatch):
    monkeypatch.setattr(cache, "_syncfs", lambda: None)
    with cache.synced_together():
        for name in ("a", "b"):
            with cache.atomic_write(tmp_path / name, "w") as fh:
                fh.write(name)
        assert sync_calls["fsync"] == 0
    assert sync_calls["fsync"] == 2


def test_files_written_before_an_error_are_still_synced(tmp_path, sync_calls):
    with pytest.raises(KeyError), cache.synced_together():
        with cache.atomic_write(tmp_path / "kept", "w") as fh:
            fh.write("kept")
        with cache.atomic_write(tmp_path / "lost", "w") as fh:
            fh.write("half")
            raise KeyError("boom")
    assert (tmp_path / "kept").read_text() == "kept"
    assert not (tmp_path / "lost").exists()
    assert len(sync_calls["syncfs"]) == 1


def test_syncfs_is_found_on_linux():
    if not sys.platform.startswith("linux"):
        pytest.skip("syncfs is Linux's")
    assert cache._syncfs() is not None
