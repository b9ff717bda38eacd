"""Errors raised by the Allen Brain section-dataset tools.

All derive from :class:`neuratlas.errors.Error`; each also derives from the
builtin that best describes it, so generic ``except LookupError`` code works.
"""

from __future__ import annotations

from neuratlas.errors import Error, NotFoundError


class RMAError(Error):
    """The Allen API answered a query with ``success: false`` or an unusable envelope."""

    def __init__(self, message: str, *, url: str | None = None, hint: str | None = None):
        self.url = url
        super().__init__(message, hint=hint)


class RMAQueryError(RMAError, ValueError):
    """An RMA query that cannot be written down (bad name, unquotable value)."""


class DatasetNotFoundError(NotFoundError):
    """Raised when there is no section dataset (or image) for the given ID.

    A :class:`neuratlas.errors.NotFoundError`, hence also a ``LookupError``.
    """


class TransformError(Error, ValueError):
    """Coordinates, affines or displacement fields of the wrong shape or content."""
