"""Voxel traversal: exact segments against brute force, MRtrix3's sampling rule by hand."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from neuratlas.errors import ArgumentError
from neuratlas.lesion.tractography.traversal import (
    hermite_upsample,
    point_voxels,
    roi_crop,
    roi_voxels,
    sampled_voxels,
    traversed_voxels,
    upsample_ratio,
    visit_pairs,
)
from tests.lesion.masks import GRIDS
from tests.lesion.tractography.synthetic import as_array_sequence, synthetic_streamlines

SHAPE, AFFINE = GRIDS["nlin6_2mm"]
DENSE = 0.01  # brute-force sampling step, in voxels


def _voxel_coords(points: np.ndarray, affine: np.ndarray) -> np.ndarray:
    inverse = np.linalg.inv(affine)
    return np.asarray(points, np.float64) @ inverse[:3, :3].T + inverse[:3, 3]


def _dense_voxels(streamline: np.ndarray, affine: np.ndarray, shape) -> set[int]:
    """Brute force: sample every segment every 1/100 voxel, keep the voxels hit."""
    v = _voxel_coords(streamline, affine)
    if len(v) == 1:
        samples = v
    else:
        parts = []
        for a, b in itertools.pairwise(v):
            n = int(np.ceil(np.linalg.norm(b - a) / DENSE)) + 1
            parts.append(a + (b - a) * np.linspace(0.0, 1.0, n)[:, None])
        samples = np.concatenate(parts)
    ijk = np.floor(samples + 0.5).astype(np.int64)
    ok = np.all((ijk >= 0) & (ijk < np.asarray(shape)), axis=1)
    return set(np.ravel_multi_index(ijk[ok].T, shape).tolist())


def _clip_length(a: np.ndarray, b: np.ndarray, voxel: np.ndarray) -> float:
    """Length (voxels) of segment a-b inside the voxel's box [k - 0.5, k + 0.5]^3."""
    d = b - a
    lo, hi = 0.0, 1.0
    for axis in range(3):
        low, high = voxel[axis] - 0.5, voxel[axis] + 0.5
        if d[axis] == 0:
            if not low <= a[axis] <= high:
                return 0.0
            continue
        t1, t2 = (low - a[axis]) / d[axis], (high - a[axis]) / d[axis]
        lo, hi = max(lo, min(t1, t2)), min(hi, max(t1, t2))
    return max(0.0, hi - lo) * float(np.linalg.norm(d))


def _by_streamline(rows: np.ndarray, cols: np.ndarray, n: int) -> list[set[int]]:
    out: list[set[int]] = [set() for _ in range(n)]
    for r, c in zip(rows.tolist(), cols.tolist(), strict=True):
        out[r].add(c)
    return out


@pytest.mark.parametrize("grid", ["nlin6_2mm", "2009c_2mm"])
def test_exact_traversal_against_dense_sampling(grid: str) -> None:
    shape, affine = GRIDS[grid]
    streamlines = synthetic_streamlines(120, seed=7, step=1.7)
    points, offsets = as_array_sequence(streamlines)
    rows, cols = traversed_voxels(points, offsets, affine, shape)
    found = _by_streamline(rows, cols, len(streamlines))
    extra = 0
    for s, sl in enumerate(streamlines):
        dense = _dense_voxels(sl, affine, shape)
        # everything brute force sees, the traversal sees
        assert dense <= found[s], s
        # and what only the traversal sees, a segment clips by less than the sampling step
        v = _voxel_coords(sl, affine)
        for flat in found[s] - dense:
            voxel = np.array(np.unravel_index(flat, shape))
            clip = max(_clip_length(a, b, voxel) for a, b in itertools.pairwise(v))
            assert clip <= DENSE * 1.0001, (s, flat, clip)
            extra += 1
    assert extra < 0.02 * len(rows)


