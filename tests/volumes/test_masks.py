"""Tests of neuratlas.volumes.masks.binary_mask on generated maps and the embedded atlases."""

from __future__ import annotations

from pathlib import Path

import nibabel as nib
import numpy as np
import pytest
from nibabel.affines import from_matvec
from nibabel.eulerangles import euler2mat

import neuratlas
from neuratlas.volumes.masks import binary_mask

# 2 mm MNI-like grid, slightly rotated (as after a rigid registration)
ROTATED = from_matvec(euler2mat(0.1, -0.05, 0.2) @ np.diag([-2.0, 2.0, 2.0]), [90, -126, -72])


def probability_map(shape: tuple[int, int, int] = (30, 36, 30)) -> np.ndarray:
    """A smooth blob of probabilities in [0, 1], peak 1 in the middle."""
    grid = np.indices(shape).astype(np.float32)
    centre = (np.array(shape, dtype=np.float32) - 1)[:, None, None, None] / 2
    values = np.exp(-((grid - centre) ** 2).sum(0) / 40.0).astype(np.float32)
    values[values < 1e-3] = 0  # a finite support, as in real probability maps
    return values


def data(img: nib.Nifti1Image) -> np.ndarray:
    return np.asanyarray(img.dataobj)


def test_mask_of_a_probability_map() -> None:
    values = probability_map()
    img = nib.Nifti1Image(values, ROTATED)
    mask = binary_mask(img)
    assert isinstance(mask, nib.Nifti1Image)
    assert mask.shape == img.shape
    assert mask.get_data_dtype() == np.uint8 and data(mask).dtype == np.uint8
    np.testing.assert_array_equal(data(mask), (values > 0).astype(np.uint8))
    assert set(np.unique(data(mask))) == {0, 1}
    np.testing.assert_array_equal(mask.affine, ROTATED)
    assert mask.header.get_xyzt_units()[0] == "mm"
    assert data(img) is not data(mask) and data(img).dtype == np.float32  # input untouched


@pytest.mark.parametrize("threshold", [0.1, 0.25, 0.5, 0.9])
def test_threshold_is_strict(threshold: float) -> None:
    values = probability_map()
    mask = data(binary_mask(nib.Nifti1Image(values, ROTATED), threshold))
    np.testing.assert_array_equal(mask, (values > threshold).astype(np.uint8))
    assert 0 < mask.sum() < values.size


def test_a_value_equal_to_the_threshold_is_outside() -> None:
    values = np.zeros((4, 5, 6), np.float32)
    values[1, 1, 1], values[2, 2, 2], values[3, 3, 3] = 0.5, 0.5000001, 0.4999999
    mask = data(binary_mask(nib.Nifti1Image(values, ROTATED), 0.5))
    assert mask.sum() == 1 and mask[2, 2, 2] == 1


def test_nan_is_background() -> None:
    values = probability_map((10, 12, 10))
    values[0, 0, 0] = values[5, 5, 5] = np.nan
    mask = data(binary_mask(nib.Nifti1Image(values, ROTATED)))
    assert mask[0, 0, 0] == 0 and mask[5, 5, 5] == 0
    assert mask.sum() == np.count_nonzero(np.nan_to_num(values) > 0)


def test_negative_values_and_a_negative_threshold() -> None:
    # a t-map: negative and positive effects
    values = np.linspace(-3, 3, 7 * 8 * 9, dtype=np.float32).reshape(7, 8, 9)
    img = nib.Nifti1Image(values, ROTATED)
    np.testing.assert_array_equal(data(binary_mask(img)), values > 0)
    np.testing.assert_array_equal(data(binary_mask(img, -1.5)), values > -1.5)
    assert data(binary_mask(img, 3.0)).sum() == 0  # nothing above the maximum
    assert data(binary_mask(img, -np.inf)).all()


def test_integer_label_image() -> None:
    labels = np.zeros((9, 9, 9), np.int16)
    labels[1:4, 1:4, 1:4] = 3
    labels[5:8, 5:8, 5:8] = 200
    labels[0, 0, 0] = -1
    mask = binary_mask(nib.Nifti1Image(labels, ROTATED))
    assert data(mask).dtype == np.uint8
    assert data(mask).sum() == 2 * 27 and data(mask)[0, 0, 0] == 0
    # above 100: only the second block, and no uint8 wrap-around of 200
    assert data(binary_mask(nib.Nifti1Image(labels, ROTATED), 100)).sum() == 27


def test_the_scaled_values_of_a_file_count(tmp_path: Path) -> None:
    # stored 0..100 with slope -0.01: every value on disk is >= 0, every real value <= 0
    raw = np.arange(4 * 5 * 6, dtype=np.uint8).reshape(4, 5, 6) % 101
    img = nib.Nifti1Image(raw, ROTATED)
    img.header.set_slope_inter(-0.01, 0.0)
    nib.save(img, tmp_path / "scaled.nii.gz")
    loaded = nib.load(tmp_path / "scaled.nii.gz")
    assert data(binary_mask(loaded)).sum() == 0
    # real values are -0.01 * raw (up to float32 rounding): above -0.505 means raw <= 50
    assert data(binary_mask(loaded, -0.505)).sum() == np.count_nonzero(raw <= 50)
    np.testing.assert_allclose(binary_mask(loaded).affine, ROTATED, atol=1e-5)


def test_masks_of_an_embedded_labelled_atlas() -> None:
    aal = neuratlas.get_map("aal1", "MNI152 NLin6", "labelled")
    labels = aal.fetch()
    brain = binary_mask(labels)
    np.testing.assert_array_equal(data(brain), data(labels) > 0)
    np.testing.assert_array_equal(brain.affine, labels.affine)
    assert 100_000 < data(brain).sum() < data(brain).size
    # a region mask is its own mask, and nothing of it is strictly above 1
    amygdala = aal.fetch(region="Amygdala - left hemisphere")
    np.testing.assert_array_equal(data(binary_mask(amygdala)), data(amygdala))
    assert data(binary_mask(amygdala, 1)).sum() == 0
    # a left-hemisphere structure: every voxel of the mask has x < 0 mm
    ijk = np.argwhere(data(binary_mask(amygdala)))
    assert len(ijk) > 100
    assert (nib.affines.apply_affine(amygdala.affine, ijk)[:, 0] < 0).all()


def test_an_array_is_not_an_image() -> None:
    with pytest.raises(AttributeError, match="dataobj"):
        binary_mask(probability_map((3, 3, 3)))  # type: ignore[arg-type]
