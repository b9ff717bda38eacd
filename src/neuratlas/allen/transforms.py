"""Coordinate transforms between Allen section images and the reference space.

Conventions (those of the Allen Brain API and of atldld):

* Reference-space coordinates ``(p, i, r)`` are micrometres along the
  posterior, inferior and right axes of the Allen mouse CCF; the coronal,
  transverse and sagittal planes are the planes of constant p, i and r.
* Image coordinates ``(x, y, z)`` are full-resolution pixels (x = column,
  y = row) and ``z = section_number * section_thickness``.
* A section image has 2D affines ``tsv`` (section -> volume) and ``tvs``
  (volume -> section), shape (2, 3); its dataset has 3D affines ``tvr``
  (volume -> reference) and ``trv`` (reference -> volume), shape (3, 4).

Everything is computed in float64. The two affines are folded into a single
3 x 4 matrix first, so each point costs one 3 x 3 product and one addition.
"""

from __future__ import annotations

from typing import Literal, NamedTuple

import numpy as np
from numpy.typing import ArrayLike, NDArray

from neuratlas.allen.displacement import DisplacementField
from neuratlas.errors import TransformError

Axis = Literal["coronal", "transverse", "sagittal"]

#: Extent of the Allen mouse CCF v3 in micrometres along p, i, r.
REFERENCE_SHAPE_UM: tuple[int, int, int] = (13200, 8000, 11400)
#: Index of the fixed reference axis for each plane of section.
AXIS_INDEX: dict[str, int] = {"coronal": 0, "transverse": 1, "sagittal": 2}


def _affine(matrix: ArrayLike, shape: tuple[int, int], name: str) -> NDArray[np.float64]:
    array = np.asarray(matrix, dtype=np.float64)
    if array.shape != shape:
        raise TransformError(
            f"{name} must have shape {shape}, got {array.shape}",
            hint="2D affines (tsv/tvs) are 2 x 3, 3D affines (tvr/trv) are 3 x 4",
        )
    if not np.all(np.isfinite(array)):
        raise TransformError(f"{name} contains NaN or infinite values")
    return array


def _coords(coords: ArrayLike, name: str) -> NDArray[np.float64]:
    array = np.asarray(coords, dtype=np.float64)
    if array.ndim != 2 or array.shape[0] != 3:
        raise TransformError(
            f"{name} must have shape (3, N), got {array.shape}",
            hint="stack the three coordinates as rows, e.g. np.stack([x, y, z])",
        )
    return array


def _linear_2d(affine_2d: NDArray[np.float64]) -> NDArray[np.float64]:
    """Lift a 2 x 3 image affine to a 3 x 4 one that leaves z untouched."""
    lifted = np.zeros((3, 4))
    lifted[:2, :2] = affine_2d[:, :2]
    lifted[:2, 3] = affine_2d[:, 2]
    lifted[2, 2] = 1.0
    return lifted


def _then(first: NDArray[np.float64], second: NDArray[np.float64]) -> NDArray[np.float64]:
    """The 3 x 4 affine that applies ``first`` and then ``second``."""
    out = second[:, :3] @ first
    out[:, 3] += second[:, 3]
    return out


def _apply(matrix: NDArray[np.float64], coords: NDArray[np.float64]) -> NDArray[np.float64]:
    out = matrix[:, :3] @ coords
    out += matrix[:, 3:4]
    return out


def xy_to_pir_matrix(affine_2d: ArrayLike, affine_3d: ArrayLike) -> NDArray[np.float64]:
    """The single 3 x 4 affine that :func:`xy_to_pir` applies.

    Parameters
    ----------
    affine_2d : array_like, shape (2, 3)
        The image's ``tsv`` affine.
    affine_3d : array_like, shape (3, 4)
        The dataset's ``tvr`` affine.

    Returns
    -------
    numpy.ndarray, shape (3, 4)
        ``M`` such that ``pir = M[:, :3] @ xyz + M[:, 3]``.
    """
    a2 = _affine(affine_2d, (2, 3), "affine_2d")
    a3 = _affine(affine_3d, (3, 4), "affine_3d")
    return _then(_linear_2d(a2), a3)