def test_exact_traversal_on_an_oblique_grid() -> None:
    angle = np.deg2rad(20)
    rot = np.array(
        [[np.cos(angle), -np.sin(angle), 0], [np.sin(angle), np.cos(angle), 0], [0, 0, 1]]
    )
    affine = np.eye(4)
    affine[:3, :3] = rot @ np.diag([2.0, 2.5, 3.0])
    affine[:3, 3] = [-80.0, -110.0, -60.0]
    shape = (80, 90, 50)
    streamlines = synthetic_streamlines(40, seed=11, step=2.3)
    points, offsets = as_array_sequence(streamlines)
    found = _by_streamline(*traversed_voxels(points, offsets, affine, shape), len(streamlines))
    for s, sl in enumerate(streamlines):
        assert _dense_voxels(sl, affine, shape) <= found[s]


def test_exact_traversal_by_hand() -> None:
    affine = np.eye(4)
    shape = (10, 10, 10)
    # along x from voxel 1 to voxel 4, then a single point, then one leaving the grid
    streamlines = [
        np.array([[1.2, 2.0, 3.0], [4.1, 2.0, 3.0]], np.float32),
        np.array([[7.0, 7.0, 7.0]], np.float32),
        np.array([[8.2, 1.0, 1.0], [12.0, 1.0, 1.0]], np.float32),
    ]
    points, offsets = as_array_sequence(streamlines)
    found = _by_streamline(*traversed_voxels(points, offsets, affine, shape), 3)
    flat = lambda i, j, k: np.ravel_multi_index((i, j, k), shape)  # noqa: E731
    assert found[0] == {flat(i, 2, 3) for i in (1, 2, 3, 4)}
    assert found[1] == {flat(7, 7, 7)}
    assert found[2] == {flat(8, 1, 1), flat(9, 1, 1)}


def test_empty_chunk() -> None:
    points = np.empty((0, 3), np.float32)
    offsets = np.zeros(1, np.int64)
    for rows, cols in (
        traversed_voxels(points, offsets, AFFINE, SHAPE),
        sampled_voxels(points, offsets, AFFINE, SHAPE, 3),
    ):
        assert len(rows) == len(cols) == 0


def test_mrtrix_rule_maps_each_point_to_its_nearest_voxel() -> None:
    streamlines = synthetic_streamlines(200, seed=5, step=0.8)
    points, offsets = as_array_sequence(streamlines)
    found = _by_streamline(*sampled_voxels(points, offsets, AFFINE, SHAPE, 1), len(streamlines))
    for s, sl in enumerate(streamlines):
        ijk = np.floor(_voxel_coords(sl, AFFINE) + 0.5).astype(np.int64)  # no point is on a tie
        ok = np.all((ijk >= 0) & (ijk < np.asarray(SHAPE)), axis=1)
        assert found[s] == set(np.ravel_multi_index(ijk[ok].T, SHAPE).tolist())


@pytest.mark.parametrize(("grid", "expected_x"), [("nlin6_2mm", 22), ("2009c_2mm", 23)])
def test_mrtrix_rule_rounds_ties_in_its_ras_frame(grid: str, expected_x: int) -> None:
    # MRtrix3 flips left-pointing axes before indexing and rounds half away from
    # zero there: a point halfway between voxels 22 and 23 goes to 22 on FSL's LAS
    # grid and to 23 on a RAS grid (checked against tckmap 3.0.3)
    shape, affine = GRIDS[grid]
    world = affine @ np.array([22.5, 24.0, 30.0, 1.0])
    points = world[None, :3].astype(np.float32)
    _, cols = sampled_voxels(points, np.array([0, 1]), affine, shape, 1)
    assert np.unravel_index(cols[0], shape) == (expected_x, 24, 30)


def test_upsampling_keeps_the_stored_points_and_adds_ratio_minus_one() -> None:
    streamlines = synthetic_streamlines(30, seed=2, step=1.0)
    points, offsets = as_array_sequence(streamlines)
    up, owner = hermite_upsample(points, offsets, 4)
    lengths = np.diff(offsets)
    expected = np.where(lengths > 0, (lengths - 1) * 4 + 1, 0)
    np.testing.assert_array_equal(np.bincount(owner, minlength=len(lengths)), expected)
    start = np.cumsum(expected) - expected
    for s, sl in enumerate(streamlines):
        mine = up[start[s] : start[s] + expected[s]]
        np.testing.assert_array_equal(mine[::4], sl)
    same, owner1 = hermite_upsample(points, offsets, 1)
    np.testing.assert_array_equal(same, points)
    np.testing.assert_array_equal(np.bincount(owner1), lengths[lengths > 0])


