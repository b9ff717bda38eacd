"""HTTP atlas service under load: cold start, requests/s and latency per route (issue 9).

The server is started the way a user starts it (``neuratlas serve --port <free>``,
in a subprocess, with a private, empty ``NEURATLAS_CACHE``) and loaded with ``wrk``
on 127.0.0.1 (a Python client cannot saturate it). Measurements:

0. the server choice: each candidate of ``--servers`` (default: every installed
   one; uvicorn with h11 + asyncio or with httptools + uvloop, granian with asyncio
   or uvloop) started as ``neuratlas serve --server <server>``: cold start, then
   ``/health``, ``/atlases``, ``/regions/{id}`` and the cached AAL3 map at each
   concurrency, the candidates alternating row by row for ``--rounds`` rounds of
   ``--choice-duration`` seconds, and the memory after the load; a "server choice"
   table. Everything below is then measured on the command's default server;
1. cold start: process start to the first 200 from ``/v3_0/atlases``, ``--cold``
   fresh processes, median;
2. ``download_all`` for one region, cold: on a fresh cache, the first request sent
   while the service still warms up; on another fresh cache, the time to ``/ready``
   and then the first request, then another region of the same map (timed with
   httpx; each zip is opened and checked);
3. ``wrk`` for ``--duration`` seconds per route and concurrency (1, 16, 64):
   requests/s, p50 and p99 latency, non-2xx answers, body size, and the server's
   memory after the row (the server is left to finish queued work between rows).
   Routes: ``/health`` (the framework's floor), the catalogue (``/atlases``,
   ``/parcellations``, also gzipped, ``/regions?find=``, ``/regions/{id}`` with the
   service's ``@id`` URL-encoded), two cached labelled maps (AAL3 and HCPex, the
   largest), ``/map/assign`` with 1,000 points, the cached ``download_all`` bundle;
4. the resident memory of every process of the server before and after the load.

Targets (issue 9) are checked: PASS/FAIL in the tables.

The peer, siibra-api 0.3.35, cannot be installed here (no network but PyPI, and it
needs its configuration and Redis): its figures are quoted from the issue, which
measured them on this machine, and marked so in the table.

Run: ``.venv/bin/python benchmarks/bench_service.py`` (``--duration S``,
``--workers N`` passed to ``neuratlas serve``, ``--keep`` to keep the logs,
``--servers granian,uvicorn`` or ``--servers none``, ``--rounds N``,
``--choice-duration S``).
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import importlib.metadata
import importlib.util
import io
import json
import os
import random
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import zipfile
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote, urlencode

from neuratlas.cli.serve import DEFAULT_SERVER

ROOT = Path(__file__).resolve().parents[1]
NEURATLAS = ROOT / ".venv" / "bin" / "neuratlas"
WRK = shutil.which("wrk") or "/usr/bin/wrk"
HOST = "127.0.0.1"
API = "/v3_0"
SPACE = "MNI152 NLin6"
REGION = ("juelich", "hIP1 left")
OTHER_REGION = "hIP2 left"
MAP = ("aal3", SPACE)
BIG_MAP = ("hcpex", "MNI152 2009c nonl asym")
N_POINTS = 1_000

# siibra-api 0.3.35 on this machine, as the issue reports it (not measured here)
PEER = {
    "cold start": "about 30 s",
    "atlases": "about 100/s, p99 1.5-3.5 s at 64",
    "parcellations": "3-6/s (1 MB body)",
    "region": "150-200/s",
    "unknown id": "500 + traceback",
}

CATALOGUE_RPS = 2_000  # requests/s at concurrency 64
CATALOGUE_P99 = 0.050
MAP_RPS = 300
BUNDLE_COLD = 1.0
BUNDLE_CACHED = 0.050
COLD_START = 1.0
MEMORY_MB = 400


@dataclass
class Server:
    """A ``neuratlas serve`` process started by this script."""

    proc: subprocess.Popen
    port: int
    log: Path

    def url(self, path: str) -> str:
        return f"http://{HOST}:{self.port}{path}"


@dataclass(frozen=True)
class Route:
    """One measured request: its label, path (with query), method and body."""

    label: str
    path: str
    kind: str  # "catalogue", "map", "assign", "bundle" or "" (no target)
    method: str = "GET"
    body: bytes | None = None
    headers: tuple[tuple[str, str], ...] = ()
    compared: bool = False  # also measured for each server in the server choice


@dataclass(frozen=True)
class Candidate:
    """One way to run the service for the server choice: ``neuratlas serve --server``.

    ``hide`` names optional speed-ups made unimportable for this candidate, as in an
    install without them: the server falls back to its pure-Python parts.
    """

    name: str
    server: str
    hide: tuple[str, ...] = ()

    def env(self, work: Path) -> dict[str, str]:
        """The environment that hides ``hide``: a folder of stand-ins first on the path."""
        if not self.hide:
            return {}
        folder = work / f"hide_{self.name}"
        folder.mkdir(parents=True, exist_ok=True)
        for module in self.hide:
            (folder / f"{module}.py").write_text(
                f"raise ImportError('{module} is hidden by bench_service.py')\n"
            )
        path = os.pathsep.join(p for p in (str(folder), os.environ.get("PYTHONPATH")) if p)
        return {"PYTHONPATH": path}

    def describe(self) -> str:
        """The server, its version, and the parser and event loop it will use."""

        def there(module: str) -> bool:
            return module not in self.hide and _installed(module)

        if self.server == "uvicorn":
            parser = "httptools" if there("httptools") else "h11"
            loop = "uvloop" if there("uvloop") else "asyncio"
            parts = f"{parser} + {loop}"
        else:  # granian's own HTTP stack in Rust; the loop `neuratlas serve` names
            parts = f"{'uvloop' if there('uvloop') else 'asyncio'} loop"
        return f"{self.server} {_version(self.server)}, {parts}"


# the candidates, in the order of the table; the first is the baseline of the ratios
CANDIDATES = (
    # what `neuratlas serve` ran until the choice: uvicorn, pure-Python parser and loop
    Candidate("uvicorn-h11", "uvicorn", hide=("httptools", "uvloop")),
    Candidate("uvicorn", "uvicorn"),
    Candidate("granian-asyncio", "granian", hide=("uvloop",)),
    Candidate("granian", "granian"),
)


def _installed(module: str) -> bool:
    return importlib.util.find_spec(module) is not None


def _version(module: str) -> str:
    try:
        return importlib.metadata.version(module)
    except importlib.metadata.PackageNotFoundError:
        return "?"


# --------------------------------------------------------------------------- server


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return sock.getsockname()[1]


def start_server(
    cache: Path,
    logs: Path,
    workers: int | None,
    candidate: Candidate | None = None,
) -> tuple[Server, float]:
    """Start ``neuratlas serve``; return it and the time to the first 200 from /atlases.

    Without a ``candidate``, the command's default server; with one, ``--server`` and
    the environment that candidate names.
    """
    port = _free_port()
    env = dict(os.environ, NEURATLAS_CACHE=str(cache))
    env.pop("NEURATLAS_CONFIGURATION", None)  # the embedded catalogue
    args = [str(NEURATLAS), "serve", "--host", HOST, "--port", str(port)]
    if workers:
        args += ["--workers", str(workers)]
    if candidate is not None:
        args += ["--server", candidate.server]
        env.update(candidate.env(logs))
    log = logs / f"serve_{port}.log"
    with log.open("wb") as out:
        start = time.perf_counter()
        # own session: the server and its workers (Dask, uvicorn) can be stopped as a group
        proc = subprocess.Popen(
            args, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
    server = Server(proc, port, log)
    deadline = start + 60
    while time.perf_counter() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"neuratlas serve exited ({proc.returncode}):\n{_tail(log)}")
        try:
            status, _, _ = request(server, "GET", f"{API}/atlases", timeout=5)
        except OSError:  # not listening yet
            time.sleep(0.005)
            continue
        if status == 200:
            return server, time.perf_counter() - start
        time.sleep(0.005)
    stop_server(server)
    raise RuntimeError(f"no 200 from {API}/atlases within 60 s:\n{_tail(log)}")


def wait_ready(server: Server, timeout: float = 120) -> float:
    """Wait for 200 from /ready; return the seconds waited."""
    start = time.perf_counter()
    while time.perf_counter() - start < timeout:
        status, _, _ = request(server, "GET", "/ready", timeout=5)
        if status == 200:
            return time.perf_counter() - start
        time.sleep(0.01)
    raise RuntimeError(f"/ready not 200 within {timeout:.0f} s:\n{_tail(server.log)}")


def stop_server(server: Server) -> None:
    """Stop the server: SIGTERM, then SIGKILL to its process group if it lingers."""
    if server.proc.poll() is None:
        server.proc.send_signal(signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            server.proc.wait(timeout=15)
    # workers the server left behind, in the session this script created
    with contextlib.suppress(ProcessLookupError):
        os.killpg(server.proc.pid, signal.SIGKILL)
    server.proc.wait(timeout=15)


def _tail(log: Path, n: int = 3000) -> str:
    return log.read_text(errors="replace")[-n:]


def request(
    server: Server,
    method: str,
    path: str,
    body: bytes | None = None,
    headers: dict[str, str] | None = None,
    timeout: float = 120,
) -> tuple[int, dict[str, str], bytes]:
    """One HTTP request with the standard library; status, headers, body."""
    conn = http.client.HTTPConnection(HOST, server.port, timeout=timeout)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        resp = conn.getresponse()
        return resp.status, {k.lower(): v for k, v in resp.getheaders()}, resp.read()
    finally:
        conn.close()


def wait_idle(server: Server, timeout: float = 120) -> float:
    """Wait until the server's processes are idle; return the seconds waited.

    wrk stops sending at the end of a row, but requests it queued (slow assignments,
    bundles) may still be worked on: the next row must not pay for them.
    """
    import psutil

    start = time.perf_counter()
    root = psutil.Process(server.proc.pid)
    while time.perf_counter() - start < timeout:
        procs = [root, *root.children(recursive=True)]
        for proc in procs:
            proc.cpu_percent(None)  # starts the interval
        time.sleep(0.25)
        busy = 0.0
        for proc in procs:
            with contextlib.suppress(psutil.NoSuchProcess):
                busy += proc.cpu_percent(None)
        if busy < 10:  # percent of one core
            break
    return time.perf_counter() - start


def memory(server: Server) -> list[tuple[str, float]]:
    """Resident memory (MB) of the server process and of each of its descendants."""
    import psutil

    root = psutil.Process(server.proc.pid)
    rows = []
    for proc in [root, *root.children(recursive=True)]:
        try:
            cmd = " ".join(proc.cmdline())[:80] or proc.name()
            rows.append((f"pid {proc.pid}: {cmd}", proc.memory_info().rss / 2**20))
        except psutil.NoSuchProcess:
            continue
    return rows


# --------------------------------------------------------------------------- wrk

WRK_LUA = """
wrk.method = "{method}"
{body}
{headers}
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'WRKJSON {{"requests": %d, "duration_us": %d, "bytes": %d, "p50": %d, "p99": %d, '
    .. '"max": %d, "connect": %d, "read": %d, "write": %d, "status": %d, "timeout": %d}}\\n',
    summary.requests, summary.duration, summary.bytes,
    latency:percentile(50), latency:percentile(99), latency.max,
    e.connect, e.read, e.write, e.status, e.timeout))
