"""neuratlas: an offline-first toolkit for multilevel brain atlases."""

from neuratlas.__about__ import __version__
from neuratlas.errors import (
    AmbiguousError,
    DataUnavailableError,
    Error,
    ImageError,
    NotFoundError,
    SpaceMismatchError,
    SpecError,
)

__all__ = [
    "AmbiguousError",
    "DataUnavailableError",
    "Error",
    "ImageError",
    "NotFoundError",
    "SpaceMismatchError",
    "SpecError",
    "__version__",
]