def pir_to_xy_matrix(affine_2d: ArrayLike, affine_3d: ArrayLike) -> NDArray[np.float64]:
    """The single 3 x 4 affine that :func:`pir_to_xy` applies.

    Parameters
    ----------
    affine_2d : array_like, shape (2, 3)
        The image's ``tvs`` affine.
    affine_3d : array_like, shape (3, 4)
        The dataset's ``trv`` affine.

    Returns
    -------
    numpy.ndarray, shape (3, 4)
        ``M`` such that ``xyz = M[:, :3] @ pir + M[:, 3]``.
    """
    a2 = _affine(affine_2d, (2, 3), "affine_2d")
    a3 = _affine(affine_3d, (3, 4), "affine_3d")
    return _then(a3, _linear_2d(a2))


def xy_to_pir(
    coords_img: ArrayLike, affine_2d: ArrayLike, affine_3d: ArrayLike
) -> NDArray[np.float64]:
    """Transform coordinates from the image space to the reference space.

    Parameters
    ----------
    coords_img : array_like, shape (3, N)
        Rows ``x``, ``y`` (full-resolution pixels) and
        ``section_number * section_thickness``.
    affine_2d : array_like, shape (2, 3)
        The section image's ``tsv`` affine (``alignment2d.tsv_00 .. tsv_05``).
    affine_3d : array_like, shape (3, 4)
        The dataset's ``tvr`` affine (``alignment3d.tvr_00 .. tvr_11``).

    Returns
    -------
    numpy.ndarray, shape (3, N), float64
        Rows ``p``, ``i``, ``r`` in micrometres.

    Raises
    ------
    TransformError
        If an array has the wrong shape or an affine is not finite.

    Examples
    --------
    >>> import numpy as np
    >>> tsv = np.array([[1.0, 0, 10], [0, 1.0, 20]])
    >>> tvr = np.array([[0, 0, 1.0, 0], [0, 1.0, 0, 0], [1.0, 0, 0, 0]])
    >>> xy_to_pir(np.array([[1.0], [2.0], [300.0]]), tsv, tvr).ravel()
    array([300.,  22.,  11.])
    """
    coords = _coords(coords_img, "coords_img")
    return _apply(xy_to_pir_matrix(affine_2d, affine_3d), coords)


def pir_to_xy(
    coords_ref: ArrayLike, affine_2d: ArrayLike, affine_3d: ArrayLike
) -> NDArray[np.float64]:
    """Transform coordinates from the reference space to the image space.

    Parameters
    ----------
    coords_ref : array_like, shape (3, N)
        Rows ``p``, ``i``, ``r`` in micrometres.
    affine_2d : array_like, shape (2, 3)
        The section image's ``tvs`` affine (``alignment2d.tvs_00 .. tvs_05``).
    affine_3d : array_like, shape (3, 4)
        The dataset's ``trv`` affine (``alignment3d.trv_00 .. trv_11``).

    Returns
    -------
    numpy.ndarray, shape (3, N), float64
        Rows ``x``, ``y`` (full-resolution pixels) and
        ``section_number * section_thickness``; the latter is in general a
        fractional section position, not the number of an existing image.

    Raises
    ------
    TransformError
        If an array has the wrong shape or an affine is not finite.
    """
    coords = _coords(coords_ref, "coords_ref")
    return _apply(pir_to_xy_matrix(affine_2d, affine_3d), coords)


def _check_axis(axis: str) -> int:
    if axis not in AXIS_INDEX:
        raise TransformError(
            f"unknown axis {axis!r}", hint="use one of 'coronal', 'sagittal', 'transverse'"
        )
    return AXIS_INDEX[axis]


