"""Assemble a section dataset into a 3D volume on the Allen CCF grid.

Each section is warped onto the reference grid of its slice and written into
the voxels it crosses: one slab at its slice coordinate ("parallel"), or,
following its true plane, a possibly different slab for every pixel
("oblique"). Voxels hit by several sections hold their mean. The voxels
between sections stay empty, or are filled along the cutting axis from the
nearest section or by linear interpolation between the two sections around
them (never beyond the first and last section, and only across gaps up to
``max_gap_um``).

The volume is returned as a NIfTI image in CCF orientation (array axes
p, i, r; ``aff2axcodes`` gives ``("P", "I", "R")``) with millimetre units and
the CCF origin at voxel (0, 0, 0).
"""

from __future__ import annotations

import gzip
import logging
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, Literal, NamedTuple, get_args

import numpy as np
from numpy.typing import NDArray

from neuratlas.allen.displacement import DisplacementField
from neuratlas.allen.sync import DatasetDownloader
from neuratlas.allen.transforms import AXIS_INDEX, REFERENCE_SHAPE_UM, get_oblique_transform
from neuratlas.errors import TransformError
from neuratlas.retrieval.cache import atomic_write

logger = logging.getLogger(__name__)

Gaps = Literal["empty", "nearest", "linear"]
Sampling = Literal["parallel", "oblique"]
GAPS: tuple[str, ...] = get_args(Gaps)
SAMPLINGS: tuple[str, ...] = get_args(Sampling)
# ITU-R BT.601 luma weights: the usual grey level of an RGB picture.
_LUMA = np.array([0.299, 0.587, 0.114], dtype=np.float32)


def check_gaps(gaps: str) -> None:
    """Raise a :class:`~neuratlas.errors.TransformError` unless ``gaps`` is in :data:`GAPS`."""
    if gaps not in GAPS:
        raise TransformError(
            f"unknown gap handling {gaps!r}", hint="use 'empty', 'nearest' or 'linear'"
        )


def check_sampling(sampling: str) -> None:
    """Raise a :class:`~neuratlas.errors.TransformError` unless ``sampling`` is valid."""
    if sampling not in SAMPLINGS:
        raise TransformError(f"unknown sampling {sampling!r}", hint="use 'parallel' or 'oblique'")


def ccf_affine(resolution_um: float) -> NDArray[np.float64]:
    """The NIfTI affine of a CCF-oriented grid with the given voxel size.

    Array axes are p (posterior), i (inferior), r (right); world axes are RAS
    millimetres, so x = r, y = -p, z = -i, and voxel (0, 0, 0) is the CCF origin.

    Parameters
    ----------
    resolution_um : float
        Voxel size in micrometres.
    """
    if not resolution_um > 0:
        raise TransformError(f"the resolution must be positive, got {resolution_um!r}")
    step = resolution_um / 1000.0
    return np.array(
        [
            [0.0, 0.0, step, 0.0],
            [-step, 0.0, 0.0, 0.0],
            [0.0, -step, 0.0, 0.0],
            [0.0, 0.0, 0.0, 1.0],
        ]
    )


