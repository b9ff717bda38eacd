"""HTTP access with timeouts, retries, resumable downloads and bounded concurrency.

Every remote read in neuratlas goes through :class:`HttpClient`. Transient
failures (timeouts, dropped connections, 429 and 5xx answers) are retried with
exponential backoff and jitter, honouring ``Retry-After``. A host that cannot be
reached at all (connection refused, unknown host name) is tried only
``UNREACHABLE_RETRIES`` more times: offline, waiting does not help, and a
command should fail in a moment rather than after the whole backoff. Anything
that still fails becomes a :class:`~neuratlas.errors.DataUnavailableError`
naming the URL (shortened: its query is elided, see :func:`short_url`), the
reason and what to do, including which file to place where when the data can be
provided by hand; a URL that is not http(s) raises
:class:`~neuratlas.errors.ArgumentError` at once.
"""

from __future__ import annotations

import contextlib
import email.utils
import hashlib
import json
import os
import random
import re
import sys
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path, PurePosixPath
from types import TracebackType
from typing import IO, TYPE_CHECKING, Any, TypeVar
from urllib.parse import urlsplit

from neuratlas.__about__ import __version__
from neuratlas.errors import (
    ArgumentError,
    ChecksumError,
    DataUnavailableError,
    ResponseError,
)
from neuratlas.retrieval import cache


def _import_httpx() -> Any:
    """Import httpx without its command-line client, which neuratlas never runs.

    httpx's package imports ``httpx._main`` whenever click, rich and pygments are
    installed (as they are, for neuratlas's own command line): ~60 ms of every start.
    A module marked missing in ``sys.modules`` makes httpx take its own fallback for
    a missing extra; the mark is removed at once, so that the module can still be
    imported later by whoever wants it.
    """
    if "httpx" in sys.modules:
        return sys.modules["httpx"]
    marked = sys.modules.setdefault("httpx._main", None) is None
    try:
        # heavy: imported here, with its command-line client marked missing (see above)
        import httpx

        return httpx
    finally:
        if marked and sys.modules.get("httpx._main", False) is None:
            del sys.modules["httpx._main"]


if TYPE_CHECKING:
    import httpx
else:
    httpx = _import_httpx()

T = TypeVar("T")
R = TypeVar("R")

#: Answers worth asking again: rate limiting and server-side trouble.
RETRY_STATUSES = frozenset({408, 425, 429, 500, 502, 503, 504})
#: Retries when the host cannot be reached at all (refused, unknown name): at most this many.
UNREACHABLE_RETRIES = 1
#: Downloads larger than this show a progress bar when stderr is a terminal.
PROGRESS_THRESHOLD = 1024**2
_CHUNK = 1024**2
#: What to do when a server cannot be reached, unless the client is told better.
OFFLINE_HINT = "check the network connection (and any proxy settings), then try again"


class _TransientError(Exception):
    """An attempt failed in a way that may be worth retrying.

    ``unreachable`` marks a host that refused the connection or has no address:
    retried at most ``UNREACHABLE_RETRIES`` times.
    """

    def __init__(
        self, reason: str, retry_after: float | None = None, *, unreachable: bool = False
    ) -> None:
        super().__init__(reason)
        self.reason = reason
        self.retry_after = retry_after
        self.unreachable = unreachable


def short_url(url: str) -> str:
    """A URL for messages: ``scheme://host/path``, with any query elided as ``?...``.

    Parameters
    ----------
    url : str
        Any URL (relative ones are returned with their query elided too).

    Examples
    --------
    >>> short_url("https://api.brain-map.org/api/v2/data/query.json?criteria=model::X")
    'https://api.brain-map.org/api/v2/data/query.json?...'
    """
    parts = urlsplit(url)
    head = f"{parts.scheme}://{parts.netloc}" if parts.scheme or parts.netloc else ""
    return head + parts.path + ("?..." if parts.query else "")


def _transient(exc: httpx.TransportError, url: str) -> _TransientError:
    """Classify a transport failure: retry it, or give up at once on a non-http(s) URL."""
    if isinstance(exc, httpx.UnsupportedProtocol):
        raise ArgumentError(
            f"cannot fetch {short_url(url)}: only http:// and https:// URLs can be fetched",
            hint="check the URL (or the base URL it was joined to)",
        ) from None
    return _TransientError(_describe(exc), unreachable=isinstance(exc, httpx.ConnectError))


