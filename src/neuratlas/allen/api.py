"""Where the Allen Brain Map API is, and the HTTP client shared by default.

The base URL is, in order: the ``base_url`` argument, ``$NEURATLAS_ALLEN_API``,
then the public API, ``https://api.brain-map.org/api/v2/``. It must be an
http(s) URL with a host; when that host cannot be reached, the error's hint
names the URL in use and the settings that change it.

This module sits below :mod:`neuratlas.allen.rma` and
:mod:`neuratlas.allen.client`, so that both reach the shared connection
without importing each other.
"""

from __future__ import annotations

import os
import threading
from urllib.parse import urlsplit

from neuratlas.errors import ArgumentError
from neuratlas.retrieval.http import HttpClient

__all__ = [
    "API_ENV",
    "DEFAULT_API",
    "connect",
    "offline_hint",
    "resolve_base_url",
    "shared_http",
]

DEFAULT_API = "https://api.brain-map.org/api/v2/"
API_ENV = "NEURATLAS_ALLEN_API"
#: Settings of a new connection (see :func:`connect`).
TIMEOUT = 60.0
RETRIES = 4
BACKOFF = 0.5
MAX_CONCURRENCY = 6

_shared: tuple[str, HttpClient] | None = None
_shared_lock = threading.Lock()


def resolve_base_url(base_url: str | None = None) -> str:
    """The API root to use, always ending with a slash.

    Parameters
    ----------
    base_url : str, optional
        An explicit API root; see the module documentation for the default.

    Raises
    ------
    ArgumentError
        The URL is not ``http(s)://<host>/...``; the message names where it came from.
    """
    url = (base_url or os.environ.get(API_ENV) or DEFAULT_API).strip()
    parts = urlsplit(url)
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        raise ArgumentError(
            f"the Allen API URL {url!r} is not an http(s) URL with a host name",
            hint=f"write it as http(s)://<host>/api/v2/ (in {API_ENV}, or --api on the "
            f"command line), e.g. {DEFAULT_API}",
        )
    return url if url.endswith("/") else url + "/"


def offline_hint(base_url: str) -> str:
    """What to do when the Allen API at ``base_url`` cannot be reached."""
    return (
        f"check the network connection, or point {API_ENV} (--api on the command line) "
        f"at a reachable Allen API; now {base_url}"
    )


def connect(
    base_url: str | None = None,
    *,
    timeout: float = TIMEOUT,
    retries: int = RETRIES,
    backoff: float = BACKOFF,
    max_concurrency: int = MAX_CONCURRENCY,
) -> HttpClient:
    """A new HTTP client for the Allen API.

    Parameters
    ----------
    base_url : str, optional
        API root (see :func:`resolve_base_url`).
    timeout : float
        Read timeout in seconds.
    retries : int
        Retries of a failed request (connection errors, timeouts, 429, 5xx).
    backoff : float
        First retry delay in seconds, doubled at each retry.
    max_concurrency : int
        Most requests in flight at once.
    """
    url = resolve_base_url(base_url)
    return HttpClient(
        url,
        timeout=timeout,
        retries=retries,
        backoff=backoff,
        max_concurrency=max_concurrency,
        offline_hint=offline_hint(url),
    )


def shared_http(base_url: str | None = None) -> HttpClient:
    """The HTTP client shared by every caller that does not bring its own.

    One connection pool serves :meth:`neuratlas.allen.client.AllenClient.default`
    and :func:`neuratlas.allen.rma.rma` without an ``http`` argument. It is
    re-created (with the :func:`connect` defaults) when the base URL changes.

    Parameters
    ----------
    base_url : str, optional
        API root (see :func:`resolve_base_url`).
    """
    global _shared
    url = resolve_base_url(base_url)
    with _shared_lock:
        if _shared is None or _shared[0] != url:
            _shared = (url, connect(url))
        return _shared[1]