end
"""


def _lua(route: Route, work: Path) -> Path:
    body = ""
    if route.body is not None:
        body_file = work / f"body_{abs(hash(route.path))}.bin"
        body_file.write_bytes(route.body)
        body = f'local f = io.open("{body_file}", "rb")\nwrk.body = f:read("*a")\nf:close()'
    headers = "\n".join(f'wrk.headers["{k}"] = "{v}"' for k, v in route.headers)
    script = work / f"wrk_{abs(hash((route.label, route.path)))}.lua"
    script.write_text(WRK_LUA.format(method=route.method, body=body, headers=headers))
    return script


def run_wrk(server: Server, route: Route, connections: int, duration: int, work: Path) -> dict:
    """``wrk`` on one route; requests/s, latencies (s), errors, bytes per response."""
    threads = min(2, connections)
    args = [WRK, f"-t{threads}", f"-c{connections}", f"-d{duration}s", "--timeout", "10s"]
    args += ["-s", str(_lua(route, work)), server.url(route.path)]
    proc = subprocess.run(args, capture_output=True, text=True, timeout=duration + 60)
    match = re.search(r"^WRKJSON (\{.*\})$", proc.stdout, re.MULTILINE)
    if proc.returncode != 0 or not match:
        raise RuntimeError(f"wrk failed on {route.label}:\n{proc.stdout}\n{proc.stderr}")
    raw = json.loads(match.group(1))
    n = max(raw["requests"], 1)
    return {
        "rps": raw["requests"] / (raw["duration_us"] / 1e6),
        "p50": raw["p50"] / 1e6,
        "p99": raw["p99"] / 1e6,
        "max": raw["max"] / 1e6,
        "requests": raw["requests"],
        "bytes": raw["bytes"] / n,
        "errors": raw["connect"] + raw["read"] + raw["write"] + raw["timeout"],
        "non2xx": raw["status"],
    }


# --------------------------------------------------------------------------- routes


def _q(**params: str) -> str:
    return urlencode(params, quote_via=quote)


def _json(body: bytes) -> object:
    return json.loads(body.decode("utf-8"))


def _items(payload: object) -> list:
    """The rows of a list answer: a plain list, a page's ``items``, or the longest list."""
    if isinstance(payload, list):
        return payload
    if isinstance(payload, dict):
        if isinstance(payload.get("items"), list):
            return payload["items"]
        lists = [v for v in payload.values() if isinstance(v, list)]
        if lists:
            return max(lists, key=len)
        columns = [v for v in payload.values() if isinstance(v, dict)]  # pandas "dict" orient
        if columns:
            return list(max(columns, key=len).values())
    return []


