"""Atlas core against siibra: cold start, region lookups, a regional mask (issue 2).

Both tools load *the same* specification folder in the siibra-configurations
layout. The script exports neuratlas's embedded catalogue into a temporary folder,
rewriting only what siibra cannot read:

- ``pkg://<package>/<path>`` and relative provider URLs become absolute file paths
  (siibra opens local files only by absolute path);
- colours become ``"#rrggbb"`` strings, and every concept gets a ``species``;
- map ``@id`` values get the prefix ``siibra-map-v0.0.1-``: siibra keys its map
  registry by ``@id[len("siibra-map-v0.0.1"):]``, so ids without that prefix
  collide (``toy/map/labelled`` and ``toy/map/remote`` both become ``""`` and one
  silently replaces the other, hence ``MapNotFound``);
- maps that neuratlas derives from others (``neuratlas:derived``, no image of
  their own) are left out: siibra has nothing to fetch for them.

Measurements, each in fresh processes with empty, private caches (alternating the
tools, ``--repeats`` times, median):

1. cold start: ``python -c`` doing import + ``use_configuration`` + the first
   ``get_region``, timed inside the process from before the import (wall time of
   the whole process reported too); neuratlas also on its embedded catalogue;
2. 10,000 ``get_region`` lookups cycling over a fixed list of realistic queries on
   several parcellations, right after the catalogue is loaded;
3. one region's mask from a labelled map: the first fetch (from a loaded catalogue)
   and cached fetches; both masks are compared voxel for voxel.

Run: ``.venv/bin/python benchmarks/bench_core.py`` (``--source DIR`` to benchmark
another configuration folder, e.g. the toy atlas of the tests).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BUILTIN = ROOT / "src" / "neuratlas" / "configuration" / "builtin"
SIIBRA_MAP_PREFIX = "siibra-map-v0.0.1-"
TOOLS = ("neuratlas", "siibra")


@dataclass(frozen=True)
class Scenario:
    """What to ask both tools: the cold-start query, the lookup list, the mask."""

    cold: tuple[str, str]  # parcellation, region
    lookups: list[tuple[str, str]]  # (parcellation, region query)
    mask: tuple[str, str, str]  # parcellation, space, region (labelled map)


BUILTIN_SCENARIO = Scenario(
    cold=("juelich", "hIP1 left"),
    lookups=[
        ("juelich", "hIP1 left"),
        ("juelich", "hIP2 right"),
        ("juelich", "BA44 left"),
        ("juelich", "Broca's area BA45 - right hemisphere"),
        ("juelich", "Hippocampus cornu ammonis left"),
        ("juelich", "V1 BA17 right"),
        ("juelich", "Amygdala laterobasal group left"),
        ("juelich", "BA4a left"),
        ("juelich", "OP1 right"),
        ("juelich", "Corticospinal tract left"),
        ("aal3", "Precentral left"),
        ("aal3", "Hippocampus - right hemisphere"),
        ("aal3", "Amygdala left"),
        ("aal3", "Insula right"),
        ("aal3", "Frontal Sup 2 left"),
        ("aal3", "Calcarine right"),
        ("ho cortical", "Insular Cortex left"),
        ("ho cortical", "Frontal Pole - right hemisphere"),
        ("ho cortical", "Precuneous Cortex left"),
        ("ho cortical", "Lingual Gyrus right"),
        ("ho subcortical", "Hippocampus left"),
        ("ho subcortical", "Amygdala right"),
        ("ho subcortical", "Brain Stem"),
        ("ho subcortical", "Putamen"),
        ("dk", "Precentral left"),
        ("dk", "Superior temporal right"),
        ("dk", "Pars opercularis left"),
        ("dk", "Rostral anterior cingulate - right hemisphere"),
        ("destrieux", "Cerebral White Matter left"),
        ("hcpex", "Primary Visual Cortex left"),
    ],
    # siibra matches spaces by name or id only (not shortName): use the full name
    mask=(
        "aal3",
        "MNI 152 Nonlinear 6th Generation Asymmetric (FSL)",
        "Hippocampus - left hemisphere",
    ),
)

TOY_SCENARIO = Scenario(
    cold=("toy v2", "Area A left"),
    lookups=[
        ("toy v2", "Area A left"),
        ("toy v2", "Area A - right hemisphere"),
        ("toy v2", "Area B left"),
        ("toy v2", "Nucleus C"),
        ("toy v2", "subcortex"),
        ("toy v1", "Area B right"),
        ("toy v1", "cortex"),
    ],
    mask=("toy v2", "toy", "Area A - left hemisphere"),
)


# --------------------------------------------------------------------------- export


def _hex(rgb: object) -> object:
    if isinstance(rgb, list | tuple) and len(rgb) == 3:
        return "#" + "".join(f"{int(c):02x}" for c in rgb)
    return rgb


def _colours(regions: list[dict]) -> None:
    for region in regions:
        if "rgb" in region:
            region["rgb"] = _hex(region["rgb"])
        _colours(region.get("children", []))


def _absolute(url: object, base: Path) -> object:
    """A provider URL siibra can open: absolute local paths for pkg:// and relative ones."""
    from neuratlas.retrieval.packages import resolve

    if isinstance(url, dict):
        return {k: _absolute(v, base) for k, v in url.items()}
    if not isinstance(url, str) or url.startswith(("http://", "https://")):
        return url
    location, sep, member = url.partition(" ")  # "zip/nii": "<archive> <member>"
    return str(resolve(location, base=base)) + sep + member


