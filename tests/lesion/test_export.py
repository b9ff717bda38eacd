"""Results out: BIDS derivatives (validated by the official validator), tables, JSON, NIfTI."""

from __future__ import annotations

import fnmatch
import json
import math
import shutil
from dataclasses import dataclass
from pathlib import Path

import nibabel as nib
import numpy as np
import pandas as pd
import pytest

from neuratlas.__about__ import __version__
from neuratlas.errors import ArgumentError, ArgumentTypeError, BidsError
from neuratlas.lesion import derivatives
from neuratlas.lesion.bids import load_bids_dataset, validate_bids_derivatives
from neuratlas.lesion.derivatives import BIDSIGNORE
from neuratlas.lesion.entities import bids_name
from neuratlas.lesion.export import (
    batch_export_to_csv,
    batch_export_to_tsv,
    export_bids_derivatives,
    export_provenance_to_json,
    export_results_to_csv,
    export_results_to_json,
    export_results_to_tsv,
    save_nifti,
)
from neuratlas.lesion.results import ScalarMetric, VoxelMap, result_key
from neuratlas.lesion.subject import SubjectData
from tests.lesion.conftest import (
    ATLAS,
    REGIONS,
    SPACE,
    BidsDataset,
    box,
    known_results,
    run_validator,
    validator_missing,
    write_mask,
)

needs_validator = pytest.mark.skipif(
    validator_missing(), reason="bids-validator-deno (dev extra) is not installed"
)
FNM, SNM = "FunctionalNetworkMapping", "StructuralNetworkMapping"
PARCELS_KEY = result_key(atlas=ATLAS, desc="rmap")
MATRIX_KEY = result_key(atlas=ATLAS, desc="disconnection")


def _tree(root: Path) -> dict[str, bytes]:
    """Every file under ``root`` (dot files included), by relative path, with its bytes."""
    return {str(p.relative_to(root)): p.read_bytes() for p in root.rglob("*") if p.is_file()}


def _dirs(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_dir())


@dataclass(frozen=True)
class Exported:
    """The synthetic dataset's four masks, with results, exported into one derivatives folder."""

    root: Path
    subjects: dict[str, SubjectData]
    folders: dict[str, Path]


@pytest.fixture(scope="module")
def exported(bids_dataset: BidsDataset, tmp_path_factory: pytest.TempPathFactory) -> Exported:
    dataset = load_bids_dataset(bids_dataset.root)
    root = tmp_path_factory.mktemp("export") / "derivatives" / "neuratlas"
    subjects = {k: known_results(s, seed=i) for i, (k, s) in enumerate(dataset.items())}
    folders = {k: export_bids_derivatives(s, root) for k, s in subjects.items()}
    return Exported(root, subjects, folders)


def _subject(exported: Exported, subject_id: str, session: str | None = None) -> SubjectData:
    return next(
        s
        for s in exported.subjects.values()
        if s.subject_id == subject_id and s.metadata.get("session_id") == session
    )


# --- the BIDS derivatives tree --------------------------------------------------------------
@needs_validator
def test_the_official_validator_finds_no_error(exported: Exported) -> None:
    report = run_validator(exported.root)
    assert report.errors == [], report.describe()
    assert sorted(report.summary["subjects"]) == ["01", "02", "03"]
    assert sorted(report.summary["sessions"]) == ["01", "02"]


@needs_validator
def test_the_official_validator_does_check_the_masks(exported: Exported, tmp_path: Path) -> None:
    # .bidsignore lists the result files the specification has no type for; the masks
    # are not among them, so a mask named against the specification is an error
    names = [p.name for p in exported.root.rglob("*_mask.*")]
    assert names and not any(fnmatch.fnmatch(n, pat) for n in names for pat in BIDSIGNORE)
    broken = Path(shutil.copytree(exported.root, tmp_path / "broken"))
    mask = next((broken / "sub-02" / "anat").glob("*_mask.nii.gz"))
    mask.rename(mask.with_name("sub-02_label-WMH_space-MNI152NLin6Asym_mask.nii.gz"))
    assert run_validator(broken).errors


