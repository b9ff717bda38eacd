"""Feature exports: a zip with the data file and metadata.json, written atomically."""

from __future__ import annotations

import gzip
import io
import json
import zipfile
from pathlib import Path

import nibabel as nib
import numpy as np
import pandas as pd
import pytest

from neuratlas.errors import ArgumentError
from neuratlas.features import Anchor, AnchorMatch, Feature, Qualification
from neuratlas.features.export import METADATA_NAME, write_zip
from tests.features.toy_features import toy_features


def features() -> dict[str, Feature]:
    return {f.id: f for f in toy_features()}


def read(path: Path) -> tuple[list[str], dict, zipfile.ZipFile]:
    archive = zipfile.ZipFile(path)
    return sorted(archive.namelist()), json.loads(archive.read(METADATA_NAME)), archive


def test_a_fingerprint_exports_csv_and_metadata(tmp_path: Path) -> None:
    f = features()["toy/fingerprint/hoc1"]
    written = f.export(tmp_path / "fp.zip")
    assert written == tmp_path / "fp.zip"
    names, meta, archive = read(written)
    assert names == ["data.csv", "metadata.json"]
    frame = pd.read_csv(io.BytesIO(archive.read("data.csv")), index_col=0)
    pd.testing.assert_frame_equal(frame, f.data, check_names=False)
    assert meta["id"] == "toy/fingerprint/hoc1"
    assert meta["type"] == "ReceptorDensityFingerprint"
    assert meta["modality"] == "receptor density fingerprint"
    assert meta["anchor"] == {
        "species": "Homo sapiens",
        "parcellation": None,
        "regions": ["hOc1"],
        "space": None,
    }
    assert meta["metadata"]["receptors"][0] == "AMPA"
    assert meta["publications"][0]["citation"] == "Zilles et al."
    assert "match" not in meta


def test_a_matrix_exports_its_labelled_csv(tmp_path: Path) -> None:
    f = features()["toy/fc/schaefer-100-7"]
    names, meta, archive = read(f.export(tmp_path / "fc.zip"))
    assert names == ["matrix.csv", "metadata.json"]
    frame = pd.read_csv(io.BytesIO(archive.read("matrix.csv")), index_col=0)
    assert list(frame.columns) == list(f.data.columns)
    np.testing.assert_allclose(frame.to_numpy(), f.data.to_numpy())
    assert meta["metadata"]["cohort"] == "HCP"


def test_an_image_exports_gzipped_nifti(tmp_path: Path) -> None:
    f = features()["toy/image/occipital-box"]
    names, meta, archive = read(f.export(tmp_path / "img.zip"))
    assert names == ["data.nii.gz", "metadata.json"]
    img = nib.Nifti1Image.from_bytes(gzip.decompress(archive.read("data.nii.gz")))
    np.testing.assert_array_equal(img.get_fdata(), f.data.get_fdata())
    np.testing.assert_allclose(img.affine, f.data.affine)
    assert meta["anchor"]["location"].startswith("box (0.0, -100.0, -10.0)")


def test_sample_locations_export_tsv(tmp_path: Path) -> None:
    f = features()["toy/samples"]
    names, _, archive = read(f.export(tmp_path / "s.zip"))
    assert names == ["metadata.json", "points.tsv"]
    frame = pd.read_csv(io.BytesIO(archive.read("points.tsv")), sep="\t", index_col=0)
    assert list(frame.columns) == ["x", "y", "z", "donor"]


def test_the_match_goes_into_the_metadata(tmp_path: Path) -> None:
    match = AnchorMatch(Qualification.CONTAINS, "q", "a", "why")
    f = features()["toy/sc/juelich"].with_match(match)
    _, meta, _ = read(f.export(tmp_path / "sc.zip"))
    assert meta["match"] == {
        "qualification": "contains",
        "query": "q",
        "anchor": "a",
        "explanation": "why",
    }


def test_a_plain_feature_exports_its_data_as_text(tmp_path: Path) -> None:
    f = Feature(id="p", name="p", anchor=Anchor(), data={"a": 1}, metadata={"obj": object()})
    names, meta, archive = read(f.export(tmp_path / "p.zip"))
    assert names == ["data.txt", "metadata.json"]
    assert archive.read("data.txt") == b"{'a': 1}"
    assert meta["metadata"]["obj"].startswith("<object")


def test_an_export_replaces_an_old_file_and_leaves_no_temporary(tmp_path: Path) -> None:
    target = tmp_path / "out" / "fp.zip"
    f = features()["toy/fingerprint/hoc1"]
    f.export(target)
    f.export(target)
    assert sorted(p.name for p in target.parent.iterdir()) == ["fp.zip"]


def test_a_failing_export_leaves_nothing(tmp_path: Path) -> None:
    def broken():
        raise ArgumentError("no data")

    f = Feature(id="b", name="b", anchor=Anchor(), loader=broken)
    with pytest.raises(ArgumentError, match="no data"):
        f.export(tmp_path / "b.zip")
    assert list(tmp_path.iterdir()) == []


def test_exporting_to_a_folder_raises(tmp_path: Path) -> None:
    with pytest.raises(ArgumentError, match="it is a folder"):
        write_zip(tmp_path, {"a": b""}, {})


def test_a_data_file_may_not_be_called_like_the_metadata(tmp_path: Path) -> None:
    with pytest.raises(ArgumentError, match="may not be called"):
        write_zip(tmp_path / "x.zip", {METADATA_NAME: b""}, {})
