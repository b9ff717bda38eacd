"""The connectomes on this machine: a registry that survives restarts.

Registered connectomes are named (``"GSP1000"``), so that analyses take a name
rather than a path: :func:`get_connectome_path` turns either into a path. The
registry is a JSON file in :func:`get_data_dir` (``registry.json``), rewritten
atomically under a lock file, so two processes registering at once do not
lose each other's entries. It also remembers what each fetch left where, for
:func:`get_fetch_status`.
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

import platformdirs

from neuratlas.errors import ArgumentError, DataUnavailableError, ImageError, NotFoundError
from neuratlas.lesion.connectomes.integrity import header_problem
from neuratlas.lesion.connectomes.layout import HDF5_SUFFIXES, ConnectomeReader
from neuratlas.lesion.connectomes.sources import get_source
from neuratlas.matching import closest
from neuratlas.retrieval.cache import atomic_write

try:  # optional: POSIX file locks; elsewhere concurrent registrations are not serialised
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]

__all__ = [
    "DATA_DIR_ENV",
    "REGISTRY_FILE",
    "RegisteredConnectome",
    "get_connectome",
    "get_connectome_path",
    "get_data_dir",
    "get_fetch_status",
    "list_connectomes",
    "open_connectome",
    "record_fetch",
    "register_connectome",
    "unregister_connectome",
]

DATA_DIR_ENV = "NEURATLAS_DATA_DIR"
REGISTRY_FILE = "registry.json"
_LOCK_FILE = ".registry.lock"
_FORMAT = 1
_TRACTOGRAM_SUFFIXES = (".tck", ".trk", ".trk.gz")

Kind = Literal["functional", "structural"]


def get_data_dir() -> Path:
    """The folder of neuratlas's connectome data and registry, created on demand.

    ``$NEURATLAS_DATA_DIR`` when set, else a ``connectomes`` folder in the
    platform's user data folder (``~/.local/share/neuratlas/connectomes`` on Linux).

    Raises
    ------
    DataUnavailableError
        The folder cannot be created (a file in the way, no permission).
    """
    value = os.environ.get(DATA_DIR_ENV, "").strip()
    path = (
        Path(value).expanduser()
        if value
        else Path(platformdirs.user_data_dir("neuratlas")) / "connectomes"
    )
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise DataUnavailableError(
            f"the connectome data folder {path} cannot be created ({exc.strerror or exc})",
            source=str(path),
            hint=f"set {DATA_DIR_ENV} to a folder you can write to",
        ) from None
    return path.resolve()


@dataclass(frozen=True)
class RegisteredConnectome:
    """A connectome known by name: where it is and what it holds."""

    #: The name analyses use (e.g. ``"GSP1000"``).
    name: str
    #: ``"functional"`` (HDF5 time series) or ``"structural"`` (a tractogram).
    kind: Kind
    #: An HDF5 file or folder of batch files, or a .tck/.trk file.
    path: Path
    #: The template space (TemplateFlow name).
    space: str
    #: Voxel size of the mask grid in mm (functional), else None.
    resolution: float | None = None
    #: Subjects in the connectome, when known.
    n_subjects: int | None = None
    description: str = ""
    #: The fetchable source it came from (e.g. ``"gsp1000"``), if any.
    source: str | None = None
    #: When it was registered (UTC, ISO 8601).
    registered_at: str = field(default="")

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dictionary."""
        data = asdict(self)
        data["path"] = str(self.path)
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> RegisteredConnectome:
        """Read back what :meth:`to_json` wrote."""
        known = {k: data[k] for k in cls.__dataclass_fields__ if k in data}
        known["path"] = Path(known["path"])
        return cls(**known)

    def __str__(self) -> str:
        size = f", {self.n_subjects} subjects" if self.n_subjects else ""
        return f"{self.name}: {self.kind} connectome in {self.space}{size} at {self.path}"


# -- the file ------------------------------------------------------------------------------------


