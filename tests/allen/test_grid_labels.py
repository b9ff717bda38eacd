"""An annotation's labels on another CCF grid, one plane at a time."""

from __future__ import annotations

import nibabel as nib
import numpy as np
import pytest

from neuratlas.allen.grid_labels import GridLabels, label_counts, labels_on_grid
from neuratlas.allen.volume import ccf_affine
from neuratlas.errors import TransformError


def _annotation(shape: tuple[int, int, int] = (12, 8, 10), seed: int = 0) -> np.ndarray:
    """Blocky labels with Allen-sized ids (runs, as a real annotation has), Fortran order."""
    rng = np.random.default_rng(seed)
    ids = np.array([0, 8, 382, 672, 614454277], dtype=np.uint32)
    coarse = rng.integers(0, len(ids), size=tuple((n + 1) // 2 for n in shape))
    blocks = ids[coarse].repeat(2, 0).repeat(2, 1).repeat(2, 2)
    return np.asfortranarray(blocks[: shape[0], : shape[1], : shape[2]])


def _unique(data: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    present, counts = np.unique(data, return_counts=True)
    return present, counts


class TestLabelCounts:
    @pytest.mark.parametrize("order", ["F", "C"])
    def test_same_as_numpy_unique(self, order: str) -> None:
        data = np.asarray(_annotation(), order=order)
        present, counts = label_counts(data)
        expected = _unique(data)
        assert np.array_equal(present, expected[0]) and np.array_equal(counts, expected[1])
        assert counts.dtype == np.int64 and present.dtype == data.dtype

    def test_one_label_and_empty(self) -> None:
        present, counts = label_counts(np.full((3, 4, 5), 7, dtype=np.uint16))
        assert present.tolist() == [7] and counts.tolist() == [60]
        present, counts = label_counts(np.zeros((0, 4), dtype=np.uint32))
        assert present.size == 0 and counts.size == 0


class TestSameGrid:
    def test_planes_are_the_annotations_own(self) -> None:
        data = _annotation()
        grid = GridLabels(nib.Nifti1Image(data, ccf_affine(25)), data.shape, ccf_affine(25))
        assert grid.same_grid and "12, 8, 10" in repr(grid)
        assert grid.volume() is grid.data
        for axis in range(3):
            for index in (0, data.shape[axis] - 1):
                plane = grid.plane(axis, index)
                assert np.shares_memory(plane, data)  # a view, never a copy of the volume
                assert np.array_equal(plane, np.take(data, index, axis=axis))

    def test_counts(self) -> None:
        data = _annotation()
        grid = GridLabels(nib.Nifti1Image(data, ccf_affine(25)), data.shape, ccf_affine(25))
        present, counts = grid.counts()
        expected = _unique(data)
        assert np.array_equal(present, expected[0]) and np.array_equal(counts, expected[1])


class TestOtherGrids:
    @pytest.mark.parametrize(
        ("annotation_um", "grid_um", "grid_shape"),
        [(25, 50, (6, 4, 5)), (25, 50, (8, 6, 7)), (50, 25, (24, 16, 20)), (50, 25, (20, 10, 30))],
    )
    def test_planes_and_counts_match_the_whole_volume(
        self, annotation_um: int, grid_um: int, grid_shape: tuple[int, int, int]
    ) -> None:
        data = _annotation()
        image = nib.Nifti1Image(data, ccf_affine(annotation_um))
        grid = GridLabels(image, grid_shape, ccf_affine(grid_um))
        assert not grid.same_grid
        whole = labels_on_grid(image, grid_shape, ccf_affine(grid_um))
        assert whole.shape == grid_shape
        for axis in range(3):
            for index in range(grid_shape[axis]):
                assert np.array_equal(grid.plane(axis, index), np.take(whole, index, axis=axis))
        present, counts = grid.counts()
        # only grid voxels inside the annotation count
        inside = np.zeros(grid_shape, dtype=bool)
        scale = grid_um / annotation_um
        axes = [np.rint(scale * np.arange(n)).astype(int) for n in grid_shape]
        inside[np.ix_(*(a < n for a, n in zip(axes, data.shape, strict=True)))] = True
        expected = _unique(whole[inside])
        assert np.array_equal(present, expected[0]) and np.array_equal(counts, expected[1])

    def test_a_finer_grid_counts_each_voxel_as_often_as_it_is_used(self) -> None:
        data = _annotation()
        image = nib.Nifti1Image(data, ccf_affine(50))
        present, counts = GridLabels(image, (24, 16, 20), ccf_affine(25)).counts()
        # each 50 µm voxel holds 8 grid voxels, but for those beyond the annotation's last one
        per_axis = [
            np.count_nonzero(np.rint(np.arange(n) / 2) < m)
            for n, m in [(24, 12), (16, 8), (20, 10)]
        ]
        assert counts.sum() == np.prod(per_axis) < 24 * 16 * 20
        assert set(present.tolist()) == set(np.unique(data).tolist())

    def test_a_plane_beyond_the_annotation_is_empty(self) -> None:
        data = _annotation()
        grid = GridLabels(nib.Nifti1Image(data, ccf_affine(25)), (20, 8, 10), ccf_affine(25))
        assert not grid.plane(0, 15).any() and grid.plane(0, 15).shape == (8, 10)
        assert not grid.plane(0, 99).any()
        assert np.array_equal(grid.plane(0, 3), data[3])

    def test_rotated_axes_are_refused(self) -> None:
        image = nib.Nifti1Image(np.zeros((4, 4, 4), dtype=np.uint32), np.eye(4))
        with pytest.raises(TransformError, match="not those of the CCF grid") as caught:
            GridLabels(image, (4, 4, 4), ccf_affine(25))
        assert "P, I, R" in (caught.value.hint or "")


@pytest.mark.parametrize("order", ["F", "C"])
@pytest.mark.parametrize("axis", [0, 1, 2])
def test_planes_read_together_are_the_planes(order: str, axis: int) -> None:
    data = np.asarray(_annotation(), order=order)
    labels = GridLabels(nib.Nifti1Image(data, ccf_affine(25)), data.shape, ccf_affine(25))
    indices = [1, 4, 7]
    planes, transposed = labels.planes(axis, indices)
    # gathered in one pass only across the slowest axis of a Fortran-ordered volume
    assert transposed == (order == "F" and axis == 0)
    for index, plane in zip(indices, planes, strict=True):
        expected = labels.plane(axis, index)
        assert np.array_equal(plane.T if transposed else plane, expected)
    single, flag = labels.planes(axis, [2])
    assert not flag and np.array_equal(single[0], labels.plane(axis, 2))
