"""Tests of neuratlas.core.derived.maximum_probability_map on the toy atlas and generated maps.

Besides the toy atlas (tests/toy_atlas.py), a configuration folder adds a generated
statistical map with hand-made ties and labelled maps derived from it, whose labels
are not the volume numbers (so the look-up table is exercised).
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest

from neuratlas.catalogue import Catalogue
from neuratlas.core import derived
from neuratlas.core.derived import (
    maximum_probability_map,
    maximum_probability_values,
)
from neuratlas.core.map_index import MapType
from neuratlas.errors import SpecError
from neuratlas.volumes.sparse import SparseIndex
from tests.toy_atlas import AFFINE, LEAVES, PARC_ID, SHAPE, SPACE_ID, probability_volumes

# regions of the generated statistical map, in volume (z) order, and their derived labels
GENERATED = [
    "Area A - left hemisphere",
    "Area A - right hemisphere",
    "Nucleus C",
    "Area B - left hemisphere",
]
LABELS = {"Area A - left hemisphere": 7, "Area A - right hemisphere": 3, "Nucleus C": 250}
LABELS["Area B - left hemisphere"] = 12
# hand-made voxels: (ijk, values of the four volumes, winning volume or None)
CASES = [
    ((1, 1, 1), [0.3, 0.3, 0.0, 0.0], 0),  # tie of 0 and 1: the lower volume
    ((1, 1, 2), [0.0, 0.5, 0.5, 0.5], 1),  # three-way tie
    ((1, 1, 3), [0.0, 0.0, 0.2, 0.7], 3),
    ((1, 1, 4), [0.1, 0.0, 0.0, 0.0], 0),  # weak: gone above a threshold of 0.25
    ((1, 1, 5), [0.0, 0.0, 0.0, 0.25], 3),  # equal to the threshold 0.25: gone
    ((1, 1, 6), [-0.4, 0.0, 0.0, 0.0], None),  # negative: background
]


def generated_values(seed: int = 5) -> np.ndarray:
    """4 float32 maps on the toy grid: a block of coarse random values (many ties) + CASES."""
    rng = np.random.default_rng(seed)
    values = np.zeros((*SHAPE, len(GENERATED)), np.float32)
    values[4:16, 4:20, 4:12] = rng.integers(0, 5, (12, 16, 8, len(GENERATED))) / 4
    for ijk, case, _ in CASES:
        values[ijk] = case
    return values


def expected_winner(values: np.ndarray, threshold: float = 0.0) -> np.ndarray:
    """Volume index + 1 of the maximum (first one on ties) where it is above threshold."""
    winner = values.argmax(axis=3) + 1
    winner[values.max(axis=3) <= threshold] = 0
    return winner


def labelled_spec(map_id: str, name: str, labels: dict[str, int], **derived: object) -> dict:
    return {
        "@id": map_id,
        "@type": "siibra/map/v0.0.1",
        "name": name,
        "species": "Homo sapiens",
        "maptype": "labelled",
        "space": {"@id": SPACE_ID},
        "parcellation": {"@id": PARC_ID},
        "volumes": [],
        "indices": {n: [{"volume": 0, "label": label}] for n, label in labels.items()},
        "neuratlas:derived": {"from": "toy/map/generated", **derived},
    }


def write_generated_maps(root: Path, values: np.ndarray) -> None:
    nib.save(nib.Nifti1Image(values, AFFINE), root / "data" / "generated.nii.gz")
    specs = {
        "generated": {
            "@id": "toy/map/generated",
            "@type": "siibra/map/v0.0.1",
            "name": "Generated statistical map",
            "species": "Homo sapiens",
            "space": {"@id": SPACE_ID},
            "parcellation": {"@id": PARC_ID},
            "volumes": [
                {
                    "@type": "siibra/volume/v0.0.1",
                    "providers": {"nii": "../data/generated.nii.gz"},
                }
            ],
            "indices": {n: [{"volume": 0, "z": z}] for z, n in enumerate(GENERATED)},
        },
        "mpm": labelled_spec("toy/map/mpm", "Generated MPM", LABELS),
        "mpm-25": labelled_spec(
            "toy/map/mpm-25", "Generated MPM above 0.25", LABELS, threshold=0.25
        ),
        "mpm-wide": labelled_spec(
            "toy/map/mpm-wide", "Generated MPM, wide labels", {**LABELS, "Nucleus C": 300}
        ),
        "partial": labelled_spec(
            "toy/map/partial",
            "Partial MPM",
            {k: v for k, v in LABELS.items() if k != "Area B - left hemisphere"},
        ),
    }
    for name, spec in specs.items():
        (root / "maps" / f"{name}.json").write_text(json.dumps(spec, indent=1))


@pytest.fixture(scope="module")
def generated_folder(toy_folder: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = Path(shutil.copytree(toy_folder, tmp_path_factory.mktemp("derived") / "toy"))
    write_generated_maps(root, generated_values())
    return root


@pytest.fixture
def cache_root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A private, empty cache for one test."""
    root = tmp_path / "cache"
    monkeypatch.setenv("NEURATLAS_CACHE", str(root))
    return root


