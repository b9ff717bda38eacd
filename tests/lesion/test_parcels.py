"""Parcellations on lesion grids: membership matrices, label files, spaces."""

from __future__ import annotations

import nibabel as nib
import numpy as np
import pytest
from nilearn.image import resample_to_img

import neuratlas
from neuratlas.errors import ArgumentError, ImageError, NotFoundError, SpaceMismatchError
from neuratlas.lesion.parcels import parcels_on_grid, read_label_file
from tests.lesion.masks import GRIDS, box_mask

NLIN6 = "MNI152NLin6Asym"


def _reference_labels(parcellation: str, grid: str) -> np.ndarray:
    """The labelled map on the grid by nilearn's own nearest-neighbour resampling."""
    shape, affine = GRIDS[grid]
    m = neuratlas.parcellations[parcellation].get_map(NLIN6, "labelled")
    target = nib.Nifti1Image(np.zeros(shape, np.uint8), affine)
    img = resample_to_img(
        m.fetch(), target, interpolation="nearest", force_resample=True, copy_header=True
    )
    return np.rint(img.get_fdata()).astype(int)


@pytest.mark.parametrize("grid", ["nlin6_2mm", "nlin6_1mm"])
def test_labelled_membership_equals_nilearn_resampling(grid):
    shape, affine = GRIDS[grid]
    parcels = parcels_on_grid("aal3", NLIN6, shape, affine)
    assert not parcels.probabilistic
    np.testing.assert_array_equal(parcels.labels_volume(), _reference_labels("aal3", grid))
    assert parcels.membership.shape == (np.prod(shape), len(parcels.region_names))
    assert parcels.name == "AAL3"


def test_statistical_membership_holds_the_probabilities():
    shape, affine = GRIDS["nlin6_2mm"]
    parcels = parcels_on_grid("juelich", NLIN6, shape, affine)
    assert parcels.probabilistic
    m = neuratlas.parcellations["juelich"].get_map(NLIN6, "statistical")
    region = parcels.region_names[7]
    target = nib.Nifti1Image(np.zeros(shape, np.uint8), affine)
    expected = resample_to_img(
        m.fetch(region=region), target, interpolation="nearest", force_resample=True
    )
    got = parcels.membership[:, 7].toarray().reshape(shape)
    np.testing.assert_allclose(got, expected.get_fdata(), atol=1e-6)


def test_region_sums_one_and_many():
    shape, affine = GRIDS["nlin6_2mm"]
    parcels = parcels_on_grid("aal3", NLIN6, shape, affine)
    mask = box_mask().get_fdata()
    one = parcels.region_sums(mask)
    many = parcels.region_sums(np.stack([mask.ravel(), 2 * mask.ravel()], axis=1))
    np.testing.assert_array_equal(many[:, 0], one)
    np.testing.assert_array_equal(many[:, 1], 2 * one)


def test_another_space_is_refused():
    shape, affine = GRIDS["2009c_2mm"]
    with pytest.raises(SpaceMismatchError, match="has no map in MNI152NLin2009cAsym"):
        parcels_on_grid("aal3", "MNI152NLin2009cAsym", shape, affine)


def test_unknown_parcellation():
    shape, affine = GRIDS["nlin6_2mm"]
    with pytest.raises(NotFoundError):
        parcels_on_grid("no such atlas", NLIN6, shape, affine)


def _user_atlas(tmp_path, labels_text: str):
    shape, affine = GRIDS["nlin6_2mm"]
    data = np.zeros(shape, np.int16)
    data[10:20, 10:20, 10:20] = 3
    data[40:50, 40:50, 40:50] = 7
    data[60:62, 60:62, 60:62] = 9  # not in the table: background
    image = tmp_path / "atlas.nii.gz"
    nib.save(nib.Nifti1Image(data, affine), image)
    labels = tmp_path / "atlas.txt"
    labels.write_text(labels_text)
    return image, labels


def test_user_atlas_with_id_name_lines(tmp_path):
    image, labels = _user_atlas(tmp_path, "3 Left box\n7 Right box\n")
    shape, affine = GRIDS["nlin6_2mm"]
    parcels = parcels_on_grid((image, labels), NLIN6, shape, affine)
    assert parcels.region_names == ["Left box", "Right box"]
    assert parcels.region_labels == [3, 7]
    np.testing.assert_array_equal(parcels.sizes, [1000, 1000])


@pytest.mark.parametrize(
    ("name", "text", "expected"),
    [
        ("a.txt", "Vis_1\nVis_2\n", {1: "Vis_1", 2: "Vis_2"}),
        ("b.txt", "# comment\n0 Background\n1 A\n2 B\n", {1: "A", 2: "B"}),
        ("c.tsv", "index\tname\n0\tbg\n4\tD\n", {4: "D"}),
    ],
)
def test_label_file_formats(tmp_path, name, text, expected):
    path = tmp_path / name
    path.write_text(text)
    assert read_label_file(path) == expected


def test_bad_label_files(tmp_path):
    with pytest.raises(ArgumentError, match="no such labels file"):
        read_label_file(tmp_path / "none.txt")
    (tmp_path / "e.txt").write_text("\n\n")
    with pytest.raises(ArgumentError, match="empty"):
        read_label_file(tmp_path / "e.txt")
    (tmp_path / "m.txt").write_text("1 A\nB\n")
    with pytest.raises(ArgumentError, match=r"m\.txt:2"):
        read_label_file(tmp_path / "m.txt")


def test_bad_user_images(tmp_path):
    shape, affine = GRIDS["nlin6_2mm"]
    labels = tmp_path / "l.txt"
    labels.write_text("A\n")
    broken = tmp_path / "broken.nii.gz"
    broken.write_bytes(b"nope")
    with pytest.raises(ImageError, match="not a readable NIfTI"):
        parcels_on_grid((broken, labels), NLIN6, shape, affine)
    four = tmp_path / "four.nii.gz"
    nib.save(nib.Nifti1Image(np.zeros((4, 4, 4, 2), np.int16), affine), four)
    with pytest.raises(ImageError, match="3D"):
        parcels_on_grid((four, labels), NLIN6, shape, affine)
