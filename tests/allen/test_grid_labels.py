"""An annotation's labels on another CCF grid, one plane at a time."""

from __future__ import annotations

from pathlib import Path

import nibabel as nib
import numpy as np
import pytest

from neuratlas.allen.grid_labels import GridLabels, label_counts, labels_on_grid, sample_grid
from neuratlas.allen.volume import ccf_affine
from neuratlas.errors import TransformError
from neuratlas.volumes.nrrd import NrrdSlabs
from neuratlas.volumes.slabs import ArraySlabs
from tests.volumes.fake_download_server import ccf_nrrd


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


def _sources(data: np.ndarray, voxel_um: int, tmp_path: Path) -> dict[str, object]:
    """The same annotation as arrays in both memory orders and as a gzip NRRD file."""
    path = tmp_path / "annotation.nrrd"
    path.write_bytes(ccf_nrrd(data, voxel_um))
    affine = ccf_affine(voxel_um)
    return {
        "F": ArraySlabs(nib.Nifti1Image(np.asfortranarray(data), affine)),
        "C": ArraySlabs(nib.Nifti1Image(np.ascontiguousarray(data), affine)),
        "nrrd": NrrdSlabs(path, "nrrd/ccf"),
    }


@pytest.mark.parametrize("axis", [0, 1, 2])
@pytest.mark.parametrize(
    ("annotation_um", "grid_um", "grid_shape"),
    [(25, 25, (12, 8, 10)), (25, 50, (8, 6, 7)), (50, 25, (20, 10, 30))],
)
def test_sampled_planes_and_counts_are_those_of_the_whole_grid(
    tmp_path: Path, axis: int, annotation_um: int, grid_um: int, grid_shape: tuple[int, ...]
) -> None:
    data = _annotation()
    image = nib.Nifti1Image(data, ccf_affine(annotation_um))
    whole = GridLabels(image, grid_shape, ccf_affine(grid_um))
    expected_counts = whole.counts()
    # planes beyond the grid are left out; one beyond the annotation is all 0
    indices = [1, 4, grid_shape[axis] - 1, grid_shape[axis] + 3, -1]
    for name, source in _sources(data, annotation_um, tmp_path).items():
        # blocks of one or two slabs: planes and runs cross block boundaries
        sample = sample_grid(source, grid_shape, ccf_affine(grid_um), axis, indices, max_bytes=700)
        assert sorted(sample.planes) == [1, 4, grid_shape[axis] - 1], name
        for index, plane in sample.planes.items():
            assert plane.flags.c_contiguous, (name, index)
            assert np.array_equal(plane, whole.plane(axis, index)), (name, index)
        assert sample.counts is not None
        for got, want in zip(sample.counts, expected_counts, strict=True):
            assert np.array_equal(got, want), name


def test_counting_can_be_left_out(tmp_path: Path) -> None:
    data = _annotation()
    source = ArraySlabs(nib.Nifti1Image(data, ccf_affine(25)))
    sample = sample_grid(source, data.shape, ccf_affine(25), 2, [3], count=False)
    assert sample.counts is None and np.array_equal(sample.planes[3], data[:, :, 3])


def test_nothing_to_gather_or_count_reads_nothing() -> None:
    data = _annotation()

    class Unreadable(ArraySlabs):
        def slabs(self, max_bytes: int = 0):
            raise AssertionError("the annotation was read")

    source = Unreadable(nib.Nifti1Image(data, ccf_affine(25)))
    beyond = [data.shape[0] + 5]  # a plane beyond the annotation is all 0, without reading
    grid_shape = (data.shape[0] + 10, *data.shape[1:])
    sample = sample_grid(source, grid_shape, ccf_affine(25), 0, beyond, count=False)
    assert sample.counts is None and not sample.planes[beyond[0]].any()
