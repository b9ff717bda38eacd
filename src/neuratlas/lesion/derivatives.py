"""A subject's lesion mask and analysis results out as a BIDS derivatives dataset.

Layout (``<entities>`` are the subject's: ``sub``, ``ses``, the mask's source
entities ``task``/``acq``/``ce``/``rec``/``run``, ``space``, ``res``, ``label``,
then the result key's: ``atlas``, ``desc``...)::

    <output_dir>/
      dataset_description.json      DatasetType "derivative", GeneratedBy neuratlas
      README.md, .bidsignore
      sub-<label>/[ses-<label>/]anat/
        <entities>_mask.nii.gz (+ .json)           the lesion mask
        <entities>_statmap.nii.gz (+ .json)        each VoxelMap
        <entities>_parcelstats.tsv (+ .json)       each ParcelData: region, [label,] value
        <entities>_relmat.tsv (+ .json)            each ConnectivityMatrix
        <entities>_metrics.json                    each ScalarMetric
        <entities>_provenance.json                 the provenance records

The mask follows the BIDS specification (``anat/..._label-<label>_mask``) and
the official validator checks it. BIDS has no file type yet for statistical
maps, regional tables or connectivity matrices; their names borrow the
suffixes of the proposals that define them (BEP041 ``statmap``, BEP017
``relmat``; ``parcelstats`` and ``metrics`` as lacuna names them), keep to
BIDS entities, and are listed in ``.bidsignore``, the BIDS way to carry files
the specification does not cover yet.

Nothing is half-written: every file of an export is first written under a
temporary name beside its place, and all are moved into place only once every
one of them is complete; an error before that leaves the tree as it was.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from neuratlas.__about__ import __version__
from neuratlas.errors import (
    ArgumentError,
    ArgumentTypeError,
    BidsError,
    NotFoundError,
    OutputExistsError,
)
from neuratlas.lesion.entities import bids_name, parse_entities
from neuratlas.lesion.results import (
    ConnectivityMatrix,
    ParcelData,
    ScalarMetric,
    VoxelMap,
    parse_result_key,
)
from neuratlas.lesion.spaces import bids_space_label
from neuratlas.lesion.subject import SubjectData
from neuratlas.retrieval.cache import atomic_write, check_writable
from neuratlas.volumes.nifti import to_nifti_bytes

__all__ = [
    "BIDSIGNORE",
    "BIDS_VERSION",
    "DATATYPE",
    "RESULT_SUFFIXES",
    "constant",
    "export_bids_derivatives",
    "json_bytes",
    "json_ready",
    "resolution_label",
    "subject_entities",
    "table_bytes",
    "write_all",
]

#: The BIDS version the derivatives follow.
BIDS_VERSION = "1.10.0"
#: The datatype folder of lesion derivatives (BIDS puts masks of anatomy in anat/).
DATATYPE = "anat"
#: File suffix of each result container.
RESULT_SUFFIXES: dict[type, str] = {
    VoxelMap: "statmap",
    ParcelData: "parcelstats",
    ConnectivityMatrix: "relmat",
    ScalarMetric: "metrics",
}
MASK_SUFFIX = "mask"
PROVENANCE_SUFFIX = "provenance"
#: The files the BIDS specification does not cover yet (``.bidsignore`` patterns).
BIDSIGNORE = (
    "*_statmap.nii.gz",
    "*_statmap.json",
    "*_parcelstats.tsv",
    "*_parcelstats.json",
    "*_relmat.tsv",
    "*_relmat.json",
    "*_metrics.json",
    "*_provenance.json",
)
#: Entities of the source mask's name that carry over to its derivatives: the ones
#: that tell two masks of one session apart and that BIDS allows on a mask.
SOURCE_ENTITIES = ("task", "acq", "ce", "rec", "run")
#: The label of a mask whose metadata names none (lacuna's default).
DEFAULT_LABEL = "lesion"
#: How BIDS writes a missing value in a TSV file.
BIDS_NA = "n/a"
_README = (
    "# neuratlas lesion derivatives\n\n"
    "Lesion masks and the results of lesion analyses (regional damage, network\n"
    "mapping) written by neuratlas {version}. Each subject folder holds, in anat/,\n"
    "the lesion mask (`_mask.nii.gz`), voxel maps (`_statmap.nii.gz`), regional\n"
    "values (`_parcelstats.tsv`), connectivity matrices (`_relmat.tsv`), scalar\n"
    "metrics (`_metrics.json`) and the provenance of every result\n"
    "(`_provenance.json`); each image and table has a JSON sidecar describing it.\n"
)


# --- serialised results ------------------------------------------------------------------
def json_ready(value: Any) -> Any:
    """``value`` as JSON values: NumPy numbers become numbers, NaN and inf ``None``.

    JSON has no NaN: Python's ``json`` would write the bare word ``NaN``, which
    other readers reject, so a missing number is ``null``.
    """
    if isinstance(value, Mapping):
        return {str(k): json_ready(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [json_ready(v) for v in value]
    if isinstance(value, np.ndarray):
        return json_ready(value.tolist())
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if value is None or isinstance(value, bool | int | str):
        return value
    return str(value)  # paths, enums, objects: their text


def json_bytes(value: Any, indent: int | None = 2) -> bytes:
    """``value`` as UTF-8 JSON text ending in a newline (``indent`` 0 or None: compact)."""
    text = json.dumps(json_ready(value), indent=indent or None, allow_nan=False)
    return (text + "\n").encode("utf-8")


def table_bytes(frame: pd.DataFrame, sep: str = "\t", index: bool = False) -> bytes:
    """A table as UTF-8 text; a TSV writes missing values as BIDS does (``n/a``)."""
    na_rep = BIDS_NA if sep == "\t" else ""
    return frame.to_csv(sep=sep, index=index, na_rep=na_rep, lineterminator="\n").encode("utf-8")


# --- writing many files at once ----------------------------------------------------------
def _missing_folders(paths: Sequence[Path]) -> list[Path]:
    """The folders that writing ``paths`` would create, deepest first."""
    missing: set[Path] = set()
    for path in paths:
        folder = path.parent
        while not folder.exists() and folder != folder.parent:
            missing.add(folder)
            folder = folder.parent
    return sorted(missing, key=lambda p: len(p.parts), reverse=True)


def write_all(files: Sequence[tuple[Path, Callable[[], bytes]]]) -> list[Path]:
    """Write every file or none: each is written under a temporary name, then all are moved.

    Parameters
    ----------
    files : sequence of (path, make_bytes)
        Where each file goes and a function that makes its content; contents are
        made one at a time, so only one is in memory at once.

    Returns
    -------
    list of Path
        The files written, in the order given.

    Raises
    ------
    Exception
        Whatever making a content or writing raises; then no file of ``files``
        has changed and the folders this call created are removed again.
    """
    paths = [Path(p) for p, _ in files]
    created = _missing_folders(paths)
    try:
        with contextlib.ExitStack() as stack:
            for path, make in files:
                # atomic_write moves its temporary file into place when the stack
                # closes without an error, and deletes it when one is raised
                handle = stack.enter_context(atomic_write(path))
                handle.write(make())
    except BaseException:
        for folder in created:
            with contextlib.suppress(OSError):
                folder.rmdir()  # only if empty: never removes what others put there
        raise
    return paths


def constant(data: bytes) -> Callable[[], bytes]:
    """A content for :func:`write_all` that is made already."""
    return lambda: data


# --- names ------------------------------------------------------------------------------
def _label(value: Any, what: str, prefix: str = "") -> str:
    text = str(value)
    if prefix and text.startswith(prefix):
        text = text[len(prefix) :]
    if not text or not text.isascii() or not text.isalnum():
        raise ArgumentError(
            f"{what} {value!r} is not a BIDS label (letters and digits only)",
            hint=f"set it with subject.with_metadata({what}=...)",
        )
    return text


def resolution_label(mm: float | None) -> str | None:
    """The ``res-`` label of a voxel size: ``"2"`` for 2 mm; None for 1.5 mm.

    TemplateFlow names the resolutions of the MNI templates by their voxel size in
    whole mm (res-1, res-2); another voxel size has no label, and the sidecar's
    ``Resolution`` says it.
    """
    if mm is None or abs(mm - round(mm)) > 1e-6 or round(mm) < 1:
        return None
    return str(round(mm))


def _space_label(space: str, where: str) -> str:
    try:
        return bids_space_label(space)
    except NotFoundError as exc:
        raise BidsError(f"{where}: space {space!r} has no BIDS name ({exc.message})") from None


def subject_entities(subject: SubjectData) -> dict[str, str | None]:
    """The BIDS entities that name a subject's derivatives: sub, ses, source entities, label.

    Raises
    ------
    ArgumentError
        The subject has no ``subject_id`` (or the default ``sub-unknown``), or an
        identifier that is not a BIDS label.
    """
    meta = subject.metadata
    subject_id = str(meta.get("subject_id") or "")
    if subject_id in ("", "sub-unknown"):
        raise ArgumentError(
            "the subject has no subject_id: BIDS derivatives are filed by subject",
            hint="set one with subject.with_metadata(subject_id='sub-01')",
        )
    entities: dict[str, str | None] = {"sub": _label(subject_id, "subject_id", "sub-")}
    session = meta.get("session_id")
    entities["ses"] = _label(session, "session_id", "ses-") if session else None
    source = meta.get("source")
    if source:
        found = parse_entities(Path(str(source)).name)
        for key in SOURCE_ENTITIES:
            entities[key] = found.get(key)
    entities["label"] = _label(meta.get("label") or DEFAULT_LABEL, "label", "label-")
    return entities


@dataclass(frozen=True)
class _Planned:
    """One file of an export: where it goes, what made it, how to make its bytes."""

    path: Path
    origin: str
    make: Callable[[], bytes]


def _result_entities(
    analysis: str, key: str, base: Mapping[str, str | None], where: str
) -> dict[str, str | None]:
    try:
        own = parse_result_key(key)
    except ArgumentError as exc:
        raise BidsError(
            f"{where}: result key {key!r} of {analysis} is not made of BIDS entities "
            f"({exc.message})",
            hint="make keys with neuratlas.lesion.results.result_key(atlas=..., desc=...)",
        ) from None
    clash = {"sub", "ses"} & set(own)
    if clash:
        raise BidsError(f"{where}: result key {key!r} of {analysis} sets {', '.join(clash)}")
    return {**base, **own}


def _name(entities: Mapping[str, str | None], suffix: str, ext: str, where: str) -> str:
    try:
        return bids_name(entities, suffix, ext)
    except ArgumentError as exc:
        raise BidsError(
            f"{where}: cannot name a BIDS file from {dict(entities)} ({exc.message})",
            hint="result keys may use BIDS entities only (atlas, desc, stat, ...)",
        ) from None


def _sidecar(fields: Mapping[str, Any], metadata: Mapping[str, Any]) -> Callable[[], bytes]:
    document = {k: v for k, v in fields.items() if v is not None}
    if metadata:
        document["Metadata"] = dict(metadata)
    return lambda: json_bytes(document)


def _sidecar_of(
    data: _Planned, fields: Mapping[str, Any], metadata: Mapping[str, Any]
) -> _Planned:
    """The JSON sidecar of a planned image or table."""
    return _Planned(
        data.path.with_name(_json_name(data.path.name)), data.origin, _sidecar(fields, metadata)
    )


def _resolution_text(mm: float) -> str:
    return f"{mm:g} mm"


def _plan_mask(subject: SubjectData, folder: Path, base: Mapping[str, str | None]) -> list:
    where = subject.subject_id
    entities = {
        **base,
        "space": _space_label(subject.space, where),
        "res": resolution_label(subject.resolution),
    }
    name = _name(entities, MASK_SUFFIX, ".nii.gz", where)
    sidecar = {
        "Type": "Lesion",
        "Description": f"Binary lesion mask ({base['label']}): 1 inside the lesion, 0 elsewhere",
        "Space": subject.space,
        "Resolution": _resolution_text(subject.resolution),
        "VoxelCount": len(subject.voxel_indices()),
        "VolumeMm3": subject.get_volume_mm3(),
        "MaskSha256": subject.digest(),
    }
    return [
        _Planned(folder / name, "the lesion mask", lambda: to_nifti_bytes(subject.mask_img)),
        _Planned(folder / _json_name(name), "the lesion mask's sidecar", _sidecar(sidecar, {})),
    ]


def _json_name(name: str) -> str:
    for ext in (".nii.gz", ".nii", ".tsv"):
        if name.endswith(ext):
            return name[: -len(ext)] + ".json"
    raise AssertionError(name)


def _plan_result(
    subject: SubjectData,
    analysis: str,
    key: str,
    result: Any,
    folder: Path,
    base: Mapping[str, str | None],
) -> list[_Planned]:
    where = f"{subject.subject_id} {analysis}[{key!r}]"
    entities = _result_entities(analysis, key, base, where)
    common = {"Analysis": analysis, "ResultKey": key}
    if isinstance(result, VoxelMap):
        space = _space_label(result.space, where)
        entities = {"space": space, "res": resolution_label(result.resolution), **entities}
        name = _name(entities, RESULT_SUFFIXES[VoxelMap], ".nii.gz", where)
        fields = {
            "Description": result.name,
            **common,
            "Space": result.space,
            "Resolution": _resolution_text(result.resolution),
        }
        image = result.data
        data = _Planned(folder / name, where, lambda: to_nifti_bytes(image))
        return [data, _sidecar_of(data, fields, result.metadata)]
    entities = {"space": _space_label(subject.space, where), **entities}
    if isinstance(result, ParcelData):
        name = _name(entities, RESULT_SUFFIXES[ParcelData], ".tsv", where)
        frame = result.to_frame()
        fields = {
            "Description": result.name,
            **common,
            "AggregationMethod": result.aggregation_method,
            "Parcellation": result.parcel_names,
            "region": {"Description": "Region name"},
            "label": {"Description": "Region label in the parcellation's labelled map"}
            if "label" in frame.columns
            else None,
            "value": {"Description": f"{result.name} of the region"},
        }
        data = _Planned(folder / name, where, lambda: table_bytes(frame))
        return [data, _sidecar_of(data, fields, result.metadata)]
    if isinstance(result, ConnectivityMatrix):
        name = _name(entities, RESULT_SUFFIXES[ConnectivityMatrix], ".tsv", where)
        frame = result.to_frame()
        labels = result.region_labels or [str(i + 1) for i in range(result.matrix.shape[0])]
        frame.index, frame.columns = labels, labels
        frame.index.name = "region"
        fields = {
            "Description": result.name,
            **common,
            "MatrixType": result.matrix_type,
            "Shape": list(result.matrix.shape),
            "region": {"Description": "Region of the row; the other columns are regions too"},
        }
        data = _Planned(folder / name, where, lambda: table_bytes(frame, index=True))
        return [data, _sidecar_of(data, fields, result.metadata)]
    # a ScalarMetric, or a plain JSON value an analysis stored as it is
    name = _name(entities, RESULT_SUFFIXES[ScalarMetric], ".json", where)
    if isinstance(result, ScalarMetric):
        document = {"Description": result.name, **common, "Data": result.data}
        metadata = result.metadata
    else:
        document, metadata = {"Description": key, **common, "Data": result}, {}
    if not _is_json_data(result.data if isinstance(result, ScalarMetric) else result):
        raise BidsError(
            f"{where}: cannot be written as JSON (numbers, text, lists and dicts of them only)"
        )
    return [_Planned(folder / name, where, _sidecar(document, metadata))]


def _is_json_data(value: Any) -> bool:
    """Whether ``value`` is JSON data (NumPy numbers and arrays count: they convert)."""
    if isinstance(value, Mapping):
        return all(isinstance(k, str) and _is_json_data(v) for k, v in value.items())
    if isinstance(value, list | tuple):
        return all(_is_json_data(v) for v in value)
    return value is None or isinstance(value, bool | int | float | str | np.generic | np.ndarray)


def _wanted(result: Any, flags: Mapping[type, bool], scalars: bool) -> bool:
    for kind, wanted in flags.items():
        if isinstance(result, kind):
            return wanted
    return scalars


def _dataset_files(output_dir: Path) -> list[_Planned]:
    """The dataset-level files still missing or incomplete: description, README, .bidsignore."""
    planned = []
    description = output_dir / "dataset_description.json"
    if description.exists():
        _check_description(description)
    else:
        document = {
            "Name": "neuratlas lesion derivatives",
            "BIDSVersion": BIDS_VERSION,
            "DatasetType": "derivative",
            "GeneratedBy": [
                {
                    "Name": "neuratlas",
                    "Version": __version__,
                    "Description": "Lesion masks, regional damage and lesion network mapping",
                }
            ],
        }
        planned.append(_Planned(description, "dataset_description.json", _sidecar(document, {})))
    if not any(output_dir.glob("README*")):
        readme = _README.format(version=__version__).encode()
        planned.append(_Planned(output_dir / "README.md", "README.md", constant(readme)))
    ignore = output_dir / ".bidsignore"
    lines = ignore.read_text(encoding="utf-8").splitlines() if ignore.exists() else []
    missing = [p for p in BIDSIGNORE if p not in lines]
    if missing:
        patterns = ("\n".join([*lines, *missing]) + "\n").encode()
        planned.append(_Planned(ignore, ".bidsignore", constant(patterns)))
    return planned


def _check_description(path: Path) -> None:
    """Refuse to write derivatives into a folder that is some other kind of dataset."""
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise BidsError(
            f"{path}: not readable JSON ({exc})",
            hint="repair or remove it; neuratlas writes a new one where there is none",
        ) from None
    kind = document.get("DatasetType") if isinstance(document, dict) else None
    if kind not in (None, "derivative"):
        raise BidsError(
            f"{path.parent} is a {kind} BIDS dataset, not a derivatives folder",
            hint=f"write derivatives to their own folder, e.g. {path.parent / 'derivatives'}"
            "/neuratlas",
        )


def export_bids_derivatives(
    subject_data: SubjectData,
    output_dir: str | os.PathLike[str],
    export_lesion_mask: bool = True,
    export_voxelmaps: bool = True,
    export_parcel_data: bool = True,
    export_connectivity: bool = True,
    export_scalars: bool = True,
    export_provenance: bool = True,
    overwrite: bool = False,
) -> Path:
    """Export a subject's lesion mask and analysis results as BIDS derivatives.

    Parameters
    ----------
    subject_data : SubjectData
        The subject, with its results; ``metadata["subject_id"]`` (and
        ``session_id``, ``label``, when set) name the files.
    output_dir : str or Path
        The derivatives dataset (e.g. ``derivatives/neuratlas``); created if
        missing, with ``dataset_description.json`` (``DatasetType``
        ``"derivative"``, ``GeneratedBy`` neuratlas), ``README.md`` and
        ``.bidsignore``. Subjects exported into one folder share these.
    export_lesion_mask : bool
        Write the mask (``..._label-<label>_mask.nii.gz``).
    export_voxelmaps : bool
        Write each VoxelMap (``..._statmap.nii.gz``).
    export_parcel_data : bool
        Write each ParcelData (``..._parcelstats.tsv``: region, label, value).
    export_connectivity : bool
        Write each ConnectivityMatrix (``..._relmat.tsv``).
    export_scalars : bool
        Write each ScalarMetric (``..._metrics.json``).
    export_provenance : bool
        Write the provenance records (``..._provenance.json``).
    overwrite : bool
        Replace files of an earlier export; without it, existing files are an error.

    Returns
    -------
    Path
        The subject's folder (``<output_dir>/sub-XX[/ses-YY]``).

    Raises
    ------
    FileExistsError
        Some file to write exists and ``overwrite`` is False; nothing was written.
    ArgumentError
        (a ValueError) The subject has no ``subject_id``, or an identifier that
        is not a BIDS label; or ``output_dir`` cannot be written.
    BidsError
        A result cannot be named with BIDS entities, two results would get the
        same file, or ``output_dir`` is a BIDS dataset of another kind.

    Notes
    -----
    File names are BIDS entities only: the subject's (``sub``, ``ses``, the
    mask's ``acq``/``run``/..., ``space``, ``res``, ``label``) followed by the
    result key's (``atlas``, ``desc``...). Each image and table has a JSON
    sidecar (description, analysis, result key, space, units, the container's
    metadata). All files are written or none: an error leaves the folder as it was.
    """
    if not isinstance(subject_data, SubjectData):
        raise ArgumentTypeError(
            f"subject_data must be a SubjectData, not {type(subject_data).__name__}"
        )
    subject = subject_data
    base = subject_entities(subject)
    root = check_writable(output_dir, folder=True, create_parents=True)
    shared = _dataset_files(root)  # first: refuses a folder that is another kind of dataset
    folder = root / f"sub-{base['sub']}"
    if base["ses"]:
        folder = folder / f"ses-{base['ses']}"
    anat = folder / DATATYPE

    planned: list[_Planned] = []
    if export_lesion_mask:
        planned += _plan_mask(subject, anat, base)
    flags = {
        VoxelMap: export_voxelmaps,
        ParcelData: export_parcel_data,
        ConnectivityMatrix: export_connectivity,
    }
    for analysis, found in subject.results.items():
        for key, result in found.items():
            if _wanted(result, flags, export_scalars):
                planned += _plan_result(subject, analysis, key, result, anat, base)
    if export_provenance and subject.provenance:
        name = _name(base, PROVENANCE_SUFFIX, ".json", subject.subject_id)
        # a BIDS JSON file holds an object: the records go under a key
        document = {
            "Description": "How the mask and its results were made, oldest step first",
            "Records": subject.provenance,
        }
        planned.append(_Planned(anat / name, "the provenance", _sidecar(document, {})))

    seen: dict[Path, str] = {}
    for item in planned:
        if item.path in seen:
            raise BidsError(
                f"{item.origin} and {seen[item.path]} would both be written to {item.path.name}",
                hint="give the results distinct keys (e.g. another desc-)",
            )
        seen[item.path] = item.origin
    if not overwrite:
        existing = [p.path for p in planned if p.path.exists()]
        if existing:
            shown = ", ".join(str(p.relative_to(root)) for p in existing[:3])
            more = f" and {len(existing) - 3} more" if len(existing) > 3 else ""
            raise OutputExistsError(
                f"{len(existing)} file(s) of {subject.subject_id} exist in {root}: {shown}{more}; "
                "nothing was written (pass overwrite=True to replace them)"
            )
    write_all([(p.path, p.make) for p in shared + planned])
    return folder
