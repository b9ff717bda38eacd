"""Reading connectomes block by block, and lacuna reading our files and we reading its."""

from __future__ import annotations

import importlib.util
import pickle
from pathlib import Path

import h5py
import nibabel as nib
import numpy as np
import pytest

from neuratlas.errors import ArgumentError
from neuratlas.lesion.connectomes import ConnectomeReader, write_connectome
from neuratlas.lesion.connectomes.convert import gsp1000_to_hdf5
from tests.lesion.connectomes.synthetic import AFFINE, brain_mask, gsp_dataset

HAS_LACUNA = importlib.util.find_spec("lacuna") is not None


@pytest.fixture
def mask() -> np.ndarray:
    return brain_mask()


@pytest.fixture
def series(mask) -> np.ndarray:
    return np.random.default_rng(1).normal(size=(7, 15, int(mask.sum()))).astype(np.float32)


@pytest.fixture
def batches(tmp_path, mask, series) -> Path:
    """Seven subjects in three batch files: 3, 3, 1 (a folder, read in name order)."""
    folder = tmp_path / "conn"
    ids = [f"s{i}" for i in range(7)]
    write_connectome(folder / "b_001.h5", series[3:6], mask, AFFINE, subject_ids=ids[3:6])
    write_connectome(folder / "b_000.h5", series[:3], mask, AFFINE, subject_ids=ids[:3])
    write_connectome(folder / "b_002.h5", series[6:], mask, AFFINE, compression="gzip")
    return folder


# -- reading -------------------------------------------------------------------------------------


def test_a_folder_of_batch_files_reads_as_one_connectome(batches, series):
    reader = ConnectomeReader(batches)
    assert [p.name for p in reader.files] == ["b_000.h5", "b_001.h5", "b_002.h5"]
    assert reader.subjects_per_file == [3, 3, 1]
    assert reader.subject_ids == ["s0", "s1", "s2", "s3", "s4", "s5", "b_002:0"]
    np.testing.assert_array_equal(reader.read_subjects(2, 7), series[2:])
    np.testing.assert_array_equal(reader.read_subjects(4, 4), series[4:4])
    listed = ConnectomeReader([batches / "b_002.h5", batches / "b_000.h5"])
    np.testing.assert_array_equal(listed.read_subjects(0, 4), series[[6, 0, 1, 2]])
    assert "7 subjects x 15 time points" in repr(reader) and "3 files" in repr(reader)


def test_subject_blocks_cover_each_subject_once_within_budget(batches, series):
    reader = ConnectomeReader(batches)
    blocks = list(reader.iter_subject_blocks(max_bytes=2 * reader.subject_bytes))
    assert [(b.start, b.stop) for b in blocks] == [(0, 2), (2, 3), (3, 5), (5, 6), (6, 7)]
    assert all(b.data.nbytes <= 2 * reader.subject_bytes for b in blocks)
    np.testing.assert_array_equal(np.concatenate([b.data for b in blocks]), series)
    # a budget below one subject still yields whole subjects, one at a time
    tiny = list(reader.iter_subject_blocks(max_bytes=10))
    assert [b.stop - b.start for b in tiny] == [1] * 7


@pytest.mark.parametrize("budget_subjects", [0.3, 0.05, 3.0])
def test_blocks_split_voxels_when_a_subject_does_not_fit(batches, series, budget_subjects):
    reader = ConnectomeReader(batches)
    budget = int(budget_subjects * reader.subject_bytes)
    rebuilt = np.full_like(series, np.nan)
    for block in reader.iter_blocks(max_bytes=budget):
        assert block.data.nbytes <= max(budget, reader.subject_bytes)
        assert np.isnan(rebuilt[block.start : block.stop, :, block.voxels]).all()  # read once
        rebuilt[block.start : block.stop, :, block.voxels] = block.data
    np.testing.assert_array_equal(rebuilt, series)


