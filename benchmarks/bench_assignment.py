"""Benchmark: assigning a 1,000,000-point cloud (sigma 0) to the Juelich probabilistic map.

neuratlas: ``SparseMap.assign(PointCloud)``, the whole public call, returning the
full DataFrame (every column of :mod:`neuratlas.assignment`).

siibra: the sigma-0 path of siibra's ``Map._assign_points`` on its own
``SparseIndex`` of the same data: voxel indices from the affine, then
``SparseMap._read_voxel`` and one ``MapAssignment`` per hit, then a DataFrame of
them, as its ``assign`` does. siibra cannot read our single-4D-file spec (its map
indices have no ``z``), so its map object is reduced to the index it reads from;
everything it does per point is its own code.

Both get the same points; the row counts are compared. Alternating, median of
the repeats. Run: ``python benchmarks/bench_assignment.py [--points 1000000]``.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import types
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

import numpy as np
import pandas as pd

import neuratlas
from bench_sparse import atlas, siibra_build, timed

TARGET_PER_S = 1_000_000


def random_points(n: int, voxels: np.ndarray, affine: np.ndarray, seed: int = 0) -> np.ndarray:
    """Points near random mapped voxels (jitter < 0.4 voxel: no rounding ties).

    siibra's ``_read_voxel`` reads unmapped voxels (grid value -1) as the last row
    of its index, so points outside the map would give it wrong rows; inside, both
    tools must return exactly the same (point, region) pairs.
    """
    rng = np.random.default_rng(seed)
    mapped = np.argwhere(np.asarray(voxels) >= 0)
    ijk = mapped[rng.integers(0, len(mapped), n)] + rng.uniform(-0.4, 0.4, (n, 3))
    return ijk @ affine[:3, :3].T + affine[:3, 3]


def siibra_assign(sparse_index, affine: np.ndarray, coords: np.ndarray) -> pd.DataFrame:
    from siibra.volumes.parcellationmap import MapAssignment
    from siibra.volumes.sparsemap import SparseMap as SiibraSparseMap

    reader = types.SimpleNamespace(sparse_index=sparse_index)
    phys2vox = np.linalg.inv(affine)
    homogeneous = np.c_[coords, np.ones(len(coords))]
    x, y, z = (np.dot(phys2vox, homogeneous.T) + 0.5).astype("int")[:3]
    assignments = [
        MapAssignment(
            input_structure=i,
            centroid=tuple(coords[i]),
            volume=vol,
            fragment=frag,
            map_value=value,
            time=None,
        )
        for i, vol, frag, value in SiibraSparseMap._read_voxel(reader, x, y, z)
        if value > 0
    ]
    return pd.DataFrame([a.__dict__ for a in assignments])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--points", type=int, default=1_000_000)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()

    the_map = neuratlas.get_map("juelich", "MNI152 NLin6", "statistical")
    index = the_map.sparse_index  # built (or loaded) once, not timed
    coords = random_points(args.points, index.voxels, index.affine)
    cloud = neuratlas.PointCloud(coords, the_map.space)
    data, affine = atlas("juelich")
    siibra_index = siibra_build(data, affine)
    del data

    ours, theirs = [], []
    rows_ours = rows_theirs = 0
    for _ in range(args.repeats):
        seconds, table = timed(lambda: the_map.assign(cloud))
        ours.append(seconds)
        rows_ours = len(table)
        seconds, table = timed(lambda: siibra_assign(siibra_index, affine, coords))
        theirs.append(seconds)
        rows_theirs = len(table)

    ours_s, theirs_s = statistics.median(ours), statistics.median(theirs)
    rate = args.points / ours_s
    print(
        f"\nAssigning {args.points:,} random points (sigma 0) to Juelich, "
        f"median of {args.repeats}\n"
    )
    print("| task | neuratlas | siibra | ratio |")
    print("|---|---|---|---|")
    print(
        f"| assign point cloud | {ours_s:.3f} s ({rate / 1e6:.2f} M points/s) | "
        f"{theirs_s:.3f} s ({args.points / theirs_s / 1e6:.2f} M points/s) | "
        f"{theirs_s / ours_s:.1f}x faster |"
    )
    print(f"| rows (point, region) | {rows_ours:,} | {rows_theirs:,} | |")
    verdict = "PASS" if rate >= TARGET_PER_S else "FAIL"
    print(f"\ntarget >= {TARGET_PER_S:,} points/s: {verdict}")
    print(f"same rows: {'yes' if rows_ours == rows_theirs else 'NO'}")


if __name__ == "__main__":
    main()
