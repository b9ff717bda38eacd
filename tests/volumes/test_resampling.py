"""Tests of neuratlas.volumes.resampling: grids, nearest and linear resampling, round trips."""

from __future__ import annotations

import nibabel as nib
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from scipy import ndimage

import neuratlas
from neuratlas.errors import ArgumentError, ImageError
from neuratlas.volumes.nifti import VolumeStack
from neuratlas.volumes.resampling import (
    grid_at_resolution,
    resample_to_grid,
    resample_to_resolution,
)
from tests.toy_atlas import AFFINE, label_volume

zooms = st.sampled_from([0.5, 1.0, 1.5, 2.0, 3.0])
offsets = st.floats(-100, 100, allow_nan=False).map(lambda v: round(v, 2))


def diag_affine(z: tuple[float, float, float], t: tuple[float, float, float]) -> np.ndarray:
    affine = np.diag([*z, 1.0])
    affine[:3, 3] = t
    return affine


def ramp_image(
    affine: np.ndarray, shape: tuple[int, int, int], coef: np.ndarray
) -> nib.Nifti1Image:
    """Values that are a linear function of the world coordinate of each voxel centre."""
    ijk = np.indices(shape).reshape(3, -1).T
    world = nib.affines.apply_affine(affine, ijk)
    values = (world @ coef + 7.0).reshape(shape).astype(np.float32)
    return nib.Nifti1Image(values, affine)


# --- grid_at_resolution --------------------------------------------------------------------
def test_grid_same_resolution_is_unchanged() -> None:
    affine, shape = grid_at_resolution(AFFINE, (20, 24, 16), 2.0)
    np.testing.assert_allclose(affine, AFFINE)
    assert shape == (20, 24, 16)


def test_grid_finer_keeps_field_of_view() -> None:
    affine, shape = grid_at_resolution(AFFINE, (20, 24, 16), 1.0)
    assert shape == (40, 48, 32)
    np.testing.assert_allclose(np.diag(affine)[:3], [1, 1, 1])
    # the outer corner of the first voxel stays put: -21 mm = -20 - 2/2 = x0' - 1/2
    np.testing.assert_allclose(affine[:3, 3], AFFINE[:3, 3] - 0.5)


def test_grid_coarser_rounds_shape_up() -> None:
    _, shape = grid_at_resolution(AFFINE, (20, 24, 16), 3.0)
    assert shape == (14, 16, 11)  # ceil(40/3), ceil(48/3), ceil(32/3)


def test_grid_keeps_axis_flips() -> None:
    flipped = AFFINE.copy()
    flipped[0, 0] = -2.0
    affine, _ = grid_at_resolution(flipped, (20, 24, 16), 1.0)
    assert affine[0, 0] == pytest.approx(-1.0)


@pytest.mark.parametrize("bad", [0, -1.0, float("nan"), float("-inf")])
def test_grid_bad_resolution(bad: float) -> None:
    with pytest.raises(ArgumentError, match=f"resolution_mm must be positive, got {bad}") as info:
        grid_at_resolution(AFFINE, (2, 2, 2), bad)
    assert "voxel size in mm" in info.value.hint


@given(
    z=st.tuples(zooms, zooms, zooms),
    t=st.tuples(offsets, offsets, offsets),
    n=st.tuples(*[st.integers(1, 12)] * 3),
    factor=st.sampled_from([2, 3, 4]),
)
def test_grid_round_trip(z, t, n, factor) -> None:
    """Refining by an integer factor and coarsening back gives the original grid."""
    affine = diag_affine(z, t)
    # make the voxels isotropic so that one resolution fits all axes
    affine[:3, :3] = np.eye(3) * z[0]
    fine, fine_shape = grid_at_resolution(affine, n, z[0] / factor)
    assert fine_shape == tuple(k * factor for k in n)
    back, back_shape = grid_at_resolution(fine, fine_shape, z[0])
    np.testing.assert_allclose(back, affine, atol=1e-9)
    assert back_shape == n


# --- resample_to_grid ----------------------------------------------------------------------
def test_same_grid_returns_the_image() -> None:
    img = nib.Nifti1Image(label_volume(), AFFINE)
    assert resample_to_grid(img, AFFINE, img.shape) is img


@pytest.mark.parametrize("shape", [(2, 2), (2, 2, 2, 2, 2)])
def test_only_3d_or_4d(shape: tuple[int, ...]) -> None:
    img = nib.Nifti1Image(np.zeros(shape, np.float32), np.eye(4))
    with pytest.raises(ImageError, match="can only resample 3D or 4D images, got shape"):
        resample_to_grid(img, np.eye(4) * 2, (2, 2, 2))


