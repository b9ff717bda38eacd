"""Array rules of sparse indexes: value and volume dtypes, input checks, flat views.

Shared by :mod:`~neuratlas.volumes.sparse.index` and the file formats, so that an
index read from a file follows the same rules as one built from images.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
from numpy.typing import ArrayLike, DTypeLike

from neuratlas.errors import ImageError

#: Memory order of the grid, in which its rows are numbered.
Order = Literal["C", "F"]

# Float32 holds every value of these dtypes exactly: no per-value check needed.
_FLOAT32_EXACT = {np.dtype(t) for t in ("bool", "uint8", "int8", "uint16", "int16", "float16")}


def volume_dtype(num_volumes: int) -> np.dtype:
    """The dtype of the ``volumes`` array of an index of ``num_volumes`` volumes.

    ``int16`` (half the bytes of ``int32`` per entry) unless the volume indices
    need more.

    Parameters
    ----------
    num_volumes : int
        The number of volumes.

    Returns
    -------
    numpy.dtype
    """
    return np.dtype(np.int16 if num_volumes <= np.iinfo(np.int16).max else np.int32)


def compact_values(values: np.ndarray) -> np.ndarray:
    """Values as ``float32`` when that is exact, else unchanged (see the module notes).

    Parameters
    ----------
    values : numpy.ndarray
        Real numbers.

    Returns
    -------
    numpy.ndarray
        ``values`` itself when it is ``float32`` already or cannot be rounded to it
        without loss, else a ``float32`` copy.
    """
    if values.dtype == np.float32:
        return values
    as32 = values.astype(np.float32)
    if values.dtype in _FLOAT32_EXACT or np.array_equal(as32.astype(values.dtype), values):
        return as32
    return values


def as_real_array(data: ArrayLike, ndim: int, what: str) -> np.ndarray:
    array = np.asanyarray(data)
    while array.ndim > ndim and array.shape[-1] == 1:
        array = array[..., 0]
    if array.ndim != ndim:
        raise ImageError(
            f"{what} must be {ndim}D, got shape {array.shape}",
            hint="pass 4D arrays to SparseIndex.from_4d and 3D arrays to add_img",
        )
    if array.dtype.kind not in "biuf":
        raise ImageError(
            f"{what} must hold real numbers, got dtype {array.dtype}",
            hint="convert the image to a real dtype (e.g. float32) first",
        )
    if array.size == 0:
        raise ImageError(
            f"{what} has no voxels (shape {array.shape})", hint="pass an image with voxels"
        )
    return array


def as_affine(affine: ArrayLike, what: str) -> np.ndarray:
    try:
        matrix = np.array(affine, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise ImageError(
            f"affine of {what} is not numeric: {exc}", hint="pass a 4x4 array of numbers"
        ) from exc
    if matrix.shape != (4, 4) or not np.all(np.isfinite(matrix)):
        raise ImageError(
            f"affine of {what} must be a finite 4x4 matrix, got shape {matrix.shape}",
            hint="pass the image's 4x4 voxel to world affine",
        )
    return matrix


def read_only(array: np.ndarray) -> np.ndarray:
    """A read-only view of ``array`` (no copy; the caller's array keeps its flags)."""
    if not array.flags.writeable:
        return array
    view = array.view()
    view.flags.writeable = False
    return view


def concat_as(parts: list[np.ndarray], dtype: DTypeLike) -> np.ndarray:
    return np.concatenate(parts).astype(dtype, copy=False) if parts else np.zeros(0, dtype)


def concat_values(parts: list[np.ndarray]) -> np.ndarray:
    """Concatenate value arrays in a dtype that holds every one of them exactly."""
    if not parts:
        return np.zeros(0, np.float32)
    common = np.result_type(*parts)
    for part in parts:
        if part.dtype != common and not np.array_equal(
            part.astype(common).astype(part.dtype), part
        ):
            raise ImageError(
                f"cannot store {part.dtype} values together with {common} values "
                "without losing precision",
                hint="convert the images to one dtype before building the index",
            )
    return np.concatenate(parts).astype(common, copy=False)


def flat_view(array: np.ndarray, order: Order) -> np.ndarray:
    """A 1D view of a contiguous array in its memory order (never a copy)."""
    flat = array.reshape(-1, order=order)
    if flat.size and not np.shares_memory(flat, array):
        raise AssertionError("grid is not contiguous in its recorded order")
    return flat


def empty_triples(
    vol_dtype: np.dtype, value_dtype: np.dtype
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    return np.zeros(0, np.intp), np.zeros(0, vol_dtype), np.zeros(0, value_dtype)
