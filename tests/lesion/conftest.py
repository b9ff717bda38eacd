"""Shared fixtures of the lesion tests: synthetic BIDS datasets of lesion masks, and results.

The masks are made by :mod:`tests.lesion.masks` on the standard MNI grids, as
real masks are; the datasets are laid out as real BIDS datasets are (sessions,
labels, sidecars, participants.tsv, an anatomical image beside the masks).
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest

from neuratlas.lesion.provenance import provenance_record
from neuratlas.lesion.results import (
    ConnectivityMatrix,
    ParcelData,
    ScalarMetric,
    VoxelMap,
    result_key,
)
from neuratlas.lesion.subject import SubjectData
from tests.lesion.masks import GRIDS, box_mask

SPACE = "MNI152NLin6Asym"


#: A box-shaped lesion on a standard grid (one maker of masks for every lesion test).
box = box_mask


@dataclass(frozen=True)
class MaskFile:
    """One mask of a synthetic dataset: where it is, and what it holds."""

    path: Path
    subject_id: str
    session_id: str | None
    label: str
    resolution: float
    mask: np.ndarray
    affine: np.ndarray

    @property
    def key(self) -> str:
        """Its key in ``load_bids_dataset``'s result: the file name without extension."""
        return self.path.name.removesuffix(".nii.gz").removesuffix(".nii")


@dataclass(frozen=True)
class BidsDataset:
    """A synthetic BIDS dataset of lesion masks."""

    root: Path
    masks: tuple[MaskFile, ...]

    def mask(self, subject_id: str, session_id: str | None = None) -> MaskFile:
        """The mask of a subject (and session)."""
        return next(
            m for m in self.masks if m.subject_id == subject_id and m.session_id == session_id
        )


def write_mask(
    root: Path,
    subject: str,
    session: str | None,
    label: str,
    img: nib.Nifti1Image,
    *,
    res: str | None = None,
    space: str | None = SPACE,
    sidecar: dict | None = None,
    name: str | None = None,
) -> Path:
    """Write ``img`` into a BIDS dataset as sub-<subject>[/ses-<session>]/anat/<name>."""
    folder = root / f"sub-{subject}"
    if session:
        folder = folder / f"ses-{session}"
    folder = folder / "anat"
    folder.mkdir(parents=True, exist_ok=True)
    if name is None:
        parts = [f"sub-{subject}"]
        parts += [f"ses-{session}"] if session else []
        parts += [f"space-{space}"] if space else []
        parts += [f"res-{res}"] if res else []
        parts += [f"label-{label}", "mask.nii.gz"]
        name = "_".join(parts)
    path = folder / name
    nib.save(img, path)
    if sidecar is not None:
        stem = name.removesuffix(".nii.gz").removesuffix(".nii")
        (folder / f"{stem}.json").write_text(json.dumps(sidecar), encoding="utf-8")
    return path


def _mask_file(path: Path, img: nib.Nifti1Image, sub: str, ses: str | None, label: str):
    return MaskFile(
        path=path,
        subject_id=f"sub-{sub}",
        session_id=f"ses-{ses}" if ses else None,
        label=label,
        resolution=float(abs(img.affine[0, 0])),
        mask=np.asanyarray(img.dataobj).astype(bool),
        affine=img.affine,
    )


