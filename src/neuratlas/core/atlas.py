"""Atlas: a named collection of spaces and parcellations of one species."""

from __future__ import annotations

from functools import cached_property
from typing import TYPE_CHECKING

from neuratlas.core.concept import Concept
from neuratlas.registry import InstanceTable

if TYPE_CHECKING:
    from neuratlas.core.parcellation import Parcellation
    from neuratlas.core.region import Region
    from neuratlas.core.space import Space
    from neuratlas.volumes.maps import Map


class Atlas(Concept):
    """A multilevel atlas: its spaces and parcellations, with the usual shortcuts."""

    @cached_property
    def spaces(self) -> InstanceTable[Space]:
        known = {s.id for s in self._catalogue.spaces}
        return InstanceTable(
            "space",
            [self._catalogue.spaces.get(r.id) for r in self._loaded.spec.spaces if r.id in known],
        )

    @cached_property
    def parcellations(self) -> InstanceTable[Parcellation]:
        table = self._catalogue.parcellations
        known = {p.id for p in table}
        refs = [r.id for r in self._loaded.spec.parcellations if r.id in known]
        return InstanceTable("parcellation", [table.get(i) for i in refs])

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
