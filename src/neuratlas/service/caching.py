"""HTTP caching: ETags, ``If-None-Match`` → 304, Cache-Control, gzip for JSON.

Every GET the app answers goes through :func:`json_response` or
:func:`file_response`, so every answer carries an ETag and a Cache-Control.
JSON bodies are encoded (and gzipped) once per distinct request and kept in a
small in-process LRU, because the catalogue does not change while it is active;
files are streamed from disk (``FileResponse``), never read into memory here.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import math
import os
import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import starlette.staticfiles
from fastapi import Request
from fastapi.responses import FileResponse, Response
from pydantic import BaseModel

# catalogue answers change only with a new release or configuration
CATALOGUE_MAX_AGE = 3600
# map files are keyed by their inputs in the cache: same URL, same bytes
FILE_MAX_AGE = 86400
# JSON smaller than this is not worth a gzip header
GZIP_MIN_BYTES = 1000
MEMO_ENTRIES = 2048


@dataclass(frozen=True)
class Encoded:
    """A JSON body, its gzipped form (``None`` when too small) and its ETag."""

    body: bytes
    gzipped: bytes | None
    etag: str


def to_jsonable(value: Any) -> Any:
    """Plain JSON values from models, lists and dicts; NaN and infinities become ``None``.

    Pydantic models are dumped by alias (``@id``, ``@type``), as siibra-api does.
    """
    if isinstance(value, BaseModel):
        return to_jsonable(value.model_dump(mode="json", by_alias=True))
    if isinstance(value, dict):
        return {str(k): to_jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [to_jsonable(v) for v in value]
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if hasattr(value, "tolist") and callable(value.tolist):  # NumPy arrays and scalars
        return to_jsonable(value.tolist())
    return value


def encode(value: Any) -> Encoded:
    """Encode ``value`` as strict JSON (no NaN), with its gzip form and ETag."""
    body = json.dumps(to_jsonable(value), separators=(",", ":"), allow_nan=False).encode()
    return encode_bytes(body)


def encode_bytes(body: bytes) -> Encoded:
    """A body that is encoded already (HTML, Prometheus text), with its gzip form and ETag."""
    gzipped = (
        gzip.compress(body, compresslevel=6, mtime=0) if len(body) >= GZIP_MIN_BYTES else None
    )
    return Encoded(body, gzipped, etag_of_bytes(body))


class Memo:
    """A bounded LRU of encoded JSON answers, keyed by what determines them.

    Misses are computed in worker threads, so the table is guarded by a lock.
    """

    def __init__(self, entries: int = MEMO_ENTRIES) -> None:
        self.entries = entries
        self._items: OrderedDict[Hashable, Encoded] = OrderedDict()
        self._lock = threading.Lock()

    def peek(self, key: Hashable) -> Encoded | None:
        """The encoded answer for ``key`` if it is remembered, else ``None``."""
        with self._lock:
            found = self._items.get(key)
            if found is not None:
                self._items.move_to_end(key)
            return found

    def get(self, key: Hashable, compute: Callable[[], Any]) -> Encoded:
        """The encoded answer for ``key``, computed by ``compute()`` on a miss.

        Errors raised by ``compute`` are not remembered: they go to the caller.
        """
        found = self.peek(key)
        if found is not None:
            return found
        # computed outside the lock: two threads may both compute, and both get the same
        encoded = encode(compute())
        with self._lock:
            self._items[key] = encoded
            if len(self._items) > self.entries:
                self._items.popitem(last=False)
        return encoded

    def clear(self) -> None:
        """Forget every answer."""
        with self._lock:
            self._items.clear()


def etag_of_bytes(body: bytes) -> str:
    """A strong ETag from the bytes of a body."""
    return '"' + hashlib.blake2b(body, digest_size=16).hexdigest() + '"'


def etag_of_file(path: Path) -> str:
    """A strong ETag from a file's path, size and inode (not its content).

    Not the modification time: the cache touches a file each time it is reused (LRU).
    Files are written atomically (a new file, then a rename), so new content means a
    new inode.
    """
    stat = os.stat(path)
    seed = f"{os.fspath(path)}:{stat.st_size}:{stat.st_ino}:{stat.st_dev}".encode()
    return '"' + hashlib.blake2b(seed, digest_size=16).hexdigest() + '"'


def matches(request: Request, etag: str) -> bool:
    """Whether the request's ``If-None-Match`` names ``etag`` (or ``*``)."""
    header = request.headers.get("if-none-match")
    if not header:
        return False
    for tag in header.split(","):
        tag = tag.strip()
        # a weak comparison is what If-None-Match asks for (RFC 9110, 13.1.2)
        if tag == "*" or tag.removeprefix("W/") == etag:
            return True
    return False


