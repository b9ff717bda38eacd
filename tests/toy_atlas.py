"""A small atlas in siibra's configuration layout, generated with its own image files.

Used by tests that need an atlas whose every voxel is known. Layout:

- space "Toy space" (20 x 24 x 16 grid, 2 mm voxels, origin at -20, -24, -16)
- parcellation "Toy parcellation" version 2 (and version 1 of the same collection):
  cortex -> Area A -> left/right hemisphere leaves; cortex -> Area B -> leaves;
  subcortex -> Nucleus C (unlateralised)
- a labelled map (one 3D file), a statistical map (one 4D uint8 file in percent,
  ``neuratlas:value_scale`` 0.01), and a map whose provider is a remote URL.
"""

from __future__ import annotations

import json
from pathlib import Path

import nibabel as nib
import numpy as np

SHAPE = (20, 24, 16)
AFFINE = np.array([[2.0, 0, 0, -20.0], [0, 2.0, 0, -24.0], [0, 0, 2.0, -16.0], [0, 0, 0, 1]])
LEAVES = [
    "Area A - left hemisphere",
    "Area A - right hemisphere",
    "Area B - left hemisphere",
    "Area B - right hemisphere",
    "Nucleus C",
]
SPACE_ID = "toy/space/toy"
PARC_ID = "toy/parcellation/toy-v2"


def label_volume() -> np.ndarray:
    """Labels 1..5 in blocks; Area B left is split into two separate blocks."""
    data = np.zeros(SHAPE, dtype=np.uint8)
    data[2:8, 2:10, 2:8] = 1  # Area A left
    data[12:18, 2:10, 2:8] = 2  # Area A right
    data[2:6, 14:20, 8:14] = 3  # Area B left, component 1
    data[7:9, 21:23, 10:12] = 3  # Area B left, component 2 (separate)
    data[12:18, 14:20, 8:14] = 4  # Area B right
    data[9:11, 11:13, 6:10] = 5  # Nucleus C
    return data


def probability_volumes(seed: int = 0) -> np.ndarray:
    """One uint8 percent map per leaf: the label blocks plus a random fringe."""
    rng = np.random.default_rng(seed)
    labels = label_volume()
    out = np.zeros((*SHAPE, len(LEAVES)), dtype=np.uint8)
    for z in range(len(LEAVES)):
        inside = labels == z + 1
        fringe = np.zeros(SHAPE, dtype=bool)
        fringe[1:-1, 1:-1, 1:-1] = inside[2:, 1:-1, 1:-1] | inside[:-2, 1:-1, 1:-1]
        values = rng.integers(1, 101, SHAPE).astype(np.uint8)
        out[..., z] = np.where(inside, np.maximum(values, 40), np.where(fringe, values // 3, 0))
    return out


def _region_tree() -> list[dict]:
    def area(name: str, rgb: str) -> dict:
        # siibra writes colours as "#rrggbb"
        return {
            "name": name,
            "rgb": rgb,
            "children": [
                {"name": f"{name} - left hemisphere", "rgb": rgb, "children": []},
                {"name": f"{name} - right hemisphere", "rgb": rgb, "children": []},
            ],
        }

    return [
        {
            "name": "cortex",
            "children": [area("Area A", "#c80a0a"), area("Area B", "#0ac80a")],
        },
        {
            "name": "subcortex",
            "children": [{"name": "Nucleus C", "rgb": "#0a0ac8", "children": []}],
        },
    ]


def write_toy_atlas(root: Path) -> Path:
    """Write the toy configuration folder and its images under ``root``; return ``root``."""
    for sub in ("atlases", "spaces", "parcellations", "maps", "data"):
        (root / sub).mkdir(parents=True, exist_ok=True)
    template = np.linspace(0, 1000, np.prod(SHAPE), dtype=np.float32).reshape(SHAPE)
    nib.save(nib.Nifti1Image(template, AFFINE), root / "data" / "template.nii.gz")
    nib.save(nib.Nifti1Image(label_volume(), AFFINE), root / "data" / "labels.nii.gz")
    nib.save(nib.Nifti1Image(probability_volumes(), AFFINE), root / "data" / "probs.nii.gz")

    def dump(sub: str, name: str, obj: dict) -> None:
        obj.setdefault("species", "Homo sapiens")  # siibra requires it on every concept
        (root / sub / f"{name}.json").write_text(json.dumps(obj, indent=1))

    dump(
        "spaces",
        "toy",
        {
            "@id": SPACE_ID,
            "@type": "siibra/space/v0.0.1",
            "name": "Toy space",
            "shortName": "toy",
            "species": "Homo sapiens",
            "modality": "T1",
            "volumes": [
                {"@type": "siibra/volume/v0.0.1", "providers": {"nii": "../data/template.nii.gz"}}
            ],
        },
    )
    for version, pid, prev, nxt in (
        ("1", "toy/parcellation/toy-v1", None, PARC_ID),
        ("2", PARC_ID, "toy/parcellation/toy-v1", None),
    ):
        dump(
            "parcellations",
            f"toy-v{version}",
            {
                "@id": pid,
                "@type": "siibra/parcellation/v0.0.1",
                "name": f"Toy parcellation v{version}",
                "shortName": f"toy v{version}",
                "@version": {
                    "name": version,
                    "@prev": prev,
                    "@next": nxt,
                    "collectionName": "Toy parcellation",
                },
                "publications": [{"citation": "Doe et al. (2020)", "url": "https://doi.org/10/x"}],
                "regions": _region_tree(),
            },
        )
    labelled_indices = {name: [{"volume": 0, "label": i + 1}] for i, name in enumerate(LEAVES)}
    dump(
        "maps",
        "toy-labelled",
        {
            "@id": "toy/map/labelled",
            "@type": "siibra/map/v0.0.1",
            "name": "Toy labelled map",
            "space": {"@id": SPACE_ID},
            "parcellation": {"@id": PARC_ID},
            "volumes": [
                {"@type": "siibra/volume/v0.0.1", "providers": {"nii": "../data/labels.nii.gz"}}
            ],
            "indices": labelled_indices,
        },
    )
    dump(
        "maps",
        "toy-statistical",
        {
            "@id": "toy/map/statistical",
            "@type": "siibra/map/v0.0.1",
            "name": "Toy statistical map",
            "space": {"@id": SPACE_ID},
            "parcellation": {"@id": PARC_ID},
            "volumes": [
                {"@type": "siibra/volume/v0.0.1", "providers": {"nii": "../data/probs.nii.gz"}}
            ],
            "indices": {name: [{"volume": 0, "z": i}] for i, name in enumerate(LEAVES)},
            "neuratlas:value_scale": 0.01,
        },
    )
    dump(
        "maps",
        "toy-v1-remote",
        {
            "@id": "toy/map/remote",
            "@type": "siibra/map/v0.0.1",
            "name": "Toy remote map",
            "space": {"@id": SPACE_ID},
            "parcellation": {"@id": "toy/parcellation/toy-v1"},
            "volumes": [
                {
                    "@type": "siibra/volume/v0.0.1",
                    "providers": {"nii": "http://127.0.0.1:9/toy/labels.nii.gz"},
                }
            ],
            "indices": labelled_indices,
        },
    )
    dump(
        "atlases",
        "toy",
        {
            "@id": "toy/atlas",
            "@type": "juelich/iav/atlas/v1.0.0",
            "name": "Toy atlas",
            "species": "Homo sapiens",
            "spaces": [{"@id": SPACE_ID}],
            "parcellations": [{"@id": PARC_ID}, {"@id": "toy/parcellation/toy-v1"}],
        },
    )
    return root
