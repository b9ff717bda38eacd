"""Heavy work on Dask: one shared ``distributed.Client``, made on first use.

By default the client runs a ``LocalCluster`` inside this process: one worker with
one thread per CPU (``processes=False``). Measured on the 2-core reference machine,
threads start in 0.03 s against 0.5 s for two worker processes, a task's round
trip is the same (about 11 ms), and gzip/NumPy work (which releases the GIL) runs
as fast on two threads (0.78 s for eight 8 MB gzip jobs) as on two processes
(0.99 s); threads also share the catalogue's loaded maps, where every worker
process would load them again (and count against each server worker's memory).

Set ``NEURATLAS_DASK_SCHEDULER=tcp://host:port`` to send the work to an existing
Dask scheduler instead (its workers must see the same neuratlas cache folder).

A worker that dies while running a task (killed, out of memory) makes the
scheduler run the task once more elsewhere; a second death fails the task with
``distributed.KilledWorker``. The local cluster is set up that way here
(``distributed.scheduler.allowed-failures = 1``); a remote scheduler uses its own
setting. :func:`describe_failure` turns any failure into a message and a hint.
"""

from __future__ import annotations

import asyncio
import copy
import os
import threading
import time
from collections.abc import Callable
from concurrent.futures import CancelledError
from typing import TYPE_CHECKING, Any

from neuratlas.errors import DataUnavailableError, Error

if TYPE_CHECKING:
    from distributed import Client, Future, LocalCluster

#: The environment variable that names a Dask scheduler to use instead of a local one.
SCHEDULER_ENV = "NEURATLAS_DASK_SCHEDULER"
#: Seconds to wait for a scheduler named by address before giving up.
CONNECT_TIMEOUT = 10.0
#: How often a task is run again after its worker died (the scheduler's allowed-failures).
WORKER_DEATH_RETRIES = 1

#: Free heap a worker process keeps rather than returning it to the system (glibc).
WORKER_TRIM_BYTES = 256 * 2**20
#: Allocations from this size up are mapped on their own; smaller ones come from the heap.
WORKER_MMAP_BYTES = 64 * 2**20

#: Seconds during which a scheduler that could not be reached is not tried again.
RECONNECT_AFTER = 30.0

_lock = threading.Lock()
_client: Client | None = None
_owner_pid: int | None = None
# (address, when, error) of the last failed connection
_failure: tuple[str | None, float, DataUnavailableError] | None = None