def _registry_path() -> Path:
    return get_data_dir() / REGISTRY_FILE


def _read() -> dict[str, Any]:
    path = _registry_path()
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return {"format": _FORMAT, "connectomes": {}, "fetches": {}}
    try:
        data = json.loads(text)
    except ValueError as exc:
        data, problem = None, f"not valid JSON ({exc})"
    else:
        problem = "not a registry (no 'connectomes' object)"
    if not isinstance(data, dict) or not isinstance(data.get("connectomes"), dict):
        raise ImageError(
            f"the connectome registry {path} is {problem}",
            hint=f"fix or delete it (registrations are then lost); set {DATA_DIR_ENV} to use "
            "another folder",
        ) from None
    data.setdefault("fetches", {})
    return data


@contextlib.contextmanager
def _editing() -> Iterator[dict[str, Any]]:
    """Read the registry under the lock, let the caller change it, write it back atomically."""
    folder = get_data_dir()
    with open(folder / _LOCK_FILE, "a+b") as lock:
        if fcntl is not None:
            fcntl.flock(lock.fileno(), fcntl.LOCK_EX)
        try:
            data = _read()
            yield data
            data["format"] = _FORMAT
            with atomic_write(folder / REGISTRY_FILE, "w") as handle:
                json.dump(data, handle, indent=2, sort_keys=True)
        finally:
            if fcntl is not None:
                fcntl.flock(lock.fileno(), fcntl.LOCK_UN)


def _entries(data: dict[str, Any]) -> dict[str, RegisteredConnectome]:
    return {k: RegisteredConnectome.from_json(v) for k, v in data["connectomes"].items()}


def _find(entries: dict[str, RegisteredConnectome], name: str) -> str | None:
    """The registered key matching ``name`` exactly, else case-insensitively."""
    if name in entries:
        return name
    folded = [k for k in entries if k.casefold() == name.casefold()]
    return folded[0] if len(folded) == 1 else None


# -- registering ---------------------------------------------------------------------------------


def _kind_of(path: Path) -> Kind:
    name = path.name.lower()
    if path.is_dir() or name.endswith(HDF5_SUFFIXES):
        return "functional"
    if name.endswith(_TRACTOGRAM_SUFFIXES):
        return "structural"
    raise ArgumentError(
        f"cannot tell what kind of connectome {path} is",
        hint="register an HDF5 file or folder of batch files (functional) or a .tck/.trk "
        "tractogram (structural), or pass kind=",
    )


