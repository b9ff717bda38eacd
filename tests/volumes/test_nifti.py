"""Tests of neuratlas.volumes.nifti: NIfTI bytes and atomic writes, checked with nibabel."""

from __future__ import annotations

import gzip
import os
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest
from nibabel.affines import from_matvec
from nibabel.eulerangles import euler2mat

import neuratlas
from neuratlas.errors import ArgumentError, ImageError, NotFoundError
from neuratlas.volumes import nifti
from neuratlas.volumes.nifti import VolumeStack, save_nifti, stack_image, to_nifti_bytes

# FSL's MNI152 2 mm grid (x flipped), and the same grid after a small rigid rotation
MNI_2MM_LAS = np.array(
    [[-2.0, 0, 0, 90.0], [0, 2.0, 0, -126.0], [0, 0, 2.0, -72.0], [0, 0, 0, 1.0]]
)
ROTATED = from_matvec(euler2mat(0.2, -0.1, 0.05) @ np.diag([2.0, 2.0, 2.0]), [-80, -110, -60])
SHAPE = (23, 27, 23)  # a quarter-resolution MNI-like grid keeps the files small


def label_image(affine: np.ndarray = MNI_2MM_LAS) -> nib.Nifti1Image:
    rng = np.random.default_rng(1)
    return nib.Nifti1Image(rng.integers(0, 120, SHAPE).astype(np.uint8), affine)


def probability_image(affine: np.ndarray = ROTATED) -> nib.Nifti1Image:
    rng = np.random.default_rng(2)
    values = rng.random(SHAPE, dtype=np.float32)
    values[values < 0.6] = 0
    return nib.Nifti1Image(values, affine)


def data(img: nib.Nifti1Image) -> np.ndarray:
    return np.asanyarray(img.dataobj)


def leftovers(folder: Path) -> list[str]:
    """Temporary files of atomic writes (``.<name>.<random>.part``)."""
    return sorted(p.name for p in folder.iterdir() if p.name.endswith(".part"))


# --- to_nifti_bytes ----------------------------------------------------------------------------
@pytest.mark.parametrize("make", [label_image, probability_image])
def test_bytes_round_trip(make) -> None:
    img = make()
    raw = to_nifti_bytes(img, compress=False)
    back = nib.Nifti1Image.from_bytes(raw)
    assert back.shape == img.shape
    assert back.get_data_dtype() == img.get_data_dtype()
    np.testing.assert_array_equal(data(back), data(img))
    np.testing.assert_allclose(back.affine, img.affine, atol=1e-5)  # float32 in the header
    assert back.header.get_xyzt_units()[0] == "mm"


def test_compressed_bytes_are_gzip_of_the_raw_bytes() -> None:
    img = label_image()
    raw = to_nifti_bytes(img, compress=False)
    packed = to_nifti_bytes(img)
    assert packed[:2] == b"\x1f\x8b" and raw[:2] != b"\x1f\x8b"
    assert gzip.decompress(packed) == raw
    assert len(packed) < len(raw)
    # NIfTI-1 single file: header size 348 and magic "n+1" at byte 344
    assert int.from_bytes(raw[:4], "little") == 348 and raw[344:348] == b"n+1\x00"


def test_bytes_are_reproducible() -> None:
    # gzip without a time stamp: the same image gives the same bytes (cache keys, hashes)
    first = to_nifti_bytes(probability_image())
    second = to_nifti_bytes(probability_image())
    assert first == second
    assert first[4:8] == b"\x00\x00\x00\x00"  # gzip MTIME field


def test_an_image_of_another_class_is_converted() -> None:
    # a FreeSurfer volume (MGH), e.g. a subject's aseg resampled to 2 mm
    values = np.random.default_rng(3).integers(0, 60, SHAPE).astype(np.float32)
    mgh = nib.MGHImage(values, ROTATED)
    back = nib.Nifti1Image.from_bytes(gzip.decompress(to_nifti_bytes(mgh)))
    np.testing.assert_array_equal(data(back), values)
    np.testing.assert_allclose(back.affine, ROTATED, atol=1e-5)
    assert back.header["sizeof_hdr"] == 348 and back.header["magic"] == b"n+1"


def test_a_nifti2_image_is_written_as_nifti1() -> None:
    values = np.random.default_rng(3).random(SHAPE).astype(np.float32)
    raw = to_nifti_bytes(nib.Nifti2Image(values, ROTATED), compress=False)
    assert int.from_bytes(raw[:4], "little") == 348  # NIfTI-2 headers are 540 bytes
    back = nib.Nifti1Image.from_bytes(raw)
    np.testing.assert_array_equal(data(back), values)


