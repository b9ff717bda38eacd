"""Benchmark: `neuratlas lesion run rd` on 200 subjects, local Dask clusters of 1 and 2 workers.

Data: a BIDS dataset of 200 synthetic lesion masks at 1 mm in MNI152NLin6Asym
(fixed seed; written once into a cache folder and reused), regional damage on
Schaefer 2018 400/7 from the catalogue, every subject exported as BIDS
derivatives (mask, table, sidecars, provenance).

Measured: :func:`neuratlas.lesion.batch.run_subjects`, the code under the CLI
verb, on a local cluster of worker processes (one thread each) already started,
into a fresh derivatives folder each time: the analysis is sent to the workers
and each builds its parcellation on the grid, so that cost is inside the time.
Alternating 1 and 2 workers, ``--repeats`` times, median; peak memory of each
worker process. The cluster's start (about 1 s) is reported apart. Target:
2 workers >= 1.7x faster than 1 (the machine has 2 cores).

Run: ``python benchmarks/bench_lesion_batch.py [--subjects 200] [--repeats 3]``.
"""

from __future__ import annotations

import argparse
import resource
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CACHE = Path(tempfile.gettempdir()) / "neuratlas-bench-lesion-batch"
PARCELLATION = "Schaefer 2018 cortical parcellation (400 parcels, 7 networks)"
TARGET = 1.7


def dataset(n: int) -> Path:
    """A BIDS dataset of ``n`` masks at 1 mm, made once."""
    import nibabel as nib

    sys.path.insert(0, str(ROOT))
    from tests.lesion.masks import random_masks

    root = CACHE / f"bids-{n}"
    if (root / "dataset_description.json").exists():
        return root
    shutil.rmtree(root, ignore_errors=True)
    for i, img in enumerate(random_masks(n, "nlin6_1mm", seed=7)):
        sub = f"sub-{i:03d}"
        path = root / sub / "anat" / f"{sub}_space-MNI152NLin6Asym_res-1_label-lesion_mask.nii.gz"
        path.parent.mkdir(parents=True)
        nib.save(img, path)
    (root / "dataset_description.json").write_text('{"Name": "bench", "BIDSVersion": "1.10.0"}')
    return root


def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--subjects", type=int, default=200)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()

    from distributed import Client

    from neuratlas import parallel
    from neuratlas.lesion.analysis import RegionalDamage
    from neuratlas.lesion.batch import run_subjects

    bids = dataset(args.subjects)
    clusters, started = {}, {}
    for n in (1, 2):
        t0 = time.perf_counter()
        cluster = parallel.local_cluster(processes=True, n_workers=n, threads_per_worker=1)
        clusters[n] = (cluster, Client(cluster, set_as_default=False))
        started[n] = time.perf_counter() - t0
    times: dict[int, list[float]] = {1: [], 2: []}
    memory: dict[int, float] = {}
    for repeat in range(args.repeats):
        for n in (1, 2):
            _, client = clusters[n]
            out = Path(tempfile.mkdtemp(prefix=f"bench-batch-{n}-"))
            analysis = RegionalDamage(parcellation=PARCELLATION)
            t0 = time.perf_counter()
            report = run_subjects(analysis, bids, out / "derivatives", client=client)
            times[n].append(time.perf_counter() - t0)
            if report.of("failed") or len(report.of("done")) != args.subjects:
                sys.exit(f"batch failed: {report.summary()}")
            memory[n] = max(client.run(peak_mb).values())
            shutil.rmtree(out)
            print(f"repeat {repeat + 1}, {n} worker(s): {times[n][-1]:.1f} s", file=sys.stderr)
    for cluster, client in clusters.values():
        client.close()
        cluster.close()

    one, two = statistics.median(times[1]), statistics.median(times[2])
    speedup = one / two
    print(f"\n## `lesion run rd`: {args.subjects} subjects at 1 mm, Schaefer 400/7, on Dask\n")
    print(
        f"| workers | time (median of {args.repeats}) | per subject "
        "| peak memory per worker | cluster start |"
    )
    print("|---:|---:|---:|---:|---:|")
    for n, t in ((1, one), (2, two)):
        print(
            f"| {n} | {t:.1f} s | {t / args.subjects * 1e3:.0f} ms | {memory[n]:.0f} MB "
            f"| {started[n]:.1f} s |"
        )
    verdict = "PASS" if speedup >= TARGET else "FAIL"
    print(f"\nspeed-up with 2 workers: {speedup:.2f}x (target >= {TARGET}x): **{verdict}**")


if __name__ == "__main__":
    main()
