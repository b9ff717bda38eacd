"""BIDS datasets of lesion masks: loading, bidsify, and checking derivatives folders."""

from __future__ import annotations

import gzip
import json
import re
import shutil
import warnings
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest

from neuratlas.errors import ArgumentError, BidsError, NotFoundError
from neuratlas.lesion.bids import (
    BidsWarning,
    bidsify,
    load_bids_dataset,
    validate_bids_derivatives,
)
from neuratlas.lesion.derivatives import export_bids_derivatives
from tests.lesion.conftest import (
    SPACE,
    BidsDataset,
    box,
    known_results,
    run_validator,
    validator_missing,
    write_mask,
)
from tests.lesion.masks import GRIDS


# --- load_bids_dataset: good input -----------------------------------------------------------
def test_every_mask_is_loaded_with_its_entities_as_metadata(bids_dataset: BidsDataset) -> None:
    dataset = load_bids_dataset(bids_dataset.root)
    assert list(dataset) == sorted(m.key for m in bids_dataset.masks)
    for expected in bids_dataset.masks:
        subject = dataset[expected.key]
        assert subject.subject_id == expected.subject_id
        assert subject.metadata.get("session_id") == expected.session_id
        assert subject.metadata["label"] == expected.label
        assert subject.space == SPACE
        assert subject.resolution == expected.resolution
        assert subject.metadata["source"] == str(expected.path)
        assert subject.metadata["bids_root"] == str(bids_dataset.root)
        np.testing.assert_array_equal(subject.mask, expected.mask)
        np.testing.assert_array_equal(subject.affine, expected.affine)


@pytest.mark.parametrize(
    ("pattern", "subjects"),
    [
        ("ses-01", ["sub-01"]),
        ("*WMH*", ["sub-02"]),
        ("sub-01*ses-02", ["sub-01"]),
        ("res-1_", ["sub-03"]),
        ("acuteinfarct", ["sub-01", "sub-01", "sub-03"]),
    ],
)
def test_pattern_picks_masks_by_name(
    bids_dataset: BidsDataset, pattern: str, subjects: list[str]
) -> None:
    dataset = load_bids_dataset(bids_dataset.root, pattern=pattern)
    assert [s.subject_id for s in dataset.values()] == subjects


def test_subjects_filter_takes_labels_with_or_without_prefix(bids_dataset: BidsDataset) -> None:
    dataset = load_bids_dataset(bids_dataset.root, subjects=["01", "sub-03"])
    assert sorted({s.subject_id for s in dataset.values()}) == ["sub-01", "sub-03"]
    assert len(dataset) == 3


def test_a_folder_below_the_root_loads_without_recursion(bids_dataset: BidsDataset) -> None:
    anat = bids_dataset.mask("sub-02").path.parent
    dataset = load_bids_dataset(anat, recursive=False)
    assert [s.subject_id for s in dataset.values()] == ["sub-02"]


def test_no_dataset_description_is_needed(bids_copy: BidsDataset) -> None:
    # lacuna's behaviour: any folder holding masks will do
    (bids_copy.root / "dataset_description.json").unlink()
    assert len(load_bids_dataset(bids_copy.root)) == 4


def test_a_mask_named_without_entities_takes_them_from_its_folders(tmp_path: Path) -> None:
    img = box("nlin6_2mm")
    write_mask(tmp_path, "05", "2", "x", img, name="lesion_mask.nii.gz")
    (subject,) = load_bids_dataset(tmp_path).values()
    assert subject.subject_id == "sub-05"
    assert subject.metadata["session_id"] == "ses-2"
    assert subject.space == SPACE  # from the header's grid


def test_space_and_resolution_come_from_the_sidecar_when_the_name_is_silent(
    tmp_path: Path,
) -> None:
    img = box("nlin6_2mm")
    sidecar = {"Space": "MNI152NLin6Asym", "Resolution": "2mm"}
    write_mask(tmp_path, "01", None, "lesion", img, space=None, sidecar=sidecar)
    (subject,) = load_bids_dataset(tmp_path).values()
    assert (subject.space, subject.resolution) == (SPACE, 2.0)


def test_explicit_space_and_resolution_agreeing_with_the_names_are_accepted(
    bids_dataset: BidsDataset,
) -> None:
    dataset = load_bids_dataset(bids_dataset.root, pattern="res-2", space=SPACE, resolution=2.0)
    assert len(dataset) == 3


