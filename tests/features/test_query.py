"""get_features / get / get_instance_by_id over the toy source on real parcellations."""

from __future__ import annotations

import threading

import pandas as pd
import pytest

import neuratlas
from neuratlas import catalogue
from neuratlas.errors import (
    AmbiguousError,
    ArgumentError,
    ArgumentTypeError,
    NeuratlasWarning,
    NotFoundError,
)
from neuratlas.features import (
    Anchor,
    FunctionalConnectivity,
    GeneExpressions,
    Qualification,
    ReceptorDensityFingerprint,
    Tabular,
    get,
    get_features,
    get_instance_by_id,
    register_live_query,
    register_source,
)
from neuratlas.features.anchor import AnchorMatch, LocationMismatchWarning
from neuratlas.features.query import FeatureSourceWarning, feature_index, resolve_concept
from neuratlas.locations.boundingbox import BoundingBox
from neuratlas.locations.point import Point
from neuratlas.locations.pointcloud import PointCloud
from tests.features.toy_features import (
    MOTOR_RIGHT,
    NLIN6,
    SCHAEFER,
    V1_LEFT,
    V1_RIGHT,
    only_sources,
    toy_features,
)

pytestmark = pytest.mark.usefixtures("toy")


def ids(features) -> list[str]:
    return [f.id for f in features]


def by_id(features) -> dict[str, Qualification]:
    return {f.id: f.match.qualification for f in features}


@pytest.fixture(scope="module")
def hoc1():
    return neuratlas.get_region("juelich", "hOc1")


# --- regions -------------------------------------------------------------------------
def test_a_region_query_finds_its_features_its_parts_and_its_parcellations(hoc1) -> None:
    found = by_id(get_features(hoc1))
    assert found == {
        "toy/fingerprint/hoc1": Qualification.EXACT,
        "toy/fingerprint/hoc1-left": Qualification.CONTAINED,
        "toy/profile/hoc1-right": Qualification.CONTAINED,
        "toy/sc/juelich": Qualification.CONTAINS,
        "toy/samples": Qualification.OVERLAPS,  # two samples lie in V1
        "toy/image/occipital-box": Qualification.OVERLAPS,
    }


def test_results_are_sorted_by_qualification_then_name(hoc1) -> None:
    found = get_features(hoc1)
    keys = [(f.match.qualification.order, f.name) for f in found]
    assert keys == sorted(keys)


def test_a_hemisphere_query_finds_the_whole_area_as_containing_it(hoc1) -> None:
    left = hoc1.children[0]
    found = by_id(get_features(left, "receptor density fingerprint"))
    assert found == {
        "toy/fingerprint/hoc1-left": Qualification.EXACT,
        "toy/fingerprint/hoc1": Qualification.CONTAINS,
    }


def test_the_modality_limits_the_results(hoc1) -> None:
    assert ids(get_features(hoc1, "cell density profile")) == ["toy/profile/hoc1-right"]
    assert ids(get_features(hoc1, "streamline counts")) == ["toy/sc/juelich"]
    assert get_features(hoc1, "functional connectivity") == []


def test_a_base_class_modality_includes_its_subclasses(hoc1) -> None:
    tabular = set(ids(get_features(hoc1, Tabular)))
    assert tabular == {
        "toy/fingerprint/hoc1",
        "toy/fingerprint/hoc1-left",
        "toy/profile/hoc1-right",
    }
    assert set(ids(get_features(hoc1, "connectivity"))) == {"toy/sc/juelich"}


def test_words_fitting_several_modalities_ask_for_all_of_them(hoc1) -> None:
    # "cell density" is an alias of the profile; "receptor density" fits fingerprint and profile
    assert set(ids(get_features(hoc1, "receptor density"))) == {
        "toy/fingerprint/hoc1",
        "toy/fingerprint/hoc1-left",
    }


def test_a_schaefer_region_finds_the_parcellation_matrices() -> None:
    region = neuratlas.get_parcellation(SCHAEFER).leaves[0]
    found = get_features(region, "fc")
    assert set(ids(found)) == {"toy/fc/schaefer-100-7", "toy/fc/schaefer-100-7/subject-01"}
    assert all(f.match.qualification is Qualification.CONTAINS for f in found)