def build_bids_dataset(root: Path) -> BidsDataset:
    """A dataset of four masks: two sessions of sub-01, sub-02 (WMH), sub-03 at 1 mm.

    Besides the masks: dataset_description.json, participants.tsv (+ .json), a
    README, a sidecar per mask, and a T1w image of sub-01 (not a mask).
    """
    root.mkdir(parents=True, exist_ok=True)
    (root / "dataset_description.json").write_text(
        json.dumps({"Name": "Synthetic stroke cohort", "BIDSVersion": "1.10.0"}), encoding="utf-8"
    )
    (root / "README.md").write_text("Synthetic lesion masks for the neuratlas tests.\n")
    (root / "participants.tsv").write_text(
        "participant_id\tage\tsex\nsub-01\t64\tF\nsub-02\t71\tM\nsub-03\t58\tF\n"
    )
    (root / "participants.json").write_text(
        json.dumps({"age": {"Description": "age", "Units": "year"}, "sex": {"Description": "sex"}})
    )
    specs = [
        # subject, session, label, grid, res label, centre (mm), half size (mm)
        ("01", "01", "acuteinfarct", "nlin6_2mm", "2", (-40, -10, 20), (8, 10, 8)),
        ("01", "02", "acuteinfarct", "nlin6_2mm", "2", (-40, -10, 20), (4, 6, 4)),
        ("02", None, "WMH", "nlin6_2mm", "2", (24, 10, 30), (6, 14, 4)),
        ("03", None, "acuteinfarct", "nlin6_1mm", "1", (30, -60, 10), (6, 5, 7)),
    ]
    masks = []
    for sub, ses, label, grid, res, centre, half in specs:
        img = box(grid, centre_mm=centre, half_size_mm=half)
        sidecar = {"Type": "Lesion", "Resolution": f"{res} mm"}
        path = write_mask(root, sub, ses, label, img, res=res, sidecar=sidecar)
        masks.append(_mask_file(path, img, sub, ses, label))
    # an anatomical image beside the masks: not binary, never a mask
    affine = GRIDS["nlin6_2mm"][1]
    t1 = np.random.default_rng(0).normal(500, 80, size=(10, 12, 10)).astype(np.float32)
    nib.save(nib.Nifti1Image(t1, affine), root / "sub-01/ses-01/anat/sub-01_ses-01_T1w.nii.gz")
    return BidsDataset(root, tuple(masks))


@pytest.fixture(scope="session")
def bids_dataset(tmp_path_factory: pytest.TempPathFactory) -> BidsDataset:
    """A synthetic BIDS dataset of lesion masks, shared by all tests: do not change it."""
    return build_bids_dataset(tmp_path_factory.mktemp("bids") / "stroke")


@pytest.fixture
def bids_copy(bids_dataset: BidsDataset, tmp_path: Path) -> BidsDataset:
    """A private copy of :func:`bids_dataset`, for tests that add or break files."""
    root = tmp_path / "stroke"
    shutil.copytree(bids_dataset.root, root)
    masks = tuple(
        replace(m, path=root / m.path.relative_to(bids_dataset.root)) for m in bids_dataset.masks
    )
    return BidsDataset(root, masks)


# --- results with known values ---------------------------------------------------------
ATLAS = "Schaefer2018100Parcels7Networks"
REGIONS = ["7Networks_LH_Vis_1", "7Networks_LH_SomMot_1", "7Networks_RH_Default_PFCm_1"]


def _smooth_map(shape: Sequence[int], phase: float) -> np.ndarray:
    """A smooth map in [-1, 1] inside a brain-sized ellipsoid, 0 outside, to 3 decimals.

    Network maps are smooth and masked to the brain; such maps also compress as
    real ones do, where random noise would make every export slow.
    """
    i, j, k = np.ogrid[: shape[0], : shape[1], : shape[2]]
    centred = [(a - n / 2) / (n / 2.3) for a, n in zip((i, j, k), shape, strict=True)]
    brain = sum(c**2 for c in centred) < 1
    wave = np.sin(i / 3.5 + phase) * np.cos(j / 4.5) * np.sin(k / 2.5 + 1)
    return np.where(brain, np.round(wave, 3), 0).astype(np.float32)