def region_path(server: Server) -> str:
    """``/regions/{id}`` for Juelich hIP1 left with the service's own ``@id``, URL-encoded."""
    parc, query = REGION
    status, _, body = request(
        server, "GET", f"{API}/regions?{_q(parcellation_id=parc, find=query)}"
    )
    candidates = []
    if status == 200:
        for item in _items(_json(body)):
            name = str(item.get("name", ""))
            if "hIP1" in name and "left" in name and item.get("@id"):
                candidates.append(item["@id"])
    candidates.append(query)  # the fuzzy name, if the @id does not route
    for ident in candidates:
        path = f"{API}/regions/{quote(ident, safe='')}?{_q(parcellation_id=parc)}"
        status, _, body = request(server, "GET", path)
        if status == 200 and "hIP1" in _json(body).get("name", ""):
            return path
        print(f"  {path}: {status} {body[:200]!r}", file=sys.stderr)
    raise RuntimeError("no /regions/{id} path answers for Juelich hIP1 left")


def service_routes(server: Server) -> list[Route]:
    """The GET routes measured on the running service (without assign and bundles)."""
    mparc, mspace = MAP
    big_query = _q(parcellation_id=BIG_MAP[0], space_id=BIG_MAP[1])
    return [
        # the framework's own floor: no catalogue work, what any route pays at least
        Route("/health (no catalogue work)", "/health", "", compared=True),
        Route("/atlases", f"{API}/atlases", "catalogue", compared=True),
        Route("/parcellations", f"{API}/parcellations", "catalogue"),
        Route(
            "/regions?find=hIP",
            f"{API}/regions?{_q(parcellation_id='juelich', find='hIP')}",
            "catalogue",
        ),
        Route(
            "/regions/{id} (Juelich hIP1 left)", region_path(server), "catalogue", compared=True
        ),
        Route(
            "/parcellations, Accept-Encoding: gzip",
            f"{API}/parcellations",
            "",
            headers=(("Accept-Encoding", "gzip"),),
        ),
        Route(
            f"labelled map {mparc}, cached",
            f"{API}/map/labelled_map.nii.gz?{_q(parcellation_id=mparc, space_id=mspace)}",
            "map",
            compared=True,
        ),
        # no map of the embedded catalogue is the 1 MB file of the target: the
        # labelled maps compress to 40-360 kB; HCPex's is the largest
        Route(
            f"labelled map {BIG_MAP[0]}, cached",
            f"{API}/map/labelled_map.nii.gz?{big_query}",
            "map",
        ),
    ]


