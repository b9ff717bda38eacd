"""Synthetic lesion masks on the standard MNI grids, for the lesion tests.

Every lesion test makes its masks here, so that they lie on the grids real
masks lie on (FSL's MNI152NLin6Asym at 1 and 2 mm, TemplateFlow's 2009c at 2 mm).
"""

from __future__ import annotations

from collections.abc import Sequence

import nibabel as nib
import numpy as np

#: (shape, affine) of standard grids, by name.
GRIDS: dict[str, tuple[tuple[int, int, int], np.ndarray]] = {
    "nlin6_2mm": (
        (91, 109, 91),
        np.array([[-2, 0, 0, 90], [0, 2, 0, -126], [0, 0, 2, -72], [0, 0, 0, 1.0]]),
    ),
    "nlin6_1mm": (
        (182, 218, 182),
        np.array([[-1, 0, 0, 90], [0, 1, 0, -126], [0, 0, 1, -72], [0, 0, 0, 1.0]]),
    ),
    "2009c_2mm": (
        (97, 115, 97),
        np.array([[2, 0, 0, -96], [0, 2, 0, -132], [0, 0, 2, -78], [0, 0, 0, 1.0]]),
    ),
}


def box_mask(
    grid: str = "nlin6_2mm",
    centre_mm: Sequence[float] = (-40.0, -10.0, 20.0),
    half_size_mm: Sequence[float] = (8.0, 10.0, 8.0),
    dtype: type = np.uint8,
) -> nib.Nifti1Image:
    """A box-shaped lesion around ``centre_mm`` (world coordinates) on a standard grid."""
    shape, affine = GRIDS[grid]
    # the grids are axis-aligned: a voxel is inside when each of its coordinates is
    axes = [
        np.abs(affine[i, i] * np.arange(shape[i]) + affine[i, 3] - centre_mm[i]) <= half_size_mm[i]
        for i in range(3)
    ]
    inside = axes[0][:, None, None] & axes[1][None, :, None] & axes[2][None, None, :]
    return nib.Nifti1Image(inside.astype(dtype), affine)


def random_masks(n: int, grid: str = "nlin6_2mm", seed: int = 0) -> list[nib.Nifti1Image]:
    """``n`` blob-like lesions of different sizes inside the brain's box, reproducibly."""
    rng = np.random.default_rng(seed)
    return [
        box_mask(
            grid,
            centre_mm=rng.uniform([-60, -90, -30], [60, 50, 60]),
            half_size_mm=rng.uniform(3, 15, size=3),
        )
        for _ in range(n)
    ]
