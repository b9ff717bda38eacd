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

    Single precision makes one more rule: ``tckedit`` crops an ROI mask to its
    bounding box plus one voxel before testing points against it, and computes
    voxel coordinates on that cropped grid (smaller numbers, so finer float32
    steps), while ``tckmap`` computes them on the whole grid. A point within a
    float32 rounding step of a voxel face (one point in some ten thousand) can
    then fall in one voxel for ``tckmap`` and in its neighbour for ``tckedit``,
    and which neighbour depends on the mask's bounding box. Such points are
    flagged (:func:`point_voxels`) and tested per mask (:func:`roi_crop`,
    :func:`roi_voxels`).

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

from neuratlas.errors import ArgumentError

__all__ = [
    "MAPPINGS",
    "hermite_upsample",
    "point_voxels",
    "roi_crop",
    "roi_voxels",
    "sampled_voxels",
    "traversed_voxels",
    "upsample_ratio",
    "visit_pairs",
]

#: The streamline-to-voxel definitions, by name.
MAPPINGS = ("mrtrix", "exact")
# MRtrix3's constants: upsampled points about a third of a voxel apart (a float),
# and the tension of its Hermite spline
_MRTRIX_SPACING = float(np.float32(0.333))
_HERMITE_TENSION = np.float32(0.1)
# a point this many float32 steps (of the largest term of its sum) from a voxel face
# may be rounded differently on a cropped grid: the rounding of the shift and of the
# sum move it by less than two steps, so eight leave a wide margin and still flag
# only ~1e-4 of the points
_FACE_STEPS = 8


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
    return _linear(np.asarray(points, dtype=dtype), rot) + shift


def _linear(p: np.ndarray, rot: np.ndarray) -> np.ndarray:
    # written out: a (P, 3) @ (3, 3) product is slow in numpy, and this is also the
    # order of MRtrix's float32 sums (column by column; the translation comes after)
    return p[:, 0, None] * rot[:, 0] + p[:, 1, None] * rot[:, 1] + p[:, 2, None] * rot[:, 2]


