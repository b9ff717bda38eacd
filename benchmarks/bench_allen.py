"""Benchmark: neuratlas.allen against atldld 0.3.4 on the same inputs, in one run.

Measures ``pir_to_xy`` and ``xy_to_pir`` on 1,000,000 points,
``get_parallel_transform`` at downsample_ref 25 and 10, and warping a
2000 x 3000 RGB image. Timings alternate between the two libraries (median of
``--repeats`` runs). Every result is also compared with atldld's: the check
passes when ``|ours - atldld| <= 1e-3 * max(1, |atldld|)`` everywhere (atldld
computes in float32, whose rounding at coordinates of ~10^4 is itself ~1e-3
absolute, so the tolerance is relative); the error of both against an
extended-precision reference is printed too.

If atldld cannot be imported here, set ``NEURATLAS_ATLDLD_PYTHON`` to an
interpreter that has it (e.g. ``/work/bench-venv-atldld/bin/python``): its
timings and results are then produced in a subprocess of that interpreter.

Run: ``python benchmarks/bench_allen.py [--repeats 7]``.
"""

from __future__ import annotations

import argparse
import io
import os
import pickle
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from typing import Any

import numpy as np

from neuratlas.allen import transforms
from neuratlas.allen.displacement import DisplacementField, _have_cv2

N_POINTS = 1_000_000
IMAGE_SHAPE = (2000, 3000)


def make_inputs(seed: int = 0) -> dict[str, Any]:
    """Realistic affines of a coronal dataset, points and an RGB section image."""
    rng = np.random.default_rng(seed)
    angle = np.deg2rad(4.0)
    rot = 1.049 * np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    tsv = np.hstack([rot, [[-610.3], [412.8]]])
    linear = np.array([[0, 0, 1], [0, 1, 0], [1, 0, 0]], float) + rng.normal(0, 0.02, (3, 3))
    tvr = np.hstack([linear, [[5550.3], [322.2], [-276.1]]])
    tvs = np.linalg.inv(np.vstack([tsv, [0, 0, 1]]))[:2]
    trv = np.linalg.inv(np.vstack([tvr, [0, 0, 0, 1]]))[:3]
    xy = np.stack(
        [
            rng.uniform(0, 12000, N_POINTS),
            rng.uniform(0, 9000, N_POINTS),
            rng.integers(1, 500, N_POINTS) * 25.0,
        ]
    )
    pir = np.stack(
        [
            rng.uniform(0, 13200, N_POINTS),
            rng.uniform(0, 8000, N_POINTS),
            rng.uniform(0, 11400, N_POINTS),
        ]
    )
    rows, cols = np.indices(IMAGE_SHAPE, dtype=np.float64)
    gray = 120 + 60 * np.sin(rows / 37.0) * np.cos(cols / 53.0) + rng.normal(0, 8, IMAGE_SHAPE)
    image = np.clip(np.stack([gray, gray * 0.9, gray * 0.8], axis=-1), 0, 255).astype(np.uint8)
    # a smooth, realistic warp: a small rotation plus a gentle bend, ~tens of pixels
    dx = 0.03 * (rows - 1000) + 12 * np.sin(cols / 400.0) - 8.5
    dy = -0.03 * (cols - 1500) + 9 * np.cos(rows / 300.0) + 4.25
    return {
        "tsv": tsv,
        "tvs": tvs,
        "tvr": tvr,
        "trv": trv,
        "xy": xy,
        "pir": pir,
        "slice": 6612.5,
        "image": image,
        "dx": dx,
        "dy": dy,
    }


def atldld_tasks(inputs: dict[str, Any]) -> dict[str, Callable[[], Any]]:
    """The peer's calls; each returns arrays to compare."""
    from atldld import sync as peer
    from atldld.base import DisplacementField as PeerField

    peer_df = PeerField(inputs["dx"], inputs["dy"])

    def parallel(ds: int) -> Callable[[], Any]:
        def run() -> Any:
            df = peer.get_parallel_transform(
                inputs["slice"], inputs["tvs"], inputs["trv"], "coronal", ds, 0
            )
            return np.stack([df.delta_x, df.delta_y])

        return run

    return {
        "pir_to_xy, 1M points": lambda: peer.pir_to_xy(
            inputs["pir"], inputs["tvs"], inputs["trv"]
        ),
        "xy_to_pir, 1M points": lambda: peer.xy_to_pir(inputs["xy"], inputs["tsv"], inputs["tvr"]),
        "get_parallel_transform, ds 25": parallel(25),
        "get_parallel_transform, ds 10": parallel(10),
        "warp 2000x3000 RGB, linear": lambda: peer_df.warp(inputs["image"]),
    }


