"""Result containers and result keys."""

from __future__ import annotations

import nibabel as nib
import numpy as np
import pytest

from neuratlas.errors import ArgumentError
from neuratlas.lesion import ConnectivityMatrix, ParcelData, ScalarMetric, VoxelMap
from neuratlas.lesion.results import bids_label, parse_result_key, result_key


def test_result_keys_round_trip():
    key = result_key(atlas="Schaefer 2018 (400/7)", desc="percent", stat=None)
    assert key == "atlas-Schaefer20184007_desc-percent"
    assert parse_result_key(key) == {"atlas": "Schaefer20184007", "desc": "percent"}
    with pytest.raises(ArgumentError):
        parse_result_key("rmap")
    with pytest.raises(ArgumentError, match="no letter or digit"):
        bids_label("--")


def test_parcel_data():
    data = ParcelData(
        "percent",
        {"a": 1.0, "b": 5.0, "c": 3.0},
        region_labels=[1, 2, 3],
        aggregation_method="percent",
    )
    assert data.get_top_regions(2) == {"b": 5.0, "c": 3.0}
    assert data.get_top_regions(1, ascending=True) == {"a": 1.0}
    assert data.get_data("B") == {"b": 5.0}
    frame = data.to_frame()
    assert list(frame.columns) == ["region", "label", "value"]
    assert "3 regions" in data.summary()


def test_connectivity_matrix_checks_shape():
    m = ConnectivityMatrix("dis", np.eye(3), ["a", "b", "c"])
    assert m.to_frame().loc["b", "b"] == 1.0
    with pytest.raises(ArgumentError, match="not square"):
        ConnectivityMatrix("x", np.ones((2, 3)))
    with pytest.raises(ArgumentError, match="2 labels for 3 rows"):
        ConnectivityMatrix("x", np.eye(3), ["a", "b"])


def test_voxel_map_and_scalar():
    img = nib.Nifti1Image(np.zeros((2, 2, 2), np.float32), np.eye(4))
    vm = VoxelMap("rmap", img, "MNI152NLin6Asym", 2.0)
    assert vm.get_data() is img
    assert "space=MNI152NLin6Asym" in vm.summary()
    assert ScalarMetric("n", 3).data_type == "scalar"
    assert ScalarMetric("s", {"a": 1}).data_type == "dictionary"
    assert ScalarMetric("s", [1, 2]).summary() == "s: 2 values"