def test_our_validator_finds_nothing_to_say(exported: Exported) -> None:
    assert validate_bids_derivatives(exported.root) == {"errors": [], "warnings": []}


def test_the_dataset_description_says_derivative_by_neuratlas(exported: Exported) -> None:
    description = json.loads((exported.root / "dataset_description.json").read_text())
    assert description["DatasetType"] == "derivative"
    assert description["BIDSVersion"] == derivatives.BIDS_VERSION
    assert description["GeneratedBy"][0]["Name"] == "neuratlas"
    assert description["GeneratedBy"][0]["Version"] == __version__
    assert (exported.root / ".bidsignore").read_text().splitlines() == list(BIDSIGNORE)
    assert (exported.root / "README.md").exists()


def test_each_subject_gets_its_folder_with_every_result(exported: Exported) -> None:
    by_subject = {
        (s.subject_id, s.metadata.get("session_id")): exported.folders[k]
        for k, s in exported.subjects.items()
    }
    root = exported.root
    assert by_subject == {
        ("sub-01", "ses-01"): root / "sub-01" / "ses-01",
        ("sub-01", "ses-02"): root / "sub-01" / "ses-02",
        ("sub-02", None): root / "sub-02",
        ("sub-03", None): root / "sub-03",
    }
    names = sorted(p.name for p in (root / "sub-02" / "anat").iterdir())
    base, grid = "sub-02_space-MNI152NLin6Asym", "sub-02_space-MNI152NLin6Asym_res-2"
    # where atlas- goes relative to label- is ENTITY_ORDER's to say
    atlas = {"sub": "02", "space": SPACE, "label": "WMH", "atlas": ATLAS}
    assert names == sorted(
        [
            "sub-02_label-WMH_provenance.json",
            bids_name({**atlas, "desc": "disconnection"}, "relmat", ".json"),
            bids_name({**atlas, "desc": "disconnection"}, "relmat", ".tsv"),
            bids_name({**atlas, "desc": "rmap"}, "parcelstats", ".json"),
            bids_name({**atlas, "desc": "rmap"}, "parcelstats", ".tsv"),
            f"{base}_label-WMH_desc-lesionload_metrics.json",
            f"{base}_label-WMH_desc-summary_metrics.json",
            f"{grid}_label-WMH_desc-rmap_statmap.json",
            f"{grid}_label-WMH_desc-rmap_statmap.nii.gz",
            f"{grid}_label-WMH_desc-zmap_statmap.json",
            f"{grid}_label-WMH_desc-zmap_statmap.nii.gz",
            f"{grid}_label-WMH_mask.json",
            f"{grid}_label-WMH_mask.nii.gz",
        ]
    )
    one_mm = [p.name for p in (root / "sub-03" / "anat").glob("*_mask.nii.gz")]
    assert one_mm == ["sub-03_space-MNI152NLin6Asym_res-1_label-acuteinfarct_mask.nii.gz"]


def test_the_masks_reload_as_they_were(exported: Exported) -> None:
    reloaded = load_bids_dataset(exported.root)
    assert len(reloaded) == 4
    for subject in exported.subjects.values():
        again = next(
            r
            for r in reloaded.values()
            if r.subject_id == subject.subject_id
            and r.metadata.get("session_id") == subject.metadata.get("session_id")
        )
        np.testing.assert_array_equal(again.mask, subject.mask)
        np.testing.assert_array_equal(again.affine, subject.affine)
        assert again.digest() == subject.digest()
        for key in ("label", "space", "resolution"):
            assert again.metadata[key] == subject.metadata[key]


def _anat(exported: Exported, subject: str = "sub-01", session: str | None = "ses-01") -> Path:
    folder = exported.root / subject
    return (folder / session if session else folder) / "anat"