def register_connectome(
    name: str,
    path: str | os.PathLike[str],
    *,
    space: str | None = None,
    kind: Kind | None = None,
    description: str = "",
    source: str | None = None,
    n_subjects: int | None = None,
    overwrite: bool = False,
) -> RegisteredConnectome:
    """Register a connectome on disk under ``name``, checking that it can be read.

    Parameters
    ----------
    name : str
        The name analyses will use (case is kept; lookups ignore it).
    path : path-like
        A functional connectome (HDF5 file or folder of batch files, lacuna's
        layout) or a structural one (.tck, .trk or .trk.gz tractogram).
    space : str, optional
        The template space (e.g. ``"MNI152NLin6Asym"``); for HDF5 files the
        ``space`` attribute is used when this is not given.
    kind : {"functional", "structural"}, optional
        Inferred from ``path`` when not given.
    description : str
        Free text.
    source : str, optional
        The fetchable source it came from.
    n_subjects : int, optional
        For tractograms, the number of subjects behind them.
    overwrite : bool
        Replace a registration of the same name that points elsewhere
        (registering the same path again just updates it).

    Returns
    -------
    RegisteredConnectome

    Raises
    ------
    NotFoundError
        ``path`` does not exist.
    ArgumentError
        An empty name, an unknown kind, no space, or ``name`` taken by another
        path and ``overwrite`` is False.
    ImageError
        The files are not a readable connectome.
    """
    label = str(name).strip()
    if not label:
        raise ArgumentError("a connectome needs a non-empty name")
    target = Path(path).expanduser()
    if not target.exists():
        raise NotFoundError(
            f"cannot register {label!r}: {target} does not exist",
            hint="check the path, or fetch the connectome first (fetch_connectome)",
        )
    target = target.resolve()
    kind = kind or _kind_of(target)
    resolution = None
    if kind == "functional":
        with ConnectomeReader(target) as reader:
            n_subjects = reader.n_subjects
            resolution = round(reader.resolution, 4)
            space = space or reader.space
    elif kind == "structural":
        if not target.is_file():
            raise ArgumentError(f"a structural connectome is one tractogram file, not {target}")
        problem = header_problem(target)
        if problem is not None:
            raise ImageError(f"{target} is not a readable tractogram: {problem}")
    else:
        raise ArgumentError(f"unknown kind {kind!r}", hint="use 'functional' or 'structural'")
    if not space:
        raise ArgumentError(
            f"cannot register {label!r}: its template space is not known",
            hint="pass space=..., e.g. space='MNI152NLin6Asym'",
        )
    entry = RegisteredConnectome(
        name=label,
        kind=kind,
        path=target,
        space=str(space),
        resolution=resolution,
        n_subjects=n_subjects,
        description=description,
        source=source,
        registered_at=datetime.now(UTC).isoformat(timespec="seconds"),
    )
    with _editing() as data:
        entries = _entries(data)
        key = _find(entries, label)
        if key is not None and entries[key].path != target and not overwrite:
            raise ArgumentError(
                f"a connectome named {key!r} is already registered at {entries[key].path}",
                hint="pass overwrite=True (force=True when fetching) to replace it, or "
                "choose another name",
            )
        if key is not None:
            del data["connectomes"][key]
        data["connectomes"][label] = entry.to_json()
    return entry


def unregister_connectome(name: str) -> RegisteredConnectome:
    """Remove a registration (the files stay); returns what was registered.

    Raises
    ------
    NotFoundError
        No connectome of that name.
    """
    with _editing() as data:
        entries = _entries(data)
        key = _find(entries, name)
        if key is None:
            raise _unknown(name, entries)
        del data["connectomes"][key]
    return entries[key]


def list_connectomes(kind: Kind | None = None) -> list[RegisteredConnectome]:
    """The registered connectomes, sorted by name, of one kind or all."""
    entries = _entries(_read()).values()
    return sorted((e for e in entries if kind in (None, e.kind)), key=lambda e: e.name.lower())


def _unknown(name: str, entries: dict[str, RegisteredConnectome]) -> NotFoundError:
    known = ", ".join(sorted(entries)) or "none yet"
    return NotFoundError(
        f"no connectome named {name!r} is registered (registered: {known})",
        suggestions=closest(name, entries, n=3),
        hint=None
        if entries
        else "fetch one with fetch_connectome('gsp1000', ...) or register a path with "
        "register_connectome(name, path)",
    )


def get_connectome(name: str) -> RegisteredConnectome:
    """The registration of ``name`` (case-insensitive).

    Raises
    ------
    NotFoundError
        No connectome of that name; suggests close ones.
    """
    entries = _entries(_read())
    key = _find(entries, name)
    if key is None:
        raise _unknown(name, entries)
    return entries[key]


def get_connectome_path(name_or_path: str | os.PathLike[str]) -> Path:
    """Resolve a registered connectome name, or an existing path, to its location.

    Parameters
    ----------
    name_or_path : str or path-like
        A registered name (e.g. ``"GSP1000"``) or a path to an ``.h5`` file, a
        folder of batch files or a tractogram.

    Returns
    -------
    Path

    Raises
    ------
    NotFoundError
        Neither an existing path nor a registered name, or a registered
        connectome whose files are gone.

    Examples
    --------
    >>> get_connectome_path("GSP1000")  # doctest: +SKIP
    PosixPath('/data/connectomes/gsp1000/processed')
    """
    path = Path(name_or_path).expanduser()
    if path.exists():
        return path
    entry = get_connectome(str(name_or_path))
    if not entry.path.exists():
        raise NotFoundError(
            f"the connectome {entry.name!r} is registered at {entry.path}, which no longer exists",
            hint=f"fetch it again, or unregister_connectome({entry.name!r})",
        )
    return entry.path


