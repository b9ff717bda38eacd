"""Tests of neuratlas.volumes.grid: world <-> voxel coordinates and voxel sizes."""

from __future__ import annotations

import nibabel as nib
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from nibabel.affines import apply_affine, from_matvec
from nibabel.eulerangles import euler2mat

from neuratlas.volumes.grid import (
    nearest_voxel,
    voxel_sizes,
    voxel_to_world,
    voxel_volume_mm3,
    world_to_voxel,
)

# MNI152 2 mm grid (91 x 109 x 91) as FSL ships it: x axis flipped (LAS voxel order)
MNI_2MM_LAS = np.array(
    [[-2.0, 0, 0, 90.0], [0, 2.0, 0, -126.0], [0, 0, 2.0, -72.0], [0, 0, 0, 1.0]]
)
MNI_1MM_RAS = np.array(
    [[1.0, 0, 0, -90.0], [0, 1.0, 0, -126.0], [0, 0, 1.0, -72.0], [0, 0, 0, 1.0]]
)


def rotated_affine(
    angles: tuple[float, float, float], zooms: tuple[float, float, float], shift: np.ndarray
) -> np.ndarray:
    """A scanner-like affine: rotation times (signed) voxel sizes, plus a translation."""
    rotation = euler2mat(*angles)
    return from_matvec(rotation @ np.diag(zooms), shift)


# --- strategies ------------------------------------------------------------------------------
angle = st.floats(-np.pi, np.pi, allow_nan=False)
zoom = st.floats(0.3, 5.0).flatmap(lambda z: st.sampled_from([z, -z]))
offset = st.floats(-250.0, 250.0, allow_nan=False)


@st.composite
def affines(draw: st.DrawFn) -> np.ndarray:
    return rotated_affine(
        (draw(angle), draw(angle), draw(angle)),
        (draw(zoom), draw(zoom), draw(zoom)),
        np.array([draw(offset), draw(offset), draw(offset)]),
    )


@st.composite
def points(draw: st.DrawFn, low: float = -300.0, high: float = 300.0) -> np.ndarray:
    n = draw(st.integers(1, 20))
    coord = st.floats(low, high, allow_nan=False, allow_infinity=False)
    return np.array([[draw(coord) for _ in range(3)] for _ in range(n)])


# --- voxel_to_world / world_to_voxel ---------------------------------------------------------
def test_mni_corner_and_centre_voxels() -> None:
    # voxel (45, 63, 36) of the 2 mm MNI grid is the anterior commissure, (0, 0, 0) mm
    np.testing.assert_array_equal(voxel_to_world(MNI_2MM_LAS, [45, 63, 36]), [0.0, 0.0, 0.0])
    np.testing.assert_array_equal(voxel_to_world(MNI_2MM_LAS, [0, 0, 0]), [90.0, -126.0, -72.0])
    # the flipped x axis: a higher voxel index is further to the subject's left
    np.testing.assert_array_equal(voxel_to_world(MNI_2MM_LAS, [46, 63, 36]), [-2.0, 0.0, 0.0])
    np.testing.assert_array_equal(world_to_voxel(MNI_2MM_LAS, [-2.0, 0.0, 0.0]), [46, 63, 36])
    np.testing.assert_array_equal(world_to_voxel(MNI_1MM_RAS, [0.0, 0.0, 0.0]), [90, 126, 72])


def test_single_point_and_arrays_of_points_agree() -> None:
    ijk = np.array([[0, 0, 0], [45, 63, 36], [90, 108, 90], [10, 20, 30]])
    many = voxel_to_world(MNI_2MM_LAS, ijk)
    assert many.shape == (4, 3)
    for row, point in zip(ijk, many, strict=True):
        one = voxel_to_world(MNI_2MM_LAS, row)
        assert one.shape == (3,)
        np.testing.assert_array_equal(one, point)
        np.testing.assert_array_equal(world_to_voxel(MNI_2MM_LAS, point), row)
    # any leading shape (..., 3) is kept
    block = voxel_to_world(MNI_2MM_LAS, ijk.reshape(2, 2, 3))
    assert block.shape == (2, 2, 3)
    np.testing.assert_array_equal(block.reshape(4, 3), many)


