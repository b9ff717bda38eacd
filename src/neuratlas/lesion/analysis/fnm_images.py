"""Maps kept as their values inside the brain mask, expanded to the full grid when read.

A network map has a value for each of the connectome's V mask voxels; on the 2 mm
MNI grid that is 228,328 values in a grid of 902,629. Kept as the values alone, the
seven maps of a lesion take 5 MB instead of 20 MB, which is what a batch of
hundreds of lesions holds. The images are ordinary nibabel images:
``get_fdata()``, ``dataobj[...]``, ``np.asanyarray(img.dataobj)`` and ``nib.save``
all see the full grid (nibabel's array-proxy protocol).
"""

from __future__ import annotations

from typing import Any

import nibabel as nib
import numpy as np

__all__ = ["MaskedArrayProxy", "masked_image"]


class MaskedArrayProxy:
    """A 3D array that is ``fill`` outside a mask and ``values`` inside, made on access.

    Parameters
    ----------
    values : ndarray, shape (V,)
        The values inside the mask, in the order of ``flat_index``.
    flat_index : ndarray of int, shape (V,)
        C-order flat indices of the mask voxels in the grid (shared between maps).
    shape : tuple of 3 int
        The grid.
    """

    #: nibabel treats the image's data as not loaded yet (it is made on access)
    is_proxy = True

    def __init__(self, values: np.ndarray, flat_index: np.ndarray, shape: tuple[int, ...]):
        self._values = values
        self._flat_index = flat_index
        self._shape = tuple(int(n) for n in shape)

    @property
    def shape(self) -> tuple[int, ...]:
        return self._shape

    @property
    def ndim(self) -> int:
        return len(self._shape)

    @property
    def dtype(self) -> np.dtype:
        return self._values.dtype

    @property
    def values(self) -> np.ndarray:
        """The values inside the mask (read-only view)."""
        view = self._values.view()
        view.flags.writeable = False
        return view

    def get_unscaled(self) -> np.ndarray:
        """The full grid (there is no scaling)."""
        out = np.zeros(int(np.prod(self._shape)), dtype=self._values.dtype)
        out[self._flat_index] = self._values
        return out.reshape(self._shape)

    def __array__(self, dtype: Any = None, copy: bool | None = None) -> np.ndarray:
        out = self.get_unscaled()
        return out if dtype is None else out.astype(dtype, copy=False)

    def __getitem__(self, key: Any) -> np.ndarray:
        return self.get_unscaled()[key]

    def __repr__(self) -> str:
        return f"MaskedArrayProxy(shape={self._shape}, dtype={self.dtype}, n={self._values.size})"


def masked_image(
    values: np.ndarray, flat_index: np.ndarray, shape: tuple[int, ...], affine: np.ndarray
) -> nib.Nifti1Image:
    """A NIfTI image of ``values`` on the mask voxels of a grid, 0 elsewhere.

    Parameters
    ----------
    values : ndarray, shape (V,)
        Stored as they are (give them the dtype the image should have).
    flat_index : ndarray of int, shape (V,)
        C-order flat indices of the mask voxels.
    shape : tuple of 3 int
        The grid.
    affine : ndarray, shape (4, 4)
        Voxel to world (mm).
    """
    # the dtype given, nibabel does not read a voxel to find it (which would make the grid)
    proxy = MaskedArrayProxy(values, flat_index, shape)
    return nib.Nifti1Image(proxy, np.array(affine), dtype=values.dtype)
