"""BIDS datasets of lesion masks: load them, make one from loose masks, check derivatives.

:func:`load_bids_dataset` finds the masks of a BIDS dataset (or of any folder)
by file name, as lacuna does, without pybids; the BIDS entities of each name
(``sub``, ``ses``, ``space``, ``res``, ``label``) fill in its metadata and
declare its space, and a mask that cannot be used is skipped with a warning
that says why. :func:`bidsify` turns a folder of loose masks into such a
dataset; :func:`validate_bids_derivatives` checks the structure of a derivatives
folder (the official validator, ``bids-validator-deno``, checks the rest).
"""

from __future__ import annotations

import fnmatch
import json
import os
import re
import warnings
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import nibabel as nib
import numpy as np
import pandas as pd

from neuratlas import matching
from neuratlas.__about__ import __version__
from neuratlas.errors import (
    ArgumentError,
    BidsError,
    BidsPathNotFoundError,
    ImageError,
    LesionError,
    NotFoundError,
    SpaceMismatchError,
)
from neuratlas.lesion.derivatives import (
    BIDS_VERSION,
    MASK_SUFFIX,
    constant,
    json_bytes,
    resolution_label,
    table_bytes,
    write_all,
)
from neuratlas.lesion.entities import ENTITY_ORDER, bids_name, parse_entities, split_suffix
from neuratlas.lesion.spaces import bids_space_label, resolve_space, same_space
from neuratlas.lesion.subject import SubjectData
from neuratlas.retrieval.cache import check_writable
from neuratlas.volumes.nifti import NIFTI_SUFFIXES, open_image

__all__ = ["BidsWarning", "bidsify", "load_bids_dataset", "validate_bids_derivatives"]


class BidsWarning(UserWarning):
    """A file of a BIDS dataset that was skipped, and why."""


#: Every entity of the BIDS specification (1.10), for telling a foreign entity from a
#: known one; :data:`~neuratlas.lesion.entities.ENTITY_ORDER` fixes their order.
_SPEC_ENTITIES = (
    "sub tpl ses cohort sample task tracksys acq nuc voi ce trc stain rec dir run mod echo "
    "flip inv mt part proc hemi space split recording chunk atlas seg scale res den label desc"
)
BIDS_ENTITIES = frozenset(_SPEC_ENTITIES.split()) | frozenset(ENTITY_ORDER)
_SPEC_DATATYPES = "anat beh dwi eeg emg fmap func ieeg meg micr motion mrs nirs perf pet phenotype"
_DATATYPES = frozenset(_SPEC_DATATYPES.split())
_ROOT_FILES = frozenset(
    {
        "dataset_description.json",
        "README",
        "README.md",
        "README.rst",
        "README.txt",
        "CHANGES",
        "LICENSE",
        ".bidsignore",
        "participants.tsv",
        "participants.json",
        "samples.tsv",
        "samples.json",
    }
)
_ROOT_FOLDERS = frozenset({"code", "sourcedata", "derivatives", "phenotype", "stimuli", "logs"})
_LABEL = re.compile(r"^[A-Za-z0-9]+$")


def _stem(name: str) -> str:
    """A NIfTI file name without its extension (lacuna's dataset key)."""
    for ext in NIFTI_SUFFIXES:
        if name.lower().endswith(ext):
            return name[: -len(ext)]
    return name


def _is_hidden(path: Path, root: Path) -> bool:
    # dot files and folders: .git, macOS's ._ copies, temporary files of atomic writes
    return any(part.startswith(".") for part in path.relative_to(root).parts)


def _folder_entity(path: Path, root: Path, key: str) -> str | None:
    """The label of the nearest ``<key>-<label>`` folder above ``path`` (within ``root``)."""
    for part in reversed(path.relative_to(root).parts[:-1]):
        if part.startswith(f"{key}-") and _LABEL.match(part[len(key) + 1 :]):
            return part[len(key) + 1 :]
    return None


def _file_subject(path: Path, root: Path) -> str | None:
    return parse_entities(path.name).get("sub") or _folder_entity(path, root, "sub")