def _points(n: int) -> list[tuple[int, int, int]]:
    """Whole-millimetre points inside the MNI brain's bounding box (fixed seed)."""
    rnd = random.Random(9)
    return [(rnd.randint(-60, 60), rnd.randint(-90, 60), rnd.randint(-30, 70)) for _ in range(n)]


def assign_route(server: Server) -> tuple[Route, str]:
    """``/map/assign`` with 1,000 points, in the first form the service accepts.

    siibra-api takes one ``point=x,y,z``; the issue asks for many points but leaves
    the form open, so the forms tried are: ``point`` repeated, one ``point`` with
    points separated by ``;``, ``|`` or spaces, and a JSON body on POST.
    """
    parc, space = "juelich", SPACE
    base = {"parcellation_id": parc, "space_id": space, "sigma_mm": "0"}
    points = _points(N_POINTS)
    triples = [f"{x},{y},{z}" for x, y, z in points]
    candidates = [
        (
            "GET, point repeated",
            "GET",
            urlencode([*base.items(), *(("point", t) for t in triples)]),
        ),
        *(
            (f"GET, one point, {sep!r}-separated", "GET", _q(**base, point=sep.join(triples)))
            for sep in (";", "|", " ")
        ),
    ]
    one = request(server, "GET", f"{API}/map/assign?{_q(**base, point=triples[0])}")
    single_rows = len(_items(_json(one[2]))) if one[0] == 200 else 0
    tried = [f"one point: {one[0]} {one[2][:150]!r}"]
    for label, method, query in candidates:
        path = f"{API}/map/assign?{query}"
        status, _, body = request(server, method, path)
        rows = len(_items(_json(body))) if status == 200 else 0
        if status == 200 and rows > max(10 * single_rows, 100):
            return Route(f"/map/assign, {N_POINTS:,} points", path, "assign"), label
        tried.append(f"{label}: {status}, {rows} rows, {body[:150]!r}")
    path = f"{API}/map/assign?{_q(**base)}"
    for key in ("points", "point"):
        payload = json.dumps({key: [list(p) for p in points]}).encode()
        headers = {"Content-Type": "application/json"}
        status, _, body = request(server, "POST", path, body=payload, headers=headers)
        rows = len(_items(_json(body))) if status == 200 else 0
        if status == 200 and rows > max(10 * single_rows, 100):
            hdrs = (("Content-Type", "application/json"),)
            route = Route(
                f"/map/assign, {N_POINTS:,} points", path, "assign", "POST", payload, hdrs
            )
            return route, f"POST, JSON body {{{key!r}: [[x, y, z], ...]}}"
        tried.append(f"POST {key}: {status}, {rows} rows, {body[:150]!r}")
    raise RuntimeError("/map/assign accepts no form of 1,000 points:\n" + "\n".join(tried))


