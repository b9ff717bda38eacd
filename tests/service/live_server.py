"""``neuratlas serve`` in a subprocess, for the tests that talk HTTP to the real server."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

# the console script's entry point, run by this interpreter (the venv's)
ENTRY = "import sys; from neuratlas.cli.main import app; sys.argv[0] = 'neuratlas'; app()"


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@contextmanager
def serving(
    log: Path, *args: str, cache: Path | None = None
) -> Iterator[tuple[str, subprocess.Popen]]:
    """``neuratlas serve --port <free> <args>``: its base URL and process; stopped at the end.

    Parameters
    ----------
    log : Path
        Where the server's output goes (read back when it fails).
    *args : str
        More options of ``neuratlas serve``.
    cache : Path, optional
        Its ``NEURATLAS_CACHE``; the test run's cache otherwise.
    """
    port = free_port()
    env = {**os.environ, "PYTHONWARNINGS": "ignore"}
    if cache is not None:
        env["NEURATLAS_CACHE"] = str(cache)
    script = Path(sys.executable).with_name("neuratlas")
    command = [str(script)] if script.is_file() else [sys.executable, "-c", ENTRY]
    with log.open("wb") as out:
        process = subprocess.Popen(
            [*command, "serve", "--port", str(port), "--log-level", "warning", *args],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        yield f"http://127.0.0.1:{port}", process
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def wait_for(url: str, process: subprocess.Popen, log: Path, timeout: float = 60) -> float:
    """Poll ``url`` until it answers 200; the seconds it took."""
    began = time.perf_counter()
    while time.perf_counter() - began < timeout:
        if process.poll() is not None:
            raise AssertionError(f"the server exited ({process.returncode}): {log.read_text()}")
        try:
            if httpx.get(url, timeout=5).status_code == 200:
                return time.perf_counter() - began
        except httpx.TransportError:
            pass
        time.sleep(0.02)
    raise AssertionError(f"{url} did not answer 200 within {timeout:.0f} s")
