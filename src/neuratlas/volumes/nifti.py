"""NIfTI images: lazy 4D stacks of volumes, and writing images atomically.

A 4D image of many region maps (Juelich: 121 maps of 149x169x154 float32 voxels,
1.9 GB) need not be held in memory: its data can be a :class:`VolumeStack`, which
makes each 3D volume when it is asked for, and :func:`save_nifti` writes a 4D
image volume by volume.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

import nibabel as nib
import numpy as np
from nibabel.fileslice import canonical_slicers
from numpy.typing import DTypeLike

from neuratlas.errors import ImageError, NotFoundError
from neuratlas.retrieval.cache import atomic_write
from neuratlas.volumes import gz

NIFTI_SUFFIXES = (".nii.gz", ".nii")
_DATA_OFFSET = 352  # NIfTI-1 single file: the 348-byte header and 4 bytes of no extensions


# sizeof_hdr, the first 4 bytes of a NIfTI header, in either byte order
_NIFTI_CLASSES = {348: nib.Nifti1Image, 540: nib.Nifti2Image}


@contextmanager
def open_image(path: str | Path) -> Iterator[nib.spatialimages.SpatialImage]:
    """Open an image file like ``nibabel.load``, reading gzipped NIfTI with fast gzip.

    The data stay on disk until asked for (``img.dataobj[..., k]`` reads volume
    ``k``; volumes asked for in order read the file once). The file is closed when
    the ``with`` block ends, so take the data out inside it.

    Parameters
    ----------
    path : str or Path
        An image file; ``.nii.gz`` goes through :mod:`neuratlas.volumes.gz`, any
        other format to nibabel as it is.

    Yields
    ------
    nibabel image

    Raises
    ------
    OSError, EOFError, zlib.error, ValueError, nibabel.filebasedimages.ImageFileError
        What nibabel raises for a file that is not an image, or a corrupt one.
    """
    name = str(path)
    if not name.lower().endswith(".nii.gz"):
        yield nib.load(name)
        return
    with gz.open_gz(name) as handle:
        head = handle.read(4)
        handle.seek(0)
        sizes = (int.from_bytes(head, "little"), int.from_bytes(head, "big"))
        klass = next((_NIFTI_CLASSES[n] for n in sizes if n in _NIFTI_CLASSES), None)
        if klass is None:  # not NIfTI inside: let nibabel say what it is (or is not)
            yield nib.load(name)
            return
        file_map = klass.make_file_map({"image": name, "header": name})
        for holder in file_map.values():
            holder.fileobj = handle
        yield klass.from_file_map(file_map)


class VolumeStack:
    """A 4D array whose 3D volumes are made on demand, for use as an image's data.

    nibabel takes it as the data object of an image, as it takes its own array
    proxies: ``img.dataobj[..., k]`` makes volume ``k`` only, ``np.asarray(img.dataobj)``
    (or ``img.get_fdata()``) makes all of them.

    Parameters
    ----------
    shape : tuple of 3 int
        The shape of each volume.
    count : int
        The number of volumes (the length of the fourth axis).
    dtype : dtype
        The dtype of the volumes (each is converted to it).
    make : callable
        ``make(k)`` returns volume ``k`` as an array of ``shape``.
    """

    is_proxy = True  # nibabel: the data are not in memory

    def __init__(
        self,
        shape: tuple[int, int, int],
        count: int,
        dtype: DTypeLike,
        make: Callable[[int], np.ndarray],
    ) -> None:
        self._grid = tuple(int(n) for n in shape)
        self._count = int(count)
        self._dtype = np.dtype(dtype)
        self._make = make

    @property
    def shape(self) -> tuple[int, int, int, int]:
        return (*self._grid, self._count)

    @property
    def ndim(self) -> int:
        return 4

    @property
    def dtype(self) -> np.dtype:
        return self._dtype

    def __len__(self) -> int:
        return self._grid[0]

    def __repr__(self) -> str:
        return f"<VolumeStack {self.shape} {self._dtype}>"

    def volume(self, k: int) -> np.ndarray:
        """Volume ``k`` (``0 <= k < count``) as an array of the stack's shape and dtype."""
        if not 0 <= k < self._count:
            # a LookupError, as numpy's IndexError is
            raise NotFoundError(
                f"there is no volume {k} in a stack of {self._count}",
                hint=f"pick a volume from 0 to {self._count - 1}",
            )
        data = np.asarray(self._make(k)).astype(self._dtype, copy=False)
        if data.shape != self._grid:
            raise AssertionError(f"volume {k} has shape {data.shape}, not {self._grid}")
        return data

    def __array__(self, dtype: DTypeLike | None = None, copy: bool | None = None) -> np.ndarray:
        out = np.empty(self.shape, dtype=dtype or self._dtype, order="F")
        for k in range(self._count):
            out[..., k] = self.volume(k)
        return out

    def __getitem__(self, key: Any) -> np.ndarray:
        try:
            slicers = canonical_slicers(key, self.shape, check_inds=False)
        except (ValueError, TypeError):
            slicers = None  # fancy indexing: made from the whole array below
        if slicers is None or len(slicers) != 4 or any(s is None for s in slicers):
            return np.asarray(self)[key]
        spatial, last = slicers[:3], slicers[3]
        if isinstance(last, int):
            return self.volume(last)[spatial]
        picked = [self.volume(k)[spatial] for k in range(self._count)[last]]
        if not picked:  # an empty range of volumes: the shape numpy would give
            empty = np.broadcast_to(np.zeros((), self._dtype), self._grid)[spatial]
            return np.zeros((*empty.shape, 0), self._dtype)
        return np.stack(picked, axis=-1)


