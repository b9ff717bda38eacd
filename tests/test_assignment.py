"""Assignment of points, Gaussian blobs and images, checked against dense NumPy."""

from __future__ import annotations

import nibabel as nib
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from neuratlas.assignment import COLUMNS, Sums, overlap_columns
from neuratlas.errors import Error, ImageError, SpaceMismatchError
from neuratlas.locations.point import Point
from neuratlas.locations.pointcloud import PointCloud

from toy_atlas import AFFINE, LEAVES, SHAPE, label_volume, probability_volumes


def dense_columns(i_map: np.ndarray, m_map: np.ndarray) -> dict[str, float]:
    """Each column straight from its definition, over whole arrays."""
    union = (i_map > 0) | (m_map > 0)
    a, b = i_map[union], m_map[union]
    corr = np.corrcoef(a, b)[0, 1] if a.std() > 0 and b.std() > 0 else np.nan
    return {
        "intersection over union": np.minimum(i_map, m_map).sum() / np.maximum(i_map, m_map).sum(),
        "correlation": corr,
        "map weighted mean": (i_map * m_map).sum() / m_map.sum(),
        "map containedness": np.minimum(i_map, m_map).sum() / m_map.sum(),
        "input weighted mean": (i_map * m_map).sum() / i_map.sum(),
        "input containedness": np.minimum(i_map, m_map).sum() / i_map.sum(),
    }


def sums_of(i_map: np.ndarray, m_map: np.ndarray) -> Sums:
    one = lambda v: np.array([float(v)])  # noqa: E731
    return Sums(
        s_i=one(i_map.sum()),
        s_i2=one((i_map**2).sum()),
        n_i=one((i_map > 0).sum()),
        s_m=one(m_map.sum()),
        s_m2=one((m_map**2).sum()),
        n_m=one((m_map > 0).sum()),
        s_im=one((i_map * m_map).sum()),
        s_min=one(np.minimum(i_map, m_map).sum()),
        n_im=one(((i_map > 0) & (m_map > 0)).sum()),
    )


@settings(max_examples=60, deadline=None)
@given(st.integers(0, 2**31 - 1), st.floats(0.05, 0.9), st.booleans())
def test_overlap_columns_match_their_definitions(seed: int, density: float, binary: bool) -> None:
    rng = np.random.default_rng(seed)
    i_map = rng.random((6, 5, 4)) * (rng.random((6, 5, 4)) < density)
    m_map = rng.random((6, 5, 4)) * (rng.random((6, 5, 4)) < density)
    if binary:
        i_map, m_map = (i_map > 0).astype(float), (m_map > 0).astype(float)
    if not i_map.any() or not m_map.any():
        return
    got = overlap_columns(sums_of(i_map, m_map))
    for name, expected in dense_columns(i_map, m_map).items():
        np.testing.assert_allclose(got[name][0], expected, rtol=1e-9, atol=1e-12, err_msg=name)


def test_binary_columns_are_plain_set_ratios() -> None:
    i_map = np.zeros((4, 4, 4))
    m_map = np.zeros((4, 4, 4))
    i_map[:2] = 1  # 32 voxels
    m_map[1:] = 1  # 48 voxels, 16 shared
    got = {k: v[0] for k, v in overlap_columns(sums_of(i_map, m_map)).items()}
    assert got["intersection over union"] == pytest.approx(16 / 64)
    assert got["input containedness"] == pytest.approx(16 / 32)
    assert got["map containedness"] == pytest.approx(16 / 48)


# --- points ------------------------------------------------------------------------
def random_points(n: int, seed: int = 1) -> np.ndarray:
    rng = np.random.default_rng(seed)
    lo = AFFINE[:3, 3] - 4
    hi = AFFINE[:3, 3] + np.array(SHAPE) * 2 + 4  # some points fall outside the grid
    return rng.uniform(lo, hi, (n, 3))


def voxel_of(coords: np.ndarray) -> np.ndarray:
    inv = np.linalg.inv(AFFINE)
    return np.rint(coords @ inv[:3, :3].T + inv[:3, 3]).astype(int)


def test_thousands_of_points_on_a_labelled_map_match_a_dense_lookup(toy) -> None:
    the_map = toy.get_map("toy", "toy", "labelled")
    coords = random_points(5000)
    table = the_map.assign(PointCloud(coords, toy.spaces["toy"]))
    labels = label_volume()
    ijk = voxel_of(coords)
    inside = np.all((ijk >= 0) & (ijk < SHAPE), axis=1)
    expected = {}
    for n in np.flatnonzero(inside):
        label = labels[tuple(ijk[n])]
        if label:
            expected[n] = LEAVES[label - 1]
    assert list(table.columns) == COLUMNS
    assert (
        dict(zip(table["input structure"], table["region"].astype(str), strict=True)) == expected
    )
    assert (table["map value"] == 1).all()
    assert len(table) == len(expected)


