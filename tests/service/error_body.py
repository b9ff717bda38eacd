"""The check every test of an error answer makes: the service's one JSON error body."""

from __future__ import annotations

from typing import Any


def error_body(response: Any, status: int, error: str) -> dict:
    """Assert that ``response`` is the service's error body for ``status``; return it.

    The body is ``{error, status_code, message, ...}`` with a message, and an
    error answer is never cached (``Cache-Control: no-store``).
    """
    assert response.status_code == status, response.text
    body = response.json()
    assert (body["status_code"], body["error"]) == (status, error)
    assert body["message"]
    assert response.headers["cache-control"] == "no-store"
    return body