def _one(folder: Path, pattern: str) -> Path:
    (found,) = folder.glob(pattern)
    return found


def test_the_mask_sidecar_describes_the_lesion(exported: Exported) -> None:
    subject = _subject(exported, "sub-01", "ses-01")
    sidecar = json.loads(_one(_anat(exported), "*_mask.json").read_text())
    assert sidecar == {
        "Type": "Lesion",
        "Description": "Binary lesion mask (acuteinfarct): 1 inside the lesion, 0 elsewhere",
        "Space": SPACE,
        "Resolution": "2 mm",
        "VoxelCount": int(subject.mask.sum()),
        "VolumeMm3": subject.get_volume_mm3(),
        "MaskSha256": subject.digest(),
    }
    # the digest is the one the provenance records name as their input
    assert {r["inputs"]["mask"] for r in subject.provenance} == {sidecar["MaskSha256"]}


def test_voxel_maps_are_written_as_they_are(exported: Exported) -> None:
    subject = _subject(exported, "sub-03")
    anat = _anat(exported, "sub-03", None)
    written = nib.load(_one(anat, "*desc-rmap_statmap.nii.gz"))
    expected = subject.results[FNM]["desc-rmap"].data
    np.testing.assert_array_equal(np.asanyarray(written.dataobj), np.asanyarray(expected.dataobj))
    np.testing.assert_array_equal(written.affine, subject.affine)
    assert written.get_data_dtype() == np.float32
    sidecar = json.loads(_one(anat, "*desc-rmap_statmap.json").read_text())
    assert sidecar == {
        "Description": "rmap",
        "Analysis": FNM,
        "ResultKey": "desc-rmap",
        "Space": SPACE,
        "Resolution": "1 mm",
        "Metadata": {"Units": "r"},
    }


def test_regional_values_are_a_tsv_with_n_a_for_missing(exported: Exported) -> None:
    subject = _subject(exported, "sub-01", "ses-01")
    table_path = _one(_anat(exported), "*_parcelstats.tsv")
    text = table_path.read_text()
    assert text.splitlines()[0] == "region\tlabel\tvalue"
    assert f"{REGIONS[1]}\t2\tn/a" in text.splitlines()
    table = pd.read_csv(table_path, sep="\t", na_values="n/a", keep_default_na=False)
    expected = subject.results[FNM][PARCELS_KEY]
    assert table["region"].tolist() == REGIONS
    assert table["label"].tolist() == [1, 2, 3]
    np.testing.assert_array_equal(table["value"], list(expected.data.values()))  # NaN == NaN
    sidecar = json.loads(_one(_anat(exported), "*_parcelstats.json").read_text())
    assert sidecar["Analysis"] == FNM and sidecar["ResultKey"] == PARCELS_KEY
    assert sidecar["AggregationMethod"] == "mean" and sidecar["Parcellation"] == [ATLAS]
    assert set(sidecar) >= {"region", "label", "value"}
    assert sidecar["Metadata"] == {"Source": "rmap"}


def test_matrices_are_a_tsv_named_by_region(exported: Exported) -> None:
    subject = _subject(exported, "sub-02")
    anat = _anat(exported, "sub-02", None)
    table = pd.read_csv(_one(anat, "*_relmat.tsv"), sep="\t", index_col="region")
    expected = subject.results[SNM][MATRIX_KEY]
    assert table.index.tolist() == REGIONS and table.columns.tolist() == REGIONS
    np.testing.assert_array_equal(table.to_numpy(), expected.matrix)  # written to full precision
    sidecar = json.loads(_one(anat, "*_relmat.json").read_text())
    assert sidecar["MatrixType"] == "structural" and sidecar["Shape"] == [3, 3]


