"""get_features: every feature linked to a concept, with how it is linked.

Static features (the registered sources) are loaded once per catalogue and
indexed by modality and anchor: a region query looks up the region, its
descendants and its ancestors in a dictionary instead of testing every feature.
Live queries (computed features) are asked on each query of their modality.
"""

from __future__ import annotations

import re
import threading
import warnings
from collections.abc import Iterable, Mapping
from typing import Any

from neuratlas import matching
from neuratlas.catalogue import Catalogue, active
from neuratlas.core.parcellation import Parcellation
from neuratlas.core.region import Region
from neuratlas.errors import (
    AmbiguousError,
    ArgumentError,
    ArgumentTypeError,
    Error,
    NeuratlasWarning,
    NotFoundError,
)
from neuratlas.features import modalities, sources
from neuratlas.features.anchor import (
    AnchorMatch,
    AnchorMatcher,
    Qualification,
    describe_concept,
    region_relation,
)
from neuratlas.features.feature import Feature
from neuratlas.features.points import SampleLocations
from neuratlas.locations.boundingbox import BoundingBox
from neuratlas.locations.point import Point
from neuratlas.locations.pointcloud import PointCloud


class FeatureSourceWarning(NeuratlasWarning):
    """A registered feature source failed; its features are left out."""


class _ModalityIndex:
    """The static features of some classes, indexed by what they are anchored to."""

    def __init__(self, features: list[Feature], matcher: AnchorMatcher) -> None:
        self.features = features
        self.matcher = matcher
        self.by_region: dict[str, list[tuple[Feature, Region]]] = {}
        self.by_parcellation: dict[str, list[Feature]] = {}
        self.by_space: dict[str, list[Feature]] = {}
        self.located: list[Feature] = []
        self._region_vs_located: dict[tuple[str, str], AnchorMatch | None] = {}
        for feature in features:
            resolved = matcher.resolve(feature.anchor)
            for region in resolved.regions:
                self.by_region.setdefault(region.id, []).append((feature, region))
            if resolved.parcellation is not None and not resolved.regions:
                self.by_parcellation.setdefault(resolved.parcellation.id, []).append(feature)
            if resolved.space is not None:
                self.by_space.setdefault(resolved.space.id, []).append(feature)
                if not resolved.regions and (
                    feature.anchor.location is not None or isinstance(feature, SampleLocations)
                ):
                    self.located.append(feature)
        self.keys = frozenset(k for f in features for k in f.metadata)
        self._located_ids = frozenset(f.id for f in self.located)

    # --- queries ---------------------------------------------------------------------
    def region(self, region: Region, query: str) -> dict[str, tuple[Feature, AnchorMatch]]:
        found: dict[str, tuple[Feature, AnchorMatch]] = {}
        for node in (*region, *region.ancestors):
            for feature, mine in self.by_region.get(node.id, ()):
                _keep(found, feature, region_relation(mine, region, query))
        parc = region.parcellation
        if isinstance(region, Parcellation):
            for feature in self.by_parcellation.get(parc.id, ()):
                _keep(
                    found,
                    feature,
                    AnchorMatch(
                        Qualification.EXACT,
                        query,
                        parc.name,
                        f"feature on the parcellation {query!r}",
                    ),
                )
            return found
        for feature in self.by_parcellation.get(parc.id, ()):
            _keep(
                found,
                feature,
                AnchorMatch(
                    Qualification.CONTAINS,
                    query,
                    parc.name,
                    f"feature on the whole parcellation {parc.name!r}, which contains {query!r}",
                ),
            )
        for feature in self.located:
            key = (feature.id, region.id)
            if key not in self._region_vs_located:
                self._region_vs_located[key] = self._located_match(feature, region, query)
            _keep(found, feature, self._region_vs_located[key])
        return found

    def _located_match(self, feature: Feature, region: Region, query: str) -> AnchorMatch | None:
        location = _location_of(feature)
        if location is None:
            return None
        resolved = self.matcher.resolve(feature.anchor)
        return self.matcher.match_region(feature.anchor, resolved, region, query, location)

    def space(self, space: Any, query: str) -> dict[str, tuple[Feature, AnchorMatch]]:
        found: dict[str, tuple[Feature, AnchorMatch]] = {}
        for feature in self.by_space.get(space.id, ()):
            _keep(
                found,
                feature,
                AnchorMatch(
                    Qualification.EXACT, query, space.name, f"feature in the space {space.name!r}"
                ),
            )
        return found

    def location(
        self, concept: Point | PointCloud | BoundingBox
    ) -> dict[str, tuple[Feature, AnchorMatch]]:
        found: dict[str, tuple[Feature, AnchorMatch]] = {}
        for feature in self.features:
            location = _location_of(feature) if feature.id in self._located_ids else None
            _keep(found, feature, self.matcher.match(feature.anchor, concept, location))
        return found


