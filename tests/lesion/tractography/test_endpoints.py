"""Streamline ends to regions (tck2connectome's radial search) and counts between regions."""

from __future__ import annotations

import numpy as np
import pytest

from neuratlas.errors import ArgumentError
from neuratlas.lesion.tractography.endpoints import assign_endpoints, connection_counts
from tests.lesion.masks import GRIDS

SHAPE, AFFINE = GRIDS["nlin6_2mm"]


@pytest.fixture(scope="module")
def labels() -> np.ndarray:
    """Labels 1..8 in blobs scattered over the grid, the rest background."""
    rng = np.random.default_rng(4)
    out = np.zeros(SHAPE, np.int32)
    for label in range(1, 9):
        c = rng.integers([10, 10, 10], np.asarray(SHAPE) - 10)
        out[c[0] - 3 : c[0] + 3, c[1] - 4 : c[1] + 2, c[2] - 2 : c[2] + 3] = label
    return out


def _brute_force(ends: np.ndarray, labels: np.ndarray, radius: float) -> np.ndarray:
    ijk = np.argwhere(labels != 0)
    centres = ijk @ AFFINE[:3, :3].T + AFFINE[:3, 3]
    out = []
    for p in ends.reshape(-1, 3):
        if not np.all(np.isfinite(p)):
            out.append(0)
            continue
        d = np.linalg.norm(centres - p, axis=1)
        k = int(np.argmin(d))
        out.append(int(labels[tuple(ijk[k])]) if d[k] < radius else 0)
    return np.array(out).reshape(-1, 2)


def _ends_near_labels(labels: np.ndarray, n: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    ijk = np.argwhere(labels != 0)
    picked = ijk[rng.integers(0, len(ijk), 2 * n)]
    world = picked @ AFFINE[:3, :3].T + AFFINE[:3, 3]
    return (world + rng.uniform(-7, 7, size=world.shape)).reshape(n, 2, 3)


def test_radial_search_finds_the_nearest_labelled_voxel(labels: np.ndarray) -> None:
    ends = _ends_near_labels(labels, 400, seed=1)
    got = assign_endpoints(ends, labels, AFFINE, 4.0)
    np.testing.assert_array_equal(got, _brute_force(ends, labels, 4.0))
    assert (got == 0).any() and (got > 0).any()


def test_a_larger_radius_assigns_more(labels: np.ndarray) -> None:
    ends = _ends_near_labels(labels, 300, seed=2)
    near = assign_endpoints(ends, labels, AFFINE, 2.0)
    far = assign_endpoints(ends, labels, AFFINE, 8.0)
    assert (far > 0).sum() > (near > 0).sum()
    np.testing.assert_array_equal(far, _brute_force(ends, labels, 8.0))


def test_radius_zero_takes_the_endpoints_voxel(labels: np.ndarray) -> None:
    ends = _ends_near_labels(labels, 300, seed=3)
    got = assign_endpoints(ends, labels, AFFINE, 0.0)
    inverse = np.linalg.inv(AFFINE)
    ijk = np.floor(ends.reshape(-1, 3) @ inverse[:3, :3].T + inverse[:3, 3] + 0.5).astype(int)
    ok = np.all((ijk >= 0) & (ijk < np.asarray(SHAPE)), axis=1)
    expected = np.zeros(len(ijk), int)
    expected[ok] = labels[tuple(ijk[ok].T)]
    np.testing.assert_array_equal(got.reshape(-1), expected)


def test_missing_ends_and_empty_labels(labels: np.ndarray) -> None:
    ends = np.full((3, 2, 3), np.nan, np.float32)
    ends[0, 0] = AFFINE[:3, 3]
    assert not assign_endpoints(ends, labels, AFFINE).any()
    assert not assign_endpoints(ends, np.zeros(SHAPE, int), AFFINE).any()


def test_a_negative_radius_is_refused(labels: np.ndarray) -> None:
    with pytest.raises(ArgumentError, match=r"search radius is -1\.0 mm"):
        assign_endpoints(np.zeros((1, 2, 3)), labels, AFFINE, -1.0)


def test_connection_counts_are_tck2connectomes_symmetric_zero_diagonal() -> None:
    nodes = np.array([[1, 2], [2, 1], [3, 3], [0, 2], [5, 3], [7, 1], [3, 1]])
    counts = connection_counts(nodes, [1, 2, 3, 5])
    expected = np.zeros((4, 4), int)
    for a, b in nodes:
        rows = {1: 0, 2: 1, 3: 2, 5: 3}
        if a in rows and b in rows and a != b:
            expected[rows[a], rows[b]] += 1
            expected[rows[b], rows[a]] += 1
    np.testing.assert_array_equal(counts, expected)
    assert counts[0, 1] == 2 and counts[2, 2] == 0 and counts.sum() == 2 * 4


def test_connection_counts_of_some_streamlines_in_any_label_order() -> None:
    nodes = np.array([[1, 2], [2, 3], [3, 1], [1, 2]])
    picked = connection_counts(nodes, [3, 1, 2], [0, 3])
    assert picked[1, 2] == picked[2, 1] == 2 and picked.sum() == 4
    mask = connection_counts(nodes, [3, 1, 2], np.array([False, True, True, False]))
    assert mask[0, 2] == mask[0, 1] == 1 and mask.sum() == 4
    assert connection_counts(nodes, []).shape == (0, 0)