def test_lists_and_integer_arrays_give_float_coordinates() -> None:
    from_list = voxel_to_world(MNI_2MM_LAS, [[1, 2, 3]])
    from_ints = voxel_to_world(MNI_2MM_LAS.astype(np.float32), np.array([[1, 2, 3]], np.int16))
    assert from_list.dtype == np.float64 and from_ints.dtype == np.float64
    np.testing.assert_array_equal(from_list, [[88.0, -122.0, -66.0]])
    np.testing.assert_array_equal(from_ints, from_list)
    # half-voxel positions survive (no integer arithmetic on the way)
    np.testing.assert_allclose(world_to_voxel(MNI_2MM_LAS, [[89.0, -125.0, -71.0]]), [[0.5] * 3])


def test_affine_of_a_saved_image_is_used_the_same_way(tmp_path) -> None:
    # the affine nibabel reads back (float32 in the header) gives the same coordinates
    img = nib.Nifti1Image(np.zeros((91, 109, 91), np.uint8), MNI_2MM_LAS)
    nib.save(img, tmp_path / "mni.nii.gz")
    loaded = nib.load(tmp_path / "mni.nii.gz")
    np.testing.assert_array_equal(voxel_to_world(loaded.affine, [45, 63, 36]), [0, 0, 0])


@settings(max_examples=60, deadline=None)
@given(affine=affines(), xyz=points())
def test_world_voxel_world_round_trip(affine: np.ndarray, xyz: np.ndarray) -> None:
    ijk = world_to_voxel(affine, xyz)
    assert ijk.shape == xyz.shape
    np.testing.assert_allclose(voxel_to_world(affine, ijk), xyz, rtol=0, atol=1e-9)


@settings(max_examples=60, deadline=None)
@given(affine=affines(), ijk=points(-50.0, 300.0))
def test_voxel_world_voxel_round_trip(affine: np.ndarray, ijk: np.ndarray) -> None:
    np.testing.assert_allclose(
        world_to_voxel(affine, voxel_to_world(affine, ijk)), ijk, rtol=0, atol=1e-9
    )


@settings(max_examples=60, deadline=None)
@given(affine=affines(), xyz=points())
def test_agreement_with_nibabel_apply_affine(affine: np.ndarray, xyz: np.ndarray) -> None:
    np.testing.assert_array_equal(voxel_to_world(affine, xyz), apply_affine(affine, xyz))
    np.testing.assert_allclose(
        world_to_voxel(affine, xyz), apply_affine(np.linalg.inv(affine), xyz), rtol=0, atol=1e-9
    )
    # and with the explicit formula x = M @ ijk + t
    np.testing.assert_allclose(
        voxel_to_world(affine, xyz), xyz @ affine[:3, :3].T + affine[:3, 3], rtol=0, atol=1e-9
    )


# --- nearest_voxel ---------------------------------------------------------------------------
@settings(max_examples=60, deadline=None)
@given(
    affine=affines(),
    ijk=st.lists(st.tuples(*[st.integers(-20, 200)] * 3), min_size=1, max_size=10).map(np.array),
    jitter=st.floats(-0.49, 0.49),
)
def test_nearest_voxel_of_points_inside_a_voxel(
    affine: np.ndarray, ijk: np.ndarray, jitter: float
) -> None:
    # any point less than half a voxel (in voxel units) from a centre rounds to that voxel
    inside = voxel_to_world(affine, ijk + np.array([jitter, -jitter, jitter / 2]))
    got = nearest_voxel(affine, inside)
    assert got.dtype == np.int64
    np.testing.assert_array_equal(got, ijk)


def test_nearest_voxel_rounds_half_to_even() -> None:
    half = world_to_voxel(np.eye(4), [[0.5, 1.5, 2.5], [-0.5, -1.5, 3.5]])
    np.testing.assert_array_equal(half, [[0.5, 1.5, 2.5], [-0.5, -1.5, 3.5]])
    np.testing.assert_array_equal(nearest_voxel(np.eye(4), half), [[0, 2, 2], [0, -2, 4]])
    # just off the half: ordinary rounding
    np.testing.assert_array_equal(nearest_voxel(np.eye(4), [0.5001, 1.4999, -0.5001]), [1, 1, -1])


