"""Features against siibra: get_features cold and warm, the same lists, loading specs (issue 11).

Both tools read *the same* configuration folder: neuratlas's embedded catalogue
exported the way ``bench_core.py`` exports it (its code is imported, not copied),
plus a generated ``features/`` folder of about 500 siibra feature specs on real
regions of the embedded parcellations:

- connectivity (``siibra/feature/connectivitymatrix/v0.3``): streamline counts,
  streamline lengths and functional connectivity of two cohorts on four
  parcellations, 10 subjects each, every region of the parcellation in its rows;
- receptor fingerprints (``siibra/feature/fingerprint/receptor/v0.1``), one per
  area (the region without hemisphere, as siibra's receptor specs name them);
- receptor density profiles (``siibra/feature/profile/receptor/v0.1``), seven
  receptors per area of the Juelich atlas.

Their data files are local files named by absolute path (siibra opens local
files only so); the benchmark lists features and does not read their data.

Measurements, each in fresh processes with empty, private caches (alternating the
tools, ``--repeats`` times, median):

1. 20 region x modality queries: ``get_features(region, modality)`` (neuratlas)
   and ``siibra.features.get(region, <class name>)``, first pass in a fresh
   process ("cold": it includes reading the specs and anchoring them) and the
   same 20 again ("warm"); the process's import, configuration and region
   lookups are timed apart;
2. the lists: siibra's compound features are expanded into their elements and
   compared with neuratlas's features by name and spec ``@id``;
3. loading the features folder: neuratlas's ``load_folder`` (every spec into
   features), and siibra building all its preconfigured feature instances.

Run: ``.venv/bin/python benchmarks/bench_features.py``.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_core import BUILTIN, _ms, _run, _siibra_version, _verdict, export_specs

TOOLS = ("neuratlas", "siibra")
HUMAN = {"openminds/Species": "97c070c6-8e1f-4ee8-9d28-18c7945921dd"}
#: Parcellations carrying connectivity: (file in the export, name both tools resolve).
CONNECTIVITY_PARCELLATIONS = {
    "juelich-histological.json": "juelich",
    "harvard-oxford-cortical.json": "ho cortical",
    "desikan-killiany.json": "dk",
    "aal3.json": "aal3",
}
#: Parcellations whose areas carry receptor data (siibra resolves the region string in
#: every parcellation of the species, so these are findable from the others too).
RECEPTOR_PARCELLATIONS = ("juelich-histological.json", "harvard-oxford-cortical.json")
#: The parcellation whose areas carry receptor density profiles.
PROFILE_PARCELLATION = "juelich-histological.json"
CONNECTIVITY = {
    "StreamlineCounts": "streamlinecounts",
    "StreamlineLengths": "streamlinelengths",
    "FunctionalConnectivity": "functional",
}
COHORTS = ("HCP", "1000BRAINS")
SUBJECTS = 10
RECEPTORS = ("AMPA", "NMDA", "kainate", "GABAA", "GABAB", "M1", "5-HT1A")
#: neuratlas modality name -> siibra class name, for the queries.
MODALITIES = {
    "receptor density fingerprint": "ReceptorDensityFingerprint",
    "receptor density profile": "ReceptorDensityProfile",
    "streamline counts": "StreamlineCounts",
    "streamline lengths": "StreamlineLengths",
    "functional connectivity": "FunctionalConnectivity",
}
QUERIES: list[tuple[str, str, str]] = [  # parcellation, region, modality
    ("juelich", "hIP1 left", "receptor density fingerprint"),
    ("juelich", "hIP1 left", "streamline counts"),
    ("juelich", "BA44 left", "receptor density profile"),
    ("juelich", "BA44 left", "functional connectivity"),
    ("juelich", "V1 BA17 right", "receptor density fingerprint"),
    ("juelich", "V1 BA17 right", "streamline lengths"),
    ("juelich", "OP1 right", "receptor density profile"),
    ("juelich", "Hippocampus cornu ammonis left", "receptor density fingerprint"),
    ("ho cortical", "Insular Cortex left", "receptor density fingerprint"),
    ("ho cortical", "Insular Cortex left", "streamline counts"),
    ("ho cortical", "Frontal Pole - right hemisphere", "receptor density profile"),
    ("ho cortical", "Precuneous Cortex left", "functional connectivity"),
    ("ho cortical", "Lingual Gyrus right", "streamline lengths"),
    ("dk", "Precentral left", "streamline counts"),
    ("dk", "Superior temporal right", "functional connectivity"),
    ("dk", "Pars opercularis left", "receptor density fingerprint"),
    ("aal3", "Precentral left", "streamline lengths"),
    ("aal3", "Hippocampus - right hemisphere", "streamline counts"),
    ("aal3", "Insula right", "functional connectivity"),
    ("aal3", "Calcarine right", "receptor density profile"),
]


# --------------------------------------------------------------------------- the features folder


def _leaves(regions: list[dict]) -> list[dict]:
    out = []
    for region in regions:
        children = region.get("children", [])
        out.extend(_leaves(children) if children else [region])
    return out


def _areas(regions: list[dict]) -> list[str]:
    """The regions whose children are hemispheres: the areas receptor specs name."""
    out = []
    for region in regions:
        children = region.get("children", [])
        if children and all("hemisphere" in c["name"] for c in children):
            out.append(region["name"])
        else:
            out.extend(_areas(children))
    return out


def write_features(config: Path) -> dict[str, int]:
    """Write the generated ``features/`` folder into the exported ``config``; return counts."""
    features = config / "features"
    data = config / "feature-data"
    data.mkdir(parents=True, exist_ok=True)
    fingerprint = data / "fingerprint.tsv"
    fingerprint.write_text(
        "receptor\tdensity (mean)\tdensity (sd)\tunit\n"
        + "".join(f"{r}\t{100 + i}\t{10 + i}\tfmol/mg\n" for i, r in enumerate(RECEPTORS)),
        encoding="utf-8",
    )
    profile = data / "profile.tsv"
    profile.write_text(
        "depth\tsample\tdensity\tunit\n"
        + "".join(f"{d}\ts\t{500 + d}\tfmol/mg\n" for d in range(0, 101, 10)),
        encoding="utf-8",
    )
    counts: Counter[str] = Counter()

    def write(rel: str, spec: dict) -> None:
        path = features / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(spec, indent=1), encoding="utf-8")
        counts[rel.rsplit("/", 1)[0]] += 1

    for file, _ in CONNECTIVITY_PARCELLATIONS.items():
        parc = json.loads((config / "parcellations" / file).read_text(encoding="utf-8"))
        regions = [r["name"] for r in _leaves(parc["regions"])]
        matrix = data / f"{file}.csv"
        matrix.write_text(
            "\n".join(",".join("1" for _ in regions) for _ in regions) + "\n", encoding="utf-8"
        )
        for modality, folder in CONNECTIVITY.items():
            for cohort in COHORTS:
                spec = {
                    "@type": "siibra/feature/connectivitymatrix/v0.3",
                    "@id": f"bench/{folder}/{cohort.lower()}/{file[:-5]}",
                    "modality": modality,
                    "cohort": cohort,
                    "parcellation": {"@id": parc["@id"]},
                    "ebrains": HUMAN,
                    "regions": regions,
                    "decoder": {"@type": "siibra/decoder/csv", "header": None, "index_col": False},
                    "base_url": str(data) + "/",
                    "files": {f"{i:03d}": matrix.name for i in range(SUBJECTS)},
                }
                if modality == "FunctionalConnectivity":
                    spec["paradigm"] = "Resting state"
                write(f"connectivity/regional/{folder}/{cohort}_{file}", spec)
    for file in RECEPTOR_PARCELLATIONS:
        parc = json.loads((config / "parcellations" / file).read_text(encoding="utf-8"))
        for i, area in enumerate(_areas(parc["regions"])):
            stem = f"{file[:-5]}_{i:03d}"
            write(
                f"tabular/fingerprints/receptor/{stem}.json",
                {
                    "@type": "siibra/feature/fingerprint/receptor/v0.1",
                    "@id": f"bench/fingerprint/{stem}",
                    "region": area,
                    "ebrains": HUMAN,
                    "file": str(fingerprint),
                },
            )
            # siibra compounds a query's profiles by receptor and fails on two of one
            # receptor (two areas matching one query): profiles only for one parcellation
            for receptor in RECEPTORS if file == PROFILE_PARCELLATION else ():
                write(
                    f"tabular/corticalprofiles/receptor/{stem}_{receptor}.json",
                    {
                        "@type": "siibra/feature/profile/receptor/v0.1",
                        "@id": f"bench/profile/{stem}/{receptor}",
                        "region": area,
                        "ebrains": HUMAN,
                        "receptor": receptor,
                        "file": str(profile),
                    },
                )
    counts["total"] = sum(counts.values())
    return dict(counts)


# --------------------------------------------------------------------------- workers


def _names(tool: str, found: list) -> list[list[str]]:
    """(name, spec @id) of every feature; siibra's compounds expanded into their elements."""
    out = []
    for feature in found:
        if tool == "siibra":
            for element in getattr(feature, "elements", None) or [feature]:
                # connectivity elements share their spec's @id; FC appends a paradigm hash
                out.append([element.name, str(element._id or element.id)])
        else:
            out.append([feature.name, feature.id.split("--")[0]])
    return sorted(out)


