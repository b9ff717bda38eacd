"""Tests of neuratlas.volumes.sparse.index.SparseIndex: building, queries, constructors."""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from neuratlas.errors import ArgumentError, ArgumentTypeError, ImageError, NotFoundError
from neuratlas.volumes.sparse import (
    SparseIndex,
    load_folder,
    load_siibra_v1,
    load_zip,
    save_folder,
    save_siibra_v1,
    save_zip,
)
from neuratlas.volumes.sparse.arrays import compact_values, volume_dtype
from neuratlas.volumes.sparse.index import require_grid
from tests.volumes.sparse.sparse_helpers import (
    AFFINE,
    assert_same_content,
    assert_same_index,
    many_volumes_index,
    positive,
    sparse_maps,
)

# ---------------------------------------------------------------- real data


@pytest.mark.slow
def test_juelich_every_volume_round_trips_bit_for_bit(juelich, juelich_index):
    data, _ = juelich
    assert data.shape == (149, 169, 154, 121) and data.dtype == np.uint8
    assert juelich_index.num_volumes == 121
    assert juelich_index.num_entries == np.count_nonzero(data)
    assert juelich_index.num_mapped_voxels == np.count_nonzero(data.any(axis=3))
    assert juelich_index.values.dtype == np.float32
    for volume in range(121):
        dense = juelich_index.fetch(volume)
        assert dense.dtype == np.uint8
        np.testing.assert_array_equal(dense, data[..., volume], err_msg=f"volume {volume}")


@pytest.mark.slow
def test_juelich_values_at_random_voxels_match_dense_indexing(juelich, juelich_index):
    data, _ = juelich
    rng = np.random.default_rng(7)
    # half anywhere on (and around) the grid, half inside the mapped brain
    anywhere = rng.integers(-3, np.array(data.shape[:3]) + 3, size=(4000, 3))
    mapped = np.argwhere(data.any(axis=3))
    inside = mapped[rng.integers(0, len(mapped), 4000)]
    ijk = np.concatenate([anywhere, inside])
    point, volume, value = juelich_index.values_at(ijk)
    expected = np.zeros((len(ijk), data.shape[3]), dtype=np.float32)
    ok = np.all((ijk >= 0) & (ijk < data.shape[:3]), axis=1)
    expected[ok] = data[ijk[ok, 0], ijk[ok, 1], ijk[ok, 2]]
    got = np.zeros_like(expected)
    got[point, volume] = value
    np.testing.assert_array_equal(got, expected)
    assert np.all(np.diff(point) >= 0)
    assert np.count_nonzero(expected) == point.size


@pytest.mark.slow
def test_juelich_max_label_map_and_cached_copy(juelich, juelich_index, tmp_path):
    data, _ = juelich
    labels = juelich_index.max_label_map()
    expected = np.where(data.max(axis=3) > 0, np.argmax(data, axis=3) + 1, 0)
    np.testing.assert_array_equal(labels, expected)
    save_folder(juelich_index, tmp_path / "juelich")
    loaded = load_folder(tmp_path / "juelich", mmap=True)
    assert isinstance(loaded.voxels, np.memmap)
    assert_same_index(loaded, juelich_index)
    np.testing.assert_array_equal(loaded.fetch(42), data[..., 42])


# ----------------------------------------------------------------- building


def test_from_4d_c_and_fortran_orders_and_volume_lists_agree():
    data = sparse_maps(np.random.default_rng(0))
    from_c = SparseIndex.from_4d(np.ascontiguousarray(data), AFFINE)
    from_f = SparseIndex.from_4d(np.asfortranarray(data), AFFINE)
    from_list = SparseIndex.from_4d([data[..., v] for v in range(data.shape[3])], AFFINE)
    from_loop = SparseIndex()
    for v in range(data.shape[3]):
        from_loop.add_img(np.asfortranarray(data[..., v]), AFFINE)
    for index in (from_c, from_f, from_list, from_loop):
        assert index.num_volumes == data.shape[3]
        for v in range(data.shape[3]):
            np.testing.assert_array_equal(index.fetch(v), positive(data[..., v]))
        np.testing.assert_array_equal(index.bboxes, from_c.bboxes)
        assert index.num_entries == np.count_nonzero(data > 0)