@pytest.fixture
def catalogue(generated_folder: Path, cache_root: Path) -> Catalogue:
    return Catalogue([generated_folder], strict=True)


def new_process() -> None:
    """Forget the derived images held in memory, as a new process would not have them."""
    derived._recent.clear()


def data(img: nib.Nifti1Image) -> np.ndarray:
    return np.asanyarray(img.dataobj)


def lut(labels: dict[str, int]) -> np.ndarray:
    """Winner (volume + 1) -> label of the derived map."""
    return np.array([0] + [labels[name] for name in GENERATED])


# --- the toy atlas -------------------------------------------------------------------------------
def test_toy_atlas_maximum_probability_map(toy, cache_root: Path) -> None:
    labelled, statistical = toy.maps["toy/map/labelled"], toy.maps["toy/map/statistical"]
    img = maximum_probability_map(labelled, statistical)
    assert isinstance(img, nib.Nifti1Image)
    assert img.shape == SHAPE and data(img).dtype == np.uint8
    np.testing.assert_allclose(img.affine, AFFINE)
    # the toy labels are 1..5 in the order of the statistical volumes
    expected = expected_winner(probability_volumes())
    np.testing.assert_array_equal(data(img), expected)
    assert set(np.unique(data(img))) == {0, 1, 2, 3, 4, 5}


def test_every_labelled_voxel_of_the_toy_atlas_names_its_most_probable_region(
    toy, cache_root: Path
) -> None:
    labelled, statistical = toy.maps["toy/map/labelled"], toy.maps["toy/map/statistical"]
    labels = data(maximum_probability_map(labelled, statistical))
    probabilities = probability_volumes()
    for ijk in np.argwhere(labels)[::7]:
        region = labelled.get_region(int(labels[tuple(ijk)])).name
        top = probabilities[tuple(ijk)].max()
        assert probabilities[(*ijk, LEAVES.index(region))] == top


# --- a generated statistical map ---------------------------------------------------------------
def test_ties_go_to_the_lower_volume_and_labels_come_from_the_labelled_map(
    catalogue: Catalogue,
) -> None:
    img = maximum_probability_map(
        catalogue.maps["toy/map/mpm"], catalogue.maps["toy/map/generated"]
    )
    got = data(img)
    values = generated_values()
    np.testing.assert_array_equal(got, lut(LABELS)[expected_winner(values)])
    for ijk, _, winner in CASES:
        expected = 0 if winner is None else LABELS[GENERATED[winner]]
        assert got[ijk] == expected, ijk
    # the random block has thousands of ties: each went to the lower volume
    ties = (values == values.max(axis=3, keepdims=True)).sum(axis=3) > 1
    assert (ties & (values.max(axis=3) > 0)).sum() > 500


@pytest.mark.parametrize("threshold", [0.0, 0.25, 0.5, 0.75])
def test_threshold(catalogue: Catalogue, threshold: float) -> None:
    the_map = catalogue.maps["toy/map/mpm"]
    source = catalogue.maps["toy/map/generated"]
    got = data(maximum_probability_map(the_map, source, threshold))
    values = generated_values()
    np.testing.assert_array_equal(got, lut(LABELS)[expected_winner(values, threshold)])
    # no labelled voxel has a maximum at or below the threshold
    assert (values.max(axis=3)[got > 0] > threshold).all()
    assert (got[values.max(axis=3) <= threshold] == 0).all()


def test_the_threshold_of_the_spec_is_used_by_fetch(catalogue: Catalogue) -> None:
    mpm = catalogue.maps["toy/map/mpm-25"]
    assert mpm.maptype is MapType.LABELLED
    got = data(mpm.fetch())
    np.testing.assert_array_equal(got, lut(LABELS)[expected_winner(generated_values(), 0.25)])
    assert got[1, 1, 4] == 0 and got[1, 1, 5] == 0 and got[1, 1, 3] == 12
    # region masks of the derived map are cut from it
    nucleus = data(mpm.fetch(region="Nucleus C"))
    np.testing.assert_array_equal(nucleus, got == 250)


def test_labels_above_255_are_stored_as_uint16(catalogue: Catalogue) -> None:
    img = maximum_probability_map(
        catalogue.maps["toy/map/mpm-wide"], catalogue.maps["toy/map/generated"]
    )
    assert data(img).dtype == np.uint16
    wide = {**LABELS, "Nucleus C": 300}
    np.testing.assert_array_equal(data(img), lut(wide)[expected_winner(generated_values())])
    assert (data(img) == 300).any()


