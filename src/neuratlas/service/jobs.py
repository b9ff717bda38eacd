"""Long jobs (download bundles) run on Dask, with task ids that stay valid.

:func:`submit` starts ``fn(*args)`` through :mod:`neuratlas.parallel` and returns a
task id (a UUID); :func:`status` and :func:`result` answer for it. Each job has a
small JSON record in the neuratlas cache (``cache_path("jobs", task_id, ".json")``,
written atomically), so any server worker process that shares the cache answers
for a task id, whichever process started the job; records and results stay until
the cache's LRU cap evicts them (not for a fixed minute, as siibra-api's did).

A record moves ``pending`` (submitted) → ``running`` (a worker started it; written
by the worker) → ``finished`` (with the result's path) or ``failed`` (with a
message and a hint). A job whose starting process has stopped (same host, process
gone) is reported failed rather than pending for ever; so is a finished job whose
result file was evicted.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import threading
import time
import uuid
from collections.abc import Callable
from concurrent.futures import CancelledError
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from neuratlas import parallel
from neuratlas.errors import DataUnavailableError, NotFoundError
from neuratlas.retrieval.cache import atomic_write, cache_key, cache_path, touch

if TYPE_CHECKING:
    from distributed import Future

log = logging.getLogger(__name__)

#: The cache area that holds the job records.
JOBS_AREA = "jobs"
Status = Literal["pending", "running", "finished", "failed"]

# Dask cancels a task nobody holds a future of: hold each until its end is recorded,
# with an event that tells :func:`wait` so
_running: dict[str, tuple[Future, threading.Event]] = {}
_running_lock = threading.Lock()
_HOST = socket.gethostname()


def _record_path(task_id: str) -> Path:
    return cache_path(JOBS_AREA, task_id, ".json")


def _unknown(task_id: str) -> NotFoundError:
    return NotFoundError(
        f"no download task {task_id!r}",
        hint="task ids come from /atlas_download?async=true and last until their result "
        "is evicted from the cache; request the download again",
    )


def _checked_id(task_id: str) -> str:
    """The task id if it is a UUID as :func:`submit` makes them (never a path)."""
    try:
        valid = str(uuid.UUID(task_id)) == task_id
    except (ValueError, TypeError, AttributeError):
        valid = False
    if not valid:
        raise _unknown(task_id)
    return task_id


def _read(task_id: str) -> dict[str, Any] | None:
    try:
        return json.loads(_record_path(task_id).read_text())
    except (OSError, ValueError):
        return None  # missing, evicted, or unreadable: as good as unknown


def _write(record: dict[str, Any]) -> None:
    record["updated"] = time.time()
    with atomic_write(_record_path(record["task_id"]), "w") as handle:
        json.dump(record, handle)


def _update(task_id: str, **changes: Any) -> None:
    # the writers of one record are ordered (submit, then the worker, then the
    # callback), so reading, changing and writing back loses nothing
    record = _read(task_id)
    if record is None:
        return  # evicted meanwhile: nobody can ask for it any more
    record.update(changes)
    _write(record)


def submit(
    kind: str,
    fn: Callable[..., str | os.PathLike[str]],
    *args: Any,
    request_key: str | None = None,
) -> str:
    """Start ``fn(*args)`` on the Dask workers as a job; return its task id at once.

    Parameters
    ----------
    kind : str
        What the job makes (e.g. ``"download"``); kept in its record.
    fn : callable
        A function (picklable: defined at module level) that returns the path of
        the file it made, in the neuratlas cache so that the cache cap bounds it.
    *args
        Its arguments.
    request_key : str, optional
        Names what is asked for. A job for the same key that is pending, running,
        or finished with its file still in the cache is answered instead of a new
        one: identical requests share one job and one task id.

    Returns
    -------
    str
        The task id, a UUID.

    Raises
    ------
    DataUnavailableError
        No Dask scheduler can be reached (see :func:`neuratlas.parallel.get_client`).
    """
    if request_key is None:
        return _start(kind, fn, *args)
    with _requests_lock:
        earlier = _job_for(request_key)
        if earlier is not None:
            return earlier
        task_id = _start(kind, fn, *args)
        with atomic_write(_request_path(request_key), "w") as handle:
            json.dump({"task_id": task_id}, handle)
        return task_id


_requests_lock = threading.Lock()


def _request_path(request_key: str) -> Path:
    return cache_path(JOBS_AREA, f"request-{cache_key(request_key)}", ".json")


def _job_for(request_key: str) -> str | None:
    """The task id of a live or reusable job for ``request_key``, if there is one."""
    try:
        task_id = json.loads(_request_path(request_key).read_text())["task_id"]
        record = _current(task_id)
    except (OSError, ValueError, KeyError, TypeError, NotFoundError):
        return None  # no job yet, or its record is gone or damaged: start one
    return task_id if record["status"] in ("pending", "running", "finished") else None


def _start(kind: str, fn: Callable[..., str | os.PathLike[str]], *args: Any) -> str:
    task_id = str(uuid.uuid4())
    _write(
        {
            "task_id": task_id,
            "kind": kind,
            "status": "pending",
            "created": time.time(),
            "owner": {"host": _HOST, "pid": os.getpid()},
        }
    )
    try:
        future = parallel.submit(_run, task_id, fn, *args)
    except Exception as exc:
        message, hint = parallel.describe_failure(exc)
        _update(task_id, status="failed", error={"message": message, "hint": hint})
        raise
    with _running_lock:
        _running[task_id] = (future, threading.Event())
    future.add_done_callback(lambda done: _finish(task_id, done))
    return task_id


def _run(task_id: str, fn: Callable[..., str | os.PathLike[str]], *args: Any) -> str:
    """Run one job on a worker: mark it running, then make its file."""
    _update(task_id, status="running")
    return os.fspath(fn(*args))


def _finish(task_id: str, future: Future) -> None:
    """Record how a job ended (called on the Dask client's thread)."""
    try:
        if future.status == "finished":
            _update(task_id, status="finished", result=future.result())
        else:
            exc = future.exception() if future.status == "error" else CancelledError()
            message, hint = parallel.describe_failure(exc)
            log.warning("job %s failed: %s", task_id, message)
            _update(task_id, status="failed", error={"message": message, "hint": hint})
    except Exception:
        # a callback's exception would vanish in Dask's thread: log it here
        log.exception("cannot record the end of job %s", task_id)
    finally:
        with _running_lock:
            _, done = _running.pop(task_id, (None, None))
        if done is not None:
            done.set()


def _owner_gone(record: dict[str, Any]) -> bool:
    """Whether the process that started an unfinished job has stopped (on this host)."""
    owner = record.get("owner") or {}
    if owner.get("host") != _HOST or not isinstance(owner.get("pid"), int):
        return False  # another machine's process: it cannot be checked from here
    try:
        os.kill(owner["pid"], 0)
    except ProcessLookupError:
        return True
    except OSError:
        return False  # exists, but belongs to someone else
    return False


def _current(task_id: str) -> dict[str, Any]:
    """The job's record, with what became of it since it was last written."""
    record = _read(_checked_id(task_id))
    if record is None:
        raise _unknown(task_id)
    touch(_record_path(task_id))
    status = record.get("status")
    if status in ("pending", "running") and _owner_gone(record):
        record["status"] = "failed"
        record["error"] = {
            "message": "the server process that ran the job stopped before it finished",
            "hint": "request the download again",
        }
    elif status == "finished" and not Path(record.get("result", "")).is_file():
        record["status"] = "failed"
        record["error"] = {
            "message": "the result of the job was evicted from the cache to keep it under "
            "its size cap",
            "hint": "request the download again; NEURATLAS_CACHE_MAX_GB sets the cap",
        }
    return record


def status(task_id: str) -> dict[str, Any]:
    """Say how a job is doing.

    Parameters
    ----------
    task_id : str
        An id from :func:`submit`.

    Returns
    -------
    dict
        ``{"task_id", "status"}``, the status one of ``pending``, ``running``,
        ``finished`` or ``failed``; a failed job also has ``"error": {message, hint}``.

    Raises
    ------
    NotFoundError
        No job has this id (never had, or its record was evicted).
    """
    record = _current(task_id)
    answer = {"task_id": task_id, "status": record["status"]}
    if record["status"] == "failed":
        answer["error"] = record.get("error") or {"message": "the job failed", "hint": None}
    return answer


def result(task_id: str) -> Path:
    """The file a finished job made (marked as just used, for the cache's LRU).

    Parameters
    ----------
    task_id : str
        An id from :func:`submit`.

    Returns
    -------
    pathlib.Path
        The result file.

    Raises
    ------
    NotFoundError
        No job has this id.
    DataUnavailableError
        The job has not finished, or failed (the message says why).
    """
    record = _current(task_id)
    if record["status"] == "finished":
        path = Path(record["result"])
        touch(path)
        return path
    if record["status"] == "failed":
        error = record.get("error") or {}
        raise DataUnavailableError(
            f"download task {task_id} failed: {error.get('message', 'no reason recorded')}",
            hint=error.get("hint"),
        )
    raise DataUnavailableError(
        f"download task {task_id} is {record['status']}, its file is not ready",
        hint=f"poll /atlas_download/{task_id} until its status is finished",
    )


def wait(task_id: str, timeout: float | None = None) -> bool:
    """Block until the end of a job started by this process is recorded.

    For scripts and tests; a job of another process, or one that is done already,
    returns at once.

    Returns
    -------
    bool
        False if ``timeout`` seconds passed first.
    """
    with _running_lock:
        _, done = _running.get(task_id, (None, None))
    return done is None or done.wait(timeout)
