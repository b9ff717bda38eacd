"""Which voxels of a grid each streamline visits: MRtrix3's rule, or exact segment traversal.

Two definitions, both vectorised over every point of a chunk of streamlines:

``"mrtrix"`` (:func:`sampled_voxels`)
    What MRtrix3 3.0 does. ``tckmap -contrast tdi`` upsamples each streamline
    with Hermite interpolation (tension 0.1) by ``ceil(step / (0.333 * voxel))``,
    the step size taken from the .tck header (no upsampling when the header has
    none), and counts the voxel nearest to each resulting point, once per
    streamline. ``tckedit -include`` tests the nearest voxel of each *stored*
    point, without upsampling. Both round half away from zero (``std::round``),
    in single precision, as MRtrix does.

``"exact"`` (:func:`traversed_voxels`)
    Every voxel that one of the streamline's straight segments passes through
    (Amanatides & Woo's traversal, for all segments at once). It does not depend
    on the step size, and never misses a voxel whose corner a segment clips,
    which point sampling at 1/3 voxel can.

In both, a voxel ``k`` spans ``[k - 0.5, k + 0.5)`` in voxel coordinates (voxel
centres at integers, the NIfTI convention), and voxels outside the grid are left out.
The result is a set of (streamline, voxel) pairs: flat voxel indices in C order,
the order of ``mask.reshape(-1)``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
from numpy.typing import ArrayLike

__all__ = [
    "MAPPINGS",
    "hermite_upsample",
    "sampled_voxels",
    "traversed_voxels",
    "upsample_ratio",
]

#: The streamline-to-voxel definitions, by name.
MAPPINGS = ("mrtrix", "exact")
# MRtrix3's constants: upsampled points about a third of a voxel apart (a float),
# and the tension of its Hermite spline
_MRTRIX_SPACING = float(np.float32(0.333))
_HERMITE_TENSION = np.float32(0.1)


def upsample_ratio(step_size: float | None, affine: ArrayLike) -> int:
    """The upsampling ratio ``tckmap`` chooses for a step size on a grid.

    ``ceil(step / (smallest voxel edge * 0.333))``, or 1 when the step size is
    unknown (MRtrix3 3.0 then maps the stored points as they are).
    """
    if step_size is None:
        return 1
    edges = np.sqrt((np.asarray(affine, dtype=np.float64)[:3, :3] ** 2).sum(0))
    # the step is read as a float by MRtrix: the same rounding here
    return max(1, math.ceil(float(np.float32(step_size)) / (float(edges.min()) * _MRTRIX_SPACING)))


def _streamline_of_point(offsets: np.ndarray) -> np.ndarray:
    return np.repeat(np.arange(len(offsets) - 1), np.diff(offsets))


def _hermite_weights(ratio: int) -> np.ndarray:
    """(ratio - 1, 4) float32 weights of the points between two stored ones."""
    t = np.float32(0.5) * _HERMITE_TENSION
    half, one, two = np.float32(0.5), np.float32(1.0), np.float32(2.0)
    rows = []
    for i in range(ratio - 1):
        # the position is divided in double precision, then handed over as a float
        p = np.float32((i + 1.0) / float(np.float32(ratio)))
        p2 = p * p
        p3 = p * p2
        rows.append(
            [
                (half - t) * (two * p2 - p3 - p),
                one + (np.float32(1.5) + t) * p3 - (np.float32(2.5) + t) * p2,
                (two + two * t) * p2 + (half - t) * p - (np.float32(1.5) + t) * p3,
                (half - t) * (p3 - p2),
            ]
        )
    return np.array(rows, dtype=np.float32).reshape(ratio - 1, 4)


def hermite_upsample(
    points: np.ndarray, offsets: np.ndarray, ratio: int
) -> tuple[np.ndarray, np.ndarray]:
    """MRtrix3's streamline upsampling, for every streamline of a chunk at once.

    Between each pair of stored points ``ratio - 1`` points are added on the
    Hermite spline (tension 0.1) through the pair and its neighbours; at the two
    ends the missing neighbour is the end point mirrored. The stored points are kept.

    Parameters
    ----------
    points : numpy.ndarray, shape (P, 3)
    offsets : numpy.ndarray, shape (n + 1,)
        Streamline ``i`` is ``points[offsets[i]:offsets[i + 1]]``.
    ratio : int
        1 returns the points as they are.

    Returns
    -------
    points : numpy.ndarray, shape (Q, 3), float32
        Each streamline's stored and added points, in order along it.
    streamline : numpy.ndarray, shape (Q,), int64
        The streamline of each point.
    """
    points = np.asarray(points, dtype=np.float32)
    owner = _streamline_of_point(offsets)
    if ratio <= 1 or len(points) == 0:
        return points, owner
    # segment j joins stored points b[j] and b[j] + 1 of one streamline
    b = np.flatnonzero(owner[1:] == owner[:-1])
    c = b + 1
    first = (b == 0) | (owner[np.maximum(b - 1, 0)] != owner[b])
    last = (c == len(points) - 1) | (owner[np.minimum(c + 1, len(points) - 1)] != owner[c])
    pb, pc = points[b], points[c]
    pa = np.where(first[:, None], pb + (pb - pc), points[np.maximum(b - 1, 0)])
    pd = np.where(last[:, None], pc + (pc - pb), points[np.minimum(c + 1, len(points) - 1)])
    w = _hermite_weights(ratio)
    # summed left to right in float32, as MRtrix's 4-term products are
    added = (
        w[None, :, 0, None] * pa[:, None]
        + w[None, :, 1, None] * pb[:, None]
        + w[None, :, 2, None] * pc[:, None]
        + w[None, :, 3, None] * pd[:, None]
    )
    # lay the points out in streamline order (stored, added..., stored, ...), so
    # that neighbours along a streamline stay neighbours in the array
    lengths = np.diff(offsets)
    new_lengths = np.where(lengths > 0, (lengths - 1) * ratio + 1, 0)
    new_start = np.cumsum(new_lengths) - new_lengths
    local = np.arange(len(points)) - offsets[owner]
    stored_at = new_start[owner] + local * ratio
    out = np.empty((int(new_lengths.sum()), 3), dtype=np.float32)
    out[stored_at] = points
    added_at = stored_at[b][:, None] + np.arange(1, ratio)[None, :]
    out[added_at.reshape(-1)] = added.reshape(-1, 3)
    return out, np.repeat(np.arange(len(lengths)), new_lengths)


def _to_voxels(points: np.ndarray, affine: ArrayLike, dtype: type) -> np.ndarray:
    inverse = np.linalg.inv(np.asarray(affine, dtype=np.float64))
    rot = inverse[:3, :3].astype(dtype)
    shift = inverse[:3, 3].astype(dtype)
    p = np.asarray(points, dtype=dtype)
    # written out: a (P, 3) @ (3, 3) product is slow in numpy, and this is also the
    # order of MRtrix's float32 sums (column by column, then the translation)
    return (
        p[:, 0, None] * rot[:, 0] + p[:, 1, None] * rot[:, 1] + p[:, 2, None] * rot[:, 2]
    ) + shift


def _flat_inside(ijk: np.ndarray, shape: Sequence[int]) -> tuple[np.ndarray, np.ndarray]:
    """(which rows of ijk lie on the grid, their flat C-order index)."""
    dims = np.asarray(shape[:3], dtype=np.int64)
    inside = np.all((ijk >= 0) & (ijk < dims), axis=1)
    good = ijk[inside]
    flat = (good[:, 0] * dims[1] + good[:, 1]) * dims[2] + good[:, 2]
    return inside, flat


def _unique_pairs(
    streamline: np.ndarray, flat: np.ndarray, n_voxels: int
) -> tuple[np.ndarray, np.ndarray]:
    keys = streamline.astype(np.int64) * n_voxels + flat
    if len(keys) > 1:
        # neighbouring points mostly share a voxel: drop those repeats before the sort
        keys = keys[np.r_[True, keys[1:] != keys[:-1]]]
    # sort + neighbour test: numpy 2's hash-based np.unique is several times slower here
    keys.sort()
    if len(keys) > 1:
        keys = keys[np.r_[True, keys[1:] != keys[:-1]]]
    rows = keys // n_voxels
    return rows, keys - rows * n_voxels


def _mrtrix_frame(affine: ArrayLike, shape: Sequence[int]) -> tuple[np.ndarray, np.ndarray]:
    """The grid as MRtrix3 sees it: axes pointing the wrong way flipped; which were.

    MRtrix3 turns every image it opens to the nearest RAS orientation
    ("realigns" it) and indexes voxels there. The rounding of a point that lies
    exactly halfway between two voxels depends on that frame, so it is reproduced.
    """
    a = np.asarray(affine, dtype=np.float64)
    # the world axis each voxel axis mostly runs along, and in which direction
    main = np.argmax(np.abs(a[:3, :3]), axis=0)
    flipped = a[main, np.arange(3)] < 0
    realigned = a.copy()
    for axis in np.flatnonzero(flipped):
        realigned[:3, 3] += (int(shape[axis]) - 1) * a[:3, axis]
        realigned[:3, axis] *= -1.0
    return realigned, flipped


def sampled_voxels(
    points: np.ndarray,
    offsets: np.ndarray,
    affine: ArrayLike,
    shape: Sequence[int],
    ratio: int = 1,
) -> tuple[np.ndarray, np.ndarray]:
    """The voxels nearest to each (upsampled) point, once per streamline: MRtrix3's rule.

    Parameters
    ----------
    points : numpy.ndarray, shape (P, 3)
        World mm (RAS+).
    offsets : numpy.ndarray, shape (n + 1,)
        Streamline boundaries in ``points``.
    affine : array_like, shape (4, 4)
        The grid's voxel-to-world affine.
    shape : sequence of int
        The grid's shape.
    ratio : int
        Upsampling ratio (:func:`upsample_ratio`); 1 maps the stored points only,
        as ``tckedit -include`` does.

    Returns
    -------
    streamline, voxel : numpy.ndarray
        Sorted unique pairs: the streamline's index in the chunk and the flat
        (C-order) index of a voxel it visits.
    """
    pts, owner = hermite_upsample(points, offsets, ratio)
    realigned, flipped = _mrtrix_frame(affine, shape)
    v = _to_voxels(pts, realigned, np.float32)
    # std::round: half away from zero (numpy's rint rounds half to even)
    ijk = np.trunc(v + np.copysign(np.float32(0.5), v)).astype(np.int64)
    dims = np.asarray(shape[:3], dtype=np.int64)
    ijk[:, flipped] = dims[flipped] - 1 - ijk[:, flipped]
    inside, flat = _flat_inside(ijk, shape)
    return _unique_pairs(owner[inside], flat, int(np.prod(shape[:3])))


def _segmented_cumsum(values: np.ndarray, group_start: np.ndarray) -> np.ndarray:
    """Cumulative sums that restart at each group (``group_start``: index of each row's first)."""
    total = np.cumsum(values, axis=0)
    before = np.concatenate([np.zeros((1, *values.shape[1:]), values.dtype), total])
    return total - before[group_start]


def traversed_voxels(
    points: np.ndarray,
    offsets: np.ndarray,
    affine: ArrayLike,
    shape: Sequence[int],
) -> tuple[np.ndarray, np.ndarray]:
    """Every voxel that a straight segment of each streamline passes through.

    Amanatides & Woo's voxel traversal, done for all segments of the chunk at
    once: the parameters at which a segment crosses voxel boundaries along each
    axis are listed, sorted along the segment, and each crossing moves one voxel
    along its axis. A streamline of one point visits the voxel of that point.

    Parameters and returns as :func:`sampled_voxels`.
    """
    pts = np.asarray(points)
    owner = _streamline_of_point(offsets)
    n_voxels = int(np.prod(shape[:3]))
    if len(pts) == 0:
        empty = np.empty(0, dtype=np.int64)
        return empty, empty
    v = _to_voxels(pts, affine, np.float64)
    cell = np.floor(v + 0.5).astype(np.int64)
    seg = np.flatnonzero(owner[1:] == owner[:-1])  # segment seg joins points seg, seg + 1
    lengths = np.diff(offsets)
    alone = offsets[:-1][lengths == 1]
    s, e = v[seg], v[seg + 1]
    a, b = cell[seg], cell[seg + 1]
    step = np.sign(b - a)
    n_cross = np.abs(b - a)

    crossing_seg, crossing_axis, crossing_t = [], [], []
    for axis in range(3):
        n = n_cross[:, axis]
        rep = np.repeat(np.arange(len(seg)), n)
        k = np.arange(len(rep)) - np.repeat(np.cumsum(n) - n, n)
        boundary = a[rep, axis] + step[rep, axis] * (k + 0.5)
        crossing_t.append((boundary - s[rep, axis]) / (e[rep, axis] - s[rep, axis]))
        crossing_seg.append(rep)
        crossing_axis.append(np.full(len(rep), axis, dtype=np.int8))
    cseg = np.concatenate(crossing_seg)
    caxis = np.concatenate(crossing_axis)
    # one float key orders crossings by segment, then along it (t in [0, 1]; a
    # float64 keeps ~30 bits of t next to the segment number): faster than lexsort
    order = np.argsort(cseg + np.concatenate(crossing_t) * 0.999999, kind="stable")
    cseg, caxis = cseg[order], caxis[order]
    delta = np.zeros((len(cseg), 3), dtype=np.int32)
    delta[np.arange(len(cseg)), caxis] = step[cseg, caxis]
    group_start = np.searchsorted(cseg, cseg, side="left")
    after = a[cseg] + _segmented_cumsum(delta, group_start)

    ijk = np.concatenate([a, after, cell[alone]])
    who = np.concatenate([owner[seg], owner[seg][cseg], owner[alone]])
    inside, flat = _flat_inside(ijk, shape)
    return _unique_pairs(who[inside], flat, n_voxels)