def neuratlas_tasks(inputs: dict[str, Any]) -> dict[str, Callable[[], Any]]:
    """Our calls, in the same order."""
    df = DisplacementField(inputs["dx"], inputs["dy"])

    def parallel(ds: int) -> Callable[[], Any]:
        def run() -> Any:
            out = transforms.get_parallel_transform(
                inputs["slice"], inputs["tvs"], inputs["trv"], "coronal", ds, 0
            )
            return np.stack([out.delta_x, out.delta_y])

        return run

    tasks = {
        "pir_to_xy, 1M points": lambda: transforms.pir_to_xy(
            inputs["pir"], inputs["tvs"], inputs["trv"]
        ),
        "xy_to_pir, 1M points": lambda: transforms.xy_to_pir(
            inputs["xy"], inputs["tsv"], inputs["tvr"]
        ),
        "get_parallel_transform, ds 25": parallel(25),
        "get_parallel_transform, ds 10": parallel(10),
        "warp 2000x3000 RGB, linear": lambda: df.warp(inputs["image"]),
    }
    tasks["warp 2000x3000 RGB, linear (NumPy back end)"] = lambda: df.warp(
        inputs["image"], backend="numpy"
    )
    return tasks


def reference(inputs: dict[str, Any], name: str) -> np.ndarray | None:
    """Extended-precision results (np.longdouble) for the coordinate tasks."""
    ld = np.longdouble
    if name.startswith("pir_to_xy"):
        matrix = transforms.pir_to_xy_matrix(inputs["tvs"], inputs["trv"])
        m = np.vstack([matrix, [0, 0, 0, 1]]).astype(ld)
        return (m[:3, :3] @ inputs["pir"].astype(ld) + m[:3, 3:4]).astype(np.float64)
    if name.startswith("xy_to_pir"):
        matrix = transforms.xy_to_pir_matrix(inputs["tsv"], inputs["tvr"])
        m = matrix.astype(ld)
        return (m[:, :3] @ inputs["xy"].astype(ld) + m[:, 3:4]).astype(np.float64)
    return None


def _time(fn: Callable[[], Any]) -> tuple[float, Any]:
    start = time.perf_counter()
    out = fn()
    return time.perf_counter() - start, out