def parse_retry_after(value: str | None, *, now: datetime | None = None) -> float | None:
    """Read a ``Retry-After`` header: delay in seconds, or an HTTP date.

    Parameters
    ----------
    value : str or None
        The header value.
    now : datetime, optional
        The current time (for tests); defaults to the clock.

    Returns
    -------
    float or None
        Seconds to wait (never negative), or None when absent or unreadable.
    """
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    now = now or datetime.now(UTC)
    return max(0.0, (when - now).total_seconds())


def _describe(exc: httpx.HTTPError) -> str:
    """A short human reason for a transport failure."""
    if isinstance(exc, httpx.ConnectTimeout):
        return "connection timed out"
    if isinstance(exc, httpx.TimeoutException):
        return "the server stopped answering (read timeout)"
    if isinstance(exc, httpx.ConnectError):
        return f"cannot connect ({exc})" if str(exc) else "cannot connect"
    if isinstance(exc, httpx.RemoteProtocolError):
        return f"the connection broke off ({exc})"
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__


def _status_text(response: httpx.Response) -> str:
    phrase = response.reason_phrase
    return f"HTTP {response.status_code}" + (f" {phrase}" if phrase else "")


def _status_hint(status: int) -> str:
    if status in (401, 403):
        return "the server refused access; the resource may need credentials or may have moved"
    if status in (404, 410):
        return "check the URL or identifier; the resource may have been removed or renamed"
    return "check the URL and its parameters"


