"""BIDS file names: their entities (``sub-01_ses-2_space-X_label-lesion_mask.nii.gz``).

One parser for every place that reads names (``SubjectData.from_nifti``, the
dataset loader) and one writer for every place that makes them (the exporter).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path

from neuratlas.errors import ArgumentError

__all__ = ["ENTITY_ORDER", "bids_name", "parse_entities", "resolution_mm", "split_suffix"]

#: The order of entities in a BIDS file name (the BIDS specification's entity table,
#: the entities a lesion dataset and its derivatives use).
ENTITY_ORDER = (
    "sub",
    "tpl",
    "ses",
    "cohort",
    "sample",
    "task",
    "tracksys",
    "acq",
    "nuc",
    "voi",
    "ce",
    "trc",
    "stain",
    "rec",
    "dir",
    "run",
    "mod",
    "echo",
    "flip",
    "inv",
    "mt",
    "part",
    "proc",
    "hemi",
    "space",
    "split",
    "recording",
    "chunk",
    "atlas",
    "roi",
    "seg",
    "scale",
    "res",
    "den",
    "label",
    "model",
    "stat",
    "desc",
)

_EXTENSIONS = (".nii.gz", ".nii", ".json", ".tsv", ".csv", ".tsv.gz", ".tck", ".trk", ".h5")
_ENTITY = re.compile(r"^([a-zA-Z]+)-([a-zA-Z0-9]+)$")


def split_suffix(name: str) -> tuple[str, str, str]:
    """A file name's stem of entities, its suffix and its extension.

    >>> split_suffix("sub-01_label-lesion_mask.nii.gz")
    ('sub-01_label-lesion', 'mask', '.nii.gz')
    """
    extension = next((e for e in _EXTENSIONS if name.lower().endswith(e)), Path(name).suffix)
    bare = name[: len(name) - len(extension)] if extension else name
    stem, sep, suffix = bare.rpartition("_")
    if not sep or "-" in suffix:
        return bare, "", extension  # no suffix: every part is an entity
    return stem, suffix, extension


def parse_entities(path: str | Path) -> dict[str, str]:
    """The BIDS entities of a file name; parts that are not ``key-value`` are skipped.

    >>> parse_entities("sub-01_ses-2_space-MNI152NLin6Asym_label-acute_mask.nii.gz")
    {'sub': '01', 'ses': '2', 'space': 'MNI152NLin6Asym', 'label': 'acute'}
    """
    stem, _, _ = split_suffix(Path(path).name)
    entities = {}
    for part in stem.split("_"):
        match = _ENTITY.match(part)
        if match:
            entities[match.group(1)] = match.group(2)
    return entities


def resolution_mm(res: str) -> float:
    """The voxel size that a ``res-`` label of the MNI templates means (``1``, ``01``, ``2``).

    TemplateFlow numbers the resolutions of the MNI templates by their voxel size
    in mm; other labels (``res-hi``) mean nothing without the template's own table.
    """
    try:
        return float(int(res))
    except ValueError:
        raise ArgumentError(
            f"res-{res}: not a voxel size in mm",
            hint="name the resolution by its voxel size, res-1 or res-2",
        ) from None


def bids_name(entities: Mapping[str, str | None], suffix: str, extension: str) -> str:
    """A BIDS file name from entities (in BIDS order; None left out), suffix and extension.

    >>> bids_name({"desc": "rmap", "sub": "01"}, "stat", ".nii.gz")
    'sub-01_desc-rmap_stat.nii.gz'
    """
    unknown = set(entities) - set(ENTITY_ORDER)
    if unknown:
        raise ArgumentError(
            f"{', '.join(sorted(unknown))}: not a BIDS entity",
            hint=f"use one of {', '.join(ENTITY_ORDER)}",
        )
    parts = []
    for key in ENTITY_ORDER:
        value = entities.get(key)
        if value is None:
            continue
        if not re.fullmatch(r"[A-Za-z0-9]+", value):
            raise ArgumentError(f"{key}-{value}: a BIDS label has letters and digits only")
        parts.append(f"{key}-{value}")
    return "_".join(parts) + f"_{suffix}{extension}"