def test_serialising_does_not_change_the_image() -> None:
    img = nib.Nifti1Image(np.zeros((*SHAPE, 3), np.float32), MNI_2MM_LAS)
    img.header.set_xyzt_units("mm", "sec")
    to_nifti_bytes(img)
    assert img.header.get_xyzt_units() == ("mm", "sec")


def test_not_an_image_is_refused() -> None:
    with pytest.raises(AttributeError):
        to_nifti_bytes(np.zeros(SHAPE))  # type: ignore[arg-type]


# --- save_nifti: formats -------------------------------------------------------------------------
@pytest.mark.parametrize("make", [label_image, probability_image])
def test_save_round_trip_through_nibabel(make, tmp_path: Path) -> None:
    img = make()
    target = save_nifti(img, tmp_path / "map.nii.gz")
    assert target == tmp_path / "map.nii.gz"
    loaded = nib.load(target)
    np.testing.assert_array_equal(data(loaded), data(img))
    np.testing.assert_allclose(loaded.affine, img.affine, atol=1e-5)
    assert loaded.get_data_dtype() == img.get_data_dtype()
    assert nib.aff2axcodes(loaded.affine) == nib.aff2axcodes(img.affine)


def test_compression_follows_the_suffix(tmp_path: Path) -> None:
    img = label_image()
    packed = save_nifti(img, tmp_path / "labels.nii.gz")
    plain = save_nifti(img, str(tmp_path / "labels.nii"))  # a str path works too
    assert isinstance(plain, Path)
    assert packed.read_bytes()[:2] == b"\x1f\x8b"
    assert plain.read_bytes()[344:348] == b"n+1\x00"
    assert gzip.decompress(packed.read_bytes()) == plain.read_bytes()
    np.testing.assert_array_equal(data(nib.load(plain)), data(nib.load(packed)))


def test_an_upper_case_gz_suffix_is_compressed(tmp_path: Path) -> None:
    target = save_nifti(label_image(), tmp_path / "MAP.NII.GZ")
    np.testing.assert_array_equal(data(nib.load(target)), data(label_image()))


def test_save_an_embedded_atlas(tmp_path: Path) -> None:
    aal = neuratlas.get_map("aal1", "MNI152 NLin6", "labelled")
    labels = aal.fetch()
    target = save_nifti(labels, tmp_path / "aal.nii.gz")
    loaded = nib.load(target)
    np.testing.assert_array_equal(data(loaded), data(labels))
    np.testing.assert_array_equal(loaded.affine, labels.affine)


# --- save_nifti: atomic writes -------------------------------------------------------------------
def test_parent_folders_are_created_and_no_temporary_file_is_left(tmp_path: Path) -> None:
    target = save_nifti(label_image(), tmp_path / "out" / "sub" / "labels.nii.gz")
    assert target.is_file()
    assert sorted(p.name for p in target.parent.iterdir()) == ["labels.nii.gz"]


def test_an_existing_file_is_replaced(tmp_path: Path) -> None:
    target = tmp_path / "map.nii.gz"
    target.write_bytes(b"an older, shorter file")
    old_inode = target.stat().st_ino
    save_nifti(probability_image(), target)
    np.testing.assert_array_equal(data(nib.load(target)), data(probability_image()))
    # replaced by rename (a new inode), not rewritten in place
    assert target.stat().st_ino != old_inode
    save_nifti(label_image(), target)
    np.testing.assert_array_equal(data(nib.load(target)), data(label_image()))
    assert leftovers(tmp_path) == []


def test_written_file_has_the_usual_permissions(tmp_path: Path) -> None:
    target = save_nifti(label_image(), tmp_path / "labels.nii")
    mask = os.umask(0)
    os.umask(mask)
    assert target.stat().st_mode & 0o777 == 0o666 & ~mask  # not mkstemp's 0o600