class HttpClient:
    """A thread-safe HTTP client with retries, resumable downloads and a concurrency bound.

    Parameters
    ----------
    base_url : str, optional
        Prefix for relative URLs.
    timeout : float
        Read/write timeout in seconds (the longest silence tolerated mid-answer).
    connect_timeout : float
        Timeout for establishing a connection, in seconds.
    retries : int
        How many times a failed request is tried again (so ``retries + 1`` attempts).
    backoff : float
        First retry delay in seconds; doubled at each retry, with jitter. 0 disables waits.
    max_backoff : float
        Cap on any single wait, including one asked for by ``Retry-After``.
    max_concurrency : int
        Most requests in flight at once across all threads using this client.
    headers : dict, optional
        Extra headers sent with every request.
    transport : httpx.BaseTransport, optional
        A custom transport (e.g. ``httpx.MockTransport`` in tests).
    sleep : callable, optional
        The function used to wait between retries (injectable for tests).
    offline_hint : str, optional
        What to tell the user when the server cannot be reached (e.g. which
        setting names the server); defaults to checking the network.

    Raises
    ------
    ArgumentError
        A bad ``max_concurrency`` or ``retries``, or a malformed ``base_url``.
    """

    def __init__(
        self,
        base_url: str | None = None,
        *,
        timeout: float = 30.0,
        connect_timeout: float = 10.0,
        retries: int = 4,
        backoff: float = 0.5,
        max_backoff: float = 30.0,
        max_concurrency: int = 8,
        headers: dict[str, str] | None = None,
        transport: httpx.BaseTransport | None = None,
        sleep: Callable[[float], None] = time.sleep,
        offline_hint: str | None = None,
    ) -> None:
        if max_concurrency < 1:
            raise ArgumentError(f"max_concurrency must be at least 1, got {max_concurrency}")
        if retries < 0:
            raise ArgumentError(f"retries must not be negative, got {retries}")
        self.max_concurrency = max_concurrency
        self.retries = retries
        self.backoff = backoff
        self.max_backoff = max_backoff
        self._sleep = sleep
        self.offline_hint = offline_hint or OFFLINE_HINT
        self._semaphore = threading.Semaphore(max_concurrency)
        self._dest_locks: dict[Path, threading.Lock] = {}
        self._dest_locks_guard = threading.Lock()
        all_headers = {"User-Agent": f"neuratlas/{__version__}"}
        all_headers.update(headers or {})
        try:
            self._client = httpx.Client(
                base_url=base_url or "",
                timeout=httpx.Timeout(timeout, connect=connect_timeout),
                limits=httpx.Limits(max_connections=max(max_concurrency, 10)),
                headers=all_headers,
                follow_redirects=True,
                transport=transport,
            )
        except httpx.InvalidURL as exc:
            raise ArgumentError(
                f"{base_url!r} is not a valid base URL ({exc})",
                hint="write it as http(s)://<host>/<path>/",
            ) from None

    # -- context management -------------------------------------------------------------------

    def close(self) -> None:
        """Close the connection pool."""
        self._client.close()

    def __enter__(self) -> HttpClient:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # -- retry machinery ----------------------------------------------------------------------

    def _delay(self, attempt: int, retry_after: float | None) -> float:
        """Wait before retry number ``attempt`` (0-based): server's wish, else backoff."""
        if retry_after is not None:
            return min(retry_after, self.max_backoff)
        base = min(self.backoff * 2**attempt, self.max_backoff)
        # jitter spreads out clients that failed together, so they do not retry in lockstep
        return base * random.uniform(0.5, 1.0)

    def _with_retries(self, url: str, attempt_fn: Callable[[], T], hint: str) -> T:
        """Run ``attempt_fn`` until it succeeds, retrying on :class:`_TransientError`."""
        for attempt in range(self.retries + 1):
            try:
                return attempt_fn()
            except _TransientError as exc:
                # an unreachable host stays unreachable: fail in a moment, not after the backoff
                last = min(UNREACHABLE_RETRIES, self.retries) if exc.unreachable else self.retries
                if attempt >= last:
                    tries = f"{attempt + 1} attempt" + ("s" if attempt else "")
                    raise DataUnavailableError(
                        f"could not fetch {short_url(url)}: {exc.reason} (gave up after {tries})",
                        source=url,
                        hint=hint,
                    ) from exc
                delay = self._delay(attempt, exc.retry_after)
                if delay > 0:
                    self._sleep(delay)
        raise AssertionError("unreachable")  # pragma: no cover

    def _check_status(self, url: str, response: httpx.Response) -> None:
        """Raise :class:`_TransientError` or :class:`DataUnavailableError` for a failed answer."""
        status = response.status_code
        if status < 400:
            return
        if status in RETRY_STATUSES:
            retry_after = parse_retry_after(response.headers.get("Retry-After"))
            raise _TransientError(_status_text(response), retry_after)
        raise DataUnavailableError(
            f"could not fetch {short_url(url)}: the server answered {_status_text(response)}",
            source=url,
            hint=_status_hint(status),
        )

    def _full_url(self, url: str, params: dict[str, Any] | None) -> str:
        try:
            return str(self._client.build_request("GET", url, params=params).url)
        except httpx.InvalidURL as exc:
            raise ArgumentError(
                f"cannot fetch {url!r}: not a valid URL ({exc})",
                hint="write it as http(s)://<host>/<path>",
            ) from None

    # -- simple requests ----------------------------------------------------------------------

    def get(self, url: str, *, params: dict[str, Any] | None = None) -> httpx.Response:
        """GET a URL and read the whole answer, retrying transient failures.

        Parameters
        ----------
        url : str
            Absolute, or relative to ``base_url``.
        params : dict, optional
            Query parameters.

        Returns
        -------
        httpx.Response
            A successful (2xx) response whose body has been read.

        Raises
        ------
        DataUnavailableError
            On a 4xx answer, or when every attempt failed; names the URL and the reason.
        ArgumentError
            The URL is malformed or not http(s).
        """
        full = self._full_url(url, params)

        def attempt() -> httpx.Response:
            try:
                with self._semaphore:
                    response = self._client.get(url, params=params)
            except httpx.TransportError as exc:
                raise _transient(exc, full) from exc
            self._check_status(full, response)
            return response

        return self._with_retries(full, attempt, self.offline_hint)

    def get_json(self, url: str, *, params: dict[str, Any] | None = None) -> Any:
        """GET a URL and decode its JSON body.

        Raises
        ------
        ResponseError
            When the body is not valid JSON.
        DataUnavailableError
            As :meth:`get`.
        """
        response = self.get(url, params=params)
        try:
            return response.json()
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            full = str(response.request.url)
            head = response.content[:80].decode("utf-8", "replace")
            raise ResponseError(
                f"{short_url(full)} did not answer valid JSON ({exc}); "
                f"the answer began with {head!r}",
                source=full,
                hint="the service may be down for maintenance or the URL may point to a "
                "web page; try again later or check the URL",
            ) from exc

    def get_bytes(self, url: str, *, params: dict[str, Any] | None = None) -> bytes:
        """GET a URL and return its body as bytes (see :meth:`get`)."""
        return self.get(url, params=params).content

    # -- downloads ----------------------------------------------------------------------------

    def _dest_lock(self, dest: Path) -> threading.Lock:
        # two threads streaming into the same .part would interleave their bytes
        with self._dest_locks_guard:
            return self._dest_locks.setdefault(dest, threading.Lock())

    def download(
        self,
        url: str,
        dest: str | os.PathLike[str],
        *,
        params: dict[str, Any] | None = None,
        sha256: str | None = None,
        progress: bool | None = None,
        place_at: str | os.PathLike[str] | None = None,
    ) -> Path:
        """Stream a URL into a file, resuming a partial download and verifying it.

        Bytes go to ``<dest>.part``; an existing ``.part`` is continued with a
        ``Range`` request (or restarted if the server ignores ranges). Only a
        complete, verified file is moved into ``dest``, atomically.

        Parameters
        ----------
        url : str
            Absolute, or relative to ``base_url``.
        dest : path-like
            Where the file ends up; its folder is created.
        params : dict, optional
            Query parameters.
        sha256 : str, optional
            The expected hex digest; checked before the file is moved into place.
        progress : bool, optional
            Show a progress bar on stderr; by default only when stderr is a terminal
            and the file is larger than 1 MB.
        place_at : path-like, optional
            Where a user who fetches the file by hand should put it (named in the
            hint of a failed download); ``dest`` by default.

        Returns
        -------
        pathlib.Path
            ``dest``.

        Raises
        ------
        ChecksumError
            The digest differs (the partial file is deleted, ``dest`` is not written).
        DataUnavailableError
            A 4xx answer, or every attempt failed; the ``.part`` is kept for resuming.
        ArgumentError
            The URL is malformed or not http(s), or ``dest`` cannot be written.
        """
        target = Path(dest)
        full = self._full_url(url, params)
        cache.make_parent(target)
        part = target.with_name(target.name + ".part")
        hint = (
            f"{self.offline_hint}; to work offline, download {full} elsewhere and place it "
            f"at {Path(place_at) if place_at is not None else target}"
        )
        with self._dest_lock(target):
            self._with_retries(
                full, lambda: self._download_once(url, full, part, params, progress), hint
            )
            if sha256 is not None:
                actual = _sha256(part)
                if actual.lower() != sha256.strip().lower():
                    part.unlink(missing_ok=True)
                    raise ChecksumError(
                        f"{short_url(full)} downloaded with SHA-256 {actual}, expected {sha256}; "
                        f"{target} was not written",
                        source=full,
                        hint="the file on the server may have changed or the transfer was "
                        f"corrupted; retry, or download it elsewhere and place it at {target}",
                    )
            os.replace(part, target)
        return target

    def _download_once(
        self,
        url: str,
        full: str,
        part: Path,
        params: dict[str, Any] | None,
        progress: bool | None,
    ) -> None:
        """One attempt: continue ``part`` from its current size up to the end.

        A ``.part`` the server cannot continue (416 with another size, a range
        starting elsewhere) is discarded and the file fetched again from byte 0
        within the same attempt.
        """
        for _ in range(2):
            if self._stream_into(url, full, part, params, progress):
                return
        raise _TransientError("the server keeps refusing to resume the download")

    def _stream_into(
        self,
        url: str,
        full: str,
        part: Path,
        params: dict[str, Any] | None,
        progress: bool | None,
    ) -> bool:
        """Stream the rest of the file into ``part``; False means "restart from zero"."""
        offset = part.stat().st_size if part.exists() else 0
        # ranges count bytes of the stored file, so ask for it without transfer encoding
        headers = {"Accept-Encoding": "identity"}
        if offset:
            headers["Range"] = f"bytes={offset}-"
        try:
            with (
                self._semaphore,
                self._client.stream("GET", url, params=params, headers=headers) as response,
            ):
                if response.status_code == 416 and offset:
                    if _range_total(response.headers.get("Content-Range")) == offset:
                        return True  # the part already holds the whole file
                    part.unlink(missing_ok=True)
                    return False
                self._check_status(full, response)
                if response.status_code == 206:
                    if _range_start(response.headers.get("Content-Range")) != offset:
                        part.unlink(missing_ok=True)
                        return False
                    mode, done = "ab", offset
                else:
                    # a plain 200 answer carries the whole file: start over
                    mode, done = "wb", 0
                length = response.headers.get("Content-Length", "")
                expected = int(length) if length.isdigit() else None
                total = done + expected if expected is not None else None
                with (
                    open(part, mode) as handle,
                    _progress_bar(full, total, done, progress) as advance,
                ):
                    # no chunk size: a chunker would hold back bytes lost if the line drops
                    for chunk in response.iter_bytes():
                        handle.write(chunk)
                        advance(len(chunk))
                    handle.flush()
                    os.fsync(handle.fileno())
                received = response.num_bytes_downloaded
        except httpx.TransportError as exc:
            raise _transient(exc, full) from exc
        if expected is not None and received != expected:
            raise _TransientError(f"the answer ended after {done + received} of {total} bytes")
        return True

    # -- concurrency --------------------------------------------------------------------------

    def map(self, fn: Callable[[T], R], items: Iterable[T]) -> list[R | BaseException]:
        """Apply ``fn`` to every item in a pool of ``max_concurrency`` threads.

        Parameters
        ----------
        fn : callable
            Usually a function making requests through this client.
        items : iterable
            The inputs.

        Returns
        -------
        list
            One entry per item, in order: the result, or the exception ``fn`` raised
            (one failure does not lose the other results).
        """
        items = list(items)
        if not items:
            return []
        out: list[R | BaseException] = []
        with ThreadPoolExecutor(max_workers=min(self.max_concurrency, len(items))) as pool:
            futures = [pool.submit(fn, item) for item in items]
            for future in futures:
                try:
                    out.append(future.result())
                except Exception as exc:
                    out.append(exc)
        return out


