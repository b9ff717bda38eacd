"""Anchors: what a feature is linked to, and how that relates to what a query asks for.

An :class:`Anchor` names regions (in one parcellation, or in every parcellation of
a species, as siibra anchors receptor data), a parcellation, a space and/or a
location. :class:`AnchorMatcher` resolves anchors in one catalogue (cached) and
relates them to a query concept: a region or parcellation by the region tree,
a space by identity, a location by the labelled maps. The answer is an
:class:`AnchorMatch` with a :class:`Qualification`.
"""

from __future__ import annotations

import enum
import warnings
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from neuratlas import matching
from neuratlas.core.map_index import MapType
from neuratlas.core.parcellation import Parcellation
from neuratlas.core.region import Region
from neuratlas.errors import AmbiguousError, Error, NeuratlasWarning, NotFoundError
from neuratlas.locations.boundingbox import BoundingBox
from neuratlas.locations.point import Point
from neuratlas.locations.pointcloud import PointCloud

if TYPE_CHECKING:
    from neuratlas.catalogue import Catalogue
    from neuratlas.core.maps import Map
    from neuratlas.core.space import Space

# a located feature and a query point "meet" within this distance when the point
# carries no uncertainty of its own (about one voxel of a 1 mm template)
POINT_TOLERANCE_MM = 1.0


class Qualification(enum.Enum):
    """How the feature's anchor relates to the query concept."""

    EXACT = "exact"  # same region / parcellation / space
    CONTAINED = "contained"  # the anchor lies inside the query
    CONTAINS = "contains"  # the anchor contains the query
    OVERLAPS = "overlaps"  # partial overlap (locations, maps)

    @property
    def order(self) -> int:
        """Sort key: EXACT first, OVERLAPS last."""
        return list(Qualification).index(self)


