"""Asynchronous downloads over HTTP: submit, status, the zip, and every kind of bad request."""

from __future__ import annotations

import gzip
import io
import os
import threading
import uuid
import zipfile
from collections.abc import Iterator
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

import neuratlas
from neuratlas import parallel
from neuratlas.errors import AmbiguousError, NotFoundError
from neuratlas.retrieval.cache import atomic_write, cache_dir, cache_path
from neuratlas.service import bundle, http_errors, jobs, jobs_routes
from neuratlas.service.jobs_routes import submit_download

SPACE = "MNI152 NLin6 asym"
# the local cluster runs in this process: a fake build can wait for the test
_gate = threading.Event()
_builds: list[tuple] = []


def fake_build(
    space_id: str, parcellation_id: str, region_id: str | None, feature_id: str | None
) -> Path:
    """Stands in for build_bundle: a small zip naming its request."""
    assert _gate.wait(30), "the test never opened the gate"
    _builds.append((space_id, parcellation_id, region_id, feature_id))
    path = cache_path("test-bundles", uuid.uuid4().hex, ".zip")
    with atomic_write(path) as handle, zipfile.ZipFile(handle, "w") as archive:
        archive.writestr("README.md", f"{space_id} {parcellation_id} {region_id}")
    return path


def failing_build(*args: object) -> Path:
    raise NotFoundError("no template for this space", hint="pick another space")


@pytest.fixture(scope="module", autouse=True)
def _client() -> Iterator[None]:
    os.environ.pop(parallel.SCHEDULER_ENV, None)
    parallel.close()
    yield
    _gate.set()
    parallel.close()


@pytest.fixture(autouse=True)
def _own_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # identical requests share a job: each test starts with no jobs at all
    monkeypatch.setenv("NEURATLAS_CACHE", str(tmp_path / "cache"))


@pytest.fixture
def http() -> TestClient:
    # a small app with the service's error bodies and just this router
    app = FastAPI()
    http_errors.install(app)
    app.include_router(jobs_routes.router)
    return TestClient(app)


