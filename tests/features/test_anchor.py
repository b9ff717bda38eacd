"""Anchors and qualifications: the region tree, parcellations, spaces and locations."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

import neuratlas
from neuratlas.features.anchor import (
    Anchor,
    AnchorMatch,
    AnchorMatcher,
    LabelGrid,
    LocationMismatchWarning,
    Qualification,
    describe_concept,
    locations_overlap,
    region_relation,
)
from neuratlas.locations.boundingbox import BoundingBox
from neuratlas.locations.point import Point
from neuratlas.locations.pointcloud import PointCloud
from tests.features.toy_features import JUELICH, MOTOR_RIGHT, NLIN6, SCHAEFER, V1_LEFT, V1_RIGHT

HUMAN = "Homo sapiens"


@pytest.fixture(scope="module")
def matcher() -> AnchorMatcher:
    return AnchorMatcher(neuratlas.active())


@pytest.fixture(scope="module")
def hoc1():
    return neuratlas.get_region("juelich", "hOc1")


# --- Anchor ------------------------------------------------------------------------
def test_an_anchor_keeps_regions_as_a_tuple() -> None:
    assert Anchor(regions="hOc1").regions == ("hOc1",)
    assert Anchor(regions=["hOc1", "hOc2"]).regions == ("hOc1", "hOc2")


def test_anchors_are_frozen_and_hashable_without_their_location() -> None:
    a = Anchor(species=HUMAN, regions=("hOc1",))
    with pytest.raises(dataclasses.FrozenInstanceError):
        a.species = "Mus musculus"  # type: ignore[misc]
    cloud = PointCloud(np.zeros((2, 3)), NLIN6)
    assert hash(Anchor(space=NLIN6, location=cloud)) == hash(Anchor(space=NLIN6))


@pytest.mark.parametrize(
    ("anchor", "text"),
    [
        (Anchor(species=HUMAN, regions=("hOc1",)), "hOc1 (Homo sapiens)"),
        (Anchor(parcellation="julich 3.1", regions=("hOc1",)), "hOc1 (julich 3.1)"),
        (Anchor(parcellation="schaefer"), "schaefer"),
        (Anchor(space="fs_LR 32k"), "fs_LR 32k"),
        (Anchor(regions=("a", "b", "c", "d")), "a, b, c and 1 more"),
        (Anchor(), "anywhere"),
        (Anchor(species=HUMAN), HUMAN),
    ],
)
def test_describe(anchor: Anchor, text: str) -> None:
    assert anchor.describe() == text


def test_describe_a_located_anchor_names_the_location() -> None:
    text = Anchor(space=NLIN6, location=Point((1, 2, 3), NLIN6)).describe()
    assert text.startswith("point (1.0, 2.0, 3.0)")
    box = Anchor(space=NLIN6, location=BoundingBox((0, 0, 0), (1, 1, 1), NLIN6))
    assert "box (0.0, 0.0, 0.0)-(1.0, 1.0, 1.0)" in box.describe()


def test_as_dict_is_json_ready() -> None:
    out = Anchor(species=HUMAN, regions=("hOc1",), space=NLIN6).as_dict()
    assert out == {"species": HUMAN, "parcellation": None, "regions": ["hOc1"], "space": NLIN6}


def test_qualifications_sort_exact_first() -> None:
    orders = [q.order for q in Qualification]
    assert orders == sorted(orders)
    assert Qualification.EXACT.order < Qualification.OVERLAPS.order


# --- resolution ---------------------------------------------------------------------
def test_a_region_without_parcellation_resolves_in_every_parcellation_of_the_species(
    matcher: AnchorMatcher, hoc1
) -> None:
    resolved = matcher.resolve(Anchor(species=HUMAN, regions=("hOc1",)))
    assert hoc1 in resolved.regions
    assert all(r.parcellation.species == HUMAN for r in resolved.regions)
    assert resolved.unresolved == ()


def test_resolution_is_cached(matcher: AnchorMatcher) -> None:
    a = Anchor(species=HUMAN, regions=("hOc1",))
    assert matcher.resolve(a) is matcher.resolve(Anchor(species=HUMAN, regions=("hOc1",)))


def test_a_region_of_no_parcellation_stays_unresolved(matcher: AnchorMatcher) -> None:
    resolved = matcher.resolve(Anchor(species=HUMAN, regions=("no such area xyz",)))
    assert resolved.regions == ()
    assert resolved.unresolved == ("no such area xyz",)


def test_a_mouse_anchor_does_not_resolve_in_human_parcellations(matcher: AnchorMatcher) -> None:
    resolved = matcher.resolve(Anchor(species="Mus musculus", regions=("hOc1",)))
    assert resolved.regions == ()


def test_an_unknown_parcellation_resolves_nothing(matcher: AnchorMatcher) -> None:
    resolved = matcher.resolve(Anchor(parcellation="no such parcellation", regions=("hOc1",)))
    assert resolved.parcellation is None and resolved.regions == ()


def test_a_parcellation_anchor_resolves_to_the_parcellation(matcher: AnchorMatcher) -> None:
    resolved = matcher.resolve(Anchor(parcellation=SCHAEFER))
    assert resolved.parcellation is neuratlas.get_parcellation(SCHAEFER)
    assert resolved.regions == ()


# --- the region tree ------------------------------------------------------------------
def test_region_relations_on_the_tree(hoc1) -> None:
    left, right = hoc1.children
    assert region_relation(hoc1, hoc1, "q").qualification is Qualification.EXACT
    assert region_relation(left, hoc1, "q").qualification is Qualification.CONTAINED
    assert region_relation(hoc1, left, "q").qualification is Qualification.CONTAINS
    assert region_relation(left, right, "q") is None


def test_regions_of_different_parcellations_do_not_relate(hoc1) -> None:
    other = neuratlas.get_region("aal3", "Calcarine left")
    assert region_relation(other, hoc1, "q") is None


@pytest.mark.parametrize(
    ("feature_region", "query_region", "expected"),
    [
        ("hOc1", "hOc1", Qualification.EXACT),
        ("hOc1 left", "hOc1", Qualification.CONTAINED),
        ("hOc1", "hOc1 left", Qualification.CONTAINS),
        ("hOc1", "Visual cortex", Qualification.CONTAINED),
    ],
)
def test_match_a_region_query(
    matcher: AnchorMatcher, feature_region: str, query_region: str, expected
) -> None:
    query = neuratlas.get_region("juelich", query_region)
    match = matcher.match(Anchor(species=HUMAN, regions=(feature_region,)), query)
    assert isinstance(match, AnchorMatch)
    assert match.qualification is expected
    assert match.query == describe_concept(query)
    assert query.name in match.explanation


def test_unrelated_regions_do_not_match(matcher: AnchorMatcher) -> None:
    query = neuratlas.get_region("juelich", "hOc2")
    assert matcher.match(Anchor(species=HUMAN, regions=("hOc1",)), query) is None


def test_a_parcellation_feature_contains_each_region_query(matcher: AnchorMatcher) -> None:
    region = neuratlas.get_parcellation(SCHAEFER).leaves[0]
    match = matcher.match(Anchor(parcellation=SCHAEFER), region)
    assert match.qualification is Qualification.CONTAINS


def test_a_parcellation_feature_is_exact_for_its_parcellation(matcher: AnchorMatcher) -> None:
    parc = neuratlas.get_parcellation(SCHAEFER)
    assert matcher.match(Anchor(parcellation=SCHAEFER), parc).qualification is Qualification.EXACT
    other = neuratlas.get_parcellation("aal3")
    assert matcher.match(Anchor(parcellation=SCHAEFER), other) is None


def test_a_region_feature_is_contained_in_its_parcellation(matcher: AnchorMatcher) -> None:
    parc = neuratlas.get_parcellation(JUELICH)
    match = matcher.match(Anchor(parcellation=JUELICH, regions=("hOc1",)), parc)
    assert match.qualification is Qualification.CONTAINED


def test_a_space_query_matches_features_in_that_space(matcher: AnchorMatcher) -> None:
    space = neuratlas.get_space(NLIN6)
    assert matcher.match(Anchor(space=NLIN6), space).qualification is Qualification.EXACT
    assert matcher.match(Anchor(space="fsaverage5"), space) is None
    assert matcher.match(Anchor(parcellation=SCHAEFER), space) is None


# --- locations ------------------------------------------------------------------------
def test_a_region_whose_map_contains_a_point_contains_it(matcher: AnchorMatcher) -> None:
    right = Point(V1_RIGHT, NLIN6)
    anchor = Anchor(species=HUMAN, parcellation=JUELICH, regions=("hOc1",))
    match = matcher.match(anchor, right)
    assert match.qualification is Qualification.CONTAINS
    # the left hemisphere's map does not hold a right-hemisphere point
    left_only = Anchor(species=HUMAN, parcellation=JUELICH, regions=("hOc1 left",))
    assert matcher.match(left_only, right) is None
    assert matcher.match(left_only, Point(V1_LEFT, NLIN6)).qualification is Qualification.CONTAINS


def test_a_point_cloud_partly_inside_a_region_overlaps_it(matcher: AnchorMatcher) -> None:
    cloud = PointCloud([V1_LEFT, MOTOR_RIGHT], NLIN6)
    anchor = Anchor(species=HUMAN, parcellation=JUELICH, regions=("hOc1",))
    assert matcher.match(anchor, cloud).qualification is Qualification.OVERLAPS


def test_a_box_over_a_region_overlaps_it(matcher: AnchorMatcher) -> None:
    anchor = Anchor(species=HUMAN, parcellation=JUELICH, regions=("hOc1",))
    box = BoundingBox((-20, -100, -10), (20, -80, 10), NLIN6)
    assert matcher.match(anchor, box).qualification is Qualification.OVERLAPS
    far = BoundingBox((-5, 50, 60), (5, 60, 70), NLIN6)
    assert matcher.match(anchor, far) is None


def test_a_parcellation_feature_contains_a_point_its_map_covers(matcher: AnchorMatcher) -> None:
    anchor = Anchor(parcellation=JUELICH)
    assert matcher.match(anchor, Point(V1_RIGHT, NLIN6)).qualification is Qualification.CONTAINS
    assert matcher.match(anchor, Point((0, 0, 200), NLIN6)) is None


def test_a_point_in_a_space_without_the_map_matches_nothing(matcher: AnchorMatcher) -> None:
    anchor = Anchor(species=HUMAN, parcellation=JUELICH, regions=("hOc1",))
    assert matcher.match(anchor, Point(V1_RIGHT, "MNI152 2009c asym")) is None
    assert matcher.match(anchor, Point(V1_RIGHT)) is None  # no space: nothing to compare


def test_a_located_feature_overlaps_a_region_whose_mask_holds_a_point(
    matcher: AnchorMatcher, hoc1
) -> None:
    anchor = Anchor(space=NLIN6)
    inside = PointCloud([V1_LEFT, (0, 0, 200)], NLIN6)
    match = matcher.match(anchor, hoc1, location=inside)
    assert match.qualification is Qualification.OVERLAPS
    outside = PointCloud([MOTOR_RIGHT], NLIN6)
    assert matcher.match(anchor, hoc1, location=outside) is None


def test_a_located_feature_in_a_space_without_the_regions_map_does_not_match(
    matcher: AnchorMatcher, hoc1
) -> None:
    # Juelich has no labelled map in MNI152 2009c: no match, no error, but a warning why
    anchor = Anchor(space="MNI152 2009c asym")
    cloud = PointCloud([V1_LEFT], "MNI152 2009c asym")
    with pytest.warns(LocationMismatchWarning, match="no transform"):
        assert matcher.match(anchor, hoc1, location=cloud) is None


def test_a_located_feature_overlaps_a_query_location() -> None:
    cloud = PointCloud([V1_LEFT, V1_RIGHT], NLIN6)
    assert locations_overlap(Point(V1_LEFT, NLIN6), cloud)
    assert locations_overlap(Point(np.add(V1_LEFT, 0.5), NLIN6), cloud)  # within 1 mm
    assert not locations_overlap(Point(np.add(V1_LEFT, 5), NLIN6), cloud)
    assert locations_overlap(Point(np.add(V1_LEFT, 5), NLIN6, sigma_mm=10), cloud)
    box = BoundingBox((-10, -95, 0), (0, -85, 5), NLIN6)
    assert locations_overlap(box, cloud)
    assert locations_overlap(Point(V1_LEFT, NLIN6), box)
    assert locations_overlap(box, BoundingBox((-1, -86, 4), (3, -80, 9), NLIN6))
    assert not locations_overlap(box, BoundingBox((50, 50, 50), (60, 60, 60), NLIN6))


def test_a_location_query_in_another_space_misses_located_features(
    matcher: AnchorMatcher,
) -> None:
    anchor = Anchor(space=NLIN6, location=PointCloud([V1_LEFT], NLIN6))
    assert matcher.match(anchor, Point(V1_LEFT, "MNI152 2009c asym")) is None
    assert matcher.match(anchor, Point(V1_LEFT, NLIN6)).qualification is Qualification.OVERLAPS


def test_label_grid_reads_labels_and_names(matcher: AnchorMatcher) -> None:
    grid = matcher.grid(neuratlas.get_parcellation(JUELICH), neuratlas.get_space(NLIN6))
    assert isinstance(grid, LabelGrid)
    labels = grid.labels_at(np.array([V1_RIGHT, (0, 0, 500)]))
    assert labels[1] == 0  # outside the volume
    names = grid.names(labels)
    assert any("V1" in n and "right" in n for n in names)
    assert (
        matcher.grid(neuratlas.get_parcellation(JUELICH), neuratlas.get_space("fsaverage5"))
        is None
    )