def test_a_failed_write_leaves_the_old_file_and_no_temporary(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = save_nifti(label_image(), tmp_path / "labels.nii.gz")
    before = target.read_bytes()

    def broken(img: nib.Nifti1Image, compress: bool = True) -> bytes:
        raise MemoryError("out of memory while serialising")

    monkeypatch.setattr(nifti, "to_nifti_bytes", broken)
    with pytest.raises(MemoryError, match="out of memory"):
        save_nifti(probability_image(), target)
    assert target.read_bytes() == before
    assert leftovers(tmp_path) == []
    assert sorted(p.name for p in tmp_path.iterdir()) == ["labels.nii.gz"]


def test_a_folder_that_is_a_file_raises_a_clear_error(tmp_path: Path) -> None:
    blocker = tmp_path / "results"
    blocker.write_text("not a folder")
    with pytest.raises(ArgumentError, match="results is a file, not a folder"):
        save_nifti(label_image(), blocker / "labels.nii.gz")
    assert blocker.read_text() == "not a folder"
    assert leftovers(tmp_path) == []


@pytest.mark.skipif(os.geteuid() == 0, reason="root can write to read-only folders")
def test_a_read_only_folder_raises_argument_error(tmp_path: Path) -> None:
    folder = tmp_path / "read-only"
    folder.mkdir()
    folder.chmod(0o555)
    try:
        with pytest.raises(ArgumentError, match="read-only"):
            save_nifti(label_image(), folder / "labels.nii.gz")
        assert list(folder.iterdir()) == []
    finally:
        folder.chmod(0o755)


# --- lazy 4D stacks ------------------------------------------------------------------------------
def probability_stack(count: int = 4) -> np.ndarray:
    rng = np.random.default_rng(4)
    values = rng.random((*SHAPE, count), dtype=np.float32)
    values[values < 0.7] = 0
    return values


class Counting:
    """Makes volume k of an array, and counts which volumes were made."""

    def __init__(self, values: np.ndarray) -> None:
        self.values, self.made = values, []

    def __call__(self, k: int) -> np.ndarray:
        self.made.append(k)
        return self.values[..., k]


def test_a_stack_makes_only_the_volumes_that_are_read() -> None:
    values = probability_stack()
    make = Counting(values)
    img = stack_image(SHAPE, 4, np.float32, ROTATED, make)
    assert isinstance(img.dataobj, VolumeStack) and make.made == []
    assert img.shape == (*SHAPE, 4) and img.ndim == 4
    assert img.get_data_dtype() == np.float32
    np.testing.assert_array_equal(img.dataobj[..., 2], values[..., 2])
    assert make.made == [2]
    np.testing.assert_array_equal(img.slicer[..., 1:3].get_fdata(), values[..., 1:3])
    np.testing.assert_array_equal(img.get_fdata(), values)
    np.testing.assert_array_equal(img.affine, ROTATED)


@pytest.mark.parametrize(
    "key",
    [
        (..., 0),
        (..., -1),
        (slice(None), slice(None), 3, 1),
        (2, 5, 7),
        (2, 5, 7, 3),
        (..., slice(1, 3)),
        (..., slice(None, None, -2)),
        (slice(2, 9, 3), 4),
        (..., slice(3, 3)),
        (np.array([0, 3]), ..., 1),  # fancy indexing: made from the whole array
        (..., None),
    ],
    ids=repr,
)
def test_a_stack_indexes_as_numpy_does(key) -> None:
    values = probability_stack()
    stack = VolumeStack(SHAPE, 4, np.float32, lambda k: values[..., k])
    got = stack[key]
    np.testing.assert_array_equal(got, values[key])
    assert got.shape == values[key].shape


def test_a_stack_converts_each_volume_to_its_dtype() -> None:
    labels = np.random.default_rng(5).integers(0, 9, (*SHAPE, 2))  # int64
    stack = VolumeStack(SHAPE, 2, np.uint8, lambda k: labels[..., k])
    assert stack[..., 1].dtype == np.uint8 and np.asarray(stack).dtype == np.uint8
    np.testing.assert_array_equal(np.asarray(stack), labels)


def test_a_stack_refuses_volumes_beyond_its_end() -> None:
    stack = VolumeStack(SHAPE, 2, np.float32, lambda k: np.zeros(SHAPE))
    with pytest.raises(NotFoundError, match="there is no volume 2 in a stack of 2") as info:
        stack[..., 2]
    assert isinstance(info.value, LookupError)  # as numpy's IndexError
    assert info.value.hint == "pick a volume from 0 to 1"


# --- save_nifti: 4D images, one volume at a time ---------------------------------------------
@pytest.mark.parametrize("name", ["maps.nii", "maps.nii.gz"])
def test_a_4d_image_is_written_as_nibabel_writes_it(name: str, tmp_path: Path) -> None:
    values = probability_stack()
    target = save_nifti(nib.Nifti1Image(values, ROTATED), tmp_path / name)
    expected = to_nifti_bytes(nib.Nifti1Image(values, ROTATED), compress=False)
    raw = target.read_bytes()
    assert (gzip.decompress(raw) if name.endswith(".gz") else raw) == expected
    assert leftovers(tmp_path) == []


def test_a_lazy_4d_image_is_written_one_volume_at_a_time(tmp_path: Path) -> None:
    values = probability_stack(6)
    make = Counting(values)
    target = save_nifti(stack_image(SHAPE, 6, np.float32, ROTATED, make), tmp_path / "m.nii.gz")
    assert sorted(make.made) == list(range(6)) and len(make.made) == 6  # each once
    loaded = nib.load(target)
    assert loaded.shape == (*SHAPE, 6) and loaded.get_data_dtype() == np.float32
    np.testing.assert_array_equal(loaded.get_fdata(dtype=np.float32), values)
    np.testing.assert_allclose(loaded.affine, ROTATED, atol=1e-5)
    assert loaded.header.get_xyzt_units()[0] == "mm"


def test_a_scaled_4d_file_is_written_with_its_values(tmp_path: Path) -> None:
    # FSL's probabilistic atlases: uint8 percentages; here with a slope in the header
    raw = np.random.default_rng(6).integers(0, 101, (*SHAPE, 3)).astype(np.uint8)
    img = nib.Nifti1Image(raw, MNI_2MM_LAS)
    img.header.set_slope_inter(0.01, 0.0)
    nib.save(img, tmp_path / "percent.nii.gz")
    source = nib.load(tmp_path / "percent.nii.gz")
    copy = nib.load(save_nifti(source, tmp_path / "copy.nii.gz"))
    np.testing.assert_allclose(copy.get_fdata(), source.get_fdata())


def test_a_4d_image_without_volumes(tmp_path: Path) -> None:
    empty = nib.Nifti1Image(np.zeros((*SHAPE, 0), np.float32), ROTATED)
    with pytest.raises(ImageError, match="a 4D image with no volumes"):
        save_nifti(empty, tmp_path / "none.nii.gz")
    assert list(tmp_path.iterdir()) == []


def test_a_failing_volume_leaves_no_file(tmp_path: Path) -> None:
    def make(k: int) -> np.ndarray:
        if k == 2:
            raise MemoryError("volume 2 does not fit")
        return np.zeros(SHAPE, np.float32)

    with pytest.raises(MemoryError, match="volume 2"):
        save_nifti(stack_image(SHAPE, 4, np.float32, ROTATED, make), tmp_path / "m.nii.gz")
    assert list(tmp_path.iterdir()) == []


# --- open_image: nibabel's images, gzip read by neuratlas.volumes.gz -----------------------
@pytest.mark.parametrize("klass", [nib.Nifti1Image, nib.Nifti2Image])
@pytest.mark.parametrize("suffix", [".nii.gz", ".nii"])
def test_open_image_reads_what_nibabel_reads(klass, suffix: str, tmp_path: Path) -> None:
    rng = np.random.default_rng(3)
    data = (rng.random((7, 8, 9, 4)) * 100).astype(np.int16)
    path = tmp_path / f"image{suffix}"
    nib.save(klass(data, np.diag([2.0, 2.0, 2.0, 1.0])), path)
    with nifti.open_image(path) as img:
        assert type(img) is klass
        np.testing.assert_array_equal(img.affine, nib.load(path).affine)
        # volumes in file order: one pass over the gzip stream
        volumes = [np.asanyarray(img.dataobj[..., k]) for k in range(4)]
    np.testing.assert_array_equal(np.stack(volumes, axis=-1), data)


def test_open_image_of_a_big_endian_file(tmp_path: Path) -> None:
    data = np.arange(60, dtype=">i4").reshape(3, 4, 5)
    path = tmp_path / "big.nii.gz"
    nib.save(nib.Nifti1Image(data, np.eye(4), nib.Nifti1Header(endianness=">")), path)
    assert gzip.decompress(path.read_bytes())[:4] == (348).to_bytes(4, "big")
    with nifti.open_image(path) as img:
        np.testing.assert_array_equal(np.asanyarray(img.dataobj), data)


def test_open_image_of_gzipped_non_nifti_is_nibabels_error(tmp_path: Path) -> None:
    path = tmp_path / "notes.nii.gz"
    path.write_bytes(gzip.compress(b"not an image at all"))
    errors = (nib.filebasedimages.ImageFileError, ValueError, EOFError, OSError)
    with pytest.raises(errors), nifti.open_image(path) as img:
        np.asanyarray(img.dataobj)
