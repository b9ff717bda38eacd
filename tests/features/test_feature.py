"""Feature and its kinds: ids, lazy data, copies with matches, summaries, data checks."""

from __future__ import annotations

import threading
import time

import nibabel as nib
import numpy as np
import pandas as pd
import pytest

from neuratlas.errors import ArgumentError, NotFoundError
from neuratlas.features import (
    Anchor,
    AnchorMatch,
    CellDensityProfile,
    Feature,
    FunctionalConnectivity,
    GeneExpressions,
    Image,
    Qualification,
    ReceptorDensityFingerprint,
    SampleLocations,
    Tabular,
)
from neuratlas.features.feature import feature_classes
from neuratlas.locations.pointcloud import PointCloud
from tests.features.toy_features import NLIN6, fingerprint, image, matrix, samples

ANCHOR = Anchor(species="Homo sapiens", regions=("hOc1",))
MATCH = AnchorMatch(Qualification.EXACT, "hOc1 (Juelich)", "hOc1", "feature on 'hOc1'")


def test_a_feature_keeps_what_it_is_given() -> None:
    f = ReceptorDensityFingerprint(
        id="x/1",
        name="fp",
        anchor=ANCHOR,
        data=fingerprint(),
        description="densities",
        publications=[{"citation": "Z", "url": "u"}],
        metadata={"unit": "fmol/mg"},
        source="mine",
    )
    assert (f.id, f.name, f.anchor, f.description, f.source) == (
        "x/1",
        "fp",
        ANCHOR,
        "densities",
        "mine",
    )
    assert f.publications == [{"citation": "Z", "url": "u"}]
    assert f.metadata == {"unit": "fmol/mg"}
    assert f.match is None
    assert f.modality == "receptor density fingerprint" and f.category == "tabular"


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"id": "", "data": 1}, "non-empty string id"),
        ({"id": 3, "data": 1}, "non-empty string id"),
        ({"id": "a"}, "neither data nor a loader"),
        ({"id": "a", "data": 1, "anchor": "hOc1"}, "anchor must be an Anchor"),
    ],
)
def test_bad_construction_raises(kwargs, message) -> None:
    kwargs = {"name": "n", "anchor": ANCHOR, **kwargs}
    with pytest.raises(ArgumentError, match=message):
        Feature(**kwargs)


def test_data_is_loaded_on_first_access_only_once() -> None:
    calls = []

    def load():
        calls.append(1)
        return fingerprint()

    f = ReceptorDensityFingerprint(id="x", name="n", anchor=ANCHOR, loader=load)
    assert not f.loaded and calls == []
    first = f.data
    assert f.data is first and f.loaded and calls == [1]


