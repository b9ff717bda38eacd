"""Parsing the API's dataset and image records."""

from __future__ import annotations

from typing import ClassVar

import numpy as np
import pytest

from neuratlas.allen.metadata import (
    PlaneOfSection,
    ReferenceSpace,
    SectionDataSet,
    SectionImage,
    dataset_row,
    dataset_summary,
    extract_affine,
    image_row,
    plane_axis,
)
from neuratlas.errors import DataUnavailableError, RMAError, TransformError
from tests.allen.fake_allen_api import affine_fields


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
    with pytest.raises(TransformError, match="unsupported plane of section 'plane 42'"):
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


def _image(image_id: int, number: int, width: int = 300, height: int = 200) -> SectionImage:
    row = {
        "id": image_id,
        "data_set_id": 5,
        "section_number": number,
        "width": width,
        "height": height,
        "alignment2d": {f"{n}_{k:02d}": float(k) for n in ("tsv", "tvs") for k in range(6)},
    }
    return SectionImage.from_api(row)


class TestSummaries:
    def test_dataset_summary(self) -> None:
        trv = np.arange(12.0).reshape(3, 4)
        aligned = _dataset_row(
            genes=[{"acronym": "Gad1"}, {"acronym": "Pvalb"}],
            reference_space_id=9,
            alignment3d={**affine_fields("tvr", trv + 1), **affine_fields("trv", trv)},
        )
        dataset = SectionDataSet.from_api(aligned)
        images = [_image(1, 30), _image(2, 10, 640, 480), _image(3, 20)]
        summary = dataset_summary(dataset, images)
        assert summary == {
            "id": 5,
            "plane": "sagittal",
            "section_thickness_um": 25.0,
            "reference_space_id": 9,
            "genes": ["Gad1", "Pvalb"],
            "failed": False,
            "aligned": True,
            "images": 3,
            "section_numbers": [10, 30],
            "image_sizes": ["300x200", "640x480"],
        }
        detailed = dataset_summary(dataset, images, details=True)
        assert list(detailed) == [*summary, "affine_tvr", "sections"]
        assert detailed["affine_tvr"] == (trv + 1).tolist()
        assert detailed["sections"][1] == {
            "id": 2,
            "section_number": 10,
            "width": 640,
            "height": 480,
        }
        assert [s["id"] for s in detailed["sections"]] == [1, 2, 3]  # the order given

    def test_dataset_summary_without_images_or_alignment(self) -> None:
        dataset = SectionDataSet.from_api(_dataset_row(failed=True))
        summary = dataset_summary(dataset, [], details=True)
        assert (summary["aligned"], summary["failed"], summary["images"]) == (False, True, 0)
        assert summary["section_numbers"] is None and summary["image_sizes"] == []
        assert summary["affine_tvr"] is None and summary["sections"] == []

    def test_rows(self) -> None:
        dataset = SectionDataSet.from_api(_dataset_row(genes=[{"acronym": "Sst"}]))
        assert dataset_row(dataset) == {
            "id": 5,
            "plane": "sagittal",
            "genes": ["Sst"],
            "failed": False,
        }
        plain = SectionImage.from_api(
            {"id": 4, "data_set_id": 5, "section_number": 7, "width": 30, "height": 20}
        )
        assert image_row(plain) == {
            "id": 4,
            "section_number": 7,
            "width": 30,
            "height": 20,
            "aligned": False,
        }
        assert image_row(_image(1, 3))["aligned"] is True


