"""GSP1000 NIfTI -> HDF5 batches, TrackVis -> MRtrix .tck, and merging tract folders."""

from __future__ import annotations

import gzip
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest

from neuratlas.errors import ArgumentError, ImageError, NotFoundError, ProcessingError
from neuratlas.lesion.connectomes import (
    ConnectomeReader,
    convert,
    gsp1000_to_hdf5,
    merge_trk_to_tck,
    trk_to_tck,
)
from neuratlas.lesion.connectomes.existing import OutputExistsError
from tests.lesion.connectomes.synthetic import AFFINE, SHAPE, gsp_dataset, streamlines, trk_bytes

# -- GSP1000 ---------------------------------------------------------------------------------


@pytest.fixture
def gsp(tmp_path):
    return gsp_dataset(tmp_path / "GSP", n_subjects=5, n_timepoints=8, outside=3.0)


def _expected(data, ids=None):
    return np.stack([data.series[s] for s in (ids or sorted(data.series))])


def test_subjects_are_converted_into_chunks_in_name_order(tmp_path, gsp):
    files = gsp1000_to_hdf5(gsp.root, gsp.mask_path, tmp_path / "out", subjects_per_chunk=2)
    assert [f.name for f in files] == [
        "gsp1000_chunk_000.h5",
        "gsp1000_chunk_001.h5",
        "gsp1000_chunk_002.h5",
    ]
    reader = ConnectomeReader(tmp_path / "out")
    assert reader.subjects_per_file == [2, 2, 1]
    assert reader.subject_ids == sorted(gsp.series)
    # only in-mask voxels, in C order: the value 3.0 outside the mask never appears
    np.testing.assert_array_equal(reader.read_subjects(0, 5), _expected(gsp))
    np.testing.assert_array_equal(reader.mask(), gsp.mask)
    assert reader.space == "MNI152NLin6Asym"
    assert "ILXIKS" in reader.attrs["source"]


def test_max_subjects_takes_the_first_ones(tmp_path, gsp):
    files = gsp1000_to_hdf5(gsp.root, gsp.mask_path, tmp_path / "out", 10, max_subjects=3)
    reader = ConnectomeReader(files)
    assert reader.subject_ids == sorted(gsp.series)[:3]


def test_a_finished_conversion_is_kept_and_others_refused_unless_overwrite(tmp_path, gsp):
    out = tmp_path / "out"
    first = gsp1000_to_hdf5(gsp.root, gsp.mask_path, out, 2)
    stamps = [f.stat().st_mtime_ns for f in first]
    again = gsp1000_to_hdf5(gsp.root, gsp.mask_path, out, 2)  # same subjects: resume, no work
    assert [f.stat().st_mtime_ns for f in again] == stamps
    with pytest.raises(OutputExistsError, match=r"gsp1000_chunk_000\.h5 already exists"):
        gsp1000_to_hdf5(gsp.root, gsp.mask_path, out, 3)  # other chunking
    assert [f.stat().st_mtime_ns for f in first] == stamps  # nothing touched
    files = gsp1000_to_hdf5(gsp.root, gsp.mask_path, out, 3, overwrite=True)
    assert sorted(p.name for p in out.iterdir()) == [f.name for f in files]  # stale chunk gone
    assert ConnectomeReader(out).subjects_per_file == [3, 2]


def test_an_interrupted_conversion_resumes(tmp_path, gsp, monkeypatch):
    out = tmp_path / "out"
    calls = {"n": 0}
    real = convert._read_subject

    def flaky(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 4:
            raise ProcessingError("disk unplugged")
        return real(*args, **kwargs)

    monkeypatch.setattr(convert, "_read_subject", flaky)
    with pytest.raises(ProcessingError, match="unplugged"):
        gsp1000_to_hdf5(gsp.root, gsp.mask_path, out, 2)
    assert sorted(p.name for p in out.iterdir()) == ["gsp1000_chunk_000.h5"]  # only finished ones
    monkeypatch.setattr(convert, "_read_subject", real)
    gsp1000_to_hdf5(gsp.root, gsp.mask_path, out, 2)
    np.testing.assert_array_equal(ConnectomeReader(out).read_subjects(0, 5), _expected(gsp))


def test_gsp_input_errors(tmp_path, gsp):
    with pytest.raises(NotFoundError, match=r"GSP1000 folder .* does not exist"):
        gsp1000_to_hdf5(tmp_path / "nope", gsp.mask_path, tmp_path / "out")
    with pytest.raises(NotFoundError, match=r"brain mask .* does not exist"):
        gsp1000_to_hdf5(gsp.root, tmp_path / "nope.nii.gz", tmp_path / "out")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ArgumentError, match="no GSP1000 subject files") as info:
        gsp1000_to_hdf5(tmp_path / "empty", gsp.mask_path, tmp_path / "out")
    assert "sub-*/func/" in info.value.hint
    with pytest.raises(ArgumentError, match="subjects_per_chunk must be at least 1"):
        gsp1000_to_hdf5(gsp.root, gsp.mask_path, tmp_path / "out", 0)
    with pytest.raises(ArgumentError, match="max_subjects must be at least 1"):
        gsp1000_to_hdf5(gsp.root, gsp.mask_path, tmp_path / "out", max_subjects=0)


