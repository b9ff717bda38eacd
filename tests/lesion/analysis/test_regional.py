"""RegionalDamage and ParcelAggregation against direct NumPy counts."""

from __future__ import annotations

import nibabel as nib
import numpy as np
import pytest
from nilearn.image import resample_to_img

import neuratlas
from neuratlas.errors import ArgumentError, LesionError, SpaceMismatchError
from neuratlas.lesion import ParcelData, SubjectData, VoxelMap
from neuratlas.lesion.analysis import ParcelAggregation, RegionalDamage
from tests.lesion.masks import GRIDS, box_mask, random_masks

NLIN6 = "MNI152NLin6Asym"


def _labels_on(grid: str, parcellation: str) -> tuple[np.ndarray, dict[int, str]]:
    shape, affine = GRIDS[grid]
    m = neuratlas.parcellations[parcellation].get_map(NLIN6, "labelled")
    target = nib.Nifti1Image(np.zeros(shape, np.uint8), affine)
    img = resample_to_img(
        m.fetch(), target, interpolation="nearest", force_resample=True, copy_header=True
    )
    return np.rint(img.get_fdata()).astype(int), m.label_lut


@pytest.mark.parametrize(
    ("parcellation", "grid"),
    [("aal3", "nlin6_2mm"), ("talairach brodmann", "nlin6_2mm"), ("aal3", "nlin6_1mm")],
)
def test_damage_is_the_share_of_region_voxels_in_the_lesion(parcellation, grid):
    img = box_mask(grid, centre_mm=(-38, -20, 30), half_size_mm=(12, 14, 10))
    subject = SubjectData(img)
    result = RegionalDamage(parcellation=parcellation).run(subject)
    ((key, damage),) = result.RegionalDamage.items()
    labels, lut = _labels_on(grid, parcellation)
    lesion = np.asanyarray(img.dataobj).astype(bool)
    for label, region in lut.items():
        size = np.count_nonzero(labels == label)
        expected = 100 * np.count_nonzero(lesion & (labels == label)) / size if size else np.nan
        np.testing.assert_allclose(damage.data[region], expected, err_msg=region)
    assert key.startswith("atlas-") and key.endswith("_desc-percent")
    assert max(damage.data.values()) > 0


def test_probability_weighted_damage():
    shape, affine = GRIDS["nlin6_2mm"]
    img = box_mask(centre_mm=(40, -20, 50), half_size_mm=(10, 10, 10))
    result = RegionalDamage(parcellation="juelich").run(SubjectData(img))
    damage = next(iter(result.RegionalDamage.values()))
    m = neuratlas.parcellations["juelich"].get_map(NLIN6, "statistical")
    lesion = np.asanyarray(img.dataobj).astype(bool)
    target = nib.Nifti1Image(np.zeros(shape, np.uint8), affine)
    top = damage.get_top_regions(3)
    for region, value in top.items():
        p = resample_to_img(
            m.fetch(region=region), target, interpolation="nearest", force_resample=True
        ).get_fdata()
        np.testing.assert_allclose(value, 100 * p[lesion].sum() / p.sum(), rtol=1e-6)
    assert damage.metadata["weights"] == "probability"


def test_whole_brain_lesion_damages_everything_fully():
    shape, affine = GRIDS["nlin6_2mm"]
    subject = SubjectData(nib.Nifti1Image(np.ones(shape, np.uint8), affine))
    for parcellation in ("aal3", "juelich"):
        damage = next(
            iter(RegionalDamage(parcellation=parcellation).run(subject).RegionalDamage.values())
        )
        values = np.array(list(damage.data.values()))
        np.testing.assert_allclose(values[~np.isnan(values)], 100.0)


def test_batch_equals_single_runs_and_keeps_order():
    subjects = [
        SubjectData(m, metadata={"subject_id": f"sub-{i}"}) for i, m in enumerate(random_masks(6))
    ]
    subjects.insert(3, SubjectData(box_mask("nlin6_1mm"), metadata={"subject_id": "sub-1mm"}))
    analysis = RegionalDamage(parcellation=["aal3", "juelich"])
    batch = analysis.run_batch(subjects)
    assert [s.subject_id for s in batch] == [s.subject_id for s in subjects]
    for alone, together in zip(subjects, batch, strict=True):
        single = analysis.run(alone)
        for key, value in single.RegionalDamage.items():
            np.testing.assert_allclose(
                list(together.RegionalDamage[key].data.values()),
                list(value.data.values()),
                rtol=1e-12,
            )
        assert together.provenance[-1]["function"] == "neuratlas.lesion.analysis.RegionalDamage"
        assert together.provenance[-1]["inputs"]["mask"] == alone.digest()


def test_a_map_in_another_space_is_refused():
    subject = SubjectData(box_mask("2009c_2mm"))
    with pytest.raises(SpaceMismatchError):
        RegionalDamage(parcellation="aal3").run(subject)


def test_aggregations_of_a_voxel_map():
    shape, affine = GRIDS["nlin6_2mm"]
    rng = np.random.default_rng(1)
    values = rng.normal(size=shape)
    vmap = VoxelMap("rmap", nib.Nifti1Image(values, affine), NLIN6, 2.0)
    labels, lut = _labels_on("nlin6_2mm", "aal3")
    subject = SubjectData(box_mask())
    label, region = next(iter(lut.items()))
    inside = values[labels == label]
    expected = {
        "mean": inside.mean(),
        "sum": inside.sum(),
        "std": inside.std(),
        "median": np.sort(inside)[(inside.size - 1) // 2],
        "percent": 100.0,
        "volume": inside.size * 8.0,
    }
    for aggregation, want in expected.items():
        out = ParcelAggregation(source=vmap, aggregation=aggregation, parcellation="aal3").run(
            subject
        )
        data = next(iter(out.ParcelAggregation.values()))
        assert isinstance(data, ParcelData)
        np.testing.assert_allclose(data.data[region], want, rtol=1e-9, err_msg=aggregation)


def test_source_from_an_earlier_analysis():
    shape, affine = GRIDS["nlin6_2mm"]
    subject = SubjectData(box_mask())
    rmap = VoxelMap("rmap", nib.Nifti1Image(np.full(shape, 0.25), affine), NLIN6, 2.0)
    subject = subject.add_result("FunctionalNetworkMapping", {"desc-rmap": rmap})
    out = ParcelAggregation("FunctionalNetworkMapping.desc-rmap", "mean", "aal3").run(subject)
    ((key, data),) = out.ParcelAggregation.items()
    assert key == "atlas-AAL3_desc-rmapmean"
    np.testing.assert_allclose([v for v in data.data.values() if not np.isnan(v)], 0.25)


def test_bad_arguments():
    with pytest.raises(ArgumentError, match="choose one of mean, sum") as info:
        ParcelAggregation(aggregation="maen", parcellation="aal3")
    assert "mean" in info.value.hint
    with pytest.raises(ArgumentError, match="no parcellation"):
        RegionalDamage()
    subject = SubjectData(box_mask())
    with pytest.raises(LesionError, match="not among its results"):
        ParcelAggregation("FunctionalNetworkMapping.desc-rmap", parcellation="aal3").run(subject)
    with pytest.raises(ArgumentError, match="Analysis"):
        ParcelAggregation("rmap", parcellation="aal3").run(subject)


def test_repr_and_parameters():
    analysis = RegionalDamage(parcellation="aal3")
    assert (
        repr(analysis)
        == "RegionalDamage(source='maskimg', aggregation='percent', parcellation=['aal3'])"
    )
