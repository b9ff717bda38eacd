"""Resampling images onto other grids (nearest for labels, linear for values).

A 4D image is resampled volume by volume, lazily (see
:class:`~neuratlas.volumes.nifti.VolumeStack`). Grids that differ only by whole
voxels (a crop or a padding, axes flipped or swapped: the maps shipped with FSL
against FSL's template) are resampled by copying voxels, which gives the same
values as interpolation at a fraction of its cost.
"""

from __future__ import annotations

import nibabel as nib
import numpy as np

from neuratlas.errors import ArgumentError, ImageError
from neuratlas.volumes.nifti import stack_image

_TOLERANCE = 1e-6  # in voxels: grids this close are the same


def resample_to_grid(
    img: nib.Nifti1Image, affine: np.ndarray, shape: tuple[int, ...], order: int = 1
) -> nib.Nifti1Image:
    """Resample ``img`` onto the grid ``(affine, shape)``.

    Parameters
    ----------
    img : nibabel.Nifti1Image
        A 3D image, or a 4D image whose volumes are resampled one by one when they
        are read (the result's data is a lazy stack).
    affine : ndarray, shape (4, 4)
    shape : tuple of int
        The target grid's shape (its first three entries).
    order : int
        0 = nearest neighbour (labels keep their values and dtype), 1 = linear.

    Returns
    -------
    nibabel.Nifti1Image
        Voxels outside the source image are 0.
    """
    if len(img.shape) == 4:
        return _resample_volumes(img, affine, shape, order)
    if len(img.shape) != 3:
        raise ImageError(f"can only resample 3D or 4D images, got shape {img.shape}")
    data = np.asanyarray(img.dataobj)
    if np.allclose(img.affine, affine) and tuple(data.shape) == tuple(shape[:3]):
        return img
    # voxel of the target -> voxel of the source
    matrix = np.linalg.inv(img.affine) @ np.asarray(affine, dtype=float)
    source = data if order == 0 else data.astype(np.float32, copy=False)
    shift = _whole_voxel_shift(matrix)
    if shift is not None:
        out = _copy_voxels(source, *shift, tuple(shape[:3]))
        return nib.Nifti1Image(out, np.asarray(affine, dtype=float))
    # heavy: SciPy adds ~0.15 s to the import of every module that fetches maps
    from scipy import ndimage

    # 'nearest' extends the edge voxels; samples beyond the outer voxel *faces*
    # (not centres) are then set to 0, so no half voxel of the field of view is lost
    out = ndimage.affine_transform(
        source,
        matrix[:3, :3],
        offset=matrix[:3, 3],
        output_shape=tuple(shape[:3]),
        order=order,
        mode="nearest",
        prefilter=False,
    )
    out[~_inside_source(matrix, tuple(shape[:3]), data.shape)] = 0
    return nib.Nifti1Image(out, np.asarray(affine, dtype=float))


def _resample_volumes(
    img: nib.Nifti1Image, affine: np.ndarray, shape: tuple[int, ...], order: int
) -> nib.Nifti1Image:
    if np.allclose(img.affine, affine) and tuple(img.shape[:3]) == tuple(shape[:3]):
        return img

    def volume(k: int) -> np.ndarray:
        one = nib.Nifti1Image(np.asanyarray(img.dataobj[..., k]), img.affine)
        return np.asanyarray(resample_to_grid(one, affine, shape, order).dataobj)

    # nearest neighbour keeps the values' dtype (that of the volumes as they are read)
    dtype = np.asanyarray(img.dataobj[..., 0]).dtype if order == 0 else np.float32
    return stack_image(tuple(shape[:3]), img.shape[3], dtype, affine, volume)