def test_located_features_in_a_space_the_region_is_not_mapped_in_are_explained() -> None:
    # the toy samples lie in MNI152 NLin6; Tian S1 is mapped in 2009c only
    region = neuratlas.get_region("tian s1", "Amygdala left")
    with pytest.warns(LocationMismatchWarning, match="mapped in MNI152 2009c") as caught:
        found = get_features(region, "sample locations")
        get_features(region, "sample locations")  # said once, not at every query
    assert "toy/samples" not in ids(found)
    assert len(caught) == 1
    assert "no transform" in str(caught[0].message)
    assert issubclass(LocationMismatchWarning, NeuratlasWarning)


def test_a_parcellation_query_is_exact_for_its_matrices_and_contains_its_regions() -> None:
    found = by_id(get_features(neuratlas.get_parcellation("juelich")))
    assert found["toy/sc/juelich"] is Qualification.EXACT
    assert found["toy/fingerprint/hoc1"] is Qualification.CONTAINED
    assert "toy/samples" not in found


# --- strings ------------------------------------------------------------------------
def test_a_string_is_a_parcellation_then_a_space_then_a_region() -> None:
    assert isinstance(resolve_concept("schaefer 100 7"), neuratlas.Region)
    assert resolve_concept("schaefer 100 7") is neuratlas.get_parcellation(SCHAEFER)
    assert resolve_concept("nlin6") is neuratlas.get_space(NLIN6)
    assert resolve_concept("hOc1") == neuratlas.get_region("juelich", "hOc1")
    assert ids(get_features("hOc1", "fingerprint"))[0] == "toy/fingerprint/hoc1"


def test_a_string_naming_regions_of_several_parcellations_is_ambiguous() -> None:
    with pytest.raises(AmbiguousError, match="Amygdala") as err:
        get_features("Amygdala left")
    assert len(err.value.candidates) > 1
    # each candidate, as listed, is a concept of its own
    for candidate in err.value.candidates[:3]:
        region = resolve_concept(candidate)
        assert isinstance(region, neuratlas.Region)
        assert candidate == f"{region.name} ({region.parcellation.short_name})"


def test_a_region_name_ending_in_parentheses_is_still_a_region() -> None:
    region = neuratlas.get_region("juelich", "hOc1")
    assert resolve_concept(f"{region.name} (Juelich)") == region
    # "(formerly ...)" names no parcellation: the whole string is the region's name
    name = "Juxtapositional Lobule Cortex (formerly Supplementary Motor Cortex)"
    assert resolve_concept(name).name == name
    with pytest.raises(NotFoundError):
        resolve_concept("Amygdala (no such parcellation at all)")


def test_a_string_naming_nothing_raises_with_suggestions() -> None:
    with pytest.raises(NotFoundError, match="names no parcellation, space or region"):
        get_features("qqqzzz xxyy")


def test_a_concept_of_another_type_raises() -> None:
    with pytest.raises(ArgumentTypeError, match="not int"):
        get_features(42)


def test_get_is_get_features() -> None:
    assert get is get_features
    assert neuratlas.get_features("hOc1", "fingerprint")[0].id == "toy/fingerprint/hoc1"


# --- spaces and locations ------------------------------------------------------------
def test_a_space_query_finds_the_features_in_that_space() -> None:
    found = by_id(get_features(neuratlas.get_space(NLIN6)))
    assert found == {
        "toy/samples": Qualification.EXACT,
        "toy/image/occipital-box": Qualification.EXACT,
    }


def test_a_point_finds_the_features_of_the_regions_that_contain_it() -> None:
    found = by_id(get_features(Point(V1_RIGHT, NLIN6)))
    assert found["toy/fingerprint/hoc1"] is Qualification.CONTAINS
    assert found["toy/profile/hoc1-right"] is Qualification.CONTAINS
    assert "toy/fingerprint/hoc1-left" not in found
    assert found["toy/sc/juelich"] is Qualification.CONTAINS
    assert found["toy/samples"] is Qualification.OVERLAPS  # a sample sits at that point
    assert found["toy/image/occipital-box"] is Qualification.OVERLAPS


