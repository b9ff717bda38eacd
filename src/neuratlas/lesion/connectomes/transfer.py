"""Downloading a server's files into a folder: resumable, verified, never twice.

Every request goes through :class:`neuratlas.retrieval.http.HttpClient`
(retries with backoff, ``Range`` resume of a partial ``<file>.part``). What the
client cannot do, this module adds: the checks of
:mod:`~neuratlas.lesion.connectomes.integrity` after each download (MD5 and
others), and a small ledger (``.verified.json`` in the folder) of the files
already checked, so that a second run does not read hundreds of gigabytes
again to learn that nothing changed.
"""

from __future__ import annotations

import json
import re
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from neuratlas.errors import AuthenticationError, DataUnavailableError, DownloadError
from neuratlas.lesion.connectomes.integrity import check_file
from neuratlas.lesion.connectomes.progress import FetchProgress, ProgressCallback, report
from neuratlas.retrieval.cache import atomic_write
from neuratlas.retrieval.http import HttpClient

__all__ = [
    "CLIENT_OPTIONS",
    "LEDGER",
    "RemoteFile",
    "download_files",
    "http_status",
    "make_client",
    "refused",
    "safe_name",
]

#: Extra keyword arguments for every HttpClient made here (tests set ``backoff=0``).
CLIENT_OPTIONS: dict[str, Any] = {}
#: The file, in a download folder, recording which files have been verified.
LEDGER = ".verified.json"
# how long a connectome server may stay silent mid-file (they are slow, the files large)
_READ_TIMEOUT = 120.0


@dataclass(frozen=True)
class RemoteFile:
    """One file on a server: where to get it and what it should be."""

    #: File name in the download folder.
    name: str
    #: Absolute URL to GET.
    url: str
    #: Size in bytes, when the server says.
    size: int | None = None
    #: Hex digest, when the server says.
    checksum: str | None = None
    #: The digest's algorithm (``"md5"``, ``"sha256"``, ...).
    algorithm: str = "md5"


def make_client(headers: dict[str, str] | None = None) -> HttpClient:
    """An HttpClient for one server, sending ``headers`` (an API key) with every request."""
    options: dict[str, Any] = {"timeout": _READ_TIMEOUT, "max_concurrency": 2}
    options.update(CLIENT_OPTIONS)
    return HttpClient(headers=headers, **options)


def http_status(error: DataUnavailableError) -> int | None:
    """The HTTP status a failed request was answered with, if any.

    HttpClient's errors carry no status; their message says ``answered HTTP 403 ...``.
    """
    match = re.search(r"answered HTTP (\d{3})", error.message)
    return int(match.group(1)) if match else None


def refused(error: DataUnavailableError, server: str, env: str, where: str) -> DownloadError:
    """The error for a failed request: AuthenticationError on 401/403, else DownloadError.

    Parameters
    ----------
    error : DataUnavailableError
        What HttpClient raised.
    server : str
        The server's name for messages (``"Dataverse"``).
    env : str
        The environment variable that holds its API key.
    where : str
        Where the user gets a key.
    """
    status = http_status(error)
    if status in (401, 403):
        return AuthenticationError(
            f"{server} refused access ({error.message.split(': ', 1)[-1]})",
            source=error.source,
            hint=f"set a valid API key in {env} (or pass api_key=...); get one at {where}",
        )
    return DownloadError(error.message, source=error.source, hint=error.hint)


def safe_name(name: str, url: str) -> str:
    """``name`` if it is a plain file name; a server must not place files elsewhere.

    Raises
    ------
    DownloadError
        A name with a folder separator, ``..``, or nothing in it.
    """
    if not name or name in (".", "..") or "/" in name or "\\" in name or "\0" in name:
        raise DownloadError(
            f"the server at {url} lists a file named {name!r}, which is not a plain file name",
            source=url,
            hint="the listing is malformed or hostile; nothing was downloaded for it",
        )
    return name


# -- the ledger of verified files -----------------------------------------------------------------


