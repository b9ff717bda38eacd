"""Provenance records: what made a result, with which parameters, from which inputs.

A record is a plain JSON-ready dict, so that it can be exported as it is:
``function`` (dotted name), ``parameters`` (JSON values only), ``timestamp``
(UTC, ISO 8601), ``version`` (neuratlas's) and ``inputs`` (name -> sha256 of the
input's bytes, so that a result can be matched to the very mask it came from).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from neuratlas.__about__ import __version__
from neuratlas.errors import ArgumentError

__all__ = ["REQUIRED_FIELDS", "array_digest", "check_record", "file_digest", "provenance_record"]

REQUIRED_FIELDS = ("function", "parameters", "timestamp", "version")


def array_digest(
    data: np.ndarray, affine: np.ndarray | None = None, grid: tuple[int, ...] | None = None
) -> str:
    """The sha256 of an array's values (C order, its dtype) and, if given, its affine.

    ``grid``: the shape of the grid the values describe, when they are not the grid
    itself (e.g. the flat indices of a mask's voxels), hashed with them.
    """
    h = hashlib.sha256()
    h.update(str(data.dtype).encode() + str(data.shape).encode())
    if grid is not None:
        h.update(b"grid" + str(tuple(int(n) for n in grid)).encode())
    h.update(np.ascontiguousarray(data).tobytes())
    if affine is not None:
        h.update(np.asarray(affine, dtype=np.float64).tobytes())
    return h.hexdigest()


def file_digest(path: str | Path, chunk: int = 1 << 20) -> str:
    """The sha256 of a file's bytes, read in chunks."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            h.update(block)
    return h.hexdigest()


def _json_ready(value: Any) -> Any:
    """``value`` as JSON values: paths and NumPy scalars become strings and numbers."""
    if isinstance(value, Mapping):
        return {str(k): _json_ready(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [_json_ready(v) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if value is None or isinstance(value, bool | int | float | str):
        return value
    return str(value)


def provenance_record(
    function: str,
    parameters: Mapping[str, Any] | None = None,
    inputs: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """A provenance record for one call.

    Parameters
    ----------
    function : str
        The dotted name of what ran (``neuratlas.lesion.analysis.RegionalDamage``).
    parameters : mapping, optional
        Its parameters; values that are not JSON (paths, NumPy scalars, objects)
        are stored as numbers, lists or strings.
    inputs : mapping, optional
        Input name -> sha256 digest (:func:`array_digest`, :func:`file_digest`).

    Returns
    -------
    dict
        ``function``, ``parameters``, ``timestamp`` (UTC), ``version``, ``inputs``.
    """
    record = {
        "function": function,
        "parameters": _json_ready(dict(parameters or {})),
        "timestamp": datetime.now(UTC).isoformat(timespec="milliseconds"),
        "version": __version__,
        "inputs": dict(inputs or {}),
    }
    json.dumps(record)  # fails here, not at export, if something slipped through
    return record


def check_record(record: Mapping[str, Any]) -> None:
    """Raise ArgumentError when ``record`` lacks a field every record has."""
    missing = [f for f in REQUIRED_FIELDS if f not in record]
    if missing:
        raise ArgumentError(
            f"provenance record lacks {', '.join(missing)}",
            hint="make records with neuratlas.lesion.provenance.provenance_record()",
        )
