"""The real server: ``neuratlas serve`` in a subprocess, spoken to over HTTP."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from urllib.parse import quote

import httpx
import pytest

from tests.service.live_server import ENTRY, serving, wait_for

START_TIMEOUT_S = 60


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    log = tmp_path_factory.mktemp("server") / "serve.log"
    began = time.perf_counter()
    with serving(log) as (base, process):
        first = wait_for(f"{base}/health", process, log, START_TIMEOUT_S)
        wait_for(f"{base}/ready", process, log, START_TIMEOUT_S)
        # the figure the issue asks for (target < 1 s); shown with -s or on failure
        print(f"cold start: first answer {first:.2f} s, ready {time.perf_counter() - began:.2f} s")
        yield base


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