def test_add_img_after_a_build_merges_lazily():
    data = sparse_maps(np.random.default_rng(1), shape=(6, 5, 4, 6))
    index = SparseIndex.from_4d(data[..., :3], AFFINE)
    assert index.fetch(2).shape == (6, 5, 4)  # the index is built and used
    index.add_img(data[..., 3], AFFINE)
    index.add_4d(data[..., 4:], AFFINE)
    assert index.num_volumes == 6
    for v in range(6):
        np.testing.assert_array_equal(index.fetch(v), positive(data[..., v]))
    volumes = index.volumes
    rows = np.repeat(np.arange(index.num_mapped_voxels), np.diff(index.indptr))
    assert np.all((np.diff(rows) > 0) | (np.diff(volumes) > 0))  # sorted within rows


def test_add_img_to_a_memory_mapped_index(tmp_path):
    data = np.asfortranarray(sparse_maps(np.random.default_rng(11), shape=(5, 4, 6, 3)))
    first_two = SparseIndex.from_4d(data[..., :2], AFFINE)
    save_folder(first_two, tmp_path / "index")
    index = load_folder(tmp_path / "index")
    index.add_img(data[..., 2], AFFINE)
    assert index.num_volumes == 3 and not isinstance(index.voxels, np.memmap)
    for v in range(3):
        np.testing.assert_array_equal(index.fetch(v), positive(data[..., v]))
    assert_same_index(load_folder(tmp_path / "index"), first_two)  # file untouched


def test_large_index_chunks_its_4d_build(monkeypatch):
    monkeypatch.setattr("neuratlas.volumes.sparse.index._CHUNK_ELEMENTS", 100)
    data = sparse_maps(np.random.default_rng(2), shape=(7, 6, 5, 9))
    for layout in (np.ascontiguousarray, np.asfortranarray):
        index = SparseIndex.from_4d(layout(data), AFFINE)
        for v in range(9):
            np.testing.assert_array_equal(index.fetch(v), positive(data[..., v]))


@pytest.mark.parametrize(
    ("source", "stored"),
    [
        (np.array([3, 200, 17], dtype=np.uint8), np.float32),
        (np.array([0.5, 0.25, 0.125]), np.float32),  # float64 values float32 holds
        (np.array([0.1, 0.2, 0.3]), np.float64),  # float64 values it does not
        (np.array([1, 2**24 + 1, 5], dtype=np.int32), np.int32),
        (np.array([True, True, False]), np.float32),
        (np.array([0.5, 1, 2], dtype=np.float16), np.float32),
    ],
)
def test_values_stored_as_float32_unless_that_loses_precision(source, stored):
    volume = np.zeros((3, 2, 2), dtype=source.dtype)
    volume[:, 0, 1] = source
    index = SparseIndex.from_volumes([volume], AFFINE)
    assert index.dtype == stored
    assert index.source_dtype == source.dtype
    fetched = index.fetch(0)
    assert fetched.dtype == source.dtype
    np.testing.assert_array_equal(fetched, volume)
    assert index.fetch(0, dtype=np.float64).dtype == np.float64


def test_mixed_source_dtypes_promote_without_loss():
    small = np.zeros((2, 2, 2), dtype=np.uint8)
    small[0, 0, 0] = 7
    precise = np.zeros((2, 2, 2))
    precise[1, 1, 1] = 0.1
    index = SparseIndex.from_volumes([small, precise], AFFINE)
    assert index.dtype == np.float64 and index.source_dtype == np.float64
    assert index.fetch(0)[0, 0, 0] == 7 and index.fetch(1)[1, 1, 1] == 0.1


def test_mixing_dtypes_that_cannot_share_one_exact_type_is_refused():
    big = np.zeros((2, 2, 2), dtype=np.int64)
    big[0, 0, 0] = 2**60 + 1
    fraction = np.zeros((2, 2, 2))
    fraction[0, 0, 1] = 0.1
    index = SparseIndex()
    index.add_img(big, AFFINE)
    index.add_img(fraction, AFFINE)
    with pytest.raises(ImageError, match="without losing precision"):
        index.fetch(0)


def test_nan_negative_and_zero_are_background_inf_is_kept():
    volume = np.array([np.nan, -1.0, 0.0, 0.5, np.inf, -np.inf]).reshape(1, 2, 3)
    index = SparseIndex.from_volumes([volume], AFFINE)
    np.testing.assert_array_equal(index.fetch(0).ravel(), [0, 0, 0, 0.5, np.inf, 0])
    np.testing.assert_array_equal(index.coords(0), [[0, 0], [1, 1], [0, 1]])


