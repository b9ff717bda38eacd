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
import threading
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Any, TextIO

from pydantic import BaseModel, ValidationError

from neuratlas.configuration.specs import (
    SPEC_MODELS,
    AtlasSpec,
    MapSpec,
    ParcellationSpec,
    SpaceSpec,
    SpecHeader,
)
from neuratlas.errors import NeuratlasWarning, SpecError
from neuratlas.retrieval.cache import atomic_write

FOLDERS = ("atlases", "spaces", "parcellations", "maps")
BUILTIN = Path(__file__).parent / "builtin"
#: How many problems the error about a folder of which nothing loads lists.
_LISTED = 3


class SpecWarning(NeuratlasWarning):
    """A spec file was skipped because it is malformed (non-strict loading)."""


def _show_warning(
    message: Warning | str,
    category: type[Warning],
    filename: str,
    lineno: int,
    file: TextIO | None = None,
    line: str | None = None,
) -> None:
    """Print a neuratlas warning as one line; hand every other warning to the previous printer."""
    if not issubclass(category, NeuratlasWarning):
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


class LoadedSpec:
    """A spec file: its header at once, the whole validated spec on first use.

    Parameters
    ----------
    file : Path
        The spec file (relative URLs in it resolve against its folder).
    header : SpecHeader
        Names and links, read when the folder is indexed.
    spec : SpaceSpec, ParcellationSpec, MapSpec or AtlasSpec, optional
        The validated spec, when it is already at hand; otherwise it is read and
        validated on first access of :attr:`spec` (a malformed file then raises
        :class:`~neuratlas.errors.SpecError` naming the file and JSON path).
    """

    __slots__ = ("_lock", "_spec", "file", "header")

    def __init__(
        self,
        file: Path,
        header: SpecHeader,
        spec: SpaceSpec | ParcellationSpec | MapSpec | AtlasSpec | None = None,
    ) -> None:
        self.file = file
        self.header = header
        self._spec = spec
        self._lock = threading.Lock()

    @property
    def spec(self) -> SpaceSpec | ParcellationSpec | MapSpec | AtlasSpec:
        """The whole spec, validated (read from the file on first access)."""
        if self._spec is None:
            # service threads may use one object at once: validate the file once
            with self._lock:
                if self._spec is None:
                    self._spec = _validated_file(SPEC_MODELS[self.header.type], self.file)
        return self._spec

    @property
    def folder(self) -> Path:
        return self.file.parent

    def __repr__(self) -> str:
        return f"<LoadedSpec {self.header.id!r} from {str(self.file)!r}>"


def json_path(location: tuple[str | int, ...]) -> str:
    """Format a pydantic error location as a JSON path: ``$.regions[0].name``."""
    out = "$"
    for part in location:
        out += f"[{part}]" if isinstance(part, int) else f".{part}"
    return out


def read_json(file: Path, models: Mapping[str, type[BaseModel]] = SPEC_MODELS) -> dict:
    """The JSON object in a spec file, with its ``@type`` checked.

    Parameters
    ----------
    file : Path
    models : mapping
        The kinds of spec expected: ``@type`` -> model (the catalogue's by default;
        :mod:`neuratlas.features.siibra` passes the feature kinds).

    Raises
    ------
    SpecError
        Invalid JSON, not an object, or a missing or unknown ``@type``.
    """
    try:
        data = json.loads(file.read_bytes())
    except json.JSONDecodeError as exc:
        raise SpecError(
            f"not valid JSON (line {exc.lineno}, column {exc.colno}): {exc.msg}",
            file=str(file),
            hint="fix the JSON syntax",
        ) from None
    except UnicodeDecodeError as exc:
        raise SpecError(f"not UTF-8 text: {exc.reason}", file=str(file)) from None
    except OSError as exc:
        raise SpecError(f"cannot read: {exc.strerror}", file=str(file)) from None
    if not isinstance(data, dict):
        raise SpecError("expected a JSON object", file=str(file), path="$")
    kind = data.get("@type")
    if not isinstance(kind, str) or kind not in models:
        raise SpecError(
            f"unknown @type {kind!r}",
            file=str(file),
            path="$['@type']",
            hint="expected one of " + ", ".join(sorted(models)),
        )
    return data


def validated(
    model: type[BaseModel], data: dict, file: Path, fields: str = "neuratlas.configuration.specs"
) -> Any:
    """``data`` validated by ``model``; a failure is a SpecError naming file and JSON path.

    ``fields`` is the module whose help lists the fields of each kind (for the hint).
    """
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        raise SpecError(
            f"{first['msg']} (got {_short(first.get('input'))})",
            file=str(file),
            path=json_path(first["loc"]),
            hint=f"{exc.error_count()} problem(s) in this file; the fields of each spec kind "
            f"are listed in help({fields})",
        ) from None


