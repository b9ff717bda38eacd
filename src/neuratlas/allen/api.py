"""Where the Allen Brain Map API is, and the HTTP client shared by default.

The base URL is, in order: the ``base_url`` argument, ``$NEURATLAS_ALLEN_API``,
then the public API, ``https://api.brain-map.org/api/v2/``.

This module sits below :mod:`neuratlas.allen.rma` and
:mod:`neuratlas.allen.client`, so that both reach the shared connection
without importing each other.
"""

from __future__ import annotations

import os
import threading

from neuratlas.retrieval.http import HttpClient

__all__ = ["API_ENV", "DEFAULT_API", "connect", "resolve_base_url", "shared_http"]

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
    """
    url = base_url or os.environ.get(API_ENV) or DEFAULT_API
    return url if url.endswith("/") else url + "/"


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
    return HttpClient(
        resolve_base_url(base_url),
        timeout=timeout,
        retries=retries,
        backoff=backoff,
        max_concurrency=max_concurrency,
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
