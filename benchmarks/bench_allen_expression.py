"""Benchmark: gene -> expression per region, neuratlas against atldld 0.3.4 plus NumPy.

The question most atldld users were asking: how much is a gene expressed in each
region of the Allen mouse brain? neuratlas answers it in one command,
``neuratlas allen expression GENE -o table.csv``. With atldld 0.3.4 one syncs every
section of the gene's dataset with ``atldld.sync.DatasetDownloader``, places it in
a CCF volume and aggregates per region by hand; :func:`atldld_worker` is that code,
written the way a careful NumPy user would (vectorised, one ``bincount`` per
statistic, the same definitions as neuratlas: mean and max of the expression energy
over a region's sampled voxels, its own label and its descendants', and the
fraction of its voxels sampled).

Both read the same local fake servers (tests/allen/fake_allen_api.py and
tests/volumes/fake_download_server.py): one coronal Gad1 dataset of ``--sections``
sections (56 by default, 200 µm apart, as the adult mouse ISH atlas has) with
full-resolution images of ~12,000 x 8,600 pixels, fetched at ``--downsample-img``
(4: ~750 x 540 pixels, the expression view's usual size), the Allen structure graph,
and a 25 µm annotation volume (528 x 320 x 456 voxels) generated from the real
ontology (~700 leaf structures in an ellipsoidal brain, mirrored across the midline),
served as a gzip NRRD like the released file. The server renders every image once
before the measurements, so that its own work is not what is timed.

Each measurement is a fresh process (wall time; CPU time from ``wait4``; peak
resident memory from the process's own ``VmHWM``, as ``wait4``'s would include the
forking parent's), the two tools alternating, ``--repeats`` times (median). Three
scenarios: a first run (empty caches: the annotation, ontology and images are
downloaded) from the local server as it is, answering at once, so that only the two
programs' own work counts; the same first run from a server that waits
``--latency-ms`` (100 ms by default) before every answer, as the remote API does
(a round trip and the server's rendering of the image; the real API's are not
measured here, and are likely longer); and a repeat run (all cached, e.g. a second
analysis of the gene). Every run's table is compared with the peer's: the same
regions and voxel counts, and mean, max and coverage within :data:`TOLERANCE`.

atldld 0.3.4 pulls in opencv-python, which would change the shared environment, so
it lives in its own virtual environment: ``--atldld-python`` (default
``$NEURATLAS_ATLDLD_PYTHON``, else ``.venv-bench/bin/python`` in the repository).
Create it with::

    python3.11 -m venv .venv-bench
    .venv-bench/bin/pip install atldld==0.3.4 pynrrd

Run: ``.venv/bin/python benchmarks/bench_allen_expression.py [--repeats 5]``.
"""

from __future__ import annotations

import argparse
import atexit
import csv
import json
import math
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
GENE = "Gad1"
DATASET_ID = 74881161
RESOLUTION_UM = 25
#: How far the two tables may differ (grey levels 0-255; coverage a fraction): atldld
#: computes positions in float32 and warps with OpenCV, neuratlas in float64 with its
#: own bilinear interpolation. Voxel counts must be equal.
TOLERANCE = {"mean": 0.01, "max": 0.05, "coverage": 1e-9}
TARGET_SPEEDUP = 3.0
# ITU-R BT.601 luma weights, as neuratlas turns the expression view into grey levels
LUMA = np.array([0.299, 0.587, 0.114], dtype=np.float32)
API_HOSTS = ("https://api.brain-map.org/api/v2/", "http://api.brain-map.org/api/v2/")