def open_connectome(name_or_path: str | os.PathLike[str], **options: Any) -> ConnectomeReader:
    """A :class:`ConnectomeReader` on a registered functional connectome or a path.

    Parameters
    ----------
    name_or_path : str or path-like
        As :func:`get_connectome_path`.
    **options
        Passed to :class:`ConnectomeReader` (``cache_bytes``).

    Raises
    ------
    NotFoundError
        As :func:`get_connectome_path`.
    ArgumentError
        The registered connectome is structural (a tractogram).
    ImageError
        The files are not a connectome in lacuna's layout.
    """
    path = get_connectome_path(name_or_path)
    if path.is_file() and path.name.lower().endswith(_TRACTOGRAM_SUFFIXES):
        raise ArgumentError(
            f"{name_or_path!s} is a tractogram ({path.name}), not a functional connectome",
            hint="give an HDF5 connectome (file or folder of batch files)",
        )
    return ConnectomeReader(path, **options)


# -- fetch records -------------------------------------------------------------------------------


def record_fetch(source: str, **info: Any) -> None:
    """Remember what a fetch of ``source`` left where (paths as strings, JSON values)."""
    clean = {k: ([str(p) for p in v] if isinstance(v, list) else v) for k, v in info.items()}
    clean = {k: (str(v) if isinstance(v, Path) else v) for k, v in clean.items()}
    clean["recorded_at"] = datetime.now(UTC).isoformat(timespec="seconds")
    with _editing() as data:
        data["fetches"][source] = clean


def _size(path: Path) -> int:
    if path.is_file():
        return path.stat().st_size
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def get_fetch_status(name: str) -> dict[str, Any]:
    """The state of a fetchable connectome on this machine.

    Parameters
    ----------
    name : str
        A fetchable connectome (``"gsp1000"``, ``"dtor985"``, ``"hcp1065"``).

    Returns
    -------
    dict
        ``downloaded`` (bool: the original files are present), ``processed``
        (bool: the converted files are present), ``registered`` (bool),
        ``register_names`` (list of str), ``location`` (Path of the processed
        files, else of the downloads, else None), ``size_bytes`` (int or None),
        ``output_dir`` (Path or None).

    Raises
    ------
    NotFoundError
        ``name`` is not a fetchable connectome.
    """
    source = get_source(name)
    data = _read()
    record = data["fetches"].get(source.name) or {}
    names = [
        e.name for e in _entries(data).values() if e.source == source.name and e.path.exists()
    ]
    output_dir = Path(record["output_dir"]) if record.get("output_dir") else None
    if output_dir is None and (get_data_dir() / source.name).is_dir():
        output_dir = get_data_dir() / source.name  # lacuna's default place
    raw = [Path(p) for p in record.get("downloads", [])]
    processed = [Path(p) for p in record.get("processed", [])]
    if not record and output_dir is not None:  # a folder without a record: look inside
        processed = sorted(output_dir.rglob("*.h5")) + sorted(output_dir.glob("*.tck"))
        raw = [p for p in output_dir.rglob("*") if p.is_file() and p not in processed]
    downloaded = bool(raw) and all(p.exists() for p in raw)
    is_processed = bool(processed) and all(p.exists() for p in processed)
    location: Path | None = None
    if is_processed:
        location = processed[0].parent if len(processed) > 1 else processed[0]
    elif downloaded:
        location = raw[0].parent
    return {
        "downloaded": downloaded,
        "processed": is_processed,
        "registered": bool(names),
        "register_names": names,
        "location": location,
        "size_bytes": _size(location) if location is not None else None,
        "output_dir": output_dir,
    }
