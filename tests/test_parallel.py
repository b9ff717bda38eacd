"""The shared Dask client: local cluster, scheduler by address, retries, dead workers."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from distributed import KilledWorker, LocalCluster

from neuratlas import parallel
from neuratlas.errors import ArgumentError, DataUnavailableError


# the task functions live at module level: Dask pickles them by reference
def add(a: int, b: int = 0) -> int:
    return a + b


def fail_once(marker: str) -> str:
    """Raise the first time (leaving a marker file), succeed afterwards."""
    if not os.path.exists(marker):
        Path(marker).touch()
        raise ArgumentError("first attempt fails", hint="try again")
    return "second attempt"


def always_fail() -> None:
    raise ArgumentError("the region is not in this space", hint="pick another space")


def die_once(marker: str) -> int:
    """Kill the worker process running this the first time; return the worker's pid after."""
    if not os.path.exists(marker):
        Path(marker).write_text(str(os.getpid()))
        os.kill(os.getpid(), signal.SIGKILL)
    return os.getpid()


def always_die() -> None:
    os.kill(os.getpid(), signal.SIGKILL)


def count_then_wait(counter: str, gate: str) -> int:
    """Append a line to ``counter``, then wait for ``gate`` to exist; the line count."""
    with open(counter, "a") as handle:
        handle.write("run\n")
    while not os.path.exists(gate):
        time.sleep(0.01)
    return len(Path(counter).read_text().splitlines())