def test_scalars_and_provenance_are_json(exported: Exported) -> None:
    subject = _subject(exported, "sub-02")
    anat = _anat(exported, "sub-02", None)
    summary = json.loads(_one(anat, "*desc-summary_metrics.json").read_text())
    assert summary == {
        "Description": "summary",
        "Analysis": FNM,
        "ResultKey": "desc-summary",
        "Data": {"mean_r": 0.125, "n_subjects": 40},
    }
    load = json.loads(_one(anat, "*desc-lesionload_metrics.json").read_text())
    assert load["Data"] == int(subject.mask.sum())
    provenance = json.loads(_one(anat, "*_provenance.json").read_text())
    assert provenance["Records"] == subject.provenance
    assert [r["function"] for r in provenance["Records"]] == [
        f"neuratlas.lesion.analysis.{FNM}",
        f"neuratlas.lesion.analysis.{SNM}",
    ]


def test_source_entities_of_the_mask_carry_over(tmp_path: Path) -> None:
    name = "sub-07_ses-1_acq-flair_run-2_space-MNI152NLin6Asym_label-WMH_mask.nii.gz"
    path = write_mask(tmp_path / "raw", "07", "1", "WMH", box(), name=name)
    out = tmp_path / "derivatives"
    folder = export_bids_derivatives(SubjectData.from_nifti(path), out)
    assert [p.name for p in (folder / "anat").glob("*.nii.gz")] == [
        "sub-07_ses-1_acq-flair_run-2_space-MNI152NLin6Asym_res-2_label-WMH_mask.nii.gz"
    ]
    assert validate_bids_derivatives(out)["errors"] == []


def test_a_voxel_size_without_res_label_is_left_out_of_the_name(tmp_path: Path) -> None:
    affine = np.diag([1.5, 1.5, 1.5, 1.0])
    data = np.zeros((20, 20, 20), np.uint8)
    data[5:9, 5:9, 5:9] = 1
    subject = SubjectData(
        nib.Nifti1Image(data, affine), space=SPACE, metadata={"subject_id": "sub-01"}
    )
    folder = export_bids_derivatives(subject, tmp_path)
    (mask,) = (folder / "anat").glob("*_mask.nii.gz")
    assert mask.name == "sub-01_space-MNI152NLin6Asym_label-lesion_mask.nii.gz"
    sidecar = json.loads(mask.with_name(mask.name.replace(".nii.gz", ".json")).read_text())
    assert sidecar["Resolution"] == "1.5 mm"


@pytest.fixture
def subject(bids_dataset: BidsDataset) -> SubjectData:
    """sub-02 (no session) with every kind of result."""
    path = bids_dataset.mask("sub-02").path
    return known_results(SubjectData.from_nifti(path))


@pytest.mark.parametrize(
    ("flags", "suffixes"),
    [
        ({}, {"mask", "statmap", "parcelstats", "relmat", "metrics", "provenance"}),
        (
            {
                "export_voxelmaps": False,
                "export_parcel_data": False,
                "export_connectivity": False,
                "export_scalars": False,
                "export_provenance": False,
            },
            {"mask"},
        ),
        (
            {
                "export_lesion_mask": False,
                "export_parcel_data": False,
                "export_connectivity": False,
                "export_scalars": False,
                "export_provenance": False,
            },
            {"statmap"},
        ),
        (
            {"export_scalars": False, "export_voxelmaps": False},
            {"mask", "parcelstats", "relmat", "provenance"},
        ),
    ],
)
def test_flags_choose_what_is_written(
    subject: SubjectData, tmp_path: Path, flags: dict, suffixes: set[str]
) -> None:
    folder = export_bids_derivatives(subject, tmp_path / "out", **flags)
    found = {p.name.split("_")[-1].split(".")[0] for p in (folder / "anat").iterdir()}
    assert found == suffixes


def test_a_subject_without_results_exports_its_mask(
    bids_dataset: BidsDataset, tmp_path: Path
) -> None:
    subject = SubjectData.from_nifti(bids_dataset.mask("sub-02").path)
    folder = export_bids_derivatives(subject, tmp_path)
    assert sorted(p.suffix for p in (folder / "anat").iterdir()) == [".gz", ".json"]