def test_voxels_are_read_in_any_order_for_any_subjects(batches, series, mask):
    reader = ConnectomeReader(batches)
    rng = np.random.default_rng(5)
    columns = rng.choice(series.shape[2], size=40)  # repeats, unsorted
    np.testing.assert_array_equal(reader.read_voxels(columns), series[:, :, columns])
    chosen = [6, 2, 3, 4, 0]
    np.testing.assert_array_equal(
        reader.read_voxels(columns, chosen, max_bytes=1), series[chosen][:, :, columns]
    )
    np.testing.assert_array_equal(
        reader.read_voxels(columns[:3], slice(1, 5)), series[1:5][:, :, columns[:3]]
    )
    assert reader.read_voxels([], [1, 2]).shape == (2, 15, 0)
    with pytest.raises(ArgumentError, match="voxel columns must lie in"):
        reader.read_voxels([series.shape[2]])
    with pytest.raises(ArgumentError, match=r"subjects must lie in 0\.\.6"):
        reader.read_voxels([0], [7])
    with pytest.raises(ArgumentError, match="out of range"):
        reader.read_subjects(3, 9)


def test_lesion_voxels_map_to_columns_and_values_back_to_the_grid(batches, mask, series):
    reader = ConnectomeReader(batches)
    lesion = np.zeros(mask.shape, bool)
    lesion[3:6, 4:7, 3:5] = True
    lesion[0, 0, 0] = True  # outside the brain: left out
    columns = reader.columns(lesion)
    expected = np.flatnonzero(lesion[mask])  # columns are the mask's voxels in C order
    np.testing.assert_array_equal(columns, expected)
    volume = reader.to_volume(np.arange(series.shape[2], dtype=float), fill=-1.0)
    assert volume[0, 0, 0] == -1.0 and np.array_equal(volume[mask], np.arange(mask.sum()))
    image = reader.to_image(np.ones((series.shape[2], 2)))
    assert image.shape == (*mask.shape, 2) and np.allclose(image.affine, AFFINE)
    assert reader.mask_image().get_fdata().sum() == mask.sum()
    with pytest.raises(ArgumentError, match="not on the connectome grid"):
        reader.columns(np.zeros((2, 2, 2), bool))
    with pytest.raises(ArgumentError, match="one row per voxel"):
        reader.to_volume(np.zeros(3))


def test_a_reader_travels_to_another_process(batches, series):
    reader = ConnectomeReader(batches)
    reader.read_subjects(0, 1)  # a file is open now
    copy = pickle.loads(pickle.dumps(reader))
    np.testing.assert_array_equal(copy.read_subjects(5, 7), series[5:7])


# -- lacuna's files read by neuratlas, neuratlas's by lacuna -------------------------------------


def _lacuna_writes(gsp_dir: Path, mask_path: Path, out: Path) -> list[Path]:
    """Batch files as lacuna's gsp1000_to_hdf5 writes them (its code, or the same by hand)."""
    if HAS_LACUNA:
        from lacuna.io.convert import gsp1000_to_hdf5 as lacuna_convert

        return lacuna_convert(gsp_dir, mask_path, out, subjects_per_chunk=2)
    files = sorted(gsp_dir.glob("sub-*/func/*bld001_rest_*_finalmask.nii.gz"))
    mask_img = nib.load(mask_path)
    mask = mask_img.get_fdata().astype(bool)
    where = np.where(mask)
    made = []
    for index in range(0, len(files), 2):
        chunk = files[index : index + 2]
        path = out / f"gsp1000_chunk_{index // 2:03d}.h5"
        out.mkdir(parents=True, exist_ok=True)
        n_t = nib.load(chunk[0]).shape[3]
        with h5py.File(path, "w") as hf:
            ts = hf.create_dataset(
                "timeseries",
                shape=(len(chunk), n_t, len(where[0])),
                dtype=np.float32,
                chunks=(1, n_t, len(where[0])),
                compression="gzip",
                compression_opts=1,
            )
            hf.create_dataset("mask_indices", data=np.vstack(where).T)  # (V, 3), as lacuna
            hf.create_dataset("mask_affine", data=mask_img.affine)
            hf.attrs.update(
                n_subjects=len(chunk),
                n_timepoints=n_t,
                n_voxels=len(where[0]),
                mask_shape=mask.shape,
                space="MNI152_2mm",
            )
            for row, file in enumerate(chunk):
                ts[row] = nib.load(file).get_fdata()[where].T
        made.append(path)
    return made


