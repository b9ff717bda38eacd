"""The input side of assignment: points, Gaussian blobs and image components as voxels.

An exact point (``sigma_mm == 0``) is a single voxel with ``I = 1``; a point with
``sigma_mm > 0`` is the Gaussian ``I = exp(-d² / 2σ²)`` (peak 1), cut at 3σ; an
image component carries the image's values (NaN counts as 0; only positive
values form components); a region mask carries 1 on each of its voxels.
"""

from __future__ import annotations

from dataclasses import dataclass

import nibabel as nib
import numpy as np

from neuratlas.errors import ImageError
from neuratlas.volumes.grid import voxel_sizes, voxel_to_world, voxel_volume_mm3, world_to_voxel
from neuratlas.volumes.providers import DECODE_ERRORS
from neuratlas.volumes.resampling import resample_to_grid


@dataclass
class Structure:
    """One input structure on the map's grid: its support voxels and values."""

    ijk: np.ndarray  # (K, 3) voxel indices
    values: np.ndarray  # (K,) input values I > 0
    centroid: np.ndarray  # (3,) mm
    volume: float  # mm³


def gaussian_blob(centre_mm: np.ndarray, sigma_mm: float, affine: np.ndarray) -> Structure:
    """The Gaussian ``exp(-d²/2σ²)`` around ``centre_mm`` on the grid, cut at 3σ."""
    centre_vox = world_to_voxel(affine, centre_mm)
    reach = np.ceil(3 * sigma_mm / voxel_sizes(affine)).astype(int)
    axes = [
        np.arange(int(np.floor(c)) - r, int(np.ceil(c)) + r + 1)
        for c, r in zip(centre_vox, reach, strict=True)
    ]
    ijk = np.stack(np.meshgrid(*axes, indexing="ij"), -1).reshape(-1, 3)
    d2 = ((voxel_to_world(affine, ijk) - centre_mm) ** 2).sum(1)
    inside = d2 <= (3 * sigma_mm) ** 2
    values = np.exp(-d2[inside] / (2 * sigma_mm**2))
    volume = inside.sum() * voxel_volume_mm3(affine)
    return Structure(ijk[inside], values, np.asarray(centre_mm, float), volume)


def image_components(img: nib.Nifti1Image, affine: np.ndarray, shape: tuple) -> list[Structure]:
    """Resample ``img`` to the grid and split its positive part into connected components.

    Raises
    ------
    ImageError
        The image cannot be read (corrupt, truncated), is not 3D, or has no
        positive value on the grid.
    """
    # heavy: SciPy costs ~0.15 s to import; only image inputs need it
    from scipy import ndimage

    try:
        data = np.asanyarray(img.dataobj)  # a truncated file fails here, on first read
    except DECODE_ERRORS as exc:
        where = img.get_filename() or "the image"
        raise ImageError(
            f"cannot read {where}: {exc}",
            hint="the file is corrupt or truncated; write or download it again",
        ) from None
    if data.ndim == 4 and data.shape[3] == 1:
        data = data[..., 0]
    if data.ndim != 3:
        raise ImageError(f"can only assign 3D images, got shape {data.shape}")
    data = np.nan_to_num(np.asarray(data, dtype=np.float32), nan=0.0, posinf=0.0, neginf=0.0)
    binary = bool(np.isin(np.unique(data), (0, 1)).all())
    resampled = resample_to_grid(
        nib.Nifti1Image(data, img.affine), affine, shape, order=0 if binary else 1
    )
    values = np.asanyarray(resampled.dataobj)
    positive = values > 0
    if not positive.any():
        raise ImageError(
            "the image has no positive value on the map's grid",
            hint="check that the image is not empty and lies in the map's space",
        )
    labels, n = ndimage.label(positive, structure=np.ones((3, 3, 3), dtype=bool))
    voxel_mm3 = voxel_volume_mm3(affine)
    order = np.argsort(labels.ravel(), kind="stable")
    flat_labels = labels.ravel()[order]
    bounds = np.searchsorted(flat_labels, np.arange(1, n + 2))
    out = []
    for c in range(n):
        flat = order[bounds[c] : bounds[c + 1]]
        ijk = np.stack(np.unravel_index(flat, labels.shape), 1)
        vals = values.ravel()[flat].astype(np.float64)
        centroid = voxel_to_world(affine, (ijk * vals[:, None]).sum(0) / vals.sum())
        out.append(Structure(ijk, vals, centroid, len(flat) * voxel_mm3))
    return out


def mask_structure(
    data: np.ndarray, affine: np.ndarray, grid_affine: np.ndarray, grid_shape: tuple
) -> Structure:
    """A binary mask (``data`` on ``affine``) as one structure on another grid."""
    if data.shape != tuple(grid_shape[:3]) or not np.allclose(affine, grid_affine):
        img = resample_to_grid(
            nib.Nifti1Image(data.astype(np.uint8), affine), grid_affine, grid_shape, order=0
        )
        data = np.asanyarray(img.dataobj) > 0
    ijk = np.argwhere(data)
    centroid = voxel_to_world(grid_affine, ijk.mean(0))
    return Structure(ijk, np.ones(len(ijk)), centroid, len(ijk) * voxel_volume_mm3(grid_affine))
