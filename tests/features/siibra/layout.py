"""A small, realistic siibra-layout ``features/`` folder and the data files it points to.

:func:`served_files` builds the data (tables, zips, NIfTI, a neuroglancer
precomputed volume) as bytes at server paths; :func:`write_features` writes one
spec of each kind siibra 1.0 reads, in siibra's sub-folders, pointing at a
server at ``base`` (a :class:`~tests.volumes.fake_download_server.FakeDownloadServer`).
``EXPECTED`` holds the arrays the tests compare the decoded data with.
"""

from __future__ import annotations

import gzip
import io
import json
import zipfile
from pathlib import Path
from typing import Any

import nibabel as nib
import numpy as np

HUMAN = {"openminds/Species": "97c070c6-8e1f-4ee8-9d28-18c7945921dd"}
HO_CORTICAL = "neuratlas/parcellation/harvard-oxford-cortical"
#: Four regions of the embedded Harvard-Oxford cortical atlas: the matrices' rows.
REGIONS = [
    "Frontal Pole - left hemisphere",
    "Frontal Pole - right hemisphere",
    "Insular Cortex - left hemisphere",
    "Insular Cortex - right hemisphere",
]
MNI = "neuratlas/space/mni152-2009c-nonl-asym"
RNG = np.random.default_rng(11)


def _matrix(symmetric: bool = True) -> np.ndarray:
    m = RNG.integers(0, 500, size=(4, 4)).astype(float)
    return m + m.T if symmetric else m


EXPECTED: dict[str, Any] = {
    "sc/000": _matrix(),
    "sc/001": _matrix(),
    "fc/average": np.round(RNG.uniform(-1, 1, size=(4, 4)), 4),
    "sl/000": _matrix(),
    "afc/ccep": _matrix(symmetric=False),
    "tracing/average": _matrix(symmetric=False),
    "bold/sub-01": np.round(RNG.normal(size=(6, 4)), 4),
    "fingerprint": {"AMPA": (512.0, 40.5), "NMDA": (1200.0, 80.25), "GABAA": (1800.0, 95.0)},
    "profile": np.round(RNG.uniform(100, 900, size=11), 2),
    "table": np.arange(12, dtype=float).reshape(4, 3),
    "voi": RNG.integers(0, 255, size=(5, 4, 3)).astype(np.uint8),
    "section": RNG.integers(0, 255, size=(6, 2, 3)).astype(np.uint8),
    "precomputed": RNG.integers(0, 255, size=(5, 3, 4)).astype(np.uint8),
}


def _csv(array: np.ndarray, delimiter: str = ",") -> bytes:
    rows = [delimiter.join(repr(float(v)) for v in row) for row in array]
    return ("\n".join(rows) + "\n").encode()


