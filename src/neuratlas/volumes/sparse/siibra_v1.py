"""siibra's three-file ``sparseindex_v1`` format of a sparse index.

A set is three gzipped files sharing one prefix ``<folder>/<base>``
(:data:`SIIBRA_V1_SUFFIXES`):

``<base>.sparseindex_v1.voxels.nii.gz``
    The ``int32`` voxel grid (row index per voxel, ``-1`` where nothing is
    mapped) as a NIfTI image with the affine.
``<base>.sparseindex_v1.probs.txt.gz``
    One line per row, ``vol value vol value ...``.
``<base>.sparseindex_v1.bboxes.txt.gz``
    One line per volume, ``x0 y0 z0 x1 y1 z1`` (inclusive voxel bounds).

:func:`save_siibra_v1` writes such a set and :func:`load_siibra_v1` reads one.
Text is written and parsed with vectorised NumPy, never line by line.
"""

from __future__ import annotations

import gzip
import warnings
import zlib
from pathlib import Path

import nibabel as nib
import numpy as np
from numpy.typing import DTypeLike

from neuratlas.errors import ImageError
from neuratlas.retrieval.cache import atomic_write
from neuratlas.volumes.sparse.arrays import Order, compact_values, volume_dtype
from neuratlas.volumes.sparse.index import SparseIndex, require_grid

__all__ = ["GZIP_LEVEL", "SIIBRA_V1_SUFFIXES", "load_siibra_v1", "save_siibra_v1"]

#: File name endings of siibra's ``sparseindex_v1`` format, by part.
SIIBRA_V1_SUFFIXES = {
    "voxels": ".sparseindex_v1.voxels.nii.gz",
    "probs": ".sparseindex_v1.probs.txt.gz",
    "bboxes": ".sparseindex_v1.bboxes.txt.gz",
}

#: gzip level: fast, since these files are written once per build and level 6+ costs
#: ~10x the time.
GZIP_LEVEL = 2


def save_siibra_v1(index: SparseIndex, folder: str | Path, base: str) -> dict[str, Path]:
    """Write siibra's three ``sparseindex_v1`` files, each atomically.

    ``<base>.sparseindex_v1.voxels.nii.gz`` holds the int32 grid with the
    affine; ``...probs.txt.gz`` one line per row, ``vol value vol value ...``;
    ``...bboxes.txt.gz`` one line per volume, ``x0 y0 z0 x1 y1 z1`` (inclusive).
    Values are written as integers for integer sources, else as the shortest
    decimal of their float64 value, as siibra writes them.

    Parameters
    ----------
    index : SparseIndex
        The index to write.
    folder : path-like
        Destination folder (created if needed).
    base : str
        File name prefix.

    Returns
    -------
    dict
        The written paths by part (``voxels``, ``probs``, ``bboxes``).

    Raises
    ------
    neuratlas.errors.ImageError
        If the index is empty (no image added).
    """
    require_grid(index, "save")
    paths = {part: Path(folder) / f"{base}{suffix}" for part, suffix in SIIBRA_V1_SUFFIXES.items()}
    image = nib.Nifti1Image(np.asarray(index.voxels), index.affine)
    image.set_data_dtype(np.int32)
    with atomic_write(paths["voxels"]) as handle:
        handle.write(gzip.compress(image.to_bytes(), compresslevel=GZIP_LEVEL))
    with atomic_write(paths["probs"]) as handle:
        handle.write(gzip.compress(_probs_text(index), compresslevel=GZIP_LEVEL))
    boxes = index.bboxes.reshape(-1, 6)
    with atomic_write(paths["bboxes"]) as handle:
        handle.write(gzip.compress(_join_lines(boxes.astype("S"), 6), compresslevel=GZIP_LEVEL))
    return paths


