"""Keep a long-running service's memory close to what it uses (glibc's malloc).

A service process allocates and frees large arrays all day (decoded images,
assignment tables, JSON bodies) from many threads. glibc's malloc gives each
thread up to eight arenas per core of its own and returns freed memory to the
system only from the top of a heap, so the resident size of the process grows
with every burst of concurrent work and stays there. Two settings bound it:

- :func:`limit_arenas`: at most two arenas (``M_ARENA_MAX``, as the environment
  variable ``MALLOC_ARENA_MAX=2`` would set at process start);
- :func:`trimmed`: after a heavy task, ``malloc_trim(0)`` hands the free pages of
  every arena back to the system (a few milliseconds); a :class:`Trimmer` does the
  same every few seconds for what the event loop frees.

Elsewhere (musl, macOS, Windows) both do nothing: those allocators behave otherwise.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import threading
from collections.abc import Callable
from typing import Any

#: The arena limit set by :func:`limit_arenas`.
ARENAS = 2
#: Seconds between two trims of a :class:`Trimmer` (a trim takes a few milliseconds).
TRIM_INTERVAL = 2.0
_M_ARENA_MAX = -8  # glibc's mallopt parameter number (malloc.h)


@functools.cache
def _glibc() -> ctypes.CDLL | None:
    name = ctypes.util.find_library("c")
    if name is None:
        return None
    try:
        libc = ctypes.CDLL(name)
        # both symbols are glibc's own: a C library without them is not glibc
        libc.malloc_trim.argtypes = [ctypes.c_size_t]
        libc.mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    except (OSError, AttributeError):
        return None
    return libc


def limit_arenas(arenas: int = ARENAS) -> bool:
    """Let malloc use at most ``arenas`` arenas from now on; True if it could be set."""
    libc = _glibc()
    return bool(libc is not None and libc.mallopt(_M_ARENA_MAX, arenas))


def trim() -> bool:
    """Return the free memory of malloc's heaps to the system; True if any was returned."""
    libc = _glibc()
    return bool(libc is not None and libc.malloc_trim(0))


def trimmed(fn: Callable[..., Any], *args: Any) -> Any:
    """``fn(*args)``, then :func:`trim`: the form in which heavy tasks go to the workers."""
    try:
        return fn(*args)
    finally:
        trim()


class Trimmer:
    """A thread that calls :func:`trim` every ``interval`` seconds until stopped.

    The event loop's own thread frees large bodies (JSON tables, file chunks) that
    no task's :func:`trimmed` covers; this hands those pages back too.
    """

    def __init__(self, interval: float = TRIM_INTERVAL) -> None:
        self.interval = interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="neuratlas-trim", daemon=True)

    def start(self) -> Trimmer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=self.interval + 1)

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            trim()