def _map_id(identifier: str) -> str:
    return (
        identifier if identifier.startswith(SIIBRA_MAP_PREFIX) else SIIBRA_MAP_PREFIX + identifier
    )


def export_specs(source: Path, dest: Path) -> dict[str, int]:
    """Write ``source``'s specs to ``dest`` in a form both tools read; return counts."""
    counts: dict[str, int] = {}
    for kind in ("atlases", "spaces", "parcellations", "maps"):
        (dest / kind).mkdir(parents=True, exist_ok=True)
        for file in sorted((source / kind).glob("*.json")):
            spec = json.loads(file.read_text(encoding="utf-8"))
            if kind == "maps" and spec.get("neuratlas:derived"):
                counts["derived maps left out"] = counts.get("derived maps left out", 0) + 1
                continue
            spec.setdefault("species", "Homo sapiens")
            for volume in spec.get("volumes", []):
                volume["providers"] = {
                    fmt: _absolute(url, file.parent) for fmt, url in volume["providers"].items()
                }
            _colours(spec.get("regions", []))
            if kind == "maps":
                spec["@id"] = _map_id(spec["@id"])
            (dest / kind / file.name).write_text(json.dumps(spec, indent=1), encoding="utf-8")
            counts[kind] = counts.get(kind, 0) + 1
    return counts


# --------------------------------------------------------------------------- processes


def _env(work: Path) -> dict[str, str]:
    """Environment of a measured process: fresh private caches, siibra quiet and offline."""
    caches = Path(tempfile.mkdtemp(prefix="cache_", dir=work))
    env = dict(os.environ)
    env.pop("NEURATLAS_CONFIGURATION", None)
    env.pop("SIIBRA_USE_CONFIGURATION", None)
    env.update(
        NEURATLAS_CACHE=str(caches / "neuratlas"),
        SIIBRA_CACHEDIR=str(caches / "siibra"),
        SIIBRA_LOG_LEVEL="ERROR",
    )
    return env


