"""An annotation's labels on another CCF grid, read one plane at a time.

The expression of a gene is placed on a CCF grid of the user's resolution; the
regions come from the annotation volume, on its own grid (25 µm). Both grids
have parallel axes, so a voxel of one grid is found in the other by nearest
neighbour, one axis at a time. :class:`GridLabels` keeps these per-axis indices
and reads the labels of one plane of the grid when asked (the sampled sections
touch a few dozen planes of hundreds), and counts the grid's voxels per label
without building the grid's label volume.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from numpy.typing import NDArray

from neuratlas.errors import TransformError

__all__ = ["GridLabels", "label_counts", "labels_on_grid"]

_COUNT_CHUNK = 1 << 23  # voxels compared at a time by label_counts (8 MB of flags)


def _axis_indices(
    annotation: Any, shape: Sequence[int], affine: NDArray[np.float64]
) -> tuple[list[NDArray[np.int64]], bool]:
    """For each grid axis, the annotation index of every grid index; and whether they are equal."""
    data_shape = tuple(annotation.shape)
    to_annotation = np.linalg.inv(annotation.affine) @ affine
    linear = to_annotation[:3, :3]
    if not np.allclose(linear, np.diag(np.diag(linear))) or np.any(np.diag(linear) <= 0):
        raise TransformError(
            "the annotation's voxel axes are not those of the CCF grid",
            hint="use an annotation in CCF orientation (axes P, I, R)",
        )
    same = data_shape == tuple(shape) and np.allclose(to_annotation, np.eye(4))
    axes = [
        np.rint(linear[a, a] * np.arange(shape[a]) + to_annotation[a, 3]).astype(np.int64)
        for a in range(3)
    ]
    return axes, bool(same)


def labels_on_grid(
    annotation: Any, shape: Sequence[int], affine: NDArray[np.float64]
) -> NDArray[Any]:
    """The annotation's labels at the voxel centres of another grid (nearest neighbour).

    Parameters
    ----------
    annotation : nibabel.Nifti1Image
        The label image.
    shape : sequence of int
        The grid's shape.
    affine : numpy.ndarray
        The grid's affine (same world axes as the annotation's).

    Returns
    -------
    numpy.ndarray
        Labels of shape ``shape``, 0 outside the annotation (the annotation's own
        array when the grids are the same).

    Raises
    ------
    TransformError
        The grids' axes are not parallel (a voxel of one is not a box of the other).
    """
    return GridLabels(annotation, shape, affine).volume()


def label_counts(data: NDArray[Any]) -> tuple[NDArray[Any], NDArray[np.int64]]:
    """The distinct labels of an array, sorted, and how many voxels hold each.

    The same as ``numpy.unique(data, return_counts=True)``, faster on annotation
    volumes: their labels come in long runs, so the runs are found first (one
    comparison per voxel, a slice of the array at a time so that the temporary
    arrays stay small) and only the runs' labels are sorted.

    Parameters
    ----------
    data : numpy.ndarray
        Any integer array (read in memory order).
    """
    flat = np.ravel(data, order="K")
    labels: list[NDArray[Any]] = []
    lengths: list[NDArray[np.float64]] = []
    for start in range(0, flat.size, _COUNT_CHUNK):
        # a run across two slices counts as two runs of one label: the sums are the same
        chunk = flat[start : start + _COUNT_CHUNK]
        starts = np.concatenate(([0], np.flatnonzero(chunk[1:] != chunk[:-1]) + 1))
        found, inverse = np.unique(chunk[starts], return_inverse=True)
        run_lengths = np.diff(np.append(starts, chunk.size))
        labels.append(found)
        lengths.append(np.bincount(inverse, weights=run_lengths, minlength=len(found)))
    if not labels:
        return np.zeros(0, dtype=flat.dtype), np.zeros(0, dtype=np.int64)
    present, inverse = np.unique(np.concatenate(labels), return_inverse=True)
    counts = np.bincount(inverse, weights=np.concatenate(lengths), minlength=len(present))
    return present, np.rint(counts).astype(np.int64)


def _plane_index(axis: int, index: int) -> tuple[Any, ...]:
    """The index of one plane: a view (``numpy.take`` would copy a Fortran-ordered volume)."""
    where: list[Any] = [slice(None)] * 3
    where[axis] = int(index)
    return tuple(where)


class GridLabels:
    """The labels of an annotation on a CCF grid with parallel axes (nearest neighbour).

    Parameters
    ----------
    annotation : nibabel.Nifti1Image
        The label image.
    shape : sequence of int
        The grid's shape.
    affine : numpy.ndarray
        The grid's affine (same world axes as the annotation's).

    Raises
    ------
    TransformError
        The grids' axes are not parallel.
    """

    def __init__(self, annotation: Any, shape: Sequence[int], affine: NDArray[np.float64]) -> None:
        self.data = np.asanyarray(annotation.dataobj)
        self.shape = tuple(int(n) for n in shape)
        self._axes, self.same_grid = _axis_indices(annotation, self.shape, affine)
        self._inside = [
            (index >= 0) & (index < n)
            for index, n in zip(self._axes, self.data.shape, strict=True)
        ]

    @classmethod
    def of_grid(cls, labels: NDArray[Any]) -> GridLabels:
        """Labels already on the grid (e.g. a memory-mapped copy): read as they are.

        Parameters
        ----------
        labels : numpy.ndarray
            3D, the grid's shape.
        """
        labels = np.asanyarray(labels)
        if labels.ndim != 3:
            raise TransformError(f"grid labels must be 3D, got shape {labels.shape}")
        grid = cls.__new__(cls)
        grid.data = labels
        grid.shape = tuple(int(n) for n in labels.shape)
        grid.same_grid = True
        grid._axes = [np.arange(n, dtype=np.int64) for n in grid.shape]
        grid._inside = [np.ones(n, dtype=bool) for n in grid.shape]
        return grid

    def __repr__(self) -> str:
        return f"GridLabels(annotation {self.data.shape} on grid {self.shape})"

    def plane(self, axis: int, index: int) -> NDArray[Any]:
        """The labels of one plane of the grid: ``volume()`` at ``index`` along ``axis``.

        Parameters
        ----------
        axis : int
            0, 1 or 2 (p, i, r).
        index : int
            The plane's index along that axis.

        Returns
        -------
        numpy.ndarray
            2D, the grid's shape without ``axis``; 0 outside the annotation.
        """
        if self.same_grid:
            return self.data[_plane_index(axis, index)]
        plane_shape = tuple(n for a, n in enumerate(self.shape) if a != axis)
        out = np.zeros(plane_shape, dtype=self.data.dtype)
        if not (0 <= index < self.shape[axis] and self._inside[axis][index]):
            return out
        at = int(self._axes[axis][index])
        others = [a for a in range(3) if a != axis]
        keep = [np.flatnonzero(self._inside[a]) for a in others]
        source = self.data[_plane_index(axis, at)]
        rows, cols = (self._axes[a][k] for a, k in zip(others, keep, strict=True))
        out[np.ix_(*keep)] = source[np.ix_(rows, cols)]
        return out

    def planes(self, axis: int, indices: Sequence[int]) -> tuple[list[NDArray[Any]], bool]:
        """The labels of several planes along ``axis``, read together.

        Returns
        -------
        planes : list of numpy.ndarray
            One 2D array per index, in order.
        transposed : bool
            True when each plane comes transposed (its axes swapped): planes across
            the slowest axis of an annotation held in Fortran order (as NRRD and
            NIfTI store it, at 25 µm coronal planes) are gathered in one pass along
            its memory, column by column, which leaves them in that orientation.
            Read plane by plane, every voxel would be a cache miss (~2x slower).
        """
        data = self.data
        fortran = data.flags.f_contiguous and not data.flags.c_contiguous
        if self.same_grid and axis == 0 and fortran and len(indices) > 1:
            # data.T is C-ordered (r, i, p): each (r, i) column of p is contiguous
            gathered = np.take(data.T, np.asarray(indices, dtype=np.intp), axis=2)
            return [gathered[:, :, k] for k in range(len(indices))], True
        return [self.plane(axis, index) for index in indices], False

    def volume(self) -> NDArray[Any]:
        """The labels of the whole grid (the annotation's own array when the grids are equal)."""
        if self.same_grid:
            return self.data
        out = np.zeros(self.shape, dtype=self.data.dtype)
        keep = [np.flatnonzero(k) for k in self._inside]
        source = self.data[np.ix_(*(index[k] for index, k in zip(self._axes, keep, strict=True)))]
        out[np.ix_(*keep)] = source
        return out

    def counts(self) -> tuple[NDArray[Any], NDArray[np.int64]]:
        """The grid's labels (sorted) and how many of its voxels hold each.

        Only voxels inside the annotation are counted (the label 0 of the grid
        beyond it is not). On the annotation's own grid this is
        :func:`label_counts` of its array; on another grid, each annotation voxel
        counts as many times as grid voxels fall on it (zero or more along each
        axis), one annotation plane at a time, never building the grid's volume.
        """
        if self.same_grid:
            return label_counts(self.data)
        weights = [
            np.bincount(index[inside], minlength=n)
            for index, inside, n in zip(self._axes, self._inside, self.data.shape, strict=True)
        ]
        in_plane = np.outer(weights[1], weights[2]).ravel()
        labels: list[NDArray[Any]] = []
        amounts: list[NDArray[np.float64]] = []
        for at in np.flatnonzero(weights[0]):
            plane = np.ascontiguousarray(self.data[at]).ravel()
            present, inverse = np.unique(plane, return_inverse=True)
            labels.append(present)
            amounts.append(np.bincount(inverse, weights=in_plane) * weights[0][at])
        if not labels:
            return np.zeros(0, dtype=self.data.dtype), np.zeros(0, dtype=np.int64)
        present, inverse = np.unique(np.concatenate(labels), return_inverse=True)
        counts = np.bincount(inverse, weights=np.concatenate(amounts), minlength=len(present))
        keep = counts > 0
        return present[keep], np.rint(counts[keep]).astype(np.int64)