def _read_sidecar(path: Path) -> dict[str, Any]:
    """The JSON sidecar of an image (same name, ``.json``), or {} when there is none."""
    sidecar = path.with_name(_stem(path.name) + ".json")
    if not sidecar.is_file():
        return {}
    try:
        document = json.loads(sidecar.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise BidsError(f"{sidecar.name}: not readable JSON ({exc})") from None
    return document if isinstance(document, dict) else {}


def _sidecar_resolution(value: Any) -> float | None:
    """A sidecar's Resolution in mm (2, "2", "2mm", "2 mm"); a description dict is none."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        match = re.match(r"^\s*(\d+(?:\.\d+)?)\s*(mm)?\s*$", value)
        if match:
            return float(match.group(1))
    return None


def load_mask(
    path: Path, root: Path, space: str | None = None, resolution: float | None = None
) -> SubjectData:
    """One mask of a dataset, its declarations from arguments, sidecar and file name reconciled.

    Parameters
    ----------
    path : Path
        The mask file.
    root : Path
        The dataset's root: a mask named without ``sub-``/``ses-`` takes them from
        its folders below it.
    space, resolution : optional
        For masks whose names and sidecars do not say.
    """
    entities = parse_entities(path.name)
    sidecar = _read_sidecar(path)
    side_space = sidecar.get("Space") or sidecar.get("space")
    named = entities.get("space")
    if side_space and named and not same_space(str(side_space), named):
        raise SpaceMismatchError(
            f"{path.name}: its sidecar's Space {side_space} contradicts the file name's "
            f"space-{named}",
            hint="correct the sidecar or the file name",
        )
    side_res = _sidecar_resolution(sidecar.get("Resolution", sidecar.get("resolution")))
    metadata: dict[str, Any] = {"bids_root": str(root)}
    # a mask named without sub-/ses- takes them from its folders (sub-01/ses-2/anat/lesion.nii.gz)
    if "sub" not in entities and (folder_sub := _folder_entity(path, root, "sub")):
        metadata["subject_id"] = f"sub-{folder_sub}"
    if "ses" not in entities and (folder_ses := _folder_entity(path, root, "ses")):
        metadata["session_id"] = f"ses-{folder_ses}"
    if resolution is None and "res" not in entities:
        resolution = side_res
    return SubjectData.from_nifti(
        path,
        space=space or (None if named else side_space),
        resolution=resolution,
        metadata=metadata,
    )


#: What makes one mask of a dataset unusable (the others still load).
_UNUSABLE = (LesionError, SpaceMismatchError, ImageError, NotFoundError, ArgumentError, BidsError)


def _normalise_subjects(subjects: Iterable[str]) -> list[str]:
    if isinstance(subjects, str):
        subjects = [subjects]
    out = []
    for subject in subjects:
        label = str(subject).removeprefix("sub-")
        if not _LABEL.match(label):
            raise ArgumentError(
                f"subjects: {subject!r} is not a BIDS subject label (letters and digits)",
                hint="give labels such as '01' or 'sub-01'",
            )
        out.append(label)
    return out


def load_bids_dataset(
    bids_root: str | os.PathLike[str],
    pattern: str = "*",
    suffix: str = "_mask.nii.gz",
    recursive: bool = True,
    space: str | None = None,
    resolution: float | None = None,
    subjects: Sequence[str] | None = None,
) -> dict[str, SubjectData]:
    """Load the lesion masks of a BIDS dataset (or of any folder) by file name.

    No BIDS library is needed: every file whose name ends in ``suffix`` and fits
    ``pattern`` is loaded with :meth:`SubjectData.from_nifti`, so that the BIDS
    entities of its name fill in the metadata (``sub-`` -> ``subject_id``,
    ``ses-`` -> ``session_id``, ``label-`` -> ``label``) and declare its space
    and resolution (``space-``, ``res-``).

    Parameters
    ----------
    bids_root : str or Path
        The dataset's root, or any folder holding masks (a subject's ``anat``
        folder, say). A ``dataset_description.json`` is not required.
    pattern : str
        A glob matched anywhere in the file name without its extension:
        ``"CAS001"``, ``"ses-01"``, ``"*acuteinfarct*"``, ``"CAS001*ses-01"``.
    suffix : str
        How the file names end: ``"_mask.nii.gz"`` (BIDS masks), ``"_mask.nii"``,
        ``".nii.gz"`` (any NIfTI file).
    recursive : bool
        Search the folders below ``bids_root`` too. Dot folders (``.git``) and
        dot files are never searched.
    space : str, optional
        The masks' space, when their names do not say (``space-``); else the
        sidecar JSON's ``Space``; else the space whose standard grid the header
        is on. A space contradicting the file name or header skips the file.
    resolution : float, optional
        The voxel size in mm, checked against the file name (``res-``), the
        sidecar's ``Resolution`` and the header.
    subjects : list of str, optional
        Load only these subjects (``"01"`` or ``"sub-01"``).

    Returns
    -------
    dict of str to SubjectData
        File name without extension (``sub-01_ses-1_space-..._mask``) -> mask, sorted.

    Raises
    ------
    BidsError
        ``bids_root`` is not a folder; no file fits ``suffix`` and ``pattern``
        (the message says what was searched and what was found instead); a
        subject in ``subjects`` has no such file; two files have the same name;
        or no mask found could be loaded (the message gives each file's reason).
    ArgumentError
        A label in ``subjects`` is not a BIDS label, or ``suffix`` is empty.

    Warns
    -----
    BidsWarning
        For each file skipped: not 3D, not binary, empty, a bad affine, a space or
        resolution contradicting the header or the file name, unreadable.
    """
    root = Path(bids_root).expanduser()
    matching_files = find_masks(root, pattern, suffix, recursive, subjects)
    dataset: dict[str, SubjectData] = {}
    sources: dict[str, Path] = {}
    problems: list[str] = []
    for path in matching_files:
        key = _stem(path.name)
        sources[key] = path
        try:
            dataset[key] = load_mask(path, root, space, resolution)
        except _UNUSABLE as exc:
            problems.append(f"{path.relative_to(root)}: {exc}")
            warnings.warn(f"skipped {path}: {exc}", BidsWarning, stacklevel=2)
    if not dataset:
        more = f"; and {len(problems) - 5} more" if len(problems) > 5 else ""
        shown = "; ".join(problems[:5]) + more
        raise BidsError(
            f"none of the {len(matching_files)} mask(s) in {root} could be loaded: {shown}",
            hint="fix the masks, or pass space=/resolution= where the names do not say",
        )
    return dataset


def find_masks(
    bids_root: str | os.PathLike[str],
    pattern: str = "*",
    suffix: str = "_mask.nii.gz",
    recursive: bool = True,
    subjects: Iterable[str] | None = None,
) -> list[Path]:
    """The mask files of a dataset that :func:`load_bids_dataset` would load, sorted.

    Finds without reading: a batch sends the paths to its workers, which load them.

    Raises
    ------
    BidsPathNotFoundError
        ``bids_root`` does not exist.
    BidsError
        ``bids_root`` is a file; no file fits; a subject asked for has no mask; two
        masks have the same name.
    ArgumentError
        An empty ``suffix``.
    """
    root = Path(bids_root).expanduser()
    if not root.exists():
        raise BidsPathNotFoundError(
            f"{root}: no such folder",
            hint="give the dataset's root folder (or any folder holding the masks)",
        )
    if not root.is_dir():
        raise BidsError(
            f"{root}: a file, not a folder",
            hint=f"give the folder holding it ({root.parent}), with pattern= to pick it",
        )
    if not suffix:
        raise ArgumentError("suffix is empty", hint="e.g. suffix='_mask.nii.gz' or '.nii.gz'")
    found = root.rglob(f"*{suffix}") if recursive else root.glob(f"*{suffix}")
    candidates = sorted(p for p in found if p.is_file() and not _is_hidden(p, root))
    matching_files = [p for p in candidates if fnmatch.fnmatchcase(_stem(p.name), f"*{pattern}*")]
    if subjects is not None:
        wanted = _normalise_subjects(subjects)
        by_subject = {p: _file_subject(p, root) for p in matching_files}
        present = {s for s in by_subject.values() if s}
        missing = [s for s in wanted if s not in present]
        if missing:
            raise BidsError(
                f"{root}: no mask of subject(s) {', '.join(f'sub-{s}' for s in missing)} "
                f"(files ending in {suffix!r} that fit pattern {pattern!r})",
                hint=_subjects_hint(missing, present),
            )
        matching_files = [p for p in matching_files if by_subject[p] in set(wanted)]
    if not matching_files:
        raise BidsError(
            _nothing_found(root, pattern, suffix, recursive, candidates),
            hint="check bids_root, and pattern= / suffix= (suffix='.nii.gz' takes any NIfTI file)",
        )

    seen: dict[str, Path] = {}
    for path in matching_files:
        key = _stem(path.name)
        if key in seen:
            raise BidsError(
                f"two masks are called {key}: {seen[key]} and {path}",
                hint="load one folder of them (a narrower bids_root), or pick one by pattern",
            )
        seen[key] = path
    return matching_files


def _subjects_hint(missing: Sequence[str], present: set[str]) -> str:
    if not present:
        return "no file found names a subject (sub-<label> in its name or folders)"
    near = sorted({f"sub-{s}" for m in missing for s in matching.closest(m, present)})
    listed = ", ".join(f"sub-{s}" for s in sorted(present)[:10])
    more = f" ({len(present)} in all)" if len(present) > 10 else ""
    guess = f"; did you mean {', '.join(near)}?" if near else ""
    return f"subjects found: {listed}{more}{guess}"


def _nothing_found(
    root: Path, pattern: str, suffix: str, recursive: bool, candidates: Sequence[Path]
) -> str:
    where = f"{root} and the folders below it" if recursive else f"{root} (not below it)"
    if candidates:
        example = candidates[0].name
        return (
            f"no file ending in {suffix!r} fits pattern {pattern!r} in {where}; "
            f"{len(candidates)} file(s) end in {suffix!r}, e.g. {example}"
        )
    walk = root.rglob("*") if recursive else root.glob("*")
    images = sorted(
        p.name for p in walk if p.name.lower().endswith(NIFTI_SUFFIXES) and not _is_hidden(p, root)
    )
    other = f"; NIfTI files there: {', '.join(images[:3])}" if images else "; no NIfTI file there"
    return f"no file ending in {suffix!r} in {where}{other}"


# --- bidsify -----------------------------------------------------------------------------
def _subject_label(stem: str) -> str:
    """A BIDS subject label from a file name: no leading ``sub-``, letters and digits only."""
    bare = re.sub(r"^sub[-_]", "", stem, flags=re.IGNORECASE)
    return re.sub(r"[^A-Za-z0-9]", "", bare)


def bidsify(
    input_dir: str | os.PathLike[str],
    output_dir: str | os.PathLike[str],
    space: str,
    session: str | None = None,
    label: str | None = None,
) -> Path:
    """Make a BIDS dataset of a folder of loose lesion masks (one per subject).

    Each ``<name>.nii[.gz]`` becomes
    ``sub-<name>/[ses-<session>/]anat/sub-<name>[_ses-<session>]_space-<space>_res-<mm>[_label-<label>]_mask.nii[.gz]``
    with a JSON sidecar; ``<name>`` keeps the letters and digits of the file name
    (without a leading ``sub-``). The dataset gets ``dataset_description.json``
    (``DatasetType: derivative``, as masks are derived data), ``participants.tsv``
    and a README. The files are copied byte for byte.

    Parameters
    ----------
    input_dir : str or Path
        The folder of masks (``.nii`` or ``.nii.gz``; subfolders are not searched).
    output_dir : str or Path
        The dataset to write; it may exist already (another session, more
        subjects), but no mask in it is ever replaced.
    space : str
        The masks' space: ``MNI152NLin6Asym``, ``MNI152NLin2009cAsym``, or any name
        of a catalogue space. Each mask's header must agree.
    session : str, optional
        A session label (``"01"``, ``"baseline"``): adds the ``ses-`` level.
    label : str, optional
        What the masks show (``"lesion"``, ``"WMH"``): adds the ``label-`` entity.

    Returns
    -------
    Path
        ``output_dir``.

    Raises
    ------
    BidsError
        ``input_dir`` is not a folder or holds no NIfTI file; two files give the
        same subject label, or none; a mask cannot be used (not 3D, not binary,
        empty, bad affine, a header not on the grid of ``space``: every bad file
        is listed); or a mask to write exists already. Nothing is written then.
    NotFoundError
        ``space`` is no space of the catalogue.
    ArgumentError
        ``session`` or ``label`` is not a BIDS label (letters and digits).
    """
    source = Path(input_dir).expanduser()
    if not source.is_dir():
        raise BidsError(
            f"{source}: {'a file, not a folder' if source.exists() else 'no such folder'}",
            hint="give the folder holding the masks",
        )
    space_label = bids_space_label(resolve_space(space))
    for value, what in ((session, "session"), (label, "label")):
        if value is not None and not _LABEL.match(str(value)):
            raise ArgumentError(
                f"{what} {value!r} is not a BIDS label (letters and digits only)",
                hint=f"e.g. {what}={re.sub(r'[^A-Za-z0-9]', '', str(value)) or '01'!r}",
            )
    files = sorted(
        p
        for p in source.iterdir()
        if p.is_file() and not p.name.startswith(".") and p.name.lower().endswith(NIFTI_SUFFIXES)
    )
    if not files:
        raise BidsError(f"{source}: no NIfTI file (.nii, .nii.gz)", hint="check the folder")
    target = check_writable(output_dir, folder=True, create_parents=True)

    by_label: dict[str, Path] = {}
    planned: list[tuple[Path, Any]] = []
    problems: list[str] = []
    for path in files:
        subject = _subject_label(_stem(path.name))
        if not subject:
            problems.append(f"{path.name}: no letter or digit to make a subject label of")
            continue
        if subject in by_label:
            problems.append(f"{path.name} and {by_label[subject].name} both give sub-{subject}")
            continue
        by_label[subject] = path
        try:
            mask = SubjectData(_read_image(path), space=space)
        except (LesionError, SpaceMismatchError, ImageError) as exc:
            problems.append(f"{path.name}: {exc}")
            continue
        planned += _bidsified(path, mask, target, subject, space_label, session, label)
    if problems:
        raise BidsError(
            f"cannot bidsify {source}: " + "; ".join(problems),
            hint="fix or remove these files; nothing was written",
        )
    existing = [p for p, _ in planned if p.exists() and not p.name.endswith(".json")]
    if existing:
        raise BidsError(
            f"{len(existing)} mask(s) exist in {target} already, e.g. {existing[0]}",
            hint="bidsify never replaces masks: choose another output folder or session",
        )
    write_all(planned + _dataset_files(target, sorted(by_label)))
    return target


def _read_image(path: Path) -> nib.Nifti1Image:
    try:
        with open_image(path) as img:
            return nib.Nifti1Image(np.asanyarray(img.dataobj), img.affine, img.header)
    except (OSError, EOFError, ValueError, nib.filebasedimages.ImageFileError) as exc:
        raise ImageError(f"not a readable NIfTI image ({exc})") from None


def _bidsified(
    path: Path,
    mask: SubjectData,
    target: Path,
    subject: str,
    space: str,
    session: str | None,
    label: str | None,
) -> list[tuple[Path, Any]]:
    folder = target / f"sub-{subject}"
    if session:
        folder = folder / f"ses-{session}"
    res = mask.resolution
    entities = {
        "sub": subject,
        "ses": session,
        "space": space,
        "res": resolution_label(res),
        "label": label,
    }
    ext = ".nii.gz" if path.name.lower().endswith(".gz") else ".nii"
    name = bids_name(entities, MASK_SUFFIX, ext)
    sidecar = {
        "Type": "Lesion",
        "Description": f"Lesion mask converted from {path.name} by neuratlas bidsify",
        "Space": space,
        "Resolution": f"{res:g} mm",
    }
    data = path.read_bytes
    return [
        (folder / "anat" / name, data),
        (folder / "anat" / (_stem(name) + ".json"), lambda: json_bytes(sidecar)),
    ]


def _dataset_files(target: Path, subjects: Sequence[str]) -> list[tuple[Path, Any]]:
    """dataset_description.json and README when missing; participants.tsv with every subject."""
    out: list[tuple[Path, Any]] = []
    description = target / "dataset_description.json"
    if not description.exists():
        document = {
            "Name": "Lesion masks",
            "BIDSVersion": BIDS_VERSION,
            "DatasetType": "derivative",
            "GeneratedBy": [
                {
                    "Name": "neuratlas bidsify",
                    "Version": __version__,
                    "Description": "Loose lesion masks filed as a BIDS dataset",
                }
            ],
        }
        out.append((description, constant(json_bytes(document))))
    if not any(target.glob("README*")):
        text = (
            "# Lesion masks\n\nLesion masks filed as a BIDS dataset by `neuratlas bidsify` "
            f"(neuratlas {__version__}): one folder per subject, the mask in anat/.\n"
        ).encode()
        out.append((target / "README.md", constant(text)))
    participants = target / "participants.tsv"
    ids = [f"sub-{s}" for s in subjects]
    if participants.exists():
        try:
            table = pd.read_csv(participants, sep="\t", dtype=str, keep_default_na=False)
        except (OSError, ValueError) as exc:
            raise BidsError(f"{participants}: not a readable TSV table ({exc})") from None
        if "participant_id" not in table.columns:
            raise BidsError(f"{participants}: no participant_id column", hint="repair the table")
        new = [i for i in ids if i not in set(table["participant_id"])]
        # other columns of the new rows are unknown: n/a, as BIDS writes missing values
        added = pd.DataFrame(
            {c: [i if c == "participant_id" else "n/a" for i in new] for c in table}
        )
        table = pd.concat([table, added], ignore_index=True)
    else:
        table = pd.DataFrame({"participant_id": ids})
    if participants.exists() and not new:
        return out
    table = table.sort_values("participant_id", kind="stable")
    out.append((participants, constant(table_bytes(table))))
    return out


# --- checking a derivatives folder ----------------------------------------------------------
def validate_bids_derivatives(
    derivatives_dir: str | os.PathLike[str], raise_on_error: bool = True
) -> dict[str, list[str]]:
    """Check the structure of a BIDS derivatives folder.

    The checks, in Python, without the network (the official validator,
    ``bids-validator-deno``, checks what the BIDS specification defines in depth):

    - ``dataset_description.json`` is there, is a JSON object, has ``Name``,
      ``BIDSVersion`` and ``GeneratedBy`` (a list of objects, each with ``Name``),
      and ``DatasetType`` is ``"derivative"`` (a warning when it is missing);
    - subject folders are ``sub-<label>``, session folders ``ses-<label>``, and
      files sit in datatype folders (``anat``, ``func``, ``dwi``...);
    - every file name is BIDS: ``key-label`` entities (letters and digits) in the
      BIDS order, starting with the ``sub-``/``ses-`` of its folders, then a suffix;
    - every image and table has a JSON sidecar (its own, or one it inherits from
      a folder above), JSON files parse, TSV tables are rectangular, NIfTI
      headers are readable, an image named with ``res-`` has a ``Resolution``;
    - nothing unexpected sits in the root (a warning), and no temporary file of
      an interrupted write is left over (a warning).

    Parameters
    ----------
    derivatives_dir : str or Path
        The derivatives folder (e.g. ``derivatives/neuratlas``).
    raise_on_error : bool
        Raise BidsError when there are errors; otherwise return them.

    Returns
    -------
    dict
        ``{"errors": [...], "warnings": [...]}``: errors MUST be fixed, warnings
        SHOULD be; two empty lists mean the folder passed.

    Raises
    ------
    BidsError
        ``derivatives_dir`` does not exist; or there are errors and ``raise_on_error``.
    """
    root = Path(derivatives_dir).expanduser()
    if not root.exists():
        raise BidsPathNotFoundError(f"{root}: no such folder", hint="give the derivatives folder")
    errors: list[str] = []
    warns: list[str] = []
    if not root.is_dir():
        errors.append(f"{root} is a file, not a folder")
    else:
        _check_dataset_description(root, errors, warns)
        _check_tree(root, errors, warns)
    if errors and raise_on_error:
        listed = "\n".join(f"  - {e}" for e in errors)
        raise BidsError(
            f"{root}: BIDS derivatives with {len(errors)} error(s):\n{listed}",
            hint="fix the files named; validate_bids_derivatives(..., raise_on_error=False) "
            "returns errors and warnings",
        )
    return {"errors": errors, "warnings": warns}


def _check_dataset_description(root: Path, errors: list[str], warns: list[str]) -> None:
    path = root / "dataset_description.json"
    if not path.is_file():
        errors.append("dataset_description.json is missing (every BIDS dataset has one)")
        return
    document = _json_object(path, root, errors)
    if document is None:
        return
    for field in ("Name", "BIDSVersion", "GeneratedBy"):
        if field not in document:
            errors.append(f"dataset_description.json: required field {field!r} is missing")
    kind = document.get("DatasetType")
    if kind is None:
        warns.append("dataset_description.json: DatasetType is missing (say 'derivative')")
    elif kind != "derivative":
        errors.append(f"dataset_description.json: DatasetType is {kind!r}, not 'derivative'")
    generated = document.get("GeneratedBy")
    if generated is None:
        return
    if not isinstance(generated, list) or not generated:
        errors.append("dataset_description.json: GeneratedBy must be a non-empty list")
        return
    for i, entry in enumerate(generated):
        if not isinstance(entry, dict):
            errors.append(f"dataset_description.json: GeneratedBy[{i}] is not an object")
        elif "Name" not in entry:
            errors.append(f"dataset_description.json: GeneratedBy[{i}] has no Name")


def _json_object(path: Path, root: Path, errors: list[str]) -> dict[str, Any] | None:
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        errors.append(f"{path.relative_to(root)}: not valid JSON ({exc})")
        return None
    if not isinstance(document, dict):
        errors.append(f"{path.relative_to(root)}: a JSON file of BIDS holds an object")
        return None
    return document


def _check_tree(root: Path, errors: list[str], warns: list[str]) -> None:
    subjects = 0
    for entry in sorted(root.iterdir()):
        name = entry.name
        if name in (".git", ".datalad"):
            continue
        if entry.is_dir():
            if name.startswith("sub-"):
                subjects += 1
                _check_subject_folder(entry, root, errors, warns)
            elif name not in _ROOT_FOLDERS:
                warns.append(f"folder {name!r} in the root is not a subject (sub-<label>)")
        elif name.endswith(".part") and name.startswith("."):
            warns.append(f"{name}: a temporary file left by an interrupted write")
        elif name not in _ROOT_FILES:
            warns.append(f"unexpected file in the root: {name}")
    if subjects == 0:
        warns.append("no subject folder (sub-<label>) in the derivatives")


def _check_subject_folder(folder: Path, root: Path, errors: list[str], warns: list[str]) -> None:
    label = folder.name[len("sub-") :]
    if not _LABEL.match(label):
        errors.append(f"{folder.name}: a subject label has letters and digits only")
        return
    sessions = [d for d in folder.iterdir() if d.is_dir() and d.name.startswith("ses-")]
    datatypes = [d for d in folder.iterdir() if d.is_dir() and not d.name.startswith("ses-")]
    if sessions and datatypes:
        warns.append(f"{folder.name}: has session folders and datatype folders side by side")
    if not sessions and not datatypes:
        warns.append(f"{folder.name}: no datatype folder (anat, func, dwi...)")
    expected = {"sub": label}
    for session in sessions:
        ses = session.name[len("ses-") :]
        if not _LABEL.match(ses):
            errors.append(
                f"{session.relative_to(root)}: a session label has letters and digits only"
            )
            continue
        _check_level(session, root, {**expected, "ses": ses}, errors, warns)
    _check_level(folder, root, expected, errors, warns, only=datatypes)


def _check_level(
    folder: Path,
    root: Path,
    expected: dict[str, str],
    errors: list[str],
    warns: list[str],
    only: Sequence[Path] | None = None,
) -> None:
    """Check the datatype folders of a subject or session folder, and the files in them."""
    if only is None:
        subfolders = [d for d in folder.iterdir() if d.is_dir()]
        loose = [f for f in folder.iterdir() if f.is_file()]
    else:
        subfolders, loose = list(only), [f for f in folder.iterdir() if f.is_file()]
    for path in loose:
        # per-subject and per-session tables (sub-01_sessions.tsv, sub-01_ses-1_scans.tsv)
        if path.name.startswith("."):
            _check_hidden(path, root, warns)
        else:
            _check_file(path, root, expected, errors, warns)
    for sub in subfolders:
        if sub.name not in _DATATYPES:
            warns.append(
                f"{sub.relative_to(root)}: not a BIDS datatype folder (anat, func, dwi...)"
            )
        for path in sorted(p for p in sub.rglob("*") if p.is_file()):
            if path.name.startswith("."):
                _check_hidden(path, root, warns)
            else:
                _check_file(path, root, expected, errors, warns)


def _check_hidden(path: Path, root: Path, warns: list[str]) -> None:
    if path.name.endswith(".part"):
        warns.append(f"{path.relative_to(root)}: a temporary file left by an interrupted write")


def _entity_errors(name: str, expected: dict[str, str]) -> list[str]:
    """What is wrong with a file name's entities: form, names, order, sub-/ses- of its folders."""
    stem, suffix, _ = split_suffix(name)
    problems = []
    if not suffix:
        problems.append("no suffix (the last part, e.g. _mask)")
    keys = []
    for part in stem.split("_"):
        key, sep, value = part.partition("-")
        if not sep or not key or not _LABEL.match(value or "!"):
            problems.append(f"{part!r} is not an entity (key-label, letters and digits)")
            continue
        keys.append(key)
    if len(set(keys)) != len(keys):
        problems.append("an entity appears twice")
    order = {k: i for i, k in enumerate(ENTITY_ORDER)}
    ranked = [order[k] for k in keys if k in order]
    if ranked != sorted(ranked):
        problems.append(f"entities out of BIDS order (the order is {', '.join(ENTITY_ORDER)})")
    found = parse_entities(name)
    for key, value in expected.items():
        if found.get(key) != value:
            problems.append(f"does not start with the {key}-{value} of its folder")
    if keys[:1] != ["sub"]:
        problems.append("does not start with sub-<label>")
    return problems


def _check_file(
    path: Path, root: Path, expected: dict[str, str], errors: list[str], warns: list[str]
) -> None:
    where = str(path.relative_to(root))
    for problem in _entity_errors(path.name, expected):
        errors.append(f"{where}: {problem}")
    unknown = sorted(set(parse_entities(path.name)) - BIDS_ENTITIES)
    if unknown:
        warns.append(f"{where}: {', '.join(unknown)} not BIDS entities")
    lower = path.name.lower()
    if lower.endswith(".json"):
        _json_object(path, root, errors)
        return
    is_image = lower.endswith(NIFTI_SUFFIXES)
    if lower.endswith(".tsv"):
        _check_tsv(path, where, errors)
    elif is_image:
        try:
            nib.load(str(path)).header  # noqa: B018 - reading the header is the check
        except (OSError, EOFError, ValueError, nib.filebasedimages.ImageFileError) as exc:
            errors.append(f"{where}: not a readable NIfTI image ({exc})")
    else:
        return
    sidecar = _sidecar_of(path, root)
    if sidecar is None:
        errors.append(f"{where}: no JSON sidecar (every image and table has one)")
    elif is_image and "res" in parse_entities(path.name) and sidecar.parent == path.parent:
        document = _json_object(sidecar, root, []) or {}
        if "Resolution" not in document:
            errors.append(f"{where}: named with res- but its sidecar has no Resolution")


def _check_tsv(path: Path, where: str, errors: list[str]) -> None:
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        errors.append(f"{where}: not readable UTF-8 text ({exc})")
        return
    if not lines or not lines[0].strip():
        errors.append(f"{where}: no header row")
        return
    header = lines[0].split("\t")
    if any(not column for column in header):
        errors.append(f"{where}: a column of the header has no name")
    for number, line in enumerate(lines[1:], start=2):
        if len(line.split("\t")) != len(header):
            errors.append(f"{where}: row {number} has not {len(header)} columns")
            break


def _sidecar_of(path: Path, root: Path) -> Path | None:
    """The JSON sidecar that applies to ``path``: its own, or one inherited from above."""
    stem, suffix, _ = split_suffix(path.name)
    own = path.with_name(f"{stem}_{suffix}.json")
    if own.is_file():
        return own
    entities = parse_entities(path.name).items()
    folder = path.parent
    while True:
        for candidate in folder.glob(f"*_{suffix}.json"):
            if parse_entities(candidate.name).items() <= entities:
                return candidate
        if folder == root or folder == folder.parent:
            return None
        folder = folder.parent