def test_a_region_without_a_label_raises_spec_error(
    catalogue: Catalogue, cache_root: Path
) -> None:
    partial = catalogue.maps["toy/map/partial"]
    source = catalogue.maps["toy/map/generated"]
    with pytest.raises(SpecError, match="region 'Area B - left hemisphere'") as info:
        maximum_probability_map(partial, source)
    error = info.value
    assert "of 'Generated statistical map' has no label in 'Partial MPM'" in str(error)
    assert error.file == partial.spec_file and error.file.endswith("partial.json")
    assert error.path == "$.indices"
    # nothing was cached for the failed map
    assert not list((cache_root / "maps").glob("*.nii.gz"))
    with pytest.raises(SpecError, match="has no label"):
        partial.fetch()


# --- the cache -----------------------------------------------------------------------------------
def test_cached_on_the_second_call(
    catalogue: Catalogue, cache_root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    the_map = catalogue.maps["toy/map/mpm"]
    source = catalogue.maps["toy/map/generated"]
    first = data(maximum_probability_map(the_map, source)).copy()
    (cached,) = (cache_root / "maps").glob("*.nii.gz")
    content, inode = cached.read_bytes(), cached.stat().st_ino
    np.testing.assert_array_equal(data(nib.load(cached)), first)

    def no_recomputation(*args: object, **kwargs: object) -> None:
        raise AssertionError("the map was computed again")

    monkeypatch.setattr(SparseIndex, "max_label_map", no_recomputation)
    monkeypatch.setattr(derived, "save_nifti", no_recomputation)
    second = maximum_probability_map(the_map, source)
    np.testing.assert_array_equal(data(second), first)
    np.testing.assert_allclose(second.affine, AFFINE)
    assert [p.name for p in (cache_root / "maps").glob("*.nii.gz")] == [cached.name]
    assert cached.read_bytes() == content and cached.stat().st_ino == inode
    # a new process finds the same file
    new_process()
    again = Catalogue([Path(the_map.spec_file).parent.parent], strict=True)
    third = maximum_probability_map(again.maps["toy/map/mpm"], again.maps["toy/map/generated"])
    np.testing.assert_array_equal(data(third), first)


def test_each_threshold_has_its_own_cache_entry(catalogue: Catalogue, cache_root: Path) -> None:
    the_map = catalogue.maps["toy/map/mpm"]
    source = catalogue.maps["toy/map/generated"]
    low = data(maximum_probability_map(the_map, source, 0.0))
    high = data(maximum_probability_map(the_map, source, 0.5))
    assert (low > 0).sum() > (high > 0).sum() > 0
    assert len(list((cache_root / "maps").glob("*.nii.gz"))) == 2
    np.testing.assert_array_equal(data(maximum_probability_map(the_map, source, 0.0)), low)


def test_a_changed_source_file_is_recomputed(toy_copy: Path, cache_root: Path) -> None:
    write_generated_maps(toy_copy, generated_values(seed=5))
    before = Catalogue([toy_copy], strict=True)
    first = data(
        maximum_probability_map(before.maps["toy/map/mpm"], before.maps["toy/map/generated"])
    )
    source = toy_copy / "data" / "generated.nii.gz"
    stat = source.stat()
    nib.save(nib.Nifti1Image(generated_values(seed=6), AFFINE), source)
    os.utime(source, (stat.st_atime + 10, stat.st_mtime + 10))
    after = Catalogue([toy_copy], strict=True)
    second = data(
        maximum_probability_map(after.maps["toy/map/mpm"], after.maps["toy/map/generated"])
    )
    np.testing.assert_array_equal(second, lut(LABELS)[expected_winner(generated_values(seed=6))])
    assert not np.array_equal(first, second)
    assert len(list((cache_root / "maps").glob("*.nii.gz"))) == 2


def test_changed_labels_are_recomputed(toy_copy: Path, cache_root: Path) -> None:
    write_generated_maps(toy_copy, generated_values())
    before = Catalogue([toy_copy], strict=True)
    maximum_probability_map(before.maps["toy/map/mpm"], before.maps["toy/map/generated"])
    relabelled = {name: label + 100 for name, label in LABELS.items()}
    spec_file = toy_copy / "maps" / "mpm.json"
    spec_file.write_text(json.dumps(labelled_spec("toy/map/mpm", "Generated MPM", relabelled)))
    after = Catalogue([toy_copy], strict=True)
    got = data(maximum_probability_map(after.maps["toy/map/mpm"], after.maps["toy/map/generated"]))
    np.testing.assert_array_equal(got, lut(relabelled)[expected_winner(generated_values())])


def test_the_threshold_is_in_the_maps_values(toy, cache_root: Path) -> None:
    labelled, statistical = toy.maps["toy/map/labelled"], toy.maps["toy/map/statistical"]
    assert statistical.value_scale == pytest.approx(0.01)
    got = data(maximum_probability_map(labelled, statistical, threshold=0.5))
    probabilities = probability_volumes().astype(np.float32) * np.float32(0.01)
    np.testing.assert_array_equal(got, expected_winner(probabilities, 0.5))


# --- which map is derived from which ------------------------------------------------------------
def test_source_and_threshold_of_derived_and_plain_maps(catalogue: Catalogue) -> None:
    generated = catalogue.maps["toy/map/generated"]
    assert catalogue.maps["toy/map/mpm"].derived_from is generated
    assert catalogue.maps["toy/map/mpm"].threshold == 0.0
    assert catalogue.maps["toy/map/mpm-25"].derived_from is generated
    assert catalogue.maps["toy/map/mpm-25"].threshold == 0.25
    for plain in ("toy/map/labelled", "toy/map/generated"):
        assert catalogue.maps[plain].derived_from is None
        assert catalogue.maps[plain].threshold is None


# --- the probability of the label ---------------------------------------------------------------
@pytest.mark.parametrize("threshold", [0.0, 0.25, 0.5])
def test_values_are_the_top_value_where_the_map_labels_a_voxel(
    catalogue: Catalogue, threshold: float
) -> None:
    source = catalogue.maps["toy/map/generated"]
    got = data(maximum_probability_values(source, threshold))
    values = generated_values()
    top = values.max(axis=3)
    assert got.dtype == np.float32 and got.shape == SHAPE
    np.testing.assert_array_equal(got, np.where(top > threshold, top, 0))
    # exactly where the derived map labels a voxel, and the value of the region it names
    labels = data(maximum_probability_map(catalogue.maps["toy/map/mpm"], source, threshold))
    np.testing.assert_array_equal(got > 0, labels > 0)
    winner = expected_winner(values, threshold)
    ijk = np.argwhere(winner)
    region_value = values[(*ijk.T, winner[tuple(ijk.T)] - 1)]
    np.testing.assert_array_equal(got[tuple(ijk.T)], region_value)


def test_values_are_the_maps_values_after_its_scale(toy, cache_root: Path) -> None:
    statistical = toy.maps["toy/map/statistical"]
    got = data(maximum_probability_values(statistical, 0.25))
    # the same float32 formula as every other way out of the map (sparse_sources.scaled)
    top = probability_volumes().max(axis=3).astype(np.float32) * np.float32(0.01)
    np.testing.assert_array_equal(got, np.where(top > 0.25, top, np.float32(0)))
    np.testing.assert_allclose(maximum_probability_values(statistical).affine, AFFINE)


# --- damaged cache files are computed again -----------------------------------------------------
def labels_of(catalogue: Catalogue) -> nib.Nifti1Image:
    return maximum_probability_map(
        catalogue.maps["toy/map/mpm-25"], catalogue.maps["toy/map/generated"], 0.25
    )


def values_of(catalogue: Catalogue) -> nib.Nifti1Image:
    return maximum_probability_values(catalogue.maps["toy/map/generated"], 0.25)


@pytest.mark.parametrize("derive", [labels_of, values_of], ids=["labels", "values"])
@pytest.mark.parametrize("damage", ["truncated", "empty", "not gzip"])
def test_a_damaged_cache_file_is_computed_again(
    catalogue: Catalogue, cache_root: Path, derive, damage: str
) -> None:
    expected = data(derive(catalogue)).copy()
    (cached,) = (cache_root / "maps").glob("*.nii.gz")
    content = cached.read_bytes()
    damaged = {
        "truncated": content[: len(content) // 2],
        "empty": b"",
        "not gzip": b"this is not an image",
    }[damage]
    cached.write_bytes(damaged)
    new_process()
    again = Catalogue([Path(catalogue.maps["toy/map/mpm"].spec_file).parent.parent], strict=True)
    got = derive(again)  # used to raise ImageError "... delete it so that it is fetched again"
    np.testing.assert_array_equal(data(got), expected)
    # the file was written again, whole, under the same name
    assert [p.name for p in (cache_root / "maps").glob("*.nii.gz")] == [cached.name]
    np.testing.assert_array_equal(np.asanyarray(nib.load(cached).dataobj), expected)


def test_a_second_use_reads_no_file(
    catalogue: Catalogue, cache_root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = data(labels_of(catalogue)).copy()

    def no_reading(*args: object, **kwargs: object) -> None:
        raise AssertionError("the cache file was read again")

    monkeypatch.setattr(derived, "load_nifti", no_reading)
    np.testing.assert_array_equal(data(labels_of(catalogue)), first)
