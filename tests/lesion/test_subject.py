"""SubjectData: validation of masks, spaces and resolutions; immutability; results."""

from __future__ import annotations

import nibabel as nib
import numpy as np
import pytest

from neuratlas.errors import (
    ArgumentError,
    ImageError,
    LesionError,
    NotFoundError,
    SpaceMismatchError,
)
from neuratlas.lesion import ParcelData, ScalarMetric, SubjectData, provenance_record
from neuratlas.lesion.subject import _check_affine
from tests.lesion.masks import GRIDS, box_mask


def test_space_and_resolution_come_from_the_grid():
    subject = SubjectData(box_mask("nlin6_2mm"))
    assert subject.space == "MNI152NLin6Asym"
    assert subject.resolution == 2.0
    assert SubjectData(box_mask("2009c_2mm")).space == "MNI152NLin2009cAsym"
    assert SubjectData(box_mask("nlin6_1mm")).resolution == 1.0


def test_volume_counts_voxels_times_voxel_volume():
    img = box_mask("nlin6_2mm", half_size_mm=(4, 4, 4))
    subject = SubjectData(img)
    assert subject.get_volume_mm3() == pytest.approx(np.count_nonzero(img.get_fdata()) * 8.0)


@pytest.mark.parametrize("dtype", [np.uint8, np.int16, np.float32, np.float64])
def test_binary_masks_of_any_dtype(dtype):
    subject = SubjectData(box_mask(dtype=dtype))
    assert subject.mask.dtype == bool
    assert not subject.mask.flags.writeable


def test_aliases_resolve_to_the_catalogue_space():
    assert SubjectData(box_mask(), space="fsl mni152").space == "MNI152NLin6Asym"


def test_a_4d_image_with_one_volume_is_a_3d_mask():
    img = box_mask()
    four = nib.Nifti1Image(np.asanyarray(img.dataobj)[..., None], img.affine)
    assert SubjectData(four).shape == img.shape


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda img: nib.Nifti1Image(np.stack([img.get_fdata()] * 2, -1), img.affine), "3D"),
        (lambda img: nib.Nifti1Image(img.get_fdata() * 0.5, img.affine), "only 0 and 1"),
        (lambda img: nib.Nifti1Image(np.zeros(img.shape, np.uint8), img.affine), "empty"),
        (lambda img: nib.Nifti1Image(img.get_fdata(), None), "no affine"),
    ],
)
def test_bad_masks_say_what_is_wrong(make, message):
    with pytest.raises(LesionError, match=message):
        SubjectData(make(box_mask()))


@pytest.mark.parametrize(
    ("affine", "message"),
    [
        (np.diag([2.0, 2, 0, 1]), "singular"),
        (np.full((4, 4), np.nan), "finite"),
        (np.eye(3), "4x4"),
    ],
)
def test_bad_affines(affine, message):
    with pytest.raises(LesionError, match=message):
        _check_affine(affine, "mask")


def test_not_an_image():
    with pytest.raises(ImageError, match="nibabel image"):
        SubjectData(np.ones((3, 3, 3)))  # type: ignore[arg-type]


def test_declared_space_contradicting_the_header():
    with pytest.raises(SpaceMismatchError, match="contradicts the header") as info:
        SubjectData(box_mask("nlin6_2mm"), space="MNI152NLin2009cAsym")
    assert info.value.hint


def test_unknown_space_suggests():
    with pytest.raises(NotFoundError):
        SubjectData(box_mask(), space="MNI999")


def test_declared_resolution_contradicting_the_header():
    with pytest.raises(LesionError, match="resolution 1 mm contradicts"):
        SubjectData(box_mask("nlin6_2mm"), resolution=1)


def test_unknown_grid_needs_a_space():
    img = nib.Nifti1Image(np.ones((10, 10, 10), np.uint8), np.diag([3.0, 3, 3, 1]))
    with pytest.raises(LesionError, match="pass space="):
        SubjectData(img)
    assert SubjectData(img, space="MNI152NLin6Asym").resolution == 3.0


def test_from_nifti_reads_bids_entities(tmp_path):
    path = tmp_path / "sub-07_ses-2_space-MNI152NLin6Asym_res-2_label-acute_mask.nii.gz"
    nib.save(box_mask(), path)
    subject = SubjectData.from_nifti(path)
    assert subject.subject_id == "sub-07"
    assert subject.metadata["session_id"] == "ses-2"
    assert subject.metadata["label"] == "acute"
    assert subject.metadata["source"] == str(path)
    assert (subject.space, subject.resolution) == ("MNI152NLin6Asym", 2.0)


def test_file_name_contradicting_the_header(tmp_path):
    path = tmp_path / "sub-01_space-MNI152NLin2009cAsym_mask.nii.gz"
    nib.save(box_mask("nlin6_2mm"), path)
    with pytest.raises(SpaceMismatchError, match="contradicts the header"):
        SubjectData.from_nifti(path)
    res = tmp_path / "sub-01_space-MNI152NLin6Asym_res-1_mask.nii.gz"
    nib.save(box_mask("nlin6_2mm"), res)
    with pytest.raises(LesionError, match="resolution 1 mm contradicts"):
        SubjectData.from_nifti(res)


def test_file_name_contradicting_the_arguments(tmp_path):
    path = tmp_path / "sub-01_space-MNI152NLin6Asym_res-2_mask.nii.gz"
    nib.save(box_mask(), path)
    with pytest.raises(SpaceMismatchError, match="space-MNI152NLin6Asym"):
        SubjectData.from_nifti(path, space="MNI152NLin2009cAsym")
    with pytest.raises(LesionError, match="res-2"):
        SubjectData.from_nifti(path, resolution=1)


