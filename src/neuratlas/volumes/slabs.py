"""A 3D volume read a few slabs at a time, in the order its file stores them.

Some uses of a large volume need only part of it, once: the Allen annotation
(308 MB decoded at 25 µm, under 2 MB as stored) is read for a few dozen planes and
the voxel count of each label. Decoding it whole costs more than that work: the
memory has to be found and its pages touched (on the machines measured, first
touching 300 MB took longer than decoding them). Read as slabs into one reused
buffer, the volume is never whole in memory and the buffer stays in the CPU cache.

A slab is the set of voxels with one index along the last axis: with the first
axis varying fastest (Fortran order, as NIfTI and NRRD store a volume), a run of
consecutive slabs is one contiguous stretch of the file.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, Protocol

import numpy as np
from numpy.typing import NDArray

from neuratlas.errors import ImageError

__all__ = ["SLAB_BYTES", "ArraySlabs", "SlabSource", "slabs_at_a_time"]

#: Default size of the slabs handed over at a time: small enough to stay in the CPU's
#: last-level cache, large enough that the work per block outweighs its Python costs.
SLAB_BYTES = 2 << 20


class SlabSource(Protocol):
    """A 3D volume that hands over its data a few slabs at a time."""

    #: The volume's shape.
    shape: tuple[int, int, int]
    #: Voxel -> RAS millimetres.
    affine: NDArray[np.float64]
    #: The data type of its voxels.
    dtype: np.dtype[Any]

    def slabs(self, max_bytes: int = SLAB_BYTES) -> Iterator[tuple[int, NDArray[Any]]]:
        """``(start, block)`` pairs in order along the last axis.

        ``block`` holds the slabs ``start, start + 1, ...`` as a Fortran-ordered array of
        shape ``(shape[0], shape[1], k)`` of at most ``max_bytes`` (one slab when a slab
        is larger). It may be overwritten by the next block: copy what must be kept.
        """
        ...


def slabs_at_a_time(shape: tuple[int, ...], itemsize: int, max_bytes: int) -> int:
    """How many slabs of a volume of ``shape`` fit in ``max_bytes`` (at least one)."""
    slab = int(np.prod(shape[:-1], dtype=np.int64)) * itemsize
    return max(1, int(max_bytes) // max(slab, 1))


class ArraySlabs:
    """The slabs of a volume already in memory (any memory order).

    Parameters
    ----------
    image : nibabel.Nifti1Image
        A 3D image.

    Raises
    ------
    ImageError
        The image is not 3D.
    """

    def __init__(self, image: Any) -> None:
        data = np.asanyarray(image.dataobj)
        if data.ndim != 3:
            raise ImageError(f"a volume read in slabs must be 3D, got shape {data.shape}")
        self._data = data
        self.shape: tuple[int, int, int] = tuple(int(n) for n in data.shape)  # type: ignore[assignment]
        self.affine = np.asarray(image.affine, dtype=np.float64)
        self.dtype = data.dtype

    def slabs(self, max_bytes: int = SLAB_BYTES) -> Iterator[tuple[int, NDArray[Any]]]:
        """``(start, block)`` pairs along the last axis (see :class:`SlabSource`)."""
        step = slabs_at_a_time(self.shape, self.dtype.itemsize, max_bytes)
        for start in range(0, self.shape[2], step):
            # a view when the array is Fortran-ordered; otherwise one block is copied
            yield start, np.asfortranarray(self._data[:, :, start : start + step])