def _peer_worker(repeats: int) -> None:
    """Run in the peer's interpreter: time its tasks and pickle the results to stdout."""
    inputs = make_inputs()
    tasks = atldld_tasks(inputs)
    results: dict[str, Any] = {}
    for name, fn in tasks.items():
        times = []
        for _ in range(repeats):
            elapsed, out = _time(fn)
            times.append(elapsed)
        results[name] = (times, out)
    sys.stdout.buffer.write(pickle.dumps(results))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--peer-worker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.peer_worker:
        _peer_worker(args.repeats)
        return
    inputs = make_inputs()
    ours = neuratlas_tasks(inputs)
    times: dict[str, dict[str, list[float]]] = {name: {"ours": [], "peer": []} for name in ours}
    outputs: dict[str, dict[str, Any]] = {name: {} for name in ours}
    peer_python = os.environ.get("NEURATLAS_ATLDLD_PYTHON")
    try:
        if peer_python:
            raise ImportError("using a separate interpreter")
        peer = atldld_tasks(inputs)
    except ImportError:
        peer = {}
    for name, fn in ours.items():
        peer_fn = peer.get(name)
        if peer_fn is not None:
            peer_fn()  # warm-up (imports, OpenCV thread pool)
        fn()
        for _ in range(args.repeats):  # alternate the two libraries
            if peer_fn is not None:
                elapsed, outputs[name]["peer"] = _time(peer_fn)
                times[name]["peer"].append(elapsed)
            elapsed, outputs[name]["ours"] = _time(fn)
            times[name]["ours"].append(elapsed)
    if not peer and peer_python:
        done = subprocess.run(
            [peer_python, __file__, "--peer-worker", "--repeats", str(args.repeats)],
            capture_output=True,
            check=True,
        )
        for name, (peer_times, out) in pickle.load(io.BytesIO(done.stdout)).items():
            times[name]["peer"] = peer_times
            outputs[name]["peer"] = out
    for name in ours:
        if name.endswith("(NumPy back end)"):
            base = name.replace(" (NumPy back end)", "")
            times[name]["peer"] = times[base]["peer"]
            outputs[name]["peer"] = outputs[base].get("peer")

    print(f"# neuratlas.allen vs atldld {_peer_version()} ({args.repeats} repeats, median)\n")
    print(f"OpenCV available to neuratlas: {_have_cv2()}\n")
    print(
        "| task | atldld (ms) | neuratlas (ms) | speed-up | max abs diff | agrees | "
        "error vs long double: atldld / neuratlas |"
    )
    print("|---|---:|---:|---:|---:|:---:|---|")
    for name in ours:
        peer_ms = 1e3 * statistics.median(times[name]["peer"]) if times[name]["peer"] else None
        ours_ms = 1e3 * statistics.median(times[name]["ours"])
        speed = f"{peer_ms / ours_ms:.2f}x" if peer_ms else "-"
        ours_out = np.asarray(outputs[name]["ours"], dtype=np.float64)
        peer_out = outputs[name].get("peer")
        if peer_out is None:
            diff, agree = "-", "-"
        else:
            peer_arr = np.asarray(peer_out, dtype=np.float64)
            delta = np.abs(ours_out - peer_arr)
            diff = f"{delta.max():.2e}"
            if name.startswith("warp"):
                # integer grey levels: OpenCV's fixed-point weights may round one level apart
                agree = "yes" if delta.max() <= 2 else "NO"
                diff += f" ({np.mean(delta > 0):.1%} px differ)"
            else:
                agree = "yes" if np.all(delta <= 1e-3 * np.maximum(1, np.abs(peer_arr))) else "NO"
        exact = reference(inputs, name)
        if exact is not None and peer_out is not None:
            errors = (
                f"{np.abs(np.asarray(peer_out, np.float64) - exact).max():.1e} / "
                f"{np.abs(ours_out - exact).max():.1e}"
            )
        else:
            errors = "-"
        peer_text = f"{peer_ms:.1f}" if peer_ms else "-"
        print(f"| {name} | {peer_text} | {ours_ms:.1f} | {speed} | {diff} | {agree} | {errors} |")
    agreement_all_axes(inputs)


def agreement_all_axes(inputs: dict[str, Any]) -> None:
    """Check get_parallel_transform against atldld on every axis (in-process peer only)."""
    try:
        from atldld import sync as peer
    except ImportError:
        return
    print("\nget_parallel_transform agreement on every axis (max abs diff, px):\n")
    for axis in ("coronal", "sagittal", "transverse"):
        for ds_ref, ds_img in ((25, 0), (10, 2)):
            a = peer.get_parallel_transform(
                inputs["slice"], inputs["tvs"], inputs["trv"], axis, ds_ref, ds_img
            )
            b = transforms.get_parallel_transform(
                inputs["slice"], inputs["tvs"], inputs["trv"], axis, ds_ref, ds_img
            )
            ok = a.shape == b.shape
            delta = max(np.abs(a.delta_x - b.delta_x).max(), np.abs(a.delta_y - b.delta_y).max())
            print(
                f"- {axis}, downsample_ref {ds_ref}, downsample_img {ds_img}: "
                f"shape {b.shape} {'==' if ok else '!='} atldld, {delta:.1e}"
            )


def _peer_version() -> str:
    try:
        from importlib.metadata import version

        return version("atldld")
    except Exception:
        return "(separate interpreter)"


if __name__ == "__main__":
    main()