@dataclass(frozen=True)
class Anchor:
    """What a feature is linked to.

    Parameters
    ----------
    species : str, optional
        ``"Homo sapiens"``, ``"Mus musculus"``.
    parcellation : str, optional
        Any spec the catalogue resolves (``@id``, name, key).
    regions : tuple of str
        Region specs, resolved in ``parcellation``, or, when that is None, in every
        parcellation of ``species`` (every parcellation when that is None too).
    space : str, optional
        The space of a located feature.
    location : Point, PointCloud or BoundingBox, optional
        Where a located feature lies, in ``space``.
    """

    species: str | None = None
    parcellation: str | None = None
    regions: tuple[str, ...] = ()
    space: str | None = None
    location: Any = field(default=None, compare=False, hash=False)

    def __post_init__(self) -> None:
        # a single region name is the common mistake: keep it a one-element tuple
        if isinstance(self.regions, str):
            object.__setattr__(self, "regions", (self.regions,))
        elif not isinstance(self.regions, tuple):
            object.__setattr__(self, "regions", tuple(self.regions))

    def describe(self) -> str:
        """One short line: ``"hOc1 (Julich-Brain 3.1)"``, ``"fs_LR 32k"`` ..."""
        parts = []
        if self.regions:
            names = ", ".join(self.regions[:3])
            more = f" and {len(self.regions) - 3} more" if len(self.regions) > 3 else ""
            where = self.parcellation or self.species
            parts.append(f"{names}{more}" + (f" ({where})" if where else ""))
        elif self.parcellation:
            parts.append(self.parcellation)
        if self.location is not None:
            parts.append(_describe_location(self.location))
        if self.space and not (self.location is not None and self.space in parts[-1]):
            parts.append(f"in {self.space}" if parts else self.space)
        if not parts:
            return self.species or "anywhere"
        return " ".join(parts)

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form (for exports and the service)."""
        out: dict[str, Any] = {
            "species": self.species,
            "parcellation": self.parcellation,
            "regions": list(self.regions),
            "space": self.space,
        }
        if self.location is not None:
            out["location"] = _describe_location(self.location)
        return out


@dataclass(frozen=True)
class AnchorMatch:
    """How one feature relates to one query."""

    qualification: Qualification
    query: str  # what was asked, as text
    anchor: str  # what matched, as text
    explanation: str  # one line


def _describe_location(location: Any) -> str:
    if isinstance(location, Point):
        x, y, z = location.coordinate
        return f"point ({x:.1f}, {y:.1f}, {z:.1f})" + _space_suffix(location.space)
    if isinstance(location, PointCloud):
        return f"{len(location)} points" + _space_suffix(location.space)
    if isinstance(location, BoundingBox):
        lo = ", ".join(f"{v:.1f}" for v in location.minpoint)
        hi = ", ".join(f"{v:.1f}" for v in location.maxpoint)
        return f"box ({lo})-({hi})" + _space_suffix(location.space)
    return str(location)


def _space_suffix(space: Space | None) -> str:
    return f" in {space.name}" if space is not None else ""


def describe_concept(concept: object) -> str:
    """A query concept as text for :attr:`AnchorMatch.query`."""
    if isinstance(concept, Parcellation):
        return concept.name
    if isinstance(concept, Region):
        return f"{concept.name} ({concept.parcellation.short_name})"
    if isinstance(concept, Point | PointCloud | BoundingBox):
        return _describe_location(concept)
    return str(getattr(concept, "name", concept))


# --- labelled grids: which region a voxel belongs to ------------------------------
class LabelGrid:
    """The labelled volume of one map: voxel -> region name, for location tests."""

    def __init__(self, the_map: Map) -> None:
        img = the_map.fetch()
        self.labels = np.asanyarray(img.dataobj)
        if self.labels.ndim > 3:
            self.labels = self.labels[..., 0]
        self.affine = img.affine
        self.inverse = np.linalg.inv(img.affine)
        self.lut = the_map.label_lut
        self.map = the_map

    def voxels(self, coords: np.ndarray) -> np.ndarray:
        """Nearest voxel indices of physical ``coords`` (N, 3); -1 rows outside."""
        homogeneous = np.c_[coords, np.ones(len(coords))]
        ijk = np.rint(homogeneous @ self.inverse.T)[:, :3].astype(int)
        inside = np.all((ijk >= 0) & (ijk < np.array(self.labels.shape[:3])), axis=1)
        ijk[~inside] = -1
        return ijk

    def labels_at(self, coords: np.ndarray) -> np.ndarray:
        """Label at each point (0 outside the volume)."""
        ijk = self.voxels(np.atleast_2d(coords))
        out = np.zeros(len(ijk), dtype=self.labels.dtype)
        ok = ijk[:, 0] >= 0
        out[ok] = self.labels[ijk[ok, 0], ijk[ok, 1], ijk[ok, 2]]
        return out

    def labels_in(self, box: BoundingBox) -> np.ndarray:
        """Distinct labels inside ``box``."""
        slices = box.voxel_slices(self.affine, self.labels.shape[:3])
        return np.unique(self.labels[slices])

    def names(self, labels: np.ndarray) -> set[str]:
        """Region names of ``labels`` (0 and unknown labels ignored)."""
        return {self.lut[int(v)] for v in np.unique(labels) if int(v) in self.lut}


class LocationMismatchWarning(NeuratlasWarning):
    """Located features not matched to a region: its parcellation has no map in their space."""


# --- resolving anchors and matching them -----------------------------------------
@dataclass
class Resolved:
    """An anchor resolved in one catalogue."""

    regions: tuple[Region, ...] = ()
    parcellation: Parcellation | None = None
    space: Space | None = None
    unresolved: tuple[str, ...] = ()  # region specs found in no parcellation


class AnchorMatcher:
    """Resolves anchors in ``catalogue`` and relates them to query concepts.

    Resolutions, labelled grids and region-vs-location answers are cached: one
    matcher lives as long as its catalogue's feature index.
    """

    def __init__(self, catalogue: Catalogue) -> None:
        self.catalogue = catalogue
        self._resolved: dict[tuple, Resolved] = {}
        self._region_specs: dict[tuple[str, str], tuple[Region, ...]] = {}
        self._blobs: dict[str, str] = {}
        self._grids: dict[tuple[str, str], LabelGrid | None] = {}
        self._unmapped: set[tuple[str, str]] = set()  # (parcellation, space) warned about
        self._subtree: dict[str, frozenset[str]] = {}
        self._overlaps: dict[tuple[str, str], bool] = {}

    # --- resolution ----------------------------------------------------------------
    def resolve(self, anchor: Anchor) -> Resolved:
        """The regions, parcellation and space that ``anchor`` names here (cached)."""
        key = (anchor.species, anchor.parcellation, anchor.regions, anchor.space)
        found = self._resolved.get(key)
        if found is None:
            found = self._resolve(anchor)
            self._resolved[key] = found
        return found

    def _resolve(self, anchor: Anchor) -> Resolved:
        parc = None
        if anchor.parcellation is not None:
            parc = _lookup(self.catalogue.parcellations, anchor.parcellation)
        space = None
        if anchor.space is not None:
            space = _lookup(self.catalogue.spaces, anchor.space)
        if not anchor.regions:
            return Resolved(parcellation=parc, space=space)
        if parc is not None:
            scope = [parc]
        elif anchor.parcellation is not None:
            scope = []  # a parcellation this catalogue does not have: nothing resolves
        else:
            scope = self.parcellations_of(anchor.species)
        regions: list[Region] = []
        missing = []
        for spec in anchor.regions:
            hits = [r for p in scope for r in self._region_in(p, spec)]
            regions.extend(hits)
            if not hits:
                missing.append(spec)
        return Resolved(tuple(dict.fromkeys(regions)), parc, space, tuple(missing))

    def parcellations_of(self, species: str | None) -> list[Parcellation]:
        """The catalogue's parcellations of ``species`` (all for None)."""
        if species is None:
            return list(self.catalogue.parcellations)
        wanted = matching.normalise(species)
        return [
            p
            for p in self.catalogue.parcellations
            if p.species is None or matching.normalise(p.species) == wanted
        ]

    def _region_in(self, parc: Parcellation, spec: str) -> tuple[Region, ...]:
        key = (parc.id, spec)
        hit = self._region_specs.get(key)
        if hit is None:
            hit = ()
            # find() first: a miss costs no NotFoundError, whose suggestions are slow
            if self._may_contain(parc, spec) and parc.find(spec):
                try:
                    hit = (parc.get_region(spec),)
                except AmbiguousError:
                    # several equally good regions: the best-ranked, topmost first
                    hit = tuple(parc.find(spec)[:1])
                except NotFoundError:
                    hit = ()
            self._region_specs[key] = hit
        return hit

    def _may_contain(self, parc: Parcellation, spec: str) -> bool:
        """A cheap test: can ``spec`` match a name of ``parc`` at all?"""
        query = matching.parse_query(spec)
        if query.pattern is not None or "#" in spec:
            return True
        blob = self._blobs.get(parc.id)
        if blob is None:
            blob = "\n".join(matching.parse_name(n).joined for r in parc for n in r.names)
            self._blobs[parc.id] = blob
        return all(word in blob for word in query.words)

    def subtree_names(self, region: Region) -> frozenset[str]:
        """Names of ``region`` and of its descendants (cached)."""
        names = self._subtree.get(region.id)
        if names is None:
            names = frozenset(r.name for r in region)
            self._subtree[region.id] = names
        return names

    def grid(self, parcellation: Parcellation, space: Space) -> LabelGrid | None:
        """The labelled volume of ``parcellation`` in ``space``; None if there is none."""
        key = (parcellation.id, space.id)
        if key not in self._grids:
            grid = None
            if not space.is_surface:
                try:
                    the_map = self.catalogue.get_map(parcellation, space, MapType.LABELLED)
                    grid = LabelGrid(the_map)
                except Error:
                    grid = None  # no labelled map there (or it cannot be had): no match
            self._grids[key] = grid
        return self._grids[key]

    # --- matching --------------------------------------------------------------------
    def match(self, anchor: Anchor, concept: object, location: Any = None) -> AnchorMatch | None:
        """How a feature anchored at ``anchor`` relates to ``concept``; None: not at all.

        Parameters
        ----------
        anchor : Anchor
        concept : Region, Parcellation, Space, Point, PointCloud or BoundingBox
        location : Point, PointCloud or BoundingBox, optional
            The feature's location when it is not in the anchor (e.g. a point cloud
            feature's samples).
        """
        resolved = self.resolve(anchor)
        location = anchor.location if anchor.location is not None else location
        query = describe_concept(concept)
        if isinstance(concept, Parcellation):
            return self._match_parcellation(anchor, resolved, concept, query)
        if isinstance(concept, Region):
            return self.match_region(anchor, resolved, concept, query, location)
        if isinstance(concept, Point | PointCloud | BoundingBox):
            return self._match_location(anchor, resolved, concept, query, location)
        if _is_space(concept):
            if resolved.space is not None and resolved.space.id == concept.id:  # type: ignore[attr-defined]
                return AnchorMatch(
                    Qualification.EXACT,
                    query,
                    resolved.space.name,
                    f"feature in the space {resolved.space.name!r}",
                )
            return None
        return None

    def _match_parcellation(
        self, anchor: Anchor, resolved: Resolved, parc: Parcellation, query: str
    ) -> AnchorMatch | None:
        own = resolved.parcellation
        if own is not None and own.id == parc.id and not resolved.regions:
            return AnchorMatch(
                Qualification.EXACT, query, parc.name, f"feature on the parcellation {query!r}"
            )
        for region in resolved.regions:
            if region.parcellation.id == parc.id:
                if region is region.parcellation:
                    return AnchorMatch(
                        Qualification.EXACT, query, region.name, f"feature on {query!r}"
                    )
                return AnchorMatch(
                    Qualification.CONTAINED,
                    query,
                    region.name,
                    f"feature on {region.name!r}, a region of the query {query!r}",
                )
        return None

    def match_region(
        self,
        anchor: Anchor,
        resolved: Resolved,
        region: Region,
        query: str,
        location: Any = None,
    ) -> AnchorMatch | None:
        """How ``anchor`` relates to a region that is not a parcellation."""
        best: AnchorMatch | None = None
        for mine in resolved.regions:
            found = region_relation(mine, region, query)
            if found is not None and (
                best is None or found.qualification.order < best.qualification.order
            ):
                best = found
        if best is not None:
            return best
        if (
            not resolved.regions
            and resolved.parcellation is not None
            and resolved.parcellation.id == region.parcellation.id
        ):
            return AnchorMatch(
                Qualification.CONTAINS,
                query,
                resolved.parcellation.name,
                f"feature on the whole parcellation {resolved.parcellation.name!r}, "
                f"which contains the query {query!r}",
            )
        if location is not None and resolved.space is not None and not resolved.regions:
            return self._region_vs_location(region, resolved.space, location, query)
        return None

    def _region_vs_location(
        self, region: Region, space: Space, location: Any, query: str
    ) -> AnchorMatch | None:
        grid = self.grid(region.parcellation, space)
        if grid is None:
            self._warn_unmapped(region.parcellation, space)
            return None
        names = self.subtree_names(region)
        inside = bool(names & self._names_at(grid, location))
        if not inside:
            return None
        return AnchorMatch(
            Qualification.OVERLAPS,
            query,
            _describe_location(location),
            f"feature located in {space.name!r}, partly inside the map of {query!r}",
        )

    def _warn_unmapped(self, parcellation: Parcellation, space: Space) -> None:
        """Say once why features located in ``space`` never match this parcellation's regions."""
        key = (parcellation.id, space.id)
        if key in self._unmapped:
            return
        self._unmapped.add(key)
        where = ", ".join(s.short_name for s in parcellation.spaces) or "no space"
        warnings.warn(
            f"features located in {space.name} are not matched to regions of "
            f"{parcellation.name}: it is mapped in {where}, not in {space.short_name}, and "
            "neuratlas has no transform between those spaces; ask with a region of a "
            f"parcellation mapped in {space.short_name}",
            LocationMismatchWarning,
            stacklevel=2,
        )

    def _names_at(self, grid: LabelGrid, location: Any) -> set[str]:
        if isinstance(location, BoundingBox):
            return grid.names(grid.labels_in(location))
        coords = _coordinates(location)
        return grid.names(grid.labels_at(coords))

    def _match_location(
        self,
        anchor: Anchor,
        resolved: Resolved,
        concept: Point | PointCloud | BoundingBox,
        query: str,
        location: Any,
    ) -> AnchorMatch | None:
        space = concept.space
        if space is None:
            return None
        if location is not None and resolved.space is not None:
            if resolved.space.id != space.id:
                return None
            if locations_overlap(concept, location):
                return AnchorMatch(
                    Qualification.OVERLAPS,
                    query,
                    _describe_location(location),
                    f"feature located at {_describe_location(location)}, "
                    f"which overlaps the query {query}",
                )
            return None
        for region in resolved.regions:
            found = self._region_at(region, concept, query)
            if found is not None:
                return found
        if resolved.parcellation is not None and not resolved.regions:
            grid = self.grid(resolved.parcellation, space)
            if grid is not None and self._names_at(grid, concept):
                return AnchorMatch(
                    Qualification.CONTAINS,
                    query,
                    resolved.parcellation.name,
                    f"feature on the parcellation {resolved.parcellation.name!r}, "
                    f"whose map contains the query {query}",
                )
        return None

    def _region_at(
        self, region: Region, concept: Point | PointCloud | BoundingBox, query: str
    ) -> AnchorMatch | None:
        grid = self.grid(region.parcellation, concept.space)  # type: ignore[arg-type]
        if grid is None:
            return None
        names = self.subtree_names(region)
        if isinstance(concept, BoundingBox):
            if names & grid.names(grid.labels_in(concept)):
                return AnchorMatch(
                    Qualification.OVERLAPS,
                    query,
                    region.name,
                    f"the map of {region.name!r} overlaps the query {query}",
                )
            return None
        labels = grid.labels_at(_coordinates(concept))
        hits = np.array([grid.lut.get(int(v)) in names for v in labels])
        if not hits.any():
            return None
        qualification = Qualification.CONTAINS if hits.all() else Qualification.OVERLAPS
        how = "contains" if hits.all() else "contains part of"
        return AnchorMatch(
            qualification,
            query,
            region.name,
            f"the map of {region.name!r} {how} the query {query}",
        )


