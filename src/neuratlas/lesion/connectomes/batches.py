"""The batch files of a functional connectome: finding them and checking each one.

A connectome in lacuna's layout (:mod:`.layout`) is one HDF5 file or a folder of
them; each must hold ``timeseries``, ``mask_indices``, ``mask_affine`` and the
``mask_shape`` attribute, and all of them the same time points and mask.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NamedTuple

import h5py
import numpy as np

from neuratlas.errors import ArgumentError, ImageError, NotFoundError

__all__ = [
    "HDF5_SUFFIXES",
    "MASK_AFFINE",
    "MASK_INDICES",
    "MASK_SHAPE",
    "SUBJECT_IDS",
    "TIMESERIES",
    "FileInfo",
    "batch_files",
    "check_same",
    "read_info",
]

TIMESERIES = "timeseries"
MASK_INDICES = "mask_indices"
MASK_AFFINE = "mask_affine"
SUBJECT_IDS = "subject_ids"
MASK_SHAPE = "mask_shape"
#: Suffixes of batch files found in a connectome folder (lacuna reads ``*.h5``).
HDF5_SUFFIXES = (".h5", ".hdf5")


def batch_files(source: str | os.PathLike[str] | Sequence[str | os.PathLike[str]]) -> list[Path]:
    """The batch files of a connectome: one file, every ``*.h5`` in a folder, or a list.

    Parameters
    ----------
    source : path-like or sequence of path-like
        An HDF5 file, a folder of batch files (read in name order, as lacuna
        does), or the batch files themselves in the order wanted.

    Returns
    -------
    list of Path

    Raises
    ------
    NotFoundError
        A path that does not exist, or a folder without HDF5 files.
    """
    if isinstance(source, str | os.PathLike):
        path = Path(source).expanduser()
        if path.is_dir():
            files = sorted(p for p in path.iterdir() if p.suffix.lower() in HDF5_SUFFIXES)
            if not files:
                raise NotFoundError(
                    f"no HDF5 batch files (*.h5) in the connectome folder {path}",
                    hint="point to the folder that holds the converted files, "
                    "or convert the data first (gsp1000_to_hdf5)",
                )
            return files
        paths = [path]
    else:
        paths = [Path(p).expanduser() for p in source]
        if not paths:
            raise ArgumentError("no connectome files given", hint="give at least one .h5 file")
    for path in paths:
        if not path.is_file():
            raise NotFoundError(
                f"the connectome file {path} does not exist",
                hint="check the path, or fetch the connectome (fetch_connectome)",
            )
    return paths


def _indices_3xv(raw: np.ndarray, n_voxels: int, where: str) -> np.ndarray:
    """``mask_indices`` as (3, V) int64, from the (3, V) or (V, 3) lacuna accepts."""
    if raw.ndim == 2 and raw.shape[0] == 3 and raw.shape[1] == n_voxels:
        indices = raw
    elif raw.ndim == 2 and raw.shape == (n_voxels, 3):
        indices = raw.T
    else:
        raise ImageError(
            f"{where}: mask_indices has shape {raw.shape}, expected (3, {n_voxels}) or "
            f"({n_voxels}, 3) to match the {n_voxels} voxels of timeseries",
            hint="the file is not a connectome in lacuna's layout, or it is damaged",
        )
    if not np.issubdtype(indices.dtype, np.integer) and not np.all(np.mod(indices, 1) == 0):
        raise ImageError(f"{where}: mask_indices holds non-integer voxel indices")
    return np.ascontiguousarray(indices, dtype=np.int64)


class FileInfo(NamedTuple):
    """What one batch file holds: its path, shape and chunking."""

    path: Path
    n_subjects: int
    n_timepoints: int
    n_voxels: int
    #: voxel columns per HDF5 chunk along V (V for contiguous or one-chunk-per-subject files)
    chunk_voxels: int


def read_info(path: Path) -> tuple[FileInfo, np.ndarray, np.ndarray, tuple[int, ...], dict]:
    """Check one batch file and return its shape, mask indices, affine, grid and attributes."""
    where = str(path)
    try:
        handle = h5py.File(path, "r")
    except OSError as exc:
        raise ImageError(
            f"{where} is not a readable HDF5 file ({exc})",
            hint="the file may be truncated or not a connectome; convert or fetch it again",
        ) from None
    with handle:
        missing = [k for k in (TIMESERIES, MASK_INDICES, MASK_AFFINE) if k not in handle]
        if missing:
            raise ImageError(
                f"{where} lacks the dataset(s) {', '.join(missing)} of a connectome "
                "(timeseries, mask_indices, mask_affine)",
                hint="write connectomes with write_connectome or gsp1000_to_hdf5",
            )
        series = handle[TIMESERIES]
        if series.ndim != 3 or 0 in series.shape:
            raise ImageError(
                f"{where}: timeseries has shape {series.shape}, expected "
                "(subjects, timepoints, voxels) with none of them 0"
            )
        n_subjects, n_timepoints, n_voxels = (int(n) for n in series.shape)
        chunks = series.chunks
        chunk_voxels = int(chunks[2]) if chunks is not None else n_voxels
        indices = _indices_3xv(handle[MASK_INDICES][()], n_voxels, where)
        affine = np.asarray(handle[MASK_AFFINE][()], dtype=np.float64)
        if affine.shape != (4, 4) or not np.all(np.isfinite(affine)):
            raise ImageError(f"{where}: mask_affine is not a finite 4x4 matrix")
        if MASK_SHAPE not in handle.attrs:
            raise ImageError(
                f"{where} has no mask_shape attribute (the shape of the mask grid)",
                hint="lacuna needs it too; rewrite the file with write_connectome",
            )
        shape = tuple(int(n) for n in np.asarray(handle.attrs[MASK_SHAPE]).ravel())
        if len(shape) != 3 or min(shape) < 1:
            raise ImageError(f"{where}: mask_shape {shape} is not the shape of a 3D grid")
        if indices.min(initial=0) < 0 or np.any(indices.max(axis=1) >= np.array(shape)):
            raise ImageError(f"{where}: mask_indices lie outside the grid of shape {shape}")
        attrs = {k: _plain(v) for k, v in handle.attrs.items()}
        ids = None
        if SUBJECT_IDS in handle:
            ids = [_plain(v) for v in handle[SUBJECT_IDS][()]]
        attrs["_subject_ids"] = ids
    info = FileInfo(path, n_subjects, n_timepoints, n_voxels, max(1, chunk_voxels))
    return info, indices, affine, shape, attrs


def _plain(value: Any) -> Any:
    """An HDF5 attribute as a plain Python value (str for bytes, list for arrays)."""
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    if isinstance(value, np.ndarray):
        return [_plain(v) for v in value.tolist()]
    if isinstance(value, np.generic):
        return value.item()
    return value


def check_same(
    first: tuple[FileInfo, np.ndarray, np.ndarray, tuple[int, ...], dict],
    info: FileInfo,
    indices: np.ndarray,
    affine: np.ndarray,
    shape: tuple[int, ...],
) -> None:
    """Raise ImageError when a batch file does not match the first one."""
    ref, ref_indices, ref_affine, ref_shape, _ = first
    problem = None
    if info.n_timepoints != ref.n_timepoints:
        problem = f"{info.n_timepoints} time points, not {ref.n_timepoints}"
    elif info.n_voxels != ref.n_voxels:
        problem = f"{info.n_voxels} voxels, not {ref.n_voxels}"
    elif shape != ref_shape:
        problem = f"a mask grid of shape {shape}, not {ref_shape}"
    elif not np.allclose(affine, ref_affine, atol=1e-5):
        problem = "another mask_affine"
    elif not np.array_equal(indices, ref_indices):
        problem = "another brain mask (mask_indices differ)"
    if problem is not None:
        raise ImageError(
            f"the batch file {info.path} does not match {ref.path}: it has {problem}",
            hint="all batch files of a connectome must share the time points and the mask; "
            "remove files of other connectomes from the folder",
        )
