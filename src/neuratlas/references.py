"""What core objects ask of the catalogue that built them: the References protocol.

Atlases, spaces, parcellations, regions and maps link to one another by ``@id``.
They never import the catalogue (it sits in a layer above them); the catalogue
hands each object a :class:`References` when it builds it, and registers itself
with :func:`install` so that a location given a space *name* can resolve it.
This module sits at the bottom of the layers (it imports nothing of neuratlas at
run time), so that both core and locations may use it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    import pandas as pd

    from neuratlas.core.maps import Map
    from neuratlas.core.parcellation import Parcellation
    from neuratlas.core.region import Region
    from neuratlas.core.space import Space


class References(Protocol):
    """The questions a core object may ask of the catalogue that built it."""

    def space(self, spec: str | Space) -> Space:
        """The space that ``spec`` (name, key, alias or ``@id``) names."""
        ...

    def parcellation(self, spec: str | Parcellation) -> Parcellation:
        """The parcellation that ``spec`` names."""
        ...

    def by_id(self, id: str) -> Space | Parcellation | Map:
        """The space, parcellation or map with exactly this ``@id`` (else NotFoundError)."""
        ...

    def version_chain(self, parcellation: Parcellation) -> tuple[str, int]:
        """The collection of a parcellation's versions and its place along their chain."""
        ...

    def maps_of(
        self, *, parcellation: Parcellation | None = None, space: Space | None = None
    ) -> list[Map]:
        """The maps of a parcellation and/or in a space, in catalogue order."""
        ...

    def get_map(
        self,
        parcellation: str | Parcellation,
        space: str | Space | None = None,
        maptype: str | None = "labelled",
        threshold: float | None = None,
    ) -> Map:
        """The map of ``parcellation`` in ``space`` of type ``maptype`` (and threshold)."""
        ...

    def assign(self, the_map: Map, item: Any, lower_threshold: float = 0.0) -> pd.DataFrame:
        """Assign a location or image to the regions of ``the_map``."""
        ...

    def related_regions(self, region: Region) -> list[Any]:
        """Regions of other parcellations that overlap ``region``."""
        ...


_provider: Callable[[], References] | None = None


def install(provider: Callable[[], References]) -> None:
    """Register the function that returns the active catalogue (the catalogue calls it)."""
    global _provider
    _provider = provider


def active() -> References:
    """The active catalogue, as registered by :func:`install`."""
    if _provider is None:  # importing any part of neuratlas imports the catalogue first
        raise RuntimeError("neuratlas.catalogue has not registered the active catalogue")
    return _provider()