def test_dot_files_and_dot_folders_are_not_searched(bids_copy: BidsDataset) -> None:
    anat = bids_copy.mask("sub-02").path.parent
    (anat / "._sub-02_space-MNI152NLin6Asym_label-WMH_mask.nii.gz").write_bytes(b"\0\5\26\7")
    hidden = bids_copy.root / ".git" / "annex"
    hidden.mkdir(parents=True)
    shutil.copy(bids_copy.mask("sub-02").path, hidden / "sub-09_mask.nii.gz")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert len(load_bids_dataset(bids_copy.root)) == 4


# --- load_bids_dataset: bad input -------------------------------------------------------------
def test_a_missing_folder_is_a_bids_error(tmp_path: Path) -> None:
    with pytest.raises(BidsError, match="no such folder") as info:
        load_bids_dataset(tmp_path / "nowhere")
    assert "root folder" in info.value.hint


def test_a_file_is_not_a_dataset(bids_dataset: BidsDataset) -> None:
    path = bids_dataset.mask("sub-02").path
    with pytest.raises(BidsError, match="a file, not a folder") as info:
        load_bids_dataset(path)
    assert str(path.parent) in info.value.hint


def test_no_mask_found_says_what_was_searched(tmp_path: Path) -> None:
    with pytest.raises(BidsError, match=r"no file ending in '_mask.nii.gz'.*no NIfTI file there"):
        load_bids_dataset(tmp_path)


def test_no_mask_found_names_the_images_that_are_there(bids_dataset: BidsDataset) -> None:
    anat = bids_dataset.mask("sub-01", "ses-01").path.parent
    with pytest.raises(BidsError, match=r"NIfTI files there: .*T1w") as info:
        load_bids_dataset(anat, suffix="_lesion.nii.gz")
    assert "suffix='.nii.gz'" in info.value.hint


def test_no_mask_fitting_the_pattern_counts_those_that_do_not(bids_dataset: BidsDataset) -> None:
    with pytest.raises(BidsError, match=r"fits pattern 'CAS001'.*4 file"):
        load_bids_dataset(bids_dataset.root, pattern="CAS001")


def test_not_recursive_at_the_root_finds_nothing(bids_dataset: BidsDataset) -> None:
    with pytest.raises(BidsError, match=r"\(not below it\)"):
        load_bids_dataset(bids_dataset.root, recursive=False)


def test_an_unknown_subject_is_named_with_those_found(bids_dataset: BidsDataset) -> None:
    with pytest.raises(BidsError, match="sub-05") as info:
        load_bids_dataset(bids_dataset.root, subjects=["01", "05"])
    assert "sub-01, sub-02, sub-03" in info.value.hint


def test_a_subject_label_that_is_not_bids_is_an_argument_error(bids_dataset: BidsDataset) -> None:
    with pytest.raises(ArgumentError, match="not a BIDS subject label"):
        load_bids_dataset(bids_dataset.root, subjects=["0_1"])


def test_an_empty_suffix_is_an_argument_error(bids_dataset: BidsDataset) -> None:
    with pytest.raises(ArgumentError, match="suffix is empty"):
        load_bids_dataset(bids_dataset.root, suffix="")


def test_two_masks_with_one_name_are_an_error(bids_copy: BidsDataset) -> None:
    original = bids_copy.mask("sub-02").path
    copy = bids_copy.root / "derivatives" / "masks" / original.name
    copy.parent.mkdir(parents=True)
    shutil.copy(original, copy)
    with pytest.raises(BidsError, match="two masks are called sub-02"):
        load_bids_dataset(bids_copy.root)


def _affine() -> np.ndarray:
    return GRIDS["nlin6_2mm"][1]


def _lesion(dtype: type = np.uint8) -> np.ndarray:
    return np.asanyarray(box("nlin6_2mm", dtype=dtype).dataobj)


def _four_d() -> nib.Nifti1Image:
    data = np.stack([_lesion(), _lesion()], axis=-1)
    return nib.Nifti1Image(data, _affine())


def _not_binary() -> nib.Nifti1Image:
    data = _lesion(np.float32) * 2
    data[0, 0, 0] = 1
    return nib.Nifti1Image(data, _affine())


def _empty() -> nib.Nifti1Image:
    return nib.Nifti1Image(np.zeros_like(_lesion()), _affine())