def _read_ledger(folder: Path) -> dict[str, Any]:
    try:
        data = json.loads((folder / LEDGER).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _stamp(path: Path, remote: RemoteFile, verified: bool) -> dict[str, Any]:
    st = path.stat()
    return {
        "verified": verified,
        "size": st.st_size,
        "mtime_ns": st.st_mtime_ns,
        "checksum": remote.checksum,
        "url": remote.url,
    }


def _write_ledger(folder: Path, ledger: dict[str, Any]) -> None:
    with atomic_write(folder / LEDGER, "w") as handle:
        json.dump(ledger, handle, indent=1, sort_keys=True)


def _known_good(path: Path, remote: RemoteFile, ledger: dict[str, Any], verify: bool) -> bool:
    """True when ``path`` was verified against this same promise and has not changed since."""
    entry = ledger.get(remote.name)
    if not path.is_file() or not isinstance(entry, dict):
        return False
    st = path.stat()
    return (
        (entry.get("verified") is True or not verify)
        and entry.get("size") == st.st_size
        and entry.get("mtime_ns") == st.st_mtime_ns
        and entry.get("checksum") == remote.checksum
        and (remote.size is None or remote.size == st.st_size)
    )


# -- downloading ----------------------------------------------------------------------------------


def download_files(
    client: HttpClient,
    files: list[RemoteFile],
    folder: Path,
    *,
    verify: bool = True,
    recheck: bool = False,
    progress_callback: ProgressCallback | None = None,
    refusal: tuple[str, str, str] = ("the server", "the API key variable", "the server's site"),
    verbose: bool = False,
) -> list[Path]:
    """Download ``files`` into ``folder``, skipping those already there and verified.

    A file already present is checked (size, checksum, type) unless the ledger
    says it was checked before and has not changed; a file that fails is
    downloaded again. An interrupted download continues where it stopped.

    Parameters
    ----------
    client : HttpClient
        The client for the server (with its API key header).
    files : list of RemoteFile
        What to get.
    folder : Path
        Where the files go (created).
    verify : bool
        Check sizes and checksums (``False``: only the file types, for a server
        whose metadata is known to be out of date).
    recheck : bool
        Check files already present even when the ledger vouches for them.
    progress_callback : callable, optional
        Receives a :class:`FetchProgress` before and after each file.
    refusal : (server, env, where)
        How to word an AuthenticationError (see :func:`refused`).
    verbose : bool
        Print a line per file on stderr.

    Returns
    -------
    list of Path
        The files, in the order of ``files``.

    Raises
    ------
    AuthenticationError
        The server refused access (401/403).
    DownloadError
        A download failed after retries, or a file is not what was promised
        (the bad file is deleted, so the next run fetches it again).
    """
    folder.mkdir(parents=True, exist_ok=True)
    ledger = {} if recheck else _read_ledger(folder)
    out: list[Path] = []
    total = len(files)

    def step(name: str, done: int, transferred: int, size: int, message: str) -> None:
        event = FetchProgress("download", name, done, total, transferred, size, message)
        report(progress_callback, event)

    for index, remote in enumerate(files):
        target = folder / safe_name(remote.name, remote.url)
        expected = _Promise(remote, verify)
        if _known_good(target, remote, ledger, verify) or (
            target.is_file() and expected.holds(target)
        ):
            ledger[remote.name] = _stamp(target, remote, verify)
            _write_ledger(folder, ledger)
            out.append(target)
            size, name = target.stat().st_size, remote.name
            step(name, index + 1, size, remote.size or 0, f"already downloaded: {name}")
            continue
        part = target.with_name(target.name + ".part")
        resumed = part.stat().st_size if part.exists() else 0
        resuming = " (resuming)" if part.exists() else ""
        step(remote.name, index, resumed, remote.size or 0, f"downloading {remote.name}{resuming}")
        if verbose:
            print(f"downloading {remote.name} ({index + 1}/{total})", file=sys.stderr)
        target.unlink(missing_ok=True)  # a file that failed its checks
        try:
            client.download(remote.url, target, progress=False if progress_callback else None)
        except DataUnavailableError as exc:
            raise refused(exc, *refusal) from None
        try:
            expected.check(target)
        except DownloadError:
            target.unlink(missing_ok=True)
            raise
        ledger[remote.name] = _stamp(target, remote, verify)
        _write_ledger(folder, ledger)
        out.append(target)
        size = target.stat().st_size
        step(remote.name, index + 1, size, remote.size or size, f"downloaded {remote.name}")
    return out


@dataclass(frozen=True)
class _Promise:
    """What a downloaded file must be: the server's promise, fully or only its type."""

    remote: RemoteFile
    verify: bool

    def check(self, path: Path) -> None:
        if self.verify:
            check_file(
                path,
                url=self.remote.url,
                size=self.remote.size,
                checksum=self.remote.checksum,
                algorithm=self.remote.algorithm,
            )
        else:
            check_file(path, url=self.remote.url)

    def holds(self, path: Path) -> bool:
        try:
            self.check(path)
        except DownloadError:
            return False
        return True
