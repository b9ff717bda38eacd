"""Benchmark: regional damage of 200 lesions on Schaefer 2018 400/7, neuratlas against lacuna.

Data: the Schaefer 2018 400-parcel 7-network atlas at 1 mm in MNI152NLin6Asym (the
file lacuna ships, which neuratlas embeds in its catalogue) and 200 synthetic box
lesions of different sizes on the same 1 mm grid (fixed seed). Both tools get the
same in-memory images; regions are compared by label.

Measured, each in a fresh process (peak memory = that process's ru_maxrss):
- lacuna: ``RegionalDamage(parcel_names=["Schaefer2018_400Parcels7Networks"]).run``
  on each lesion (lacuna has no batch path for it); one pass over the lesions (it
  takes ~3 s a lesion, so it is not repeated; ``--lacuna-lesions`` to use fewer);
- neuratlas: ``RegionalDamage(parcellation="Schaefer 2018 ... (400 parcels, 7 networks)")``
  from the catalogue, ``.run_batch`` on all lesions, and ``.run`` on each in a loop;
  ``--repeats`` passes (each with a new analysis object, so the atlas is read
  again), median.
The numbers of both must be identical (checked on every lesion and region, 1e-9).

Run: ``python benchmarks/bench_lesion_rd.py [--lesions 200] [--repeats 5]``.
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
PARCELLATION = "Schaefer 2018 cortical parcellation (400 parcels, 7 networks)"
TARGET_SPEEDUP = 20.0


def lesions(n: int) -> list:
    sys.path.insert(0, str(ROOT))
    from tests.lesion.masks import random_masks

    return random_masks(n, "nlin6_1mm", seed=42)


def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def worker_lacuna(n: int, out: Path) -> dict:
    import warnings

    warnings.simplefilter("ignore")
    from lacuna import SubjectData
    from lacuna.analysis import RegionalDamage

    images = lesions(n)
    analysis = RegionalDamage(parcel_names=["Schaefer2018_400Parcels7Networks"])
    subjects = [SubjectData(img, space="MNI152NLin6Asym", resolution=1) for img in images]
    start = time.perf_counter()
    values = []
    for s in subjects:
        (parcel,) = analysis.run(s).results["RegionalDamage"].values()
        values.append(parcel.data)
    seconds = time.perf_counter() - start
    # lacuna's regions come in label order
    out.write_text(json.dumps([list(v.values()) for v in values]))
    return {"seconds": seconds, "lesions": n, "peak_mb": peak_mb()}


def worker_neuratlas(n: int, repeats: int, out: Path) -> dict:
    from neuratlas.lesion import SubjectData
    from neuratlas.lesion.analysis import RegionalDamage

    subjects = [SubjectData(img) for img in lesions(n)]
    batch, single, first = [], [], None
    for _ in range(repeats):
        analysis = RegionalDamage(parcellation=PARCELLATION)
        start = time.perf_counter()
        done = analysis.run_batch(subjects)
        batch.append(time.perf_counter() - start)
        first = first or done
        start = time.perf_counter()
        for s in subjects:
            analysis.run(s)
        single.append(time.perf_counter() - start)
    values = []
    for s in first:
        parcel = next(iter(s.RegionalDamage.values()))
        by_label = sorted(zip(parcel.region_labels, parcel.data.values(), strict=True))
        values.append([v for _, v in by_label])
    out.write_text(json.dumps(values))
    return {
        "batch_s": statistics.median(batch),
        "single_s": statistics.median(single),
        "lesions": n,
        "peak_mb": peak_mb(),
    }


def in_fresh_process(*args: str) -> dict:
    done = subprocess.run(
        [sys.executable, __file__, *args], capture_output=True, text=True, check=False
    )
    if done.returncode:
        sys.exit(f"worker {args[:2]} failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lesions", type=int, default=200)
    parser.add_argument("--lacuna-lesions", type=int, default=None)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--worker", choices=["lacuna", "neuratlas"], help=argparse.SUPPRESS)
    parser.add_argument("--out", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker == "lacuna":
        print(json.dumps(worker_lacuna(args.lesions, args.out)))
        return
    if args.worker == "neuratlas":
        print(json.dumps(worker_neuratlas(args.lesions, args.repeats, args.out)))
        return

    import tempfile

    tmp = Path(tempfile.mkdtemp(prefix="bench-rd-"))
    n_lacuna = args.lacuna_lesions or args.lesions
    print(f"neuratlas: {args.lesions} lesions x {args.repeats} repeats ...", file=sys.stderr)
    ours = in_fresh_process(
        "--worker", "neuratlas", "--lesions", str(args.lesions),
        "--repeats", str(args.repeats), "--out", str(tmp / "ours.json"),
    )  # fmt: skip
    print(f"lacuna: {n_lacuna} lesions (about 3 s each) ...", file=sys.stderr)
    theirs = in_fresh_process(
        "--worker", "lacuna", "--lesions", str(n_lacuna), "--out", str(tmp / "lacuna.json")
    )
    a = json.loads((tmp / "ours.json").read_text())[:n_lacuna]
    b = json.loads((tmp / "lacuna.json").read_text())
    worst = max(float(np.nanmax(np.abs(np.subtract(x, y)))) for x, y in zip(a, b, strict=True))
    missing = sum(len(x) != len(y) for x, y in zip(a, b, strict=True))
    same = worst < 1e-9 and missing == 0

    per_lacuna = theirs["seconds"] / theirs["lesions"]
    per_batch = ours["batch_s"] / ours["lesions"]
    per_single = ours["single_s"] / ours["lesions"]
    speedup = per_lacuna / per_batch
    print(f"\n## Regional damage, Schaefer 2018 400/7 at 1 mm, {args.lesions} lesions\n")
    print("| tool | path | time per lesion | total | peak memory |")
    print("|---|---|---:|---:|---:|")
    print(
        f"| lacuna | `RegionalDamage.run` per lesion ({theirs['lesions']} lesions, one pass) "
        f"| {per_lacuna * 1e3:.0f} ms | {theirs['seconds']:.1f} s | {theirs['peak_mb']:.0f} MB |"
    )
    print(
        f"| neuratlas | `run_batch` (median of {args.repeats}) | {per_batch * 1e3:.2f} ms "
        f"| {ours['batch_s']:.2f} s | {ours['peak_mb']:.0f} MB |"
    )
    print(
        f"| neuratlas | `run` per lesion (median of {args.repeats}) | {per_single * 1e3:.2f} ms "
        f"| {ours['single_s']:.2f} s | (same process) |"
    )
    verdict = "PASS" if speedup >= TARGET_SPEEDUP and same else "FAIL"
    print(
        f"\nspeed-up (batch): {speedup:.0f}x, single runs: {per_lacuna / per_single:.0f}x; "
        f"target >= {TARGET_SPEEDUP:.0f}x with identical numbers "
        f"(largest difference {worst:.1e}, regions missing {missing}): **{verdict}**"
    )


if __name__ == "__main__":
    main()
