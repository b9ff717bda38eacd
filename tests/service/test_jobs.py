"""The job store: task ids, status from pending to finished or failed, results on disk."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from neuratlas import parallel
from neuratlas.errors import ArgumentError, DataUnavailableError, NotFoundError
from neuratlas.retrieval.cache import atomic_write, cache_path
from neuratlas.service import jobs

# the local cluster runs in this process, so jobs can wait on events of the test
_gate = threading.Event()


def make_file(text: str) -> Path:
    path = cache_path("test-jobs", uuid.uuid4().hex, ".txt")
    with atomic_write(path, "w") as handle:
        handle.write(text)
    return path


def make_file_when_let(text: str) -> Path:
    assert _gate.wait(30), "the test never opened the gate"
    return make_file(text)


def refuse() -> Path:
    raise ArgumentError("the region is not in this space", hint="pick another space")


@pytest.fixture(autouse=True, scope="module")
def _client() -> Iterator[None]:
    os.environ.pop(parallel.SCHEDULER_ENV, None)
    parallel.close()
    yield
    _gate.set()
    parallel.close()


def _wait_for(task_id: str, wanted: str) -> None:
    # polls the record, as a client of the service does; bounded, never a timing assert
    for _ in range(500):
        if jobs.status(task_id)["status"] == wanted:
            return
        time.sleep(0.01)
    raise AssertionError(f"{task_id} never became {wanted}: {jobs.status(task_id)}")


def test_a_job_finishes_with_its_file() -> None:
    task_id = jobs.submit("test", make_file, "hello")
    assert str(uuid.UUID(task_id)) == task_id
    assert jobs.wait(task_id, timeout=30)
    assert jobs.status(task_id) == {"task_id": task_id, "status": "finished"}
    path = jobs.result(task_id)
    assert path.read_text() == "hello"
    assert jobs.result(task_id) == path  # downloading does not end the result's life


def test_pending_then_running_then_finished() -> None:
    _gate.clear()
    try:
        # occupy every worker thread, so that one more job has to wait
        threads = sum(parallel.get_client().nthreads().values())
        blockers = [jobs.submit("test", make_file_when_let, "b") for _ in range(threads)]
        for blocker in blockers:
            _wait_for(blocker, "running")
        queued = jobs.submit("test", make_file_when_let, "queued")
        assert jobs.status(queued)["status"] == "pending"
        with pytest.raises(DataUnavailableError, match="pending"):
            jobs.result(queued)
    finally:
        _gate.set()
    for task_id in [*blockers, queued]:
        assert jobs.wait(task_id, timeout=30)
        assert jobs.status(task_id)["status"] == "finished"
    assert jobs.result(queued).read_text() == "queued"


def test_a_failing_job_reports_why() -> None:
    task_id = jobs.submit("test", refuse)
    assert jobs.wait(task_id, timeout=30)
    assert jobs.status(task_id) == {
        "task_id": task_id,
        "status": "failed",
        "error": {"message": "the region is not in this space", "hint": "pick another space"},
    }
    with pytest.raises(DataUnavailableError, match="not in this space"):
        jobs.result(task_id)


@pytest.mark.parametrize("task_id", [str(uuid.uuid4()), "../../etc/passwd", "", "NOT-A-UUID"])
def test_unknown_task_ids(task_id: str) -> None:
    with pytest.raises(NotFoundError, match="no download task") as info:
        jobs.status(task_id)
    assert "request the download again" in info.value.hint
    with pytest.raises(NotFoundError):
        jobs.result(task_id)


def test_the_record_is_what_answers(monkeypatch: pytest.MonkeyPatch) -> None:
    # another server worker process has none of this process's futures, only the cache
    task_id = jobs.submit("test", make_file, "shared")
    assert jobs.wait(task_id, timeout=30)
    monkeypatch.setattr(jobs, "_running", {})
    record = json.loads(cache_path("jobs", task_id, ".json").read_text())
    assert record["status"] == "finished"
    assert record["kind"] == "test"
    assert jobs.result(task_id).read_text() == "shared"


def test_an_evicted_result_is_reported() -> None:
    task_id = jobs.submit("test", make_file, "soon gone")
    assert jobs.wait(task_id, timeout=30)
    jobs.result(task_id).unlink()  # what evict() does to the least recently used
    answer = jobs.status(task_id)
    assert answer["status"] == "failed"
    assert "evicted" in answer["error"]["message"]
    with pytest.raises(DataUnavailableError, match="evicted"):
        jobs.result(task_id)


def test_a_job_of_a_stopped_process_is_failed_not_pending_for_ever() -> None:
    gone = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        check=True,
        capture_output=True,
        text=True,
    )
    task_id = str(uuid.uuid4())
    with atomic_write(cache_path("jobs", task_id, ".json"), "w") as handle:
        json.dump(
            {
                "task_id": task_id,
                "kind": "download",
                "status": "running",
                "owner": {"host": jobs._HOST, "pid": int(gone.stdout)},
            },
            handle,
        )
    answer = jobs.status(task_id)
    assert answer["status"] == "failed"
    assert "stopped" in answer["error"]["message"]


def test_no_scheduler_fails_the_submission(monkeypatch: pytest.MonkeyPatch) -> None:
    def unreachable(*args: object, **kwargs: object) -> None:
        raise DataUnavailableError("cannot reach the Dask scheduler at tcp://x:1")

    monkeypatch.setattr(parallel, "submit", unreachable)
    with pytest.raises(DataUnavailableError, match="tcp://x:1"):
        jobs.submit("test", make_file, "never")
