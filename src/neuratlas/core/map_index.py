"""MapType and MapIndex: what kind of map, and where a region sits in it.

Kept apart from :mod:`neuratlas.core.maps` because regions and parcellations need
these two small types without the numeric stack that fetching maps brings along.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from neuratlas.errors import NotFoundError


class MapType(enum.StrEnum):
    """The two kinds of map."""

    LABELLED = "labelled"
    STATISTICAL = "statistical"

    @classmethod
    def parse(cls, value: str | MapType) -> MapType:
        """The map type that ``value`` names (case ignored).

        Raises
        ------
        NotFoundError
            ``value`` is neither ``"labelled"`` nor ``"statistical"`` (an unknown name
            is a failed lookup, like an unknown region); ``suggestions`` lists both.
        """
        try:
            return cls(value.lower() if isinstance(value, str) else value)
        except ValueError:
            raise NotFoundError(
                f"unknown map type {value!r}", suggestions=[m.value for m in cls]
            ) from None


@dataclass(frozen=True)
class MapIndex:
    """Where a region is in a map: which volume, and its label or 4D index ``z``."""

    volume: int = 0
    label: int | None = None
    z: int | None = None
    fragment: str | None = None
