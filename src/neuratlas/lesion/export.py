"""Analysis results out as tables and JSON, and lesion masks out as NIfTI (seed 004).

One subject's results become one row (:func:`export_results_to_csv`), many
subjects' one table with a row each (:func:`batch_export_to_csv`): regional
values and scalar metrics are flattened into columns named
``<analysis>.<result key>.<region or field>``. Voxel maps and connectivity
matrices are not tabular and are left out of the rows; the BIDS derivatives
(:func:`~neuratlas.lesion.derivatives.export_bids_derivatives`, importable from
here too, as lacuna's ``io`` has it beside these) hold them.

Every file is written atomically: a reader sees the old file or the new one,
never half of one.
"""

from __future__ import annotations

import json
import os
import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from neuratlas.errors import ArgumentError, ArgumentTypeError
from neuratlas.lesion.derivatives import (
    export_bids_derivatives,
    json_bytes,
    json_ready,
    table_bytes,
)
from neuratlas.lesion.results import ConnectivityMatrix, ParcelData, ScalarMetric, VoxelMap
from neuratlas.lesion.subject import SubjectData
from neuratlas.retrieval.cache import atomic_write, check_writable
from neuratlas.volumes import nifti

__all__ = [
    "batch_export_to_csv",
    "batch_export_to_tsv",
    "export_bids_derivatives",
    "export_provenance_to_json",
    "export_results_to_csv",
    "export_results_to_json",
    "export_results_to_tsv",
    "result_to_json",
    "save_nifti",
]


