"""Finding a connectome's batch files and refusing files that are not in the layout."""

from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np
import pytest

from neuratlas.errors import ArgumentError, ImageError, NotFoundError
from neuratlas.lesion.connectomes import ConnectomeReader, write_connectome
from neuratlas.lesion.connectomes.batches import batch_files
from tests.lesion.connectomes.synthetic import AFFINE, brain_mask


@pytest.fixture
def mask() -> np.ndarray:
    return brain_mask()


@pytest.fixture
def series(mask) -> np.ndarray:
    return np.random.default_rng(1).normal(size=(7, 15, int(mask.sum()))).astype(np.float32)


def test_missing_paths_and_empty_folders_are_not_found(tmp_path):
    with pytest.raises(NotFoundError, match="does not exist"):
        ConnectomeReader(tmp_path / "none.h5")
    with pytest.raises(NotFoundError, match=r"no HDF5 batch files \(\*\.h5\)"):
        ConnectomeReader(tmp_path)
    with pytest.raises(ArgumentError, match="no connectome files"):
        batch_files([])


def _h5(path: Path, **datasets) -> Path:
    attrs = datasets.pop("attrs", {"mask_shape": (4, 4, 4)})
    with h5py.File(path, "w") as handle:
        for name, value in datasets.items():
            handle[name] = value
        handle.attrs.update(attrs)
    return path


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ({"timeseries": np.zeros((1, 2, 3))}, "lacks the dataset"),
        (
            {
                "timeseries": np.zeros((2, 3)),
                "mask_indices": np.zeros((3, 3)),
                "mask_affine": np.eye(4),
            },
            "expected .subjects, timepoints, voxels",
        ),
        (
            {
                "timeseries": np.zeros((1, 2, 3)),
                "mask_indices": np.zeros((2, 3), int),
                "mask_affine": np.eye(4),
            },
            "mask_indices has shape",
        ),
        (
            {
                "timeseries": np.zeros((1, 2, 3)),
                "mask_indices": np.zeros((3, 3), int),
                "mask_affine": np.eye(3),
            },
            "not a finite 4x4",
        ),
        (
            {
                "timeseries": np.zeros((1, 2, 3)),
                "mask_indices": np.zeros((3, 3), int),
                "mask_affine": np.eye(4),
                "attrs": {},
            },
            "no mask_shape attribute",
        ),
        (
            {
                "timeseries": np.zeros((1, 2, 3)),
                "mask_indices": np.full((3, 3), 9),
                "mask_affine": np.eye(4),
            },
            "outside the grid",
        ),
        (
            {
                "timeseries": np.zeros((1, 2, 3)),
                "mask_indices": np.full((3, 3), 0.5),
                "mask_affine": np.eye(4),
            },
            "non-integer",
        ),
    ],
)
def test_files_not_in_the_layout_are_image_errors(tmp_path, content, message):
    path = _h5(tmp_path / "bad.h5", **content)
    with pytest.raises(ImageError, match=message):
        ConnectomeReader(path)


def test_a_file_that_is_not_hdf5_is_an_image_error(tmp_path):
    (tmp_path / "x.h5").write_bytes(b"not hdf5 at all")
    with pytest.raises(ImageError, match="not a readable HDF5 file"):
        ConnectomeReader(tmp_path / "x.h5")


def test_batch_files_that_disagree_are_refused(tmp_path, mask, series):
    write_connectome(tmp_path / "a.h5", series[:2], mask, AFFINE)
    write_connectome(tmp_path / "b.h5", series[2:4, :10], mask, AFFINE)
    with pytest.raises(ImageError, match=r"b\.h5 does not match .*a\.h5: it has 10 time points"):
        ConnectomeReader(tmp_path)
    other = mask.copy()
    other[np.nonzero(mask)[0][0], np.nonzero(mask)[1][0], np.nonzero(mask)[2][0]] = False
    other[0, 0, 0] = True  # same count, another voxel
    write_connectome(tmp_path / "b.h5", series[2:4], other, AFFINE, overwrite=True)
    with pytest.raises(ImageError, match="another brain mask"):
        ConnectomeReader(tmp_path)
    shifted = AFFINE.copy()
    shifted[0, 3] += 2
    write_connectome(tmp_path / "b.h5", series[2:4], mask, shifted, overwrite=True)
    with pytest.raises(ImageError, match="another mask_affine"):
        ConnectomeReader(tmp_path)
