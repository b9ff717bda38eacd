"""An annotation's labels on another CCF grid: the planes sampled and the voxel counts.

The expression of a gene is placed on a CCF grid of the user's resolution; the
regions come from the annotation volume, on its own grid (25 µm). Both grids
have parallel axes, so a voxel of one grid is found in the other by nearest
neighbour, one axis at a time.

What the expression table needs of the annotation is small: the labels of the
planes that sections fell on (a few dozen of hundreds) and the number of grid
voxels of each label. :func:`sample_grid` gets both in one pass over the
annotation, a few slabs at a time (:mod:`neuratlas.volumes.slabs`), so the
decoded annotation (308 MB at 25 µm) is never whole in memory. :class:`GridLabels`
reads planes or the whole grid from an annotation already in memory.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, NamedTuple

import numpy as np
from numpy.typing import NDArray

from neuratlas.errors import TransformError
from neuratlas.volumes.slabs import SLAB_BYTES, ArraySlabs, SlabSource

__all__ = ["GridLabels", "GridSample", "label_counts", "labels_on_grid", "sample_grid"]

_COUNT_CHUNK = 1 << 23  # voxels compared at a time by label_counts (8 MB of flags)
#: The labels of a grid, sorted, and how many of its voxels hold each.
LabelCounts = tuple[NDArray[Any], NDArray[np.int64]]


def _axis_indices(
    data_shape: Sequence[int],
    data_affine: NDArray[np.float64],
    shape: Sequence[int],
    affine: NDArray[np.float64],
) -> tuple[list[NDArray[np.int64]], bool]:
    """For each grid axis, the annotation index of every grid index; and whether they are equal."""
    data_shape = tuple(int(n) for n in data_shape)
    to_annotation = np.linalg.inv(data_affine) @ affine
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


def label_counts(data: NDArray[Any]) -> LabelCounts:
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
    tally = _Tally(flat.dtype)
    for start in range(0, flat.size, _COUNT_CHUNK):
        # a run across two slices counts as two runs of one label: the sums are the same
        tally.add(*_runs(flat[start : start + _COUNT_CHUNK]))
    return tally.result()


def _runs(
    flat: NDArray[Any],
    line_length: int | None = None,
    cumulative: NDArray[np.float64] | None = None,
    line_weights: NDArray[np.float64] | None = None,
) -> tuple[NDArray[Any], NDArray[np.float64]]:
    """The runs of equal labels in ``flat``: each run's label and (weighted) voxel count.

    Without weights every voxel counts once. With them, ``flat`` is made of lines of
    ``line_length`` voxels; voxel ``k`` of line ``j`` weighs ``w[k] * line_weights[j]``,
    ``cumulative`` being the running sum of ``w`` from 0 (``line_length + 1`` values),
    so that a run's weight is a difference of two of its values.
    """
    if not flat.size:
        return flat[:0], np.zeros(0)
    edge = np.empty(flat.size, dtype=bool)
    edge[0] = True
    np.not_equal(flat[1:], flat[:-1], out=edge[1:])
    if line_length is not None:
        edge[::line_length] = True  # runs end with their line: lines weigh differently
    starts = np.flatnonzero(edge)
    lengths = np.diff(starts, append=flat.size)
    if cumulative is None or line_length is None or line_weights is None:
        return flat[starts], lengths.astype(np.float64)
    offset = starts % line_length
    weights = cumulative[offset + lengths] - cumulative[offset]
    weights *= line_weights[starts // line_length]
    return flat[starts], weights


class _Tally:
    """Voxel counts per label, added run by run (see :func:`_runs`).

    The labels seen so far are kept sorted: a piece's runs are looked up among them
    (a binary search over a few hundred labels), and only labels not seen before
    are sorted in; sorting every piece's runs would cost several times more.
    """

    def __init__(self, dtype: np.dtype[Any]) -> None:
        self._labels = np.zeros(0, dtype=dtype)
        self._amounts = np.zeros(0)

    def add(self, labels: NDArray[Any], amounts: NDArray[np.float64]) -> None:
        at = np.searchsorted(self._labels, labels)
        known = at < len(self._labels)
        known[known] = self._labels[at[known]] == labels[known]
        if not known.all():
            merged = np.union1d(self._labels, labels[~known])
            grown = np.zeros(len(merged))
            grown[np.searchsorted(merged, self._labels)] = self._amounts
            self._labels, self._amounts = merged, grown
            at = np.searchsorted(merged, labels)
        self._amounts += np.bincount(at, weights=amounts, minlength=len(self._labels))

    def result(self) -> LabelCounts:
        """The labels (sorted) with a count above zero, and their counts."""
        counts = np.rint(self._amounts).astype(np.int64)
        keep = counts > 0
        return self._labels[keep], counts[keep]


def _plane_index(axis: int, index: int) -> tuple[Any, ...]:
    """The index of one plane: a view (``numpy.take`` would copy a Fortran-ordered volume)."""
    where: list[Any] = [slice(None)] * 3
    where[axis] = int(index)
    return tuple(where)


class _GridMap:
    """Where each grid voxel lies in the annotation, one axis at a time."""

    def __init__(
        self,
        data_shape: Sequence[int],
        data_affine: NDArray[np.float64],
        shape: Sequence[int],
        affine: NDArray[np.float64],
    ) -> None:
        self.data_shape = tuple(int(n) for n in data_shape)
        self.shape = tuple(int(n) for n in shape)
        self.axes, self.same_grid = _axis_indices(self.data_shape, data_affine, self.shape, affine)
        self.inside = [
            (index >= 0) & (index < n) for index, n in zip(self.axes, self.data_shape, strict=True)
        ]

    def weights(self) -> list[NDArray[np.float64]]:
        """Per axis, how many grid indices fall on each annotation index (0 or more)."""
        return [
            np.bincount(index[inside], minlength=n).astype(np.float64)
            for index, inside, n in zip(self.axes, self.inside, self.data_shape, strict=True)
        ]

    def to_grid(self, source: NDArray[Any], rows: int, cols: int) -> NDArray[Any]:
        """An annotation plane (axes ``rows``, ``cols``) on the grid: 0 beyond the annotation."""
        if self.same_grid:
            return source
        keep = [np.flatnonzero(self.inside[a]) for a in (rows, cols)]
        out = np.zeros((self.shape[rows], self.shape[cols]), dtype=source.dtype)
        out[np.ix_(*keep)] = source[np.ix_(self.axes[rows][keep[0]], self.axes[cols][keep[1]])]
        return out


class GridLabels:
    """The labels of an annotation in memory on a CCF grid with parallel axes (nearest neighbour).

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
        self.annotation = annotation
        self.data = np.asanyarray(annotation.dataobj)
        self.affine = np.asarray(affine, dtype=np.float64)
        self._map = _GridMap(self.data.shape, annotation.affine, shape, self.affine)
        self.shape = self._map.shape
        self.same_grid = self._map.same_grid

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
        rows, cols = (a for a in range(3) if a != axis)
        if not (0 <= index < self.shape[axis] and self._map.inside[axis][index]):
            return np.zeros((self.shape[rows], self.shape[cols]), dtype=self.data.dtype)
        source = self.data[_plane_index(axis, int(self._map.axes[axis][index]))]
        return self._map.to_grid(source, rows, cols)

    def volume(self) -> NDArray[Any]:
        """The labels of the whole grid (the annotation's own array when the grids are equal)."""
        if self.same_grid:
            return self.data
        out = np.zeros(self.shape, dtype=self.data.dtype)
        keep = [np.flatnonzero(k) for k in self._map.inside]
        index = [axis[k] for axis, k in zip(self._map.axes, keep, strict=True)]
        out[np.ix_(*keep)] = self.data[np.ix_(*index)]
        return out

    def counts(self) -> LabelCounts:
        """The grid's labels (sorted) and how many of its voxels hold each.

        Only voxels inside the annotation are counted (the label 0 of the grid
        beyond it is not); see :func:`sample_grid`.
        """
        sample = sample_grid(ArraySlabs(self.annotation), self.shape, self.affine, 0, [])
        assert sample.counts is not None
        return sample.counts