def write_bytes(path: Path, data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically."""
    with atomic_write(path) as handle:
        handle.write(data)
    return path


def _output_file(path: str | os.PathLike[str]) -> Path:
    # folders above a results file are made as lacuna makes them
    return check_writable(path, create_parents=True)


def _check_subject(mask_data: Any, name: str = "mask_data") -> SubjectData:
    if not isinstance(mask_data, SubjectData):
        raise ArgumentTypeError(
            f"{name} must be a SubjectData, not {type(mask_data).__name__}",
            hint="load masks with SubjectData.from_nifti or load_bids_dataset",
        )
    return mask_data


# --- results as JSON ------------------------------------------------------------------
def result_to_json(result: Any) -> Any:
    """A result container as a JSON-ready dict (``type`` names the container).

    A voxel map is described (shape, space, resolution), not inlined: images
    belong in NIfTI files. A matrix is a list of rows.
    """
    if isinstance(result, VoxelMap):
        out: dict[str, Any] = {
            "type": "VoxelMap",
            "name": result.name,
            "space": result.space,
            "resolution": result.resolution,
            "shape": list(result.data.shape),
        }
    elif isinstance(result, ParcelData):
        out = {
            "type": "ParcelData",
            "name": result.name,
            "data": dict(result.data),
            "region_labels": result.region_labels,
            "parcel_names": result.parcel_names,
            "aggregation_method": result.aggregation_method,
        }
    elif isinstance(result, ConnectivityMatrix):
        out = {
            "type": "ConnectivityMatrix",
            "name": result.name,
            "matrix": np.asarray(result.matrix, dtype=float).tolist(),
            "region_labels": result.region_labels,
            "matrix_type": result.matrix_type,
        }
    elif isinstance(result, ScalarMetric):
        out = {"type": "ScalarMetric", "name": result.name, "data": result.data}
    else:
        return json_ready(result)
    if result.metadata:
        out["metadata"] = dict(result.metadata)
    return json_ready(out)


# --- results as rows ------------------------------------------------------------------
def _selected(mask_data: SubjectData, analysis_name: str | None) -> dict[str, Mapping[str, Any]]:
    """The results to export; ArgumentError when there are none or the analysis is missing."""
    results = mask_data.results
    if not results:
        raise ArgumentError(
            f"{mask_data.subject_id}: no results to export",
            hint="run an analysis first, e.g. RegionalDamage(...).run(subject)",
        )
    if analysis_name is None:
        return dict(results)
    if analysis_name not in results:
        raise ArgumentError(
            f"{mask_data.subject_id}: no results of analysis {analysis_name!r}",
            hint=f"available analyses: {', '.join(results)}",
        )
    return {analysis_name: results[analysis_name]}


def _flatten(prefix: str, value: Any, row: dict[str, Any]) -> None:
    """Add ``value`` to ``row`` under ``prefix``, nested names joined by dots."""
    if isinstance(value, ParcelData):
        for region, number in value.data.items():
            row[f"{prefix}.{region}"] = number
    elif isinstance(value, ScalarMetric):
        _flatten(prefix, value.data, row)
    elif isinstance(value, VoxelMap | ConnectivityMatrix):
        return  # images and matrices do not fit in a row; the BIDS export holds them
    elif isinstance(value, Mapping):
        for key, inner in value.items():
            _flatten(f"{prefix}.{key}", inner, row)
    elif isinstance(value, list | tuple | np.ndarray):
        items = list(np.asarray(value).ravel()) if isinstance(value, np.ndarray) else value
        # a one-element list is a value (lacuna's convention); a longer one stays whole
        row[prefix] = json_ready(items[0]) if len(items) == 1 else json.dumps(json_ready(items))
    else:
        row[prefix] = json_ready(value)


def _metadata_columns(mask_data: SubjectData) -> dict[str, Any]:
    meta = mask_data.metadata
    return {
        "subject_id": mask_data.subject_id,
        "session_id": meta.get("session_id"),
        "label": meta.get("label"),
        "coordinate_space": mask_data.space,
    }


def _row(
    mask_data: SubjectData, results: Mapping[str, Mapping[str, Any]], include_metadata: bool
) -> dict[str, Any]:
    row: dict[str, Any] = _metadata_columns(mask_data) if include_metadata else {}
    for analysis, found in results.items():
        if isinstance(found, Mapping):
            for key, value in found.items():
                _flatten(f"{analysis}.{key}", value, row)
        else:
            _flatten(analysis, found, row)
    return row


def _write_rows(rows: list[dict[str, Any]], output_path: Path, sep: str) -> Path:
    # columns in order of first appearance; a subject without a column gets NaN
    frame = pd.DataFrame(rows)
    return write_bytes(output_path, table_bytes(frame, sep=sep))


def _export_row(
    mask_data: SubjectData,
    output_path: str | os.PathLike[str],
    analysis_name: str | None,
    include_metadata: bool,
    sep: str,
) -> Path:
    subject = _check_subject(mask_data)
    row = _row(subject, _selected(subject, analysis_name), include_metadata)
    return _write_rows([row], _output_file(output_path), sep)


def export_results_to_csv(
    mask_data: SubjectData,
    output_path: str | os.PathLike[str],
    analysis_name: str | None = None,
    include_metadata: bool = True,
) -> Path:
    """Export one subject's analysis results as a one-row CSV table.

    Parameters
    ----------
    mask_data : SubjectData
        A subject with analysis results.
    output_path : str or Path
        The CSV file to write (missing folders above it are created).
    analysis_name : str, optional
        Export only this analysis (``"RegionalDamage"``); all of them by default.
    include_metadata : bool
        Start the row with ``subject_id``, ``session_id``, ``label`` and
        ``coordinate_space``.

    Returns
    -------
    Path
        The file written.

    Raises
    ------
    ArgumentError
        (a ValueError) The subject has no results, or none of ``analysis_name``.

    Notes
    -----
    Results are flattened into columns named with dots:
    ``RegionalDamage.atlas-X_desc-damage.<region>`` for each region of a
    :class:`ParcelData`, ``<analysis>.<key>`` for a scalar and
    ``<analysis>.<key>.<field>`` for each field of a dict-valued
    :class:`ScalarMetric`. Voxel maps and connectivity matrices do not fit in a
    row and are left out (:func:`export_bids_derivatives` writes them).
    A missing value is an empty cell.
    """
    return _export_row(mask_data, output_path, analysis_name, include_metadata, ",")


def export_results_to_tsv(
    mask_data: SubjectData,
    output_path: str | os.PathLike[str],
    analysis_name: str | None = None,
    include_metadata: bool = True,
) -> Path:
    """Export one subject's analysis results as a one-row TSV table.

    As :func:`export_results_to_csv`, tab-separated, a missing value written
    ``n/a`` as BIDS tables write it.

    Parameters
    ----------
    mask_data : SubjectData
        A subject with analysis results.
    output_path : str or Path
        The TSV file to write.
    analysis_name : str, optional
        Export only this analysis; all of them by default.
    include_metadata : bool
        Start the row with the subject's metadata.

    Returns
    -------
    Path
        The file written.

    Raises
    ------
    ArgumentError
        (a ValueError) The subject has no results, or none of ``analysis_name``.
    """
    return _export_row(mask_data, output_path, analysis_name, include_metadata, "\t")


def _export_batch(
    mask_data_list: Sequence[SubjectData],
    output_path: str | os.PathLike[str],
    analysis_name: str | None,
    include_metadata: bool,
    sep: str,
) -> Path:
    subjects = [_check_subject(s, "mask_data_list[...]") for s in mask_data_list]
    if not subjects:
        raise ArgumentError("mask_data_list is empty: no subject to export")
    rows = []
    for subject in subjects:
        results = subject.results
        # lacuna's rule: subjects without (these) results are left out, not an error
        if not results or (analysis_name is not None and analysis_name not in results):
            continue
        rows.append(_row(subject, _selected(subject, analysis_name), include_metadata))
    if not rows:
        what = f"results of {analysis_name!r}" if analysis_name else "results"
        raise ArgumentError(
            f"none of the {len(subjects)} subjects has {what}",
            hint="run the analysis on the subjects first (Analysis.run_batch)",
        )
    return _write_rows(rows, _output_file(output_path), sep)


def batch_export_to_csv(
    mask_data_list: Sequence[SubjectData],
    output_path: str | os.PathLike[str],
    analysis_name: str | None = None,
    include_metadata: bool = True,
) -> Path:
    """Export many subjects' results as one CSV table, a row per subject.

    Parameters
    ----------
    mask_data_list : list of SubjectData
        The subjects, typically from :meth:`Analysis.run_batch`.
    output_path : str or Path
        The CSV file to write.
    analysis_name : str, optional
        Export only this analysis; all of them by default.
    include_metadata : bool
        Start each row with the subject's metadata.

    Returns
    -------
    Path
        The file written.

    Raises
    ------
    ArgumentError
        (a ValueError) The list is empty, or no subject has (these) results.

    Notes
    -----
    Columns are named as in :func:`export_results_to_csv` and shared by all
    rows; a subject without some column gets an empty cell (NaN when read
    back). Subjects without results, or without ``analysis_name``, are left out.
    """
    return _export_batch(mask_data_list, output_path, analysis_name, include_metadata, ",")


def batch_export_to_tsv(
    mask_data_list: Sequence[SubjectData],
    output_path: str | os.PathLike[str],
    analysis_name: str | None = None,
    include_metadata: bool = True,
) -> Path:
    """Export many subjects' results as one TSV table, a row per subject.

    As :func:`batch_export_to_csv`, tab-separated, missing values ``n/a``.

    Parameters
    ----------
    mask_data_list : list of SubjectData
        The subjects.
    output_path : str or Path
        The TSV file to write.
    analysis_name : str, optional
        Export only this analysis; all of them by default.
    include_metadata : bool
        Start each row with the subject's metadata.

    Returns
    -------
    Path
        The file written.

    Raises
    ------
    ArgumentError
        (a ValueError) The list is empty, or no subject has (these) results.
    """
    return _export_batch(mask_data_list, output_path, analysis_name, include_metadata, "\t")


def export_results_to_json(
    mask_data: SubjectData,
    output_path: str | os.PathLike[str],
    analysis_name: str | None = None,
    include_metadata: bool = True,
    include_provenance: bool = False,
    indent: int = 2,
) -> Path:
    """Export one subject's results (and its metadata, provenance) as JSON.

    Parameters
    ----------
    mask_data : SubjectData
        A subject with analysis results.
    output_path : str or Path
        The JSON file to write.
    analysis_name : str, optional
        Export only this analysis; all of them by default.
    include_metadata : bool
        Add the subject's metadata (and ``coordinate_space``).
    include_provenance : bool
        Add the provenance records.
    indent : int
        Indentation; 0 writes compact JSON.

    Returns
    -------
    Path
        The file written.

    Raises
    ------
    ArgumentError
        (a ValueError) The subject has no results, or none of ``analysis_name``.

    Notes
    -----
    The structure is ``{"metadata": {...}, "results": {analysis: {key: result}},
    "provenance": [...]}``; each result is a dict whose ``type`` names its
    container (:func:`result_to_json`). Missing numbers (NaN) are ``null``.
    """
    subject = _check_subject(mask_data)
    results = _selected(subject, analysis_name)
    document: dict[str, Any] = {}
    if include_metadata:
        document["metadata"] = {**subject.metadata, "coordinate_space": subject.space}
    document["results"] = {
        analysis: {key: result_to_json(value) for key, value in found.items()}
        if isinstance(found, Mapping)
        else result_to_json(found)
        for analysis, found in results.items()
    }
    if include_provenance and subject.provenance:
        document["provenance"] = subject.provenance
    return write_bytes(_output_file(output_path), json_bytes(document, indent))


def export_provenance_to_json(
    mask_data: SubjectData, output_path: str | os.PathLike[str], indent: int = 2
) -> Path:
    """Export a subject's provenance records (what was done, how, when) as JSON.

    Parameters
    ----------
    mask_data : SubjectData
        A subject whose provenance is not empty.
    output_path : str or Path
        The JSON file to write.
    indent : int
        Indentation; 0 writes compact JSON.

    Returns
    -------
    Path
        The file written: a list of records, oldest first, each with
        ``function``, ``parameters``, ``timestamp`` (UTC), ``version`` and
        ``inputs`` (sha256 digests).

    Raises
    ------
    ArgumentError
        (a ValueError) The subject has no provenance records.
    """
    subject = _check_subject(mask_data)
    if not subject.provenance:
        raise ArgumentError(
            f"{subject.subject_id}: no provenance records to export",
            hint="analyses record their runs: export the subject an analysis returned",
        )
    return write_bytes(_output_file(output_path), json_bytes(subject.provenance, indent))


def save_nifti(
    mask_data: SubjectData, output_path: str | os.PathLike[str], save_anatomical: bool = False
) -> Path:
    """Save a subject's lesion mask as a NIfTI file (uint8, 0 and 1), atomically.

    Parameters
    ----------
    mask_data : SubjectData
        The lesion.
    output_path : str or Path
        A ``.nii`` or ``.nii.gz`` file; missing folders above it are created.
    save_anatomical : bool
        Kept for lacuna's signature: a SubjectData holds no anatomical image,
        so there is nothing more to save (a warning says so when True).

    Returns
    -------
    Path
        The file written.

    Raises
    ------
    ArgumentError
        (a ValueError) ``output_path`` does not end in ``.nii`` or ``.nii.gz``.
    """
    subject = _check_subject(mask_data)
    path = Path(output_path)
    if not path.name.lower().endswith(nifti.NIFTI_SUFFIXES):
        raise ArgumentError(
            f"{path}: a NIfTI file name ends in .nii or .nii.gz",
            hint=f"e.g. {path.with_suffix('').name}.nii.gz",
        )
    if save_anatomical:
        warnings.warn(
            f"{subject.subject_id}: no anatomical image to save (SubjectData holds the mask only)",
            UserWarning,
            stacklevel=2,
        )
    return nifti.save_nifti(subject.mask_img, _output_file(path))
