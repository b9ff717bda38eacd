"""One JSON error body for every failure the service answers with.

The body is ``{error, status_code, message, hint?, suggestions?, candidates?}``,
for neuratlas errors and for the framework's own 404/405/422 alike. Status codes:

======================================  ====  ===========================================
error                                   code  why
======================================  ====  ===========================================
NotFoundError                           404   an unknown id; ``suggestions`` lists the closest
AmbiguousError                          409   several matches; ``candidates`` lists them
ArgumentError, ArgumentTypeError,       422   a parameter we cannot use
SpaceMismatchError, TransformError
DataUnavailableError                    503   data not available offline (the message names it)
RMAError                                502   the Allen API refused or mangled an answer
ImageError, SpecError                   500   our own data is broken: not the user's fault
any other Error                         400   a user's mistake we have no better code for
======================================  ====  ===========================================

Anything that is not a :class:`neuratlas.Error` is a bug of ours: 500, with the same
body and no traceback in it (the traceback goes to the log once).
"""

from __future__ import annotations

import logging
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from neuratlas.errors import (
    AmbiguousError,
    ArgumentError,
    ArgumentTypeError,
    DataUnavailableError,
    Error,
    ImageError,
    NotFoundError,
    RMAError,
    SpaceMismatchError,
    SpecError,
    TransformError,
)

log = logging.getLogger("neuratlas.service")

# first match wins: subclasses before their bases
STATUS_OF_ERROR: tuple[tuple[type[Error], int], ...] = (
    (NotFoundError, 404),
    (AmbiguousError, 409),
    (ArgumentError, 422),
    (ArgumentTypeError, 422),
    (SpaceMismatchError, 422),
    (TransformError, 422),
    (DataUnavailableError, 503),
    (RMAError, 502),
    (ImageError, 500),
    (SpecError, 500),
)
# errors never sent with a cache validator: they may be fixed by the next request
NO_STORE = {"Cache-Control": "no-store"}


def status_of(error: Error) -> int:
    """The HTTP status code that answers ``error`` (see the module's table)."""
    for cls, status in STATUS_OF_ERROR:
        if isinstance(error, cls):
            return status
    return 400


def error_response(
    status_code: int,
    error: str,
    message: str,
    *,
    hint: str | None = None,
    suggestions: list[str] | None = None,
    candidates: list[str] | None = None,
    headers: dict[str, str] | None = None,
) -> JSONResponse:
    """The service's one error body, as a response.

    Parameters
    ----------
    status_code : int
        The HTTP status.
    error : str
        A short machine-readable name (the error class, or the HTTP reason without spaces).
    message : str
        What was wrong, and where.
    hint, suggestions, candidates : optional
        What to do; the closest known ids (404); the equally good matches (409).
    headers : dict, optional
        Extra headers (e.g. ``Allow`` for a 405).
    """
    body: dict[str, Any] = {"error": error, "status_code": status_code, "message": message}
    if hint:
        body["hint"] = hint
    # an empty list says nothing a client can use: such a body has no such key
    if suggestions:
        body["suggestions"] = suggestions
    if candidates:
        body["candidates"] = candidates
    return JSONResponse(body, status_code=status_code, headers={**NO_STORE, **(headers or {})})


def _reason(status_code: int) -> str:
    try:
        return HTTPStatus(status_code).phrase.replace(" ", "").replace("-", "")
    except ValueError:
        return "HTTPError"


async def _on_neuratlas_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, Error)
    status = status_of(exc)
    if status >= 500:
        log.error("%s %s: %s: %s", request.method, request.url.path, type(exc).__name__, exc)
    return error_response(
        status,
        type(exc).__name__,
        exc.message,
        hint=exc.hint,
        suggestions=getattr(exc, "suggestions", None) if isinstance(exc, NotFoundError) else None,
        candidates=exc.candidates if isinstance(exc, AmbiguousError) else None,
    )


async def _on_http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    message = exc.detail if isinstance(exc.detail, str) else str(exc.detail)
    if exc.status_code == 404 and message == "Not Found":
        message = f"no route {request.url.path!r}"
        hint = "the routes are listed at /docs"
    elif exc.status_code == 405:
        message = f"method {request.method} is not allowed on {request.url.path!r}"
        hint = None
    else:
        hint = None
    return error_response(
        exc.status_code,
        _reason(exc.status_code),
        message,
        hint=hint,
        headers=dict(exc.headers or {}),
    )


async def _on_validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    problems = []
    for item in exc.errors():
        where = ".".join(str(part) for part in item.get("loc", ()))
        problems.append(f"{where}: {item.get('msg', 'invalid')}")
    return error_response(
        422,
        "ValidationError",
        "invalid request: " + "; ".join(problems),
        hint="the parameters of every route are listed at /docs",
    )


async def _on_bug(request: Request, exc: Exception) -> JSONResponse:
    # the one place a traceback is logged: a bug of ours, never a user's mistake
    log.exception("%s %s failed", request.method, request.url.path, exc_info=exc)
    return error_response(
        500,
        "InternalServerError",
        f"internal error while answering {request.url.path!r}: {type(exc).__name__}",
        hint="this is a bug in neuratlas; please report it with the request",
    )


def install(app: FastAPI) -> None:
    """Answer every error of ``app`` with the one JSON error body."""
    app.add_exception_handler(Error, _on_neuratlas_error)
    app.add_exception_handler(StarletteHTTPException, _on_http_error)
    app.add_exception_handler(RequestValidationError, _on_validation_error)
    app.add_exception_handler(Exception, _on_bug)