@pytest.mark.parametrize("order", [0, 1])
def test_a_4d_image_is_resampled_volume_by_volume_when_read(order: int) -> None:
    volumes = np.stack([label_volume() * k for k in (1, 2, 3)], axis=-1)
    img = nib.Nifti1Image(volumes, AFFINE)
    out = resample_to_resolution(img, 1.5, order=order)
    assert isinstance(out.dataobj, VolumeStack)
    assert out.shape[3] == 3
    for k in range(3):
        one = resample_to_resolution(nib.Nifti1Image(volumes[..., k], AFFINE), 1.5, order=order)
        assert out.shape[:3] == one.shape
        np.testing.assert_array_equal(out.dataobj[..., k], np.asanyarray(one.dataobj))
        np.testing.assert_allclose(out.affine, one.affine)
    assert out.get_data_dtype() == (np.uint8 if order == 0 else np.float32)
    assert resample_to_grid(img, AFFINE, volumes.shape) is img


# --- grids that differ by whole voxels are copied, with interpolation's values -------------
def interpolated(
    img: nib.Nifti1Image, affine: np.ndarray, shape: tuple[int, ...], order: int
) -> np.ndarray:
    """What scipy's interpolation gives, with the voxels beyond the source set to 0."""
    matrix = np.linalg.inv(img.affine) @ affine
    data = np.asanyarray(img.dataobj)
    source = data if order == 0 else data.astype(np.float32)
    out = ndimage.affine_transform(
        source, matrix[:3, :3], offset=matrix[:3, 3], output_shape=shape,
        order=order, mode="nearest", prefilter=False,
    )  # fmt: skip
    ijk = np.indices(shape).reshape(3, -1).T
    src = nib.affines.apply_affine(matrix, ijk)
    inside = np.all((src > -0.5) & (src < np.array(data.shape) - 0.5), axis=1)
    out.reshape(-1)[~inside] = 0
    return out


@pytest.mark.slow
def test_an_embedded_map_onto_its_template_grid() -> None:
    # AAL3 is stored RAS on a cropped 181-voxel grid, FSL's template LAS on 182 voxels
    aal = neuratlas.get_map("aal3", "MNI152 NLin6", "labelled")
    labels = aal.fetch()
    template = aal.space.get_template().fetch()
    out = resample_to_grid(labels, template.affine, template.shape, order=0)
    assert out.shape == template.shape
    np.testing.assert_array_equal(out.affine, template.affine)
    np.testing.assert_array_equal(
        np.asanyarray(out.dataobj), interpolated(labels, template.affine, template.shape, 0)
    )
    # every voxel of every region survives (the template's grid holds the map's)
    counts = [np.bincount(np.asanyarray(i.dataobj).ravel().astype(int)) for i in (out, labels)]
    np.testing.assert_array_equal(counts[0][1:], counts[1][1:])


@settings(max_examples=60, deadline=None)
@given(
    permutation=st.permutations([0, 1, 2]),
    flips=st.tuples(*[st.sampled_from([-1, 1])] * 3),
    shift=st.tuples(*[st.integers(-4, 4)] * 3),
    target_shape=st.tuples(*[st.integers(1, 9)] * 3),
    order=st.sampled_from([0, 1]),
)
def test_whole_voxel_grids_give_what_interpolation_gives(
    permutation, flips, shift, target_shape, order
) -> None:
    data = np.random.default_rng(0).integers(0, 50, (5, 6, 7)).astype(np.int16)
    source = diag_affine((2.0, 2.0, 2.0), (-3.0, 10.0, 4.0))
    img = nib.Nifti1Image(data, source)
    # the target's voxel axes: the source's, swapped, flipped and moved by whole voxels
    linear = np.zeros((3, 3))
    for c, (axis, sign) in enumerate(zip(permutation, flips, strict=True)):
        linear[axis, c] = sign
    step = np.eye(4)
    step[:3, :3], step[:3, 3] = linear, shift
    target = source @ step
    out = resample_to_grid(img, target, target_shape, order=order)
    got = np.asanyarray(out.dataobj)
    assert got.dtype == (np.int16 if order == 0 else np.float32)
    np.testing.assert_array_equal(got, interpolated(img, target, target_shape, order))


