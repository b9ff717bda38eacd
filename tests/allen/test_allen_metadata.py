"""Parsing the API's dataset and image records."""

from __future__ import annotations

import numpy as np
import pytest
from fake_allen_api import affine_fields

from neuratlas.errors import RMAError
from neuratlas.allen.metadata import SectionDataSet, SectionImage, extract_affine
from neuratlas.errors import DataUnavailableError


def test_affine_layout_2d() -> None:
    record = {f"tsv_{k:02d}": float(k) for k in range(6)}
    np.testing.assert_array_equal(extract_affine(record, "tsv"), [[0, 1, 4], [2, 3, 5]])


def test_affine_layout_3d() -> None:
    record = {f"tvr_{k:02d}": float(k) for k in range(12)}
    np.testing.assert_array_equal(
        extract_affine(record, "tvr"), [[0, 1, 2, 9], [3, 4, 5, 10], [6, 7, 8, 11]]
    )


def test_affine_round_trip_with_the_fake_api_layout() -> None:
    matrix = np.arange(12.0).reshape(3, 4) / 7
    np.testing.assert_array_equal(extract_affine(affine_fields("trv", matrix), "trv"), matrix)


def test_affine_missing_or_bad() -> None:
    assert extract_affine(None, "tvs") is None
    with pytest.raises(RMAError, match="no field 'tvs_05'"):
        extract_affine({f"tvs_{k:02d}": 1.0 for k in range(5)}, "tvs")
    with pytest.raises(RMAError, match="non-numeric tvs value"):
        extract_affine({f"tvs_{k:02d}": "x" for k in range(6)}, "tvs")


def _dataset_row(**changes: object) -> dict[str, object]:
    row: dict[str, object] = {
        "id": 5,
        "plane_of_section_id": 2,
        "section_thickness": 25.0,
        "reference_space_id": None,
        "failed": False,
    }
    row.update(changes)
    return row


def test_dataset_minimal_record() -> None:
    dataset = SectionDataSet.from_api(_dataset_row())
    assert (dataset.plane, dataset.axis, dataset.genes) == ("sagittal", "sagittal", ())
    assert dataset.reference_space_id is None and dataset.affine_tvr is None
    with pytest.raises(DataUnavailableError, match="dataset 5 has no 3D alignment"):
        dataset.require_alignment()


def test_dataset_planes() -> None:
    named = SectionDataSet.from_api(_dataset_row(plane_of_section={"id": 9, "name": "Horizontal"}))
    assert (named.plane, named.axis) == ("horizontal", "transverse")
    unknown = SectionDataSet.from_api(_dataset_row(plane_of_section_id=42))
    assert unknown.plane == "plane 42"
    with pytest.raises(DataUnavailableError, match="unsupported plane of section 'plane 42'"):
        _ = unknown.axis


def test_dataset_bad_records() -> None:
    row = _dataset_row()
    del row["section_thickness"]
    with pytest.raises(RMAError, match="has no 'section_thickness' field"):
        SectionDataSet.from_api(row)
    with pytest.raises(RMAError, match="invalid 'id'"):
        SectionDataSet.from_api(_dataset_row(id="five"))


def test_image_record() -> None:
    image = SectionImage.from_api(
        {"id": 1, "data_set_id": 5, "section_number": 7, "width": 300, "height": 200}
    )
    assert (image.width, image.height, image.resolution, image.aligned) == (300, 200, None, False)
    with pytest.raises(RMAError, match="SectionImage record has no 'section_number'"):
        SectionImage.from_api({"id": 1, "data_set_id": 5})