def _range_start(content_range: str | None) -> int | None:
    match = re.match(r"\s*bytes\s+(\d+)-\d+/(?:\d+|\*)", content_range or "")
    return int(match.group(1)) if match else None


def _range_total(content_range: str | None) -> int | None:
    match = re.match(r"\s*bytes\s+(?:\*|\d+-\d+)/(\d+)", content_range or "")
    return int(match.group(1)) if match else None


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(_CHUNK), b""):
            digest.update(block)
    return digest.hexdigest()


@contextlib.contextmanager
def _progress_bar(
    url: str, total: int | None, done: int, progress: bool | None
) -> Iterator[Callable[[int], None]]:
    """Yield an ``advance(n)`` callback, drawing a rich bar on stderr when wanted."""
    if progress is None:
        progress = bool(total and total > PROGRESS_THRESHOLD and _isatty(sys.stderr))
    if not progress:
        yield lambda n: None
        return
    # heavy: rich's progress machinery costs ~50 ms; only long downloads on a terminal draw
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        DownloadColumn,
        Progress,
        TextColumn,
        TimeRemainingColumn,
        TransferSpeedColumn,
    )

    name = PurePosixPath(urlsplit(url).path).name or url
    bar = Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        DownloadColumn(),
        TransferSpeedColumn(),
        TimeRemainingColumn(),
        console=Console(stderr=True),
        transient=True,
    )
    with bar:
        task = bar.add_task(name, total=total, completed=done)
        yield lambda n: bar.advance(task, n)