def _scanner_to_voxel(
    realigned: np.ndarray, origin: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """MRtrix's ``Transform::scanner2voxel`` of a (cropped) grid, as floats: (rotation, shift).

    Computed in double precision as MRtrix does (``Adapter::Subset`` moves the
    translation by ``origin`` voxels, Eigen's affine inverse gives
    ``-inverse(linear) @ translation``), then rounded to float32 as its ROI and
    mapper classes do.
    """
    linear = realigned[:3, :3]
    translation = realigned[:3, 3].copy()
    if origin is not None:
        for axis in range(3):
            translation += float(origin[axis]) * linear[:, axis]
    rotation = np.linalg.inv(linear)
    return rotation.astype(np.float32), (-(rotation @ translation)).astype(np.float32)


def _round_half_away(v: np.ndarray) -> np.ndarray:
    # std::round: half away from zero (numpy's rint rounds half to even)
    return np.trunc(v + np.copysign(np.float32(0.5), v))


def _near_faces(
    q: np.ndarray, gap: np.ndarray, ijk: np.ndarray, shift: np.ndarray, dims: np.ndarray
) -> np.ndarray:
    """Points within ``_FACE_STEPS`` float32 steps of a voxel face, on or next to the grid.

    ``q``: the rotated coordinates before the shift; ``gap``: each coordinate's
    distance to the nearest face; ``ijk``: the voxel (realigned frame).
    """
    if float(np.abs(shift).max()) + float(dims.max()) + 2 < 2048:
        # near the grid every term is below 2048, whose float32 step is at most
        # 2**-13: the points within 8 steps of a face are among those within 1e-3
        loose = np.float32(1e-3)
        candidates = np.flatnonzero(
            (gap[:, 0] < loose) | (gap[:, 1] < loose) | (gap[:, 2] < loose)
        )
    else:
        candidates = np.arange(len(gap))
    # the largest term of the sum sets its float32 step
    step = np.spacing(np.maximum(np.abs(q[candidates]), np.abs(shift)))
    close = np.any(gap[candidates] <= _FACE_STEPS * step, axis=1)
    # a point further off the grid is off every cropped grid too
    cell = ijk[candidates]
    close &= np.all((cell >= -1) & (cell <= dims), axis=1)
    near = np.zeros(len(gap), dtype=bool)
    near[candidates[close]] = True
    return near


def _flat_inside(ijk: np.ndarray, shape: Sequence[int]) -> tuple[np.ndarray, np.ndarray]:
    """(which rows of ijk lie on the grid, their flat C-order index)."""
    voxel = _flat_or_minus_one(ijk, shape)
    inside = voxel >= 0
    return inside, voxel[inside]


def _flat_or_minus_one(ijk: np.ndarray, shape: Sequence[int]) -> np.ndarray:
    """The flat C-order index of each row of ijk, -1 off the grid."""
    d0, d1, d2 = (int(n) for n in shape[:3])
    ijk = np.asarray(ijk, dtype=np.int64)
    # one unsigned comparison per axis: a negative index wraps to a huge one
    u = ijk.view(np.uint64)
    inside = (u[:, 0] < d0) & (u[:, 1] < d1) & (u[:, 2] < d2)
    flat = (ijk[:, 0] * d1 + ijk[:, 1]) * d2 + ijk[:, 2]
    return np.where(inside, flat, -1)


def visit_pairs(
    streamline: np.ndarray, voxel: np.ndarray, n_voxels: int
) -> tuple[np.ndarray, np.ndarray]:
    """Sorted unique (streamline, voxel) pairs; negative voxels (off the grid) are left out.

    Parameters
    ----------
    streamline, voxel : numpy.ndarray, shape (P,)
        The streamline of each point and the flat index of its voxel (or -1).
    n_voxels : int
        The grid's number of voxels.

    Returns
    -------
    streamline, voxel : numpy.ndarray, int64
        Each pair once, sorted by streamline, then voxel.
    """
    keep = voxel >= 0
    keys = np.asarray(streamline, dtype=np.int64)[keep] * n_voxels + voxel[keep]
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
    flat, _ = point_voxels(pts, affine, shape)
    return visit_pairs(owner, flat, int(np.prod(shape[:3])))


def point_voxels(
    points: np.ndarray, affine: ArrayLike, shape: Sequence[int]
) -> tuple[np.ndarray, np.ndarray]:
    """The voxel ``tckmap`` puts each point in, and whether ``tckedit`` may disagree.

    Parameters
    ----------
    points : numpy.ndarray, shape (P, 3)
        World mm (RAS+); used as float32, as MRtrix reads them.
    affine : array_like, shape (4, 4)
        The grid's voxel-to-world affine.
    shape : sequence of int
        The grid's shape.

    Returns
    -------
    voxel : numpy.ndarray, shape (P,), int64
        The flat (C-order) index of the voxel nearest to each point, computed on
        the whole grid in float32 (``tckmap``); -1 off the grid.
    near_face : numpy.ndarray, shape (P,), bool
        The point lies within a few float32 steps of a voxel face, on or next to
        the grid: ``tckedit -include``, which computes on a cropped grid
        (:func:`roi_voxels`), may put it in the neighbouring voxel. Elsewhere the
        two always agree.
    """
    pts = np.asarray(points, dtype=np.float32).reshape(-1, 3)
    realigned, flipped = _mrtrix_frame(affine, shape)
    rotation, shift = _scanner_to_voxel(realigned)
    q = _linear(pts, rotation)
    v = q + shift
    rounded = _round_half_away(v)
    ijk = rounded.astype(np.int64)
    dims = np.asarray(shape[:3], dtype=np.int64)
    # faces sit halfway between voxel centres
    near = _near_faces(q, np.float32(0.5) - np.abs(v - rounded), ijk, shift, dims)
    for axis in np.flatnonzero(flipped):
        ijk[:, axis] = dims[axis] - 1 - ijk[:, axis]
    return _flat_or_minus_one(ijk, shape), near


def roi_crop(
    voxels: ArrayLike, affine: ArrayLike, shape: Sequence[int]
) -> tuple[np.ndarray, np.ndarray]:
    """The part of the grid ``tckedit`` keeps of an ROI mask: its bounding box plus one voxel.

    MRtrix3 (``Mask::__get_mask``) copies an ROI image to the box from one voxel
    before its first non-zero voxel to one voxel after its last (within the
    image), along each axis of its RAS-realigned frame.

    Parameters
    ----------
    voxels : array_like of int
        Flat (C-order) indices of the mask's non-zero voxels.
    affine, shape
        The grid.

    Returns
    -------
    origin, size : numpy.ndarray, shape (3,), int64
        The box's first voxel and its size, in MRtrix's realigned frame (axes
        that point left, posterior or inferior flipped).

    Raises
    ------
    ArgumentError
        The mask is empty (``tckedit`` refuses it too).
    """
    flat = np.asarray(voxels, dtype=np.int64).reshape(-1)
    if len(flat) == 0:
        raise ArgumentError(
            "an empty ROI mask has no bounding box", hint="give a mask with a non-zero voxel"
        )
    dims = np.asarray(shape[:3], dtype=np.int64)
    ijk = np.stack(np.unravel_index(flat, tuple(dims)), axis=1)
    _, flipped = _mrtrix_frame(affine, shape)
    ijk[:, flipped] = dims[flipped] - 1 - ijk[:, flipped]
    low, high = ijk.min(axis=0), ijk.max(axis=0)
    origin = np.maximum(low - 1, 0)
    size = np.minimum(dims - origin, high + 2 - origin)
    return origin, size


def roi_voxels(
    points: np.ndarray,
    affine: ArrayLike,
    shape: Sequence[int],
    origin: ArrayLike,
    size: ArrayLike,
) -> np.ndarray:
    """The voxel ``tckedit -include`` tests for each point, against a mask cropped to a box.

    Parameters
    ----------
    points : numpy.ndarray, shape (P, 3)
        World mm (RAS+), used as float32.
    affine, shape
        The mask's (whole) grid.
    origin, size : array_like, shape (3,)
        The box the mask is cropped to (:func:`roi_crop`).

    Returns
    -------
    numpy.ndarray, shape (P,), int64
        The flat (C-order) index on the whole grid of the voxel nearest to each
        point, computed in float32 on the cropped grid as MRtrix does; -1 for a
        point outside the box (``tckedit`` then finds it outside the mask).
    """
    pts = np.asarray(points, dtype=np.float32).reshape(-1, 3)
    realigned, flipped = _mrtrix_frame(affine, shape)
    origin = np.asarray(origin, dtype=np.int64)
    rotation, shift = _scanner_to_voxel(realigned, origin)
    local = _round_half_away(_linear(pts, rotation) + shift).astype(np.int64)
    inside = np.all((local >= 0) & (local < np.asarray(size, dtype=np.int64)), axis=1)
    dims = np.asarray(shape[:3], dtype=np.int64)
    ijk = local[inside] + origin
    ijk[:, flipped] = dims[flipped] - 1 - ijk[:, flipped]
    out = np.full(len(pts), -1, dtype=np.int64)
    out[inside] = (ijk[:, 0] * dims[1] + ijk[:, 1]) * dims[2] + ijk[:, 2]
    return out


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
    return visit_pairs(who[inside], flat, n_voxels)