def accepts_gzip(request: Request) -> bool:
    """Whether the client accepts a gzip-encoded body (and has not refused it with q=0)."""
    for part in request.headers.get("accept-encoding", "").split(","):
        name, _, params = part.strip().partition(";")
        if name.strip().lower() in ("gzip", "*"):
            return params.replace(" ", "") not in ("q=0", "q=0.0", "q=0.00", "q=0.000")
    return False


def _cache_headers(etag: str, max_age: int) -> dict[str, str]:
    control = f"public, max-age={max_age}" if max_age > 0 else "no-cache"
    return {"ETag": etag, "Cache-Control": control}


def json_response(
    request: Request,
    encoded: Encoded,
    *,
    max_age: int = CATALOGUE_MAX_AGE,
    status_code: int = 200,
    media_type: str = "application/json",
) -> Response:
    """An encoded JSON answer: 304 when the client has it, gzipped when it accepts that.

    Parameters
    ----------
    request : Request
        The request (for ``If-None-Match`` and ``Accept-Encoding``).
    encoded : Encoded
        The body (see :func:`encode` and :class:`Memo`).
    max_age : int
        Seconds a client may reuse the answer; 0 means revalidate every time.
    status_code : int
        The status of a full answer.
    media_type : str
        The body's type (JSON unless said otherwise).
    """
    headers = {**_cache_headers(encoded.etag, max_age), "Vary": "Accept-Encoding"}
    if matches(request, encoded.etag):
        return Response(status_code=304, headers=headers)
    if encoded.gzipped is not None and accepts_gzip(request):
        headers["Content-Encoding"] = "gzip"
        return Response(encoded.gzipped, status_code, headers=headers, media_type=media_type)
    return Response(encoded.body, status_code, headers=headers, media_type=media_type)


def file_response(
    request: Request,
    path: str | os.PathLike[str],
    *,
    media_type: str,
    filename: str | None = None,
    max_age: int = FILE_MAX_AGE,
    extra_headers: dict[str, str] | None = None,
) -> Response:
    """A file streamed from disk, with its ETag; 304 (and no file read) when the client has it.

    Files are sent as they are: a ``.nii.gz`` or ``.zip`` is never gzipped again.
    """
    path = Path(path)
    etag = etag_of_file(path)
    headers = {**_cache_headers(etag, max_age), **(extra_headers or {})}
    if matches(request, etag):
        return Response(status_code=304, headers=headers)
    return FileResponse(path, media_type=media_type, filename=filename, headers=headers)


class StaticFiles(starlette.staticfiles.StaticFiles):
    """Starlette's static files (with their ETag and ``If-None-Match`` → 304), plus a
    Cache-Control, which every GET of the service carries.

    Vendored libraries (a ``vendor`` folder) change only with their version: a day's
    max-age. The explorer's own modules are revalidated on every load (``no-cache``,
    a 304 while unchanged), so that a new release never runs old scripts against a
    new page and server: they are ES modules imported by relative paths, which no
    build step versions.
    """

    def file_response(self, full_path: Any, *args: Any, **kwargs: Any) -> Response:
        response = super().file_response(full_path, *args, **kwargs)
        vendored = "vendor" in Path(full_path).parts
        control = f"public, max-age={FILE_MAX_AGE}" if vendored else "no-cache"
        response.headers.setdefault("Cache-Control", control)
        return response