def test_bad_masks_are_image_errors(tmp_path, gsp):
    empty = tmp_path / "empty_mask.nii.gz"
    nib.save(nib.Nifti1Image(np.zeros(SHAPE, np.uint8), AFFINE), empty)
    with pytest.raises(ImageError, match="is empty"):
        gsp1000_to_hdf5(gsp.root, empty, tmp_path / "out")
    flat = tmp_path / "flat.nii.gz"
    nib.save(nib.Nifti1Image(np.ones((3, 3), np.uint8), np.eye(4)), flat)
    with pytest.raises(ImageError, match="is not 3D"):
        gsp1000_to_hdf5(gsp.root, flat, tmp_path / "out")
    junk = tmp_path / "junk.nii.gz"
    junk.write_bytes(b"junk")
    with pytest.raises(ImageError, match="cannot be read"):
        gsp1000_to_hdf5(gsp.root, junk, tmp_path / "out")


def _replace_subject(gsp, index: int, data: np.ndarray, affine=AFFINE) -> Path:
    path = gsp.files[index]
    nib.save(nib.Nifti1Image(data, affine), path)
    return path


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: (np.zeros((4, 4, 4, 8), np.float32), AFFINE), "expected 4D on the mask's grid"),
        (lambda: (np.zeros((*SHAPE, 6), np.float32), AFFINE), "has 6 time points, the other"),
        (lambda: (np.zeros((*SHAPE, 8), np.float32), AFFINE * 2), "not on the brain mask's grid"),
        (lambda: (np.full((*SHAPE, 8), np.nan, np.float32), AFFINE), "NaN or infinite"),
    ],
)
def test_subject_files_that_do_not_fit_are_processing_errors(tmp_path, gsp, make, message):
    data, affine = make()
    bad = _replace_subject(gsp, 2, data, affine)
    with pytest.raises(ProcessingError, match=message) as info:
        gsp1000_to_hdf5(gsp.root, gsp.mask_path, tmp_path / "out", 10)
    assert bad.name in str(info.value)
    assert not (tmp_path / "out" / "gsp1000_chunk_000.h5").exists()


def test_a_truncated_subject_file_is_a_processing_error(tmp_path, gsp):
    gsp.files[1].write_bytes(gsp.files[1].read_bytes()[:400])
    with pytest.raises(ProcessingError, match="cannot be read"):
        gsp1000_to_hdf5(gsp.root, gsp.mask_path, tmp_path / "out")


# -- TrackVis -> .tck ----------------------------------------------------------------------------


def _check_tck(path: Path, lines: list[np.ndarray]) -> None:
    loaded = nib.streamlines.load(str(path))
    assert len(loaded.streamlines) == len(lines)
    for got, want in zip(loaded.streamlines, lines, strict=True):
        np.testing.assert_allclose(got, want, atol=1e-4)


def test_trk_converts_to_tck_in_world_coordinates(tmp_path, monkeypatch):
    lines = streamlines(25, seed=4)
    trk = tmp_path / "t.trk"
    trk.write_bytes(trk_bytes(lines, scalars=True))
    # the .trk stores voxel-mm coordinates: the header's LAS transform must have been applied
    raw = nib.streamlines.TrkFile.load(str(trk))
    assert raw.header["voxel_order"] == b"LAS"
    monkeypatch.setattr(convert, "_STREAMLINE_BATCH", 7)  # several batches
    out = trk_to_tck(trk, tmp_path / "t.tck")
    assert out == tmp_path / "t.tck"
    _check_tck(out, lines)


def test_gzipped_trk_converts_too(tmp_path):
    lines = streamlines(5)
    (tmp_path / "t.trk.gz").write_bytes(gzip.compress(trk_bytes(lines)))
    _check_tck(trk_to_tck(tmp_path / "t.trk.gz", tmp_path / "t.tck"), lines)