def worker_queries(tool: str, folder: str, passes: int) -> dict:
    """Import, configure, look the regions up, then run the 20 queries ``passes`` times."""
    t0 = time.perf_counter()
    if tool == "neuratlas":
        import neuratlas as module
        from neuratlas.features import get_features

        def query(region, modality):
            return get_features(region, modality)
    else:
        import siibra as module

        def query(region, modality):
            return module.features.get(region, MODALITIES[modality])

    t1 = time.perf_counter()
    module.use_configuration(folder)
    regions = {(p, r): module.get_region(p, r) for p, r, _ in QUERIES}
    t2 = time.perf_counter()
    lists, times = {}, []
    for i in range(passes):
        start = time.perf_counter()
        for parc, region, modality in QUERIES:
            found = query(regions[parc, region], modality)
            if i == 0:
                lists[f"{parc} | {region} | {modality}"] = _names(tool, found)
        times.append(time.perf_counter() - start)
    return {"import": t1 - t0, "setup": t2 - t1, "passes": times, "lists": lists}


def worker_load(tool: str, folder: str) -> dict:
    """Time turning every spec of the features folder into features."""
    if tool == "neuratlas":
        from neuratlas.features.siibra import load_folder

        start = time.perf_counter()
        n = len(load_folder(Path(folder) / "features", strict=True))
        return {"load": time.perf_counter() - start, "n": n}
    import siibra
    from siibra.features.feature import Feature

    siibra.use_configuration(folder)
    start = time.perf_counter()
    n = sum(len(cls._get_instances()) for cls in Feature._SUBCLASSES[Feature])
    return {"load": time.perf_counter() - start, "n": n}