def volume_shape(downsample_ref: int) -> tuple[int, int, int]:
    """Shape (p, i, r) of the CCF grid with a step of ``downsample_ref`` µm."""
    return tuple(extent // int(downsample_ref) for extent in REFERENCE_SHAPE_UM)  # type: ignore[return-value]


def to_gray(img: NDArray[Any]) -> NDArray[np.float32]:
    """Grey levels of an image (luma for RGB, the mean of other channel counts)."""
    array = np.asarray(img)
    if array.ndim == 2:
        return array.astype(np.float32)
    if array.ndim == 3 and array.shape[2] in (3, 4):
        return array[..., :3].astype(np.float32) @ _LUMA
    if array.ndim == 3:
        return array.astype(np.float32).mean(axis=2)
    raise TransformError(f"cannot make a grey image from shape {array.shape}")


class VolumeAccumulator:
    """Running sums of sections placed in a CCF-grid volume.

    Only the slabs (planes across the stacking axis) that a section reached are
    held, so memory grows with the sections placed, not with the grid: a coronal
    dataset of 60 sections on the 25 µm grid holds 60 slabs of 320 x 456 voxels
    (~50 MB), not the 77 million voxels of the whole volume.

    Parameters
    ----------
    downsample_ref : int
        Voxel size in micrometres.
    axis : {"coronal", "transverse", "sagittal"}
        The axis sections are stacked along.
    description : str, optional
        Written into the NIfTI header (``descrip``, at most 80 bytes).
    """

    def __init__(self, downsample_ref: int, axis: str, description: str | None = None) -> None:
        if axis not in AXIS_INDEX:
            raise TransformError(f"unknown axis {axis!r}")
        self.downsample_ref = int(downsample_ref)
        self.axis = AXIS_INDEX[axis]
        self.description = description
        self.shape = volume_shape(self.downsample_ref)
        self.slab_shape = tuple(n for a, n in enumerate(self.shape) if a != self.axis)
        # slab index -> (sum of values, number of sections), both of slab_shape
        self._slabs: dict[int, tuple[NDArray[np.float32], NDArray[np.uint16]]] = {}

    @classmethod
    def for_dataset(cls, downloader: DatasetDownloader) -> VolumeAccumulator:
        """An empty volume for a dataset: its grid step and axis, named after it.

        Parameters
        ----------
        downloader : DatasetDownloader
            The dataset, with its metadata fetched.
        """
        return cls(
            downloader.downsample_ref,
            downloader.axis,
            description=f"Allen section dataset {downloader.dataset_id}",
        )

    def _where(self, index: int) -> tuple[Any, ...]:
        where: list[Any] = [slice(None)] * 3
        where[self.axis] = index
        return tuple(where)

    def _slab(self, index: int) -> tuple[NDArray[np.float32], NDArray[np.uint16]]:
        slab = self._slabs.get(index)
        if slab is None:
            slab = self._slabs[index] = (
                np.zeros(self.slab_shape, dtype=np.float32),
                np.zeros(self.slab_shape, dtype=np.uint16),
            )
        return slab

    def slabs(self) -> Iterator[tuple[int, NDArray[np.float32], NDArray[np.uint16]]]:
        """The slabs holding sections, in index order: ``(index, total, count)``.

        ``total`` and ``count`` are the running sums of that plane (shape
        :attr:`slab_shape`); a voxel is sampled where ``count > 0``.
        """
        for index in sorted(self._slabs):
            total, count = self._slabs[index]
            yield index, total, count

    @property
    def total(self) -> NDArray[np.float32]:
        """The sum of the values placed in every voxel (a dense copy of the whole grid)."""
        out = np.zeros(self.shape, dtype=np.float32)
        for index, total, _ in self.slabs():
            out[self._where(index)] = total
        return out

    @property
    def count(self) -> NDArray[np.uint16]:
        """The number of sections placed in every voxel (a dense copy of the whole grid)."""
        out = np.zeros(self.shape, dtype=np.uint16)
        for index, _, count in self.slabs():
            out[self._where(index)] = count
        return out

    def slab_of(self, depth: float) -> int:
        """The index of the slab that a section at ``depth`` (µm along the axis) is added to.

        It may lie beyond the grid (such a section is left out).
        """
        return int(self._slab_indices(depth))

    def _slab_indices(self, depth: Any) -> NDArray[np.float64]:
        return np.rint(np.asarray(depth, dtype=np.float64) / self.downsample_ref)

    def add(self, values: NDArray[np.float32], valid: NDArray[np.bool_], depth: Any) -> int:
        """Add one warped section.

        Parameters
        ----------
        values : numpy.ndarray
            The section on the slice grid (shape of the other two axes).
        valid : numpy.ndarray of bool
            Which pixels fall inside the image.
        depth : float or numpy.ndarray
            Coordinate (µm) along the axis, one for all pixels or one per pixel.

        Returns
        -------
        int
            The number of voxels written.
        """
        n = self.shape[self.axis]
        slab = self._slab_indices(depth)
        if slab.ndim == 0:  # a parallel section: one slab, no per-pixel bookkeeping
            index = int(slab)
            if not 0 <= index < n:
                return 0
            total, count = self._slab(index)
            np.add(total, values, out=total, where=valid)
            np.add(count, 1, out=count, where=valid)
            return int(np.count_nonzero(valid))
        slab = np.broadcast_to(slab, values.shape)
        keep = valid & (slab >= 0) & (slab < n)
        written = 0
        for index in np.unique(slab[keep]).astype(int):
            mask = keep & (slab == index)
            total, count = self._slab(int(index))
            total[mask] += values[mask]
            count[mask] += 1
            written += int(mask.sum())
        return written

    def add_section(self, picture: NDArray[Any], df: Any, depth: Any) -> int:
        """Warp a section image (grey levels) with ``df`` and add it at ``depth``.

        Parameters
        ----------
        picture : numpy.ndarray
            The section image (grey or RGB) that ``df`` maps into.
        df : DisplacementField
            From the slice grid into ``picture``.
        depth : float or numpy.ndarray
            Coordinate (µm) along the axis, one for all pixels or one per pixel.

        Returns
        -------
        int
            The number of voxels written.
        """
        gray = to_gray(picture)
        fx, fy = df.transformation
        height, width = gray.shape
        valid = (fx >= 0) & (fx <= width - 1) & (fy >= 0) & (fy <= height - 1)
        if height < 2 or width < 2:
            return self.add(df.warp(gray, "linear"), valid, depth)
        # only the pixels that fall inside the image are kept: interpolate just those
        warped = np.zeros(df.shape, dtype=np.float32)
        warped[valid] = _bilinear_inside(gray, fx[valid], fy[valid])
        return self.add(warped, valid, depth)

    def to_nifti(self, gaps: Gaps = "empty", max_gap_um: float | None = None) -> Any:
        """The volume as a uint8 NIfTI image with the CCF affine (see :meth:`result`)."""
        # heavy: nibabel costs ~60 ms to import; only the finished volume needs it
        import nibabel as nib

        values, _ = self.result(gaps, max_gap_um)
        data = np.clip(np.rint(values), 0, 255).astype(np.uint8)
        image = nib.Nifti1Image(data, ccf_affine(self.downsample_ref))
        image.header.set_xyzt_units("mm")
        if self.description:
            image.header["descrip"] = self.description.encode()[:80]
        return image

    def result(
        self, gaps: Gaps = "empty", max_gap_um: float | None = None
    ) -> tuple[NDArray[np.float32], NDArray[np.bool_]]:
        """The mean of the sections per voxel, with the gaps handled as asked.

        Returns
        -------
        values : numpy.ndarray, float32
            Zero where nothing was placed or filled.
        filled : numpy.ndarray of bool
            Voxels that hold a value.
        """
        check_gaps(gaps)
        count = self.count
        filled = count > 0
        values = np.zeros(self.shape, dtype=np.float32)
        np.divide(self.total, count, out=values, where=filled)
        if gaps == "empty":
            return values, filled
        max_gap = np.inf if max_gap_um is None else max_gap_um / self.downsample_ref
        moved = np.moveaxis(values, self.axis, 0)
        have = np.moveaxis(filled, self.axis, 0)
        out, out_filled = _fill_gaps(moved, have, gaps, max_gap)
        return np.moveaxis(out, 0, self.axis), np.moveaxis(out_filled, 0, self.axis)


def _bilinear_inside(
    image: NDArray[np.float32], fx: NDArray[np.float64], fy: NDArray[np.float64]
) -> NDArray[np.float32]:
    """Bilinear values of a 2D image (at least 2 x 2) at positions inside it.

    Every ``(fx, fy)`` must lie in ``[0, width - 1] x [0, height - 1]``: no border
    handling is needed then, which makes this several times faster than a general
    warp (:meth:`DisplacementField.warp` gives the same values).
    """
    height, width = image.shape
    x0 = np.minimum(fx.astype(np.intp), width - 2)  # the last column interpolates from the left
    y0 = np.minimum(fy.astype(np.intp), height - 2)
    wx = (fx - x0).astype(np.float32)
    wy = (fy - y0).astype(np.float32)
    flat = image.ravel()
    at = y0 * width + x0
    # the neighbours through shifted views of the image: no index array per neighbour
    top = flat[at]
    top += (flat[1:][at] - top) * wx
    bottom = flat[width:][at]
    bottom += (flat[width + 1 :][at] - bottom) * wx
    top += (bottom - top) * wy
    return top


def _fill_gaps(
    values: NDArray[np.float32], filled: NDArray[np.bool_], gaps: str, max_gap: float
) -> tuple[NDArray[np.float32], NDArray[np.bool_]]:
    """Fill along axis 0 between filled voxels of the same line."""
    n = values.shape[0]
    index = np.arange(n, dtype=np.int32).reshape((n, 1, 1))
    before = np.where(filled, index, -1)
    np.maximum.accumulate(before, axis=0, out=before)
    after = np.where(filled, index, n)
    after = np.minimum.accumulate(after[::-1], axis=0)[::-1]
    inside = (before >= 0) & (after < n) & ~filled & ((after - before) <= max_gap + 1)
    lower = np.take_along_axis(values, np.clip(before, 0, n - 1), axis=0)
    upper = np.take_along_axis(values, np.clip(after, 0, n - 1), axis=0)
    if gaps == "nearest":
        # Ties go to the section before, so the choice is deterministic.
        use_upper = (after - index) < (index - before)
        guess = np.where(use_upper, upper, lower)
    else:
        span = np.maximum(after - before, 1).astype(np.float32)
        weight = (index - before).astype(np.float32) / span
        guess = lower + (upper - lower) * weight
    out = np.where(inside, guess, values).astype(np.float32)
    return out, filled | inside


class PlacedSection(NamedTuple):
    """One section of a dataset, placed on the reference grid (see :func:`place_sections`)."""

    #: The downloader's record of the image (``id``, ``section_number``, affines, ...).
    record: dict[str, Any]
    #: The slice coordinate along the dataset's axis, in micrometres.
    coordinate: float
    #: The section image (uint8, RGB).
    img: NDArray[np.uint8]
    #: The expression view, or ``None`` unless the downloader includes it.
    img_expr: NDArray[np.uint8] | None
    #: Maps the slice's reference grid into ``img`` (along the true plane when oblique).
    df: DisplacementField
    #: Where along the axis each pixel of the slice grid lies (µm): one value, or one per pixel.
    depth: float | NDArray[np.float64]


def place_sections(
    downloader: DatasetDownloader, sampling: Sampling = "parallel"
) -> Iterator[PlacedSection]:
    """Download a dataset's sections and say where each lies on the CCF grid.

    The one loop behind :func:`assemble_volume` and
    :func:`neuratlas.allen.export.export_dataset`.

    Parameters
    ----------
    downloader : DatasetDownloader
        The dataset; its metadata are fetched now if needed.
    sampling : {"parallel", "oblique"}
        Place each section at its slice coordinate, or along its true plane
        (then ``df`` follows that plane and ``depth`` varies per pixel).

    Returns
    -------
    iterator of PlacedSection
        Highest section number first; images that fail are skipped (see
        :attr:`DatasetDownloader.failures`).

    Raises
    ------
    TransformError
        On an unknown ``sampling`` (before anything is downloaded).
    """
    check_sampling(sampling)
    downloader.fetch_metadata()
    return _place(downloader, sampling)


def _place(downloader: DatasetDownloader, sampling: Sampling) -> Iterator[PlacedSection]:
    axis = downloader.axis
    records = {record["id"]: record for record in downloader.metadata["images"]}
    trv = downloader.metadata["dataset"]["affine_trv"]
    for image_id, coordinate, img, img_expr, df in downloader.run():
        record = records[image_id]
        depth: float | NDArray[np.float64] = coordinate
        if sampling == "oblique":
            df, depth = get_oblique_transform(
                downloader.section_z(record),
                record["affine_tvs"],
                trv,
                axis=axis,  # type: ignore[arg-type]
                downsample_ref=downloader.downsample_ref,
                downsample_img=downloader.downsample_img,
            )
        yield PlacedSection(record, coordinate, img, img_expr, df, depth)


def assemble_volume(
    downloader: DatasetDownloader,
    *,
    expression: bool = False,
    gaps: Gaps = "empty",
    max_gap_um: float | None = None,
    sampling: Sampling = "parallel",
    on_section: Callable[[int, float], None] | None = None,
) -> Any:
    """Build the 3D volume of a whole dataset on the CCF grid.

    Parameters
    ----------
    downloader : DatasetDownloader
        The dataset (``downsample_ref`` sets the voxel size,
        ``downsample_img`` the image size; ``include_expression`` must be set
        when ``expression=True``). Its metadata are fetched if needed.
    expression : bool
        Use the expression view instead of the plain image.
    gaps : {"empty", "nearest", "linear"}
        What to put between sections.
    max_gap_um : float, optional
        Fill only gaps up to this size in micrometres (default: any gap
        between two sections).
    sampling : {"parallel", "oblique"}
        Place each section at its slice coordinate, or along its true plane.
    on_section : callable, optional
        Called with ``(image_id, slice_coordinate)`` after each section (progress).

    Returns
    -------
    nibabel.Nifti1Image
        uint8 grey levels, shape :func:`volume_shape` ``(downsample_ref)``,
        affine :func:`ccf_affine`; zero where empty.

    Raises
    ------
    TransformError
        On unknown ``gaps`` or ``sampling`` values, or if ``expression=True``
        while the downloader does not include expression images.
    neuratlas.errors.DataUnavailableError
        If no image could be downloaded and read (rather than an empty volume).
    """
    check_sampling(sampling)
    check_gaps(gaps)
    if expression and not downloader.include_expression:
        raise TransformError(
            "expression=True needs a DatasetDownloader with include_expression=True"
        )
    sections = place_sections(downloader, sampling)
    accumulator = VolumeAccumulator.for_dataset(downloader)
    placed = 0
    for section in sections:
        source = section.img_expr if expression else section.img
        assert source is not None
        accumulator.add_section(source, section.df, section.depth)
        placed += 1
        if on_section is not None:
            on_section(section.record["id"], section.coordinate)
    if not placed and downloader.failures:
        raise downloader.failures_error(len(downloader.failures))
    return accumulator.to_nifti(gaps, max_gap_um)


def save_volume(image: Any, path: str | os.PathLike[str]) -> Path:
    """Write a NIfTI image atomically (``.nii`` or ``.nii.gz``)."""
    target = Path(path)
    with atomic_write(target, "wb") as handle:
        handle.write(image.to_bytes() if not target.name.endswith(".gz") else _gzip(image))
    return target


def _gzip(image: Any) -> bytes:
    return gzip.compress(image.to_bytes(), compresslevel=6)