def check_downsampling(downsample_ref: int, downsample_img: int) -> None:
    """Check the reference grid step (µm) and the image shrink exponent.

    Raises
    ------
    TransformError
        ``downsample_ref`` is not an integer from 1 to the smallest extent of the
        reference volume (coarser grids have no pixel), or ``downsample_img`` is
        not a non-negative integer.
    """
    largest = min(REFERENCE_SHAPE_UM)
    if not _is_integer(downsample_ref) or not 1 <= downsample_ref <= largest:
        raise TransformError(
            f"downsample_ref must be a positive integer no larger than {largest} (um), "
            f"got {downsample_ref!r}",
            hint="1 keeps the 1 um grid, 25 gives the 25 um grid",
        )
    if not _is_integer(downsample_img) or downsample_img < 0:
        raise TransformError(
            f"downsample_img must be a non-negative integer, got {downsample_img!r}",
            hint="the image is shrunk by 2 ** downsample_img",
        )


def _is_integer(value: object) -> bool:
    try:
        return not isinstance(value, bool) and int(value) == value  # type: ignore[call-overload]
    except (TypeError, ValueError, OverflowError):
        return False


def reference_grid_shape(axis: Axis, downsample_ref: int = 1) -> tuple[int, int]:
    """Shape of the reference grid of one slice (the displacement field's shape).

    The rows and columns are the two remaining reference axes in p, i, r order:
    (i, r) for coronal, (p, r) for transverse and (p, i) for sagittal slices.

    Parameters
    ----------
    axis : {"coronal", "transverse", "sagittal"}
        The fixed axis.
    downsample_ref : int
        Grid step in micrometres.
    """
    fixed = _check_axis(axis)
    check_downsampling(downsample_ref, 0)
    rows, cols = (REFERENCE_SHAPE_UM[k] // int(downsample_ref) for k in range(3) if k != fixed)
    return rows, cols


def _plane_field(
    matrix: NDArray[np.float64],
    base: NDArray[np.float64],
    row_step: NDArray[np.float64],
    col_step: NDArray[np.float64],
    shape: tuple[int, int],
    downsample_img: int,
) -> DisplacementField:
    """Displacements of an affine map of the grid ``base + row * row_step + col * col_step``.

    The image position is affine in (row, col), so each component is an outer
    sum of a column vector and a row vector: one pass over the grid.
    """
    scale = 1.0 / 2.0 ** int(downsample_img)
    linear = matrix[:2, :3] * scale
    offset = (matrix[:2, :3] @ base + matrix[:2, 3]) * scale
    d_row = linear @ row_step
    d_col = linear @ col_step
    rows = np.arange(shape[0], dtype=np.float64)
    cols = np.arange(shape[1], dtype=np.float64)
    delta_x = (rows * d_row[0] + offset[0])[:, None] + (cols * (d_col[0] - 1.0))[None, :]
    delta_y = (rows * (d_row[1] - 1.0) + offset[1])[:, None] + (cols * d_col[1])[None, :]
    return DisplacementField(delta_x, delta_y)


def get_parallel_transform(
    slice_coordinate: float,
    affine_2d: ArrayLike,
    affine_3d: ArrayLike,
    axis: Axis = "coronal",
    downsample_ref: int = 1,
    downsample_img: int = 0,
) -> DisplacementField:
    """Compute the displacement field between the reference space and an image.

    The section is assumed parallel to the ``axis`` plane, at
    ``slice_coordinate`` micrometres along that axis.

    Parameters
    ----------
    slice_coordinate : float
        Value of the ``axis`` coordinate (µm) at which the image was sliced.
    affine_2d : array_like, shape (2, 3)
        The image's ``tvs`` affine.
    affine_3d : array_like, shape (3, 4)
        The dataset's ``trv`` affine.
    axis : {"coronal", "sagittal", "transverse"}
        Axis along which the slice was made.
    downsample_ref : int
        Step of the reference grid in micrometres; the field has shape
        :func:`reference_grid_shape` ``(axis, downsample_ref)``.
    downsample_img : int
        The image to be warped is shrunk by ``2 ** downsample_img``.

    Returns
    -------
    DisplacementField
        Pull mapping: ``df.warp(img)`` puts the section image on the slice's
        reference grid (rows and columns are the remaining axes in p, i, r order).

    Raises
    ------
    TransformError
        On a bad axis, downsampling factor or affine shape.
    """
    fixed = _check_axis(axis)
    check_downsampling(downsample_ref, downsample_img)
    shape = reference_grid_shape(axis, downsample_ref)
    matrix = pir_to_xy_matrix(affine_2d, affine_3d)
    row_axis, col_axis = (k for k in range(3) if k != fixed)
    base = np.zeros(3)
    base[fixed] = float(slice_coordinate)
    row_step = np.zeros(3)
    row_step[row_axis] = downsample_ref
    col_step = np.zeros(3)
    col_step[col_axis] = downsample_ref
    return _plane_field(matrix, base, row_step, col_step, shape, downsample_img)


class SectionSampling(NamedTuple):
    """Where an oblique section lies on a slice's reference grid.

    Attributes
    ----------
    df : DisplacementField
        Pull mapping from the grid into the (downsampled) image.
    depth : numpy.ndarray
        For every grid pixel, the coordinate (µm) along the fixed axis at which
        the section plane passes.
    """

    df: DisplacementField
    depth: NDArray[np.float64]


def get_oblique_transform(
    section_z: float,
    affine_2d: ArrayLike,
    affine_3d: ArrayLike,
    axis: Axis = "coronal",
    downsample_ref: int = 1,
    downsample_img: int = 0,
) -> SectionSampling:
    """Sample the true (possibly oblique) plane of a section.

    Unlike :func:`get_parallel_transform`, which intersects the transform with
    a plane of constant ``axis`` coordinate, this follows the section's own
    plane ``z = section_z``: for each grid pixel it finds the depth along
    ``axis`` where that plane passes, and the image pixel found there.

    Parameters
    ----------
    section_z : float
        ``section_number * section_thickness`` of the image.
    affine_2d : array_like, shape (2, 3)
        The image's ``tvs`` affine.
    affine_3d : array_like, shape (3, 4)
        The dataset's ``trv`` affine.
    axis : {"coronal", "sagittal", "transverse"}
        The reference axis closest to the cutting direction.
    downsample_ref : int
        Step of the reference grid in micrometres.
    downsample_img : int
        The image to be warped is shrunk by ``2 ** downsample_img``.

    Returns
    -------
    SectionSampling
        The displacement field and the depth map (µm along ``axis``).

    Raises
    ------
    TransformError
        If the section plane is parallel to ``axis`` (it never crosses the
        axis, so another axis must be chosen), or on bad arguments.
    """
    fixed = _check_axis(axis)
    check_downsampling(downsample_ref, downsample_img)
    shape = reference_grid_shape(axis, downsample_ref)
    matrix = pir_to_xy_matrix(affine_2d, affine_3d)
    row_axis, col_axis = (k for k in range(3) if k != fixed)
    normal = matrix[2, :3]
    # The plane is z(pir) = section_z; solve it for the fixed coordinate.
    if abs(normal[fixed]) < 1e-12 * max(np.abs(normal).max(), 1e-300):
        raise TransformError(
            f"the section plane never crosses the {axis} axis",
            hint="choose the axis the sections were cut along",
        )
    base = np.zeros(3)
    base[fixed] = (float(section_z) - matrix[2, 3]) / normal[fixed]
    row_step = np.zeros(3)
    row_step[row_axis] = downsample_ref
    row_step[fixed] = -normal[row_axis] * downsample_ref / normal[fixed]
    col_step = np.zeros(3)
    col_step[col_axis] = downsample_ref
    col_step[fixed] = -normal[col_axis] * downsample_ref / normal[fixed]
    df = _plane_field(matrix, base, row_step, col_step, shape, downsample_img)
    rows = np.arange(shape[0], dtype=np.float64)
    cols = np.arange(shape[1], dtype=np.float64)
    depth = (rows * row_step[fixed] + base[fixed])[:, None] + (cols * col_step[fixed])[None, :]
    return SectionSampling(df, depth)
