"""Read a configuration folder (siibra-configurations layout) into validated specs.

Reading never touches the network or image data: it parses JSON only. A malformed
file raises :class:`~neuratlas.errors.SpecError` naming the file, the JSON path and
what was expected; outside strict mode it is reported as a warning and skipped so
that one bad file does not hide the good ones.
"""

from __future__ import annotations

import json
import warnings
from dataclasses import dataclass
from pathlib import Path

from pydantic import ValidationError

from neuratlas.configuration.specs import (
    SPEC_MODELS,
    AtlasSpec,
    MapSpec,
    ParcellationSpec,
    SpaceSpec,
)
from neuratlas.errors import SpecError

FOLDERS = ("atlases", "spaces", "parcellations", "maps")
BUILTIN = Path(__file__).parent / "builtin"


class SpecWarning(UserWarning):
    """A spec file was skipped because it is malformed (non-strict loading)."""


@dataclass(frozen=True)
class LoadedSpec:
    """A validated spec and the file it came from (relative URLs resolve against it)."""

    spec: SpaceSpec | ParcellationSpec | MapSpec | AtlasSpec
    file: Path

    @property
    def folder(self) -> Path:
        return self.file.parent


def json_path(location: tuple[str | int, ...]) -> str:
    """Format a pydantic error location as a JSON path: ``$.regions[0].name``."""
    out = "$"
    for part in location:
        out += f"[{part}]" if isinstance(part, int) else f".{part}"
    return out


def load_file(file: Path) -> LoadedSpec:
    """Parse and validate one spec file.

    Raises
    ------
    SpecError
        Invalid JSON, a missing or unknown ``@type``, or a field that fails validation.
    """
    try:
        data = json.loads(file.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise SpecError(
            f"not valid JSON (line {exc.lineno}, column {exc.colno}): {exc.msg}",
            file=str(file),
            hint="fix the JSON syntax",
        ) from None
    except OSError as exc:
        raise SpecError(f"cannot read: {exc.strerror}", file=str(file)) from None
    if not isinstance(data, dict):
        raise SpecError("expected a JSON object", file=str(file), path="$")
    kind = data.get("@type")
    model = SPEC_MODELS.get(kind) if isinstance(kind, str) else None
    if model is None:
        raise SpecError(
            f"unknown @type {kind!r}",
            file=str(file),
            path="$['@type']",
            hint="expected one of " + ", ".join(sorted(SPEC_MODELS)),
        )
    try:
        return LoadedSpec(model.model_validate(data), file)
    except ValidationError as exc:
        first = exc.errors()[0]
        raise SpecError(
            f"{first['msg']} (got {_short(first.get('input'))})",
            file=str(file),
            path=json_path(first["loc"]),
            hint=f"{exc.error_count()} problem(s) in this file; the fields of each spec kind "
            "are listed in help(neuratlas.configuration.specs)",
        ) from None


def _short(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def load_folder(folder: str | Path, *, strict: bool = False) -> list[LoadedSpec]:
    """Load every spec in a configuration folder.

    Parameters
    ----------
    folder : path-like
        A folder with (some of) the sub-folders ``atlases``, ``spaces``,
        ``parcellations`` and ``maps``, each holding ``*.json`` specs.
    strict : bool
        Raise on the first malformed file instead of warning and skipping it.

    Returns
    -------
    list of LoadedSpec
        In a stable order: by sub-folder, then file name.

    Raises
    ------
    SpecError
        The folder does not exist or has none of the expected sub-folders, or
        (strict mode) a spec is malformed.
    """
    root = Path(folder).expanduser()
    if not root.is_dir():
        raise SpecError(f"configuration folder {str(root)!r} does not exist")
    present = [root / name for name in FOLDERS if (root / name).is_dir()]
    if not present:
        raise SpecError(
            f"{str(root)!r} has none of the folders {', '.join(FOLDERS)}",
            hint="point to the root of a configuration in the siibra-configurations layout",
        )
    loaded = []
    for sub in present:
        for file in sorted(sub.glob("*.json")):
            try:
                loaded.append(load_file(file))
            except SpecError as exc:
                if strict:
                    raise
                warnings.warn(f"skipped {exc}", SpecWarning, stacklevel=2)
    return loaded