def load_siibra_v1(
    folder_or_prefix: str | Path, value_dtype: DTypeLike | None = None
) -> SparseIndex:
    """Read siibra's three ``sparseindex_v1`` files.

    Parameters
    ----------
    folder_or_prefix : path-like
        The common prefix of the three files (``<folder>/<base>``), or a folder
        holding exactly one such set.
    value_dtype : dtype, optional
        The value dtype to store. By default ``float32`` when it holds every
        value of the text exactly (integers, and float32 maps, which siibra
        writes as the float64 repr of each value), else ``float64``: reading
        never rounds. A text ``0.1`` is the float64 0.1; pass ``float32`` to
        read such short decimals as float32.

    Returns
    -------
    SparseIndex
        The index; its :attr:`~SparseIndex.source_dtype` is unknown (None), since
        the files do not record it.

    Raises
    ------
    neuratlas.errors.ImageError
        If a file is missing, truncated or corrupt, or the files disagree (line
        counts, row numbers, volume numbers); the message names the file.
    """
    prefix = _v1_prefix(Path(folder_or_prefix))
    paths = {part: Path(f"{prefix}{suffix}") for part, suffix in SIIBRA_V1_SUFFIXES.items()}
    missing = [str(p) for p in paths.values() if not p.is_file()]
    if missing:
        raise ImageError(
            f"siibra sparse index files missing: {', '.join(missing)}",
            hint="all three sparseindex_v1 files (voxels, probs, bboxes) are needed",
        )
    grid, affine = _read_v1_voxels(paths["voxels"])
    box_numbers, box_counts = _read_number_lines(paths["bboxes"])
    if np.any(box_counts != 6):
        line = int(np.flatnonzero(box_counts != 6)[0]) + 1
        raise ImageError(
            f"{paths['bboxes']}: line {line} has {box_counts[line - 1]} numbers, "
            "expected 6 (x0 y0 z0 x1 y1 z1)"
        )
    bboxes = _as_integers(box_numbers, paths["bboxes"], "bounding box").reshape(-1, 2, 3)
    numbers, counts = _read_number_lines(paths["probs"])
    bad = (counts == 0) | (counts % 2 == 1)
    if np.any(bad):
        line = int(np.flatnonzero(bad)[0]) + 1
        raise ImageError(
            f"{paths['probs']}: line {line} has {counts[line - 1]} numbers, expected "
            "pairs of 'volume value'"
        )
    return _index_from_v1(grid, affine, bboxes, numbers, counts // 2, paths, value_dtype)


def _index_from_v1(
    grid: np.ndarray,
    affine: np.ndarray,
    bboxes: np.ndarray,
    numbers: np.ndarray,
    row_sizes: np.ndarray,
    paths: dict[str, Path],
    value_dtype: DTypeLike | None,
) -> SparseIndex:
    """Check the parsed files against each other and assemble the index."""
    num_volumes = bboxes.shape[0]
    vols = _as_integers(numbers[0::2], paths["probs"], "volume index")
    if vols.size and (vols.min() < 0 or vols.max() >= num_volumes):
        raise ImageError(
            f"{paths['probs']}: volume index {int(vols.max())} out of range: "
            f"{paths['bboxes'].name} lists {num_volumes} volumes"
        )
    values = numbers[1::2]
    if not np.all(values > 0):
        raise ImageError(f"{paths['probs']}: values must be > 0 (no NaN, zero or negative)")
    values = _v1_values(values, value_dtype)
    order: Order = "F" if grid.flags.f_contiguous and not grid.flags.c_contiguous else "C"
    flat = np.ravel(grid, order=order)  # a view when contiguous in that order (nibabel's are)
    positions = np.flatnonzero(flat >= 0)
    rows = flat[positions].astype(np.int64)
    num_rows = row_sizes.size
    if rows.size != num_rows or (rows.size and np.any(np.bincount(rows, minlength=num_rows) != 1)):
        raise ImageError(
            f"{paths['probs']} has {num_rows} lines but {paths['voxels'].name} maps "
            f"{rows.size} voxels to rows up to {int(rows.max()) if rows.size else -1}: "
            "each line must belong to exactly one voxel",
            hint="the files come from different indexes or one is truncated",
        )
    if np.any(flat < -1):
        raise ImageError(f"{paths['voxels']}: row indices below -1")
    row_keys = np.empty(num_rows, dtype=np.int64)
    row_keys[rows] = positions
    keys = np.repeat(row_keys, row_sizes)
    vols = vols.astype(volume_dtype(num_volumes))
    by_key = np.lexsort((vols, keys))
    keys, vols, values = keys[by_key], vols[by_key], values[by_key]
    twice = (keys[1:] == keys[:-1]) & (vols[1:] == vols[:-1])
    if np.any(twice):
        raise ImageError(f"{paths['probs']}: a line names volume {vols[1:][twice][0]} twice")
    try:
        return SparseIndex.from_entries(
            keys, vols, values, shape=grid.shape, affine=affine, bboxes=bboxes, order=order
        )
    except ImageError as exc:  # the checks above leave little, but name the files anyway
        raise ImageError(f"{paths['voxels']}: {exc.message}", hint=exc.hint) from exc


def _probs_text(index: SparseIndex) -> bytes:
    """All rows as ``vol value ...`` lines, assembled as one byte matrix."""
    source = index.source_dtype
    integral = source is not None and source.kind in "biu"
    volume_text = np.arange(index.num_volumes).astype("S")[index.volumes]
    ends = np.full(index.values.size, b" ", dtype="S1")
    ends[index.indptr[1:] - 1] = b"\n"
    return _join_columns([volume_text, _number_text(index.values, integral), ends])


def _number_text(numbers: np.ndarray, integral: bool) -> np.ndarray:
    """Numbers as fixed-width bytes, each distinct number formatted once.

    Integers print as integers; floats as the shortest decimal that reads back
    to the same float64, which is what siibra writes (its f-strings widen float32
    to Python floats) and reads (as Python floats).
    """
    if numbers.size == 0:
        return np.zeros(0, dtype="S1")
    if integral:
        ints = numbers.astype(np.int64)
        low, high = int(ints.min()), int(ints.max())
        if high - low <= 1 << 20:
            return np.arange(low, high + 1).astype("S")[ints - low]
        return ints.astype("S")
    distinct, inverse = np.unique(numbers, return_inverse=True)
    return distinct.astype(np.float64).astype("S")[inverse]


def _join_columns(columns: list[np.ndarray]) -> bytes:
    """Concatenate fixed-width bytes columns row by row into one byte string.

    Columns are separated by one space, except the last one, which holds each
    row's own terminator (a space or a newline). The columns are laid side by side
    in one byte matrix and the NUL padding is dropped in a single pass.
    """
    rows = columns[0].size
    widths = [c.dtype.itemsize for c in columns]
    matrix = np.zeros((rows, sum(widths) + len(columns) - 2), dtype=np.uint8)
    at = 0
    for number, (column, width) in enumerate(zip(columns, widths, strict=True)):
        matrix[:, at : at + width] = (
            np.ascontiguousarray(column).view(np.uint8).reshape(rows, width)
        )
        at += width
        if number < len(columns) - 2:
            matrix[:, at] = ord(" ")
            at += 1
    return matrix[matrix != 0].tobytes()


def _join_lines(cells: np.ndarray, per_line: int) -> bytes:
    """Bytes cells, ``per_line`` to a line, joined by spaces and newlines."""
    ends = np.full(cells.size, b" ", dtype="S1")
    ends[per_line - 1 :: per_line] = b"\n"
    return _join_columns([cells.reshape(-1), ends])


def _v1_prefix(path: Path) -> str:
    if not path.is_dir():
        return str(path)
    suffix = SIIBRA_V1_SUFFIXES["voxels"]
    found = sorted(path.glob(f"*{suffix}"))
    if len(found) != 1:
        raise ImageError(
            f"folder {path} holds {len(found)} siibra sparse indexes ({suffix} files), "
            "expected exactly one",
            hint="pass the file prefix <folder>/<base> instead",
        )
    return str(found[0])[: -len(suffix)]


def _read_gz(path: Path) -> bytes:
    try:
        return gzip.decompress(path.read_bytes())
    except (OSError, EOFError, zlib.error) as exc:
        raise ImageError(
            f"cannot decompress {path}: {exc}", hint="the file is truncated or corrupt"
        ) from exc


def _read_v1_voxels(path: Path) -> tuple[np.ndarray, np.ndarray]:
    try:
        image = nib.Nifti1Image.from_bytes(_read_gz(path))
        grid = np.asanyarray(image.dataobj)
    except ImageError:
        raise
    except Exception as exc:  # nibabel raises many types for broken headers
        raise ImageError(f"cannot read the voxel grid {path}: {exc}") from exc
    if grid.ndim != 3 or grid.dtype.kind not in "iu":
        raise ImageError(
            f"{path}: the voxel grid must be a 3D integer image, got {grid.dtype} {grid.shape}"
        )
    return grid.astype(np.int32, copy=False), np.asarray(image.affine, dtype=np.float64)


def _read_number_lines(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """All numbers of a whitespace-separated text file, and how many each line holds.

    Vectorised: tokens are counted per line on the raw bytes, then parsed at once
    with ``np.fromstring``. Leading and trailing blank lines are ignored (siibra
    strips the text); blank lines inside count as lines with no numbers.
    """
    text = _read_gz(path)
    raw = np.frombuffer(text, dtype=np.uint8)
    blank = (raw == 32) | (raw == 9) | (raw == 13) | (raw == 10)
    filled = np.flatnonzero(~blank)
    if filled.size == 0:
        return np.zeros(0), np.zeros(0, dtype=np.int64)
    raw = raw[filled[0] : filled[-1] + 1]
    blank = blank[filled[0] : filled[-1] + 1]
    token_start = ~blank
    token_start[1:] &= blank[:-1]
    line_bounds = np.r_[0, np.flatnonzero(raw == 10) + 1, raw.size]
    counts = np.diff(np.searchsorted(np.flatnonzero(token_start), line_bounds))
    total = int(counts.sum())
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", DeprecationWarning)
            numbers = np.fromstring(raw.tobytes(), dtype=np.float64, sep=" ")
    except (ValueError, DeprecationWarning) as exc:
        raise ImageError(f"{path}: text that is not a number ({exc})") from exc
    if numbers.size != total:
        raise ImageError(f"{path}: text that is not a number after {numbers.size} numbers")
    return numbers, counts


def _as_integers(numbers: np.ndarray, path: Path, what: str) -> np.ndarray:
    if numbers.size and not np.all(np.isfinite(numbers) & (numbers == np.round(numbers))):
        raise ImageError(f"{path}: every {what} must be an integer")
    return numbers.astype(np.int64)


def _v1_values(values: np.ndarray, value_dtype: DTypeLike | None) -> np.ndarray:
    if value_dtype is not None:
        return values.astype(value_dtype)
    # siibra writes float32 maps as the float64 repr of each value, which float32
    # holds exactly; anything else stays float64 so that reading never rounds.
    return compact_values(values)