def _singular_affine() -> nib.Nifti1Image:
    # a header whose sform flattens z (and no qform): nibabel reads a singular affine
    header = box("nlin6_2mm").header.copy()
    header.set_qform(None, code=0)
    header["srow_z"] = [0, 0, 0, -72]
    header["sform_code"] = 2
    return nib.Nifti1Image(_lesion(), None, header)


def _off_grid() -> nib.Nifti1Image:
    data = np.zeros((40, 40, 40), np.uint8)
    data[10:14, 10:14, 10:14] = 1
    return nib.Nifti1Image(data, np.diag([1.5, 1.5, 1.5, 1.0]))


@pytest.mark.parametrize(
    ("make", "name", "message"),
    [
        (_four_d, None, "a lesion mask is a 3D image"),
        (_not_binary, None, "holds only 0 and 1; found 2"),
        (_empty, None, "the mask is empty"),
        (_singular_affine, None, "the affine is singular"),
        # the name declares the ICBM 2009c space; the header is on FSL's NLin6 grid
        (
            lambda: box("nlin6_2mm"),
            "sub-09_space-MNI152NLin2009cAsym_label-lesion_mask.nii.gz",
            "declared space MNI152NLin2009cAsym contradicts the header",
        ),
        # the name says 1 mm voxels; the header has 2 mm ones
        (
            lambda: box("nlin6_2mm"),
            "sub-09_space-MNI152NLin6Asym_res-1_label-lesion_mask.nii.gz",
            "declared resolution 1 mm contradicts the header's voxel size 2 mm",
        ),
        (
            lambda: box("nlin6_2mm"),
            "sub-09_space-MNI152NLin6Asym_res-hi_label-lesion_mask.nii.gz",
            "res-hi: not a voxel size in mm",
        ),
        (
            lambda: box("nlin6_2mm"),
            "sub-09_space-Talairach1988_label-lesion_mask.nii.gz",
            "Talairach1988",
        ),
        # no space- in the name, no sidecar, and a grid that is no template's
        (_off_grid, "sub-09_label-lesion_mask.nii.gz", "the space of the mask is not known"),
    ],
    ids=[
        "4D",
        "not-binary",
        "empty",
        "bad-affine",
        "space-vs-header",
        "res-vs-header",
        "res-hi",
        "unknown-space",
        "no-space-known",
    ],
)
def test_a_bad_mask_is_skipped_with_a_warning_saying_why(
    bids_copy: BidsDataset, make, name: str | None, message: str
) -> None:
    path = write_mask(bids_copy.root, "09", None, "lesion", make(), name=name)
    with pytest.warns(BidsWarning, match=message) as caught:
        dataset = load_bids_dataset(bids_copy.root)
    assert str(path) in str(caught[0].message)
    assert len(dataset) == 4 and not any(s.subject_id == "sub-09" for s in dataset.values())


def test_a_space_argument_contradicting_the_names_skips_every_mask(
    bids_dataset: BidsDataset,
) -> None:
    with (
        pytest.warns(BidsWarning, match="contradicts the file name's space-MNI152NLin6Asym"),
        pytest.raises(BidsError, match="none of the 4 mask"),
    ):
        load_bids_dataset(bids_dataset.root, space="MNI152NLin2009cAsym")


def test_a_resolution_argument_contradicting_the_names_is_reported(
    bids_dataset: BidsDataset,
) -> None:
    with pytest.warns(BidsWarning, match="resolution=1 contradicts the file name's res-2"):
        dataset = load_bids_dataset(bids_dataset.root, resolution=1.0)
    assert [s.subject_id for s in dataset.values()] == ["sub-03"]


def test_a_sidecar_contradicting_the_name_skips_the_mask(tmp_path: Path) -> None:
    img = box("nlin6_2mm")
    write_mask(tmp_path, "01", None, "lesion", img, sidecar={"Space": "MNI152NLin2009cAsym"})
    with (
        pytest.warns(BidsWarning, match="sidecar's Space MNI152NLin2009cAsym contradicts"),
        pytest.raises(BidsError, match="could be loaded"),
    ):
        load_bids_dataset(tmp_path)


