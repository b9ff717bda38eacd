"""Tests of neuratlas.volumes.nrrd: NRRD files read as NIfTI images."""

from __future__ import annotations

from pathlib import Path

import nibabel as nib
import nrrd
import numpy as np
import pytest

from neuratlas.errors import ImageError
from neuratlas.volumes import providers
from neuratlas.volumes.nrrd import NrrdSlabs, ccf_affine, read_nrrd
from tests.volumes.fake_download_server import ccf_nrrd


def _labels(shape: tuple[int, int, int] = (4, 3, 5)) -> np.ndarray:
    return np.arange(np.prod(shape), dtype=np.uint32).reshape(shape)


def _write(path: Path, data: np.ndarray, header: dict) -> Path:
    nrrd.write(str(path), data, header, index_order="F")
    return path


def test_ccf_reading_places_pir_axes_in_ras_millimetres(tmp_path: Path):
    data = _labels()
    path = tmp_path / "annotation_25.nrrd"
    path.write_bytes(ccf_nrrd(data, 25))
    img = read_nrrd(path, "nrrd/ccf")
    assert np.array_equal(np.asanyarray(img.dataobj), data)
    assert img.get_data_dtype() == np.uint32
    assert nib.aff2axcodes(img.affine) == ("P", "I", "R")
    assert np.allclose(nib.affines.voxel_sizes(img.affine), 0.025)
    # CCF (AP, DV, LR) = (50, 25, 100) um is voxel (2, 1, 4); in RAS mm (0.1, -0.05, -0.025)
    assert np.allclose(img.affine @ [2, 1, 4, 1], [0.1, -0.05, -0.025, 1])


def test_ccf_affine_scales_each_axis():
    affine = ccf_affine((10.0, 20.0, 30.0))
    assert np.allclose(affine[:3, :3], [[0, 0, 0.03], [-0.01, 0, 0], [0, -0.02, 0]])
    assert np.allclose(ccf_affine(100), ccf_affine((100, 100, 100)))


def test_generic_reading_follows_the_header_space(tmp_path: Path):
    data = _labels().astype(np.int16)
    header = {
        "space": "left-posterior-superior",
        "space directions": np.diag([2.0, 3.0, 4.0]),
        "space origin": np.array([10.0, 20.0, 30.0]),
    }
    img = read_nrrd(_write(tmp_path / "lps.nrrd", data, header))
    # LPS -> RAS negates the first two axes
    assert np.allclose(img.affine[:3, :3], np.diag([-2.0, -3.0, 4.0]))
    assert np.allclose(img.affine[:3, 3], [-10.0, -20.0, 30.0])
    assert np.array_equal(np.asanyarray(img.dataobj), data)


def test_generic_reading_converts_micrometre_units(tmp_path: Path):
    header = {
        "space": "right-anterior-superior",
        "space directions": np.diag([25.0, 25.0, 25.0]),
        "space units": ["um", "um", "um"],
    }
    img = read_nrrd(_write(tmp_path / "um.nrrd", _labels(), header))
    assert np.allclose(img.affine[:3, :3], np.diag([0.025] * 3))


def test_spacings_without_directions_are_read(tmp_path: Path):
    img = read_nrrd(_write(tmp_path / "s.nrrd", _labels(), {"spacings": [1.0, 2.0, 3.0]}))
    assert np.allclose(np.diag(img.affine)[:3], [1.0, 2.0, 3.0])


def test_bad_files_raise_image_errors(tmp_path: Path):
    not_nrrd = tmp_path / "x.nrrd"
    not_nrrd.write_bytes(b"this is not an nrrd file\n")
    with pytest.raises(ImageError, match=r"x\.nrrd"):
        read_nrrd(not_nrrd)
    whole = ccf_nrrd(_labels((20, 20, 20)), 25)
    truncated = tmp_path / "truncated.nrrd"
    truncated.write_bytes(whole[: len(whole) // 2])
    with pytest.raises(ImageError, match=r"truncated\.nrrd"):
        read_nrrd(truncated, "nrrd/ccf")
    with pytest.raises(ImageError, match="unknown NRRD reading"):
        read_nrrd(not_nrrd, "nii")


def test_unsupported_geometry_is_an_image_error(tmp_path: Path):
    flat = _write(tmp_path / "flat.nrrd", np.zeros((3, 4), np.uint8), {})
    with pytest.raises(ImageError, match="2D"):
        read_nrrd(flat)
    odd = {"space": "scanner-xyz", "space directions": np.eye(3)}
    with pytest.raises(ImageError, match="scanner-xyz"):
        read_nrrd(_write(tmp_path / "odd.nrrd", _labels(), odd))
    with pytest.raises(ImageError, match="no voxel geometry") as caught:
        read_nrrd(_write(tmp_path / "bare.nrrd", _labels(), {}))
    assert "'spacings'" in (caught.value.hint or "")  # what to add to the header


def test_providers_load_volume_caches_read_only_arrays(tmp_path: Path):
    path = tmp_path / "template_100.nrrd"
    path.write_bytes(ccf_nrrd(_labels().astype(np.uint16), 100))
    first = providers.load_volume(path, "nrrd/ccf")
    assert providers.load_volume(path, "nrrd/ccf") is first
    assert not np.asanyarray(first.dataobj).flags.writeable
    # a NIfTI goes through the NIfTI reader
    nii = tmp_path / "x.nii.gz"
    nib.save(nib.Nifti1Image(np.ones((2, 2, 2), np.uint8), np.eye(4)), nii)
    assert providers.load_volume(nii, "nii").shape == (2, 2, 2)


@pytest.mark.parametrize("encoding", ["gzip", "raw", "bzip2", "ascii"])
@pytest.mark.parametrize("dtype", [np.uint32, ">i2", np.float32])
def test_slabs_are_the_volume_whatever_the_encoding(tmp_path: Path, encoding: str, dtype) -> None:
    rng = np.random.default_rng(3)
    data = rng.integers(0, 30000, size=(6, 5, 7)).astype(dtype)
    path = _write(
        tmp_path / f"{encoding}.nrrd", data, {"encoding": encoding, "spacings": [1, 1, 1]}
    )
    volume = NrrdSlabs(path)
    assert volume.shape == (6, 5, 7)
    # the byte order is the file's (ascii has none)
    assert volume.dtype.newbyteorder("=") == np.dtype(dtype).newbyteorder("=")
    np.testing.assert_array_equal(read_nrrd(path).get_fdata(), data)
    # two slabs at a time (the last block holds one): the volume in order, Fortran-ordered
    starts, blocks = [], []
    for start, block in volume.slabs(max_bytes=2 * 6 * 5 * np.dtype(dtype).itemsize):
        assert block.flags.f_contiguous and block.shape[:2] == (6, 5)
        starts.append(start)
        blocks.append(block.copy())  # a block may be reused for the next one
    assert starts == [0, 2, 4, 6]
    np.testing.assert_array_equal(np.concatenate(blocks, axis=2), data)


def test_a_truncated_file_fails_while_read_in_slabs(tmp_path: Path) -> None:
    whole = ccf_nrrd(_labels((20, 20, 20)), 25)
    truncated = tmp_path / "truncated.nrrd"
    truncated.write_bytes(whole[: len(whole) - 40])
    with pytest.raises(ImageError, match=r"truncated\.nrrd.*end after") as caught:
        for _ in NrrdSlabs(truncated, "nrrd/ccf").slabs(max_bytes=1000):
            pass
    assert "delete it" in (caught.value.hint or "")
