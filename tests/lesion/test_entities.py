"""BIDS file names: parsing and writing entities."""

from __future__ import annotations

import pytest

from neuratlas.errors import ArgumentError
from neuratlas.lesion.entities import bids_name, parse_entities, resolution_mm, split_suffix


def test_parse_entities_and_suffix():
    name = "sub-01_ses-pre_space-MNI152NLin6Asym_res-2_label-lesion_mask.nii.gz"
    assert parse_entities(name) == {
        "sub": "01",
        "ses": "pre",
        "space": "MNI152NLin6Asym",
        "res": "2",
        "label": "lesion",
    }
    assert split_suffix(name)[1:] == ("mask", ".nii.gz")
    assert split_suffix("sub-01_desc-x.json") == ("sub-01_desc-x", "", ".json")


def test_non_entity_parts_are_skipped():
    assert parse_entities("patient 3_lesion_mask.nii") == {}


@pytest.mark.parametrize(("label", "mm"), [("1", 1.0), ("01", 1.0), ("2", 2.0)])
def test_resolution_labels(label, mm):
    assert resolution_mm(label) == mm


def test_resolution_label_that_is_not_a_size():
    with pytest.raises(ArgumentError, match="res-hi"):
        resolution_mm("hi")


def test_bids_name_orders_entities():
    name = bids_name(
        {"desc": "rmap", "space": "MNI152NLin6Asym", "sub": "01", "ses": None}, "stat", ".nii.gz"
    )
    assert name == "sub-01_space-MNI152NLin6Asym_desc-rmap_stat.nii.gz"
    assert parse_entities(name) == {"sub": "01", "space": "MNI152NLin6Asym", "desc": "rmap"}


def test_bids_name_refuses_what_bids_forbids():
    with pytest.raises(ArgumentError, match="not a BIDS entity"):
        bids_name({"sub": "01", "colour": "red"}, "mask", ".nii.gz")
    with pytest.raises(ArgumentError, match="letters and digits"):
        bids_name({"sub": "0_1"}, "mask", ".nii.gz")
