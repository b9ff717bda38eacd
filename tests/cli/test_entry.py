"""Tests of neuratlas.cli.entry: the console script's fast path for ``serve``."""

from __future__ import annotations

import subprocess
import sys

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
