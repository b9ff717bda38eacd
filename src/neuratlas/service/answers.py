"""How the service's routes answer: memoised catalogue answers, and work on Dask.

Three ways, shared by every router of the service (:mod:`.app`, :mod:`.explorer`):

- :func:`catalogue_answer`: a JSON answer computed once per catalogue and key (in a
  thread of the pool, off the event loop) and then served from memory, with its
  ETag, Cache-Control and gzip (:mod:`.caching`);
- :func:`map_file`: a map file of :mod:`.handlers`, served from the cache at once
  when it is there, else made on the Dask workers (identical requests share one
  task);
- :func:`on_workers`: any heavy function on the Dask workers, after which the
  worker's freed memory goes back to the system (:mod:`.memory`).
"""

from __future__ import annotations

from collections.abc import Callable, Hashable
from pathlib import Path
from typing import Any

from fastapi import Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from neuratlas import catalogue, parallel
from neuratlas.retrieval.cache import cache_key
from neuratlas.service import handlers, memory
from neuratlas.service.caching import FILE_MAX_AGE, Memo, file_response, json_response

__all__ = ["NIFTI", "catalogue_answer", "make_map_file", "map_file", "on_workers"]

#: The media type of the map files (gzipped NIfTI).
NIFTI = "application/gzip"


async def on_workers(fn: Callable[..., Any], *args: Any, key: str | None = None) -> Any:
    """``fn(*args)`` on the Dask workers (see :func:`neuratlas.parallel.run`), then
    the worker's free memory handed back to the system (:func:`memory.trimmed`)."""
    return await parallel.run(memory.trimmed, fn, *args, key=key)


async def catalogue_answer(
    request: Request, key: Hashable, compute: Callable[[], Any]
) -> Response:
    """The JSON of ``compute()``, memoised under ``key`` in the app's memo (computed
    off the event loop on a miss), with ETag, Cache-Control, 304 and gzip."""
    memo: Memo = request.app.state.memo
    # the answer depends on the catalogue in use, so the catalogue itself is part of the key
    full_key = (catalogue.active(), key)
    encoded = memo.peek(full_key)
    if encoded is None:
        encoded = await run_in_threadpool(memo.get, full_key, compute)
    return json_response(request, encoded)


async def map_file(
    request: Request, plan: Callable[..., handlers.MapFile], *ids: str | None
) -> Response:
    """A map file: from the cache at once, else made on the Dask workers.

    Looking up the ids (and any 404) and finding a cached file take a thread of
    the pool; making a missing file (reading, resampling, writing images) goes to
    Dask, where identical requests share one task.
    """
    path = await run_in_threadpool(lambda: plan(*ids).cached())
    cached = path is not None
    if path is None:
        key = f"map-file-{plan.__name__}-{cache_key(*ids)}"
        path, cached = await on_workers(make_map_file, plan, *ids, key=key)
    return file_response(
        request,
        path,
        media_type=NIFTI,
        filename=Path(path).name,
        max_age=FILE_MAX_AGE,
        extra_headers={"X-Neuratlas-Cached": "true" if cached else "false"},
    )


def make_map_file(plan: Callable[..., handlers.MapFile], *ids: str | None) -> tuple[str, bool]:
    """Make (or find) the map file that ``plan(*ids)`` describes: the task run on Dask."""
    return plan(*ids).get()