def known_results(subject: SubjectData, seed: int = 0) -> SubjectData:
    """``subject`` with results of two analyses of every container kind, values from ``seed``.

    FunctionalNetworkMapping: an r map and a z map (VoxelMap), their regional means
    (ParcelData, one value NaN), summary statistics (ScalarMetric, a dict);
    StructuralNetworkMapping: a disconnection matrix (ConnectivityMatrix) and a
    lesion-load count (ScalarMetric, a number). Each run leaves a provenance record.
    """
    rng = np.random.default_rng(seed)
    shape, affine = subject.shape, subject.affine
    rmap = _smooth_map(shape, phase=float(rng.uniform(0, 6)))
    fnm = {
        result_key(desc="rmap"): VoxelMap(
            "rmap",
            nib.Nifti1Image(rmap, affine),
            subject.space,
            subject.resolution,
            {"Units": "r"},
        ),
        result_key(desc="zmap"): VoxelMap(
            "zmap",
            nib.Nifti1Image(np.round(np.arctanh(rmap * 0.99), 3).astype(np.float32), affine),
            subject.space,
            subject.resolution,
        ),
        result_key(atlas=ATLAS, desc="rmap"): ParcelData(
            "mean r",
            dict(zip(REGIONS, [float(rng.uniform(-1, 1)), float("nan"), 0.25], strict=True)),
            region_labels=[1, 2, 3],
            parcel_names=[ATLAS],
            aggregation_method="mean",
            metadata={"Source": "rmap"},
        ),
        result_key(desc="summary"): ScalarMetric(
            "summary", {"mean_r": np.float64(0.125), "n_subjects": np.int64(40)}
        ),
    }
    matrix = rng.uniform(0, 1, size=(3, 3))
    snm = {
        result_key(atlas=ATLAS, desc="disconnection"): ConnectivityMatrix(
            "disconnection", (matrix + matrix.T) / 2, REGIONS, "structural"
        ),
        result_key(desc="lesionload"): ScalarMetric("lesion load", int(subject.mask.sum())),
    }
    out = subject
    for name, results in (("FunctionalNetworkMapping", fnm), ("StructuralNetworkMapping", snm)):
        record = provenance_record(
            f"neuratlas.lesion.analysis.{name}", {"seed": seed}, {"mask": subject.digest()}
        )
        out = out.add_result(name, results).add_provenance(record)
    return out


@pytest.fixture
def with_results() -> Callable[[SubjectData], SubjectData]:
    """:func:`known_results`, as a fixture."""
    return known_results


# --- the official BIDS validator ----------------------------------------------------------
def validator_command() -> str | None:
    """The ``bids-validator-deno`` executable (the dev extra installs it beside Python)."""
    beside = Path(sys.executable).parent / "bids-validator-deno"
    return str(beside) if beside.exists() else shutil.which("bids-validator-deno")


def validator_missing() -> bool:
    """Whether the official validator cannot be run here."""
    return validator_command() is None


@dataclass(frozen=True)
class ValidatorReport:
    """What the official validator said about a dataset."""

    issues: list[dict]
    summary: dict

    @property
    def errors(self) -> list[dict]:
        """The issues of severity ``error``."""
        return [i for i in self.issues if i.get("severity") == "error"]

    @property
    def warnings(self) -> list[dict]:
        """The issues of severity ``warning``."""
        return [i for i in self.issues if i.get("severity") == "warning"]

    def describe(self) -> str:
        """The errors, one line each: code, file, message."""
        return "\n".join(
            f"{i.get('code')} {i.get('location')}: {(i.get('issueMessage') or '')[:200]}"
            for i in self.errors
        )


def run_validator(root: Path) -> ValidatorReport:
    """Run ``bids-validator-deno`` on ``root`` as a derivative dataset, JSON out (offline)."""
    command = validator_command()
    assert command is not None, "bids-validator-deno is not installed"
    done = subprocess.run(
        [command, "--format", "json", "--datasetTypes", "derivative", str(root)],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    try:
        output = json.loads(done.stdout)
    except json.JSONDecodeError:
        raise AssertionError(f"the validator failed ({done.returncode}): {done.stderr}") from None
    return ValidatorReport(output["issues"]["issues"], output["summary"])