def test_upsampled_points_stay_on_lines_and_near_arcs() -> None:
    line = np.linspace([0, 0, 0], [30, 15, -6], 31).astype(np.float32)
    up, _ = hermite_upsample(line, np.array([0, len(line)]), 3)
    direction = (line[-1] - line[0]) / np.linalg.norm(line[-1] - line[0])
    rel = up - line[0]
    off_line = rel - (rel @ direction)[:, None] * direction
    assert np.abs(off_line).max() < 1e-4
    t = rel @ direction
    assert np.all(np.diff(t) > 0)
    angles = np.linspace(0, np.pi, 60)
    arc = np.stack([20 * np.cos(angles), 20 * np.sin(angles), np.zeros_like(angles)], 1)
    up, _ = hermite_upsample(arc.astype(np.float32), np.array([0, 60]), 5)
    radius = np.linalg.norm(up[:, :2], axis=1)
    assert np.abs(radius - 20).max() < 0.01


@pytest.mark.parametrize(
    ("step", "grid", "ratio"),
    [(None, "nlin6_2mm", 1), (0.5, "nlin6_2mm", 1), (1.0, "nlin6_2mm", 2), (1.5, "nlin6_2mm", 3),
     (2.0, "nlin6_1mm", 7), (0.625, "nlin6_1mm", 2)],
)  # fmt: skip
def test_upsample_ratio_is_tckmaps(step: float | None, grid: str, ratio: int) -> None:
    assert upsample_ratio(step, GRIDS[grid][1]) == ratio


def test_mrtrix_rule_with_upsampling_visits_at_least_the_stored_points_voxels() -> None:
    streamlines = synthetic_streamlines(100, seed=9, step=1.5)
    points, offsets = as_array_sequence(streamlines)
    plain = set(zip(*sampled_voxels(points, offsets, AFFINE, SHAPE, 1), strict=True))
    up = set(zip(*sampled_voxels(points, offsets, AFFINE, SHAPE, 3), strict=True))
    assert plain <= up
    assert len(up) > len(plain)


def test_empty_streamlines_inside_a_chunk_visit_nothing() -> None:
    affine, shape = np.eye(4), (10, 10, 10)
    points = np.array([[1, 1, 1], [3, 1, 1], [5, 5, 5], [5, 7, 5]], np.float32)
    offsets = np.array([0, 2, 2, 4])  # streamline 1 has no point
    for rows, _ in (
        traversed_voxels(points, offsets, affine, shape),
        sampled_voxels(points, offsets, affine, shape, 1),
        sampled_voxels(points, offsets, affine, shape, 4),
    ):
        assert set(rows.tolist()) == {0, 2}
    up, owner = hermite_upsample(points, offsets, 4)
    assert len(up) == 10 and set(owner.tolist()) == {0, 2}


# --- tckedit's cropped ROI grid ----------------------------------------------------------------
def test_a_point_rounded_onto_a_face_is_placed_by_the_cropped_grid() -> None:
    # z = 7 - 2**-21 is 39.49999976 voxels on this grid (0.5 z + 36), which float32
    # rounds to 39.5 and then to voxel 40: tckmap's voxel. tckedit crops the mask from
    # voxel 38 up and computes 1.49999976 there, exactly: voxel 39
    z = np.nextafter(np.float32(7.0), np.float32(0.0))
    point = np.array([[-40.3, -10.7, z]], np.float32)
    voxel, near = point_voxels(point, AFFINE, SHAPE)
    i, j, k = np.unravel_index(voxel[0], SHAPE)
    assert (i, j, k) == (65, 58, 40) and near[0]
    assert roi_voxels(point, AFFINE, SHAPE, [0, 0, 0], SHAPE)[0] == voxel[0]
    cropped = roi_voxels(point, AFFINE, SHAPE, [0, 0, 38], [91, 109, 10])
    assert np.unravel_index(cropped[0], SHAPE) == (65, 58, 39)
    # outside the box tckedit finds no voxel
    assert roi_voxels(point, AFFINE, SHAPE, [0, 0, 41], [91, 109, 10])[0] == -1