def bundle_path(region: str = REGION[1]) -> str:
    parc = REGION[0]
    return f"{API}/atlas_download?{_q(space_id=SPACE, parcellation_id=parc, region_id=region)}"


def cold_bundle(server: Server, region: str = REGION[1]) -> tuple[float, str]:
    """The first ``download_all`` for one region, timed with httpx; the zip is checked."""
    import httpx

    start = time.perf_counter()
    resp = httpx.get(server.url(bundle_path(region)), timeout=120)
    elapsed = time.perf_counter() - start
    if resp.status_code != 200:
        raise RuntimeError(f"atlas_download: {resp.status_code} {resp.text[:300]}")
    with zipfile.ZipFile(io.BytesIO(resp.content)) as bundle:
        bad = bundle.testzip()
        names = bundle.namelist()
    if bad is not None:
        raise RuntimeError(f"atlas_download: corrupt member {bad}")
    errors = [n for n in names if n.endswith(".error.txt")]
    note = f"{len(resp.content) / 2**20:.1f} MB zip: {', '.join(names)}"
    return elapsed, note + (f" (PARTS FAILED: {', '.join(errors)})" if errors else "")


def check(server: Server, route: Route) -> str:
    """Fail early on a route that does not answer 200; describe its answer."""
    status, headers, body = request(
        server, route.method, route.path, body=route.body, headers=dict(route.headers)
    )
    if status != 200:
        raise RuntimeError(f"{route.label}: {status} {body[:300]!r}")
    return f"{headers.get('content-type', '?')}, {len(body):,} bytes"


# --------------------------------------------------------------------------- server choice


@dataclass
class Choice:
    """The server comparison: per candidate, cold starts, wrk rows (one per round), RSS."""

    candidates: list[Candidate]
    routes: list[Route]
    connections: list[int]
    colds: dict[str, list[float]]
    rows: dict[tuple[str, str, int], list[dict]]  # (candidate, route label, c) -> rounds
    rss: dict[str, list[tuple[str, float]]]  # candidate -> memory() after the load


def default_candidates() -> list[Candidate]:
    """The installed candidates, one per distinct server, parser and loop."""
    chosen: list[Candidate] = []
    for candidate in CANDIDATES:
        described = [c.describe() for c in chosen]
        if _installed(candidate.server) and candidate.describe() not in described:
            chosen.append(candidate)
    return chosen


def _rotated(items: list, shift: int) -> list:
    shift %= len(items)
    return [*items[shift:], *items[:shift]]


def compare_servers(
    args: argparse.Namespace, work: Path, candidates: list[Candidate], connections: list[int]
) -> Choice:
    """Cold starts, then every compared route at each concurrency for each candidate.

    The candidates alternate: cold starts in rotating order; for the load, all of them
    run side by side (idle but for the one under wrk; each on a cache of its own, so each
    does the same work) and each row goes through all of them before the next row
    starts, ``--rounds`` times, the order rotating, so that a busy spell of the shared
    machine falls on every candidate alike.
    """
    colds: dict[str, list[float]] = {c.name: [] for c in candidates}
    for i in range(args.cold):
        for candidate in _rotated(candidates, i):
            cache = work / f"cache_cold_{candidate.name}_{i}"
            server, elapsed = start_server(cache, work, args.workers, candidate)
            stop_server(server)
            colds[candidate.name].append(elapsed)
            print(f"{candidate.name}: cold start {_ms(elapsed)}", file=sys.stderr)

    servers: dict[str, Server] = {}
    try:
        for candidate in candidates:  # a cache each: each builds the map, so RSS compares
            cache = work / f"cache_choice_{candidate.name}"
            servers[candidate.name], _ = start_server(cache, work, args.workers, candidate)
        first = servers[candidates[0].name]
        routes = [route for route in service_routes(first) if route.compared]
        for server in servers.values():
            for route in routes:
                check(server, route)  # also warms the server's memo of answers
            wait_idle(server)
        rows: dict[tuple[str, str, int], list[dict]] = {}
        turn = 0
        for rnd in range(args.rounds):
            for route in routes:
                for c in connections:
                    turn += 1
                    for candidate in _rotated(candidates, turn):
                        server = servers[candidate.name]
                        r = run_wrk(server, route, c, args.choice_duration, work)
                        r["drain"] = wait_idle(server)
                        rows.setdefault((candidate.name, route.label, c), []).append(r)
                        print(
                            f"round {rnd + 1}/{args.rounds}, {candidate.name}, {route.label} "
                            f"c={c}: {r['rps']:,.1f}/s p99 {_lat(r, 'p99')}",
                            file=sys.stderr,
                        )
        rss = {name: memory(server) for name, server in servers.items()}
    finally:
        for server in servers.values():
            stop_server(server)
    return Choice(candidates, routes, connections, colds, rows, rss)