# --- overwrite and atomicity -----------------------------------------------------------------
def test_overwrite_false_leaves_the_tree_byte_identical(
    bids_dataset: BidsDataset, tmp_path: Path
) -> None:
    plain = SubjectData.from_nifti(bids_dataset.mask("sub-02").path)
    out = tmp_path / "out"
    export_bids_derivatives(known_results(plain, seed=1), out)
    before, folders = _tree(out), _dirs(out)
    with pytest.raises(FileExistsError, match="nothing was written") as info:
        export_bids_derivatives(known_results(plain, seed=5), out)
    assert "overwrite=True" in str(info.value)
    assert _tree(out) == before and _dirs(out) == folders


def test_one_existing_file_stops_the_whole_export(subject: SubjectData, tmp_path: Path) -> None:
    out = tmp_path / "out"
    export_bids_derivatives(subject, out, export_voxelmaps=False)
    removed = [p for p in out.rglob("*") if p.is_file() and "provenance" not in p.name]
    for path in removed:
        path.unlink()
    before = _tree(out)
    with pytest.raises(FileExistsError, match="1 file"):
        export_bids_derivatives(subject, out)
    assert _tree(out) == before


def test_overwrite_true_replaces_the_files(bids_dataset: BidsDataset, tmp_path: Path) -> None:
    plain = SubjectData.from_nifti(bids_dataset.mask("sub-02").path)
    out = tmp_path / "out"
    export_bids_derivatives(known_results(plain, seed=1), out)
    old = _tree(out)
    export_bids_derivatives(known_results(plain, seed=2), out, overwrite=True)
    new = _tree(out)
    assert new.keys() == old.keys()
    changed = {k for k in new if new[k] != old[k]}
    assert any(k.endswith("statmap.nii.gz") for k in changed)
    assert not any(k.endswith("_mask.nii.gz") for k in changed)  # same mask, same bytes
    assert not [k for k in new if k.endswith(".part")]


def _failing_after(monkeypatch: pytest.MonkeyPatch, name: str, calls: int) -> None:
    """Make ``derivatives.<name>`` raise on its ``calls + 1``-th call."""
    original = getattr(derivatives, name)
    count = {"n": 0}

    def failing(*args, **kwargs):
        count["n"] += 1
        if count["n"] > calls:
            raise OSError("disk full (simulated)")
        return original(*args, **kwargs)

    monkeypatch.setattr(derivatives, name, failing)


@pytest.mark.parametrize(("name", "calls"), [("table_bytes", 1), ("to_nifti_bytes", 2)])
def test_a_failure_midway_writes_nothing_into_a_new_folder(
    subject: SubjectData, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, name: str, calls: int
) -> None:
    _failing_after(monkeypatch, name, calls)
    with pytest.raises(OSError, match="simulated"):
        export_bids_derivatives(subject, tmp_path / "derivatives" / "neuratlas")
    assert list(tmp_path.iterdir()) == []  # not even the folders


def test_a_failure_midway_leaves_an_existing_tree_as_it_was(
    bids_dataset: BidsDataset, subject: SubjectData, tmp_path: Path, monkeypatch
) -> None:
    out = tmp_path / "out"
    first = SubjectData.from_nifti(bids_dataset.mask("sub-01", "ses-01").path)
    export_bids_derivatives(known_results(first), out)
    before, folders = _tree(out), _dirs(out)
    _failing_after(monkeypatch, "table_bytes", 1)
    with pytest.raises(OSError, match="simulated"):
        export_bids_derivatives(subject, out)
    assert _tree(out) == before and _dirs(out) == folders  # no sub-02, no .part file


