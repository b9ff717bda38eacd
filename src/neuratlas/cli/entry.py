"""The console script's entry point.

``neuratlas serve`` starts without importing the other areas' commands (the Allen
client and httpx, pandas, the map writers: about 0.4 s), so that the service answers
its first request within the 1 s of issue 9; every other command goes through
:mod:`neuratlas.cli.main`, which registers them all (serve included, for ``--help``).
"""

from __future__ import annotations

import sys


def app() -> None:
    """Run ``neuratlas``: the service's fast path, or the full command line."""
    if sys.argv[1:2] == ["serve"]:
        # heavy: only the serve command, not the ~0.4 s of every other area's imports
        from neuratlas.cli.serve import run_alone

        run_alone()
        return
    # heavy: every area's commands; importing them is what `serve` above avoids
    from neuratlas.cli.main import app as full_app

    full_app()