def local_cluster(
    *, processes: bool = False, n_workers: int = 1, threads_per_worker: int | None = None
) -> LocalCluster:
    """Start a Dask ``LocalCluster`` that retries a task once when its worker dies.

    Parameters
    ----------
    processes : bool
        Workers in separate processes (each with a nanny that restarts it) rather
        than threads of this process.
    n_workers : int
        Number of workers.
    threads_per_worker : int, optional
        Threads per worker; defaults to the CPU count divided among the workers.

    Returns
    -------
    distributed.LocalCluster
        The running cluster; close it (or pass it to a client that does).
    """
    # heavy: importing Dask takes 0.5-1 s, which a service answering catalogue
    # requests only should not pay at start-up
    import dask
    from distributed import LocalCluster

    threads = threads_per_worker or max(1, (os.cpu_count() or 1) // n_workers)
    settings: dict[str, object] = {"distributed.scheduler.allowed-failures": WORKER_DEATH_RETRIES}
    if processes:
        # Dask starts worker processes with MALLOC_TRIM_THRESHOLD_=64 KiB, which also turns
        # off glibc's adaptive mmap threshold: then every array over 128 KiB is a fresh
        # mmap, zero-filled page by page. A lesion batch allocates several 7 MB masks per
        # subject: measured 78 ms of CPU a subject in a worker against 45 ms in-process.
        # Arrays under 64 MiB from the heap, and 256 MiB of it kept, give back the 45 ms.
        settings["distributed.nanny.pre-spawn-environ.MALLOC_TRIM_THRESHOLD_"] = WORKER_TRIM_BYTES
        settings["distributed.nanny.pre-spawn-environ.MALLOC_MMAP_THRESHOLD_"] = WORKER_MMAP_BYTES
    with dask.config.set(settings):
        return LocalCluster(
            processes=processes,
            n_workers=n_workers,
            threads_per_worker=threads,
            # no dashboard; and the HTTP server every Dask scheduler runs (health and
            # metrics routes) on a free loopback port, not on 8787 of every interface:
            # the service must not open ports nobody asked for
            dashboard_address=None,
            scheduler_kwargs={"dashboard_address": "127.0.0.1:0"},
        )


def connect(address: str | None = None, *, timeout: float = CONNECT_TIMEOUT) -> Client:
    """Make a new Dask client: to the scheduler at ``address``, or on a local cluster.

    Parameters
    ----------
    address : str, optional
        A scheduler address such as ``tcp://10.0.0.5:8786``; None starts a
        :func:`local_cluster` in this process.
    timeout : float
        Seconds to wait for the scheduler at ``address``.

    Returns
    -------
    distributed.Client
        A new client; :func:`get_client` holds the shared one.

    Raises
    ------
    DataUnavailableError
        The address is malformed, or no scheduler answers there in time.
    """
    # heavy: see local_cluster
    from distributed import Client

    if address is None:
        return Client(local_cluster(), set_as_default=False)
    try:
        return Client(address, timeout=timeout, set_as_default=False)
    except (OSError, TimeoutError, ValueError) as exc:
        raise DataUnavailableError(
            f"cannot reach the Dask scheduler at {address}: {exc}",
            source=address,
            hint=f"start a scheduler there (dask scheduler), fix {SCHEDULER_ENV} "
            "(e.g. tcp://host:8786), or unset it to run the work in this process",
        ) from None


def get_client() -> Client:
    """Return the shared Dask client, making it on first use.

    The scheduler is ``$NEURATLAS_DASK_SCHEDULER`` when set, else a local cluster
    in this process. A process forked after the client was made gets its own. A
    scheduler that could not be reached is tried again after :data:`RECONNECT_AFTER`
    seconds; until then the same error is raised at once.

    Raises
    ------
    DataUnavailableError
        ``$NEURATLAS_DASK_SCHEDULER`` names a scheduler that cannot be reached.
    """
    global _client, _owner_pid, _failure
    with _lock:
        # a forked child inherits the object but not the threads that run it
        if _client is None or _owner_pid != os.getpid():
            address = os.environ.get(SCHEDULER_ENV) or None
            # a scheduler that just failed to answer fails again at once, rather than
            # making every request wait CONNECT_TIMEOUT for the same answer
            if (
                _failure is not None
                and _failure[0] == address
                and time.monotonic() - _failure[1] < RECONNECT_AFTER
            ):
                # a copy: raising one object again and again would pile up its traceback
                raise copy.copy(_failure[2]).with_traceback(None)
            try:
                _client = connect(address, timeout=CONNECT_TIMEOUT)
            except DataUnavailableError as exc:
                _failure = (address, time.monotonic(), exc)
                raise
            _failure = None
            _owner_pid = os.getpid()
        return _client


def submit(
    fn: Callable[..., Any], *args: Any, retries: int = 1, key: str | None = None, **kwargs: Any
) -> Future:
    """Run ``fn(*args, **kwargs)`` on the shared client's workers.

    Parameters
    ----------
    fn : callable
        A function that can be pickled (defined at module level).
    *args, **kwargs
        Its arguments.
    retries : int
        How often a task that raises is run again. A task whose worker dies is
        run again once by the scheduler (see the module notes), whatever this says.
    key : str, optional
        A name for the task. While a task of that name is held by anyone, a new
        submission with the same name is that task: identical requests share one run.
        Without a key, each call is a task of its own.

    Returns
    -------
    distributed.Future
        Keep a reference until it is done: Dask cancels work nobody holds.
    """
    if key is not None:
        return get_client().submit(fn, *args, retries=retries, key=key, **kwargs)
    # pure=False: two identical calls are two jobs, so a failed one is never reused
    return get_client().submit(fn, *args, retries=retries, pure=False, **kwargs)


async def run(
    fn: Callable[..., Any], *args: Any, retries: int = 1, key: str | None = None, **kwargs: Any
) -> Any:
    """Run ``fn(*args, **kwargs)`` on the workers and await its result.

    For code on an event loop: waiting takes no thread and does not block the loop.
    ``retries`` and ``key`` are those of :func:`submit`.

    Raises
    ------
    Exception
        Whatever ``fn`` raised (after its retries), ``distributed.KilledWorker``
        when its worker died twice, or the DataUnavailableError of :func:`get_client`.
    """
    loop = asyncio.get_running_loop()
    waiter: asyncio.Future[Any] = loop.create_future()
    future = submit(fn, *args, retries=retries, key=key, **kwargs)

    def settle(done: Future) -> None:
        # called on the Dask client's thread: hand the outcome over to the loop
        loop.call_soon_threadsafe(_settle, waiter, done)

    future.add_done_callback(settle)
    return await waiter


def _settle(waiter: asyncio.Future[Any], done: Future) -> None:
    if waiter.cancelled():
        return
    if done.status == "finished":
        waiter.set_result(done.result())
    elif done.status == "cancelled":
        waiter.set_exception(CancelledError(done.key))
    else:
        waiter.set_exception(done.exception())


def describe_failure(exc: BaseException) -> tuple[str, str | None]:
    """Say why a task failed, and what to do, in words a user can act on.

    Parameters
    ----------
    exc : BaseException
        The exception of a failed future.

    Returns
    -------
    tuple of (str, str or None)
        The message and the hint.
    """
    if isinstance(exc, Error):
        return exc.message, exc.hint
    # heavy: see local_cluster; a failed task means Dask is loaded already
    from distributed import KilledWorker

    if isinstance(exc, KilledWorker):
        # its str() names the dead worker, which says nothing to a user of the service
        attempts = getattr(exc, "allowed_failures", WORKER_DEATH_RETRIES) + 1
        return (
            f"the worker running the job died, {attempts} times (killed, or out of memory)",
            "the job may need more memory than a worker has; the Dask worker logs say more",
        )
    if isinstance(exc, CancelledError | asyncio.CancelledError):
        return (
            "the job was cancelled: the Dask client closed or lost its scheduler",
            "submit the job again",
        )
    return f"{type(exc).__name__}: {exc}", None


def close() -> None:
    """Close the shared client and its local cluster (the next use makes new ones)."""
    global _client, _owner_pid, _failure
    with _lock:
        client, _client, _owner_pid, _failure = _client, None, None, None
    if client is None:
        return
    cluster = client.cluster
    client.close()
    if cluster is not None:
        cluster.close()