def _keep(
    found: dict[str, tuple[Feature, AnchorMatch]], feature: Feature, match: AnchorMatch | None
) -> None:
    """Keep the best match of each feature."""
    if match is None:
        return
    old = found.get(feature.id)
    if old is None or match.qualification.order < old[1].qualification.order:
        found[feature.id] = (feature, match)


def _location_of(feature: Feature) -> Any:
    if feature.anchor.location is not None:
        return feature.anchor.location
    if isinstance(feature, SampleLocations):
        try:
            return feature.location
        except Error as exc:
            warnings.warn(
                f"feature {feature.id!r}: its locations cannot be read ({exc}); left out",
                FeatureSourceWarning,
                stacklevel=4,
            )
    return None


class FeatureIndex:
    """Every static feature of one catalogue, and the per-modality indexes."""

    def __init__(self, catalogue: Catalogue) -> None:
        self.catalogue = catalogue
        self.matcher = AnchorMatcher(catalogue)
        self.by_id: dict[str, Feature] = {}
        self.failed: dict[str, str] = {}  # source name -> why it gave nothing
        for name, source in sources.static_sources().items():
            try:
                produced = list(source())
            except Error as exc:
                # one broken source must not hide the others' features
                self.failed[name] = str(exc)
                warnings.warn(
                    f"feature source {name!r} failed and is left out: {exc}",
                    FeatureSourceWarning,
                    stacklevel=3,
                )
                continue
            for feature in produced:
                if not isinstance(feature, Feature):
                    raise ArgumentTypeError(
                        f"feature source {name!r} produced {type(feature).__name__}, "
                        "not a Feature",
                        hint="a source returns neuratlas.features.Feature objects",
                    )
                if not feature.source:
                    feature.source = name
                self.by_id[feature.id] = feature  # later sources replace equal ids
        self.features = list(self.by_id.values())
        self._modal: dict[tuple[type[Feature], ...], _ModalityIndex] = {}
        self._lock = threading.Lock()

    def of(self, classes: tuple[type[Feature], ...]) -> _ModalityIndex:
        """The index of the features that are instances of ``classes`` (built once)."""
        index = self._modal.get(classes)
        if index is None:
            with self._lock:
                index = self._modal.get(classes)
                if index is None:
                    chosen = [f for f in self.features if isinstance(f, classes)]
                    index = _ModalityIndex(chosen, self.matcher)
                    self._modal[classes] = index
        return index


_index_lock = threading.Lock()
_index: tuple[Catalogue, int, FeatureIndex] | None = None
# live features by id: found by get_instance_by_id once a query returned them
_live_by_id: dict[str, Feature] = {}


def feature_index() -> FeatureIndex:
    """The index of the active catalogue, rebuilt when the catalogue or sources change."""
    global _index
    catalogue = active()
    generation = sources.generation()
    current = _index
    if current is not None and current[0] is catalogue and current[1] == generation:
        return current[2]
    with _index_lock:
        current = _index
        if current is None or current[0] is not catalogue or current[1] != generation:
            current = (catalogue, generation, FeatureIndex(catalogue))
            _index = current
    return current[2]