def stack_image(
    shape: tuple[int, int, int],
    count: int,
    dtype: DTypeLike,
    affine: np.ndarray,
    make: Callable[[int], np.ndarray],
) -> nib.Nifti1Image:
    """A lazy 4D image: ``count`` volumes of ``shape`` made by ``make(k)`` when needed."""
    stack = VolumeStack(shape, count, dtype, make)
    # the dtype given: else nibabel reads a voxel of a proxy to learn it, making volume 0
    img = nib.Nifti1Image(stack, np.asarray(affine, float), dtype=stack.dtype)
    img.header.set_xyzt_units("mm")
    return img


def to_nifti_bytes(img: nib.spatialimages.SpatialImage, compress: bool = True) -> bytes:
    """Serialise an image as NIfTI-1 bytes (gzip-compressed by default).

    The caller's image is left as it is; a NIfTI-2 image is written as NIfTI-1,
    another format (e.g. MGH) as float64 NIfTI-1. Spatial units are millimetres.
    """
    if type(img) is nib.Nifti1Image:
        # a copy of the header: serialising must not change the caller's image
        img = nib.Nifti1Image(img.dataobj, img.affine, img.header.copy())
    elif isinstance(img, nib.Nifti1Image):  # Nifti2Image derives from Nifti1Image
        img = nib.Nifti1Image(img.dataobj, img.affine)
    else:
        img = nib.Nifti1Image(img.get_fdata(), img.affine)
    img.header.set_xyzt_units("mm", img.header.get_xyzt_units()[1])  # keeps the time unit
    raw = img.to_bytes()
    return gz.compress(raw) if compress else raw


def save_nifti(img: nib.Nifti1Image, path: str | Path) -> Path:
    """Write ``img`` to ``path`` atomically (gzip when the name ends in ``.gz``).

    A 4D image is written one volume at a time, so that only one volume is in
    memory at once (its data may be a lazy :class:`VolumeStack`).
    """
    target = Path(path)
    # nibabel reads any case of .gz as gzip: write it the same way
    compress = target.name.lower().endswith(".gz")
    with atomic_write(target) as handle:
        if len(img.shape) == 4:
            if compress:
                with gz.writer(handle) as packed:
                    _write_volumes(img, packed)
            else:
                _write_volumes(img, handle)
        else:
            handle.write(to_nifti_bytes(img, compress=compress))
    return target


def _write_volumes(img: nib.Nifti1Image, out: IO[bytes]) -> None:
    """Write a 4D image as NIfTI-1: the header, then each volume in file (Fortran) order."""
    count = img.shape[3]
    if count == 0:
        raise ImageError(f"a 4D image with no volumes (shape {img.shape})")
    first = np.asanyarray(img.dataobj[..., 0])
    # the values as they come out of the data object (scaled, if the file had a slope);
    # NIfTI has no boolean type
    dtype = np.dtype(np.uint8) if first.dtype == bool else first.dtype.newbyteorder("<")
    header = nib.Nifti1Image(np.zeros((1, 1, 1, 1), dtype), img.affine).header
    header.set_data_shape(img.shape)
    header.set_xyzt_units("mm")
    header.set_slope_inter(1.0, 0.0)  # what nibabel writes for unscaled data
    header.set_data_offset(_DATA_OFFSET)
    out.write(header.binaryblock)
    out.write(b"\0" * (_DATA_OFFSET - len(header.binaryblock)))  # no extensions
    for k in range(count):
        volume = first if k == 0 else np.asanyarray(img.dataobj[..., k])
        out.write(np.asarray(volume, dtype=dtype).tobytes(order="F"))