class TestPlaneOfSection:
    """atldld's tests/test_dataset.py, against neuratlas's enum."""

    VALUES: ClassVar[dict[str, tuple[int, str]]] = {
        "CORONAL": (1, "coronal"),
        "SAGITTAL": (2, "sagittal"),
        "VARIABLE": (4, "variable"),
        "NA": (5, "n/a"),
        "TRANSVERSE": (6, "transverse"),
        "LATERAL_TO_MEDIAL": (7, "Lateral to Medial"),
        "MEDIAL_TO_LATERAL": (8, "Medial to Lateral"),
        "VENTRAL_TO_DORSAL": (9, "Ventral to Dorsal"),
        "DORSAL_TO_VENTRAL": (10, "Dorsal to Ventral"),
        "CORONAL_CAUDAL_TO_ROSTRAL": (11, "Coronal (Caudal to Rostral)"),
        "CORONAL_ROSTRAL_TO_CAUDAL": (531107579, "Coronal (Rostral to Caudal)"),
        "TANGENTIAL": (1082279372, "Tangential"),
    }

    def test_members_values_and_names(self) -> None:
        assert set(PlaneOfSection.__members__) == set(self.VALUES)
        for name, (value, label) in self.VALUES.items():
            assert PlaneOfSection[name].value == value
            assert str(PlaneOfSection[name]) == label
            assert PlaneOfSection(value) is PlaneOfSection[name]

    def test_ids_name_datasets(self) -> None:
        row = _dataset_row(plane_of_section_id=PlaneOfSection.TRANSVERSE.value)
        dataset = SectionDataSet.from_api(row)
        assert (dataset.plane, dataset.axis) == ("transverse", "transverse")
        tangential = SectionDataSet.from_api(_dataset_row(plane_of_section_id=1082279372))
        with pytest.raises(TransformError, match="unsupported plane of section 'tangential'"):
            _ = tangential.axis


class TestReferenceSpace:
    def test_members_values_and_names(self) -> None:
        assert set(ReferenceSpace.__members__) == {"P56", "P56_LR_FLIPPED"}
        assert ReferenceSpace.P56.value == 9
        assert ReferenceSpace.P56_LR_FLIPPED.value == 10
        assert str(ReferenceSpace.P56) == "P56 Brain"
        assert str(ReferenceSpace(10)) == "P56 Brain, L/R Flipped"

    def test_space_9_is_the_ccf(self) -> None:
        assert np.array_equal(ReferenceSpace.P56.affine_to_ccf, np.eye(4))
        points = np.array([[100.0, 6600.0], [200.0, 4000.0], [300.0, 5700.0]])
        assert np.array_equal(ReferenceSpace.P56.to_ccf(points), points)

    def test_space_10_mirrors_r_across_the_midline(self) -> None:
        flipped = ReferenceSpace.P56_LR_FLIPPED
        points = np.array(
            [[6600.0, 6600.0, 0.0], [4000.0, 4000.0, 8000.0], [1000.0, 5700.0, 11400.0]]
        )
        ccf = flipped.to_ccf(points)
        np.testing.assert_array_equal(ccf[:2], points[:2])  # p and i unchanged
        np.testing.assert_array_equal(ccf[2], [10400.0, 5700.0, 0.0])  # the midline stays
        # mirroring twice is the identity
        np.testing.assert_array_equal(flipped.to_ccf(ccf), points)
        assert np.linalg.det(flipped.affine_to_ccf[:3, :3]) == -1.0

    def test_points_of_a_wrong_shape(self) -> None:
        with pytest.raises(TransformError, match=r"shape \(3, N\)"):
            ReferenceSpace.P56_LR_FLIPPED.to_ccf(np.zeros((2, 4)))


@pytest.mark.parametrize(
    ("plane", "axis"),
    [("coronal", "coronal"), (1, "coronal"), (2, "sagittal"), ("horizontal", "transverse")],
)
def test_plane_axis(plane: str | int, axis: str) -> None:
    assert plane_axis(plane) == axis


@pytest.mark.parametrize("plane", [3, 7, "oblique"])
def test_plane_axis_unknown(plane: str | int) -> None:
    with pytest.raises(TransformError, match="dataset 8 has an unsupported plane") as caught:
        plane_axis(plane, "dataset 8")
    assert "coronal, sagittal and horizontal" in str(caught.value.hint)
