"""``neuratlas serve --server <each>``: the real server in a subprocess, spoken to over HTTP."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

# the console script's entry point (its fast path for `serve`), run by this interpreter
ENTRY = "import sys; from neuratlas.cli.entry import app; sys.argv[0] = 'neuratlas'; app()"
START_TIMEOUT_S = 60


@dataclass
class Running:
    """A ``neuratlas serve`` process, its address and the file its output goes to."""

    process: subprocess.Popen
    base: str
    log: Path

    def output(self) -> str:
        return self.log.read_text(errors="replace")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wait_for(running: Running, path: str) -> None:
    """Poll ``path`` until it answers 200."""
    began = time.perf_counter()
    while time.perf_counter() - began < START_TIMEOUT_S:
        if running.process.poll() is not None:
            raise AssertionError(f"the server exited:\n{running.output()}")
        try:
            if httpx.get(running.base + path, timeout=5).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.02)
    raise AssertionError(f"{path} did not answer 200 within {START_TIMEOUT_S} s")


def stop(running: Running) -> int:
    """SIGTERM, as a service manager stops it; the exit status."""
    running.process.send_signal(signal.SIGTERM)
    try:
        return running.process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        running.process.kill()
        running.process.wait()
        raise AssertionError(f"the server ignored SIGTERM:\n{running.output()}") from None


@pytest.fixture(scope="module", params=["granian", "uvicorn"])
def running(request, tmp_path_factory) -> Iterator[Running]:
    folder = tmp_path_factory.mktemp(f"serve_{request.param}")
    port = free_port()
    log = folder / "output.log"
    args = ["serve", "--server", request.param, "--port", str(port), "--access-log"]
    env = {**os.environ, "PYTHONWARNINGS": "ignore", "NEURATLAS_CACHE": str(folder / "cache")}
    env.pop("NEURATLAS_CONFIGURATION", None)  # the embedded catalogue
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-c", ENTRY, *args], env=env, stdout=out, stderr=subprocess.STDOUT
        )
    server = Running(process, f"http://127.0.0.1:{port}", log)
    try:
        wait_for(server, "/health")
        yield server
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


def test_the_server_answers_health_catalogue_and_errors_over_http(running: Running) -> None:
    with httpx.Client(base_url=running.base, timeout=30) as client:
        assert client.get("/health").json() == {"status": "ok"}
        atlases = client.get("/v3_0/atlases")
        assert atlases.status_code == 200
        assert atlases.json()["items"][0]["@type"] == "siibra-0.4/atlas"
        assert atlases.headers["etag"]
        missing = client.get("/v3_0/regions/nothing?parcellation_id=juelich")
        assert missing.status_code == 404
        body = missing.json()
        assert (body["error"], body["status_code"]) == ("NotFoundError", 404)
        assert "nothing" in body["message"]
        assert body["suggestions"]


def test_the_lifespan_runs_and_the_server_stops_cleanly(running: Running) -> None:
    # /ready turns 200 once the lifespan's start-up thread has built the catalogue
    wait_for(running, "/ready")
    with httpx.Client(base_url=running.base, timeout=30) as client:
        assert client.get("/ready").json()["status"] == "ready"
        client.get("/v3_0/spaces")
    # uvicorn re-raises the signal once it has shut down (-15), granian exits 0
    assert stop(running) in (0, -signal.SIGTERM)
    output = running.output()
    assert "Traceback" not in output
    # --access-log: each request has its line, whichever server wrote it
    assert "/v3_0/spaces" in output