def _whole_voxel_shift(matrix: np.ndarray) -> tuple[list[int], list[int], list[int]] | None:
    """For a target-to-source voxel matrix that only moves by whole voxels (axes may be
    flipped or swapped): for each target axis, the source axis, the step (+1 or -1) and
    the source index of the target's first voxel. None for any other matrix."""
    linear, offset = matrix[:3, :3], matrix[:3, 3]
    rounded = np.rint(linear)
    if not np.allclose(linear, rounded, atol=_TOLERANCE) or not np.allclose(
        offset, np.rint(offset), atol=_TOLERANCE
    ):
        return None
    if not (np.abs(rounded).sum(0) == 1).all() or not (np.abs(rounded).sum(1) == 1).all():
        return None
    axes = [int(np.flatnonzero(rounded[:, c])[0]) for c in range(3)]
    steps = [int(rounded[axes[c], c]) for c in range(3)]
    starts = [int(np.rint(offset[axes[c]])) for c in range(3)]
    return axes, steps, starts


def _copy_voxels(
    source: np.ndarray,
    axes: list[int],
    steps: list[int],
    starts: list[int],
    shape: tuple[int, int, int],
) -> np.ndarray:
    """Resample by copying: target voxel ``i`` along axis ``c`` is source voxel
    ``starts[c] + steps[c] * i`` along source axis ``axes[c]`` (0 outside the source)."""
    turned = np.transpose(source, axes)
    picks, inside = [], []
    for c in range(3):
        index = starts[c] + steps[c] * np.arange(shape[c])
        valid = (index >= 0) & (index < turned.shape[c])
        picks.append(index[valid])
        inside.append(valid)
    out = np.zeros(shape, dtype=source.dtype)
    out[np.ix_(*inside)] = turned[np.ix_(*picks)]
    return out


def _inside_source(
    matrix: np.ndarray, out_shape: tuple[int, ...], in_shape: tuple[int, ...]
) -> np.ndarray:
    """Which target voxels sample the source within its field of view [-0.5, n - 0.5]."""
    tol = 1e-6
    linear = matrix[:3, :3]
    if np.allclose(linear, np.diag(np.diag(linear))):
        # axis-aligned grids: one 1D test per axis, broadcast (no full coordinate grid)
        masks = []
        for axis in range(3):
            coord = linear[axis, axis] * np.arange(out_shape[axis]) + matrix[axis, 3]
            masks.append((coord >= -0.5 - tol) & (coord <= in_shape[axis] - 0.5 + tol))
        return masks[0][:, None, None] & masks[1][None, :, None] & masks[2][None, None, :]
    ijk = np.indices(out_shape, dtype=np.float32).reshape(3, -1)
    coords = linear.astype(np.float32) @ ijk + matrix[:3, 3:4].astype(np.float32)
    upper = np.array(in_shape[:3], dtype=np.float32)[:, None] - 0.5 + tol
    inside = np.all((coords >= -0.5 - tol) & (coords <= upper), axis=0)
    return inside.reshape(out_shape)


def grid_at_resolution(
    affine: np.ndarray, shape: tuple[int, ...], resolution_mm: float
) -> tuple[np.ndarray, tuple[int, int, int]]:
    """The grid covering the same field of view with isotropic ``resolution_mm`` voxels."""
    if not (np.isfinite(resolution_mm) and resolution_mm > 0):
        raise ArgumentError(
            f"resolution_mm must be positive, got {resolution_mm}",
            hint="give the voxel size in mm, e.g. 2",
        )
    affine = np.asarray(affine, dtype=float)
    zooms = np.sqrt((affine[:3, :3] ** 2).sum(0))
    scale = resolution_mm / zooms
    new_affine = affine.copy()
    new_affine[:3, :3] = affine[:3, :3] * scale
    # keep the first voxel's outer corner where it was
    shift = affine[:3, :3] @ ((scale - 1) / 2)
    new_affine[:3, 3] = affine[:3, 3] + shift
    new_shape = tuple(int(max(1, np.ceil(n / s))) for n, s in zip(shape[:3], scale, strict=True))
    return new_affine, new_shape


def resample_to_resolution(
    img: nib.Nifti1Image, resolution_mm: float, order: int = 1
) -> nib.Nifti1Image:
    """Resample ``img`` to isotropic voxels of ``resolution_mm`` over the same field of view."""
    affine, shape = grid_at_resolution(img.affine, img.shape, resolution_mm)
    return resample_to_grid(img, affine, shape, order=order)