def resolve_concept(concept: object, catalogue: Catalogue | None = None) -> object:
    """The Region, Parcellation, Space or location that ``concept`` stands for.

    A string is tried as a parcellation, then as a space, then as
    ``"<region> (<parcellation>)"`` (the form an AmbiguousError lists its candidates
    in), then as a region of any parcellation (the best match; equally good matches
    in unrelated parcellations raise AmbiguousError).
    """
    catalogue = catalogue or active()
    if isinstance(concept, Region | Point | PointCloud | BoundingBox):
        return concept
    if type(concept).__name__ == "Space" and hasattr(concept, "is_surface"):
        return concept
    if not isinstance(concept, str):
        raise ArgumentTypeError(
            f"features are found for a region, parcellation, space or location, "
            f"not {type(concept).__name__}",
            hint="e.g. neuratlas.get_region('juelich', 'hOc1') or a region name",
        )
    for table in (catalogue.parcellations, catalogue.spaces):
        try:
            return table.get(concept)
        except NotFoundError:
            continue
    qualified = _region_in_parcellation(concept, catalogue)
    return qualified if qualified is not None else _region_anywhere(concept, catalogue)


_QUALIFIED = re.compile(r"^(?P<region>.+?)\s*\((?P<parcellation>[^()]+)\)$")


def _region_in_parcellation(spec: str, catalogue: Catalogue) -> Region | None:
    """``"Amygdala (AAL3)"``: the region in that parcellation; None for another form.

    Region names may end in parentheses of their own (``"Area hOc1 (V1, 17, CalcS)"``):
    when the parenthesised words name no parcellation, the string is not this form.
    """
    found = _QUALIFIED.match(spec)
    if found is None:
        return None
    try:
        parcellation = catalogue.parcellations.get(found["parcellation"])
    except (NotFoundError, AmbiguousError):
        return None
    return parcellation.get_region(found["region"])


def _region_anywhere(spec: str, catalogue: Catalogue) -> Region:
    hits: list[tuple[Any, Parcellation, Region]] = []
    for parc in catalogue.parcellations:
        try:
            region = parc.get_region(spec)
        except (NotFoundError, AmbiguousError):
            continue
        rank = max((r for r in (matching.rank(spec, n) for n in region.names) if r), default=())
        hits.append((rank, parc, region))
    if not hits:
        names = [p.name for p in catalogue.parcellations] + [s.name for s in catalogue.spaces]
        raise NotFoundError(
            f"{spec!r} names no parcellation, space or region",
            suggestions=matching.closest(spec, names),
            hint="pass a Region (neuratlas.get_region(parcellation, name)), a parcellation "
            "or a space name",
        )
    best = max(rank for rank, _, _ in hits)
    tied = [(p, r) for rank, p, r in hits if rank == best]
    # versions of one parcellation: the newest; unrelated parcellations: ambiguous
    newest: dict[str, tuple[Parcellation, Region]] = {}
    for parc, region in tied:
        old = newest.get(parc.collection)
        if old is None or parc.version_order > old[0].version_order:
            newest[parc.collection] = (parc, region)
    if len(newest) == 1:
        return next(iter(newest.values()))[1]
    raise AmbiguousError(
        f"{spec!r} names regions in {len(newest)} parcellations equally well",
        candidates=[f"{r.name} ({p.short_name})" for p, r in newest.values()],
    )


def _check_filters(
    filters: Mapping[str, Any], index: _ModalityIndex, classes: tuple[type[Feature], ...]
) -> None:
    if not filters:
        return
    allowed = set(index.keys)
    for cls in modalities.classes():
        if issubclass(cls, classes):
            allowed.update(cls.filter_keys)
    unknown = sorted(set(filters) - allowed)
    if unknown:
        names = ", ".join(c.modality for c in classes)
        raise ArgumentError(
            f"unknown filter(s) {', '.join(map(repr, unknown))} for {names}",
            hint=f"known filters: {', '.join(sorted(allowed)) or 'none'}",
        )


def _passes(feature: Feature, filters: Mapping[str, Any]) -> bool:
    for key, wanted in filters.items():
        if key not in feature.metadata:
            return False
        value = feature.metadata[key]
        options = wanted if isinstance(wanted, list | tuple | set | frozenset) else [wanted]
        if not any(_same(value, w) for w in options):
            return False
    return True