def test_trk_to_tck_refuses_bad_paths_and_existing_output(tmp_path):
    (tmp_path / "t.trk").write_bytes(trk_bytes(streamlines(3)))
    with pytest.raises(ArgumentError, match=r"must be a TrackVis \.trk file"):
        trk_to_tck(tmp_path / "t.tck", tmp_path / "o.tck")
    with pytest.raises(ArgumentError, match=r"must be a \.tck file"):
        trk_to_tck(tmp_path / "t.trk", tmp_path / "o.trk")
    with pytest.raises(NotFoundError, match="does not exist"):
        trk_to_tck(tmp_path / "none.trk", tmp_path / "o.tck")
    out = trk_to_tck(tmp_path / "t.trk", tmp_path / "o.tck")
    with pytest.raises(OutputExistsError, match=r"the tractogram .* already exists"):
        trk_to_tck(tmp_path / "t.trk", out)
    (tmp_path / "u.trk").write_bytes(trk_bytes(streamlines(8, seed=5)))
    _check_tck(trk_to_tck(tmp_path / "u.trk", out, overwrite=True), streamlines(8, seed=5))


def test_a_corrupt_trk_is_a_processing_error_and_writes_nothing(tmp_path):
    data = trk_bytes(streamlines(30))
    (tmp_path / "cut.trk").write_bytes(data[: len(data) - 50])
    with pytest.raises(ProcessingError, match=r"cut\.trk cannot be read"):
        trk_to_tck(tmp_path / "cut.trk", tmp_path / "o.tck")
    (tmp_path / "junk.trk").write_bytes(b"TRACK" + b"\0" * 20)
    with pytest.raises(ProcessingError, match="cannot be read"):
        trk_to_tck(tmp_path / "junk.trk", tmp_path / "o.tck")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cut.trk", "junk.trk"]


# -- merging a folder of tracts ----------------------------------------------------------------


@pytest.fixture
def tracts(tmp_path) -> tuple[Path, list[np.ndarray], list[np.ndarray]]:
    root = tmp_path / "tracts"
    a, b, n = streamlines(4, seed=1), streamlines(3, seed=2), streamlines(2, seed=3, offset=40)
    (root / "association").mkdir(parents=True)
    (root / "projection").mkdir()
    (root / "Cranial_Nerve").mkdir()
    (root / "association" / "AF_L.trk").write_bytes(trk_bytes(a))
    (root / "projection" / "CST_R.trk.gz").write_bytes(gzip.compress(trk_bytes(b)))
    (root / "Cranial_Nerve" / "CNII_L.trk").write_bytes(trk_bytes(n))
    (root / "README.md").write_text("not a tract")
    return root, a + b, n


def test_tracts_are_merged_in_path_order_without_cranial_nerves(tmp_path, tracts):
    root, kept, _ = tracts
    _check_tck(merge_trk_to_tck(root, tmp_path / "m.tck"), kept)


def test_exclude_patterns_choose_what_is_left_out(tmp_path, tracts):
    root, kept, nerves = tracts
    # path order: "Cranial_Nerve/..." sorts before "association/..." (upper case first)
    _check_tck(merge_trk_to_tck(root, tmp_path / "all.tck", exclude_patterns=[]), nerves + kept)
    _check_tck(
        merge_trk_to_tck(root, tmp_path / "p.tck", exclude_patterns=["PROJECTION"]),
        nerves + kept[:4],
    )


def test_merge_refuses_what_it_cannot_merge(tmp_path, tracts):
    root, _, _ = tracts
    with pytest.raises(NotFoundError, match=r"tract folder .* does not exist"):
        merge_trk_to_tck(tmp_path / "nope", tmp_path / "m.tck")
    with pytest.raises(ArgumentError, match=r"all 3 tract files .* match the exclude patterns"):
        merge_trk_to_tck(root, tmp_path / "m.tck", exclude_patterns=["trk"])
    (tmp_path / "none").mkdir()
    with pytest.raises(ArgumentError, match=r"no \.trk or \.trk\.gz files"):
        merge_trk_to_tck(tmp_path / "none", tmp_path / "m.tck")
    (tmp_path / "hollow").mkdir()
    (tmp_path / "hollow" / "x.trk").write_bytes(trk_bytes([]))
    with pytest.raises(ProcessingError, match="hold no streamlines"):
        merge_trk_to_tck(tmp_path / "hollow", tmp_path / "m.tck")
    assert not (tmp_path / "m.tck").exists()
    out = merge_trk_to_tck(root, tmp_path / "m.tck")
    with pytest.raises(OutputExistsError):
        merge_trk_to_tck(root, out)
