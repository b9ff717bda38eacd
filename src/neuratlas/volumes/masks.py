"""Binary masks from images."""

from __future__ import annotations

import nibabel as nib
import numpy as np


def binary_mask(img: nib.Nifti1Image, threshold: float = 0.0) -> nib.Nifti1Image:
    """A uint8 mask (1 where the image is above ``threshold``) on the same grid."""
    data = np.asanyarray(img.dataobj)
    mask = (data > threshold).astype(np.uint8)
    out = nib.Nifti1Image(mask, img.affine)
    out.header.set_xyzt_units("mm")
    return out
