"""Region: a node in a parcellation's hierarchy.

A region is identified by its name within its parcellation. Leaves of lateralised
areas follow the siibra convention ``"<area> - left hemisphere"``. A non-leaf region
stands for the union of its descendants wherever it is mapped.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from functools import cached_property
from typing import TYPE_CHECKING

from neuratlas import matching
from neuratlas.core.map_index import MapType
from neuratlas.errors import AmbiguousError, NotFoundError
from neuratlas.registry import make_key

if TYPE_CHECKING:
    import nibabel as nib

    from neuratlas.assignment.related import RegionRelation
    from neuratlas.core.maps import Map
    from neuratlas.core.parcellation import Parcellation
    from neuratlas.core.space import Space
    from neuratlas.volumes.properties import SpatialProperties

_HEMISPHERE = re.compile(r"\b(left|right)\b(?: hemisphere)?", re.IGNORECASE)


class Region:
    """A brain region in a parcellation's hierarchy.

    Parameters
    ----------
    name : str
        Unique within the parcellation.
    rgb : tuple of int, optional
        The display colour.
    children : list of Region
        Sub-regions; their ``parent`` is set to this region.
    """

    def __init__(
        self,
        name: str,
        rgb: tuple[int, int, int] | None = None,
        children: list[Region] | None = None,
    ) -> None:
        self.name = name
        self.rgb = tuple(rgb) if rgb is not None else None
        self.children: tuple[Region, ...] = tuple(children or ())
        self.parent: Region | None = None
        for child in self.children:
            child.parent = self
        self._find_memo: dict[str, list[Region]] = {}
        self._get_memo: dict[str, Region] = {}

    # --- identity ------------------------------------------------------------
    @property
    def parcellation(self) -> Parcellation:
        """The parcellation (root of the tree) this region belongs to."""
        node: Region = self
        while node.parent is not None:
            node = node.parent
        return node  # type: ignore[return-value]

    @cached_property
    def id(self) -> str:
        """A stable identifier: the parcellation's ``@id`` and the region name."""
        return f"{self.parcellation.id}#{self.name}"

    @cached_property
    def key(self) -> str:
        return make_key(self.name)

    def __repr__(self) -> str:
        kind = "leaf" if self.is_leaf else f"{len(self.leaves)} leaves"
        return f"<Region {self.name!r} in {self.parcellation.name!r} ({kind})>"

    def __str__(self) -> str:
        return self.name

    # --- hierarchy -----------------------------------------------------------
    @property
    def is_leaf(self) -> bool:
        return not self.children

    @property
    def ancestors(self) -> list[Region]:
        """Parent, grandparent, ... up to and including the parcellation."""
        out = []
        node = self.parent
        while node is not None:
            out.append(node)
            node = node.parent
        return out

    @cached_property
    def descendants(self) -> list[Region]:
        """All regions below this one, depth first (not including itself)."""
        out: list[Region] = []
        stack = list(reversed(self.children))
        while stack:
            node = stack.pop()
            out.append(node)
            stack.extend(reversed(node.children))
        return out

    @cached_property
    def leaves(self) -> list[Region]:
        """The leaf regions below this one (itself if it is a leaf)."""
        return [self] if self.is_leaf else [r for r in self.descendants if r.is_leaf]

    def __iter__(self) -> Iterator[Region]:
        """Iterate over this region and all its descendants, depth first."""
        yield self
        yield from self.descendants

    def __contains__(self, other: object) -> bool:
        return other is self or other in self.descendants

    def includes(self, other: Region) -> bool:
        """True if ``other`` is this region or one of its descendants."""
        return other is self or self in other.ancestors

    @cached_property
    def hemisphere(self) -> str | None:
        """``"left"``, ``"right"`` or ``None``, from the name or the nearest ancestor."""
        for node in (self, *self.ancestors):
            match = _HEMISPHERE.search(node.name)
            if match:
                return match.group(1).lower()
        return None

    def tree(self, max_depth: int | None = None) -> str:
        """The hierarchy below this region as indented text."""
        lines: list[str] = []

        def walk(node: Region, depth: int) -> None:
            lines.append("  " * depth + node.name)
            if max_depth is None or depth < max_depth:
                for child in node.children:
                    walk(child, depth + 1)

        walk(self, 0)
        return "\n".join(lines)

    # --- search --------------------------------------------------------------
    def find(self, query: str) -> list[Region]:
        """Regions at or below this one matching ``query``, best first.

        Parameters
        ----------
        query : str
            Words that must all occur in the name (case and separators ignored),
            or ``/regex/flags``.
        """
        hits = self._find_memo.get(query)
        if hits is None:
            scored = [(matching.score(query, r.name), r) for r in self]
            scored = [(s, r) for s, r in scored if s > 0]
            # best score first; among equals, higher in the tree first
            scored.sort(key=lambda sr: (-sr[0], len(sr[1].ancestors), sr[1].name))
            hits = [r for _, r in scored]
            self._find_memo[query] = hits
        return list(hits)

    def get_region(self, spec: str | Region) -> Region:
        """The region at or below this one that ``spec`` names.

        An exact name (case and separators ignored) wins; else the only match;
        else the best-ranked match. Among equally good matches, one that contains
        all the others wins (``"hIP1"`` gives the area, not its hemispheres).

        Raises
        ------
        NotFoundError
            No region matches; the message suggests the three closest names.
        AmbiguousError
            Several unrelated regions match equally well.
        """
        if isinstance(spec, Region):
            if self.includes(spec):
                return spec
            raise NotFoundError(f"{spec.name!r} is not part of {self.name!r}")
        hit = self._get_memo.get(spec)
        if hit is None:
            hit = self._get_region(spec)
            self._get_memo[spec] = hit
        return hit

    def _get_region(self, spec: str) -> Region:
        hits = self.find(spec)
        if not hits:
            raise NotFoundError(
                f"no region of {self.name!r} matches {spec!r}",
                suggestions=matching.closest(spec, [r.name for r in self]),
            )
        best = matching.score(spec, hits[0].name)
        tied = [r for r in hits if matching.score(spec, r.name) == best]
        if len(tied) == 1:
            return tied[0]
        for candidate in tied:
            if all(candidate.includes(other) for other in tied):
                return candidate
        raise AmbiguousError(
            f"{spec!r} matches {len(tied)} regions of {self.name!r} equally well",
            candidates=[r.name for r in tied[:10]],
        )

    # --- maps and spatial properties ----------------------------------------
    # The image work happens in the map (core.maps): this module stays free of the
    # numeric stack, so that loading a parcellation's tree costs no NumPy import.
    @property
    def supported_spaces(self) -> list[Space]:
        """The spaces in which a map of the parcellation covers this region."""
        names = [r.name for r in self]
        return list(
            dict.fromkeys(
                m.space for m in self.parcellation.maps if any(name in m.indices for name in names)
            )
        )

    def get_related_regions(self) -> list[RegionRelation]:
        """Regions of other parcellations and versions that overlap this one.

        Returns
        -------
        list of neuratlas.assignment.RegionRelation
            Each with the other region, a qualification (``EXACT``, ``CONTAINS``,
            ``CONTAINED``, ``OVERLAPS``), the space, and the overlap figures.
        """
        return self.parcellation.references.related_regions(self)

    def get_regional_map(
        self, space: str | Space, maptype: str = "statistical"
    ) -> nib.Nifti1Image:
        """The region's map in ``space``: a probability map, or a mask for ``labelled``."""
        return self.parcellation.get_map(space, maptype).fetch(region=self)

    def get_regional_mask(self, space: str | Space, maptype: str | None = None) -> nib.Nifti1Image:
        """A binary (uint8) mask of this region in ``space``.

        For a non-leaf region the mask is the union of its descendants. ``maptype``
        defaults to the labelled map when the parcellation has one in ``space``,
        else the statistical map, whose mask is where the value is above zero.
        """
        return self._map_for_mask(space, maptype).fetch_mask(self)

    def spatial_props(self, space: str | Space, maptype: str | None = None) -> SpatialProperties:
        """Volume (mm³), connected components with centroids (mm), and bounding box.

        ``maptype`` is chosen as in :meth:`get_regional_mask`.
        """
        return self._map_for_mask(space, maptype).spatial_props(self)

    def _map_for_mask(self, space: str | Space, maptype: str | None) -> Map:
        parc = self.parcellation
        if maptype is not None:
            return parc.get_map(space, maptype)
        try:
            return parc.get_map(space, MapType.LABELLED)
        except NotFoundError:
            return parc.get_map(space, MapType.STATISTICAL)