@pytest.fixture
def fake(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setattr(bundle, "build_bundle", fake_build)
    _gate.set()
    _builds.clear()
    yield
    _gate.set()


def _status(http: TestClient, task_id: str) -> dict:
    answer = http.get(f"/v3_0/atlas_download/{task_id}")
    assert answer.status_code == 200, answer.text
    return answer.json()


def _job_records() -> set[str]:
    return {p.name for p in cache_dir("jobs").iterdir()}


def test_submit_status_download(http: TestClient, fake: None) -> None:
    submitted = submit_download(SPACE, "aal3", "precentral left")
    task_id = submitted["task_id"]
    assert submitted["status"] in ("pending", "running", "finished")
    assert jobs.wait(task_id, timeout=30)
    assert _status(http, task_id) == {"task_id": task_id, "status": "finished"}
    # the job gets the ids as the user wrote them
    assert _builds == [(SPACE, "aal3", "precentral left", None)]

    answer = http.get(f"/v3_0/atlas_download/{task_id}/download")
    assert answer.status_code == 200
    assert answer.headers["content-type"] == "application/zip"
    assert f"atlas-download-{task_id}.zip" in answer.headers["content-disposition"]
    assert answer.content == jobs.result(task_id).read_bytes()
    etag = answer.headers["etag"]
    assert "max-age" in answer.headers["cache-control"]
    again = http.get(f"/v3_0/atlas_download/{task_id}/download", headers={"If-None-Match": etag})
    assert again.status_code == 304
    assert again.content == b""
    # a downloaded result stays until the cache cap evicts it
    assert http.get(f"/v3_0/atlas_download/{task_id}/download").status_code == 200


def test_status_has_an_etag_but_is_revalidated(http: TestClient, fake: None) -> None:
    task_id = submit_download(SPACE, "aal3")["task_id"]
    assert jobs.wait(task_id, timeout=30)
    answer = http.get(f"/v3_0/atlas_download/{task_id}")
    assert answer.headers["cache-control"] == "no-cache"
    unchanged = http.get(
        f"/v3_0/atlas_download/{task_id}", headers={"If-None-Match": answer.headers["etag"]}
    )
    assert unchanged.status_code == 304


def test_download_before_the_end_is_a_conflict(http: TestClient, fake: None) -> None:
    _gate.clear()
    try:
        task_id = submit_download(SPACE, "aal3")["task_id"]
        assert _status(http, task_id)["status"] in ("pending", "running")
        answer = http.get(f"/v3_0/atlas_download/{task_id}/download")
    finally:
        _gate.set()
    assert answer.status_code == 409
    body = answer.json()
    assert body["error"] == "Conflict"
    assert body["status_code"] == 409
    assert task_id in body["message"]
    assert "poll" in body["hint"]
    assert answer.headers["cache-control"] == "no-store"
    assert jobs.wait(task_id, timeout=30)


def test_a_failed_job_says_why(http: TestClient, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(bundle, "build_bundle", failing_build)
    task_id = submit_download(SPACE, "aal3")["task_id"]
    assert jobs.wait(task_id, timeout=30)
    status = _status(http, task_id)
    assert status["status"] == "failed"
    assert status["error"] == {
        "message": "no template for this space",
        "hint": "pick another space",
    }
    answer = http.get(f"/v3_0/atlas_download/{task_id}/download")
    assert answer.status_code == 409
    assert "failed: no template for this space" in answer.json()["message"]
    assert answer.json()["hint"] == "pick another space"


@pytest.mark.parametrize("suffix", ["", "/download"])
@pytest.mark.parametrize("task_id", [str(uuid.uuid4()), "not-a-task", "%2E%2E"])
def test_unknown_task_id_is_404(http: TestClient, task_id: str, suffix: str) -> None:
    answer = http.get(f"/v3_0/atlas_download/{task_id}{suffix}")
    assert answer.status_code == 404
    body = answer.json()
    assert body["error"] == "NotFoundError"
    assert body["status_code"] == 404
    assert "no download task" in body["message"]


@pytest.mark.parametrize("task_id", ["..", "..%2F..%2Fetc%2Fpasswd", "a%2Fb"])
def test_path_like_task_ids_reach_no_file(http: TestClient, task_id: str) -> None:
    # the router never sees them, or rejects them as ids: 404 either way, never a file
    for suffix in ("", "/download"):
        answer = http.get(f"/v3_0/atlas_download/{task_id}{suffix}")
        assert answer.status_code == 404
        assert answer.json()["status_code"] == 404


@pytest.mark.parametrize(
    ("args", "error"),
    [
        (("no such space", "aal3"), NotFoundError),
        ((SPACE, "no such parcellation"), NotFoundError),
        ((SPACE, "aal3", "no such region"), NotFoundError),
        ((SPACE, "harvard"), AmbiguousError),
    ],
)
def test_bad_ids_fail_at_once_without_a_job(args: tuple, error: type, fake: None) -> None:
    before = _job_records()
    with pytest.raises(error):
        submit_download(*args)
    assert _job_records() == before
    assert _builds == []


def test_a_real_bundle_end_to_end(http: TestClient) -> None:
    task_id = submit_download(SPACE, "aal3")["task_id"]
    assert jobs.wait(task_id, timeout=60)
    assert _status(http, task_id)["status"] == "finished"
    answer = http.get(f"/v3_0/atlas_download/{task_id}/download")
    assert answer.status_code == 200
    archive = zipfile.ZipFile(io.BytesIO(answer.content))
    assert archive.testzip() is None
    parc = neuratlas.get_parcellation("aal3")
    names = set(archive.namelist())
    assert {"README.md", "LICENCE.txt", f"{parc.key}.nii.gz"} <= names
    got = nib.Nifti1Image.from_bytes(gzip.decompress(archive.read(f"{parc.key}.nii.gz")))
    expected = neuratlas.get_map("aal3", SPACE, "labelled").fetch()
    np.testing.assert_array_equal(np.asanyarray(got.dataobj), np.asanyarray(expected.dataobj))


def test_identical_requests_share_one_job(http: TestClient, fake: None) -> None:
    _gate.clear()
    try:
        first = submit_download(SPACE, "aal3", "precentral left")["task_id"]
        # the same objects through other names: the same job
        again = submit_download(SPACE.lower(), "AAL3", "Precentral LEFT")["task_id"]
        other = submit_download(SPACE, "aal3", "precentral right")["task_id"]
    finally:
        _gate.set()
    assert again == first != other
    assert jobs.wait(first, timeout=30) and jobs.wait(other, timeout=30)
    assert len(_builds) == 2
    # finished with its file in the cache: still the same job
    assert submit_download(SPACE, "aal3", "precentral left")["task_id"] == first
    assert len(_builds) == 2


def test_a_request_after_a_failure_or_an_eviction_starts_a_new_job(
    http: TestClient, fake: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    with monkeypatch.context() as failing:
        failing.setattr(bundle, "build_bundle", failing_build)
        failed = submit_download(SPACE, "aal3")["task_id"]
        assert jobs.wait(failed, timeout=30)
    assert _status(http, failed)["status"] == "failed"
    retried = submit_download(SPACE, "aal3")["task_id"]
    assert retried != failed
    assert jobs.wait(retried, timeout=30)
    assert _status(http, retried)["status"] == "finished"
    jobs.result(retried).unlink()  # what the cache cap does to an old result
    assert submit_download(SPACE, "aal3")["task_id"] != retried