# --------------------------------------------------------------------------- report


def _ms(seconds: float) -> str:
    ms = seconds * 1000
    return f"{ms:.1f} ms" if ms >= 10 else f"{ms:.2f} ms"


def _lat(r: dict, key: str) -> str:
    return _ms(r[key]) if r["requests"] else "n/a"


def _size(n: float) -> str:
    return f"{n / 2**20:.2f} MB" if n >= 2**20 else f"{n / 1024:.1f} kB"


def _verdict(ok: bool) -> str:
    return "PASS" if ok else "FAIL"


def _target(route: Route, c: int, r: dict) -> tuple[str, str]:
    """The issue's target for this row, and whether it is met (blank when none).

    A row in which no request completed fails: its latencies are not measured.
    """
    if not r["requests"]:
        targeted = route.kind in ("catalogue", "map", "bundle")
        return "", "FAIL (no answer in the row)" if targeted else "no answer in the row"
    if route.kind == "catalogue" and c == 64:
        ok = r["rps"] >= CATALOGUE_RPS and r["p99"] < CATALOGUE_P99 and not r["non2xx"]
        return f">= {CATALOGUE_RPS:,}/s, p99 < 50 ms", _verdict(ok)
    if route.kind == "map" and c == 64:
        return f">= {MAP_RPS}/s", _verdict(r["rps"] >= MAP_RPS and not r["non2xx"])
    if route.kind == "bundle" and c == 1:
        return "< 50 ms cached (p50)", _verdict(r["p50"] < BUNDLE_CACHED and not r["non2xx"])
    return "", ""


def _peer(route: Route, c: int) -> str:
    key = {
        f"{API}/atlases": "atlases",
        f"{API}/parcellations": "parcellations",
    }.get(route.path.split("?")[0], "region" if route.label.startswith("/regions/") else "")
    return f"{PEER[key]} (quoted)" if key and c == 64 and route.kind == "catalogue" else ""


def _cell(runs: list[dict], route: Route, c: int) -> str:
    """Median requests/s (range over the rounds), p50 and p99, and what went wrong."""
    rps = [r["rps"] for r in runs]
    med = {key: statistics.median(r[key] for r in runs) for key in ("p50", "p99")}
    text = (
        f"{statistics.median(rps):,.0f}/s ({min(rps):,.0f}-{max(rps):,.0f}), "
        f"p50 {_ms(med['p50'])}, p99 {_ms(med['p99'])}"
    )
    bad = sum(r["non2xx"] + r["errors"] for r in runs)
    if bad or not all(r["requests"] for r in runs):
        text += f", {bad} non-2xx/errors" if bad else ", a round without answers"
    median_row = {**runs[0], "rps": statistics.median(rps), **med, "non2xx": bad}
    _, verdict = _target(route, c, median_row)
    return f"{text} **{verdict}**" if verdict else text


def _median_rps(choice: Choice, name: str, route: Route, c: int) -> float:
    return statistics.median(r["rps"] for r in choice.rows[(name, route.label, c)])