def test_a_truncated_file_is_skipped(bids_copy: BidsDataset) -> None:
    good = bids_copy.mask("sub-02").path
    bad = good.with_name(good.name.replace("sub-02", "sub-08"))
    bad.write_bytes(gzip.compress(gzip.decompress(good.read_bytes())[:400]))
    with pytest.warns(BidsWarning, match="not a readable NIfTI image"):
        assert len(load_bids_dataset(bids_copy.root)) == 4


def test_an_unreadable_sidecar_skips_its_mask(bids_copy: BidsDataset) -> None:
    path = bids_copy.mask("sub-02").path
    path.with_name(path.name.replace(".nii.gz", ".json")).write_text("{not json")
    with pytest.warns(BidsWarning, match="not readable JSON"):
        assert len(load_bids_dataset(bids_copy.root)) == 3


def test_when_nothing_loads_the_error_lists_each_reason(tmp_path: Path) -> None:
    write_mask(tmp_path, "01", None, "lesion", _empty())
    write_mask(tmp_path, "02", None, "lesion", _not_binary())
    with pytest.warns(BidsWarning), pytest.raises(BidsError, match="none of the 2 mask") as info:
        load_bids_dataset(tmp_path)
    assert "empty" in str(info.value) and "only 0 and 1" in str(info.value)


# --- validate_bids_derivatives ---------------------------------------------------------------
@pytest.fixture(scope="module")
def pristine_derivatives(
    bids_dataset: BidsDataset, tmp_path_factory: pytest.TempPathFactory
) -> Path:
    """Derivatives of sub-01 (two sessions) and sub-02, with every kind of result."""
    dataset = load_bids_dataset(bids_dataset.root, subjects=["01", "02"])
    out = tmp_path_factory.mktemp("derivatives") / "neuratlas"
    for subject in dataset.values():
        export_bids_derivatives(known_results(subject), out)
    return out


@pytest.fixture
def derivatives(pristine_derivatives: Path, tmp_path: Path) -> Path:
    """A private copy of :func:`pristine_derivatives`, for tests that break it."""
    return Path(shutil.copytree(pristine_derivatives, tmp_path / "neuratlas"))


def test_what_neuratlas_writes_passes(derivatives: Path) -> None:
    assert validate_bids_derivatives(derivatives) == {"errors": [], "warnings": []}


def _edit_description(root: Path, **changes) -> None:
    path = root / "dataset_description.json"
    document = json.loads(path.read_text())
    for key, value in changes.items():
        if value is None:
            document.pop(key, None)
        else:
            document[key] = value
    path.write_text(json.dumps(document))


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"Name": None}, "required field 'Name' is missing"),
        ({"BIDSVersion": None}, "required field 'BIDSVersion' is missing"),
        ({"GeneratedBy": None}, "required field 'GeneratedBy' is missing"),
        ({"GeneratedBy": {"Name": "x"}}, "GeneratedBy must be a non-empty list"),
        ({"GeneratedBy": [{"Version": "1"}]}, r"GeneratedBy\[0\] has no Name"),
        ({"GeneratedBy": ["neuratlas"]}, r"GeneratedBy\[0\] is not an object"),
        ({"DatasetType": "raw"}, "DatasetType is 'raw', not 'derivative'"),
    ],
)
def test_dataset_description_errors(derivatives: Path, changes: dict, message: str) -> None:
    _edit_description(derivatives, **changes)
    report = validate_bids_derivatives(derivatives, raise_on_error=False)
    assert any(re.search(message, e) for e in report["errors"]), report
    with pytest.raises(BidsError, match=message):
        validate_bids_derivatives(derivatives)


def test_a_missing_dataset_type_is_a_warning(derivatives: Path) -> None:
    _edit_description(derivatives, DatasetType=None)
    report = validate_bids_derivatives(derivatives)
    assert report["errors"] == [] and "DatasetType is missing" in report["warnings"][0]


def test_a_missing_or_broken_dataset_description_is_an_error(derivatives: Path) -> None:
    path = derivatives / "dataset_description.json"
    path.write_text("{")
    assert "not valid JSON" in validate_bids_derivatives(derivatives, False)["errors"][0]
    path.unlink()
    assert (
        "dataset_description.json is missing"
        in validate_bids_derivatives(derivatives, False)["errors"][0]
    )


def _anat(derivatives: Path) -> Path:
    return derivatives / "sub-01" / "ses-01" / "anat"


def _mask_path(derivatives: Path) -> Path:
    return next(_anat(derivatives).glob("*_mask.nii.gz"))


