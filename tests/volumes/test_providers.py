"""Tests of neuratlas.volumes.providers: NIfTI and GIfTI reading, corrupt and truncated files."""

from __future__ import annotations

import gzip
import zipfile
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest

from neuratlas.errors import DataUnavailableError, ImageError
from neuratlas.volumes import providers
from tests.toy_atlas import AFFINE, label_volume


@pytest.fixture
def labels_file(tmp_path: Path) -> Path:
    path = tmp_path / "labels.nii.gz"
    nib.save(nib.Nifti1Image(label_volume(), AFFINE), path)
    return path


def test_load_nifti(labels_file: Path) -> None:
    img = providers.load_nifti(labels_file)
    np.testing.assert_array_equal(np.asanyarray(img.dataobj), label_volume())
    np.testing.assert_allclose(img.affine, AFFINE)
    assert isinstance(img, nib.Nifti1Image)


def test_loaded_arrays_are_read_only_and_cached(labels_file: Path) -> None:
    array = providers.load_array(labels_file)
    assert not array.flags.writeable
    with pytest.raises(ValueError, match="read-only"):
        array[0, 0, 0] = 1
    assert providers.load_nifti(str(labels_file)) is providers.load_nifti(labels_file)


def test_uncompressed_and_other_formats(tmp_path: Path) -> None:
    data = np.arange(24, dtype=np.int16).reshape(2, 3, 4)
    nib.save(nib.Nifti1Image(data, np.eye(4)), tmp_path / "a.nii")
    nib.save(nib.Nifti2Image(data, np.eye(4)), tmp_path / "b.nii")
    nib.save(nib.AnalyzeImage(data, np.eye(4)), tmp_path / "c.img")
    for name in ("a.nii", "b.nii", "c.img"):
        img = providers.load_nifti(tmp_path / name)
        np.testing.assert_array_equal(np.asanyarray(img.dataobj), data)


def test_truncated_nifti_names_the_file(labels_file: Path, tmp_path: Path) -> None:
    blob = labels_file.read_bytes()
    cut = tmp_path / "cut.nii.gz"
    cut.write_bytes(blob[: len(blob) // 2])
    with pytest.raises(ImageError) as info:
        providers.load_nifti(cut)
    assert str(cut) in str(info.value)
    assert "corrupt or truncated" in info.value.hint


def test_truncated_uncompressed_nifti(tmp_path: Path) -> None:
    path = tmp_path / "full.nii"
    nib.save(nib.Nifti1Image(label_volume(), AFFINE), path)
    cut = tmp_path / "cut.nii"
    cut.write_bytes(path.read_bytes()[:1000])
    with pytest.raises(ImageError, match=r"cut\.nii"):
        providers.load_nifti(cut)


@pytest.mark.parametrize(
    "content",
    [b"", b"this is not an image at all" * 20, gzip.compress(b"not a nifti header" * 50)],
    ids=["empty", "garbage", "gzip-of-garbage"],
)
def test_corrupt_nifti_names_the_file(tmp_path: Path, content: bytes) -> None:
    bad = tmp_path / "bad.nii.gz"
    bad.write_bytes(content)
    with pytest.raises(ImageError) as info:
        providers.load_nifti(bad)
    assert f"cannot read the image {str(bad)!r}" in str(info.value)


def test_missing_file_is_an_image_error(tmp_path: Path) -> None:
    with pytest.raises(ImageError, match=r"missing\.nii\.gz"):
        providers.load_nifti(tmp_path / "missing.nii.gz")


# --- GIfTI ---------------------------------------------------------------------------------
def mesh_image() -> nib.gifti.GiftiImage:
    vertices = np.array([[0, 0, 0], [1, 0, 0], [0, 1, 0], [0, 0, 1]], np.float32)
    faces = np.array([[0, 1, 2], [0, 1, 3], [0, 2, 3], [1, 2, 3]], np.int32)
    return nib.gifti.GiftiImage(
        darrays=[
            nib.gifti.GiftiDataArray(vertices, intent="NIFTI_INTENT_POINTSET"),
            nib.gifti.GiftiDataArray(faces, intent="NIFTI_INTENT_TRIANGLE"),
        ]
    )


def test_load_mesh_plain_and_gzipped(tmp_path: Path) -> None:
    plain = tmp_path / "m.surf.gii"
    nib.save(mesh_image(), plain)
    zipped = tmp_path / "m2.surf.gii.gz"
    zipped.write_bytes(gzip.compress(plain.read_bytes()))
    for path in (plain, zipped):
        mesh = providers.load_mesh(path)
        assert mesh.n_vertices == 4
        assert mesh.vertices.dtype == np.float64
        assert mesh.faces.dtype == np.int64
        assert mesh.faces.shape == (4, 3)


def test_load_labels(tmp_path: Path) -> None:
    path = tmp_path / "l.label.gii"
    labels = np.array([3, 0, 1, 2], np.int32)
    nib.save(
        nib.gifti.GiftiImage(
            darrays=[nib.gifti.GiftiDataArray(labels, intent="NIFTI_INTENT_LABEL")]
        ),
        path,
    )
    out = providers.load_labels(path)
    np.testing.assert_array_equal(out, labels)
    assert out.dtype == np.int64
    # a label file holds no mesh
    with pytest.raises(ImageError, match="holds no mesh"):
        providers.load_mesh(path)


def test_empty_gifti(tmp_path: Path) -> None:
    path = tmp_path / "empty.gii"
    nib.save(nib.gifti.GiftiImage(), path)
    with pytest.raises(ImageError, match="holds no data arrays"):
        providers.load_labels(path)


@pytest.mark.parametrize("content", [b"<not xml", b"\x00\x01\x02"], ids=["xml", "binary"])
def test_corrupt_gifti_names_the_file(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "bad.gii"
    path.write_bytes(content)
    with pytest.raises(ImageError, match=r"bad\.gii"):
        providers.load_mesh(path)


def test_truncated_gifti(tmp_path: Path) -> None:
    path = tmp_path / "full.gii"
    nib.save(mesh_image(), path)
    cut = tmp_path / "cut.gii"
    cut.write_bytes(path.read_bytes()[:200])
    with pytest.raises(ImageError, match=r"cut\.gii"):
        providers.load_mesh(cut)


# --- resolve -------------------------------------------------------------------------------
def test_resolve_relative_and_zip_member(labels_file: Path, tmp_path: Path) -> None:
    assert providers.resolve("labels.nii.gz", tmp_path) == labels_file
    archive = tmp_path / "bundle.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.write(labels_file, "inner/labels.nii.gz")
    member = providers.resolve("bundle.zip inner/labels.nii.gz", tmp_path)
    np.testing.assert_array_equal(providers.load_array(member), label_volume())


def test_resolve_missing(tmp_path: Path) -> None:
    with pytest.raises(DataUnavailableError, match="does not exist"):
        providers.resolve("nothing.nii.gz", tmp_path)
