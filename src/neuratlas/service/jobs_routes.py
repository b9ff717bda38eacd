"""Asynchronous download bundles over HTTP: submit, poll the status, fetch the zip.

``/atlas_download?async=true`` (a route of :mod:`neuratlas.service.app`) calls
:func:`submit_download` and answers with a task id; :data:`router` serves

- ``GET /v3_0/atlas_download/{task_id}``: ``{task_id, status, error?}``, never
  cached by clients (it changes) but with an ETag, so polling can use ``If-None-Match``;
- ``GET /v3_0/atlas_download/{task_id}/download``: the zip once the job has
  finished; 409 (with the status in the error body) before that or after a failure.

An unknown task id is a NotFoundError, which the app answers with 404.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response

from neuratlas.service import bundle, caching, http_errors, jobs

router = APIRouter(prefix="/v3_0", tags=["download"])


def submit_download(
    space_id: str,
    parcellation_id: str,
    region_id: str | None = None,
    feature_id: str | None = None,
) -> dict[str, Any]:
    """Start building a download bundle on the workers; answer with its task id.

    The ids are looked up first, so that a bad one fails at once instead of in
    the job. The arguments are those of siibra-api's ``download_all``.

    Returns
    -------
    dict
        ``{"task_id", "status"}``.

    Raises
    ------
    NotFoundError, AmbiguousError
        An id that names no object, or several equally well.
    DataUnavailableError
        No Dask scheduler can be reached.
    """
    resolved = bundle.resolve_request(space_id, parcellation_id, region_id, feature_id)
    # the job gets the ids as asked: its README repeats the request; requests for the
    # same objects (through any alias) share one job
    task_id = jobs.submit(
        "download",
        bundle.build_bundle,
        space_id,
        parcellation_id,
        region_id,
        feature_id,
        request_key=f"download-{resolved.key}",
    )
    return {"task_id": task_id, "status": jobs.status(task_id)["status"]}


@router.get("/atlas_download/{task_id}")
async def download_status(request: Request, task_id: str) -> Response:
    """The status of an asynchronous download: pending, running, finished or failed."""
    return caching.json_response(request, caching.encode(jobs.status(task_id)), max_age=0)


@router.get("/atlas_download/{task_id}/download")
async def download_file(request: Request, task_id: str) -> Response:
    """The zip of a finished asynchronous download (409 while it is not finished)."""
    state = jobs.status(task_id)
    if state["status"] != "finished":
        error = state.get("error") or {}
        reason = f": {error['message']}" if error.get("message") else ""
        return http_errors.error_response(
            409,
            "Conflict",
            f"download task {task_id} is {state['status']}{reason}",
            hint=error.get("hint")
            or f"poll /v3_0/atlas_download/{task_id} until its status is finished",
        )
    # a task's file never changes, while its mtime does (the cache's LRU touches it on
    # every download): so the ETag comes from the task, not from the file's stat
    etag = f'"download-{task_id}"'
    if caching.matches(request, etag):
        return Response(
            status_code=304,
            headers={"ETag": etag, "Cache-Control": f"private, max-age={caching.FILE_MAX_AGE}"},
        )
    return caching.file_response(
        request,
        jobs.result(task_id),
        media_type="application/zip",
        filename=f"atlas-download-{task_id}.zip",
        max_age=caching.FILE_MAX_AGE,
        extra_headers={"ETag": etag, "Cache-Control": f"private, max-age={caching.FILE_MAX_AGE}"},
    )