def test_empty_volume_keeps_its_index_with_an_empty_box():
    data = np.zeros((3, 3, 3, 3), dtype=np.float32)
    data[1, 1, 1, 0] = 0.2
    data[2, 0, 1, 2] = 0.4
    index = SparseIndex.from_4d(data, AFFINE)
    assert index.num_volumes == 3
    np.testing.assert_array_equal(index.bboxes[1], [[0, 0, 0], [-1, -1, -1]])
    assert index.coords(1).shape == (3, 0)
    assert not index.fetch(1).any()
    np.testing.assert_array_equal(index.fetch(2), data[..., 2])
    x, y, z, v = index.mapped_voxels(1)
    assert x.size == y.size == z.size == v.size == 0


def test_all_empty_index_is_usable():
    index = SparseIndex.from_4d(np.zeros((2, 3, 4, 2)), AFFINE)
    assert index.max() == -1 and index.num_mapped_voxels == 0
    assert not index.max_label_map().any()
    assert index.values_at(np.array([[0, 0, 0]]))[0].size == 0
    assert not index.fetch(1).any()


def test_a_new_index_is_empty_and_says_so():
    index = SparseIndex()
    assert index.num_volumes == 0 and index.shape is None and index.affine is None
    assert index.max() == -1
    assert repr(index) == "SparseIndex(empty)"
    assert index.values_at(np.zeros((2, 3), dtype=int))[0].size == 0
    with pytest.raises(ImageError, match="this sparse index is empty"):
        index.voxels  # noqa: B018
    with pytest.raises(ImageError, match="cannot save an empty sparse index"):
        save_folder(index, Path(tempfile.gettempdir()) / "never-written")
    with pytest.raises(NotFoundError, match="holds 0 volumes"):
        index.fetch(0)


# ---------------------------------------------------------------- bad input


def test_image_on_another_grid_shape_is_refused():
    index = SparseIndex.from_volumes([np.ones((3, 3, 3))], AFFINE)
    with pytest.raises(ImageError, match=r"volume 1 has shape \(3, 3, 4\).*\(3, 3, 3\)"):
        index.add_img(np.ones((3, 3, 4)), AFFINE)
    with pytest.raises(ImageError, match=r"shape \(3, 3, 4\)"):
        index.add_4d(np.ones((3, 3, 4, 2)), AFFINE)


def test_image_on_another_grid_affine_is_refused():
    index = SparseIndex.from_volumes([np.ones((3, 3, 3))], AFFINE)
    shifted = AFFINE.copy()
    shifted[0, 3] += 1
    with pytest.raises(ImageError, match="volume 1 has affine") as info:
        index.add_img(np.ones((3, 3, 3)), shifted)
    assert "resample" in str(info.value)
    index.add_img(np.ones((3, 3, 3)), AFFINE.astype(np.float32))  # rounding is fine
    assert index.num_volumes == 2


@pytest.mark.parametrize(
    ("image", "message"),
    [
        (np.ones((3, 3)), r"must be 3D, got shape \(3, 3\)"),
        (np.ones((3, 3, 3, 2)), r"must be 3D, got shape \(3, 3, 3, 2\)"),
        (np.zeros((0, 3, 3)), "has no voxels"),
        (np.ones((2, 2, 2), dtype=complex), "must hold real numbers, got dtype complex128"),
        (np.full((2, 2, 2), "a"), "must hold real numbers"),
    ],
)
def test_unusable_images_are_refused(image, message):
    with pytest.raises(ImageError, match=message):
        SparseIndex().add_img(image, AFFINE)


def test_trailing_singleton_axes_are_dropped():
    index = SparseIndex()
    index.add_img(np.ones((2, 2, 2, 1)), AFFINE)
    assert index.shape == (2, 2, 2)


@pytest.mark.parametrize(
    ("affine", "message"), [(np.eye(3), r"4x4 matrix, got shape \(3, 3\)"), ("x", "not numeric")]
)
def test_bad_affines_are_refused(affine, message):
    with pytest.raises(ImageError, match=message):
        SparseIndex().add_img(np.ones((2, 2, 2)), affine)