# --------------------------------------------------------------------------- the peer
def atldld_worker(args: argparse.Namespace) -> None:
    """Gene -> table with atldld 0.3.4 and hand-written NumPy (runs in atldld's interpreter)."""
    record_peak_memory(args.peak)
    import nrrd
    import requests

    _redirect_requests(args.api)  # the harness: atldld's fixed API address -> the fake
    from atldld.sync import DatasetDownloader
    from atldld.utils import get_experiment_list_from_gene

    resolution = args.resolution_um
    cache = Path(args.cache)
    cache.mkdir(parents=True, exist_ok=True)
    annotation_file = cache / f"annotation_{resolution}.nrrd"
    graph_file = cache / "structure_graph_1.json"
    for url, target in (
        (args.annotation_url, annotation_file),
        (args.api + "structure_graph_download/1.json", graph_file),
    ):
        if not target.exists():
            answer = requests.get(url, timeout=60)
            answer.raise_for_status()
            target.write_bytes(answer.content)

    ids = get_experiment_list_from_gene(args.gene, "coronal")
    annotation, _ = nrrd.read(str(annotation_file))  # PIR, as the CCF grid
    present, counts = np.unique(annotation, return_counts=True)
    structures = _flatten_graph(json.loads(graph_file.read_text())["msg"])
    rows = []
    for dataset_id in ids:
        downloader = DatasetDownloader(
            dataset_id,
            downsample_ref=resolution,
            include_expression=True,
            downsample_img=args.downsample_img,
        )
        downloader.fetch_metadata()
        total = np.zeros(annotation.shape, dtype=np.float32)
        count = np.zeros(annotation.shape, dtype=np.uint16)
        for _, p, _, img_expr, df in downloader.run():
            grey = img_expr[..., :3].astype(np.float32) @ LUMA
            warped = df.warp(grey)
            fx, fy = df.transformation
            height, width = grey.shape
            valid = (fx >= 0) & (fx <= width - 1) & (fy >= 0) & (fy <= height - 1)
            plane = int(np.rint(p / resolution))
            if 0 <= plane < annotation.shape[0]:
                total[plane][valid] += warped[valid]
                count[plane][valid] += 1
        sampled = count > 0
        energy = total[sampled].astype(np.float64) / count[sampled]
        where = np.searchsorted(present, annotation[sampled])
        hits = np.bincount(where, minlength=len(present))
        sums = np.bincount(where, weights=energy, minlength=len(present))
        highest = np.full(len(present), -np.inf)
        np.maximum.at(highest, where, energy)
        for acronym, name, labels in structures:
            at = np.searchsorted(present, labels)
            found = at[(at < len(present)) & (present[np.minimum(at, len(present) - 1)] == labels)]
            voxels = int(counts[found].sum())
            if not voxels:
                continue
            n = int(hits[found].sum())
            rows.append(
                [
                    name,
                    acronym,
                    dataset_id,
                    sums[found].sum() / n if n else "",
                    highest[found].max() if n else "",
                    n / voxels,
                    voxels,
                ]
            )
    with open(args.out, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["region", "acronym", "dataset_id", "mean", "max", "coverage", "voxels"])
        writer.writerows(rows)


def _flatten_graph(nodes: list[dict[str, Any]]) -> list[tuple[str, str, np.ndarray]]:
    """(acronym, name, sorted ids of the structure and its descendants) of every node."""
    out: list[tuple[str, str, np.ndarray]] = []

    def walk(node: dict[str, Any]) -> list[int]:
        ids = [int(node["id"])]
        for child in node.get("children") or []:
            ids += walk(child)
        out.append((node["acronym"], node["name"], np.array(sorted(ids))))
        return ids

    for node in nodes:
        walk(node)
    return out


def _redirect_requests(base: str) -> None:
    """Send every request for the Allen API to ``base`` (atldld has the address built in)."""
    import requests

    original = requests.Session.request

    def request(self: Any, method: str, url: str, *args: Any, **kwargs: Any) -> Any:
        for host in API_HOSTS:
            if url.startswith(host):
                url = base + url[len(host) :]
        return original(self, method, url, *args, **kwargs)

    requests.Session.request = request  # type: ignore[method-assign]


