"""The console script's entry point.

Two commands start without importing the other areas' commands:

- ``neuratlas serve`` (the Allen client and httpx, pandas, the map writers: about
  0.4 s), so that the service answers its first request within the 1 s of issue 9;
- ``neuratlas allen ...`` (the service, lesion and map commands: about 0.3 s), as a
  gene's expression table from the cache takes about a second of work.

Every other command goes through :mod:`neuratlas.cli.main`, which registers them
all (serve and allen included, for ``--help``). Both run through
:func:`neuratlas.cli.running.run`, so that errors read the same.
"""

from __future__ import annotations

import gc
import sys

#: Allocations between two collections of the youngest generation, for a command.
_GC_THRESHOLD = 50_000


def app() -> None:
    """Run ``neuratlas``: a fast path for ``serve`` and ``allen``, or the full command line."""
    try:
        _run_area(sys.argv[1:2])
    finally:
        # the interpreter's teardown runs full garbage collections over every object the
        # command built (the catalogue's specs and regions: ~0.3 s of a one-second
        # command); at exit nothing is worth collecting, so they are left to the end
        gc.freeze()


def _run_area(area: list[str]) -> None:
    if area == ["serve"]:
        # heavy: only the serve command, not the ~0.4 s of every other area's imports
        from neuratlas.cli.serve import run_alone

        run_alone()
        return
    # a command builds the catalogue's specs and regions in a burst (~200,000 objects,
    # none of them garbage): at the default threshold (700 allocations) the collector
    # scans them over and over, ~0.3 s; every 50,000 still bounds garbage cycles
    gc.set_threshold(_GC_THRESHOLD, *gc.get_threshold()[1:])
    if area == ["allen"]:
        # heavy: only the Allen commands, not the other areas'
        from neuratlas.cli.allen import run_alone as run_allen

        run_allen()
        return
    # heavy: every area's commands; importing them is what the fast paths above avoid
    from neuratlas.cli.main import app as full_app

    full_app()