def test_from_4d_needs_four_dimensions():
    with pytest.raises(ImageError, match=r"4D image must be 4D, got shape \(2, 2, 2\)"):
        SparseIndex.from_4d(np.ones((2, 2, 2)), AFFINE)


@pytest.mark.parametrize("volume", [-1, 2, np.int64(2)])
def test_fetch_of_a_volume_that_is_not_there(volume):
    index = SparseIndex.from_4d(np.ones((2, 2, 2, 2)), AFFINE)
    with pytest.raises(
        NotFoundError, match=rf"volume {volume} is not in .* holds 2 volumes \(0..1\)"
    ):
        index.fetch(volume)
    with pytest.raises(NotFoundError):
        index.coords(volume)
    with pytest.raises(NotFoundError):
        index.mapped_voxels(volume)


@pytest.mark.parametrize("volume", [1.0, "0", True, None, np.float32(0)])
def test_a_volume_that_is_not_an_integer_is_a_type_error(volume):
    index = SparseIndex.from_4d(np.ones((2, 2, 2, 2)), AFFINE)
    for query in (index.fetch, index.coords, index.mapped_voxels):
        with pytest.raises(ArgumentTypeError, match="volume must be an integer index") as info:
            query(volume)
        assert isinstance(info.value, TypeError) and not isinstance(info.value, NotFoundError)
        assert "int(volume)" in str(info.value)  # says what to do


def test_numpy_integers_are_volume_indices():
    data = sparse_maps(np.random.default_rng(12), shape=(3, 3, 3, 2))
    index = SparseIndex.from_4d(data, AFFINE)
    for kind in (np.int8, np.uint16, np.int64):
        np.testing.assert_array_equal(index.fetch(kind(1)), positive(data[..., 1]))


@pytest.mark.parametrize(
    "points", [np.zeros((4, 2), dtype=int), np.zeros(3, dtype=int), np.zeros((2, 3))]
)
def test_values_at_needs_integer_n_by_3(points):
    index = SparseIndex.from_4d(np.ones((2, 2, 2, 2)), AFFINE)
    with pytest.raises(ImageError, match=r"integer array of shape \(N, 3\)"):
        index.values_at(points)


# ----------------------------------------------------------------- queries


def test_values_at_skips_points_outside_and_orders_results():
    data = np.zeros((3, 3, 3, 3), dtype=np.float32)
    data[0, 0, 0] = [0.1, 0, 0.3]
    data[2, 2, 2] = [0, 0.5, 0]
    index = SparseIndex.from_4d(data, AFFINE)
    points = np.array([[2, 2, 2], [-1, 0, 0], [0, 0, 0], [3, 0, 0], [1, 1, 1], [0, 0, 0]])
    point, volume, value = index.values_at(points)
    np.testing.assert_array_equal(point, [0, 2, 2, 5, 5])
    np.testing.assert_array_equal(volume, [1, 0, 2, 0, 2])
    np.testing.assert_array_equal(value, np.float32([0.5, 0.1, 0.3, 0.1, 0.3]))
    empty = index.values_at(np.zeros((0, 3), dtype=np.int64))
    assert all(a.size == 0 for a in empty)


def test_max_label_map_threshold_and_ties():
    data = np.zeros((2, 1, 1, 3), dtype=np.float32)
    data[0, 0, 0] = [0.5, 0.5, 0.125]  # tie: lowest volume wins
    data[1, 0, 0] = [0.0, 0.25, 0.375]
    index = SparseIndex.from_4d(data, AFFINE)
    np.testing.assert_array_equal(index.max_label_map()[:, 0, 0], [1, 3])
    np.testing.assert_array_equal(index.max_label_map(0.375)[:, 0, 0], [1, 0])  # not > 0.375
    np.testing.assert_array_equal(index.max_label_map(0.5)[:, 0, 0], [0, 0])
    assert index.max_label_map().dtype == np.int32


def test_siibra_style_accessors():
    data = sparse_maps(np.random.default_rng(3), shape=(5, 6, 7, 3))
    index = SparseIndex.from_4d(data, AFFINE)
    for v in range(3):
        coords = index.coords(v)
        assert coords.shape[0] == 3 and coords.dtype.kind == "i"
        np.testing.assert_array_equal(coords, np.array(np.nonzero(data[..., v] > 0)))
        x, y, z, values = index.mapped_voxels(v)
        np.testing.assert_array_equal(values, data[x, y, z, v])
    assert index.max() == np.count_nonzero((data > 0).any(axis=3)) - 1
    assert index.max() == index.voxels.max()