# --------------------------------------------------------------------------- set-up
def realistic_annotation(seed: int = 0) -> np.ndarray:
    """A 25 µm CCF annotation (PIR, uint32) labelled with the real ontology's leaf ids.

    An ellipsoidal brain divided into ~700 regions (nearest of random seeds on a
    100 µm grid, then 4 x 4 x 4 blocks), the right half a mirror of the left: the
    label count, value range (up to 614,454,277), extent and runs of the released
    annotation_25.nrrd, which cannot be downloaded here.
    """
    from scipy.spatial import cKDTree

    import neuratlas

    the_map = neuratlas.get_map("allen mouse", "Allen Mouse CCF v3")
    parc = the_map.parcellation
    ids = {name: label for label, name in the_map.label_lut.items()}
    leaves = sorted(ids[r.name] for r in parc.descendants if not r.children and r.name in ids)
    rng = np.random.default_rng(seed)
    labels = rng.choice(leaves, size=min(700, len(leaves)), replace=False)
    coarse = (132, 80, 114)
    half = (coarse[0], coarse[1], coarse[2] // 2)
    grid = np.indices(half).reshape(3, -1).T.astype(np.float32) + 0.5
    centre = np.array(coarse, dtype=np.float32) / 2
    inside = (((grid - centre) / (centre * 0.92)) ** 2).sum(axis=1) <= 1.0
    seeds = grid[inside][rng.choice(int(inside.sum()), len(labels), replace=False)]
    _, nearest = cKDTree(seeds).query(grid[inside])
    left = np.zeros(half, dtype=np.uint32)
    left.reshape(-1)[np.flatnonzero(inside)] = labels[nearest]
    volume = np.concatenate([left, left[:, :, ::-1]], axis=2)
    return np.asfortranarray(volume.repeat(4, 0).repeat(4, 1).repeat(4, 2))


@dataclass
class Servers:
    api: Any
    download: Any
    config: Path
    annotation_url: str

    def stop(self) -> None:
        self.api.stop()
        self.download.stop()


def start_servers(args: argparse.Namespace, work: Path) -> Servers:
    sys.path.insert(0, str(ROOT))
    from tests.allen.fake_allen_api import FakeAllenAPI, make_dataset
    from tests.volumes.fake_download_server import (
        CCF_PATH,
        FakeDownloadServer,
        ccf_nrrd,
        served_mouse_specs,
    )

    started = time.perf_counter()
    annotation = realistic_annotation()
    path = f"{CCF_PATH}annotation/ccf_2017/annotation_{RESOLUTION_UM}.nrrd"
    files = {path: ccf_nrrd(annotation, RESOLUTION_UM)}
    download = FakeDownloadServer(files).start()
    dataset = make_dataset(DATASET_ID, "coronal", n_images=args.sections, gene=GENE, seed=3)
    api = FakeAllenAPI([dataset])
    size = api.render_all(args.downsample_img)
    api.start()
    image = dataset.images[0]
    factor = 2**args.downsample_img
    _log(
        f"set-up {time.perf_counter() - started:.1f} s: annotation {annotation.shape} "
        f"({len(np.unique(annotation)) - 1} labels, {len(files[path]) / 1e6:.1f} MB gzip NRRD); "
        f"{args.sections} sections of ~{image['image_width']} x {image['image_height']} px, "
        f"served at {image['image_width'] // factor} x {image['image_height'] // factor} "
        f"({size / 1e6:.1f} MB of JPEG, both views)"
    )
    config = served_mouse_specs(work / "config", download.base_url)
    return Servers(api, download, config, download.base_url + path)


# --------------------------------------------------------------------------- measuring
@dataclass
class Run:
    seconds: float  # wall time
    cpu: float  # user + system time of the process
    peak_mb: float
    table: Path


def record_peak_memory(path: str) -> None:
    """At exit, write this process's peak resident memory (kB, ``VmHWM``) to ``path``."""

    def write() -> None:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    Path(path).write_text(line.split()[1])

    if Path("/proc/self/status").exists():
        atexit.register(write)


def neuratlas_worker(peak: str, argv: list[str]) -> None:
    """Run the neuratlas command line as its console script does, recording peak memory."""
    record_peak_memory(peak)
    sys.argv = ["neuratlas", *argv]
    from neuratlas.cli.entry import app

    app()


def measure(command: list[str], env: dict[str, str], table: Path, peak: Path) -> Run:
    """Run one process; its wall and CPU time and peak resident memory."""
    started = time.perf_counter()
    with tempfile.TemporaryFile() as errors:
        proc = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=errors)
        _, status, usage = os.wait4(proc.pid, 0)
        proc.returncode = os.waitstatus_to_exitcode(status)
        seconds = time.perf_counter() - started
        if proc.returncode != 0:
            errors.seek(0)
            text = errors.read().decode(errors="replace")[-3000:]
            raise RuntimeError(f"{command[0]} failed ({proc.returncode}):\n{text}")
    # wait4's ru_maxrss counts the pages shared with this (large) parent before exec
    peak_kb = float(peak.read_text()) if peak.exists() else float(usage.ru_maxrss)
    return Run(seconds, usage.ru_utime + usage.ru_stime, peak_kb / 1024, table)


