"""brainspace's data as features: every value against the source files, lazily."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import neuratlas
from neuratlas.errors import ArgumentError, ImageError
from neuratlas.features.anchor import Anchor
from neuratlas.features.connectivity import FunctionalConnectivity
from neuratlas.features.embedded import brainspace
from neuratlas.features.embedded.surface import (
    CorticalThicknessMap,
    FunctionalGradientMap,
    RegionalSurfaceStatistics,
    SurfaceMap,
    regional_statistics,
)
from neuratlas.retrieval import packages
from tests.features.toy_features import only_sources

DATA = "pkg://brainspace/datasets/"


def source(path: str, delimiter: str | None = None, dtype: type = np.float64) -> np.ndarray:
    return np.loadtxt(packages.resolve(DATA + path), delimiter=delimiter, dtype=dtype)


@pytest.fixture(scope="module")
def features() -> dict[str, object]:
    return {f.id: f for f in brainspace.features()}


def test_the_source_lists_matrices_maps_and_tables(features) -> None:
    fc = [f for f in features.values() if isinstance(f, FunctionalConnectivity)]
    assert len(fc) == 16  # Schaefer and Vos de Wael at 100-400, two cohorts
    maps = [f for f in features.values() if isinstance(f, SurfaceMap)]
    assert len(maps) == 7
    tables = [f for f in features.values() if isinstance(f, RegionalSurfaceStatistics)]
    assert len(tables) == 7 * 10  # every fs_LR 32k parcellation x every map
    # nothing is read before it is asked for
    assert not any(f.loaded for f in features.values())


@pytest.mark.parametrize(
    ("fid", "file", "first", "last"),
    [
        ("schaefer2018-400-7/main", "main_group/schaefer_400", "LH Vis 1", "RH Default pCunPCC 9"),
        ("vosdewael-200/holdout", "holdout_group/vosdewael_200", "Parcel 1", "Parcel 200"),
        ("schaefer2018-300-7/main", "main_group/schaefer_300", "Parcel 1", "Parcel 300"),
    ],
)
def test_connectivity_equals_the_source_matrix(features, fid, file, first, last) -> None:
    feature = features[f"neuratlas/brainspace/fc/{fid}"]
    expected = source(f"matrices/{file}_mean_connectivity_matrix.csv", ",")
    frame = feature.data
    np.testing.assert_array_equal(frame.to_numpy(), expected)
    assert list(frame.index) == list(frame.columns) == feature.regions
    assert (frame.index[0], frame.index[-1]) == (first, last)
    assert feature.anchor.parcellation == "neuratlas/parcellation/" + fid.split("/")[0]
    assert feature.metadata["group"] == fid.split("/")[1]


def test_connectivity_rows_are_the_regions_in_label_order(features) -> None:
    frame = features["neuratlas/brainspace/fc/schaefer2018-100-7/main"].data
    the_map = neuratlas.catalogue.active().get_map("schaefer2018-100-7", "fs_LR 32k")
    labels = [the_map.indices[name][0].label for name in frame.index]
    assert labels == list(range(1, 101))
    profile = features["neuratlas/brainspace/fc/schaefer2018-100-7/main"].get_profile("LH Vis 1")
    assert profile["LH Vis 1"] == 1.0


@pytest.mark.parametrize("stem", list(brainspace.SURFACE_MAPS))
def test_surface_maps_equal_the_source_files(features, stem) -> None:
    feature = features[f"neuratlas/brainspace/surface/{stem}"]
    expected = source(f"matrices/main_group/conte69_32k_{stem}.csv")
    np.testing.assert_array_equal(feature.data, expected)
    np.testing.assert_array_equal(feature.hemisphere("right"), expected[32492:])
    assert feature.anchor.space == brainspace.FSLR
    assert not feature.data.flags.writeable


def test_surface_map_modalities(features) -> None:
    thickness = features["neuratlas/brainspace/surface/thickness"]
    assert isinstance(thickness, CorticalThicknessMap)
    assert thickness.modality == "cortical thickness"
    gradient = features["neuratlas/brainspace/surface/fc_gradient1"]
    assert isinstance(gradient, FunctionalGradientMap) and gradient.metadata["gradient"] == 2
    modalities = {f.modality for f in features.values() if isinstance(f, SurfaceMap)}
    assert modalities == {
        "cortical thickness",
        "t1w/t2w ratio",
        "curvature",
        "functional gradient",
        "microstructural profile covariance gradient",
    }


def test_regional_statistics_equal_numpy_per_region(features) -> None:
    table = features["neuratlas/brainspace/regional/schaefer2018-200-7/t1wt2w"].data
    values = source("matrices/main_group/conte69_32k_t1wt2w.csv")
    labels = source("parcellations/schaefer_200_conte69.csv", dtype=np.int64)
    assert list(table.columns) == ["mean", "std", "vertices"]
    assert len(table) == 200
    for row, label in ((0, 1), (57, 58), (199, 200)):
        inside = values[labels == label]
        assert table["vertices"].iloc[row] == inside.size
        assert table["mean"].iloc[row] == pytest.approx(inside.mean(), rel=1e-12)
        assert table["std"].iloc[row] == pytest.approx(inside.std(), rel=1e-9)


def test_regional_statistics_keep_hemispheres_apart(features) -> None:
    table = features["neuratlas/brainspace/regional/mesulam/thickness"].data
    values = source("matrices/main_group/conte69_32k_thickness.csv")
    labels = source("parcellations/mesulam_conte69.csv", dtype=np.int64)
    right = values[32492:][labels[32492:] == 4]
    row = table.loc["Idiotypic - right hemisphere"]
    assert row["vertices"] == right.size
    assert row["mean"] == pytest.approx(right.mean(), rel=1e-12)
    assert len(table) == 8


def test_regional_statistics_function_edge_cases() -> None:
    values = np.array([1.0, 3.0, np.nan, 5.0, 7.0])
    labels = np.array([1, 1, 1, 0, 2])
    table = regional_statistics(values, labels, {1: "a", 2: "b", 3: "empty"})
    assert table.loc["a"].tolist() == [2.0, 1.0, 2]  # the NaN vertex is left out
    assert table.loc["b", "std"] == 0.0
    assert table.loc["empty", "vertices"] == 0 and np.isnan(table.loc["empty", "mean"])
    with pytest.raises(ArgumentError, match="values for"):
        regional_statistics(values, labels[:3], {1: "a"})
    with pytest.raises(ArgumentError, match="integers"):
        regional_statistics(values, labels.astype(float), {1: "a"})


def test_a_surface_map_checks_its_data() -> None:
    anchor = Anchor(space=brainspace.FSLR)
    short = SurfaceMap(id="x", name="x", anchor=anchor, data=[1.0, 2.0], hemispheres=[("left", 3)])
    with pytest.raises(ArgumentError, match="3 vertices"):
        _ = short.data
    with pytest.raises(ArgumentError, match="positive vertex counts"):
        SurfaceMap(id="x", name="x", anchor=anchor, data=[1.0], hemispheres=[])
    one = SurfaceMap(id="y", name="y", anchor=anchor, data=[1.0, 2.0], hemispheres=[("left", 2)])
    with pytest.raises(ArgumentError, match="no hemisphere 'right'"):
        one.hemisphere("right")


def test_bad_source_files_are_image_errors(tmp_path: Path) -> None:
    (tmp_path / "m.csv").write_text("1,2\n3,4\n5,6\n")
    with pytest.raises(ImageError, match="not a square matrix"):
        brainspace.read_matrix(str(tmp_path / "m.csv"))
    (tmp_path / "v.csv").write_text("1\n2\nx\n")
    with pytest.raises(ImageError, match="cannot read"):
        brainspace.read_vertex_values(str(tmp_path / "v.csv"))
    (tmp_path / "w.csv").write_text("1\n2\n")
    with pytest.raises(ImageError, match="not one for each of 64984"):
        brainspace.read_vertex_values(str(tmp_path / "w.csv"))


def test_export_and_summary(features, tmp_path: Path) -> None:
    feature = features["neuratlas/brainspace/surface/curvature"]
    path = feature.export(tmp_path / "curvature.zip")
    with zipfile.ZipFile(path) as archive:
        frame = pd.read_csv(archive.open("values.csv"))
        meta = json.loads(archive.read("metadata.json"))
    assert len(frame) == 64984 and list(frame.columns) == ["hemisphere", "vertex", "value"]
    np.testing.assert_array_equal(frame["value"], feature.data)
    assert meta["id"] == feature.id and meta["anchor"]["space"] == brainspace.FSLR
    assert "64984 (left 32492, right 32492)" in feature.summary()


def test_get_features_finds_them_through_the_catalogue() -> None:
    with only_sources(brainspace=brainspace.features):
        found = neuratlas.features.get_features(
            "Schaefer 400 (7 networks)", "functional connectivity"
        )
        assert {f.id for f in found} == {
            "neuratlas/brainspace/fc/schaefer2018-400-7/main",
            "neuratlas/brainspace/fc/schaefer2018-400-7/holdout",
        }
        maps = neuratlas.features.get_features("fs_LR 32k", "cortical thickness")
        assert [f.id for f in maps] == ["neuratlas/brainspace/surface/thickness"]