def test_repr_and_nbytes_describe_the_index():
    data = sparse_maps(np.random.default_rng(4), shape=(10, 10, 10, 4))
    index = SparseIndex.from_4d(data, AFFINE)
    text = repr(index)
    assert "4 volumes on a 10x10x10 grid" in text
    assert f"{np.count_nonzero((data > 0).any(axis=3)):,} mapped voxels" in text
    assert f"{np.count_nonzero(data > 0):,} values (float32)" in text
    rows = index.num_mapped_voxels
    assert index.nbytes == 4000 + 8 * (rows + 1) + 6 * index.num_entries + 4 * 2 * 3 * 8


def test_stored_arrays_are_read_only():
    index = SparseIndex.from_4d(np.ones((2, 2, 2, 2)), AFFINE)
    with pytest.raises(ValueError, match="read-only"):
        index.values[0] = 5


# ------------------------------------------------------------- hypothesis

small_maps = st.tuples(
    st.integers(1, 5), st.integers(1, 5), st.integers(1, 5), st.integers(1, 4)
).flatmap(
    lambda shape: st.sampled_from(["uint8", "int16", "float32", "float64"]).flatmap(
        lambda dtype: hnp.arrays(
            dtype,
            shape,
            elements=st.sampled_from([0, 0, 0, 1, 3, 255 if dtype == "uint8" else -2])
            if dtype in ("uint8", "int16")
            else st.sampled_from([0.0, 0.0, 0.0, 0.25, 0.7, 1.0, -0.5, 1e-3, 0.1]),
        )
    )
)


def reference_labels(data: np.ndarray, threshold: float) -> np.ndarray:
    clean = positive(data).astype(np.float64)
    peak = clean.max(axis=3)
    return np.where(peak > threshold, np.argmax(clean, axis=3) + 1, 0)


@settings(max_examples=150, deadline=None)
@given(data=small_maps, threshold=st.sampled_from([0.0, 0.1, 0.5, 1.0]))
def test_random_maps_round_trip_and_queries(data, threshold):
    for layout in (np.ascontiguousarray, np.asfortranarray):
        index = SparseIndex.from_4d(layout(data), AFFINE)
        for v in range(data.shape[3]):
            fetched = index.fetch(v)
            assert fetched.dtype == data.dtype
            np.testing.assert_array_equal(fetched, positive(data[..., v]))
            np.testing.assert_array_equal(index.coords(v), np.array(np.nonzero(data[..., v] > 0)))
            found = np.argwhere(data[..., v] > 0)
            if found.size:
                np.testing.assert_array_equal(index.bboxes[v], [found.min(0), found.max(0)])
        np.testing.assert_array_equal(
            index.max_label_map(threshold), reference_labels(data, threshold)
        )
        everything = np.argwhere(np.ones(data.shape[:3], dtype=bool))
        point, volume, value = index.values_at(everything)
        dense = np.zeros(data.shape, dtype=np.float64)
        dense[(*everything[point].T, volume)] = value
        np.testing.assert_array_equal(dense, positive(data))


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=small_maps)
def test_random_maps_survive_every_file_format(data):
    index = SparseIndex.from_4d(data, AFFINE)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        assert_same_index(load_folder(save_folder(index, folder / "npy")), index)
        assert_same_index(load_folder(folder / "npy", mmap=False), index)
        assert_same_index(load_zip(save_zip(index, folder / "i.zip")), index)
        save_siibra_v1(index, folder, "maps")
        v1 = load_siibra_v1(folder / "maps")
        assert v1.num_volumes == index.num_volumes
        assert_same_content(v1, index)
        for v in range(index.num_volumes):
            np.testing.assert_array_equal(v1.fetch(v), positive(data[..., v]))


# ------------------------------------------------- many volumes: int32 indices


