"""Atlas: a named collection of spaces and parcellations of one species."""

from __future__ import annotations

from functools import cached_property
from typing import TYPE_CHECKING

from neuratlas.core.concept import Concept
from neuratlas.errors import NotFoundError
from neuratlas.registry import InstanceTable

if TYPE_CHECKING:
    from neuratlas.core.maps import Map
    from neuratlas.core.parcellation import Parcellation
    from neuratlas.core.region import Region
    from neuratlas.core.space import Space


class Atlas(Concept):
    """A multilevel atlas: its spaces and parcellations, with the usual shortcuts."""

    @cached_property
    def spaces(self) -> InstanceTable[Space]:
        """The atlas's spaces that the catalogue knows (unknown references are skipped)."""
        return InstanceTable("space", self._resolve(self._loaded.spec.spaces))

    @cached_property
    def parcellations(self) -> InstanceTable[Parcellation]:
        """The atlas's parcellations that the catalogue knows."""
        refs = self._loaded.spec.parcellations
        return InstanceTable("parcellation", self._resolve(refs))

    def _resolve(self, refs: list) -> list:
        out = []
        for ref in refs:
            try:
                out.append(self._references.by_id(ref.id))
            except NotFoundError:
                continue  # an atlas may list a space or parcellation this catalogue lacks
        return out

    def get_parcellation(self, spec: str | None = None) -> Parcellation:
        return self.parcellations[spec if spec is not None else 0]

    def get_space(self, spec: str | None = None) -> Space:
        return self.spaces[spec if spec is not None else 0]

    def get_region(self, region: str, parcellation: str | None = None) -> Region:
        return self.get_parcellation(parcellation).get_region(region)

    def get_map(
        self, space: str | None = None, parcellation: str | None = None, maptype: str = "labelled"
    ) -> Map:
        return self.get_parcellation(parcellation).get_map(space, maptype)

    def __repr__(self) -> str:
        return (
            f"<Atlas {self.name!r}: {len(self.spaces)} spaces, "
            f"{len(self.parcellations)} parcellations>"
        )
