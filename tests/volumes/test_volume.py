"""Tests of neuratlas.volumes.volume: provider selection, 4D selection, fragments."""

from __future__ import annotations

from pathlib import Path

import nibabel as nib
import numpy as np
import pytest

from neuratlas.errors import DataUnavailableError, NotFoundError
from neuratlas.volumes.volume import Volume, select_volume
from tests.toy_atlas import AFFINE, SHAPE, probability_volumes


@pytest.fixture
def probs(toy_folder: Path) -> Volume:
    return Volume({"nii": "../data/probs.nii.gz"}, space_id="toy", base=toy_folder / "maps")


def test_attributes(probs: Volume) -> None:
    assert probs.formats == ["nii"]
    assert not probs.is_surface
    assert repr(probs) == "<Volume 'volume' (nii)>"
    named = Volume({"nii": "x"}, space_id="s", variant="pial")
    assert repr(named) == "<Volume 'pial' (nii)>"
    assert Volume({"gii-mesh": {"left": "a"}}, space_id="s").is_surface


def test_fetch_4d_and_select(probs: Volume) -> None:
    whole = probs.fetch()
    assert whole.shape == (*SHAPE, 5)
    for z in range(5):
        img = probs.fetch(z=z)
        assert img.shape == SHAPE
        np.testing.assert_array_equal(np.asanyarray(img.dataobj), probability_volumes()[..., z])
        np.testing.assert_allclose(img.affine, AFFINE)


def test_select_volume_errors(probs: Volume) -> None:
    whole = probs.fetch()
    with pytest.raises(NotFoundError, match=r"volume index z=5 outside 0\.\.4"):
        select_volume(whole, 5)
    with pytest.raises(NotFoundError, match=r"volume index z=-1 outside 0\.\.4"):
        select_volume(whole, -1)
    three_d = select_volume(whole, 0)
    assert select_volume(three_d, 0) is three_d
    with pytest.raises(NotFoundError, match="volume index z=2 given for a 3D image"):
        select_volume(three_d, 2)


def test_fetch_with_resolution(probs: Volume) -> None:
    img = probs.fetch(z=1, resolution_mm=4.0)
    assert img.shape == (10, 12, 8)
    assert np.asanyarray(img.dataobj).dtype == np.float32


def test_unreadable_format() -> None:
    volume = Volume({"neuroglancer/precomputed": "https://x"}, space_id="s")
    with pytest.raises(DataUnavailableError, match="has no provider neuratlas can read") as info:
        volume.fetch()
    assert "nii" in info.value.hint


def test_missing_file(tmp_path: Path) -> None:
    volume = Volume({"nii": "gone.nii.gz"}, space_id="s", base=tmp_path)
    with pytest.raises(DataUnavailableError, match=r"gone\.nii\.gz"):
        volume.fetch()


def test_fragments(tmp_path: Path) -> None:
    volume = Volume({"gii-mesh": {"left": "l.gii", "right": "r.gii"}}, space_id="s", base=tmp_path)
    assert volume.fragments("gii-mesh") == ["left", "right"]
    assert Volume({"nii": "x"}, space_id="s").fragments("nii") == [None]
    with pytest.raises(NotFoundError, match="choose a fragment") as info:
        volume.path("gii-mesh")
    assert info.value.suggestions == ["left", "right"]
    with pytest.raises(NotFoundError, match="has no fragment 'both'"):
        volume.path("gii-mesh", "both")
    with pytest.raises(DataUnavailableError, match=r"l\.gii"):
        volume.path("gii-mesh", "left")


def test_3d_image_with_z_zero(tmp_path: Path) -> None:
    nib.save(nib.Nifti1Image(np.ones((2, 2, 2), np.uint8), np.eye(4)), tmp_path / "a.nii.gz")
    volume = Volume({"nii": "a.nii.gz"}, space_id="s", base=tmp_path)
    assert volume.fetch(z=0).shape == (2, 2, 2)
