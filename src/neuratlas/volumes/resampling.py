"""Resampling images onto other grids (nearest for labels, linear for values)."""

from __future__ import annotations

import nibabel as nib
import numpy as np

from neuratlas.errors import ImageError


def resample_to_grid(
    img: nib.Nifti1Image, affine: np.ndarray, shape: tuple[int, ...], order: int = 1
) -> nib.Nifti1Image:
    """Resample ``img`` onto the grid ``(affine, shape)``.

    Parameters
    ----------
    order : int
        0 = nearest neighbour (labels keep their values and dtype), 1 = linear.

    Returns
    -------
    nibabel.Nifti1Image
        Voxels outside the source image are 0.
    """
    # heavy: SciPy adds ~0.15 s to the import of every module that fetches maps
    from scipy import ndimage

    data = np.asanyarray(img.dataobj)
    if data.ndim != 3:
        raise ImageError(f"can only resample 3D images, got shape {data.shape}")
    if np.allclose(img.affine, affine) and tuple(data.shape) == tuple(shape[:3]):
        return img
    # voxel of the target -> voxel of the source
    matrix = np.linalg.inv(img.affine) @ np.asarray(affine, dtype=float)
    source = data if order == 0 else data.astype(np.float32, copy=False)
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
    if resolution_mm <= 0:
        raise ImageError(f"resolution_mm must be positive, got {resolution_mm}")
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