def test_concurrent_first_accesses_load_once() -> None:
    calls = []

    def slow():
        calls.append(1)
        time.sleep(0.05)
        return fingerprint()

    f = ReceptorDensityFingerprint(id="x", name="n", anchor=ANCHOR, loader=slow)
    threads = [threading.Thread(target=lambda: f.data) for _ in range(5)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert calls == [1]


def test_a_loader_error_propagates_and_a_later_access_retries() -> None:
    attempts = []

    def flaky():
        attempts.append(1)
        if len(attempts) == 1:
            raise ArgumentError("not yet")
        return fingerprint()

    f = ReceptorDensityFingerprint(id="x", name="n", anchor=ANCHOR, loader=flaky)
    with pytest.raises(ArgumentError, match="not yet"):
        _ = f.data
    assert not f.loaded
    assert isinstance(f.data, pd.DataFrame)


def test_with_match_is_a_copy_sharing_the_data() -> None:
    calls = []
    f = ReceptorDensityFingerprint(
        id="x", name="n", anchor=ANCHOR, loader=lambda: calls.append(1) or fingerprint()
    )
    twin = f.with_match(MATCH)
    assert twin is not f and twin.match is MATCH and f.match is None
    assert type(twin) is ReceptorDensityFingerprint
    assert twin.data is f.data
    assert calls == [1]
    assert f.with_match(MATCH).data is f.data  # a copy of a loaded feature


def test_summary_and_repr() -> None:
    f = ReceptorDensityFingerprint(
        id="x/1",
        name="Receptor fingerprint of hOc1",
        anchor=ANCHOR,
        loader=fingerprint,
        description="Densities of  receptors\nin hOc1.",
        publications=[{"citation": "Zilles 2002"}],
        metadata={"unit": "fmol/mg"},
    )
    text = f.summary()
    assert text.splitlines()[0] == "Receptor fingerprint of hOc1"
    assert "modality: receptor density fingerprint (ReceptorDensityFingerprint)" in text
    assert "anchor:   hOc1 (Homo sapiens)" in text
    assert "unit: fmol/mg" in text and "not loaded yet" in text
    assert "Densities of receptors in hOc1." in text and "cite: Zilles 2002" in text
    assert str(f) == text
    assert (
        repr(f)
        == "<ReceptorDensityFingerprint 'Receptor fingerprint of hOc1' on hOc1 (Homo sapiens)>"
    )
    twin = f.with_match(MATCH)
    assert repr(twin).endswith("[exact]>")
    assert "match:    exact: feature on 'hOc1'" in twin.summary()
    _ = twin.data
    assert "data: 5 rows x 2 columns" in twin.summary()


def test_a_long_description_is_shortened_in_the_summary() -> None:
    f = Feature(id="x", name="n", anchor=ANCHOR, data=1, description="word " * 100)
    line = f.summary().splitlines()[-1]
    assert line.endswith("...") and len(line) < 210


def test_every_subclass_is_listed_in_definition_order() -> None:
    classes = feature_classes()
    assert classes[0] is Feature
    assert classes.index(Tabular) < classes.index(CellDensityProfile)
    assert FunctionalConnectivity in classes and SampleLocations in classes


# --- tabular -------------------------------------------------------------------------
def test_tabular_data_becomes_a_dataframe() -> None:
    f = Tabular(id="t", name="t", anchor=ANCHOR, data={"a": [1, 2]})
    assert isinstance(f.data, pd.DataFrame) and list(f.data["a"]) == [1, 2]
    s = Tabular(id="s", name="s", anchor=ANCHOR, data=pd.Series([1.0], name="v"))
    assert list(s.data.columns) == ["v"]


def test_tabular_data_that_is_no_table_raises() -> None:
    f = Tabular(id="t", name="t", anchor=ANCHOR, data=object())
    with pytest.raises(ArgumentError, match="not a table"):
        _ = f.data


# --- connectivity --------------------------------------------------------------------
def test_a_bare_matrix_is_labelled_by_its_regions() -> None:
    f = FunctionalConnectivity(
        id="fc", name="fc", anchor=ANCHOR, data=matrix(3), regions=["a", "b", "c"], cohort="HCP"
    )
    assert list(f.data.index) == list(f.data.columns) == ["a", "b", "c"]
    assert f.regions == ["a", "b", "c"]
    assert f.metadata == {"cohort": "HCP", "subject": "average", "paradigm": ""}
    assert f.subject == "average" and f.category == "connectivity"
    np.testing.assert_array_equal(f.data.to_numpy(), matrix(3))


def test_a_labelled_frame_keeps_its_labels_and_extra_metadata() -> None:
    frame = pd.DataFrame(matrix(2), index=["x", "y"], columns=["x", "y"])
    f = FunctionalConnectivity(
        id="fc", name="fc", anchor=ANCHOR, data=frame, metadata={"paradigm": "rest", "k": 1}
    )
    assert f.regions == ["x", "y"]
    assert f.metadata["paradigm"] == "rest" and f.metadata["k"] == 1


@pytest.mark.parametrize(
    ("data", "regions", "message"),
    [
        (np.zeros((2, 3)), None, "must be square"),
        (np.zeros(3), None, "must be square"),
        (np.zeros((3, 3)), ["a", "b"], "2 region labels for a 3 x 3 matrix"),
        (pd.DataFrame(np.zeros((2, 3))), None, "must be square"),
    ],
)
def test_a_matrix_that_does_not_fit_raises(data, regions, message) -> None:
    f = FunctionalConnectivity(id="fc", name="fc", anchor=ANCHOR, data=data, regions=regions)
    with pytest.raises(ArgumentError, match=message):
        _ = f.data


def test_get_profile_finds_a_row_by_label_or_words() -> None:
    labels = ["LH Vis 1", "LH Vis 2", "RH Default 1"]
    f = FunctionalConnectivity(id="fc", name="fc", anchor=ANCHOR, data=matrix(3), regions=labels)
    assert f.get_profile("LH Vis 2").name == "LH Vis 2"
    assert f.get_profile("default").name == "RH Default 1"
    with pytest.raises(NotFoundError, match="no region of 'fc' matches 'limbic'"):
        f.get_profile("limbic")


def test_connectivity_summary_knows_the_size_before_loading() -> None:
    f = FunctionalConnectivity(
        id="fc", name="fc", anchor=ANCHOR, loader=lambda: matrix(3), regions=["a", "b", "c"]
    )
    assert "matrix: 3 x 3 regions" in f.summary() and not f.loaded


# --- images and points ---------------------------------------------------------------
def test_an_image_feature_loads_images_and_paths(tmp_path) -> None:
    img = image()
    f = Image(id="i", name="i", anchor=Anchor(space=NLIN6), data=img)
    assert f.data is img and f.space == NLIN6 and f.category == "image"
    path = tmp_path / "img.nii.gz"
    nib.save(img, path)
    g = Image(id="j", name="j", anchor=Anchor(space=NLIN6), loader=lambda: path)
    np.testing.assert_array_equal(g.data.get_fdata(), img.get_fdata())
    assert "image: shape (10, 10, 10)" in g.summary()


def test_an_image_loader_giving_something_else_raises() -> None:
    f = Image(id="i", name="i", anchor=Anchor(space=NLIN6), data=np.zeros(3))
    with pytest.raises(ArgumentError, match="not an image"):
        _ = f.data


def test_sample_locations_are_a_point_cloud_in_the_anchor_space() -> None:
    f = SampleLocations(id="s", name="s", anchor=Anchor(space=NLIN6), loader=samples)
    cloud = f.location
    assert isinstance(cloud, PointCloud) and len(cloud) == 3
    assert cloud.space.name == NLIN6
    np.testing.assert_array_equal(cloud.coordinates, samples()[["x", "y", "z"]].to_numpy())
    assert "samples: 3 points in" in f.summary()


def test_sample_locations_without_coordinates_raise() -> None:
    f = SampleLocations(id="s", name="s", anchor=Anchor(space=NLIN6), data={"x": [1], "y": [2]})
    with pytest.raises(ArgumentError, match="lack the column"):
        _ = f.data


def test_gene_expressions_filter_on_genes() -> None:
    assert GeneExpressions.filter_keys == ("gene",)
    assert GeneExpressions.modality == "gene expression"