def test_a_point_elsewhere_finds_other_features() -> None:
    found = by_id(get_features(Point(MOTOR_RIGHT, NLIN6), "fingerprint"))
    assert found == {}


def test_a_point_cloud_and_a_box_find_located_features() -> None:
    cloud = PointCloud([V1_LEFT, MOTOR_RIGHT], NLIN6)
    found = by_id(get_features(cloud, "sample locations"))
    assert found == {"toy/samples": Qualification.OVERLAPS}
    box = BoundingBox((-20, -100, -10), (20, -80, 10), NLIN6)
    assert by_id(get_features(box, "fingerprint"))["toy/fingerprint/hoc1"] is (
        Qualification.OVERLAPS
    )


# --- filters -------------------------------------------------------------------------
def test_filters_keep_features_with_that_metadata() -> None:
    region = neuratlas.get_parcellation(SCHAEFER).leaves[0]
    assert ids(get_features(region, "fc", subject="average")) == ["toy/fc/schaefer-100-7"]
    assert ids(get_features(region, "fc", subject="01")) == ["toy/fc/schaefer-100-7/subject-01"]
    assert len(get_features(region, "fc", subject=["01", "average"])) == 2
    assert len(get_features(region, "fc", cohort="hcp")) == 2  # strings ignore case
    assert get_features(region, "fc", cohort="other") == []


def test_a_filter_on_a_list_value_matches_an_element(hoc1) -> None:
    assert len(get_features(hoc1, "fingerprint", receptors="GABAA")) == 2


def test_an_unknown_filter_raises_with_the_known_ones(hoc1) -> None:
    with pytest.raises(ArgumentError, match="unknown filter") as err:
        get_features(hoc1, "fc", colour="red")
    assert "subject" in str(err.value.hint)


def test_an_unknown_modality_raises_with_suggestions(hoc1) -> None:
    with pytest.raises(NotFoundError, match="no modality") as err:
        get_features(hoc1, "funtional conectivity")
    assert "functional connectivity" in err.value.suggestions


# --- copies, laziness and ids ---------------------------------------------------------
def test_results_are_copies_carrying_the_match(hoc1) -> None:
    found = get_features(hoc1, "fingerprint")[0]
    original = get_instance_by_id(found.id)
    assert found is not original
    assert original.match is None
    assert isinstance(found.match, AnchorMatch)


def test_data_is_loaded_once_and_shared_by_the_copies(hoc1) -> None:
    calls = []

    def load():
        calls.append(1)
        return pd.DataFrame({"mean": [1.0]}, index=["AMPA"])

    feature = ReceptorDensityFingerprint(
        id="lazy/one", name="lazy", anchor=Anchor(regions=("hOc1",)), loader=load
    )
    with only_sources(lazy=lambda: [feature]):
        first = get_features(hoc1)[0]
        second = get_features(hoc1)[0]
        assert calls == []  # metadata only
        assert first.data.equals(second.data)
        assert feature.data is first.data
    assert calls == [1]


def test_get_instance_by_id_finds_static_features() -> None:
    feature = get_instance_by_id("toy/fc/schaefer-100-7")
    assert isinstance(feature, FunctionalConnectivity)
    assert feature.data.shape == (100, 100)


def test_an_unknown_id_raises_with_suggestions() -> None:
    with pytest.raises(NotFoundError, match="no feature has the id") as err:
        get_instance_by_id("toy/fc/schaefer-100")
    assert "toy/fc/schaefer-100-7" in err.value.suggestions
    with pytest.raises(ArgumentTypeError):
        get_instance_by_id(3)  # type: ignore[arg-type]


def test_registering_a_source_rebuilds_the_index(hoc1) -> None:
    before = feature_index()
    extra = ReceptorDensityFingerprint(
        id="extra/hoc1", name="extra", anchor=Anchor(regions=("hOc1",)), data=[[1.0]]
    )
    register_source("extra", lambda: [extra])
    assert feature_index() is not before
    assert "extra/hoc1" in ids(get_features(hoc1, "fingerprint"))
    assert get_instance_by_id("extra/hoc1").source == "extra"