def _same(value: Any, wanted: Any) -> bool:
    if isinstance(value, list | tuple | set | frozenset):
        return any(_same(v, wanted) for v in value)
    if isinstance(value, str) or isinstance(wanted, str):
        return str(value).casefold() == str(wanted).casefold()
    return bool(value == wanted)


def get_features(
    concept: object, modality: str | type[Feature] | None = None, **filters: Any
) -> list[Feature]:
    """Features linked to ``concept``, each saying how (``feature.match``).

    Parameters
    ----------
    concept : Region, Parcellation, Space, Point, PointCloud, BoundingBox or str
        A string is tried as a parcellation, then a space, then a region of any
        parcellation (equally good regions of unrelated parcellations raise
        AmbiguousError).
    modality : str or Feature subclass, optional
        A modality name, alias or class name, or words of one (the rules of
        :mod:`neuratlas.matching`); words that fit several modalities equally
        (``"receptor density"``) ask for all of them. None: every modality
        except live ones (they compute data on demand, so they must be asked for).
    **filters
        Metadata the features must have, e.g. ``subject="average"``,
        ``gene="MAOA"``; a list of values accepts any of them. Strings compare
        case-insensitively.

    Returns
    -------
    list of Feature
        Copies carrying their :class:`~neuratlas.features.anchor.AnchorMatch`,
        EXACT first, then CONTAINED, CONTAINS, OVERLAPS; by name within each.

    Raises
    ------
    NotFoundError
        ``modality`` or a string ``concept`` names nothing (with suggestions).
    AmbiguousError
        A string ``concept`` fits regions of unrelated parcellations equally.
    ArgumentError
        A filter that no feature of the modality has (the hint lists those known).
    ArgumentTypeError
        ``concept`` is of an unsupported type.

    Examples
    --------
    >>> import neuratlas
    >>> hoc1 = neuratlas.get_region("juelich", "hOc1")                # doctest: +SKIP
    >>> neuratlas.get_features(hoc1, "receptor density fingerprint")  # doctest: +SKIP
    """
    classes = (Feature,) if modality is None else modalities.resolve(modality)
    index = feature_index()
    resolved = resolve_concept(concept, index.catalogue)
    modal = index.of(classes)
    _check_filters(filters, modal, classes)
    query = describe_concept(resolved)
    if isinstance(resolved, Region):
        found = modal.region(resolved, query)
    elif isinstance(resolved, Point | PointCloud | BoundingBox):
        found = modal.location(resolved)
    else:
        found = modal.space(resolved, query)
    results = [f.with_match(m) for f, m in found.values() if _passes(f, filters)]
    if modality is not None:
        results.extend(_live(resolved, classes, filters, index.matcher, query))
    results.sort(key=lambda f: (f.match.qualification.order, f.name, f.id))  # type: ignore[union-attr]
    return results


def _live(
    concept: object,
    classes: tuple[type[Feature], ...],
    filters: Mapping[str, Any],
    matcher: AnchorMatcher,
    query: str,
) -> Iterable[Feature]:
    for cls, compute in sources.live_queries():
        if not issubclass(cls, classes):
            continue
        for feature in compute(concept, dict(filters)):
            if feature.match is None:
                match = matcher.match(feature.anchor, concept) or AnchorMatch(
                    Qualification.OVERLAPS,
                    query,
                    feature.anchor.describe(),
                    "computed for the query by a live source",
                )
                feature = feature.with_match(match)
            _live_by_id[feature.id] = feature
            yield feature


get = get_features


def get_instance_by_id(feature_id: str) -> Feature:
    """The feature with this id: any static feature, or a live one returned before.

    Raises
    ------
    NotFoundError
        No feature has that id (the suggestions list the closest ids).
    """
    if not isinstance(feature_id, str):
        raise ArgumentTypeError(f"a feature id is a string, not {type(feature_id).__name__}")
    index = feature_index()
    found = index.by_id.get(feature_id) or _live_by_id.get(feature_id)
    if found is not None:
        return found
    known = [*index.by_id, *_live_by_id]
    raise NotFoundError(
        f"no feature has the id {feature_id!r}",
        suggestions=matching.closest(feature_id, known),
        hint=None
        if known
        else "no feature is known: live features are found by id after a query returned them",
    )