class GridSample(NamedTuple):
    """What :func:`sample_grid` read of an annotation on a grid."""

    #: Grid plane index -> its labels (2D, C-ordered, the grid's shape without the
    #: plane's axis; 0 beyond the annotation).
    planes: dict[int, NDArray[Any]]
    #: The grid's labels and voxel counts (:class:`LabelCounts`), unless not asked for.
    counts: LabelCounts | None


def sample_grid(
    source: SlabSource,
    shape: Sequence[int],
    affine: NDArray[np.float64],
    axis: int,
    indices: Sequence[int],
    *,
    count: bool = True,
    max_bytes: int = SLAB_BYTES,
) -> GridSample:
    """Read some planes of an annotation on a grid, and count the grid's labels, in one pass.

    Parameters
    ----------
    source : neuratlas.volumes.slabs.SlabSource
        The annotation (a file read a few slabs at a time, or an array).
    shape : sequence of int
        The grid's shape.
    affine : numpy.ndarray
        The grid's affine (same world axes as the annotation's).
    axis : int
        0, 1 or 2 (p, i, r): the axis across which the planes lie.
    indices : sequence of int
        The grid planes wanted along ``axis`` (those beyond the grid are left out).
    count : bool
        Also count the grid's voxels per label: each annotation voxel counts as
        many times as grid voxels fall on it (zero or more along each axis), so
        the grid's label volume is never built.
    max_bytes : int
        The size of the annotation's blocks read at a time.

    Returns
    -------
    GridSample

    Raises
    ------
    TransformError
        The grids' axes are not parallel.
    """
    grid = _GridMap(source.shape, source.affine, shape, affine)
    wanted = sorted({int(i) for i in indices if 0 <= int(i) < grid.shape[axis]})
    at = {g: int(grid.axes[axis][g]) for g in wanted if grid.inside[axis][g]}
    gather = _PlaneGather(source, axis, sorted(set(at.values())))
    weights = grid.weights()
    cumulative = np.concatenate(([0.0], np.cumsum(weights[0])))
    line_length = source.shape[0]
    tally = _Tally(source.dtype)
    # nothing to gather or count (no wanted plane inside the annotation): no pass
    blocks = source.slabs(max_bytes) if count or gather.indices else iter(())
    for start, block in blocks:
        gather.add(start, block)
        if count:
            # the block's lines along the first axis, one after another: (k, i) order
            lines = block.T.reshape(-1)
            if grid.same_grid:
                tally.add(*_runs(lines))
            else:
                line_weights = np.outer(weights[2][start : start + block.shape[2]], weights[1])
                tally.add(*_runs(lines, line_length, cumulative, line_weights.ravel()))
    rows, cols = (a for a in range(3) if a != axis)
    planes = {}
    for g in wanted:
        if g in at:
            planes[g] = grid.to_grid(gather.plane(at[g]), rows, cols)
        else:
            planes[g] = np.zeros((grid.shape[rows], grid.shape[cols]), dtype=source.dtype)
    return GridSample(planes, tally.result() if count else None)