class Tools:
    """The two commands, each with its own cache folders."""

    def __init__(self, args: argparse.Namespace, servers: Servers, work: Path) -> None:
        self.args, self.servers, self.work = args, servers, work
        self.counter = 0

    def _table(self, tool: str) -> Path:
        self.counter += 1
        return self.work / "tables" / f"{tool}_{self.counter}.csv"

    def _peak(self) -> Path:
        return self.work / "tables" / f"peak_{self.counter}.txt"

    def neuratlas(self, cache: Path) -> Run:
        table = self._table("neuratlas")
        env = {
            **os.environ,
            "NEURATLAS_CACHE": str(cache),
            "NEURATLAS_CONFIGURATION": str(self.servers.config),
            "NEURATLAS_ALLEN_API": self.servers.api.base_url,
        }
        command = [
            sys.executable,
            __file__,
            "--neuratlas-worker",
            "--peak",
            str(self._peak()),
            "allen",
            "expression",
            GENE,
            "--resolution-um",
            str(RESOLUTION_UM),
            "--downsample-img",
            str(self.args.downsample_img),
            "-o",
            str(table),
        ]
        return measure(command, env, table, self._peak())

    def atldld(self, cache: Path) -> Run:
        table = self._table("atldld")
        env = {**os.environ, "XDG_CACHE_HOME": str(cache)}
        command = [
            self.args.atldld_python,
            __file__,
            "--atldld-worker",
            "--api",
            self.servers.api.base_url,
            "--annotation-url",
            self.servers.annotation_url,
            "--cache",
            str(cache / "hand-written"),
            "--out",
            str(table),
            "--downsample-img",
            str(self.args.downsample_img),
            "--peak",
            str(self._peak()),
        ]
        return measure(command, env, table, self._peak())


def read_table(path: Path) -> dict[str, dict[str, float]]:
    with path.open(newline="") as handle:
        return {
            (row["acronym"] or row["region"]): {
                k: float(row[k]) if row[k] != "" else math.nan
                for k in ("mean", "max", "coverage", "voxels")
            }
            for row in csv.DictReader(handle)
        }


def compare(ours: Path, peer: Path) -> tuple[bool, str]:
    """Whether two tables agree within :data:`TOLERANCE`, and the largest differences."""
    a, b = read_table(ours), read_table(peer)
    if set(a) != set(b):
        return False, f"different regions: {sorted(set(a) ^ set(b))[:5]}"
    worst = dict.fromkeys(TOLERANCE, 0.0)
    agree = True
    for acronym, row in a.items():
        other = b[acronym]
        if row["voxels"] != other["voxels"]:
            return False, f"{acronym}: {row['voxels']:.0f} voxels, atldld {other['voxels']:.0f}"
        for key in TOLERANCE:
            x, y = row[key], other[key]
            if math.isnan(x) or math.isnan(y):
                agree &= math.isnan(x) and math.isnan(y)
                continue
            worst[key] = max(worst[key], abs(x - y))
    agree &= all(worst[k] <= TOLERANCE[k] for k in TOLERANCE)
    sampled = sum(1 for row in a.values() if row["coverage"] > 0)
    text = (
        f"{len(a)} regions ({sampled} sampled), same voxel counts; largest differences: "
        + ", ".join(f"{k} {worst[k]:.3g} (tolerance {TOLERANCE[k]})" for k in TOLERANCE)
    )
    return bool(agree), text


