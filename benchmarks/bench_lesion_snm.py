"""Benchmark: structural lesion network mapping, neuratlas against MRtrix3's commands.

Data: a synthetic whole-brain tractogram (default 1,000,000 streamlines: straight
lines and circular arcs across the MNI box, 1 mm steps, 30-150 mm long; fixed seed),
written once as .tck and kept in ``--data`` (default /tmp/neuratlas-bench-snm), and
100 synthetic box lesions of different sizes on the 2 mm MNI152NLin6Asym grid.

Measured, each tool in a fresh process (peak memory: the process's VmHWM, or the largest
MRtrix3 command's as GNU time reports it):
- neuratlas, once per tractogram and grid: building the streamline x voxel incidence
  (``tractogram_incidence``, written to the cache), then loading it from the cache;
- neuratlas, per lesion: ``StructuralNetworkMapping.run_batch`` over all lesions, and
  ``.run`` on each of the first ``--single-lesions``; ``--repeats`` passes, median;
- MRtrix3, once: the whole-brain TDI (``tckmap -contrast tdi -template lesion``);
- MRtrix3, per lesion, lacuna's pipeline: ``tckedit -include lesion``, ``tckmap
  -contrast tdi -template lesion`` on the result, ``mrcalc ... -divide``; on the first
  ``--mrtrix-lesions`` lesions (it reads the whole file for each), ``-nthreads``
  as given (lacuna's default n_jobs=1 is ``-nthreads 1``).
The lesion TDIs of both must be equal on every voxel (checked on the lesions MRtrix ran).
The issue sets no speed target for this benchmark: the verdict is the agreement.

Run: ``python benchmarks/bench_lesion_snm.py [--streamlines 1000000] [--lesions 100]
[--mrtrix-lesions 5] [--repeats 3] [--nthreads 1]``.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
GRID = "nlin6_2mm"
SPACE = "MNI152NLin6Asym"


def peak_mb() -> float:
    """This process's peak resident memory (MB).

    /proc's VmHWM where there is one: ru_maxrss carries over the high-water mark
    of the parent that forked the process (here, the one that wrote a GB tractogram).
    """
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def grid() -> tuple[tuple[int, int, int], np.ndarray]:
    sys.path.insert(0, str(ROOT))
    from tests.lesion.masks import GRIDS

    return GRIDS[GRID]


def lesion_images(n: int) -> list:
    sys.path.insert(0, str(ROOT))
    from tests.lesion.masks import random_masks

    return random_masks(n, GRID, seed=42)


# --- the tractogram ---------------------------------------------------------------------------
def _batch(rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray]:
    """``n`` streamlines (points, lengths): half lines, half arcs, 1 mm steps, in the brain box."""
    low, high = np.array([-70.0, -100.0, -50.0]), np.array([70.0, 70.0, 75.0])
    lengths_mm = rng.uniform(30, 150, n)
    counts = np.floor(lengths_mm).astype(np.int64) + 1
    owner = np.repeat(np.arange(n), counts)
    t = np.arange(counts.sum()) - np.repeat(np.cumsum(counts) - counts, counts)  # mm along
    u = rng.normal(size=(n, 3))
    u /= np.linalg.norm(u, axis=1, keepdims=True)
    w = np.cross(u, rng.normal(size=(n, 3)))
    w /= np.linalg.norm(w, axis=1, keepdims=True)
    start = rng.uniform(low, high, size=(n, 3))
    radius = rng.uniform(20, 80, n)
    arc = rng.uniform(size=n) < 0.5
    angle = t / radius[owner]
    along = np.where(arc[owner], radius[owner] * np.sin(angle), t)
    across = np.where(arc[owner], radius[owner] * (1 - np.cos(angle)), 0.0)
    points = start[owner] + along[:, None] * u[owner] + across[:, None] * w[owner]
    return points.astype(np.float32), counts


def make_tractogram(path: Path, n: int, seed: int = 1) -> Path:
    from nibabel.streamlines import ArraySequence

    from neuratlas.lesion.connectomes.tck import TckWriter

    rng = np.random.default_rng(seed)
    with TckWriter(path) as writer:
        for start in range(0, n, 100_000):
            points, counts = _batch(rng, min(100_000, n - start))
            seq = ArraySequence()
            seq._data = points  # nibabel's layout, filled directly: no per-streamline copy
            seq._offsets = np.cumsum(counts) - counts
            seq._lengths = counts
            writer.write(seq)
    return path


# --- workers (fresh processes) -----------------------------------------------------------------
def worker_build(tck: Path) -> dict:
    from neuratlas.lesion.tractography.incidence import tractogram_incidence

    shape, affine = grid()
    start = time.perf_counter()
    inc = tractogram_incidence(tck, shape, affine)
    seconds = time.perf_counter() - start
    return {
        "seconds": seconds,
        "nnz": int(inc.matrix.nnz),
        "streamlines": inc.n_streamlines,
        "peak_mb": peak_mb(),
    }


def worker_neuratlas(tck: Path, n: int, single: int, repeats: int, check: int, out: Path) -> dict:
    from neuratlas.lesion import SubjectData
    from neuratlas.lesion.analysis.structural import StructuralNetworkMapping
    from neuratlas.lesion.tractography.incidence import tractogram_incidence

    shape, affine = grid()
    start = time.perf_counter()
    tractogram_incidence(tck, shape, affine)
    load_s = time.perf_counter() - start
    subjects = [SubjectData(img, space=SPACE) for img in lesion_images(n)]
    batch, alone = [], []
    for _ in range(repeats):
        snm = StructuralNetworkMapping(tck)
        start = time.perf_counter()
        snm.run_batch(subjects)
        batch.append(time.perf_counter() - start)
        # the single runs share the loaded incidence, as a worker running one subject at a time
        start = time.perf_counter()
        for s in subjects[:single]:
            snm.run(s)
        alone.append(time.perf_counter() - start)
    kept = StructuralNetworkMapping(tck, keep_intermediate=True).run_batch(subjects[:check])
    tdis = [np.asarray(s.StructuralNetworkMapping["desc-masktdi"].data.dataobj) for s in kept]
    np.save(out, np.stack(tdis) if tdis else np.zeros((0, *shape), np.int32))
    return {
        "load_s": load_s,
        "batch_s": statistics.median(batch),
        "single_s": statistics.median(alone),
        "lesions": n,
        "single_lesions": single,
        "peak_mb": peak_mb(),
    }


def _mrtrix(*args: object, nthreads: int) -> float | None:
    """Run an MRtrix3 command; its peak memory (MB) when GNU time can tell."""
    command = [str(a) for a in args] + ["-quiet", "-force", "-nthreads", str(nthreads)]
    # GNU time reports the command's own peak; the rusage of a child started from this
    # (larger) process would include this process's high-water mark
    timer = shutil.which("time") or ("/usr/bin/time" if Path("/usr/bin/time").exists() else None)
    if timer is None:
        subprocess.run(command, check=True, capture_output=True)
        return None
    done = subprocess.run(
        [timer, "-f", "%M", *command], check=True, capture_output=True, text=True
    )
    return int(done.stderr.strip().splitlines()[-1]) / 1024


def worker_mrtrix(tck: Path, n: int, nthreads: int, out: Path) -> dict:
    import nibabel as nib

    folder = Path(tempfile.mkdtemp(prefix="bench-snm-mrtrix-"))
    images = lesion_images(n)
    masks = []
    for k, img in enumerate(images):
        masks.append(folder / f"lesion{k}.nii.gz")
        nib.save(img, masks[-1])
    whole = folder / "whole_tdi.nii.gz"
    start = time.perf_counter()
    peaks = [
        _mrtrix("tckmap", "-template", masks[0], "-contrast", "tdi", tck, whole, nthreads=nthreads)
    ]
    whole_s = time.perf_counter() - start
    per, tdis = [], []
    for k, mask in enumerate(masks):
        start = time.perf_counter()
        hit, tdi, ratio = folder / f"hit{k}.tck", folder / f"tdi{k}.nii.gz", folder / f"d{k}.nii"
        peaks.append(_mrtrix("tckedit", tck, hit, "-include", mask, nthreads=nthreads))
        peaks.append(
            _mrtrix("tckmap", "-template", mask, "-contrast", "tdi", hit, tdi, nthreads=nthreads)
        )
        peaks.append(_mrtrix("mrcalc", tdi, whole, "-divide", ratio, nthreads=nthreads))
        per.append(time.perf_counter() - start)
        tdis.append(np.asarray(nib.load(tdi).dataobj))
        hit.unlink()
    np.save(out, np.stack(tdis))
    shutil.rmtree(folder, ignore_errors=True)
    return {
        "whole_s": whole_s,
        "per_lesion_s": statistics.median(per),
        "total_s": sum(per),
        "lesions": n,
        "peak_mb": None if None in peaks else max(peaks),
    }


def _mb(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.0f} MB"


def in_fresh_process(*args: str, env: dict[str, str]) -> dict:
    done = subprocess.run(
        [sys.executable, __file__, *args], capture_output=True, text=True, check=False, env=env
    )
    if done.returncode:
        sys.exit(f"worker {args[:2]} failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--streamlines", type=int, default=1_000_000)
    parser.add_argument("--lesions", type=int, default=100)
    parser.add_argument("--single-lesions", type=int, default=10)
    parser.add_argument("--mrtrix-lesions", type=int, default=5)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--nthreads", type=int, default=1)
    parser.add_argument("--data", type=Path, default=Path("/tmp/neuratlas-bench-snm"))
    parser.add_argument(
        "--worker", choices=["build", "neuratlas", "mrtrix"], help=argparse.SUPPRESS
    )
    parser.add_argument("--tck", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--out", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker == "build":
        print(json.dumps(worker_build(args.tck)))
        return
    if args.worker == "neuratlas":
        result = worker_neuratlas(
            args.tck, args.lesions, args.single_lesions, args.repeats, args.mrtrix_lesions,
            args.out,
        )  # fmt: skip
        print(json.dumps(result))
        return
    if args.worker == "mrtrix":
        print(json.dumps(worker_mrtrix(args.tck, args.mrtrix_lesions, args.nthreads, args.out)))
        return

    args.data.mkdir(parents=True, exist_ok=True)
    tck = args.data / f"synthetic_{args.streamlines}.tck"
    if not tck.is_file():
        print(f"writing {args.streamlines} streamlines to {tck} ...", file=sys.stderr)
        start = time.perf_counter()
        make_tractogram(tck, args.streamlines)
        print(f"  {time.perf_counter() - start:.0f} s", file=sys.stderr)
    # a private cache: the build is measured from nothing, the load from what it wrote
    cache = Path(tempfile.mkdtemp(prefix="bench-snm-cache-"))
    env = {**os.environ, "NEURATLAS_CACHE": str(cache)}
    tmp = Path(tempfile.mkdtemp(prefix="bench-snm-"))
    common = ["--tck", str(tck), "--lesions", str(args.lesions)]
    print("neuratlas: building the incidence ...", file=sys.stderr)
    built = in_fresh_process("--worker", "build", *common, env=env)
    print(f"neuratlas: {args.lesions} lesions x {args.repeats} repeats ...", file=sys.stderr)
    ours = in_fresh_process(
        "--worker", "neuratlas", *common, "--single-lesions", str(args.single_lesions),
        "--repeats", str(args.repeats), "--mrtrix-lesions", str(args.mrtrix_lesions),
        "--out", str(tmp / "ours.npy"), env=env,
    )  # fmt: skip
    have_mrtrix = all(shutil.which(c) for c in ("tckedit", "tckmap", "mrcalc"))
    theirs = None
    if have_mrtrix and args.mrtrix_lesions:
        print(f"MRtrix3: {args.mrtrix_lesions} lesions ...", file=sys.stderr)
        theirs = in_fresh_process(
            "--worker", "mrtrix", *common, "--mrtrix-lesions", str(args.mrtrix_lesions),
            "--nthreads", str(args.nthreads), "--out", str(tmp / "mrtrix.npy"), env=env,
        )  # fmt: skip
    shutil.rmtree(cache, ignore_errors=True)

    n = args.lesions
    per_batch = ours["batch_s"] / n
    per_single = ours["single_s"] / max(ours["single_lesions"], 1)
    print(
        f"\n## Structural lesion network mapping, {built['streamlines']:,} streamlines, "
        f"{n} lesions, {GRID} grid\n"
    )
    print("| tool | step | time | peak memory |")
    print("|---|---|---:|---:|")
    print(
        f"| neuratlas | incidence build, once ({built['nnz']:,} streamline-voxel pairs) "
        f"| {built['seconds']:.1f} s | {built['peak_mb']:.0f} MB |"
    )
    print(f"| neuratlas | incidence load from the cache, once | {ours['load_s']:.2f} s | |")
    print(
        f"| neuratlas | `run_batch`, per lesion (median of {args.repeats}) "
        f"| {per_batch * 1e3:.1f} ms | {ours['peak_mb']:.0f} MB |"
    )
    print(
        f"| neuratlas | `run`, per lesion ({ours['single_lesions']} lesions) "
        f"| {per_single * 1e3:.1f} ms | (same process) |"
    )
    verdict, same = "n/a (MRtrix3 not installed)", None
    if theirs is not None:
        print(
            f"| MRtrix3 | `tckmap` whole-brain TDI, once ({args.nthreads} thread(s)) "
            f"| {theirs['whole_s']:.1f} s | |"
        )
        print(
            f"| MRtrix3 | `tckedit` + `tckmap` + `mrcalc`, per lesion "
            f"({theirs['lesions']} lesions, median) | {theirs['per_lesion_s']:.2f} s "
            f"| {_mb(theirs['peak_mb'])} |"
        )
        a, b = np.load(tmp / "ours.npy"), np.load(tmp / "mrtrix.npy")
        differing = int((a != b).sum())
        same = differing == 0
        verdict = "PASS" if same else "FAIL"
        print(
            f"\nper lesion: batch {theirs['per_lesion_s'] / per_batch:.0f}x, single runs "
            f"{theirs['per_lesion_s'] / per_single:.0f}x faster than MRtrix3; "
            f"lesion TDIs equal on every voxel for {theirs['lesions']} lesions "
            f"({differing} voxels differ): **{verdict}**"
        )
    else:
        print(f"\nagreement: {verdict}")
    shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
