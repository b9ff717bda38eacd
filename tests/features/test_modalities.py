"""Modality names and aliases -> feature classes, with the registries' fuzzy rules."""

from __future__ import annotations

import pytest

from neuratlas.errors import AmbiguousError, ArgumentTypeError, NotFoundError
from neuratlas.features import (
    AnatomoFunctionalConnectivity,
    CellDensityProfile,
    CorticalProfile,
    Feature,
    FunctionalConnectivity,
    GeneExpressions,
    ReceptorDensityFingerprint,
    ReceptorDensityProfile,
    RegionalConnectivity,
    SampleLocations,
    StreamlineCounts,
    StreamlineLengths,
    VolumeOfInterest,
    modalities,
)
from neuratlas.features import feature as feature_module


@pytest.mark.parametrize(
    ("spec", "cls"),
    [
        ("functional connectivity", FunctionalConnectivity),
        ("Functional Connectivity", FunctionalConnectivity),
        ("functional_connectivity", FunctionalConnectivity),
        ("FunctionalConnectivity", FunctionalConnectivity),
        ("fc", FunctionalConnectivity),
        ("resting state connectivity", FunctionalConnectivity),
        ("connectivity", RegionalConnectivity),
        ("structural connectivity", StreamlineCounts),
        ("receptor density fingerprint", ReceptorDensityFingerprint),
        ("fingerprint", ReceptorDensityFingerprint),
        ("cell density", CellDensityProfile),
        ("gene expression", GeneExpressions),
        ("genes", GeneExpressions),
        ("voi", VolumeOfInterest),
        ("samples", SampleLocations),
        ("cortical profile", CorticalProfile),
        (FunctionalConnectivity, FunctionalConnectivity),
    ],
)
def test_names_aliases_and_class_names(spec, cls) -> None:
    assert modalities.resolve(spec) == (cls,)
    assert modalities.get(spec) is cls


def test_words_of_a_name_find_it() -> None:
    assert modalities.get("streamline count") is StreamlineCounts
    assert modalities.get("streamline length") is StreamlineLengths
    # "functional" is a word of several names: all are asked for
    found = modalities.resolve("functional")
    assert {FunctionalConnectivity, AnatomoFunctionalConnectivity} <= set(found)


def test_words_fitting_unrelated_modalities_give_all_of_them() -> None:
    found = modalities.resolve("receptor density")
    assert set(found) == {ReceptorDensityFingerprint, ReceptorDensityProfile}
    with pytest.raises(AmbiguousError, match="2 modalities") as err:
        modalities.get("receptor density")
    assert set(err.value.candidates) == {
        "receptor density fingerprint",
        "receptor density profile",
    }


def test_a_base_class_stands_for_its_subclasses_when_tied() -> None:
    # "profile" is an alias of CorticalProfile and a word of its subclasses' names
    assert modalities.resolve("profile") == (CorticalProfile,)


def test_an_unknown_modality_suggests_the_closest() -> None:
    with pytest.raises(NotFoundError, match="no modality matches 'funtional conectivity'") as err:
        modalities.resolve("funtional conectivity")
    assert err.value.suggestions[0] == "functional connectivity"


def test_a_modality_of_another_type_raises() -> None:
    with pytest.raises(ArgumentTypeError, match="not int"):
        modalities.resolve(3)  # type: ignore[arg-type]
    with pytest.raises(ArgumentTypeError):
        modalities.resolve(dict)  # type: ignore[arg-type]


def test_the_table_lists_every_class_once() -> None:
    rows = modalities.table()
    names = [r["name"] for r in rows]
    assert names[0] == "Feature"
    assert len(names) == len(set(names))
    assert {"name", "modality", "category", "aliases"} == set(rows[0])
    fc = next(r for r in rows if r["name"] == "FunctionalConnectivity")
    assert fc == {
        "name": "FunctionalConnectivity",
        "modality": "functional connectivity",
        "category": "connectivity",
        "aliases": "fc, resting state connectivity",
    }
    assert modalities.names()[0] == "feature"


def test_modality_names_are_unique_and_categories_known() -> None:
    names = [c.modality for c in modalities.classes()]
    assert len(names) == len(set(names))
    categories = {c.category for c in modalities.classes()}
    assert categories <= {"connectivity", "tabular", "image", "location", "surface", "other"}


def test_a_new_subclass_is_a_modality_at_once() -> None:
    class Myelin(Feature):  # defined by an extension
        modality = "myelin map test"
        aliases = ("t1w t2w test",)

    try:
        assert modalities.get("t1w t2w test") is Myelin
        assert modalities.names_of(Myelin) == ("myelin map test", "t1w t2w test", "Myelin")
    finally:
        feature_module._SUBCLASSES.remove(Myelin)  # no leak into other tests


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ("fingerprints", {"ReceptorDensityFingerprint"}),
        ("gene expressions", {"GeneExpressions"}),
        ("cell density profiles", {"CellDensityProfile"}),
        ("functional connectivities", {"FunctionalConnectivity"}),
        ("receptor densities", {"ReceptorDensityFingerprint", "ReceptorDensityProfile"}),
    ],
)
def test_plural_names_find_the_singular_modality(spec, expected) -> None:
    assert {cls.__name__ for cls in modalities.resolve(spec)} == expected


def test_a_plural_of_nothing_is_still_not_found() -> None:
    with pytest.raises(NotFoundError, match="no modality matches 'qqqzzzs'"):
        modalities.resolve("qqqzzzs")
