"""Writing batch files in lacuna's layout: what lacuna looks for, atomically, checked."""

from __future__ import annotations

import h5py
import numpy as np
import pytest

from neuratlas.errors import ArgumentError
from neuratlas.lesion.connectomes import ConnectomeReader, ConnectomeWriter, write_connectome
from neuratlas.lesion.connectomes.existing import OutputExistsError
from tests.lesion.connectomes.synthetic import AFFINE, brain_mask


@pytest.fixture
def mask() -> np.ndarray:
    return brain_mask()


@pytest.fixture
def series(mask) -> np.ndarray:
    return np.random.default_rng(1).normal(size=(7, 15, int(mask.sum()))).astype(np.float32)


@pytest.mark.parametrize("compression", [None, "gzip", "lzf"])
def test_a_written_connectome_reads_back_exactly(tmp_path, mask, series, compression):
    path = write_connectome(
        tmp_path / "c.h5",
        series,
        mask,
        AFFINE,
        space="MNI152NLin6Asym",
        description="synthetic",
        source="tests",
        compression=compression,
    )
    with ConnectomeReader(path) as reader:
        assert reader.shape == series.shape
        np.testing.assert_array_equal(reader.read_subjects(0, 7), series)
        np.testing.assert_array_equal(reader.mask(), mask)
        np.testing.assert_array_equal(reader.mask_affine, AFFINE)
        assert reader.mask_shape == mask.shape and reader.resolution == 2.0
        assert reader.space == "MNI152NLin6Asym"
        assert reader.attrs["description"] == "synthetic" and reader.attrs["source"] == "tests"
        assert reader.subject_ids == [f"c:{i}" for i in range(7)]
        assert reader.nbytes == series.nbytes and reader.subject_bytes == series[0].nbytes
    with h5py.File(path) as handle:  # what lacuna looks for
        assert handle["timeseries"].dtype == np.float32
        assert handle["mask_indices"].shape == (3, mask.sum())
        assert tuple(handle.attrs["mask_shape"]) == mask.shape
        assert handle.attrs["n_subjects"] == 7 and handle.attrs["n_timepoints"] == 15
        assert handle.attrs["n_voxels"] == mask.sum()
        np.testing.assert_array_equal(handle["mask_indices"][()], np.stack(np.nonzero(mask)))


def test_subjects_can_be_written_one_at_a_time(tmp_path, mask, series):
    path = write_connectome(tmp_path / "c.h5", iter(series), mask, AFFINE, n_subjects=7)
    np.testing.assert_array_equal(ConnectomeReader(path).read_subjects(0, 7), series)
    with ConnectomeWriter(tmp_path / "w.h5", 2, 15, np.argwhere(mask), AFFINE, mask.shape) as w:
        w.write(1, series[1])
        w.write(slice(0, 1), series[:1])
    np.testing.assert_array_equal(ConnectomeReader(w.path).read_subjects(0, 2), series[:2])


def test_writer_rejects_bad_input_and_leaves_nothing_behind(tmp_path, mask, series):
    target = tmp_path / "c.h5"
    with pytest.raises(ArgumentError, match="NaN or infinite"):
        bad = series.copy()
        bad[2, 3, 4] = np.nan
        write_connectome(target, bad, mask, AFFINE)
    with pytest.raises(ArgumentError, match="timeseries has 5 voxels but the mask"):
        write_connectome(target, series[:, :, :5], mask, AFFINE)
    with pytest.raises(ArgumentError, match=r"expected \(subjects, time points, voxels\)"):
        write_connectome(target, series[0], mask, AFFINE)
    with pytest.raises(ArgumentError, match="mask_shape is needed"):
        write_connectome(target, series, np.argwhere(mask), AFFINE)
    with pytest.raises(ArgumentError, match="name some voxels twice"):
        write_connectome(target, series[:, :, :2], np.zeros((3, 2), int), AFFINE, (4, 4, 4))
    with pytest.raises(ArgumentError, match="outside the grid"):
        write_connectome(target, series[:, :, :1], [[9], [0], [0]], AFFINE, (4, 4, 4))
    with pytest.raises(ArgumentError, match="brain mask is empty"):
        write_connectome(target, series[:, :, :0], np.zeros((2, 2, 2), bool), AFFINE)
    with pytest.raises(ArgumentError, match="finite 4x4"):
        write_connectome(target, series, mask, np.eye(3))
    with pytest.raises(ArgumentError, match="unknown compression"):
        write_connectome(target, series, mask, AFFINE, compression="zstd")
    with pytest.raises(ArgumentError, match="2 subject_ids for 7 subjects"):
        write_connectome(target, series, mask, AFFINE, subject_ids=["a", "b"])
    with (
        pytest.raises(ArgumentError, match="2 of 3 subjects were never written"),
        ConnectomeWriter(target, 3, 15, mask, AFFINE) as writer,
    ):
        writer.write(0, series[0])
    with pytest.raises(RuntimeError, match="stop"), ConnectomeWriter(target, 1, 15, mask, AFFINE):
        raise RuntimeError("stop")
    assert list(tmp_path.iterdir()) == []  # no file, no temporary file


def test_an_existing_file_is_kept_unless_overwrite(tmp_path, mask, series):
    target = write_connectome(tmp_path / "c.h5", series[:1], mask, AFFINE)
    with pytest.raises(OutputExistsError, match="already exists") as info:
        write_connectome(target, series, mask, AFFINE)
    assert "overwrite=True" in info.value.hint
    assert ConnectomeReader(target).n_subjects == 1
    write_connectome(target, series, mask, AFFINE, overwrite=True)
    assert ConnectomeReader(target).n_subjects == 7