@pytest.mark.parametrize(
    ("new_name", "message"),
    [
        ("sub-01_ses-01_label-lesion_space-MNI152NLin6Asym_mask.nii.gz", "out of BIDS order"),
        ("sub-01_ses-01_space-MNI152NLin6Asym_label-lesion.nii.gz", "no suffix"),
        ("sub-01_ses-01_space-MNI_152_mask.nii.gz", "'152' is not an entity"),
        ("sub-02_ses-01_label-lesion_mask.nii.gz", "does not start with the sub-01 of its folder"),
        ("sub-01_label-lesion_mask.nii.gz", "does not start with the ses-01 of its folder"),
        ("ses-01_sub-01_label-lesion_mask.nii.gz", "does not start with sub-<label>"),
        ("sub-01_ses-01_label-a_label-b_mask.nii.gz", "an entity appears twice"),
    ],
)
def test_file_names_are_checked(derivatives: Path, new_name: str, message: str) -> None:
    mask = _mask_path(derivatives)
    target = mask.with_name(new_name)
    mask.rename(target)
    sidecar = mask.with_name(mask.name.replace(".nii.gz", ".json"))
    sidecar.rename(target.with_name(target.name.replace(".nii.gz", ".json")))
    errors = validate_bids_derivatives(derivatives, False)["errors"]
    assert any(message in e and new_name in e for e in errors), errors


def test_a_foreign_entity_is_a_warning(derivatives: Path) -> None:
    mask = _mask_path(derivatives)
    mask.rename(mask.with_name(mask.name.replace("_mask", "_source-fnm_mask")))
    report = validate_bids_derivatives(derivatives, False)
    assert any("source not BIDS entities" in w for w in report["warnings"]), report


def test_an_image_without_sidecar_is_an_error(derivatives: Path) -> None:
    next(_anat(derivatives).glob("*_statmap.json")).unlink()
    errors = validate_bids_derivatives(derivatives, False)["errors"]
    assert len(errors) == 1 and "statmap.nii.gz: no JSON sidecar" in errors[0]


def test_a_sidecar_inherited_from_above_counts(derivatives: Path) -> None:
    statmaps = sorted(_anat(derivatives).glob("*desc-rmap_statmap.json"))
    statmaps[0].unlink()
    (derivatives / "desc-rmap_statmap.json").write_text(json.dumps({"Description": "r"}))
    errors = validate_bids_derivatives(derivatives, False)["errors"]
    assert errors == []


def test_a_resolution_entity_needs_a_resolution_in_the_sidecar(derivatives: Path) -> None:
    sidecar = _mask_path(derivatives).with_name(
        _mask_path(derivatives).name.replace(".nii.gz", ".json")
    )
    document = json.loads(sidecar.read_text())
    del document["Resolution"]
    sidecar.write_text(json.dumps(document))
    errors = validate_bids_derivatives(derivatives, False)["errors"]
    assert any("res- but its sidecar has no Resolution" in e for e in errors), errors


def test_broken_files_are_errors(derivatives: Path) -> None:
    anat = _anat(derivatives)
    tsv = next(anat.glob("*_parcelstats.tsv"))
    tsv.write_text(tsv.read_text() + "extra\trow\twith\ttoo\tmany\n")
    next(anat.glob("*_statmap.nii.gz")).write_bytes(b"not an image")
    next(anat.glob("*_metrics.json")).write_text("[1, 2]")
    errors = validate_bids_derivatives(derivatives, False)["errors"]
    assert any("parcelstats.tsv: row" in e for e in errors)
    assert any("statmap.nii.gz: not a readable NIfTI image" in e for e in errors)
    assert any("metrics.json: a JSON file of BIDS holds an object" in e for e in errors)


def test_folder_names_are_checked(derivatives: Path) -> None:
    (derivatives / "sub-0_2").mkdir()
    (derivatives / "sub-01" / "ses-0_1").mkdir()
    (derivatives / "sub-01" / "ses-01" / "maps").mkdir()
    report = validate_bids_derivatives(derivatives, False)
    assert any("sub-0_2: a subject label" in e for e in report["errors"])
    assert any("ses-0_1: a session label" in e for e in report["errors"])
    assert any("maps: not a BIDS datatype folder" in w for w in report["warnings"])