# --- bad input ---------------------------------------------------------------------------------
def test_a_subject_without_id_cannot_be_filed(tmp_path: Path) -> None:
    anonymous = SubjectData(box())
    with pytest.raises(ArgumentError, match="no subject_id") as info:
        export_bids_derivatives(anonymous, tmp_path)
    assert "with_metadata(subject_id=" in info.value.hint
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    ("metadata", "message"),
    [
        ({"subject_id": "sub-0_1"}, "subject_id 'sub-0_1' is not a BIDS label"),
        ({"subject_id": "sub-01", "session_id": "ses-1 a"}, "session_id 'ses-1 a'"),
        ({"subject_id": "sub-01", "label": "acute-infarct"}, "label 'acute-infarct'"),
    ],
)
def test_identifiers_must_be_bids_labels(tmp_path: Path, metadata: dict, message: str) -> None:
    with pytest.raises(ArgumentError, match=message):
        export_bids_derivatives(SubjectData(box(), metadata=metadata), tmp_path)


@pytest.mark.parametrize(
    ("key", "message"),
    [
        ("source-fnm_desc-rmap", "source: not a BIDS entity"),
        ("rmap", "result key 'rmap' of Custom is not made of BIDS entities"),
        ("sub-02_desc-x", "sets sub"),
    ],
)
def test_result_keys_must_be_bids_entities(
    subject: SubjectData, tmp_path: Path, key: str, message: str
) -> None:
    odd = subject.add_result("Custom", {key: ScalarMetric("x", 1.0)})
    with pytest.raises(BidsError, match=message):
        export_bids_derivatives(odd, tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_two_results_for_one_file_are_an_error(subject: SubjectData, tmp_path: Path) -> None:
    twin = subject.add_result("Other", {"desc-summary": ScalarMetric("again", 2.0)})
    with pytest.raises(BidsError, match=r"would both be written to .*desc-summary_metrics\.json"):
        export_bids_derivatives(twin, tmp_path / "out")


def test_a_result_that_is_not_json_is_an_error(subject: SubjectData, tmp_path: Path) -> None:
    odd = subject.add_result("Custom", {"desc-odd": ScalarMetric("odd", object())})
    with pytest.raises(BidsError, match="cannot be written as JSON"):
        export_bids_derivatives(odd, tmp_path / "out")


def test_a_voxel_map_in_an_unknown_space_is_an_error(subject: SubjectData, tmp_path: Path) -> None:
    image = subject.results[FNM]["desc-rmap"].data
    odd = subject.add_result("Custom", {"desc-x": VoxelMap("x", image, "Mars2020", 2.0)})
    with pytest.raises(BidsError, match="space 'Mars2020' has no BIDS name"):
        export_bids_derivatives(odd, tmp_path / "out")


def test_a_raw_dataset_is_not_a_derivatives_folder(
    bids_copy: BidsDataset, subject: SubjectData
) -> None:
    description = bids_copy.root / "dataset_description.json"
    description.write_text(
        json.dumps({"Name": "raw", "BIDSVersion": "1.10.0", "DatasetType": "raw"})
    )
    before = _tree(bids_copy.root)
    with pytest.raises(BidsError, match="is a raw BIDS dataset") as info:
        export_bids_derivatives(subject, bids_copy.root)
    assert "derivatives" in info.value.hint and _tree(bids_copy.root) == before


def test_output_dir_and_subject_are_checked(subject: SubjectData, tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(ArgumentError, match="it is a file"):
        export_bids_derivatives(subject, blocker)
    with pytest.raises(ArgumentTypeError, match="must be a SubjectData"):
        export_bids_derivatives(box(), tmp_path)


# --- tables and JSON ---------------------------------------------------------------------------
def _expected_row(subject: SubjectData) -> dict:
    parcels = subject.results[FNM][PARCELS_KEY].data
    row = {f"{FNM}.{PARCELS_KEY}.{region}": value for region, value in parcels.items()}
    row[f"{FNM}.desc-summary.mean_r"] = 0.125
    row[f"{FNM}.desc-summary.n_subjects"] = 40
    row[f"{SNM}.desc-lesionload"] = int(subject.mask.sum())
    return row


def _same(a, b) -> bool:
    return (isinstance(a, float) and math.isnan(a) and math.isnan(b)) or a == b


def test_one_subject_as_a_csv_row(subject: SubjectData, tmp_path: Path) -> None:
    path = export_results_to_csv(subject, tmp_path / "tables" / "results.csv")
    table = pd.read_csv(path)
    assert len(table) == 1
    row = table.iloc[0].to_dict()
    assert list(table.columns[:4]) == ["subject_id", "session_id", "label", "coordinate_space"]
    assert row["subject_id"] == "sub-02" and math.isnan(row["session_id"])
    assert (row["label"], row["coordinate_space"]) == ("WMH", SPACE)
    expected = _expected_row(subject)
    assert list(table.columns[4:]) == list(expected)  # no voxel map, no matrix
    assert all(_same(row[k], v) for k, v in expected.items())
    # a missing value is an empty cell
    assert ",," in path.read_text().splitlines()[1]


def test_one_subject_as_a_tsv_row_with_n_a(subject: SubjectData, tmp_path: Path) -> None:
    path = export_results_to_tsv(subject, tmp_path / "results.tsv", analysis_name=SNM)
    header, values = (line.split("\t") for line in path.read_text().splitlines())
    assert header == [
        "subject_id",
        "session_id",
        "label",
        "coordinate_space",
        f"{SNM}.desc-lesionload",
    ]
    assert values == ["sub-02", "n/a", "WMH", SPACE, str(int(subject.mask.sum()))]


def test_a_row_without_metadata(subject: SubjectData, tmp_path: Path) -> None:
    path = export_results_to_csv(subject, tmp_path / "r.csv", FNM, include_metadata=False)
    assert list(pd.read_csv(path).columns) == [k for k in _expected_row(subject) if FNM in k]


def test_row_exports_refuse_missing_results(bids_dataset: BidsDataset, tmp_path: Path) -> None:
    plain = SubjectData.from_nifti(bids_dataset.mask("sub-02").path)
    with pytest.raises(ArgumentError, match="no results to export"):
        export_results_to_csv(plain, tmp_path / "r.csv")
    with pytest.raises(ArgumentError, match="no results of analysis 'RegionalDamage'") as info:
        export_results_to_tsv(known_results(plain), tmp_path / "r.tsv", "RegionalDamage")
    assert FNM in info.value.hint
    with pytest.raises(ArgumentTypeError):
        export_results_to_csv("sub-02", tmp_path / "r.csv")
    assert list(tmp_path.iterdir()) == []


def test_results_as_json(subject: SubjectData, tmp_path: Path) -> None:
    path = export_results_to_json(subject, tmp_path / "r.json", include_provenance=True)

    def refuse(constant: str) -> None:
        raise AssertionError(f"{constant} is not JSON")

    document = json.loads(path.read_text(), parse_constant=refuse)
    assert document["metadata"]["subject_id"] == "sub-02"
    assert document["metadata"]["coordinate_space"] == SPACE
    assert document["provenance"] == subject.provenance
    fnm = document["results"][FNM]
    assert fnm["desc-rmap"] == {
        "type": "VoxelMap",
        "name": "rmap",
        "space": SPACE,
        "resolution": 2.0,
        "shape": [91, 109, 91],
        "metadata": {"Units": "r"},
    }
    parcels = fnm[PARCELS_KEY]
    assert parcels["type"] == "ParcelData" and parcels["data"][REGIONS[1]] is None  # NaN
    matrix = document["results"][SNM][MATRIX_KEY]
    np.testing.assert_array_equal(matrix["matrix"], subject.results[SNM][MATRIX_KEY].matrix)
    assert fnm["desc-summary"]["data"] == {"mean_r": 0.125, "n_subjects": 40}


def test_json_of_one_analysis_compact_without_metadata(
    subject: SubjectData, tmp_path: Path
) -> None:
    path = export_results_to_json(
        subject, tmp_path / "r.json", SNM, include_metadata=False, indent=0
    )
    text = path.read_text()
    assert text.count("\n") == 1
    assert list(json.loads(text)) == ["results"]
    assert list(json.loads(text)["results"]) == [SNM]


def test_many_subjects_as_one_table(bids_dataset: BidsDataset, tmp_path: Path) -> None:
    dataset = load_bids_dataset(bids_dataset.root, subjects=["01", "02"])
    full, partial, bare = dataset.values()
    partial = partial.add_result(SNM, {"desc-lesionload": ScalarMetric("load", 7)})
    subjects = [known_results(full), partial, bare]
    path = batch_export_to_csv(subjects, tmp_path / "group.csv")
    table = pd.read_csv(path)
    assert table["subject_id"].tolist() == ["sub-01", "sub-01"]  # the bare one is left out
    assert table["session_id"].tolist() == ["ses-01", "ses-02"]
    assert table[f"{SNM}.desc-lesionload"].tolist() == [int(full.mask.sum()), 7]
    assert math.isnan(table[f"{FNM}.desc-summary.mean_r"][1])  # missing: NaN
    tsv = batch_export_to_tsv(subjects, tmp_path / "group.tsv", analysis_name=FNM)
    rows = pd.read_csv(tsv, sep="\t", na_values="n/a", keep_default_na=False)
    assert rows["session_id"].tolist() == ["ses-01"]  # only the subject with FNM results


def test_batch_exports_refuse_nothing_to_export(bids_dataset: BidsDataset, tmp_path: Path) -> None:
    plain = SubjectData.from_nifti(bids_dataset.mask("sub-02").path)
    with pytest.raises(ArgumentError, match="mask_data_list is empty"):
        batch_export_to_csv([], tmp_path / "g.csv")
    with pytest.raises(ArgumentError, match="none of the 2 subjects has results"):
        batch_export_to_tsv([plain, plain], tmp_path / "g.tsv")
    with pytest.raises(ArgumentError, match="has results of 'RegionalDamage'"):
        batch_export_to_csv([known_results(plain)], tmp_path / "g.csv", "RegionalDamage")
    assert list(tmp_path.iterdir()) == []


def test_provenance_as_json(subject: SubjectData, tmp_path: Path) -> None:
    path = export_provenance_to_json(subject, tmp_path / "prov" / "p.json")
    assert json.loads(path.read_text()) == subject.provenance
    compact = export_provenance_to_json(subject, tmp_path / "c.json", indent=0)
    assert compact.read_text().count("\n") == 1
    plain = SubjectData(box(), metadata={"subject_id": "sub-01"})
    with pytest.raises(ArgumentError, match="no provenance records"):
        export_provenance_to_json(plain, tmp_path / "none.json")


# --- save_nifti ----------------------------------------------------------------------------------
@pytest.mark.parametrize("name", ["lesion.nii.gz", "lesion.nii", "LESION.NII.GZ"])
def test_save_nifti_round_trips(subject: SubjectData, tmp_path: Path, name: str) -> None:
    path = save_nifti(subject, tmp_path / "out" / name)
    assert path == tmp_path / "out" / name
    img = nib.load(path)
    np.testing.assert_array_equal(np.asanyarray(img.dataobj).astype(bool), subject.mask)
    np.testing.assert_array_equal(img.affine, subject.affine)
    assert img.get_data_dtype() == np.uint8
    assert [p.name for p in path.parent.iterdir()] == [name]  # no temporary file left


def test_save_nifti_checks_the_name_and_says_there_is_no_anatomy(
    subject: SubjectData, tmp_path: Path
) -> None:
    with pytest.raises(ArgumentError, match=r"ends in \.nii or \.nii\.gz"):
        save_nifti(subject, tmp_path / "lesion.mgz")
    with pytest.warns(UserWarning, match="no anatomical image"):
        save_nifti(subject, tmp_path / "lesion.nii.gz", save_anatomical=True)