class _PlaneGather:
    """Planes of a volume across ``axis``, gathered from its slabs as they go by."""

    def __init__(self, source: SlabSource, axis: int, indices: list[int]) -> None:
        self.axis, self.indices = axis, indices
        self._position = {index: k for k, index in enumerate(indices)}
        p, i, r = source.shape
        n = len(indices)
        if axis == 0:  # (plane, r, i): each plane transposed, see add() and plane()
            self._out = np.empty((n, r, i), dtype=source.dtype)
        elif axis == 1:
            self._out = np.empty((n, p, r), dtype=source.dtype)
        else:
            self._out = np.empty((n, p, i), dtype=source.dtype)
        self._wanted = np.asarray(indices, dtype=np.intp)

    def add(self, start: int, block: NDArray[Any]) -> None:
        if not self.indices:
            return
        stop = start + block.shape[2]
        if self.axis == 0:
            # block.T is C-ordered (k, i, p): one contiguous column of p per (k, i), read
            # once for all planes; each plane's part, (k, i), is then one contiguous piece
            taken = np.take(block.T, self._wanted, axis=2)
            self._out[:, start:stop, :] = taken.transpose(2, 0, 1)
        elif self.axis == 1:
            self._out[:, :, start:stop] = block[:, self._wanted, :].transpose(1, 0, 2)
        else:
            for index in self.indices:
                if start <= index < stop:
                    self._out[self._position[index]] = block[:, :, index - start]

    def plane(self, index: int) -> NDArray[Any]:
        """The plane at ``index``, C-ordered, its axes in the volume's order."""
        k = self._position[index]
        # across axis 0 the planes were gathered as (r, i): one transposing copy of a
        # plane (in the CPU cache) instead of a cache miss per voxel while gathering
        return np.ascontiguousarray(self._out[k].T) if self.axis == 0 else self._out[k]