@pytest.mark.slow  # importing lacuna takes seconds
def test_lacunas_batch_files_read_like_ours(tmp_path, capsys):
    data = gsp_dataset(tmp_path / "GSP", n_subjects=5, n_timepoints=9)
    theirs = ConnectomeReader(_lacuna_writes(data.root, data.mask_path, tmp_path / "lacuna"))
    ours = ConnectomeReader(gsp1000_to_hdf5(data.root, data.mask_path, tmp_path / "ours", 3))
    assert theirs.shape == ours.shape == (5, 9, int(data.mask.sum()))
    np.testing.assert_array_equal(theirs.mask_indices, ours.mask_indices)
    np.testing.assert_array_equal(theirs.read_subjects(0, 5), ours.read_subjects(0, 5))
    columns = theirs.columns(data.mask)[::7]
    np.testing.assert_array_equal(theirs.read_voxels(columns), ours.read_voxels(columns))
    assert theirs.attrs["space"] == "MNI152_2mm" and ours.space == "MNI152NLin6Asym"


def _lacuna_reads(folder: Path) -> tuple[np.ndarray, tuple, np.ndarray, tuple]:
    """What lacuna's FunctionalNetworkMapping reads from a folder of batch files.

    Its own code when lacuna is installed (registration, _get_connectome_files,
    _load_mask_info, then ``hf["timeseries"][:]`` per file); else the same steps.
    """
    if HAS_LACUNA:
        from lacuna.analysis.functional_network_mapping import FunctionalNetworkMapping
        from lacuna.assets.connectomes import (
            register_functional_connectome,
            unregister_functional_connectome,
        )

        register_functional_connectome("neuratlas_test", "MNI152NLin6Asym", 2.0, folder)
        try:
            analysis = FunctionalNetworkMapping("neuratlas_test")
            files = analysis._get_connectome_files()
            indices, affine, shape = analysis._load_mask_info()
        finally:
            unregister_functional_connectome("neuratlas_test")
    else:
        files = sorted(folder.glob("*.h5"))
        with h5py.File(files[0], "r") as hf:
            raw = hf["mask_indices"][:]
            if raw.shape[0] == 3:
                indices = tuple(raw[i, :].astype(int) for i in range(3))
            else:
                indices = tuple(raw[:, i].astype(int) for i in range(3))
            affine = hf["mask_affine"][:]
            shape = tuple(int(x) for x in hf.attrs["mask_shape"])
    series = []
    for file in files:
        with h5py.File(file, "r") as hf:
            series.append(hf["timeseries"][:])
    return np.concatenate(series), indices, affine, shape


@pytest.mark.slow  # importing lacuna takes seconds
def test_our_batch_files_read_by_lacunas_reading_code(tmp_path):
    data = gsp_dataset(tmp_path / "GSP", n_subjects=5, n_timepoints=9)
    folder = tmp_path / "ours"
    gsp1000_to_hdf5(data.root, data.mask_path, folder, 2)
    series, indices, affine, shape = _lacuna_reads(folder)
    expected = np.stack([data.series[s] for s in sorted(data.series)])
    np.testing.assert_array_equal(series, expected)
    assert shape == data.mask.shape
    np.testing.assert_array_equal(affine, AFFINE)
    # lacuna puts values back on the grid with the index tuple: the same voxels as ours
    volume = np.zeros(shape)
    volume[indices[0], indices[1], indices[2]] = series[0, 0]
    np.testing.assert_array_equal(volume, ConnectomeReader(folder).to_volume(series[0, 0]))