def _zip(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return buffer.getvalue()


def _nifti(data: np.ndarray, affine: np.ndarray, gz: bool = True) -> bytes:
    img = nib.Nifti1Image(data, affine)
    raw = img.to_bytes()
    return gzip.compress(raw) if gz else raw


VOI_AFFINE = np.array([[1, 0, 0, -10], [0, 1, 0, -20], [0, 0, 1, 5], [0, 0, 0, 1]], float)
#: The precomputed volume: 5x3x4 voxels of 2x2x2 mm (2e6 nm), chunks of 2x2x2.
PRECOMPUTED_INFO = {
    "type": "image",
    "data_type": "uint8",
    "num_channels": 1,
    "scales": [
        {
            "key": "2mm",
            "size": [5, 3, 4],
            "resolution": [2e6, 2e6, 2e6],
            "voxel_offset": [0, 0, 0],
            "chunk_sizes": [[2, 2, 2]],
            "encoding": "raw",
        }
    ],
}
PRECOMPUTED_TRANSFORM = [[2e6, 0, 0, -5e6], [0, 2e6, 0, -3e6], [0, 0, 2e6, 0], [0, 0, 0, 1]]


def precomputed_files(
    root: str, volume: np.ndarray, info: dict[str, Any], scale_index: int = 0
) -> dict[str, bytes]:
    """The files of a raw, unsharded precomputed volume (one scale's chunks) at ``root``."""
    files = {f"{root}/info": json.dumps(info).encode()}
    scale = info["scales"][scale_index]
    step = scale["chunk_sizes"][0]
    size = scale["size"]
    ox, oy, oz = scale.get("voxel_offset", (0, 0, 0))
    for x in range(0, size[0], step[0]):
        for y in range(0, size[1], step[1]):
            for z in range(0, size[2], step[2]):
                hi = [min(a + s, n) for a, s, n in zip((x, y, z), step, size, strict=True)]
                block = volume[x : hi[0], y : hi[1], z : hi[2]]
                name = f"{x + ox}-{hi[0] + ox}_{y + oy}-{hi[1] + oy}_{z + oz}-{hi[2] + oz}"
                files[f"{root}/{scale['key']}/{name}"] = np.asfortranarray(block).tobytes("F")
    return files


def _fingerprint_tsv() -> bytes:
    lines = ["receptor\tdensity (mean)\tdensity (sd)\tunit"]
    for name, (mean, sd) in EXPECTED["fingerprint"].items():
        lines.append(f"{name}\t{mean}\t{sd}\tfmol/mg")
    return ("\n".join(lines) + "\n").encode()


def _profile_tsv() -> bytes:
    lines = ["cortical depth (%)\tsample\tdensity\tunit"]
    for i, value in enumerate(EXPECTED["profile"]):
        lines.append(f"{i * 10}\ts1\t{value}\tfmol/mg")
    return ("\n".join(lines) + "\n").encode()


#: Cells of one patch per layer, and the layers' areas (µm²).
CELLS_PER_LAYER = {1: 3, 2: 5, 3: 4}
LAYER_AREAS = {1: 2000.0, 2: 3000.0, 3: 5000.0}


def _segments_txt() -> bytes:
    lines = ["# x y area layer label"]
    for layer, count in CELLS_PER_LAYER.items():
        lines += [f"{i} {layer * 10 + i} 12.5 {layer} 1" for i in range(count)]
    return ("\n".join(lines) + "\n").encode()


def _layerinfo_txt() -> bytes:
    lines = ["# index Name Area(micron**2)"]
    lines += [f"{k} L{k} {area}" for k, area in LAYER_AREAS.items()]
    return ("\n".join(lines) + "\n").encode()


def served_files() -> dict[str, bytes]:
    """Server path -> bytes of every data file the specs point to."""
    files = {
        "/conn/hcp-sc.zip": _zip(
            {"000/sc.csv": _csv(EXPECTED["sc/000"]), "001/sc.csv": _csv(EXPECTED["sc/001"])}
        ),
        "/conn/fc/average.tsv": _csv(EXPECTED["fc/average"], "\t"),
        "/conn/sl/000.csv": _csv(EXPECTED["sl/000"]),
        "/conn/afc/ccep.csv": _csv(EXPECTED["afc/ccep"]),
        "/conn/tracing/average.csv": _csv(EXPECTED["tracing/average"]),
        "/bold/bold.zip": _zip({"sub-01/bold.csv": _csv(EXPECTED["bold/sub-01"])}),
        "/receptors/fp.tsv": _fingerprint_tsv(),
        "/receptors/profile_AMPA.tsv": _profile_tsv(),
        "/cells/pm/1234/0001/segments.txt": _segments_txt(),
        "/cells/pm/1234/0001/layerinfo.txt": _layerinfo_txt(),
        "/tables/t.csv": _csv(EXPECTED["table"], ";"),
        "/images/voi.nii.gz": _nifti(EXPECTED["voi"], VOI_AFFINE),
        "/images/sections.zip": _zip(
            {"sec/s1.nii": _nifti(EXPECTED["section"], np.eye(4), gz=False)}
        ),
    }
    files.update(precomputed_files("/ng/voi", EXPECTED["precomputed"], PRECOMPUTED_INFO))
    files["/ng/voi/transform.json"] = json.dumps(PRECOMPUTED_TRANSFORM).encode()
    return files


def _connectivity(modality: str, **fields: Any) -> dict[str, Any]:
    return {
        "@type": "siibra/feature/connectivitymatrix/v0.3",
        "modality": modality,
        "cohort": "HCP",
        "parcellation": {"@id": HO_CORTICAL},
        "ebrains": HUMAN,
        "regions": REGIONS,
        "decoder": {"@type": "siibra/decoder/csv", "header": None, "index_col": False},
        **fields,
    }


def specs(base: str) -> dict[str, dict[str, Any]]:
    """Relative path under ``features/`` -> spec, one of each kind, data at ``base``."""
    return {
        "connectivity/regional/streamlinecounts/sc_hcp.json": _connectivity(
            "StreamlineCounts",
            **{"@id": "test/sc/hcp"},
            repository={
                "@type": "siibra/repository/zippedfile/v1.0.0",
                "url": f"{base}/conn/hcp-sc.zip",
            },
            files={"000": "000/sc.csv", "001": "001/sc.csv"},
        ),
        "connectivity/regional/functional/fc_hcp.json": _connectivity(
            "FunctionalConnectivity",
            paradigm="Resting state",
            base_url=f"{base}/conn/fc/",
            files={"average": "average.tsv"},
            decoder={"@type": "siibra/decoder/csv", "delimiter": "\t", "header": None},
        ),
        "connectivity/regional/streamlinelengths/sl_hcp.json": _connectivity(
            "StreamlineLengths", base_url=f"{base}/conn/sl/", files={"000": "000.csv"}
        ),
        "connectivity/regional/anatomofunctional/afc.json": _connectivity(
            "AnatomoFunctionalConnectivity",
            cohort="f-tract",
            files_indexed_by="feature",
            base_url=f"{base}/conn/afc/",
            files={"ccep": "ccep.csv"},
        ),
        "connectivity/regional/tracing/tracing.json": _connectivity(
            "TracingConnectivity",
            base_url=f"{base}/conn/tracing/",
            files={"average": "average.csv"},
        ),
        "tabular/activity_timeseries/bold/bold.json": {
            "@type": "siibra/feature/timeseries/activity/v0.1",
            "modality": "RegionalBOLD",
            "cohort": "HCP",
            "paradigm": "rest",
            "parcellation": {"@id": HO_CORTICAL},
            "ebrains": HUMAN,
            "regions": REGIONS,
            "timestep": "0.72 s",
            "repository": {
                "@type": "siibra/repository/zippedfile/v1.0.0",
                "url": f"{base}/bold/bold.zip",
            },
            "decoder": {"@type": "siibra/decoder/csv", "header": None},
            "files": {"sub-01": "sub-01/bold.csv"},
        },
        "tabular/fingerprints/receptor/fp_insula.json": {
            "@type": "siibra/feature/fingerprint/receptor/v0.1",
            "@id": "test/fingerprint/insula",
            "region": "Insular Cortex left",
            "ebrains": HUMAN,
            "file": f"{base}/receptors/fp.tsv",
        },
        "tabular/corticalprofiles/receptor/profile_ampa.json": {
            "@type": "siibra/feature/profile/receptor/v0.1",
            "region": "Frontal Pole",
            "species": "Homo sapiens",
            "receptor": "AMPA",
            "file": f"{base}/receptors/profile_AMPA.tsv",
        },
        "tabular/corticalprofiles/celldensity/cells.json": {
            "@type": "siibra/feature/profile/celldensity/v0.1",
            "region": "Insular Cortex right",
            "species": "Homo sapiens",
            "section": "1234",
            "patch": "0001",
            "file": f"{base}/cells/pm/1234/0001/segments.txt",
        },
        "tabular/layerstatistics/celldensity/layers.json": {
            "@type": "siibra/feature/fingerprint/celldensity/v0.1",
            "region": "Insular Cortex right",
            "species": "Homo sapiens",
            "segmentfiles": [f"{base}/cells/pm/1234/0001/segments.txt"],
            "layerfiles": [f"{base}/cells/pm/1234/0001/layerinfo.txt"],
        },
        "tabular/generic/table.json": {
            "@type": "siibra/feature/tabular/v0.1",
            "name": "A table",
            "modality": "test measurements",
            "region": "Frontal Pole left",
            "species": "Homo sapiens",
            "file": f"{base}/tables/t.csv",
            "decoder": {"@type": "siibra/decoder/csv", "delimiter": ";", "header": None},
        },
        "images/vois/mri/voi.json": {
            "@type": "siibra/feature/voi/v0.1",
            "@id": "test/voi/mri",
            "name": "A block",
            "modality": "T2 MRI",
            "space": {"@id": MNI},
            "providers": {"nii": f"{base}/images/voi.nii.gz"},
            "boundingbox": {
                "@type": "siibra/location/boundingbox/v0.1",
                "space": {"@id": MNI},
                "coordinates": [[-10, -20, 5], [-6, -17, 7]],
            },
        },
        "images/vois/xpct/precomputed.json": {
            "@type": "siibra/feature/voi/v0.1",
            "name": "A precomputed block",
            "modality": "XPCT",
            "space": {"@id": MNI},
            "providers": {"neuroglancer/precomputed": f"{base}/ng/voi"},
        },
        "images/sections/cellbody/section.json": {
            "@type": "siibra/feature/section/v0.1",
            "name": "Section 1",
            "modality": "cell body staining",
            "space": {"@id": MNI},
            "providers": {"zip/nii": f"{base}/images/sections.zip sec/s1.nii"},
        },
    }


def write_features(root: Path, base: str) -> Path:
    """Write the specs under ``root/features``; return ``root``."""
    for rel, spec in specs(base).items():
        path = root / "features" / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(spec, indent=1), encoding="utf-8")
    return root