def _run(code_or_args: str | list[str], work: Path) -> tuple[dict, float]:
    """Run a Python process; return the JSON it prints last and its wall time."""
    args = code_or_args if isinstance(code_or_args, list) else ["-c", code_or_args]
    start = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, *args], capture_output=True, text=True, env=_env(work), timeout=600
    )
    wall = time.perf_counter() - start
    if proc.returncode != 0:
        raise RuntimeError(f"measured process failed:\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1]), wall


COLD_CODE = """
import time
t0 = time.perf_counter()
import {tool}
t1 = time.perf_counter()
{configure}
region = {tool}.get_region({parc!r}, {region!r})
t2 = time.perf_counter()
import json
print(json.dumps({{"import": t1 - t0, "total": t2 - t0, "region": region.name}}))
"""


def cold_start(tool: str, folder: Path | None, scenario: Scenario, work: Path) -> dict:
    configure = f"{tool}.use_configuration({str(folder)!r})" if folder else ""
    code = COLD_CODE.format(
        tool=tool, configure=configure, parc=scenario.cold[0], region=scenario.cold[1]
    )
    out, wall = _run(code, work)
    return {**out, "wall": wall}


def _worker(task: str, tool: str, folder: Path, scenario: str, extra: list[str], work: Path):
    args = [__file__, "--worker", task, "--tool", tool, "--config", str(folder)]
    return _run([*args, "--scenario", scenario, *extra], work)[0]


# --------------------------------------------------------------------------- workers


def _load(tool: str, folder: str):
    import importlib

    module = importlib.import_module(tool)
    module.use_configuration(folder)
    return module


def worker_lookups(tool: str, folder: str, scenario: Scenario, n: int) -> dict:
    """Time ``n`` lookups cycling over the scenario's queries, right after loading."""
    module = _load(tool, folder)
    for parc in dict.fromkeys(p for p, _ in scenario.lookups):
        module.parcellations.get(parc)  # build the catalogue, untimed
    queries = scenario.lookups
    answers = {}
    start = time.perf_counter()
    for parc, query in queries:
        answers[f"{parc} | {query}"] = module.get_region(parc, query).name
    first = time.perf_counter() - start
    for i in range(len(queries), n):
        parc, query = queries[i % len(queries)]
        module.get_region(parc, query)
    total = time.perf_counter() - start
    return {"first": first, "n_first": len(queries), "total": total, "n": n, "answers": answers}


def worker_check(tool: str, folder: str, scenario: Scenario) -> dict:
    """Each lookup's answer or error, and any network access attempted on the way."""
    attempts: list[str] = []

    def hook(event: str, args: tuple) -> None:
        if event in ("socket.connect", "socket.getaddrinfo", "urllib.Request"):
            attempts.append(f"{event} {args[1] if event == 'socket.connect' else args[0]}")

    sys.addaudithook(hook)
    module = _load(tool, folder)
    answers = {}
    for parc, query in [*scenario.lookups, scenario.cold]:
        try:
            answers[f"{parc} | {query}"] = module.get_region(parc, query).name
        except Exception as exc:  # report whatever the tool raises
            answers[f"{parc} | {query}"] = f"ERROR {type(exc).__name__}: {exc}"[:200]
    parc, space, region = scenario.mask
    try:
        module.get_map(parc, space, "labelled").fetch(region=region)
        mask = "ok"
    except Exception as exc:  # the benchmark reports it and stops
        mask = f"{type(exc).__name__}: {exc}"
    return {"answers": answers, "mask": mask, "network": sorted(set(attempts))}


def worker_mask(tool: str, folder: str, scenario: Scenario, repeats: int, out: str) -> dict:
    """First and cached fetch of one region's mask; the mask is saved for comparison."""
    import numpy as np

    module = _load(tool, folder)
    parc, space, region = scenario.mask
    module.parcellations.get(parc)  # the catalogue is loaded, untimed
    if tool == "neuratlas":
        # loaded as siibra's is once imported: with NumPy and nibabel (in an interactive
        # session neuratlas imports them in a background thread once its catalogue is
        # read; a script asks for it, as here, and waits for it to finish)
        from neuratlas import catalogue

        catalogue.start_warm_up(force=True).join()
    start = time.perf_counter()
    img = module.get_map(parc, space, "labelled").fetch(region=region)
    data = np.asanyarray(img.dataobj)
    first = time.perf_counter() - start
    cached = []
    for _ in range(repeats):
        start = time.perf_counter()
        img = module.get_map(parc, space, "labelled").fetch(region=region)
        np.asanyarray(img.dataobj)
        cached.append(time.perf_counter() - start)
    result = {"first": first, "cached": statistics.median(cached)}
    if tool == "neuratlas":
        times = []
        reg = module.get_region(parc, region)
        for _ in range(repeats):
            start = time.perf_counter()
            np.asanyarray(reg.get_regional_mask(space).dataobj)
            times.append(time.perf_counter() - start)
        result["regional_mask"] = statistics.median(times)
    np.savez(out, mask=data > 0, affine=np.asarray(img.affine, dtype=float))
    return result


# --------------------------------------------------------------------------- report


def _ms(seconds: float) -> str:
    ms = seconds * 1000
    return f"{ms:.1f} ms" if ms >= 10 else f"{ms:.2f} ms"


def _display_name(name: str) -> str:
    """A region name as siibra displays it: siibra drops "hemisphere" and " -" from names."""
    return " ".join(name.replace("hemisphere", "").replace(" -", "").split())


def _ratio(ours: float, peer: float) -> str:
    return f"{ours / peer:.3f}" if peer else "n/a"


def _verdict(ok: bool) -> str:
    return "PASS" if ok else "FAIL"


def compare_masks(a: Path, b: Path) -> str:
    import numpy as np

    ma, mb = np.load(a), np.load(b)
    if ma["mask"].shape != mb["mask"].shape:
        return f"different grids: {ma['mask'].shape} vs {mb['mask'].shape}"
    if not np.allclose(ma["affine"], mb["affine"]):
        return "different affines"
    same = int((ma["mask"] == mb["mask"]).sum())
    size = ma["mask"].size
    return (
        f"{same}/{size} voxels agree ({'identical' if same == size else 'DIFFERENT'}); "
        f"mask sizes {int(ma['mask'].sum())} (neuratlas) and {int(mb['mask'].sum())} (siibra)"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--source", type=Path, default=BUILTIN, help="configuration folder")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--lookups", type=int, default=10_000)
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--tool", help=argparse.SUPPRESS)
    parser.add_argument("--config", help=argparse.SUPPRESS)
    parser.add_argument("--scenario", help=argparse.SUPPRESS)
    parser.add_argument("--out", help=argparse.SUPPRESS)
    parser.add_argument("--queries", help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.worker:
        scenario = TOY_SCENARIO if args.scenario == "toy" else BUILTIN_SCENARIO
        if args.worker == "lookups":
            queries = [tuple(q) for q in json.loads(args.queries)]
            scenario = Scenario(scenario.cold, queries, scenario.mask)
            result = worker_lookups(args.tool, args.config, scenario, args.lookups)
        elif args.worker == "check":
            result = worker_check(args.tool, args.config, scenario)
        else:
            result = worker_mask(args.tool, args.config, scenario, args.repeats, args.out)
        print(json.dumps(result))
        return 0

    source = args.source.resolve()
    if not any(source.glob("parcellations/*.json")):
        print(f"error: no specs in {source} (is the embedded catalogue built?)", file=sys.stderr)
        return 1
    name = "builtin" if source == BUILTIN.resolve() else "toy"
    scenario = BUILTIN_SCENARIO if name == "builtin" else TOY_SCENARIO
    work = Path(tempfile.mkdtemp(prefix="bench_core_"))
    try:
        return _bench(args, source, name, scenario, work)
    finally:
        if args.keep:
            print(f"\n(kept {work})")
        else:
            shutil.rmtree(work, ignore_errors=True)


def _bench(args, source: Path, name: str, scenario: Scenario, work: Path) -> int:
    import importlib.util

    if importlib.util.find_spec("siibra") is None:
        print("error: siibra is not installed (pip install -e '.[bench]')", file=sys.stderr)
        return 1

    folder = work / "config"
    counts = export_specs(source, folder)
    print(f"exported {source} -> {folder}: {counts}", file=sys.stderr)

    # answers and network check, untimed
    checks = {t: _worker("check", t, folder, name, [], work) for t in TOOLS}
    for tool in TOOLS:
        if checks[tool]["mask"] != "ok":
            print(f"error: {tool} cannot fetch the mask: {checks[tool]['mask']}", file=sys.stderr)
            return 1
    usable = []
    disagreements = []
    for parc, query in scenario.lookups:
        key = f"{parc} | {query}"
        ours, peer = checks["neuratlas"]["answers"][key], checks["siibra"]["answers"][key]
        if ours.startswith("ERROR") or peer.startswith("ERROR"):
            disagreements.append(f"{key}: neuratlas {ours!r}, siibra {peer!r} (not timed)")
            continue
        usable.append((parc, query))
        if _display_name(ours) != _display_name(peer):
            disagreements.append(f"{key}: neuratlas {ours!r}, siibra {peer!r}")
    timed = Scenario(scenario.cold, usable, scenario.mask)
    has_builtin = any(BUILTIN.glob("parcellations/*.json"))

    cold: dict[str, list[dict]] = {"neuratlas": [], "siibra": [], "builtin": []}
    lookups: dict[str, list[dict]] = {"neuratlas": [], "siibra": []}
    masks: dict[str, list[dict]] = {"neuratlas": [], "siibra": []}
    mask_files = {t: work / f"mask_{t}.npz" for t in TOOLS}
    lookup_args = ["--lookups", str(args.lookups), "--queries", json.dumps(usable)]
    for rep in range(args.repeats):
        order = TOOLS if rep % 2 == 0 else TOOLS[::-1]
        runs = [*order, "builtin"] if has_builtin else list(order)
        for run in runs[rep % len(runs) :] + runs[: rep % len(runs)]:  # rotate the three
            if run == "builtin":
                cold[run].append(cold_start("neuratlas", None, BUILTIN_SCENARIO, work))
            else:
                cold[run].append(cold_start(run, folder, timed, work))
        for tool in order:
            lookups[tool].append(_worker("lookups", tool, folder, name, lookup_args, work))
        for tool in order:
            extra = ["--repeats", "5", "--out", str(mask_files[tool])]
            masks[tool].append(_worker("mask", tool, folder, name, extra, work))
        print(f"repeat {rep + 1}/{args.repeats} done", file=sys.stderr)

    def med(rows: list[dict], key: str) -> float:
        return statistics.median(r[key] for r in rows)

    def spread(rows: list[dict], key: str) -> str:
        values = [r[key] for r in rows]
        return f"{_ms(statistics.median(values))} ({_ms(min(values))}-{_ms(max(values))})"

    def rate(rows: list[dict], n_key: str, t_key: str) -> float:
        return statistics.median(r[n_key] / r[t_key] for r in rows)

    na_cold, si_cold = med(cold["neuratlas"], "total"), med(cold["siibra"], "total")
    na_rate = rate(lookups["neuratlas"], "n", "total")
    si_rate = rate(lookups["siibra"], "n", "total")
    na_first = rate(lookups["neuratlas"], "n_first", "first")
    si_first = rate(lookups["siibra"], "n_first", "first")
    na_cached, si_cached = med(masks["neuratlas"], "cached"), med(masks["siibra"], "cached")
    parc, region = timed.cold
    mparc, mspace, mregion = timed.mask
    n_queries = len(usable)
    n_parcs = len({p for p, _ in usable})

    print(
        f"\n## Atlas core: neuratlas vs siibra {_siibra_version()} ({time.strftime('%Y-%m-%d')})"
    )
    print(
        f"\n{args.repeats} repeats, alternating, medians (min-max for cold starts); every "
        "measured process is fresh "
        f"with empty caches. Specs: {source.name} exported for both ({counts})."
    )
    print("\n| measurement | neuratlas | siibra | ratio (n/s) | target | result |")
    print("|---|---|---|---|---|---|")
    print(
        f"| cold start: import + use_configuration + get_region({parc!r}, {region!r}) "
        f"| {spread(cold['neuratlas'], 'total')} | {spread(cold['siibra'], 'total')} "
        f"| {_ratio(na_cold, si_cold)} "
        f"| <= 1/3 of siibra and < 600 ms "
        f"| {_verdict(na_cold <= si_cold / 3 and na_cold < 0.6)} |"
    )
    print(
        f"| cold start: of which import | {_ms(med(cold['neuratlas'], 'import'))} "
        f"| {_ms(med(cold['siibra'], 'import'))} "
        f"| {_ratio(med(cold['neuratlas'], 'import'), med(cold['siibra'], 'import'))} | | |"
    )
    print(
        f"| cold start: wall time of the process | {_ms(med(cold['neuratlas'], 'wall'))} "
        f"| {_ms(med(cold['siibra'], 'wall'))} "
        f"| {_ratio(med(cold['neuratlas'], 'wall'), med(cold['siibra'], 'wall'))} | | |"
    )
    if has_builtin:
        print(
            "| cold start, neuratlas embedded catalogue (no use_configuration) "
            f"| {spread(cold['builtin'], 'total')}, wall {_ms(med(cold['builtin'], 'wall'))} "
            f"| | | < 600 ms | {_verdict(med(cold['builtin'], 'total') < 0.6)} |"
        )
    print(
        f"| {args.lookups:,} get_region lookups ({n_queries} queries, {n_parcs} parcellations) "
        f"| {na_rate:,.0f}/s | {si_rate:,.0f}/s | {na_rate / si_rate:.1f}x faster "
        f"| >= 20,000/s | {_verdict(na_rate >= 20_000)} |"
    )
    print(
        f"| first-time lookups (each query once) | {na_first:,.0f}/s | {si_first:,.0f}/s "
        f"| {na_first / si_first:.1f}x faster | | |"
    )
    print(
        f"| mask of {mregion!r} ({mparc}, {mspace}): first fetch "
        f"| {_ms(med(masks['neuratlas'], 'first'))} | {_ms(med(masks['siibra'], 'first'))} "
        f"| {_ratio(med(masks['neuratlas'], 'first'), med(masks['siibra'], 'first'))} | | |"
    )
    print(
        f"| mask, cached fetch (Map.fetch(region=...)) | {_ms(na_cached)} | {_ms(si_cached)} "
        f"| {_ratio(na_cached, si_cached)} | < 50 ms | {_verdict(na_cached < 0.05)} |"
    )
    print(
        f"| mask, cached Region.get_regional_mask | "
        f"{_ms(med(masks['neuratlas'], 'regional_mask'))} | | | < 50 ms "
        f"| {_verdict(med(masks['neuratlas'], 'regional_mask') < 0.05)} |"
    )
    print(f"\nMask agreement: {compare_masks(mask_files['neuratlas'], mask_files['siibra'])}.")
    print(
        "\nLookup answers: "
        + (
            f"both tools return the same region for all {len(usable)} queries "
            "(siibra displays names without ' - ... hemisphere')."
            if not disagreements
            else "differences:\n" + "\n".join(f"- {d}" for d in disagreements)
        )
    )
    for tool in TOOLS:
        net = checks[tool]["network"]
        print(f"\nNetwork attempts by {tool}: {', '.join(net) if net else 'none'}.")
    return 0


def _siibra_version() -> str:
    from importlib.metadata import version

    return version("siibra")


if __name__ == "__main__":
    sys.exit(main())