def _isatty(stream: IO[Any]) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


# -- module-level convenience -----------------------------------------------------------------

_default_client: HttpClient | None = None
_default_lock = threading.Lock()


def default_client() -> HttpClient:
    """The shared client used by :func:`download` (created on first use)."""
    global _default_client
    with _default_lock:
        if _default_client is None:
            _default_client = HttpClient()
        return _default_client


def url_suffix(url: str) -> str:
    """The file suffix of a URL's path (``.nii.gz``, ``.json``...), or ``""``."""
    return cache.name_suffix(PurePosixPath(urlsplit(url).path).name)


def download(
    url: str, dest: str | os.PathLike[str] | None = None, *, sha256: str | None = None
) -> Path:
    """Download ``url`` once, into the cache unless ``dest`` is given.

    Parameters
    ----------
    url : str
        An absolute http(s) URL.
    dest : path-like, optional
        Defaults to ``<cache>/downloads/<hash of url><suffix>``.
    sha256 : str, optional
        The expected hex digest of the file.

    Returns
    -------
    pathlib.Path
        The local file; returned at once when it already exists.
    """
    target = (
        Path(dest)
        if dest is not None
        else cache.cache_path("downloads", cache.cache_key(url), url_suffix(url))
    )
    if target.exists():
        cache.touch(target)
        return target
    path = default_client().download(url, target, sha256=sha256)
    if dest is None:
        cache.evict()  # keep the cache under its cap, least recently used out first
    return path