@pytest.fixture(autouse=True)
def _fresh_client(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.delenv(parallel.SCHEDULER_ENV, raising=False)
    parallel.close()
    yield
    parallel.close()


def test_local_cluster_runs_in_process() -> None:
    client = parallel.get_client()
    assert client is parallel.get_client()  # shared
    assert parallel.submit(add, 2, b=3).result() == 5
    info = client.scheduler_info()
    assert info["address"].startswith("inproc://")
    assert sum(w["nthreads"] for w in info["workers"].values()) == max(1, os.cpu_count() or 1)


def test_the_local_cluster_opens_no_port_beyond_loopback() -> None:
    scheduler = parallel.get_client().cluster.scheduler
    # Dask's scheduler always runs an HTTP server (health, metrics): loopback only
    assert scheduler.http_server.address == "127.0.0.1"
    assert scheduler.address.startswith("inproc://")


def test_close_makes_a_new_client_on_next_use() -> None:
    first = parallel.get_client()
    parallel.close()
    assert first.status == "closed"
    assert parallel.get_client() is not first
    assert parallel.submit(add, 1).result() == 1


def test_run_awaits_without_blocking_the_loop() -> None:
    async def both() -> list[int]:
        return list(await asyncio.gather(parallel.run(add, 1, 2), parallel.run(add, 3)))

    assert asyncio.run(both()) == [3, 3]


def test_run_raises_what_the_task_raised() -> None:
    with pytest.raises(ArgumentError, match="not in this space"):
        asyncio.run(parallel.run(always_fail, retries=0))


def test_identical_keyed_tasks_share_one_run(tmp_path: Path) -> None:
    counter, gate = str(tmp_path / "runs"), str(tmp_path / "gate")

    async def three() -> list[int]:
        keyed = [parallel.run(count_then_wait, counter, gate, key="same-request") for _ in "ab"]
        other = parallel.run(count_then_wait, counter, gate, key="another-request")
        waiting = asyncio.gather(*keyed, other)
        await asyncio.sleep(0.5)  # all three submitted while the first ones wait
        Path(gate).touch()
        return list(await waiting)

    results = asyncio.run(three())
    assert results[0] == results[1]  # one run answered both
    assert len(Path(counter).read_text().splitlines()) == 2  # the shared run and the other


def test_unkeyed_identical_calls_run_each(tmp_path: Path) -> None:
    counter, gate = str(tmp_path / "runs"), str(tmp_path / "gate")
    Path(gate).touch()
    first = parallel.submit(count_then_wait, counter, gate).result()
    second = parallel.submit(count_then_wait, counter, gate).result()
    assert (first, second) == (1, 2)


def test_a_raising_task_is_retried_once(tmp_path: Path) -> None:
    assert parallel.submit(fail_once, str(tmp_path / "m")).result() == "second attempt"


def test_a_task_that_keeps_raising_fails_with_its_reason() -> None:
    future = parallel.submit(always_fail)
    with pytest.raises(ArgumentError):
        future.result()
    assert parallel.describe_failure(future.exception()) == (
        "the region is not in this space",
        "pick another space",
    )


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_unreachable_scheduler_names_the_address(monkeypatch: pytest.MonkeyPatch) -> None:
    address = f"tcp://127.0.0.1:{_free_port()}"
    monkeypatch.setenv(parallel.SCHEDULER_ENV, address)
    monkeypatch.setattr(parallel, "CONNECT_TIMEOUT", 0.5)
    with pytest.raises(DataUnavailableError, match=re.escape(address)) as info:
        parallel.get_client()
    assert info.value.source == address
    assert parallel.SCHEDULER_ENV in info.value.hint


def test_an_unreachable_scheduler_fails_fast_until_it_is_tried_again(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    address = f"tcp://127.0.0.1:{_free_port()}"
    monkeypatch.setenv(parallel.SCHEDULER_ENV, address)
    monkeypatch.setattr(parallel, "CONNECT_TIMEOUT", 0.5)
    tries = []
    real_connect = parallel.connect

    def counting_connect(*args, **kwargs):
        tries.append(args)
        return real_connect(*args, **kwargs)

    monkeypatch.setattr(parallel, "connect", counting_connect)
    for _ in range(3):
        with pytest.raises(DataUnavailableError, match=re.escape(address)):
            parallel.get_client()
    assert len(tries) == 1  # the second and third answer without waiting again
    monkeypatch.setattr(parallel, "RECONNECT_AFTER", 0.0)
    with pytest.raises(DataUnavailableError):
        parallel.get_client()
    assert len(tries) == 2
    # another scheduler (here: the local cluster) is not held back by the failure
    monkeypatch.delenv(parallel.SCHEDULER_ENV)
    monkeypatch.setattr(parallel, "RECONNECT_AFTER", 30.0)
    assert parallel.submit(add, 1, b=1).result() == 2


def test_malformed_scheduler_address(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(parallel.SCHEDULER_ENV, "bogus::x")
    with pytest.raises(DataUnavailableError, match="bogus::x"):
        parallel.get_client()


def test_describe_failure_of_other_errors() -> None:
    assert parallel.describe_failure(KeyError("x")) == ("KeyError: 'x'", None)
    message, hint = parallel.describe_failure(KilledWorker("task-1", None, 1))
    assert "died, 2 times" in message
    assert "memory" in hint


@pytest.fixture(scope="module")
def process_cluster() -> Iterator[LocalCluster]:
    # worker processes with nannies, only here: a killed thread worker would kill pytest
    cluster = parallel.local_cluster(processes=True, n_workers=2, threads_per_worker=1)
    yield cluster
    cluster.close()


def test_killed_worker_is_retried_once_then_fails_and_client_keeps_answering(
    process_cluster: LocalCluster, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # reached by address, the way a remote scheduler is
    monkeypatch.setenv(parallel.SCHEDULER_ENV, process_cluster.scheduler_address)
    client = parallel.get_client()
    assert client.cluster is None

    # the first attempt kills its worker; the scheduler runs the task once more
    survivor = parallel.submit(die_once, str(tmp_path / "m"), retries=0).result(timeout=60)
    assert survivor != int((tmp_path / "m").read_text())  # ran again in another process

    # a task that kills every worker it runs on fails after the second death
    future = parallel.submit(always_die, retries=0)
    with pytest.raises(KilledWorker):
        future.result(timeout=60)
    message, _ = parallel.describe_failure(future.exception())
    assert "died, 2 times" in message

    # the client and cluster keep answering (nannies restart the workers)
    assert parallel.submit(add, 20, 22).result(timeout=60) == 42


def test_importing_the_job_machinery_does_not_load_dask() -> None:
    # Dask costs 0.5-1 s to import: the service must start without paying it
    code = (
        "import sys, neuratlas.parallel, neuratlas.service.jobs\n"
        "assert 'distributed' not in sys.modules and 'dask' not in sys.modules\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