def _report_choice(args: argparse.Namespace, choice: Choice, default: str) -> None:
    names = [c.name for c in choice.candidates]
    base = names[0]
    print(f"\n## Server choice: neuratlas serve --server ... ({time.strftime('%Y-%m-%d')})")
    print(
        f"\nEach candidate started as `neuratlas serve --server <server> --port <free>` "
        f"(workers: {args.workers or 'default'}); cold start on an empty private cache, "
        f"median of {args.cold} (alternating candidates); then all candidates side by side "
        f"on one warm cache, each row run on each of them in turn, {args.rounds} rounds in "
        f"rotating order, wrk {args.choice_duration} s per row on the same 2-core machine. "
        "Cells: median requests/s (range over the rounds), median p50 and p99. "
        "A hidden module is made unimportable for that server, as in an install without it."
    )
    print(
        "\n| candidate | what runs | cold start (median; all) | RSS after the load: "
        f"largest process (all processes) | requests/s vs {base} (geometric mean of rows) |"
    )
    print("|---|---|---|---|---:|")
    for candidate in choice.candidates:
        colds = choice.colds[candidate.name]
        mem = [rss for _, rss in choice.rss[candidate.name]]
        ratios = [
            _median_rps(choice, candidate.name, route, c)
            / max(_median_rps(choice, base, route, c), 1e-9)
            for route in choice.routes
            for c in choice.connections
        ]
        cold = statistics.median(colds)
        hidden = f"; hidden: {', '.join(candidate.hide)}" if candidate.hide else ""
        print(
            f"| {candidate.name} | {candidate.describe()}{hidden} "
            f"| {_ms(cold)} {_verdict(cold < COLD_START)} ({', '.join(_ms(t) for t in colds)}) "
            f"| {max(mem):.0f} MB {_verdict(max(mem) < MEMORY_MB)} ({sum(mem):.0f} MB "
            f"in {len(mem)}) | {statistics.geometric_mean(ratios):.2f}x |"
        )
    print(f"\n| route | concurrency | {' | '.join(names)} |")
    print(f"|---|---:|{'---|' * len(names)}")
    for route in choice.routes:
        for c in choice.connections:
            cells = [_cell(choice.rows[(name, route.label, c)], route, c) for name in names]
            print(f"| {route.label} | {c} | {' | '.join(cells)} |")
    print(
        f"\n`neuratlas serve` runs `--server {default}` by default; the run below is of that "
        "default."
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--duration", type=int, default=5, help="seconds of wrk per row")
    parser.add_argument("--connections", default="1,16,64", help="wrk concurrencies")
    parser.add_argument("--cold", type=int, default=3, help="cold starts to time")
    parser.add_argument("--workers", type=int, help="passed to neuratlas serve --workers")
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder")
    parser.add_argument(
        "--servers",
        default=",".join(c.name for c in default_candidates()),
        help="servers to compare first, from "
        f"{', '.join(c.name for c in CANDIDATES)} ('none' to skip; default: the installed "
        "ones, each distinct)",
    )
    parser.add_argument("--rounds", type=int, default=3, help="rounds of the server choice")
    parser.add_argument(
        "--choice-duration", type=int, default=3, help="seconds of wrk per server choice row"
    )
    args = parser.parse_args()
    known = {c.name: c for c in CANDIDATES}
    names = [n for n in args.servers.split(",") if n and n != "none"]
    unknown = [n for n in names if n not in known]
    if unknown:
        parser.error(f"unknown server {', '.join(unknown)}; choose from {', '.join(known)}")
    args.candidates = [known[n] for n in names]
    if not NEURATLAS.exists() or not Path(WRK).exists():
        print(f"error: needs {NEURATLAS} and {WRK}", file=sys.stderr)
        return 1
    help_ = subprocess.run([str(NEURATLAS), "serve", "--help"], capture_output=True, text=True)
    if help_.returncode != 0:
        print(f"error: `neuratlas serve` is not available:\n{help_.stderr}", file=sys.stderr)
        return 1
    work = Path(tempfile.mkdtemp(prefix="bench_service_"))
    try:
        return _bench(args, work)
    finally:
        if args.keep:
            print(f"\n(kept {work})")
        else:
            shutil.rmtree(work, ignore_errors=True)


def _bench(args: argparse.Namespace, work: Path) -> int:
    connections = [int(c) for c in args.connections.split(",")]
    if args.candidates:
        choice = compare_servers(args, work, args.candidates, connections)
        _report_choice(args, choice, DEFAULT_SERVER.value)
        sys.stdout.flush()
    colds = []
    for i in range(args.cold):
        server, elapsed = start_server(work / f"cache_cold_{i}", work, args.workers)
        stop_server(server)
        colds.append(elapsed)
        print(f"cold start {i + 1}/{args.cold}: {_ms(elapsed)}", file=sys.stderr)

    # the first request of all, sent while the service still warms up (builds the
    # sparse indexes of the statistical maps, starts its Dask workers)
    server, _ = start_server(work / "cache_warming", work, args.workers)
    try:
        bundle_warming, _ = cold_bundle(server)
    finally:
        stop_server(server)
    server, started = start_server(work / "cache", work, args.workers)
    try:
        ready = started + wait_ready(server)
        bundle_cold, bundle_note = cold_bundle(server)  # first bundle, on the fresh cache
        # another region of the same map: a new bundle, its map already read
        bundle_other, _ = cold_bundle(server, OTHER_REGION)
        print(
            f"download_all while warming {_ms(bundle_warming)}; after /ready "
            f"({_ms(ready)}): {_ms(bundle_cold)}, then {_ms(bundle_other)}",
            file=sys.stderr,
        )
        routes = service_routes(server)
        assign, assign_form = assign_route(server)
        routes += [assign, Route("download_all hIP1 left, cached", bundle_path(), "bundle")]
        answers = {route.label: check(server, route) for route in routes}  # also warms caches
        wait_idle(server)
        mem_before = memory(server)
        results: dict[str, dict[int, dict]] = {}
        for route in routes:
            results[route.label] = {}
            for c in connections:
                r = run_wrk(server, route, c, args.duration, work)
                r["drain"] = wait_idle(server)
                r["rss"] = max(rss for _, rss in memory(server))
                results[route.label][c] = r
                print(
                    f"{route.label} c={c}: {r['rps']:,.1f}/s p99 {_lat(r, 'p99')}, "
                    f"busy {r['drain']:.1f} s after",
                    file=sys.stderr,
                )
        mem = memory(server)
    finally:
        stop_server(server)

    bundles = (bundle_warming, ready, bundle_cold, bundle_other, bundle_note)
    _report(args, routes, results, answers, assign_form, colds, bundles, mem)
    print("\nMemory before the load, after one request on each route (RSS):")
    for name, rss in mem_before:
        print(f"- {rss:.0f} MB, {name}")
    return 0


def _report(args, routes, results, answers, assign_form, colds, bundles, mem):
    bundle_warming, ready, bundle_cold, bundle_other, bundle_note = bundles
    cold = statistics.median(colds)
    biggest = max(rss for _, rss in mem)
    print(f"\n## HTTP service: neuratlas serve under wrk ({time.strftime('%Y-%m-%d')})")
    print(
        f"\n`neuratlas serve` on {HOST} (workers: {args.workers or 'default'}), private "
        f"empty cache; wrk 4.1 on the same 2-core machine, {args.duration} s per row, "
        "2 threads (1 at concurrency 1), no compression unless noted. The peer column is "
        "**quoted from the issue** (siibra-api 0.3.35 measured on this machine), not "
        "measured by this script."
    )
    print("\n| measurement | neuratlas | siibra-api (quoted from the issue) | target | result |")
    print("|---|---|---|---|---|")
    print(
        f"| cold start: process start to first 200 from /atlases (median of {len(colds)}) "
        f"| {_ms(cold)} ({', '.join(_ms(c) for c in colds)}) | {PEER['cold start']} "
        f"| < 1 s | {_verdict(cold < COLD_START)} |"
    )
    print(
        "| service ready: process start to 200 from /ready (catalogue, Dask workers and "
        f"the statistical maps' sparse indexes built on the empty cache) | {_ms(ready)} | | | |"
    )
    print(
        "| download_all, one region, cold: first request after /ready, empty cache "
        f"(httpx) | {_ms(bundle_cold)} | | < 1 s | {_verdict(bundle_cold < BUNDLE_COLD)} |"
    )
    print(
        "| download_all, one region: first request of all, sent right after the first "
        f"answer, while the service warms up (httpx) | {_ms(bundle_warming)} | | | |"
    )
    print(
        f"| download_all, cold, another region ({OTHER_REGION}) of the same map "
        f"| {_ms(bundle_other)} | | < 1 s "
        f"| {_verdict(bundle_other < BUNDLE_COLD)} |"
    )
    print(
        f"| resident memory after the run, largest process | {biggest:.0f} MB | | "
        f"< {MEMORY_MB} MB | {_verdict(biggest < MEMORY_MB)} |"
    )
    print(
        "\n| route | concurrency | requests/s | p50 | p99 | non-2xx / socket errors "
        "| body | server busy after the row | RSS after the row "
        "| siibra-api (quoted) | target | result |"
    )
    print("|---|---:|---:|---:|---:|---|---:|---:|---:|---|---|---|")
    for route in routes:
        for c, r in results[route.label].items():
            target, verdict = _target(route, c, r)
            print(
                f"| {route.label} | {c} | {r['rps']:,.1f} | {_lat(r, 'p50')} | {_lat(r, 'p99')} "
                f"| {r['non2xx']} / {r['errors']} | {_size(r['bytes'])} | {r['drain']:.1f} s "
                f"| {r['rss']:.0f} MB "
                f"| {_peer(route, c)} "
                f"| {target} | {verdict} |"
            )
    print("\nAnswers checked before the load (status 200, content type, size):")
    for route in routes:
        print(f"- {route.label}: `{route.method} {route.path[:120]}`: {answers[route.label]}")
    print(f"\n/map/assign form used: {assign_form}.")
    print(f"\ndownload_all bundle: {bundle_note}.")
    print("\nMemory after the run (RSS):")
    for name, rss in mem:
        print(f"- {rss:.0f} MB, {name}")
    print(f"\nsiibra-api, unknown region id: {PEER['unknown id']} (quoted from the issue).")


if __name__ == "__main__":
    sys.exit(main())