def test_points_on_a_statistical_map_give_every_nonzero_probability(toy) -> None:
    the_map = toy.get_map("toy", "toy", "statistical")
    coords = random_points(3000, seed=7)
    table = the_map.assign(PointCloud(coords, toy.spaces["toy"]))
    probs = probability_volumes().astype(np.float32) * np.float32(0.01)
    ijk = voxel_of(coords)
    expected = set()
    for n, v in enumerate(ijk):
        if np.all((v >= 0) & (v < SHAPE)):
            for z in np.flatnonzero(probs[tuple(v)]):
                expected.add((n, LEAVES[z], float(probs[(*v, z)])))
    got = {
        (s, str(r), float(np.float32(m)))
        for s, r, m in zip(
            table["input structure"], table["region"], table["map value"], strict=True
        )
    }
    assert got == expected


def test_lower_threshold_drops_small_map_values(toy) -> None:
    the_map = toy.get_map("toy", "toy", "statistical")
    coords = random_points(2000, seed=3)
    table = the_map.assign(PointCloud(coords, toy.spaces["toy"]), lower_threshold=0.3)
    assert len(table) and (table["map value"] > 0.3).all()


def test_a_single_exact_point(toy) -> None:
    the_map = toy.get_map("toy", "toy", "labelled")
    centre = AFFINE[:3, :3] @ np.array([4, 5, 4]) + AFFINE[:3, 3]  # inside Area A left
    table = the_map.assign(Point(centre, toy.spaces["toy"]))
    assert list(table["region"].astype(str)) == ["Area A - left hemisphere"]
    assert table["volume"][0] == 0
    np.testing.assert_allclose(table["centroid"][0], centre)


def test_points_outside_the_grid_give_no_rows_and_no_error(toy) -> None:
    the_map = toy.get_map("toy", "toy", "labelled")
    table = the_map.assign(PointCloud([[500.0, 500, 500], [-500, 0, 0]], toy.spaces["toy"]))
    assert len(table) == 0 and list(table.columns) == COLUMNS


def test_points_in_another_space_are_refused(toy) -> None:
    class OtherSpace:
        id, name = "other/space", "Other space"

    cloud = PointCloud([[0.0, 0, 0]])
    cloud.space = OtherSpace()
    with pytest.raises(SpaceMismatchError, match="Other space"):
        toy.get_map("toy", "toy", "labelled").assign(cloud)


# --- Gaussian blobs and images: dense reference --------------------------------------
def grid_mm() -> np.ndarray:
    ijk = np.stack(np.meshgrid(*[np.arange(n) for n in SHAPE], indexing="ij"), -1)
    return ijk @ AFFINE[:3, :3].T + AFFINE[:3, 3]


def region_maps(kind: str) -> list[np.ndarray]:
    if kind == "labelled":
        labels = label_volume()
        return [(labels == k + 1).astype(float) for k in range(len(LEAVES))]
    probs = probability_volumes().astype(np.float32) * np.float32(0.01)
    return [probs[..., k].astype(float) for k in range(len(LEAVES))]


def check_against_dense(table, structures: dict[int, np.ndarray], kind: str) -> None:
    maps = region_maps(kind)
    rows = 0
    for number, i_map in structures.items():
        for k, m_map in enumerate(maps):
            if not ((i_map > 0) & (m_map > 0)).any():
                continue
            rows += 1
            row = table[(table["input structure"] == number) & (table["region"] == LEAVES[k])]
            assert len(row) == 1, (number, LEAVES[k])
            for name, expected in dense_columns(i_map, m_map).items():
                np.testing.assert_allclose(
                    row[name].iloc[0],
                    expected,
                    rtol=1e-5,
                    atol=1e-9,
                    err_msg=f"{name} {LEAVES[k]}",
                )
    assert rows == len(table)


@pytest.mark.parametrize("kind", ["labelled", "statistical"])
def test_gaussian_blob_columns_match_a_dense_computation(toy, kind: str) -> None:
    the_map = toy.get_map("toy", "toy", kind)
    centre = np.array([-10.0, -6.0, -4.0])
    sigma = 3.0
    table = the_map.assign(Point(centre, toy.spaces["toy"], sigma_mm=sigma))
    d2 = ((grid_mm() - centre) ** 2).sum(-1)
    blob = np.where(d2 <= (3 * sigma) ** 2, np.exp(-d2 / (2 * sigma**2)), 0.0)
    check_against_dense(table, {0: blob}, kind)
    assert table["volume"].iloc[0] == pytest.approx((blob > 0).sum() * 8.0)


@pytest.mark.parametrize("kind", ["labelled", "statistical"])
def test_image_components_match_a_dense_computation(toy, kind: str) -> None:
    the_map = toy.get_map("toy", "toy", kind)
    rng = np.random.default_rng(5)
    image = np.zeros(SHAPE, dtype=np.float32)
    image[3:9, 4:12, 3:9] = rng.uniform(0.2, 3.0, (6, 8, 6))  # overlaps Area A left, Nucleus C
    image[13:16, 15:18, 9:12] = 1.0  # inside Area B right
    image[0, 0, 0] = np.nan  # NaN counts as no data
    table = the_map.assign(nib.Nifti1Image(image, AFFINE))
    clean = np.nan_to_num(image)
    first = np.zeros(SHAPE)
    first[3:9, 4:12, 3:9] = clean[3:9, 4:12, 3:9]
    second = np.zeros(SHAPE)
    second[13:16, 15:18, 9:12] = 1.0
    check_against_dense(table, {0: first, 1: second}, kind)
    assert set(table["input structure"]) == {0, 1}