def test_nearest_voxel_on_the_flipped_mni_grid() -> None:
    # 1 mm to the left of the AC is half a voxel: rounds to the even index (46), 0.9 mm to 45
    assert nearest_voxel(MNI_2MM_LAS, [-1.0, 0.0, 0.0]).tolist() == [46, 63, 36]
    assert nearest_voxel(MNI_2MM_LAS, [-0.9, 0.9, -0.9]).tolist() == [45, 63, 36]
    assert nearest_voxel(MNI_2MM_LAS, [-3.1, 3.1, -3.1]).tolist() == [47, 65, 34]
    # outside the grid is not clipped: the caller checks the bounds
    assert nearest_voxel(MNI_2MM_LAS, [100.0, -130.0, 200.0]).tolist() == [-5, -2, 136]
    single = nearest_voxel(MNI_2MM_LAS, [0.0, 0.0, 0.0])
    assert single.shape == (3,) and single.dtype == np.int64


# --- voxel_sizes / voxel_volume_mm3 ----------------------------------------------------------
@pytest.mark.parametrize(
    ("affine", "sizes", "volume"),
    [
        (MNI_2MM_LAS, [2.0, 2.0, 2.0], 8.0),
        (MNI_1MM_RAS, [1.0, 1.0, 1.0], 1.0),
        (np.diag([0.5, -0.75, 3.0, 1.0]), [0.5, 0.75, 3.0], 1.125),
        (rotated_affine((0.3, -1.1, 2.0), (2.0, -2.0, 2.0), np.zeros(3)), [2.0, 2.0, 2.0], 8.0),
        (rotated_affine((0.7, 0.2, 0.1), (1.0, 1.5, 3.0), np.ones(3)), [1.0, 1.5, 3.0], 4.5),
    ],
)
def test_voxel_sizes_and_volume(affine: np.ndarray, sizes: list[float], volume: float) -> None:
    np.testing.assert_allclose(voxel_sizes(affine), sizes, rtol=1e-12)
    got = voxel_volume_mm3(affine)
    assert isinstance(got, float)
    assert got == volume  # rounded: exactly 8.0, not 7.999999999999998


def test_voxel_volume_of_a_sheared_grid_is_the_determinant() -> None:
    sheared = np.array([[2.0, 1.0, 0, 0], [0, 2.0, 0, 0], [0, 0, 2.0, 0], [0, 0, 0, 1]])
    assert voxel_volume_mm3(sheared) == 8.0  # shear keeps the volume...
    assert np.prod(voxel_sizes(sheared)) > 8.0  # ...while the edge lengths grow


@settings(max_examples=60, deadline=None)
@given(affine=affines())
def test_voxel_sizes_agree_with_nibabel(affine: np.ndarray) -> None:
    np.testing.assert_allclose(voxel_sizes(affine), nib.affines.voxel_sizes(affine), rtol=1e-12)
    expected = abs(np.prod(np.diag(np.linalg.qr(affine[:3, :3])[1])))
    assert voxel_volume_mm3(affine) == pytest.approx(expected, rel=1e-8, abs=1e-9)


def test_voxel_volume_ignores_the_translation_and_the_orientation() -> None:
    moved = MNI_2MM_LAS.copy()
    moved[:3, 3] = [1000.0, -5.0, 3.0]
    ras = MNI_2MM_LAS @ np.diag([-1.0, 1, 1, 1])
    assert voxel_volume_mm3(moved) == voxel_volume_mm3(ras) == 8.0


# --- bad input -------------------------------------------------------------------------------
def test_points_with_two_coordinates_are_refused() -> None:
    with pytest.raises(ValueError, match="mismatch"):
        voxel_to_world(MNI_2MM_LAS, np.zeros((5, 2)))
    with pytest.raises(ValueError, match="mismatch"):
        world_to_voxel(MNI_2MM_LAS, [1.0, 2.0])


def test_a_singular_affine_has_no_world_to_voxel() -> None:
    flat = np.diag([2.0, 2.0, 0.0, 1.0])
    with pytest.raises(np.linalg.LinAlgError, match="Singular"):
        world_to_voxel(flat, [0.0, 0.0, 0.0])
    with pytest.raises(np.linalg.LinAlgError):
        nearest_voxel(flat, [[1.0, 2.0, 3.0]])
    assert voxel_volume_mm3(flat) == 0.0
