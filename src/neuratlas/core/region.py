"""Region: a node in a parcellation's hierarchy.

A region is identified by its name within its parcellation. Leaves of lateralised
areas follow the siibra convention ``"<area> - left hemisphere"``. A non-leaf region
stands for the union of its descendants wherever it is mapped. Regions are found by
words, with the rules written down in :mod:`neuratlas.matching`.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from functools import cached_property
from typing import TYPE_CHECKING

from neuratlas import matching
from neuratlas.core.map_index import MapType
from neuratlas.errors import AmbiguousError, ArgumentTypeError, NotFoundError
from neuratlas.registry import make_key

if TYPE_CHECKING:
    import nibabel as nib

    from neuratlas.assignment.related import RegionRelation
    from neuratlas.core.maps import Map
    from neuratlas.core.parcellation import Parcellation
    from neuratlas.core.space import Space
    from neuratlas.locations.pointcloud import PointCloud
    from neuratlas.volumes.properties import SpatialProperties

# how many candidates an AmbiguousError lists
_MAX_CANDIDATES = 10


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
    aliases : list of str, optional
        Other names the region is found by, e.g. the names siibra users know
        (``"hOc1"`` for FSL's ``"Visual cortex V1 BA17"``). The hemispheres of a
        region are found by its aliases too (``"hOc1 left"``).
    """

    def __init__(
        self,
        name: str,
        rgb: tuple[int, int, int] | None = None,
        children: list[Region] | None = None,
        aliases: list[str] | tuple[str, ...] = (),
    ) -> None:
        self.name = name
        self.aliases = list(aliases)  # a list, as a Concept's aliases
        self.rgb = tuple(rgb) if rgb is not None else None
        self.parent: Region | None = None
        self._children: tuple[Region, ...] | None = ()
        self._adopt(children or ())
        self._find_memo: dict[str, list[tuple[matching.Rank, Region]]] = {}
        self._get_memo: dict[str, Region] = {}

    def _adopt(self, children: list[Region] | tuple[Region, ...]) -> None:
        kids = tuple(children)
        for child in kids:
            child.parent = self
        self._children = kids  # last: a reader seeing the children sees their parent set

    @property
    def children(self) -> tuple[Region, ...]:
        """The sub-regions, in the order of the spec."""
        return self._children  # type: ignore[return-value]  # a Parcellation fills its own

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
        root = self.parcellation
        if root is self:  # the root of a bare tree (a Parcellation sets its own id)
            return self.name
        return f"{root.id}#{self.name}"

    @cached_property
    def key(self) -> str:
        return make_key(self.name)

    @cached_property
    def names(self) -> tuple[str, ...]:
        """The names the region is found by: its name, its aliases, and, for the
        hemisphere of a region with aliases, each of those with the hemisphere
        (``"hOc1 left"`` for ``"Visual cortex V1 BA17 - left hemisphere"``)."""
        inherited: tuple[str, ...] = ()
        side = matching.parse_name(self.name).hemisphere  # this node's own hemisphere word
        if side in ("left", "right") and self.parent is not None:
            inherited = tuple(f"{alias} {side}" for alias in self.parent.aliases)
        return (self.name, *self.aliases, *inherited)

    def __repr__(self) -> str:
        kind = "leaf" if self.is_leaf else f"{len(self.leaves)} leaves"
        return f"<Region {self.name!r} in {self.parcellation.name!r} ({kind})>"

    def __str__(self) -> str:
        return self.name

    def __eq__(self, other: object) -> bool:
        """A region equals a region with the same ``@id``, and the string of its name.

        A string compares with the name only, not with the key or ``@id`` as in
        siibra: objects that are equal must hash alike, and a region hashes like its
        name, so that ``region == "Amygdala"`` and ``"Amygdala" in {region}`` agree.
        Use :meth:`matches` to compare with a key, an ``@id`` or words.
        """
        if other is self:
            return True
        if isinstance(other, Region):
            return self.id == other.id
        if isinstance(other, str):
            return other == self.name
        return NotImplemented

    def __hash__(self) -> int:
        # the name: equal to the hash of the one string a region equals (see __eq__);
        # regions with the same @id have the same name, so they hash alike too
        return hash(self.name)

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

    def has_parent(self, parent: str | Region) -> bool:
        """True if ``parent`` is an ancestor of this region (parent, grandparent, ...).

        Parameters
        ----------
        parent : str or Region
            A region, or the name, key or ``@id`` of one (case and separators
            ignored in names), as in siibra.
        """
        if isinstance(parent, Region):
            return any(a == parent for a in self.ancestors)
        if isinstance(parent, str):
            return any(a._is_named(parent) for a in self.ancestors)
        raise ArgumentTypeError(
            f"has_parent takes a Region or a region name, not {type(parent).__name__}"
        )

    @cached_property
    def hemisphere(self) -> str | None:
        """``"left"``, ``"right"`` or ``None``, from the name or the nearest ancestor."""
        for node in (self, *self.ancestors):
            side = matching.parse_name(node.name).hemisphere
            if side in ("left", "right"):
                return side
        return None

    def tree(self, max_depth: int | None = None) -> str:
        """The hierarchy below this region as indented text."""
        return "\n".join("  " * depth + node.name for depth, _, node in self._walk(max_depth))

    def tree2str(self, max_depth: int | None = None) -> str:
        """The hierarchy below this region drawn with branches, as siibra prints it.

        ::

            Anterior intra-parietal sulcus hIP1
            ├── Anterior intra-parietal sulcus hIP1 - left hemisphere
            ╰── Anterior intra-parietal sulcus hIP1 - right hemisphere
        """
        return "\n".join(prefix + node.name for _, prefix, node in self._walk(max_depth))

    def _walk(self, max_depth: int | None) -> Iterator[tuple[int, str, Region]]:
        """(depth, branch prefix, region) for this region and its descendants, in order."""
        stack: list[tuple[Region, int, str, str]] = [(self, 0, "", "")]
        while stack:
            node, depth, prefix, indent = stack.pop()
            yield depth, prefix, node
            if max_depth is not None and depth >= max_depth:
                continue
            last = len(node.children) - 1
            for i, child in reversed(list(enumerate(node.children))):
                branch, more = ("╰── ", "    ") if i == last else ("├── ", "│   ")
                stack.append((child, depth + 1, indent + branch, indent + more))

    # --- search --------------------------------------------------------------
    def find(self, query: str) -> list[Region]:
        """Regions at or below this one matching ``query``, best first.

        Parameters
        ----------
        query : str
            Words (the rules are those of :mod:`neuratlas.matching`: every word must
            occur in the name, case and separators ignored, hemisphere words keep
            one hemisphere), or ``/regex/flags``. Hemisphere words alone
            (``"left"``) name the hemisphere of this region.

        Returns
        -------
        list of Region
            Best rank first; among equals, higher in the tree first, then by name.

        Raises
        ------
        ArgumentTypeError
            ``query`` is not a string.
        """
        if not isinstance(query, str):
            raise ArgumentTypeError(
                f"regions are found by a string, not {type(query).__name__}",
                hint="pass words of the region's name, e.g. 'hIP1 left', or '/regex/'",
            )
        return [r for _, r in self._ranked(query)]

    def _ranked(self, query: str) -> list[tuple[matching.Rank, Region]]:
        hits = self._find_memo.get(query)
        if hits is None:
            hits = self._scan(query)
            parsed = matching.parse_query(query)
            if not hits and parsed.hemisphere_only and parsed.hemisphere is not None:
                # "left" alone: the left part of this region, if it has one
                hits = self._scan(f"{self.name} {query}")
            self._find_memo[query] = hits
        return hits

    def _scan(self, query: str) -> list[tuple[matching.Rank, Region]]:
        hits = []
        for region in self:
            # the best of its names: an alias typed in full is as exact as the name
            ranks = [r for r in (matching.rank(query, n) for n in region.names) if r is not None]
            if ranks:
                hits.append((max(ranks), region))
        hits.sort(key=lambda hit: (len(hit[1].ancestors), hit[1].name))
        hits.sort(key=lambda hit: hit[0], reverse=True)  # stable: keeps the order above
        return hits

    def get_region(self, spec: str | Region) -> Region:
        """The region at or below this one that ``spec`` names.

        The rules are those of :mod:`neuratlas.matching`, applied in this order:

        1. A region, or the ``@id`` of one, gives that region.
        2. The best-ranked match wins if no other match has the same rank: an exact
           name (case, separators, and the hemisphere written as ``left``/``l``/``lh``
           ignored) beats word matches; a word that is a whole word of the name beats
           the start of an abbreviation (``hIP`` in ``hIP1``), which beats the start
           of a longer word (``hip`` in ``Hippocampus``), which beats a word inside
           another.
        3. Among equally ranked matches, one that contains all the others wins
           (``"hIP1"`` gives the area, not its hemispheres).
        4. Otherwise the matches are equally good and the lookup is ambiguous, as in
           siibra: ``"BA4"`` matches ``BA4a`` and ``BA4p`` alike, ``"hIP left"``
           the left hIP1, hIP2 and hIP3.
        5. Hemisphere words alone (``"left hemisphere"``) name no region, except
           the hemisphere of this one (``area.get_region("left")``).

        Parameters
        ----------
        spec : str or Region

        Raises
        ------
        NotFoundError
            No region matches; the message suggests the three closest names.
        AmbiguousError
            Several unrelated regions match equally well; ``candidates`` lists the
            topmost of them.
        """
        if isinstance(spec, str):
            hit = self._get_memo.get(spec)
            if hit is None:
                hit = self._get_region(spec)
                self._get_memo[spec] = hit
            return hit
        if isinstance(spec, Region):
            if self.includes(spec):
                return spec
            raise NotFoundError(f"{spec.name!r} is not part of {self.name!r}")
        raise ArgumentTypeError(
            f"a region is named by a string or a Region, not {type(spec).__name__}",
            hint="pass the region's name or words of it, e.g. 'hIP1 left', or '/regex/'",
        )

    def _get_region(self, spec: str) -> Region:
        if "#" in spec:  # an @id (names never hold "#")
            for region in self:
                if region.id == spec:
                    return region
        hits = self._ranked(spec)
        if not hits:
            raise self._not_found(spec)
        best = hits[0][0]
        tied = [r for found, r in hits if found == best]
        # keep the topmost: a tied region inside another tied one is part of it
        inside = {id(r) for r in tied}
        topmost = [r for r in tied if not any(id(a) in inside for a in r.ancestors)]
        if len(topmost) == 1:
            return topmost[0]
        # names that differ only in case (the Allen mouse ontology's "CM" and "cm"):
        # the one written exactly as asked wins
        verbatim = [r for r in topmost if spec.strip() in r.names]
        if len(verbatim) == 1:
            return verbatim[0]
        shown = f" (the first {_MAX_CANDIDATES} listed)" if len(topmost) > _MAX_CANDIDATES else ""
        raise AmbiguousError(
            f"{spec!r} matches {len(topmost)} regions of {self.name!r} equally well{shown}",
            candidates=[r.name for r in topmost[:_MAX_CANDIDATES]],
        )

    def _not_found(self, spec: str) -> NotFoundError:
        if matching.parse_query(spec).hemisphere_only:
            example = next((r.name for r in self.leaves if r.hemisphere), None)
            return NotFoundError(
                f"{spec!r} names only a hemisphere, not a region of {self.name!r}",
                hint="add the region's name" + (f", e.g. {example!r}" if example else ""),
            )
        return NotFoundError(
            f"no region of {self.name!r} matches {spec!r}",
            suggestions=matching.closest(spec, [n for r in self for n in r.names]),
        )

    def _is_named(self, spec: str) -> bool:
        """True if ``spec`` is this region's name (case and separators ignored), key or id."""
        return spec in (self.key, self.id) or any(
            matching.rank(spec, name) == matching.EXACT_RANK for name in self.names
        )

    def matches(self, spec: str | Region | re.Pattern[str]) -> bool:
        """True if ``spec`` fits this region, as siibra's ``Region.matches``.

        Parameters
        ----------
        spec : str, Region or re.Pattern
            A region (equal to this one); the name, key or ``@id``; words that all
            occur in the name by the rules of :mod:`neuratlas.matching` (then
            :meth:`find` lists this region: ``"hIP"`` fits ``hIP1``, ``"left"``
            alone fits no region); a ``/regex/flags`` string or a compiled pattern
            searched in the name.

        Raises
        ------
        ArgumentTypeError
            ``spec`` is none of these.
        """
        if isinstance(spec, Region):
            return self == spec
        if isinstance(spec, re.Pattern):
            return spec.search(self.name) is not None
        if isinstance(spec, str):
            return self._is_named(spec) or any(
                matching.rank(spec, name) is not None for name in self.names
            )
        raise ArgumentTypeError(
            f"a region is matched by a string, a Region or a re.Pattern, not {type(spec).__name__}"
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

    def get_regional_mask(
        self,
        space: str | Space,
        maptype: str | None = None,
        threshold: float | None = None,
    ) -> nib.Nifti1Image:
        """A binary (uint8) mask of this region in ``space``.

        For a non-leaf region the mask is the union of its descendants.

        Parameters
        ----------
        space : str or Space
        maptype : {"labelled", "statistical"}, optional
            Defaults to the labelled map when the parcellation has one in ``space``
            and no ``threshold`` is given, else the statistical map.
        threshold : float, optional
            For statistical maps, as in siibra: the mask is where the region's
            probability is above ``threshold`` (by default, above 0).

        Raises
        ------
        NotFoundError
            The parcellation has no map in ``space`` to make the mask from.
        ArgumentError
            A threshold for a labelled map, or one that leaves the mask empty.
        """
        the_map = self._map_for_mask(space, maptype, threshold)
        return the_map.fetch_mask(self, **_thresholded(threshold))

    def spatial_props(
        self, space: str | Space, maptype: str | None = None, threshold: float | None = None
    ) -> SpatialProperties:
        """Size, connected components with centroids (mm), and bounding box in ``space``.

        ``maptype`` and ``threshold`` are as in :meth:`get_regional_mask`.
        """
        the_map = self._map_for_mask(space, maptype, threshold)
        return the_map.spatial_props(self, **_thresholded(threshold))

    def compute_centroids(
        self, space: str | Space, maptype: str | None = None, threshold: float | None = None
    ) -> PointCloud:
        """The centroids of the region's connected components in ``space``, as siibra gives them.

        Largest component first; ``maptype`` and ``threshold`` are as in
        :meth:`get_regional_mask`.

        Returns
        -------
        PointCloud
            One point (mm) per connected component, in ``space``.
        """
        the_map = self._map_for_mask(space, maptype, threshold)
        return the_map.compute_centroids(self, **_thresholded(threshold))

    def _map_for_mask(
        self, space: str | Space, maptype: str | None, threshold: float | None
    ) -> Map:
        parc = self.parcellation
        if maptype is not None:
            return parc.get_map(space, maptype)
        target = parc.references.space(space)
        kinds = [MapType.LABELLED] if threshold is None else []
        for kind in [*kinds, MapType.STATISTICAL]:
            try:
                return parc.get_map(target, kind)
            except NotFoundError:
                continue
        spaces = ", ".join(s.name for s in self.supported_spaces) or "no space"
        wanted = "statistical" if threshold is not None else "labelled or statistical"
        raise NotFoundError(
            f"{parc.name!r} has no {wanted} map in {target.name!r} to make a mask of "
            f"{self.name!r} from",
            hint=f"use a space in which it is mapped: {spaces}",
        )


def _thresholded(threshold: float | None) -> dict[str, float]:
    """The keyword arguments that pass a threshold on to a map, if one was given."""
    return {} if threshold is None else {"threshold": threshold}