def test_leftovers_and_strays_are_warnings(derivatives: Path) -> None:
    (_anat(derivatives) / ".sub-01_mask.nii.gz.x1y2.part").write_bytes(b"half")
    (derivatives / "notes.txt").write_text("todo")
    (derivatives / "scratch").mkdir()
    report = validate_bids_derivatives(derivatives)
    assert report["errors"] == []
    assert any("interrupted write" in w for w in report["warnings"])
    assert any("unexpected file in the root: notes.txt" in w for w in report["warnings"])
    assert any("'scratch' in the root is not a subject" in w for w in report["warnings"])


def test_an_empty_folder_has_errors_and_warnings(tmp_path: Path) -> None:
    report = validate_bids_derivatives(tmp_path, raise_on_error=False)
    assert "dataset_description.json is missing" in report["errors"][0]
    assert report["warnings"] == ["no subject folder (sub-<label>) in the derivatives"]


def test_a_missing_folder_is_a_bids_error_and_a_file_an_error(tmp_path: Path) -> None:
    with pytest.raises(BidsError, match="no such folder"):
        validate_bids_derivatives(tmp_path / "nowhere")
    path = tmp_path / "file.txt"
    path.write_text("x")
    assert validate_bids_derivatives(path, False)["errors"] == [f"{path} is a file, not a folder"]


# --- bidsify -----------------------------------------------------------------------------------
@pytest.fixture
def loose(tmp_path: Path) -> Path:
    """A folder of loose masks as a clinic keeps them."""
    folder = tmp_path / "loose"
    folder.mkdir()
    nib.save(box("nlin6_2mm", centre_mm=(-30, 0, 10)), folder / "patient_001.nii.gz")
    nib.save(box("nlin6_2mm", centre_mm=(30, 0, 10), dtype=np.float32), folder / "pat-02.nii")
    nib.save(box("nlin6_1mm", centre_mm=(0, -40, 0)), folder / "sub-P03.nii.gz")
    (folder / "notes.txt").write_text("not a mask")
    return folder


def test_bidsify_files_each_mask_with_a_sidecar(loose: Path, tmp_path: Path) -> None:
    out = bidsify(loose, tmp_path / "bids", space=SPACE, label="stroke")
    assert out == tmp_path / "bids"
    names = sorted(str(p.relative_to(out)) for p in out.rglob("*") if p.is_file())
    assert names == [
        "README.md",
        "dataset_description.json",
        "participants.tsv",
        "sub-P03/anat/sub-P03_space-MNI152NLin6Asym_res-1_label-stroke_mask.json",
        "sub-P03/anat/sub-P03_space-MNI152NLin6Asym_res-1_label-stroke_mask.nii.gz",
        "sub-pat02/anat/sub-pat02_space-MNI152NLin6Asym_res-2_label-stroke_mask.json",
        "sub-pat02/anat/sub-pat02_space-MNI152NLin6Asym_res-2_label-stroke_mask.nii",
        "sub-patient001/anat/sub-patient001_space-MNI152NLin6Asym_res-2_label-stroke_mask.json",
        "sub-patient001/anat/sub-patient001_space-MNI152NLin6Asym_res-2_label-stroke_mask.nii.gz",
    ]
    assert (out / "participants.tsv").read_text() == (
        "participant_id\nsub-P03\nsub-pat02\nsub-patient001\n"
    )
    description = json.loads((out / "dataset_description.json").read_text())
    assert description["DatasetType"] == "derivative"
    assert description["GeneratedBy"][0]["Name"] == "neuratlas bidsify"
    # copied byte for byte
    copied = (
        out
        / "sub-patient001/anat/sub-patient001_space-MNI152NLin6Asym_res-2_label-stroke_mask.nii.gz"
    )
    assert copied.read_bytes() == (loose / "patient_001.nii.gz").read_bytes()


def test_bidsify_then_load_round_trips(loose: Path, tmp_path: Path) -> None:
    out = bidsify(loose, tmp_path / "bids", space="MNI152NLin6Asym", session="01")
    dataset = load_bids_dataset(out, suffix="_mask.nii")
    dataset.update(load_bids_dataset(out))
    assert sorted(s.subject_id for s in dataset.values()) == [
        "sub-P03",
        "sub-pat02",
        "sub-patient001",
    ]
    for subject in dataset.values():
        assert subject.metadata["session_id"] == "ses-01"
        assert "label" not in subject.metadata
    original = nib.load(loose / "sub-P03.nii.gz")
    np.testing.assert_array_equal(
        dataset["sub-P03_ses-01_space-MNI152NLin6Asym_res-1_mask"].mask,
        np.asanyarray(original.dataobj).astype(bool),
    )


