"""The real server: ``neuratlas serve`` in a subprocess, spoken to over HTTP."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from urllib.parse import quote

import httpx
import pytest

# the console script's entry point, run by this interpreter (the venv's)
ENTRY = "import sys; from neuratlas.cli.main import app; sys.argv[0] = 'neuratlas'; app()"
START_TIMEOUT_S = 60


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def start(port: int) -> subprocess.Popen:
    """``neuratlas serve --port <port>`` in a new process (stderr kept for failures)."""
    return subprocess.Popen(
        [sys.executable, "-c", ENTRY, "serve", "--port", str(port), "--log-level", "warning"],
        env={**os.environ, "PYTHONWARNINGS": "ignore"},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )


def wait_for(url: str, process: subprocess.Popen, status: int = 200) -> float:
    """Poll ``url`` until it answers ``status``; the seconds it took."""
    began = time.perf_counter()
    while time.perf_counter() - began < START_TIMEOUT_S:
        if process.poll() is not None:
            raise AssertionError(f"the server exited: {process.stderr.read().decode()}")
        try:
            if httpx.get(url, timeout=5).status_code == status:
                return time.perf_counter() - began
        except httpx.TransportError:
            pass
        time.sleep(0.02)
    raise AssertionError(f"{url} did not answer {status} within {START_TIMEOUT_S} s")


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    port = free_port()
    began = time.perf_counter()
    process = start(port)
    base = f"http://127.0.0.1:{port}"
    try:
        first = wait_for(f"{base}/health", process)
        ready = wait_for(f"{base}/ready", process)
        # the figure the issue asks for (target < 1 s); shown with -s or on failure
        print(f"cold start: first answer {first:.2f} s, ready {time.perf_counter() - began:.2f} s")
        assert ready < START_TIMEOUT_S
        yield base
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def test_the_server_answers_over_http(server: str) -> None:
    with httpx.Client(base_url=server, timeout=30) as client:
        atlases = client.get("/v3_0/atlases")
        assert atlases.status_code == 200
        assert atlases.json()["items"][0]["@type"] == "siibra-0.4/atlas"
        region = client.get(f"/v3_0/regions/{quote('hIP1 left')}?parcellation_id=juelich")
        assert region.json()["name"].startswith("Anterior intra-parietal sulcus hIP1")
        missing = client.get("/v3_0/regions/nothing?parcellation_id=juelich")
        assert missing.status_code == 404
        assert missing.json()["error"] == "NotFoundError"
        again = client.get("/v3_0/atlases", headers={"If-None-Match": atlases.headers["etag"]})
        assert again.status_code == 304
        metrics = client.get("/metrics").text
        assert 'route="/v3_0/atlases",status="200"} 1' in metrics


def test_a_busy_port_is_one_line_and_exit_1(server: str) -> None:
    port = server.rsplit(":", 1)[1]
    done = subprocess.run(
        [sys.executable, "-c", ENTRY, "serve", "--port", port],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "PYTHONWARNINGS": "ignore"},
    )
    assert done.returncode == 1
    assert done.stderr.splitlines()[0] == f"error: cannot listen on 127.0.0.1:{port}: " + (
        "Address already in use"
    )
