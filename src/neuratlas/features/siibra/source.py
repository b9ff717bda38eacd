"""Read the ``features/`` folder of configuration folders into features.

A configuration folder in the siibra-configurations layout may hold, next to
``atlases/``, ``spaces/``, ``parcellations/`` and ``maps/``, a ``features/``
folder of feature specs (``connectivity/regional/<kind>/*.json``,
``tabular/<kind>/*.json``, ``images/{vois,sections}/<kind>/*.json``). Every
``*.json`` below it is read and dispatched by its ``@type``, so the sub-folder a
spec sits in does not matter.

Loading parses JSON and validates the fields that anchoring needs; the data are
fetched only on ``.data``. As for the other spec kinds
(:mod:`neuratlas.configuration.loader`), a malformed spec is skipped with a
:class:`~neuratlas.configuration.loader.SpecWarning` naming the file, the JSON
path and the problem, or raises :class:`~neuratlas.errors.SpecError` in strict mode.
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path
from typing import Any

from neuratlas import catalogue
from neuratlas.configuration.loader import SpecWarning, read_json, validated
from neuratlas.errors import SpecError
from neuratlas.features.feature import Feature
from neuratlas.features.siibra.build import SOURCE, build
from neuratlas.features.siibra.specs import FEATURE_SPEC_MODELS, FeatureSpec
from neuratlas.features.sources import register_source

#: The sub-folder of a configuration folder that holds feature specs.
FEATURES_FOLDER = "features"


def read_spec(file: Path) -> tuple[FeatureSpec, dict[str, Any]]:
    """Parse and validate one feature spec file.

    Returns
    -------
    (FeatureSpec, dict)
        The validated spec (of the model its ``@type`` names) and the raw JSON.

    Raises
    ------
    SpecError
        Invalid JSON, a missing or unknown ``@type``, or a field that fails validation.
    """
    raw = read_json(file, FEATURE_SPEC_MODELS)
    model = FEATURE_SPEC_MODELS[raw["@type"]]
    return validated(model, raw, file, "neuratlas.features.siibra.specs"), raw


def load_file(file: str | os.PathLike[str]) -> list[Feature]:
    """The features of one spec file (several for a spec of several subjects).

    Raises
    ------
    SpecError
        As :func:`read_spec`, or the spec lacks a species, region or parcellation.
    """
    path = Path(file)
    spec, raw = read_spec(path)
    return build(spec, raw, path)


def spec_files(folder: str | os.PathLike[str]) -> list[Path]:
    """The ``*.json`` files below ``folder``, in a stable order (by relative path)."""
    root = Path(folder)
    found = []
    # os.walk with sorted names: rglob's order differs between file systems
    for here, dirs, files in os.walk(root):
        dirs.sort()
        found.extend(Path(here) / name for name in sorted(files) if name.endswith(".json"))
    return found


def load_folder(folder: str | os.PathLike[str], *, strict: bool = False) -> list[Feature]:
    """Every feature of the specs below ``folder`` (a ``features/`` folder).

    Parameters
    ----------
    folder : path-like
        A folder of feature specs in the siibra layout; a missing folder holds none.
    strict : bool
        Raise on the first malformed spec instead of warning and skipping it.

    Returns
    -------
    list of Feature
        In a stable order: by file path, then by the spec's files (subjects).

    Raises
    ------
    SpecError
        (strict mode) a malformed spec.

    Warns
    -----
    SpecWarning
        A malformed spec was skipped (outside strict mode), one warning per file.
    """
    root = Path(folder).expanduser()
    if not root.is_dir():
        return []
    features: list[Feature] = []
    problems: list[SpecError] = []
    for file in spec_files(root):
        try:
            features.extend(load_file(file))
        except SpecError as exc:
            if strict:
                raise
            problems.append(exc)
    for problem in problems:
        warnings.warn(f"skipped {problem}", SpecWarning, stacklevel=2)
    return features


def configuration_features() -> list[Feature]:
    """The features of the ``features/`` folder of every folder of the active configuration."""
    active = catalogue.active()
    strict = bool(getattr(active, "strict", False))
    out: list[Feature] = []
    for folder in active.folders:
        out.extend(load_folder(Path(folder) / FEATURES_FOLDER, strict=strict))
    return out


register_source(SOURCE, configuration_features)