def test_roi_crop_is_the_bounding_box_and_one_voxel_in_mrtrixs_frame() -> None:
    mask = np.zeros(SHAPE, bool)
    mask[30:36, 40:46, 0:3] = True
    origin, size = roi_crop(np.flatnonzero(mask), AFFINE, SHAPE)
    # x points left on this grid: MRtrix flips it, and x = 30..35 is 55..60 there;
    # no margin below voxel 0
    assert origin.tolist() == [54, 39, 0] and size.tolist() == [8, 8, 4]
    corner = np.ravel_multi_index((0, 108, 90), SHAPE)
    origin, size = roi_crop([corner], AFFINE, SHAPE)
    # the margin stops at the grid's end
    assert origin.tolist() == [89, 107, 89] and size.tolist() == [2, 2, 2]
    with pytest.raises(ArgumentError, match="empty ROI mask"):
        roi_crop([], AFFINE, SHAPE)


def _nudged_face_points(rng: np.random.Generator, shape, affine, n: int) -> np.ndarray:
    """Points on voxel faces (world mm, float32), moved by -3..3 float32 steps per coordinate."""
    ijk = rng.integers(0, np.asarray(shape), size=(n, 3)) + rng.choice([-0.5, 0.5], (n, 3))
    world = (ijk @ affine[:3, :3].T + affine[:3, 3]).astype(np.float32)
    steps = rng.integers(-3, 4, size=world.shape).astype(np.int32)
    return (world.view(np.int32) + np.where(world == 0, 0, steps)).view(np.float32)


_TILT = 0.3
# grids whose translation and inverse are not exact in float32: there the whole-grid
# and the cropped computations round differently a step or two away from a face
ODD_GRIDS = {
    "odd": (
        (120, 140, 120),
        np.array([[-1.5, 0, 0, 90.3], [0, 1.5, 0, -126.7], [0, 0, 1.5, -72.1], [0, 0, 0, 1]]),
    ),
    "oblique": (
        (100, 120, 100),
        np.array(
            [
                [2 * np.cos(_TILT), -2 * np.sin(_TILT), 0, -90.3],
                [2 * np.sin(_TILT), 2 * np.cos(_TILT), 0, -126.7],
                [0, 0, 2.0, -72.1],
                [0, 0, 0, 1],
            ]
        ),
    ),
}


@pytest.mark.parametrize("grid", ["nlin6_2mm", "2009c_2mm", "nlin6_1mm", "odd", "oblique"])
def test_only_points_near_faces_move_on_a_cropped_grid(grid: str) -> None:
    shape, affine = {**GRIDS, **ODD_GRIDS}[grid]
    rng = np.random.default_rng(11)
    faces = _nudged_face_points(rng, shape, affine, 60_000)
    low, high = affine[:3, 3], affine[:3, :3] @ (np.asarray(shape) - 1) + affine[:3, 3]
    loose = rng.uniform(np.minimum(low, high), np.maximum(low, high), (60_000, 3))
    points = np.concatenate([faces, loose.astype(np.float32)])
    voxel, near = point_voxels(points, affine, shape)
    moved = 0
    for _ in range(6):
        origin = rng.integers(0, np.asarray(shape) - 1)
        placed = roi_voxels(points, affine, shape, origin, np.asarray(shape) - origin)
        inside = placed >= 0
        differ = inside & (placed != voxel)
        # the whole-grid voxel holds for every point off a face
        assert not np.any(differ & ~near)
        moved += int(differ.sum())
    assert moved > 0  # the rounding does move some of the face points
    assert near[60_000:].mean() < 1e-3  # and few points are on a face by chance


def test_visit_pairs_are_sorted_unique_and_on_the_grid() -> None:
    rows, cols = visit_pairs(np.array([2, 2, 0, 0, 1, 1]), np.array([5, 5, 7, -1, 3, 1]), 10)
    assert rows.tolist() == [0, 1, 1, 2] and cols.tolist() == [7, 1, 3, 5]