def test_missing_and_broken_files(tmp_path):
    with pytest.raises(ImageError, match="no such file"):
        SubjectData.from_nifti(tmp_path / "nope.nii.gz")
    broken = tmp_path / "sub-01_mask.nii.gz"
    broken.write_bytes(b"\x1f\x8b\x08\x00 not really gzip")
    with pytest.raises(ImageError, match="not a readable NIfTI"):
        SubjectData.from_nifti(broken)


def test_operations_return_new_objects():
    subject = SubjectData(box_mask(), metadata={"subject_id": "sub-01"})
    parcel = ParcelData("percent", {"a": 1.0})
    with_result = subject.add_result("RegionalDamage", {"atlas-X_desc-percent": parcel})
    assert subject.results == {}
    assert with_result.RegionalDamage["atlas-X_desc-percent"] is parcel
    assert with_result.mask is subject.mask  # shared, read-only
    record = provenance_record("x.y", {"a": 1})
    assert len(with_result.add_provenance(record).provenance) == 1
    assert with_result.provenance == []
    assert subject.with_metadata(label="acute").metadata["label"] == "acute"
    assert "label" not in subject.metadata


def test_results_are_read_only_and_namespaces_unique():
    subject = SubjectData(box_mask()).add_result("A", {"desc-x": ScalarMetric("x", 1)})
    with pytest.raises(TypeError):
        subject.results["B"] = {}  # type: ignore[index]
    with pytest.raises(LesionError, match="already"):
        subject.add_result("A", {})
    with pytest.raises(LesionError, match="follow from the mask"):
        subject.with_metadata(space="MNI152NLin2009cAsym")


def test_get_result_by_pattern():
    subject = SubjectData(box_mask()).add_result(
        "A", {"desc-rmap": ScalarMetric("r", 1.0), "desc-zmap": ScalarMetric("z", 2.0)}
    )
    assert subject.get_result("A", "*zmap") == 2.0
    assert subject.get_result("A", "desc-*", unwrap=False).keys() == {"desc-rmap", "desc-zmap"}
    named = subject.add_result("RegionalDamage", {"desc-x": ScalarMetric("x", 1)})
    with pytest.raises(NotFoundError) as info:
        named.get_result("RegionalDamag")
    assert info.value.suggestions == ["RegionalDamage"]
    with pytest.raises(NotFoundError, match="no A result fits"):
        subject.get_result("A", "*tmap")
    with pytest.raises(AttributeError, match="results: A"):
        _ = subject.Nope


def test_bad_provenance_record():
    with pytest.raises(ArgumentError, match="lacks"):
        SubjectData(box_mask()).add_provenance({"function": "x"})


def test_repr_is_a_summary():
    text = repr(SubjectData(box_mask(), metadata={"subject_id": "sub-03"}))
    assert text.startswith("<SubjectData sub-03:") and "MNI152NLin6Asym" in text


def test_digest_changes_with_the_mask_and_the_affine():
    a = SubjectData(box_mask())
    b = SubjectData(box_mask(centre_mm=(0, 0, 0)))
    assert a.digest() != b.digest()
    assert a.digest() == SubjectData(box_mask()).digest()
    _, affine = GRIDS["nlin6_2mm"]
    moved = affine.copy()
    moved[:3, 3] += 0.5
    img = box_mask()
    assert SubjectData(nib.Nifti1Image(img.dataobj, moved), space="nlin6").digest() != a.digest()


@pytest.mark.parametrize("dtype", [np.uint8, np.int16, np.float32])
def test_memory_order_and_dtype_do_not_change_voxels_or_digest(dtype, tmp_path):
    # masks read from files are in Fortran order and are kept so (no copy into C
    # order): indices, volume and digest must be those of the same mask in C order
    img = box_mask()
    rng = np.random.default_rng(3)
    data = np.asarray(img.dataobj).astype(bool) | (rng.random(img.shape) > 0.999)
    c_order = SubjectData(nib.Nifti1Image(np.ascontiguousarray(data.astype(dtype)), img.affine))
    f_order = SubjectData(nib.Nifti1Image(np.asfortranarray(data.astype(dtype)), img.affine))
    expected = np.flatnonzero(data)
    for subject in (c_order, f_order):
        assert np.array_equal(subject.voxel_indices(), expected)
        assert subject.voxel_indices().dtype == np.int64
        assert subject.get_volume_mm3() == pytest.approx(len(expected) * 8.0)
        assert not subject.mask.flags.writeable
    assert f_order.digest() == c_order.digest()
    # and so is a mask read back from a file
    nib.save(nib.Nifti1Image(data.astype(np.uint8), img.affine), tmp_path / "m.nii.gz")
    from_file = SubjectData(nib.load(tmp_path / "m.nii.gz"))
    assert from_file.digest() == c_order.digest()
    assert np.array_equal(from_file.mask, data)


@pytest.mark.parametrize(("dtype", "bad"), [(np.uint8, 2), (np.int16, -1), (np.float32, 0.5)])
def test_values_other_than_0_and_1_are_named(dtype, bad):
    img = box_mask()
    data = np.asarray(img.dataobj).astype(dtype)
    data[0, 0, 0] = bad
    with pytest.raises(LesionError, match=f"found {bad:g}"):
        SubjectData(nib.Nifti1Image(data, img.affine))