def region_relation(mine: Region, query_region: Region, query: str) -> AnchorMatch | None:
    """How a feature's region relates to a query region by the region tree."""
    if mine.parcellation.id != query_region.parcellation.id:
        return None
    if mine.id == query_region.id:
        return AnchorMatch(
            Qualification.EXACT, query, mine.name, f"feature on {mine.name!r}, the query itself"
        )
    if query_region.includes(mine):
        return AnchorMatch(
            Qualification.CONTAINED,
            query,
            mine.name,
            f"feature on {mine.name!r}, contained in the query {query!r}",
        )
    if mine.includes(query_region):
        return AnchorMatch(
            Qualification.CONTAINS,
            query,
            mine.name,
            f"feature on {mine.name!r}, which contains the query {query!r}",
        )
    return None


def locations_overlap(query: Point | PointCloud | BoundingBox, located: Any) -> bool:
    """True if a query location and a feature's location (same space) meet.

    Points meet points within their ``sigma_mm`` (or :data:`POINT_TOLERANCE_MM`);
    boxes meet what lies inside them.
    """
    if isinstance(query, BoundingBox):
        if isinstance(located, BoundingBox):
            return query.intersection(located) is not None
        return bool(query.contains_many(_coordinates(located)).any())
    coords = _coordinates(query)
    if isinstance(located, BoundingBox):
        return bool(located.contains_many(coords).any())
    theirs = _coordinates(located)
    tolerance = max(float(np.max(np.atleast_1d(query.sigma_mm))), POINT_TOLERANCE_MM)
    # the query has few points, the feature may have thousands: one pass per query point
    return any(np.any(np.sum((theirs - point) ** 2, axis=1) <= tolerance**2) for point in coords)


def _coordinates(location: Any) -> np.ndarray:
    if isinstance(location, Point):
        return np.atleast_2d(location.coordinate)
    if isinstance(location, PointCloud):
        return location.coordinates
    if isinstance(location, BoundingBox):
        return np.array([location.minpoint, location.maxpoint])
    return np.atleast_2d(np.asarray(location, dtype=float))


def _is_space(concept: object) -> bool:
    # Space objects are built by the catalogue; compare by type name to avoid
    # importing the numeric stack for anchors that never meet a space
    return type(concept).__name__ == "Space" and hasattr(concept, "is_surface")


def _lookup(table: Any, spec: str) -> Any:
    try:
        return table.get(spec)
    except (NotFoundError, AmbiguousError):
        return None
