"""Read a configuration folder (siibra-configurations layout) into validated specs.

Reading never touches the network or image data: it parses JSON only. A malformed
file raises :class:`~neuratlas.errors.SpecError` naming the file, the JSON path and
what was expected; outside strict mode it is reported as a :class:`SpecWarning`
and skipped so that one bad file does not hide the good ones, unless no file of
the folder loads at all, which raises.

A :class:`SpecWarning` prints as one line, ``warning: skipped <file>: <problem>``:
the Python source line that warnings show by default is neuratlas's own code and
would only repeat under every warning.
"""

from __future__ import annotations

import contextlib
import json
import sys
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

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
#: How many problems the error about a folder of which nothing loads lists.
_LISTED = 3


class SpecWarning(UserWarning):
    """A spec file was skipped because it is malformed (non-strict loading)."""


def _show_warning(
    message: Warning | str,
    category: type[Warning],
    filename: str,
    lineno: int,
    file: TextIO | None = None,
    line: str | None = None,
) -> None:
    """Print a SpecWarning as one line; hand every other warning to the previous printer."""
    if not issubclass(category, SpecWarning):
        _previous_show_warning(message, category, filename, lineno, file, line)
        return
    stream = file if file is not None else sys.stderr
    if stream is None:  # pythonw: no console to print to
        return
    # as warnings itself does: a closed or broken stream loses the warning
    with contextlib.suppress(OSError):
        stream.write(f"warning: {message}\n")


# installed once, keeping whatever printer was there (pytest and logging replace it in turn)
_previous_show_warning = warnings.showwarning
if getattr(warnings.showwarning, "__name__", "") != _show_warning.__name__:
    warnings.showwarning = _show_warning


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
        (strict mode) a spec is malformed, or (otherwise) the folder has spec
        files and none of them loads: the message lists the first problems.

    Warns
    -----
    SpecWarning
        A malformed spec was skipped (outside strict mode), one warning per file.
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
    loaded: list[LoadedSpec] = []
    problems: list[SpecError] = []
    for sub in present:
        for file in sorted(sub.glob("*.json")):
            try:
                loaded.append(load_file(file))
            except SpecError as exc:
                if strict:
                    raise
                problems.append(exc)
    if problems and not loaded:
        # a folder of which nothing loads is a mistake, not a configuration of nothing
        first = "; ".join(str(p) for p in problems[:_LISTED])
        more = f"; and {len(problems) - _LISTED} more" if len(problems) > _LISTED else ""
        raise SpecError(
            f"none of the {len(problems)} spec files in {str(root)!r} could be read: "
            f"{first}{more}",
            hint="fix those files (the fields of each spec kind are listed in "
            "help(neuratlas.configuration.specs)), or take the folder out of the "
            "configuration ($NEURATLAS_CONFIGURATION, use_configuration, extend_configuration)",
        )
    for problem in problems:
        warnings.warn(f"skipped {problem}", SpecWarning, stacklevel=2)
    return loaded