def _validated_file(model: type[BaseModel], file: Path) -> Any:
    """A spec file of a known kind, parsed and validated in one step (pydantic's JSON
    parser: a third faster than ``json`` then validation, which counts for the Allen
    ontology's ~1,300 structures)."""
    try:
        raw = file.read_bytes()
    except OSError as exc:
        raise SpecError(f"cannot read: {exc.strerror}", file=str(file)) from None
    try:
        return model.model_validate_json(raw)
    except ValidationError as exc:
        first = exc.errors()[0]
        if first["type"] == "json_invalid":
            raise SpecError(
                f"not valid JSON: {first['msg']}", file=str(file), hint="fix the JSON syntax"
            ) from None
    # the same error as a whole-file load gives, with the JSON path of the problem
    return validated(model, read_json(file), file)


def load_file(file: Path) -> LoadedSpec:
    """Parse and validate one spec file, whole.

    Raises
    ------
    SpecError
        Invalid JSON, a missing or unknown ``@type``, or a field that fails validation.
    """
    data = read_json(file)
    spec = validated(SPEC_MODELS[data["@type"]], data, file)
    return LoadedSpec(file, validated(SpecHeader, data, file), spec)


def scan_file(file: Path) -> LoadedSpec:
    """Read one spec file's header; the rest is validated when it is first used.

    Raises
    ------
    SpecError
        Invalid JSON, a missing or unknown ``@type``, or a header field (``@id``,
        ``name``, links to other specs) that fails validation.
    """
    return LoadedSpec(file, validated(SpecHeader, read_json(file), file))


def _short(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def spec_files(root: Path) -> list[Path]:
    """The ``*.json`` files of a configuration folder, by sub-folder then name."""
    files: list[Path] = []
    for name in FOLDERS:
        sub = root / name
        if sub.is_dir():
            files += sorted(sub.glob("*.json"))
    return files


# --- the index of a folder: every spec's header in one file ----------------------------
#: The index file at the root of a configuration folder (``tools`` write one for the
#: embedded folder, so that the catalogue starts without parsing every spec).
INDEX_NAME = "neuratlas-index.json"
_INDEX_FORMAT = 1


def _listing(root: Path, files: list[Path]) -> list[list]:
    return [[f.relative_to(root).as_posix(), f.stat().st_size] for f in files]


def read_index(root: Path, files: list[Path]) -> list[LoadedSpec] | None:
    """The folder's specs from its index, or None when there is none or it is stale.

    An index is up to date when it lists the same files with the same sizes.
    """
    index = root / INDEX_NAME
    try:
        data = json.loads(index.read_bytes())
        if data.get("format") != _INDEX_FORMAT:
            return None
        entries = data["files"]
        if [[e["path"], e["size"]] for e in entries] != _listing(root, files):
            return None
        return [
            LoadedSpec(root / e["path"], SpecHeader.model_validate(e["header"])) for e in entries
        ]
    except (OSError, ValueError, KeyError, TypeError, ValidationError):
        return None  # no index, or one this version cannot use: scan the files


def write_index(folder: str | Path) -> Path:
    """Write the index of a configuration folder (every spec's header, file sizes).

    Every spec is validated whole first: an index is written for good folders only.

    Raises
    ------
    SpecError
        A spec of the folder is malformed.
    """
    root = Path(folder)
    files = spec_files(root)
    loaded = [load_file(f) for f in files]
    entries = [
        {"path": path, "size": size, "header": item.header.model_dump(by_alias=True)}
        for (path, size), item in zip(_listing(root, files), loaded, strict=True)
    ]
    target = root / INDEX_NAME
    text = json.dumps({"format": _INDEX_FORMAT, "files": entries}, indent=1) + "\n"
    with atomic_write(target, "w") as out:
        out.write(text)
    return target


def load_folder(
    folder: str | Path, *, strict: bool = False, lazy: bool = False
) -> list[LoadedSpec]:
    """Load every spec in a configuration folder.

    Parameters
    ----------
    folder : path-like
        A folder with (some of) the sub-folders ``atlases``, ``spaces``,
        ``parcellations`` and ``maps``, each holding ``*.json`` specs.
    strict : bool
        Raise on the first malformed file instead of warning and skipping it.
    lazy : bool
        Read each spec's header only (from the folder's index when it is up to
        date, see :mod:`neuratlas.configuration.index`); the rest of a spec is
        validated when it is first used. Ignored in strict mode, which validates
        every file whole.

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
    files = spec_files(root)
    if lazy and not strict:
        indexed = read_index(root, files)
        if indexed is not None:
            return indexed
    read = scan_file if lazy and not strict else load_file
    loaded: list[LoadedSpec] = []
    problems: list[SpecError] = []
    for file in files:
        try:
            loaded.append(read(file))
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
