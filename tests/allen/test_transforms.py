"""Image <-> reference transforms and the displacement fields built from them."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from neuratlas.allen.transforms import (
    get_oblique_transform,
    get_parallel_transform,
    pir_to_xy,
    pir_to_xy_matrix,
    reference_grid_shape,
    xy_to_pir,
    xy_to_pir_matrix,
)
from neuratlas.errors import TransformError


def _invert(affine: np.ndarray) -> np.ndarray:
    n = affine.shape[0]
    full = np.eye(n + 1)
    full[:n] = affine
    return np.linalg.inv(full)[:n]


def _realistic(seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """tsv, tvs, tvr, trv of a coronal dataset: ~1 µm pixels, a few degrees oblique."""
    rng = np.random.default_rng(seed)
    angle = np.deg2rad(rng.uniform(-8, 8))
    rot = 1.049 * np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    tsv = np.hstack([rot, rng.uniform(-900, 900, (2, 1))])
    linear = np.array([[0, 0, 1], [0, 1, 0], [1, 0, 0]], float) + rng.normal(0, 0.03, (3, 3))
    tvr = np.hstack([linear, rng.uniform(-500, 500, (3, 1))])
    return tsv, _invert(tsv), tvr, _invert(tvr)


class TestHandChecked:
    def test_xy_to_pir_identity_affines_swap_nothing(self) -> None:
        tsv = np.array([[1.0, 0, 0], [0, 1, 0]])
        tvr = np.hstack([np.eye(3), np.zeros((3, 1))])
        coords = np.array([[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]])
        np.testing.assert_array_equal(xy_to_pir(coords, tsv, tvr), coords)

    def test_xy_to_pir_small_case(self) -> None:
        # x scaled by 2 and shifted by 10; y shifted by -5; then (x, y, z) -> (z, y, x) + t
        tsv = np.array([[2.0, 0, 10], [0, 1, -5]])
        tvr = np.array([[0, 0, 1.0, 100], [0, 1, 0, 200], [1, 0, 0, 300]])
        coords = np.array([[3.0], [7.0], [50.0]])
        # v = (2*3+10, 7-5, 50) = (16, 2, 50); pir = (50+100, 2+200, 16+300)
        np.testing.assert_allclose(xy_to_pir(coords, tsv, tvr), [[150.0], [202.0], [316.0]])

    def test_pir_to_xy_small_case(self) -> None:
        tvs = np.array([[0.5, 0, -5], [0, 1, 5]])
        trv = np.array([[0, 0, 1.0, -300], [0, 1, 0, -200], [1, 0, 0, -100]])
        coords = np.array([[150.0], [202.0], [316.0]])
        # v = (316-300, 202-200, 150-100) = (16, 2, 50); xy = (0.5*16-5, 2+5, 50)
        np.testing.assert_allclose(pir_to_xy(coords, tvs, trv), [[3.0], [7.0], [50.0]])

    def test_z_is_untouched_by_the_2d_affine(self) -> None:
        tsv = np.array([[3.0, 1, 10], [2, 5, -5]])
        tvr = np.hstack([np.eye(3), np.zeros((3, 1))])
        out = xy_to_pir(np.array([[0.0], [0.0], [123.0]]), tsv, tvr)
        assert out[2, 0] == 123.0

    def test_matrices_compose_to_the_same_map(self) -> None:
        tsv, tvs, tvr, trv = _realistic(3)
        forward = xy_to_pir_matrix(tsv, tvr)
        backward = pir_to_xy_matrix(tvs, trv)
        full = np.vstack([forward, [0, 0, 0, 1]]) @ np.vstack([backward, [0, 0, 0, 1]])
        np.testing.assert_allclose(full, np.eye(4), atol=1e-12)

    def test_float64_and_lists_accepted(self) -> None:
        out = pir_to_xy([[1], [2], [3]], [[1, 0, 0], [0, 1, 0]], np.eye(3, 4).tolist())
        assert out.dtype == np.float64
        np.testing.assert_array_equal(out, [[1.0], [2.0], [3.0]])

    def test_empty_coordinates(self) -> None:
        tsv, _, tvr, _ = _realistic()
        assert xy_to_pir(np.zeros((3, 0)), tsv, tvr).shape == (3, 0)


class TestBadInput:
    @pytest.mark.parametrize("shape", [(2, 5), (3,), (4, 2), (5, 3)])
    def test_coordinates_shape(self, shape: tuple[int, ...]) -> None:
        tsv, _, tvr, _ = _realistic()
        with pytest.raises(TransformError, match=r"coords_img must have shape \(3, N\)"):
            xy_to_pir(np.zeros(shape), tsv, tvr)

    def test_affine_shapes(self) -> None:
        tsv, tvs, tvr, trv = _realistic()
        with pytest.raises(TransformError, match=r"affine_2d must have shape \(2, 3\)"):
            pir_to_xy(np.zeros((3, 1)), tvr, trv)
        with pytest.raises(TransformError, match=r"affine_3d must have shape \(3, 4\)"):
            pir_to_xy(np.zeros((3, 1)), tvs, tsv)

    def test_non_finite_affine(self) -> None:
        tsv, _, tvr, _ = _realistic()
        tvr = tvr.copy()
        tvr[0, 3] = np.nan
        with pytest.raises(TransformError, match="NaN or infinite"):
            xy_to_pir(np.zeros((3, 1)), tsv, tvr)

    def test_axis_and_downsampling(self) -> None:
        _, tvs, _, trv = _realistic()
        with pytest.raises(TransformError, match="unknown axis 'axial'"):
            get_parallel_transform(1000, tvs, trv, axis="axial")  # type: ignore[arg-type]
        with pytest.raises(TransformError, match="downsample_ref must be a positive integer"):
            get_parallel_transform(1000, tvs, trv, downsample_ref=0)
        with pytest.raises(TransformError, match="downsample_img must be a non-negative"):
            get_parallel_transform(1000, tvs, trv, downsample_img=-1)

    def test_grid_coarser_than_the_brain(self) -> None:
        # a step above the smallest extent left a grid of 0 pixels (and a PIL traceback)
        assert reference_grid_shape("coronal", 8000) == (1, 1)
        with pytest.raises(TransformError, match=r"no larger than 8000 \(um\), got 8001"):
            reference_grid_shape("coronal", 8001)
        with pytest.raises(TransformError, match="got True"):
            reference_grid_shape("coronal", True)  # type: ignore[arg-type]


finite = st.floats(-20000, 20000, allow_nan=False)


@settings(max_examples=60, deadline=None)
@given(
    seed=st.integers(0, 2**16),
    xs=st.lists(st.tuples(finite, finite, st.floats(0, 14000)), min_size=1, max_size=30),
)
def test_round_trip_xy_pir_xy(seed: int, xs: list[tuple[float, float, float]]) -> None:
    tsv, tvs, tvr, trv = _realistic(seed)
    coords = np.array(xs, dtype=np.float64).T
    back = pir_to_xy(xy_to_pir(coords, tsv, tvr), tvs, trv)
    np.testing.assert_allclose(back, coords, rtol=0, atol=1e-9)


@settings(max_examples=60, deadline=None)
@given(
    seed=st.integers(0, 2**16),
    pir=st.lists(st.tuples(finite, finite, finite), min_size=1, max_size=30),
)
def test_round_trip_pir_xy_pir(seed: int, pir: list[tuple[float, float, float]]) -> None:
    tsv, tvs, tvr, trv = _realistic(seed)
    coords = np.array(pir, dtype=np.float64).T
    back = xy_to_pir(pir_to_xy(coords, tvs, trv), tsv, tvr)
    np.testing.assert_allclose(back, coords, rtol=0, atol=1e-9)


class TestParallelTransform:
    @pytest.mark.parametrize(
        ("axis", "shape"),
        [("coronal", (320, 456)), ("transverse", (528, 456)), ("sagittal", (528, 320))],
    )
    def test_grid_shapes_at_25um(self, axis: str, shape: tuple[int, int]) -> None:
        _, tvs, _, trv = _realistic()
        df = get_parallel_transform(5000, tvs, trv, axis=axis, downsample_ref=25)  # type: ignore[arg-type]
        assert df.shape == shape == reference_grid_shape(axis, 25)  # type: ignore[arg-type]

    @pytest.mark.parametrize("axis", ["coronal", "transverse", "sagittal"])
    @pytest.mark.parametrize(("downsample_ref", "downsample_img"), [(25, 0), (100, 3)])
    def test_matches_pointwise_pir_to_xy(
        self, axis: str, downsample_ref: int, downsample_img: int
    ) -> None:
        _, tvs, _, trv = _realistic(7)
        slice_coordinate = 4321.5
        df = get_parallel_transform(
            slice_coordinate,
            tvs,
            trv,
            axis,
            downsample_ref,
            downsample_img,  # type: ignore[arg-type]
        )
        fixed = {"coronal": 0, "transverse": 1, "sagittal": 2}[axis]
        free = [k for k in range(3) if k != fixed]
        rng = np.random.default_rng(0)
        rows = rng.integers(0, df.shape[0], 50)
        cols = rng.integers(0, df.shape[1], 50)
        pir = np.zeros((3, 50))
        pir[fixed] = slice_coordinate
        pir[free[0]] = rows * downsample_ref
        pir[free[1]] = cols * downsample_ref
        xy = pir_to_xy(pir, tvs, trv) / 2**downsample_img
        fx, fy = df.transformation
        np.testing.assert_allclose(fx[rows, cols], xy[0], atol=1e-8)
        np.testing.assert_allclose(fy[rows, cols], xy[1], atol=1e-8)

    def test_identity_like_case_by_hand(self) -> None:
        # Coronal: image x = r / 2, y = i / 2 (2 µm pixels), no rotation.
        tvs = np.array([[0.5, 0, 0], [0, 0.5, 0]])
        trv = np.array([[0, 0, 1.0, 0], [0, 1, 0, 0], [1, 0, 0, 0]])
        df = get_parallel_transform(100.0, tvs, trv, "coronal", downsample_ref=1000)
        fx, fy = df.transformation
        # grid (row k, col j) is i = 1000 k, r = 1000 j  ->  x = 500 j, y = 500 k
        assert df.shape == (8, 11)
        np.testing.assert_allclose(fx[2, 3], 1500.0)
        np.testing.assert_allclose(fy[2, 3], 1000.0)
        np.testing.assert_allclose(df.delta_x[2, 3], 1497.0)


class TestObliqueTransform:
    def test_depth_lies_on_the_section_plane(self) -> None:
        _, tvs, _, trv = _realistic(11)
        section_z = 60 * 25.0
        sampling = get_oblique_transform(section_z, tvs, trv, "coronal", downsample_ref=50)
        rows, cols = np.indices(sampling.depth.shape)
        pir = np.stack([sampling.depth.ravel(), rows.ravel() * 50.0, cols.ravel() * 50.0])
        xyz = pir_to_xy(pir, tvs, trv)
        np.testing.assert_allclose(xyz[2], section_z, atol=1e-7)
        fx, fy = sampling.df.transformation
        np.testing.assert_allclose(fx.ravel(), xyz[0], atol=1e-7)
        np.testing.assert_allclose(fy.ravel(), xyz[1], atol=1e-7)

    def test_equals_parallel_transform_for_a_straight_cut(self) -> None:
        tvs = np.array([[0.9, 0.1, 30], [-0.1, 0.9, 40]])
        trv = np.array([[0, 0, 1.0, 10], [0, 1, 0, 20], [1 / 25, 0, 0, 5]])
        section_z = 200.0
        p = (section_z - 5) * 25  # the plane z = section_z is p = const
        oblique = get_oblique_transform(section_z, tvs, trv, "coronal", downsample_ref=100)
        parallel = get_parallel_transform(p, tvs, trv, "coronal", downsample_ref=100)
        np.testing.assert_allclose(oblique.depth, p)
        assert oblique.df == parallel

    def test_plane_parallel_to_the_axis(self) -> None:
        tvs = np.array([[1.0, 0, 0], [0, 1, 0]])
        trv = np.hstack([np.eye(3), np.zeros((3, 1))])  # z depends on r only
        with pytest.raises(TransformError, match="never crosses the coronal axis"):
            get_oblique_transform(100.0, tvs, trv, "coronal", downsample_ref=100)
