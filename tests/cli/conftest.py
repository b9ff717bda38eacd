"""Shared CLI fixtures: the app in-process on the toy catalogue, and the console script."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from typer.testing import CliRunner

from neuratlas.cli.main import cli

# the console script's entry point, run on the toy catalogue only (not the embedded one)
ENTRY = (
    "import sys, neuratlas\n"
    "neuratlas.use_configuration(sys.argv[1], strict=True)\n"
    # offline retries without waiting between them, to keep the test short
    "from neuratlas.retrieval import http\n"
    "http._default_client = http.HttpClient(sleep=lambda _: None)\n"
    "sys.argv = ['neuratlas', *sys.argv[2:]]\n"
    "from neuratlas.cli.main import app\n"
    "app()\n"
)


@pytest.fixture
def run(toy_active, monkeypatch: pytest.MonkeyPatch, toy_folder: Path):
    """Invoke the CLI in-process on the toy catalogue; returns the click Result."""
    monkeypatch.setenv("NEURATLAS_CONFIGURATION", str(toy_folder))
    runner = CliRunner()

    def invoke(*args: str):
        return runner.invoke(cli, list(args))

    return invoke


def run_console(
    toy_folder: Path, cwd: Path, cache: str, *args: str
) -> subprocess.CompletedProcess:
    """The console script on the toy catalogue, in a fresh process, with ``NEURATLAS_CACHE``."""
    env = {**os.environ, "NEURATLAS_CACHE": cache, "PYTHONWARNINGS": "ignore"}
    return subprocess.run(
        [sys.executable, "-c", ENTRY, str(toy_folder), *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        cwd=cwd,
    )


@pytest.fixture
def script(toy_folder: Path, tmp_path: Path) -> Callable[..., subprocess.CompletedProcess]:
    """Run the console script on the toy catalogue in ``tmp_path``, with a private cache."""
    return lambda *args: run_console(toy_folder, tmp_path, str(tmp_path / "cache"), *args)