def _worker(task: str, tool: str, folder: Path, work: Path, extra: list[str]) -> dict:
    args = [__file__, "--worker", task, "--tool", tool, "--config", str(folder), *extra]
    return _run(args, work)[0]


# --------------------------------------------------------------------------- report


def compare(ours: dict, peer: dict) -> list[str]:
    """The queries whose lists differ, with what differs."""
    out = []
    for key in ours:
        a, b = Counter(map(tuple, ours[key])), Counter(map(tuple, peer[key]))
        if a != b:
            only_ours = sorted((a - b).elements())[:3]
            only_peer = sorted((b - a).elements())[:3]
            out.append(
                f"{key}: neuratlas {sum(a.values())}, siibra {sum(b.values())} "
                f"(only neuratlas: {only_ours}; only siibra: {only_peer})"
            )
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--passes", type=int, default=3, help="warm passes per process")
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--tool", help=argparse.SUPPRESS)
    parser.add_argument("--config", help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.worker:
        if args.worker == "queries":
            result = worker_queries(args.tool, args.config, 1 + args.passes)
        else:
            result = worker_load(args.tool, args.config)
        print(json.dumps(result))
        return 0

    import importlib.util

    if importlib.util.find_spec("siibra") is None:
        print("error: siibra is not installed (pip install -e '.[bench]')", file=sys.stderr)
        return 1
    work = Path(tempfile.mkdtemp(prefix="bench_features_"))
    try:
        return _bench(args, work)
    finally:
        if args.keep:
            print(f"\n(kept {work})")
        else:
            shutil.rmtree(work, ignore_errors=True)


def _bench(args: argparse.Namespace, work: Path) -> int:
    folder = work / "config"
    exported = export_specs(BUILTIN, folder)
    counts = write_features(folder)
    print(f"exported {BUILTIN} -> {folder}: {exported}; features: {counts}", file=sys.stderr)

    runs: dict[str, list[dict]] = {t: [] for t in TOOLS}
    loads: dict[str, list[dict]] = {t: [] for t in TOOLS}
    for rep in range(args.repeats):
        order = TOOLS if rep % 2 == 0 else TOOLS[::-1]
        for tool in order:
            runs[tool].append(
                _worker("queries", tool, folder, work, ["--passes", str(args.passes)])
            )
        for tool in order:
            loads[tool].append(_worker("load", tool, folder, work, []))
        print(f"repeat {rep + 1}/{args.repeats} done", file=sys.stderr)

    def med(rows: list[dict], key: str) -> float:
        return statistics.median(r[key] for r in rows)

    def cold(rows: list[dict]) -> float:
        return statistics.median(r["passes"][0] for r in rows)

    def warm(rows: list[dict]) -> float:
        return statistics.median(statistics.median(r["passes"][1:]) for r in rows)

    na_cold, si_cold = cold(runs["neuratlas"]), cold(runs["siibra"])
    na_warm, si_warm = warm(runs["neuratlas"]), warm(runs["siibra"])
    na_load = med(loads["neuratlas"], "load")
    si_load = med(loads["siibra"], "load")
    differences = compare(runs["neuratlas"][0]["lists"], runs["siibra"][0]["lists"])
    n = len(QUERIES)
    found = sum(len(v) for v in runs["neuratlas"][0]["lists"].values())
    found_peer = sum(len(v) for v in runs["siibra"][0]["lists"].values())

    print(f"\n## Features: neuratlas vs siibra {_siibra_version()} ({time.strftime('%Y-%m-%d')})")
    print(
        f"\n{args.repeats} repeats, alternating, medians; every measured process is fresh with "
        f"empty caches. Specs: the embedded catalogue exported for both ({exported}) plus "
        f"{counts['total']} generated feature specs ({counts})."
    )
    print("\n| measurement | neuratlas | siibra | speed-up | target | result |")
    print("|---|---|---|---|---|---|")
    print(
        f"| {n} get_features(region, modality), cold (first pass in a fresh process) "
        f"| {_ms(na_cold)} | {_ms(si_cold)} | {si_cold / na_cold:.1f}x "
        f"| >= 10x | {_verdict(si_cold >= 10 * na_cold)} |"
    )
    print(
        f"| the same {n} queries, warm (median of {args.passes} further passes) "
        f"| {_ms(na_warm)} | {_ms(si_warm)} | {si_warm / na_warm:.1f}x "
        f"| >= 10x | {_verdict(si_warm >= 10 * na_warm)} |"
    )
    print(
        f"| process before the queries: import | {_ms(med(runs['neuratlas'], 'import'))} "
        f"| {_ms(med(runs['siibra'], 'import'))} | | | |"
    )
    print(
        f"| process before the queries: use_configuration + {len({(p, r) for p, r, _ in QUERIES})}"
        f" get_region | {_ms(med(runs['neuratlas'], 'setup'))} "
        f"| {_ms(med(runs['siibra'], 'setup'))} | | | |"
    )
    print(
        f"| load the features folder ({counts['total']} specs -> "
        f"{loads['neuratlas'][0]['n']} features; siibra {loads['siibra'][0]['n']}) "
        f"| {_ms(na_load)} | {_ms(si_load)} | {si_load / na_load:.1f}x "
        f"| < 500 ms | {_verdict(na_load < 0.5)} |"
    )
    print(
        f"| same feature lists (name and spec @id, {n} queries; {found} features vs "
        f"{found_peer}) | | | | all equal | {_verdict(not differences)} |"
    )
    if differences:
        print("\nDifferences:\n" + "\n".join(f"- {d}" for d in differences))
    ok = si_cold >= 10 * na_cold and si_warm >= 10 * na_warm and na_load < 0.5 and not differences
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
