"""Tests of neuratlas.cli.entry: the console script's fast paths for ``serve`` and ``allen``."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

PROBE = (
    "import sys\n"
    "sys.argv = ['neuratlas', *sys.argv[1:]]\n"
    "from neuratlas.cli.entry import app\n"
    "code = 0\n"
    "try:\n"
    "    app()\n"
    "except SystemExit as stop:\n"
    "    code = stop.code\n"
    "areas = ('neuratlas.cli.allen', 'neuratlas.cli.main')\n"
    "loaded = sorted(m for m in areas if m in sys.modules)\n"
    "print(code, loaded)\n"
)


def probe(*args: str) -> str:
    done = subprocess.run(
        [sys.executable, "-c", PROBE, *args], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.strip().splitlines()[-1]


def test_serve_starts_without_the_other_commands() -> None:
    # the other areas cost ~0.4 s of imports: the service's cold start target is 1 s
    assert probe("serve", "--help") == "0 []"


def test_allen_starts_without_the_other_commands() -> None:
    # a gene's table from the cache is about a second of work: the other areas' imports
    # would be a third more
    assert probe("allen", "--help") == "0 ['neuratlas.cli.allen']"


def test_allen_alone_reports_errors_as_the_full_command_line_does(tmp_path: Path) -> None:
    missing = tmp_path / "missing" / "table.csv"
    args = ["allen", "expression", "Gad1", "-o", str(missing)]
    done = subprocess.run(
        [sys.executable, "-c", PROBE, *args], capture_output=True, text=True, timeout=120
    )
    assert done.stdout.strip().splitlines()[-1] == "2 ['neuratlas.cli.allen']"
    lines = done.stderr.strip().splitlines()
    assert lines[0].startswith("error: cannot write") and str(missing) in lines[0]
    assert lines[1].startswith("hint: ") and len(lines) == 2
    # a usage error: click's message and exit status, the usage line naming the sub-command
    done = subprocess.run(
        [sys.executable, "-c", PROBE, "allen", "expression"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.stdout.strip().splitlines()[-1] == "2 ['neuratlas.cli.allen']"
    assert "Usage: neuratlas allen expression" in done.stderr
    assert "Missing argument" in done.stderr


def test_every_other_command_goes_through_the_full_command_line() -> None:
    assert probe("--help") == "0 ['neuratlas.cli.allen', 'neuratlas.cli.main']"
    # serve is listed there too, and a usage error is still exit 2
    done = subprocess.run(
        [sys.executable, "-c", PROBE, "serve", "--port", "not-a-number"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.stdout.strip().splitlines()[-1] == "2 []"
    assert "Invalid value for '--port'" in done.stderr