@pytest.mark.skipif(validator_missing(), reason="bids-validator-deno is not installed")
def test_bidsify_output_passes_the_official_validator(loose: Path, tmp_path: Path) -> None:
    out = bidsify(loose, tmp_path / "bids", space=SPACE, session="1", label="lesion")
    report = run_validator(out)
    assert report.errors == [], report.describe()


def test_bidsify_adds_a_session_and_subjects_to_a_dataset(loose: Path, tmp_path: Path) -> None:
    out = bidsify(loose, tmp_path / "bids", space=SPACE, session="1")
    (out / "participants.tsv").write_text(
        "participant_id\tage\nsub-P03\t60\nsub-pat02\t70\nsub-patient001\t80\n"
    )
    more = tmp_path / "more"
    more.mkdir()
    nib.save(box("nlin6_2mm"), more / "new.nii.gz")
    shutil.copy(loose / "patient_001.nii.gz", more)
    bidsify(more, out, space=SPACE, session="2")
    assert (
        out / "sub-new/ses-2/anat/sub-new_ses-2_space-MNI152NLin6Asym_res-2_mask.nii.gz"
    ).exists()
    assert (out / "sub-patient001/ses-2/anat").is_dir()
    assert (out / "participants.tsv").read_text() == (
        "participant_id\tage\nsub-P03\t60\nsub-new\tn/a\nsub-pat02\t70\nsub-patient001\t80\n"
    )


def _tree(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in root.rglob("*") if p.is_file()}


def test_bidsify_never_replaces_a_mask(loose: Path, tmp_path: Path) -> None:
    out = bidsify(loose, tmp_path / "bids", space=SPACE)
    before = _tree(out)
    with pytest.raises(BidsError, match=r"3 mask.*exist .* already") as info:
        bidsify(loose, out, space=SPACE)
    assert "never replaces" in info.value.hint
    assert _tree(out) == before


def test_bidsify_lists_every_bad_mask_and_writes_nothing(loose: Path, tmp_path: Path) -> None:
    nib.save(_empty(), loose / "empty.nii.gz")
    nib.save(_four_d(), loose / "four_d.nii.gz")
    (loose / "broken.nii.gz").write_bytes(b"garbage")
    with pytest.raises(BidsError, match="cannot bidsify") as info:
        bidsify(loose, tmp_path / "bids", space=SPACE)
    for name, reason in [("empty", "empty"), ("four_d", "3D"), ("broken", "not a readable")]:
        assert f"{name}.nii.gz: " in str(info.value) and reason in str(info.value)
    assert not (tmp_path / "bids").exists()


def test_bidsify_refuses_a_space_the_headers_contradict(loose: Path, tmp_path: Path) -> None:
    with pytest.raises(BidsError, match="contradicts the header"):
        bidsify(loose, tmp_path / "bids", space="MNI152NLin2009cAsym")


def test_bidsify_refuses_two_files_giving_one_subject(loose: Path, tmp_path: Path) -> None:
    shutil.copy(loose / "patient_001.nii.gz", loose / "patient-001.nii.gz")
    with pytest.raises(BidsError, match="both give sub-patient001"):
        bidsify(loose, tmp_path / "bids", space=SPACE)


def test_bidsify_bad_arguments(loose: Path, tmp_path: Path) -> None:
    with pytest.raises(NotFoundError):
        bidsify(loose, tmp_path / "bids", space="Talairach1988Planet")
    with pytest.raises(ArgumentError, match="session 'ses_01' is not a BIDS label"):
        bidsify(loose, tmp_path / "bids", space=SPACE, session="ses_01")
    with pytest.raises(ArgumentError, match="label 'acute infarct'"):
        bidsify(loose, tmp_path / "bids", space=SPACE, label="acute infarct")
    with pytest.raises(BidsError, match="no such folder"):
        bidsify(tmp_path / "nowhere", tmp_path / "bids", space=SPACE)
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(BidsError, match="no NIfTI file"):
        bidsify(empty, tmp_path / "bids", space=SPACE)