def test_nearest_keeps_labels_and_dtype() -> None:
    img = nib.Nifti1Image(label_volume(), AFFINE)
    out = resample_to_resolution(img, 1.0, order=0)
    values = np.asanyarray(out.dataobj)
    assert values.dtype == np.uint8
    assert set(np.unique(values)) == set(np.unique(label_volume()))
    assert (values == 3).sum() == 8 * (label_volume() == 3).sum()


def test_outside_the_source_is_zero() -> None:
    img = nib.Nifti1Image(np.ones((4, 4, 4), np.float32), np.eye(4))
    shifted = np.eye(4)
    shifted[:3, 3] = 100.0
    out = resample_to_grid(img, shifted, (3, 3, 3), order=1)
    assert not np.asanyarray(out.dataobj).any()


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    z=st.tuples(zooms, zooms, zooms),
    t=st.tuples(offsets, offsets, offsets),
    coef=st.tuples(*[st.floats(-3, 3, allow_nan=False)] * 3),
    angle=st.floats(0, np.pi, allow_nan=False),
    target_zoom=zooms,
)
def test_linear_resampling_preserves_world_coordinates(z, t, coef, angle, target_zoom) -> None:
    """A linear function of world coordinates is reproduced exactly on any target grid.

    Linear interpolation is exact for linear functions, so any error in the affine
    algebra (voxel centres, offsets, rotations) shows up as a wrong value.
    """
    shape = (6, 7, 5)
    source = diag_affine(z, t)
    coefficients = np.array(coef)
    img = ramp_image(source, shape, coefficients)
    c, s = np.cos(angle), np.sin(angle)
    target = np.eye(4)
    target[:3, :3] = np.array([[c, -s, 0], [s, c, 0], [0, 0, 1]]) * target_zoom
    target[:3, 3] = nib.affines.apply_affine(source, np.array(shape) / 2) - 4 * target_zoom
    out = resample_to_grid(img, target, (9, 9, 9), order=1)
    ijk = np.indices((9, 9, 9)).reshape(3, -1).T
    world = nib.affines.apply_affine(target, ijk)
    src = nib.affines.apply_affine(np.linalg.inv(source), world)
    # keep clear of the hull's faces, where rounding decides inside or outside
    inside = np.all((src >= 1e-6) & (src <= np.array(shape) - 1 - 1e-6), axis=1)
    expected = world[inside] @ coefficients + 7.0
    got = np.asanyarray(out.dataobj).reshape(-1)[inside]
    np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-3)


@given(
    labels=st.lists(st.integers(0, 9), min_size=120, max_size=120),
    # odd factors: every source voxel centre is also a centre of the finer grid
    factor=st.sampled_from([3, 5]),
    t=st.tuples(offsets, offsets, offsets),
)
def test_nearest_round_trip_through_finer_grid(labels, factor, t) -> None:
    data = np.array(labels, dtype=np.int16).reshape(4, 5, 6)
    affine = diag_affine((3.0, 3.0, 3.0), t)
    img = nib.Nifti1Image(data, affine)
    fine = resample_to_resolution(img, 3.0 / factor, order=0)
    back = resample_to_grid(fine, affine, data.shape, order=0)
    np.testing.assert_allclose(back.affine, affine)
    inner = (slice(1, -1),) * 3
    np.testing.assert_array_equal(np.asanyarray(back.dataobj)[inner], data[inner])


def test_nearest_round_trip_keeps_the_outermost_voxels() -> None:
    data = np.zeros((2, 3, 4), np.int16)
    data[1, 2, 3] = 1
    affine = diag_affine((3.0, 3.0, 3.0), (0.0, 0.0, 49.0))
    fine = resample_to_resolution(nib.Nifti1Image(data, affine), 1.0, order=0)
    back = resample_to_grid(fine, affine, data.shape, order=0)
    np.testing.assert_array_equal(np.asanyarray(back.dataobj), data)


@pytest.mark.parametrize("order", [0, 1])
def test_refining_keeps_the_whole_field_of_view(order: int) -> None:
    img = nib.Nifti1Image(np.ones((4, 4, 4), np.float32), np.diag([2.0, 2.0, 2.0, 1.0]))
    out = resample_to_resolution(img, 1.0, order=order)
    assert out.shape == (8, 8, 8)
    # every 1 mm voxel centre lies inside a 2 mm source voxel of value 1
    np.testing.assert_array_equal(np.asanyarray(out.dataobj), 1.0)