def test_the_index_is_built_once_for_warm_queries(hoc1) -> None:
    get_features(hoc1)
    index = feature_index()
    get_features(hoc1, "fingerprint")
    assert feature_index() is index


def test_a_failing_source_is_left_out_with_a_warning(hoc1) -> None:
    def broken():
        raise neuratlas.DataUnavailableError("cannot read the toy folder")

    register_source("broken", broken)
    with pytest.warns(FeatureSourceWarning, match="broken"):
        found = get_features(hoc1, "fingerprint")
    assert len(found) == 2
    assert "broken" in feature_index().failed


def test_a_source_producing_something_else_raises() -> None:
    register_source("wrong", lambda: ["not a feature"])
    with pytest.raises(ArgumentTypeError, match="produced str"):
        get_features("hOc1")


def test_later_sources_replace_features_with_the_same_id() -> None:
    twin = toy_features()[0]
    twin.name = "replaced"
    register_source("twin", lambda: [twin])
    assert get_instance_by_id("toy/fingerprint/hoc1").name == "replaced"


def test_concurrent_first_queries_build_one_index(hoc1) -> None:
    register_source("again", lambda: [])  # a fresh index to build
    results: list[int] = []

    def run() -> None:
        results.append(len(get_features(hoc1)))

    threads = [threading.Thread(target=run) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results == [6] * 4


# --- live queries --------------------------------------------------------------------
def test_live_queries_run_for_their_modality_and_are_found_by_id_afterwards(hoc1) -> None:
    asked = []

    def expressions(concept, filters):
        asked.append((concept, dict(filters)))
        frame = pd.DataFrame({"gene": [filters["gene"]], "expression": [1.5]})
        feature = GeneExpressions(
            id=f"live/{filters['gene']}",
            name=f"{filters['gene']} in {concept}",
            anchor=Anchor(species="Homo sapiens", space=NLIN6),
            data=frame,
            metadata={"gene": filters["gene"]},
        )
        return [feature]

    register_live_query(GeneExpressions, expressions)
    assert get_features(hoc1) and asked == []  # no modality: no live query
    found = get_features(hoc1, "gene expression", gene="MAOA")
    assert asked == [(hoc1, {"gene": "MAOA"})]
    assert ids(found) == ["live/MAOA"]
    assert found[0].match.qualification is Qualification.OVERLAPS  # filled in
    assert get_instance_by_id("live/MAOA") is found[0]
    # the base class asks the live query too
    get_features(hoc1, Tabular, gene="GRIN1")
    assert asked[-1][1] == {"gene": "GRIN1"}


def test_a_live_feature_with_a_match_keeps_it(hoc1) -> None:
    match = AnchorMatch(Qualification.EXACT, "q", "a", "computed for the query")

    def live(concept, filters):
        feature = GeneExpressions(
            id="live/kept", name="kept", anchor=Anchor(), data=pd.DataFrame({"x": [1]})
        )
        return [feature.with_match(match)]

    register_live_query(GeneExpressions, live)
    assert get_features(hoc1, "genes")[0].match is match


def test_live_filter_keys_are_known_filters(hoc1) -> None:
    # "gene" is no metadata key of any static feature, yet a known filter of the modality
    assert get_features(hoc1, "gene expression", gene="MAOA") == []


def test_an_empty_index_answers_empty_lists(hoc1) -> None:
    with only_sources():
        assert get_features(hoc1) == []
        assert get_features(Point(V1_LEFT, NLIN6)) == []
        with pytest.raises(NotFoundError, match="no feature is known"):
            get_instance_by_id("anything")


def test_the_index_follows_the_active_catalogue(monkeypatch) -> None:
    index = feature_index()
    fresh = catalogue.Catalogue(catalogue.active().folders)
    monkeypatch.setattr(catalogue, "_active", fresh)
    assert feature_index() is not index
    assert feature_index().catalogue is fresh