def test_an_image_on_another_grid_is_resampled_first(toy) -> None:
    the_map = toy.get_map("toy", "toy", "labelled")
    fine = np.eye(4)
    fine[:3, 3] = AFFINE[:3, 3] - 0.5  # 1 mm grid, voxel centres between the 2 mm ones
    mask = np.zeros((40, 48, 32), dtype=np.uint8)
    mask[5:15, 5:19, 5:15] = 1
    table = the_map.assign(nib.Nifti1Image(mask, fine))
    assert "Area A - left hemisphere" in set(table["region"].astype(str))


def test_empty_and_malformed_images_raise(toy) -> None:
    the_map = toy.get_map("toy", "toy", "labelled")
    with pytest.raises(ImageError, match="no positive value"):
        the_map.assign(nib.Nifti1Image(np.zeros(SHAPE, np.float32), AFFINE))
    with pytest.raises(ImageError, match="no positive value"):
        the_map.assign(nib.Nifti1Image(np.full(SHAPE, np.nan, np.float32), AFFINE))
    with pytest.raises(ImageError, match="3D"):
        the_map.assign(nib.Nifti1Image(np.ones((*SHAPE, 2), np.float32), AFFINE))
    with pytest.raises(Error, match="cannot assign a str"):
        the_map.assign("somewhere")


# --- related regions -------------------------------------------------------------------
@pytest.fixture
def toy_with_local_v1(toy_folder, tmp_path):
    """The toy configuration with version 1's map pointing to a local copy of the labels."""
    import json
    import shutil

    from neuratlas.catalogue import Catalogue

    folder = tmp_path / "toy"
    shutil.copytree(toy_folder, folder)
    spec_file = folder / "maps" / "toy-v1-remote.json"
    spec = json.loads(spec_file.read_text())
    spec["volumes"][0]["providers"]["nii"] = "../data/labels.nii.gz"
    spec_file.write_text(json.dumps(spec))
    return Catalogue([folder], strict=True)


def test_related_regions_of_an_identical_version_are_exact(toy_with_local_v1) -> None:
    region = toy_with_local_v1.parcellations["toy v2"].get_region("Area B left")
    relations = region.get_related_regions()
    assert [r.region.name for r in relations] == ["Area B - left hemisphere"]
    (relation,) = relations
    assert relation.region.parcellation.version == "1"
    assert relation.qualification == "EXACT"
    assert relation.intersection_over_union == pytest.approx(1.0)


def test_a_group_contains_its_leaves_in_the_other_version(toy_with_local_v1) -> None:
    area = toy_with_local_v1.parcellations["toy v2"].get_region("Area A")
    relations = {r.region.name: r for r in area.get_related_regions()}
    assert set(relations) == {"Area A - left hemisphere", "Area A - right hemisphere"}
    labels = label_volume()
    for k, name in enumerate(("Area A - left hemisphere", "Area A - right hemisphere")):
        relation = relations[name]
        assert relation.qualification == "CONTAINS"
        assert relation.contains == pytest.approx(1.0)
        expected = (labels == k + 1).sum() / np.isin(labels, [1, 2]).sum()
        assert relation.contained == pytest.approx(expected)
        assert relation.intersection_over_union == pytest.approx(expected)


def test_an_unreachable_map_is_skipped_with_a_warning(toy) -> None:
    region = toy.parcellations["toy v2"].get_region("Area B left")
    with pytest.warns(UserWarning, match="skipped 'Toy remote map'"):
        assert region.get_related_regions() == []


@pytest.mark.parametrize(
    ("qualification", "contained", "contains"),
    [
        ("EXACT", 0.95, 0.92),
        ("CONTAINED", 0.95, 0.3),
        ("CONTAINS", 0.2, 0.9),
        ("OVERLAPS", 0.5, 0.5),
    ],
)
def test_qualification_rule(qualification: str, contained: float, contains: float) -> None:
    from neuratlas.assignment import qualify

    assert qualify(contained, contains) == qualification


@pytest.mark.slow
def test_related_regions_on_the_embedded_atlases() -> None:
    import neuratlas

    hip1 = neuratlas.get_region("juelich", "hIP1 left")
    relations = hip1.get_related_regions()
    names = {r.region.parcellation.short_name for r in relations}
    assert {"AAL3", "HO cortical"} <= names, names
    top = relations[0]
    assert top.region.hemisphere == "left"
    assert "parietal" in top.region.name.lower() or "supramarginal" in top.region.name.lower()
    assert all(0 < r.intersection_over_union <= 1 for r in relations)
    assert all(
        r.qualification in {"EXACT", "CONTAINS", "CONTAINED", "OVERLAPS"} for r in relations
    )
