"""DisplacementField: construction, warping, composition, persistence."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from neuratlas.allen.displacement import DisplacementField, _have_cv2, affine_simple
from neuratlas.errors import ArgumentTypeError, ImageError, TransformError

BACKENDS = ["numpy"] + (["cv2"] if _have_cv2() else [])


def _smooth(seed: int) -> Callable[[np.ndarray, np.ndarray], np.ndarray]:
    """A smooth picture as a function of (x, y), so warps can be checked exactly."""
    a, b = np.random.default_rng(seed).uniform(0.05, 0.15, 2)
    return lambda x, y: 100 + 50 * np.sin(a * y) * np.cos(b * x)


def _smooth_image(shape: tuple[int, int], seed: int = 0) -> np.ndarray:
    rows, cols = np.indices(shape, dtype=np.float64)
    return _smooth(seed)(cols, rows)


def _labels(shape: tuple[int, int], seed: int = 0) -> np.ndarray:
    """A blocky label image with Allen-sized ids (beyond 2**16 and 2**31)."""
    rng = np.random.default_rng(seed)
    ids = np.array([0, 997, 65537, 484682470, 3_000_000_000], dtype=np.int64)
    blocks = rng.choice(ids, size=(shape[0] // 4 + 1, shape[1] // 4 + 1))
    return np.kron(blocks, np.ones((4, 4), dtype=np.int64))[: shape[0], : shape[1]]


class TestConstruction:
    def test_shapes_must_match(self) -> None:
        with pytest.raises(TransformError, match="same shape"):
            DisplacementField(np.zeros((3, 4)), np.zeros((4, 3)))

    def test_must_be_2d(self) -> None:
        with pytest.raises(TransformError, match="delta_x must be a 2D array"):
            DisplacementField(np.zeros(4), np.zeros(4))

    def test_stored_as_float64(self) -> None:
        df = DisplacementField(np.zeros((2, 2), np.float32), np.zeros((2, 2), np.int32))
        assert df.delta_x.dtype == df.delta_y.dtype == np.float64
        assert df.shape == (2, 2)

    def test_from_transform_round_trip(self) -> None:
        rng = np.random.default_rng(1)
        df = DisplacementField(rng.normal(size=(5, 7)), rng.normal(size=(5, 7)))
        again = DisplacementField.from_transform(*df.transformation)
        np.testing.assert_allclose(again.delta_x, df.delta_x, atol=1e-12)
        np.testing.assert_allclose(again.delta_y, df.delta_y, atol=1e-12)

    def test_from_affine_translation(self) -> None:
        df = DisplacementField.from_affine((3, 4), [[1, 0, 2.5], [0, 1, -1]])
        np.testing.assert_allclose(df.delta_x, 2.5)
        np.testing.assert_allclose(df.delta_y, -1.0)

    def test_from_affine_bad_matrix(self) -> None:
        with pytest.raises(TransformError, match=r"shape \(2, 3\)"):
            DisplacementField.from_affine((3, 4), np.eye(2))
        with pytest.raises(TransformError, match=r"must end with the row"):
            DisplacementField.from_affine((3, 4), np.ones((3, 3)))

    def test_norm_and_scaling(self) -> None:
        df = DisplacementField(np.full((2, 2), 3.0), np.full((2, 2), 4.0))
        np.testing.assert_allclose(df.norm, 5.0)
        np.testing.assert_allclose((2 * df).norm, 10.0)
        np.testing.assert_allclose((df * 0.5).delta_y, 2.0)
        assert "max displacement=5" in repr(df)

    def test_equality(self) -> None:
        a = DisplacementField(np.zeros((2, 2)), np.ones((2, 2)))
        assert a == DisplacementField(np.zeros((2, 2)), np.ones((2, 2)))
        assert a != DisplacementField(np.zeros((2, 2)), np.zeros((2, 2)))
        assert a != DisplacementField(np.zeros((2, 3)), np.ones((2, 3)))
        assert a != "field"


class TestWarpKnownMotions:
    @pytest.mark.parametrize("backend", BACKENDS)
    def test_integer_shift_is_exact(self, backend: str) -> None:
        img = _smooth_image((40, 50)).astype(np.float32)
        df = DisplacementField(np.full((40, 50), 3.0), np.full((40, 50), -2.0))
        out = df.warp(img, backend=backend)  # type: ignore[arg-type]
        # output (r, c) reads input (r - 2, c + 3)
        np.testing.assert_allclose(out[2:, :-3], img[:-2, 3:], atol=1e-4)
        assert np.all(out[:2] == 0) and np.all(out[:, -3:] == 0)

    def test_half_pixel_shift_averages_neighbours(self) -> None:
        img = np.array([[0.0, 10.0, 30.0, 60.0]])
        df = DisplacementField(np.full((1, 4), 0.5), np.zeros((1, 4)))
        out = df.warp(img, backend="numpy", border_mode="replicate")
        np.testing.assert_allclose(out, [[5.0, 20.0, 45.0, 60.0]])

    @pytest.mark.parametrize("backend", BACKENDS)
    def test_rotation_about_centre(self, backend: str) -> None:
        shape = (81, 81)
        img = _smooth_image(shape, seed=3)
        angle = np.deg2rad(20)
        c, s = np.cos(angle), np.sin(angle)
        centre = np.array([40.0, 40.0])
        linear = np.array([[c, -s], [s, c]])
        matrix = np.hstack([linear, (centre - linear @ centre)[:, None]])
        df = DisplacementField.from_affine(shape, matrix)
        out = df.warp(img, backend=backend)  # type: ignore[arg-type]
        # compare with the image function evaluated at the rotated positions
        expected = _smooth(3)(*df.transformation)
        fx, fy = df.transformation
        inside = (fx >= 1) & (fx <= 79) & (fy >= 1) & (fy <= 79)
        # bilinear interpolation error of this smooth image stays below 0.5 grey level
        assert np.abs(out - expected)[inside].max() < 0.5

    def test_rotation_by_90_degrees(self) -> None:
        img = np.arange(12.0).reshape(3, 4)
        # output (r, c) reads input (x = r, y = 2 - c): a 4 x 3 result
        df = DisplacementField.from_affine((4, 3), [[0, 1, 0], [-1, 0, 2]])
        np.testing.assert_array_equal(df.warp(img, "nearest"), img[::-1].T)
        np.testing.assert_allclose(df.warp(img, "linear"), img[::-1].T, atol=1e-5)

    @pytest.mark.parametrize("backend", BACKENDS)
    def test_rgb_channels_warped_alike(self, backend: str) -> None:
        gray = np.clip(_smooth_image((30, 40)), 0, 255).astype(np.uint8)
        rgb = np.stack([gray, 255 - gray, gray // 2], axis=-1)
        df = DisplacementField.from_affine((30, 40), [[1, 0.1, 1.3], [0.05, 1, -0.7]])
        out = df.warp(rgb, backend=backend)  # type: ignore[arg-type]
        assert out.shape == (30, 40, 3) and out.dtype == np.uint8
        np.testing.assert_array_equal(out[..., 0], df.warp(gray, backend=backend))  # type: ignore[arg-type]

    def test_backends_agree(self) -> None:
        if not _have_cv2():
            pytest.skip("OpenCV not installed")
        img = np.clip(_smooth_image((60, 70), 5), 0, 255).astype(np.uint8)
        rng = np.random.default_rng(2)
        df = DisplacementField(rng.uniform(-5, 5, (50, 80)), rng.uniform(-5, 5, (50, 80)))
        for mode in ("constant", "replicate", "reflect", "reflect_101", "wrap"):
            a = df.warp(img, border_mode=mode, backend="numpy").astype(int)  # type: ignore[arg-type]
            b = df.warp(img, border_mode=mode, backend="cv2").astype(int)  # type: ignore[arg-type]
            # OpenCV interpolates in 1/32 pixel steps with fixed-point weights
            assert np.abs(a - b).max() <= 2, mode

    def test_cubic_reproduces_smooth_image(self) -> None:
        img = _smooth_image((50, 50), 4)
        df = DisplacementField.from_affine((50, 50), [[1, 0, 0.37], [0, 1, -0.61]])
        out = df.warp(img, order=3, backend="numpy")
        expected = _smooth(4)(*df.transformation)
        # the spline's constant padding rings for a few pixels near the edges
        assert np.abs(out - expected)[10:-10, 10:-10].max() < 0.05

    def test_integer_output_rounded_and_clipped(self) -> None:
        img = np.array([[0, 255]], dtype=np.uint8)
        df = DisplacementField(np.array([[0.5, 0.5]]), np.zeros((1, 2)))
        out = df.warp(img, backend="numpy", border_mode="replicate")
        assert out.dtype == np.uint8
        np.testing.assert_array_equal(out, [[128, 255]])

    def test_constant_border_value(self) -> None:
        img = np.ones((4, 4))
        df = DisplacementField(np.full((4, 4), 100.0), np.zeros((4, 4)))
        np.testing.assert_array_equal(df.warp(img, c=-7.0), -7.0)
        np.testing.assert_array_equal(df.warp(img, "nearest", c=-7.0), -7.0)

    def test_nan_fill(self) -> None:
        df = DisplacementField(np.full((2, 3), 1.0), np.zeros((2, 3)))
        out = df.warp(np.arange(6.0).reshape(2, 3), c=np.nan)
        np.testing.assert_array_equal(out, [[1.0, 2.0, np.nan], [4.0, 5.0, np.nan]])
        with pytest.raises(TransformError, match="cannot fill a uint8 image with nan"):
            df.warp(np.zeros((2, 3), np.uint8), c=np.nan)

    @pytest.mark.parametrize(
        ("mode", "expected"),
        [
            ("replicate", [0, 0, 0, 1, 2, 2]),
            ("wrap", [1, 2, 0, 1, 2, 0]),
            ("reflect", [1, 0, 0, 1, 2, 2]),
            ("reflect_101", [2, 1, 0, 1, 2, 1]),
        ],
    )
    def test_border_modes_by_hand(self, mode: str, expected: list[int]) -> None:
        img = np.array([[0, 1, 2]])
        # positions -2 .. 3 along x
        df = DisplacementField.from_transform(
            np.array([[-2.0, -1.0, 0.0, 1.0, 2.0, 3.0]]), np.zeros((1, 6))
        )
        out = df.warp(img, "nearest", border_mode=mode)  # type: ignore[arg-type]
        np.testing.assert_array_equal(out, [expected])


class TestLabels:
    @pytest.mark.parametrize("dtype", [np.uint8, np.int32, np.uint32, np.int64, np.uint64])
    def test_nearest_keeps_labels(self, dtype: type) -> None:
        labels = (_labels((64, 80)) % min(np.iinfo(dtype).max, 2**62)).astype(dtype)
        df = DisplacementField.from_affine((70, 60), [[0.9, 0.2, 3.3], [-0.15, 1.1, 1.7]])
        out = df.warp(labels, "nearest", border_mode="replicate")
        assert out.dtype == labels.dtype
        assert set(np.unique(out)) <= set(np.unique(labels))

    def test_nearest_matches_explicit_lookup(self) -> None:
        labels = _labels((32, 32), seed=5)
        rng = np.random.default_rng(0)
        df = DisplacementField(rng.uniform(-3, 3, (32, 32)), rng.uniform(-3, 3, (32, 32)))
        out = df.warp(labels, order=0, border_mode="replicate")
        fx, fy = df.transformation
        rows = np.clip(np.rint(fy).astype(int), 0, 31)
        cols = np.clip(np.rint(fx).astype(int), 0, 31)
        np.testing.assert_array_equal(out, labels[rows, cols])

    def test_boolean_masks_stay_boolean(self) -> None:
        mask = _labels((20, 20)) > 1000
        df = DisplacementField.from_affine((20, 20), [[1, 0, 0.4], [0, 1, 0.4]])
        out = df.warp(mask)  # linear requested, nearest used
        assert out.dtype == bool

    @settings(max_examples=25, deadline=None)
    @given(
        shift=st.tuples(st.floats(-10, 10), st.floats(-10, 10)),
        angle=st.floats(-np.pi, np.pi),
    )
    def test_any_motion_keeps_label_set(self, shift: tuple[float, float], angle: float) -> None:
        labels = _labels((24, 24), seed=9)
        c, s = np.cos(angle), np.sin(angle)
        df = DisplacementField.from_affine((24, 24), [[c, -s, shift[0]], [s, c, shift[1]]])
        out = df.warp(labels, "nearest")
        assert set(np.unique(out)) <= set(np.unique(labels)) | {0}


class TestWarpBadInput:
    def test_image_dimensions(self) -> None:
        df = DisplacementField.identity((3, 3))
        with pytest.raises(ImageError, match=r"got shape \(3,\)"):
            df.warp(np.zeros(3))
        with pytest.raises(ImageError, match="non-empty"):
            df.warp(np.zeros((0, 3)))

    def test_options(self) -> None:
        df = DisplacementField.identity((3, 3))
        img = np.zeros((3, 3))
        with pytest.raises(TransformError, match="unsupported interpolation 'area'"):
            df.warp(img, "area")  # type: ignore[arg-type]
        with pytest.raises(TransformError, match="unsupported order 2"):
            df.warp(img, order=2)
        with pytest.raises(TransformError, match="unsupported border_mode 'mirror'"):
            df.warp(img, border_mode="mirror")  # type: ignore[arg-type]
        with pytest.raises(TransformError, match="unknown backend"):
            df.warp(img, backend="gpu")  # type: ignore[arg-type]

    def test_cv2_backend_refuses_what_it_cannot_do(self) -> None:
        df = DisplacementField.identity((3, 3))
        with pytest.raises(TransformError, match="OpenCV cannot warp"):
            df.warp(np.zeros((3, 3), dtype=np.int64), backend="cv2")


class TestCompose:
    def test_two_shifts_add(self) -> None:
        a = DisplacementField(np.full((10, 12), 1.5), np.full((10, 12), -0.5))
        b = DisplacementField(np.full((10, 12), 2.0), np.full((10, 12), 1.0))
        c = a.compose(b)
        np.testing.assert_allclose(c.delta_x, 3.5)
        np.testing.assert_allclose(c.delta_y, 0.5)

    def test_compose_equals_successive_warps(self) -> None:
        img = _smooth_image((60, 60), 8)
        first = DisplacementField.from_affine((60, 60), [[1, 0.05, 2.2], [-0.03, 1, 1.1]])
        second = DisplacementField.from_affine((60, 60), [[0.98, 0, -1.4], [0.02, 1.01, 0.9]])
        once = first.compose(second).warp(img, backend="numpy")
        twice = second.warp(first.warp(img, backend="numpy"), backend="numpy")
        inner = (slice(8, -8), slice(8, -8))
        # affine fields compose exactly; only the double interpolation differs
        assert np.abs(once[inner] - twice[inner]).max() < 0.6

    def test_compose_with_identity(self) -> None:
        rng = np.random.default_rng(3)
        df = DisplacementField(rng.normal(size=(8, 9)), rng.normal(size=(8, 9)))
        assert df.compose(DisplacementField.identity((8, 9))) == df
        assert DisplacementField.identity((8, 9)).compose(df) == df

    def test_compose_type(self) -> None:
        with pytest.raises(TransformError, match="compose with a DisplacementField"):
            DisplacementField.identity((2, 2)).compose(np.zeros((2, 2)))  # type: ignore[arg-type]


class TestPersistence:
    @pytest.mark.parametrize("suffix", [".npy", ".npz"])
    def test_save_load(self, tmp_path: Path, suffix: str) -> None:
        rng = np.random.default_rng(0)
        df = DisplacementField(rng.normal(size=(6, 5)), rng.normal(size=(6, 5)))
        path = df.save(tmp_path / f"field{suffix}")
        again = DisplacementField.load(path)
        np.testing.assert_array_equal(again.delta_x, df.delta_x)
        np.testing.assert_array_equal(again.delta_y, df.delta_y)
        assert [p.name for p in tmp_path.iterdir()] == [f"field{suffix}"]

    def test_reads_atldld_layout(self, tmp_path: Path) -> None:
        stacked = np.stack([np.ones((3, 4)), np.zeros((3, 4))], axis=2).astype(np.float32)
        np.save(tmp_path / "atldld.npy", stacked)
        df = DisplacementField.from_file(tmp_path / "atldld.npy")
        np.testing.assert_array_equal(df.delta_x, 1.0)

    def test_bad_suffix(self, tmp_path: Path) -> None:
        with pytest.raises(TransformError, match=r"use a \.npy or \.npz file name"):
            DisplacementField.identity((2, 2)).save(tmp_path / "field.txt")

    def test_bad_files(self, tmp_path: Path) -> None:
        np.save(tmp_path / "flat.npy", np.zeros((3, 4)))
        with pytest.raises(TransformError, match=r"expected an array of shape \(h, w, 2\)"):
            DisplacementField.load(tmp_path / "flat.npy")
        (tmp_path / "junk.npy").write_bytes(b"not numpy")
        with pytest.raises(TransformError, match="not a readable displacement field"):
            DisplacementField.load(tmp_path / "junk.npy")
        with pytest.raises(TransformError, match="not a readable displacement field"):
            DisplacementField.load(tmp_path / "missing.npz")


class TestAtldldBadInput:
    """atldld's tests/test_base.py bad-input cases, with neuratlas's errors."""

    def test_unsupported_suffix(self, tmp_path: Path) -> None:
        (tmp_path / "test_file.FAKE").touch()
        with pytest.raises(TransformError, match=r"unsupported suffix '\.FAKE'"):
            DisplacementField.load(tmp_path / "test_file.FAKE")

    def test_npy_data_under_another_suffix(self, tmp_path: Path) -> None:
        np.save(tmp_path / "field.npy", np.ones((1, 2, 2)))
        (tmp_path / "field.npy").rename(tmp_path / "field.FAKE")
        with pytest.raises(ValueError, match="unsupported suffix") as caught:
            DisplacementField.from_file(tmp_path / "field.FAKE")
        assert caught.value.hint is not None and ".npy" in caught.value.hint  # type: ignore[attr-defined]

    @pytest.mark.parametrize("suffix", [".npy", ".npz"])
    def test_empty_file(self, tmp_path: Path, suffix: str) -> None:
        (tmp_path / f"empty{suffix}").touch()
        with pytest.raises(TransformError, match=r"empty|not a readable"):
            DisplacementField.load(tmp_path / f"empty{suffix}")

    def test_wrong_input_type(self) -> None:
        with pytest.raises(ArgumentTypeError, match="not a int"):
            DisplacementField.from_file(123213)  # type: ignore[arg-type]

    @pytest.mark.parametrize("as_str", [True, False])
    @pytest.mark.parametrize(
        "array",
        [np.ones((1, 2, 2), "float32"), np.ones((1, 2), "float32"), np.ones((1, 2, 3), "float32")],
        ids=["correct", "wrong_dim", "wrong_channels"],
    )
    def test_npy(self, tmp_path: Path, array: np.ndarray, as_str: bool) -> None:
        path = tmp_path / "file_temp.npy"
        np.save(path, array)
        source = str(path) if as_str else path
        if array.ndim == 3 and array.shape[2] == 2:
            df = DisplacementField.from_file(source)
            np.testing.assert_allclose(df.delta_x, array[..., 0])
            np.testing.assert_allclose(df.delta_y, array[..., 1])
        else:
            with pytest.raises(ValueError, match=r"shape \(h, w, 2\)"):
                DisplacementField.from_file(source)

    def test_unknown_interpolation_lists_choices(self) -> None:
        df = DisplacementField.identity((10, 11))
        with pytest.raises(ValueError, match="fake_interpolation") as caught:
            df.warp(np.zeros((10, 11)), interpolation="fake_interpolation")  # type: ignore[arg-type]
        assert "nearest, linear, cubic" in str(caught.value)
        with pytest.raises(ValueError, match="fake_border_mode") as caught:
            df.warp(np.zeros((10, 11)), border_mode="fake_border_mode")  # type: ignore[arg-type]
        assert "replicate" in str(caught.value)


class TestAffineSimple:
    """atldld's affine_simple, returning a DisplacementField that unpacks as (dx, dy)."""

    @pytest.mark.parametrize("apply_centering", [True, False])
    def test_defaults_are_identity(self, apply_centering: bool) -> None:
        delta_x, delta_y = affine_simple((5, 7), apply_centering=apply_centering)
        assert delta_x.shape == delta_y.shape == (5, 7)
        assert (delta_x == 0).all() and (delta_y == 0).all()
        assert affine_simple((5, 7)) == DisplacementField.identity((5, 7))

    def test_translation(self) -> None:
        df = affine_simple((4, 6), translation_x=2.0, translation_y=-1.0)
        np.testing.assert_allclose(df.delta_x, 2.0)
        np.testing.assert_allclose(df.delta_y, -1.0)

    def test_centred_rotation_keeps_the_centre(self) -> None:
        df = affine_simple((9, 11), rotation=0.7, scale_x=1.3, shear=0.2)
        assert df.delta_x[4, 5] == pytest.approx(0.0, abs=1e-12)
        assert df.delta_y[4, 5] == pytest.approx(0.0, abs=1e-12)
        corner = affine_simple((9, 11), rotation=0.7, apply_centering=False)
        assert (corner.delta_x[0, 0], corner.delta_y[0, 0]) == (0.0, 0.0)

    def test_matches_atldld_definition(self) -> None:
        transform = pytest.importorskip("skimage.transform")
        shape, sx, sy, rot, tx, ty, sh = (9, 10), 1.2, 0.8, 0.3, 1.5, -2.0, 0.1
        matrix = np.array(
            [
                [sx * np.cos(rot), -sy * np.sin(rot + sh), tx],
                [sx * np.sin(rot), sy * np.cos(rot + sh), ty],
                [0, 0, 1],
            ]
        )
        centre = np.array([shape[1] / 2 - 0.5, shape[0] / 2 - 0.5])
        # atldld composes skimage transforms: uncentre, then the matrix, then centre
        tform = (
            transform.SimilarityTransform(translation=-centre)
            + transform.SimilarityTransform(matrix=matrix)
            + transform.SimilarityTransform(translation=centre)
        )
        x, y = np.meshgrid(range(shape[1]), range(shape[0]))
        coords = np.stack([x.ravel(), y.ravel()], axis=1).astype(float)
        moved = transform.AffineTransform(tform.params)(coords) - coords
        df = affine_simple(shape, sx, sy, rot, tx, ty, sh)
        np.testing.assert_allclose(df.delta_x, moved[:, 0].reshape(shape), atol=1e-12)
        np.testing.assert_allclose(df.delta_y, moved[:, 1].reshape(shape), atol=1e-12)

    @pytest.mark.parametrize("random_state", range(5))
    @pytest.mark.parametrize("dtype", ["int8", "int16", "int32", "int64", "uint8"])
    def test_no_new_classes(self, random_state: int, dtype: str) -> None:
        shape = (9, 10)
        df = DisplacementField(*affine_simple(shape, rotation=np.pi / 10))
        img = np.random.default_rng(random_state).integers(300, size=shape).astype(dtype)
        warped = df.warp(img, interpolation="nearest", border_mode="replicate")
        assert set(np.unique(warped)) <= set(np.unique(img))

    @pytest.mark.parametrize("shift", [(-0.49, 0), (0.49, 0), (0, -0.49), (0, 0.49), (0.2, 0.2)])
    def test_small_shift(self, shift: tuple[float, float]) -> None:
        df = affine_simple((9, 10), translation_x=shift[0], translation_y=shift[1])
        img = np.random.default_rng(1).integers(256, size=(9, 10)).astype(np.uint8)
        np.testing.assert_array_equal(df.warp(img, interpolation="nearest"), img)

    @pytest.mark.parametrize("shape", [(3,), (2.5, 3), (-1, 2), "ab"])
    def test_bad_shape(self, shape: object) -> None:
        with pytest.raises(TransformError, match="shape must be"):
            affine_simple(shape)  # type: ignore[arg-type]

    def test_bad_parameter(self) -> None:
        with pytest.raises(TransformError, match="finite"):
            affine_simple((2, 2), rotation=float("inf"))