# --------------------------------------------------------------------------- main
def _log(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def _default_peer() -> str:
    return os.environ.get("NEURATLAS_ATLDLD_PYTHON") or str(
        ROOT / ".venv-bench" / "bin" / "python"
    )


def _peer_version(python: str) -> str:
    done = subprocess.run(
        [python, "-c", "import importlib.metadata as m; print(m.version('atldld'))"],
        capture_output=True,
        text=True,
    )
    if done.returncode != 0:
        raise SystemExit(
            f"atldld is not importable by {python}: create the environment as the module "
            "documentation says, or pass --atldld-python"
        )
    return done.stdout.strip()


def scenario(
    tools: Tools, name: str, repeats: int, warm: bool, latency_ms: float = 0.0
) -> dict[str, Any]:
    """Alternate the two tools ``repeats`` times; caches empty or filled by a first run."""
    runs: dict[str, list[Run]] = {"atldld": [], "neuratlas": []}
    tools.servers.api.latency = latency_ms / 1000.0
    caches = tools.work / "caches" / "".join(c if c.isalnum() else "-" for c in name)
    if warm:
        tools.atldld(caches / "atldld")
        tools.neuratlas(caches / "neuratlas")
    for k in range(repeats):
        for tool in ("atldld", "neuratlas"):
            cache = caches / tool if warm else caches / f"{tool}_{k}"
            run = getattr(tools, tool)(cache)
            runs[tool].append(run)
            _log(
                f"{name} {k + 1}/{repeats} {tool}: {run.seconds:.2f} s "
                f"(CPU {run.cpu:.2f} s), {run.peak_mb:.0f} MB"
            )
            if not warm:
                shutil.rmtree(cache, ignore_errors=True)
    checks = [
        compare(a.table, b.table) for a, b in zip(runs["neuratlas"], runs["atldld"], strict=True)
    ]
    return {
        "name": name,
        "peer_s": statistics.median(r.seconds for r in runs["atldld"]),
        "ours_s": statistics.median(r.seconds for r in runs["neuratlas"]),
        "peer_cpu": statistics.median(r.cpu for r in runs["atldld"]),
        "ours_cpu": statistics.median(r.cpu for r in runs["neuratlas"]),
        "peer_mb": max(r.peak_mb for r in runs["atldld"]),
        "ours_mb": max(r.peak_mb for r in runs["neuratlas"]),
        "agree": all(ok for ok, _ in checks),
        "detail": checks[0][1],
    }


def main() -> int:
    if sys.argv[1:2] == ["--neuratlas-worker"]:  # --neuratlas-worker --peak FILE <neuratlas args>
        neuratlas_worker(sys.argv[3], sys.argv[4:])
        return 0
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--sections", type=int, default=56)
    parser.add_argument("--downsample-img", type=int, default=4)
    parser.add_argument("--latency-ms", type=float, default=100.0)
    parser.add_argument("--atldld-python", default=_default_peer())
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder")
    worker = parser.add_argument_group("the peer's process (internal)")
    worker.add_argument("--atldld-worker", action="store_true", help=argparse.SUPPRESS)
    for name in ("--api", "--annotation-url", "--cache", "--out", "--peak"):
        worker.add_argument(name, help=argparse.SUPPRESS)
    worker.add_argument("--gene", default=GENE, help=argparse.SUPPRESS)
    worker.add_argument("--resolution-um", type=int, default=RESOLUTION_UM, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.atldld_worker:
        atldld_worker(args)
        return 0
    if args.repeats < 1:
        parser.error("--repeats must be at least 1")
    version = _peer_version(args.atldld_python)
    work = Path(tempfile.mkdtemp(prefix="bench_allen_expression_"))
    (work / "tables").mkdir()
    servers = start_servers(args, work)
    try:
        tools = Tools(args, servers, work)
        remote = f"first run, server latency {args.latency_ms:g} ms"
        results = [
            scenario(tools, "first run, local server", args.repeats, warm=False),
            scenario(tools, remote, args.repeats, warm=False, latency_ms=args.latency_ms),
            scenario(tools, "repeat run (all cached)", args.repeats, warm=True),
        ]
    finally:
        servers.stop()
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    report(results, args, version)
    return 0 if all(_passes(r) for r in results) else 1


def _passes(result: dict[str, Any]) -> bool:
    fast = result["peer_s"] / result["ours_s"] >= TARGET_SPEEDUP
    return fast and result["ours_mb"] <= result["peer_mb"] and result["agree"]


def report(results: list[dict[str, Any]], args: argparse.Namespace, version: str) -> None:
    print(
        f"# gene -> expression per region: neuratlas vs atldld {version} + NumPy\n\n"
        f"One coronal dataset of {args.sections} sections, expression view at downsample "
        f"{args.downsample_img}, {RESOLUTION_UM} µm CCF grid, 25 µm annotation; "
        f"median of {args.repeats} alternating "
        "runs, each a fresh process; peak resident memory is the largest of the runs.\n"
    )
    print(
        "| scenario | atldld + NumPy | neuratlas | speed-up | CPU time atldld / neuratlas "
        "| peak memory atldld / neuratlas | same numbers | target | result |"
    )
    print("|---|---:|---:|---:|---:|---:|:---:|---|:---:|")
    for r in results:
        speedup = r["peer_s"] / r["ours_s"]
        print(
            f"| {r['name']} | {r['peer_s']:.2f} s | {r['ours_s']:.2f} s | {speedup:.1f}x "
            f"| {r['peer_cpu']:.2f} / {r['ours_cpu']:.2f} s "
            f"| {r['peer_mb']:.0f} / {r['ours_mb']:.0f} MB | {'yes' if r['agree'] else 'NO'} "
            f"| >= {TARGET_SPEEDUP:g}x faster, less memory | "
            f"{'PASS' if _passes(r) else 'FAIL'} |"
        )
    print()
    for r in results:
        print(f"- {r['name']}: {r['detail']}")


if __name__ == "__main__":
    sys.exit(main())