def test_more_volumes_than_int16_holds_are_numbered_in_int32():
    data, index = many_volumes_index()
    assert volume_dtype(32_767) == np.int16 and volume_dtype(32_768) == np.int32
    assert index.num_volumes == data.shape[3] and index.volumes.dtype == np.int32
    assert index.volumes.max() == data.shape[3] - 1
    for v in (0, 3, 32_767, data.shape[3] - 1):
        np.testing.assert_array_equal(index.fetch(v), data[..., v])
    labels = index.max_label_map()
    assert labels[0, 0, 0] == 1 and labels[1, 0, 0] == data.shape[3]
    _, volume, value = index.values_at(np.array([[1, 0, 0]]))
    assert volume.tolist() == [data.shape[3] - 1] and value.tolist() == [9]


def test_adding_past_int16_widens_the_stored_volumes():
    index = SparseIndex.from_4d(np.ones((1, 1, 1, 32_767), dtype=np.uint8), AFFINE)
    assert index.volumes.dtype == np.int16
    index.add_img(np.full((1, 1, 1), 2, dtype=np.uint8), AFFINE)
    assert index.volumes.dtype == np.int32 and index.num_volumes == 32_768
    assert index.fetch(32_767)[0, 0, 0] == 2 and index.fetch(0)[0, 0, 0] == 1


# ------------------------------------------------------------ helpers


def test_order_follows_the_first_image():
    data = sparse_maps(np.random.default_rng(13), shape=(4, 3, 2, 2))
    assert SparseIndex.from_4d(np.ascontiguousarray(data), AFFINE).order == "C"
    fortran = SparseIndex.from_4d(np.asfortranarray(data), AFFINE)
    assert fortran.order == "F" and fortran.voxels.flags.f_contiguous
    assert SparseIndex().order == "C"


def test_compact_values_keeps_precision():
    exact = np.array([0.5, 2.0])
    assert compact_values(exact).dtype == np.float32
    inexact = np.array([0.1])
    assert compact_values(inexact) is inexact
    single = np.array([0.1], dtype=np.float32)
    assert compact_values(single) is single
    big = np.array([2**24 + 1], dtype=np.int64)
    assert compact_values(big).dtype == np.int64


def test_require_grid_names_the_action():
    require_grid(SparseIndex.from_4d(np.ones((1, 1, 1, 1)), AFFINE), "save")
    with pytest.raises(ImageError, match="cannot write an empty sparse index: add an image"):
        require_grid(SparseIndex(), "write")


# ------------------------------------------------- public constructors


def parts_of(index: SparseIndex) -> dict:
    return {
        "voxels": index.voxels,
        "indptr": index.indptr,
        "volumes": index.volumes,
        "values": index.values,
        "bboxes": index.bboxes,
        "affine": index.affine,
    }


@pytest.mark.parametrize("layout", [np.ascontiguousarray, np.asfortranarray])
def test_from_arrays_rebuilds_an_index_without_copying(layout):
    data = sparse_maps(np.random.default_rng(14), shape=(6, 5, 4, 3), dtype="uint8")
    index = SparseIndex.from_4d(layout(data), AFFINE)
    parts = {name: np.array(a, order="K") for name, a in parts_of(index).items()}
    rebuilt = SparseIndex.from_arrays(**parts, source_dtype=index.source_dtype)
    assert_same_index(rebuilt, index)
    assert rebuilt.order == index.order
    assert np.shares_memory(rebuilt.values, parts["values"])  # no copy
    with pytest.raises(ValueError, match="read-only"):
        rebuilt.values[0] = 5
    parts["values"][0] = parts["values"][0]  # the caller's own array stays writeable
    for v in range(3):
        np.testing.assert_array_equal(rebuilt.fetch(v), positive(data[..., v]))
    assert rebuilt.fetch(0).dtype == np.uint8
    assert SparseIndex.from_arrays(**parts).source_dtype is None


def test_from_arrays_of_an_all_empty_index():
    index = SparseIndex.from_4d(np.zeros((2, 2, 2, 3)), AFFINE)
    rebuilt = SparseIndex.from_arrays(**parts_of(index))
    assert rebuilt.num_volumes == 3 and rebuilt.max() == -1
    assert not rebuilt.fetch(2).any()


