"""Tests of neuratlas.assignment.assign: points, blobs and images on the toy maps."""

from __future__ import annotations

import nibabel as nib
import numpy as np
import pytest

from neuratlas.assignment import COLUMNS
from neuratlas.errors import Error, ImageError, SpaceMismatchError
from neuratlas.locations.point import Point
from neuratlas.locations.pointcloud import PointCloud
from tests.assignment.reference import dense_columns
from tests.toy_atlas import (
    AFFINE,
    LEAVES,
    PARC_ID,
    SHAPE,
    SPACE_ID,
    label_volume,
    probability_volumes,
)


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


# --- labelled maps derived from probabilities: the map value is the probability -------------
@pytest.fixture(scope="module")
def derived_toy(toy_folder, tmp_path_factory):
    """The toy atlas plus maximum-probability maps derived from its statistical map."""
    import json
    import shutil

    from neuratlas.catalogue import Catalogue

    root = shutil.copytree(toy_folder, tmp_path_factory.mktemp("derived") / "toy")
    for name, threshold in (("mpm", 0.0), ("mpm-25", 0.25)):
        spec = {
            "@id": f"toy/map/{name}",
            "@type": "siibra/map/v0.0.1",
            "name": f"Toy maximum probability map above {threshold}",
            "species": "Homo sapiens",
            "maptype": "labelled",
            "space": {"@id": SPACE_ID},
            "parcellation": {"@id": PARC_ID},
            "volumes": [],
            "indices": {n: [{"volume": 0, "label": k + 1}] for k, n in enumerate(LEAVES)},
            "neuratlas:derived": {"from": "toy/map/statistical", "threshold": threshold},
        }
        (root / "maps" / f"{name}.json").write_text(json.dumps(spec))
    return Catalogue([root], strict=True)


def scaled_probabilities() -> np.ndarray:
    return probability_volumes().astype(np.float32) * np.float32(0.01)


@pytest.mark.parametrize(("map_id", "threshold"), [("toy/map/mpm", 0.0), ("toy/map/mpm-25", 0.25)])
def test_points_on_a_derived_map_carry_the_probability_of_their_label(
    derived_toy, map_id: str, threshold: float
) -> None:
    the_map = derived_toy.maps[map_id]
    coords = random_points(5000, seed=11)
    table = the_map.assign(PointCloud(coords, derived_toy.spaces["toy"]))
    probs = scaled_probabilities()
    expected = {}
    for n, v in enumerate(voxel_of(coords)):
        if np.all((v >= 0) & (v < SHAPE)) and probs[tuple(v)].max() > threshold:
            k = int(probs[tuple(v)].argmax())
            expected[n] = (LEAVES[k], float(probs[(*v, k)]))
    got = {
        int(s): (str(r), float(m))
        for s, r, m in zip(
            table["input structure"], table["region"], table["map value"], strict=True
        )
    }
    assert got == expected  # the map value used to be 1 on every row
    assert 0 < min(m for _, m in got.values()) < 1
    assert table.attrs == {"map": the_map.name, "map id": map_id}


def test_an_image_on_a_derived_map_carries_the_probability_at_its_centroid(derived_toy) -> None:
    mask = np.zeros(SHAPE, dtype=np.uint8)
    mask[3:6, 4:7, 3:6] = 1  # inside Area A left, centroid at voxel (4, 5, 4)
    table = derived_toy.maps["toy/map/mpm"].assign(nib.Nifti1Image(mask, AFFINE))
    assert list(table["region"].astype(str)) == ["Area A - left hemisphere"]
    assert table["map value"][0] == float(scaled_probabilities()[4, 5, 4, 0])
    # the overlap columns still compare the input with the region's mask
    assert table["input containedness"][0] == 1.0


def test_every_assignment_names_the_map_that_answered(toy) -> None:
    the_map = toy.get_map("toy", "toy", "statistical")
    outside = PointCloud([[500.0, 500, 500]], toy.spaces["toy"])
    blob = Point([-10.0, -6.0, -4.0], toy.spaces["toy"], sigma_mm=3.0)
    mask = nib.Nifti1Image((label_volume() == 1).astype(np.uint8), AFFINE)
    for item in (outside, blob, mask, Point([-10.0, -6.0, -4.0], toy.spaces["toy"])):
        table = the_map.assign(item)
        assert table.attrs == {"map": "Toy statistical map", "map id": "toy/map/statistical"}


# --- the same on the embedded Harvard-Oxford subcortical maps ---------------------------------
@pytest.fixture(scope="module")
def harvard_oxford_subcortical():
    """The labelled maps of HO subcortical, and its statistical map (index built once)."""
    from neuratlas.catalogue import active

    catalogue = active()
    maps = {t: catalogue.get_map("ho subcortical", "MNI152 NLin6", threshold=t) for t in (0, 0.25)}
    maps["statistical"] = catalogue.get_map("ho subcortical", "MNI152 NLin6", "statistical")
    return maps


def by_region(table) -> dict[str, float]:
    return dict(zip(table["region"].astype(str), table["map value"], strict=True))


@pytest.mark.slow  # builds the sparse index of Harvard-Oxford (about 6 s)
def test_the_most_probable_region_at_mni_origin_shows_its_probability(
    harvard_oxford_subcortical,
) -> None:
    origin = Point([0.0, 0.0, 0.0], "MNI152 NLin6")
    statistical = harvard_oxford_subcortical["statistical"].assign(origin)
    probability = by_region(statistical)
    assert probability["Thalamus - left hemisphere"] == pytest.approx(0.02)
    labelled = harvard_oxford_subcortical[0].assign(origin)
    assert list(labelled["region"].astype(str)) == ["Thalamus - left hemisphere"]
    # it said 1, as if certain; now the probability, the same as the statistical map's
    assert labelled["map value"][0] == probability["Thalamus - left hemisphere"]
    assert labelled.attrs["map id"].endswith("/maximum-probability")
    # FSL's 25 % map labels nothing there, and says which map answered
    thresholded = harvard_oxford_subcortical[0.25].assign(origin)
    assert len(thresholded) == 0
    assert thresholded.attrs["map"].endswith("(maximum probability map thresholded at 25 %)")


@pytest.mark.slow
def test_a_blob_on_a_derived_map_carries_each_regions_probability_at_its_centre(
    harvard_oxford_subcortical,
) -> None:
    blob = Point([0.0, 0.0, 0.0], "MNI152 NLin6", sigma_mm=4.0)
    statistical = harvard_oxford_subcortical["statistical"].assign(blob)
    at_centre = by_region(statistical)
    labelled = harvard_oxford_subcortical[0].assign(blob)
    assert len(labelled) > 2
    for region, value in by_region(labelled).items():
        assert value == at_centre[region], region
    # a region that is not the most probable at the centre, but has a probability there
    assert by_region(labelled)["Lateral Ventricle - left hemisphere"] > 0


@pytest.mark.parametrize("suffix", [".nii.gz", ".nii"])
def test_a_truncated_image_file_raises_image_error(toy, tmp_path, suffix: str) -> None:
    path = tmp_path / f"lesion{suffix}"
    nib.save(nib.Nifti1Image(label_volume().astype(np.float32), AFFINE), path)
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    the_map = toy.get_map("toy", "toy", "labelled")
    with pytest.raises(ImageError, match=f"cannot read {tmp_path}.*lesion") as info:
        the_map.assign(nib.load(path))
    assert "truncated" in info.value.hint