def broken(name: str, value) -> dict:
    index = SparseIndex.from_4d(sparse_maps(np.random.default_rng(15), shape=(4, 4, 4, 2)), AFFINE)
    parts = parts_of(index)
    parts[name] = value(parts[name]) if callable(value) else value
    return parts


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("voxels", lambda a: a.astype(np.int64), "voxels must be a 3D int32 grid, got int64"),
        ("voxels", lambda a: a[..., 0], r"voxels must be a 3D int32 grid.*\(4, 4\)"),
        ("voxels", lambda a: a[::2], "neither C- nor Fortran-contiguous"),
        ("indptr", lambda a: a[:-1], "indptr must be an int64 array from 0 to the"),
        ("indptr", lambda a: a.astype(np.int32), "indptr must be an int64 array"),
        ("volumes", lambda a: a.astype(np.int32), "volumes must be a 1D int16 array for 2"),
        ("values", lambda a: a[:-1], "values must be real numbers, one per entry"),
        ("values", lambda a: a.astype(complex), "values must be real numbers"),
        ("bboxes", lambda a: a[:, 0], r"bboxes must be an int64 array of shape \(V, 2, 3\)"),
        ("affine", np.eye(3), r"affine of the sparse index must be a finite 4x4 matrix"),
        ("affine", "x", "affine of the sparse index is not numeric"),
    ],
)
def test_from_arrays_refuses_inconsistent_arrays(name, value, message):
    with pytest.raises(ImageError, match=message) as info:
        SparseIndex.from_arrays(**broken(name, value))
    assert info.value.hint  # says what to do


def test_from_entries_rebuilds_an_index_from_sorted_entries():
    data = sparse_maps(np.random.default_rng(16), shape=(5, 4, 3, 3))
    index = SparseIndex.from_4d(np.asfortranarray(data), AFFINE)
    keys = np.repeat(np.flatnonzero(np.ravel(index.voxels, order="F") >= 0), np.diff(index.indptr))
    rebuilt = SparseIndex.from_entries(
        keys,
        index.volumes.astype(np.int64),
        index.values,
        shape=index.shape,
        affine=AFFINE,
        bboxes=index.bboxes,
        order="F",
        source_dtype=np.float32,
    )
    assert_same_index(rebuilt, index)
    empty = SparseIndex.from_entries(
        np.zeros(0, int),
        np.zeros(0, int),
        np.zeros(0),
        shape=(2, 2, 2),
        affine=AFFINE,
        bboxes=np.zeros((1, 2, 3), int),
    )
    assert empty.num_volumes == 1 and empty.max() == -1 and empty.dtype == np.float64


@pytest.mark.parametrize(
    ("keys", "volumes", "message"),
    [
        ([3, 1], [0, 0], "not sorted by"),
        ([1, 1], [1, 0], "not sorted by"),
        ([1, 1], [0, 0], "repeat a"),
        ([-1, 1], [0, 0], "point outside"),
        ([1, 8], [0, 0], r"point outside the \(2, 2, 2\) grid"),
        ([1, 2], [0, 2], "or the 2 volumes"),
        ([1, 2], [0], "must be 1D and of one length"),
        ([1.0, 2.0], [0, 1], "keys and volumes must be integers"),
        (np.array([3, 1], dtype=np.uint64), [0, 0], "not sorted by"),
    ],
)
def test_from_entries_refuses_bad_entries(keys, volumes, message):
    with pytest.raises(ImageError, match=message) as info:
        SparseIndex.from_entries(
            np.array(keys),
            np.array(volumes),
            np.ones(2),
            shape=(2, 2, 2),
            affine=AFFINE,
            bboxes=np.zeros((2, 2, 3), int),
        )
    assert info.value.hint


def test_from_entries_needs_a_3d_shape_and_bounding_boxes():
    for shape, boxes in (((2, 2), (1, 2, 3)), ((2, 0, 2), (1, 2, 3)), ((2, 2, 2), (1, 6))):
        with pytest.raises(ImageError, match="needs a 3D grid shape"):
            SparseIndex.from_entries(
                np.zeros(0, int),
                np.zeros(0, int),
                np.zeros(0),
                shape=shape,
                affine=AFFINE,
                bboxes=np.zeros(boxes, int),
            )


def test_from_entries_needs_a_memory_order():
    with pytest.raises(ArgumentError, match="order must be 'C' or 'F', got 'A'"):
        SparseIndex.from_entries(
            np.zeros(0, int),
            np.zeros(0, int),
            np.zeros(0),
            shape=(2, 2, 2),
            affine=AFFINE,
            bboxes=np.zeros((1, 2, 3), int),
            order="A",
        )
