"""Synthetic tractograms for the tractography and structural mapping tests.

Straight lines and circular arcs across the MNI box, a share of them aimed
through a lesion, and a few awkward ones (one point, two points, leaving the
grid, a repeated point). Coordinates are odd multiples of 1/512 mm: exact in
float32, exact after the TrackVis voxel-mm round trip, and never exactly on a
voxel boundary of the standard MNI grids (boundaries lie on whole millimetres,
or half millimetres), so that rounding conventions cannot make two correct
implementations disagree.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import nibabel as nib
import numpy as np
from nibabel.streamlines import ArraySequence, Field, TckFile, Tractogram, TrkFile

#: The box (world mm) the streamlines mostly stay in: the MNI brain's.
BOX_LOW = np.array([-70.0, -100.0, -50.0])
BOX_HIGH = np.array([70.0, 70.0, 75.0])


def quantise(points: np.ndarray) -> np.ndarray:
    """``points`` moved to the nearest odd multiple of 1/512 mm, as float32."""
    return ((np.floor(np.asarray(points, dtype=np.float64) * 256.0) * 2.0 + 1.0) / 512.0).astype(
        np.float32
    )


def _unit(rng: np.random.Generator, n: int) -> np.ndarray:
    v = rng.normal(size=(n, 3))
    return v / np.linalg.norm(v, axis=1, keepdims=True)


def _line(start: np.ndarray, direction: np.ndarray, length: float, step: float) -> np.ndarray:
    t = np.arange(0.0, length + 1e-9, step)
    return start + t[:, None] * direction


def _arc(
    rng: np.random.Generator, centre: np.ndarray, radius: float, span: float, step: float
) -> np.ndarray:
    u = _unit(rng, 1)[0]
    w = np.cross(u, _unit(rng, 1)[0])
    w /= np.linalg.norm(w)
    start = rng.uniform(0, 2 * np.pi)
    angles = start + np.arange(0.0, span + 1e-9, step / radius)
    return centre + radius * (np.cos(angles)[:, None] * u + np.sin(angles)[:, None] * w)


def synthetic_streamlines(
    n: int = 3000,
    *,
    seed: int = 0,
    step: float = 1.0,
    through: Sequence[float] = (-40.0, -10.0, 20.0),
    through_share: float = 0.25,
    awkward: bool = True,
) -> list[np.ndarray]:
    """``n`` streamlines (float32, world mm): lines, arcs, some through ``through``.

    Parameters
    ----------
    n : int
        How many lines and arcs (the awkward ones come on top).
    seed : int
        The random seed.
    step : float
        The distance (mm) between consecutive points.
    through : sequence of float
        A point (a lesion's centre) that ``through_share`` of the lines pass near.
    through_share : float
        The share of lines aimed at ``through``.
    awkward : bool
        Add a one-point, a two-point, a repeated-point and a grid-leaving streamline.
    """
    rng = np.random.default_rng(seed)
    out: list[np.ndarray] = []
    target = np.asarray(through, dtype=np.float64)
    for i in range(n):
        kind = rng.uniform()
        if kind < through_share:
            direction = _unit(rng, 1)[0]
            length = rng.uniform(40, 120)
            middle = target + rng.uniform(-6, 6, size=3)
            pts = _line(middle - direction * length / 2, direction, length, step)
        elif kind < 0.65:
            start = rng.uniform(BOX_LOW, BOX_HIGH)
            pts = _line(start, _unit(rng, 1)[0], rng.uniform(20, 110), step)
        else:
            centre = rng.uniform(BOX_LOW + 20, BOX_HIGH - 20)
            pts = _arc(rng, centre, rng.uniform(15, 50), rng.uniform(0.6, 3.0), step)
        out.append(quantise(pts))
        del i
    if awkward:
        out.append(quantise(target[None, :] + 0.3))
        out.append(quantise(np.array([target - 1.3, target + 2.1])))
        doubled = _line(target - 20, np.array([0.0, 0.6, 0.8]), 40, step)
        out.append(quantise(np.insert(doubled, 10, doubled[10], axis=0)))
        out.append(
            quantise(_line(np.array([60.0, 0.0, 10.0]), np.array([1.0, 0.0, 0.0]), 80, step))
        )
    return out


def write_tck(path: Path, streamlines: list[np.ndarray], step_size: float | None = None) -> Path:
    """Write streamlines (world mm) as an MRtrix3 .tck file; ``step_size`` goes in the header."""
    header = {} if step_size is None else {"step_size": f"{step_size:g}"}
    TckFile(Tractogram(streamlines, affine_to_rasmm=np.eye(4)), header=header).save(str(path))
    return path


def write_trk(
    path: Path, streamlines: list[np.ndarray], shape: Sequence[int], affine: np.ndarray
) -> Path:
    """Write streamlines (world mm) as a TrackVis .trk file with the grid ``(shape, affine)``."""
    header = {
        Field.VOXEL_TO_RASMM: np.asarray(affine, dtype=np.float64),
        Field.DIMENSIONS: tuple(int(s) for s in shape[:3]),
        Field.VOXEL_SIZES: tuple(float(v) for v in np.sqrt((affine[:3, :3] ** 2).sum(0))),
        Field.VOXEL_ORDER: "".join(nib.aff2axcodes(affine)),
    }
    TrkFile(Tractogram(streamlines, affine_to_rasmm=np.eye(4)), header=header).save(str(path))
    return path


def as_array_sequence(streamlines: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """(points, offsets) of a list of streamlines, the layout of a chunk."""
    seq = ArraySequence(streamlines)
    offsets = np.zeros(len(streamlines) + 1, dtype=np.int64)
    np.cumsum([len(s) for s in streamlines], out=offsets[1:])
    return np.asarray(seq.get_data(), dtype=np.float32).reshape(-1, 3), offsets


def bundles(
    centres: Sequence[Sequence[float]],
    pairs: Sequence[tuple[int, int]],
    per_pair: int = 12,
    *,
    seed: int = 0,
    step: float = 1.0,
    spread_mm: float = 4.0,
) -> list[np.ndarray]:
    """Straight streamlines between pairs of ``centres``, ends scattered by ``spread_mm``."""
    rng = np.random.default_rng(seed)
    out = []
    for a, b in pairs:
        for _ in range(per_pair):
            start = np.asarray(centres[a], float) + rng.uniform(-spread_mm, spread_mm, 3)
            end = np.asarray(centres[b], float) + rng.uniform(-spread_mm, spread_mm, 3)
            length = float(np.linalg.norm(end - start))
            n = max(2, int(np.ceil(length / step)) + 1)
            out.append(quantise(np.linspace(start, end, n)))
    return out


def face_streamlines(
    low_mm: Sequence[float],
    high_mm: Sequence[float],
    *,
    per_face: int = 3,
    step: float = 1.0,
    seed: int = 0,
) -> list[np.ndarray]:
    """Straight streamlines running along the faces of a box, one float32 step off each face.

    For every axis, for both faces of the box on it (world mm ``low_mm[axis]``
    and ``high_mm[axis]``, e.g. the outer faces of a box lesion's voxels) and
    for both sides of each face (the float32 number just below it and just
    above it), ``per_face`` lines keep that coordinate and cross the box along
    another axis. Their other coordinates are quantised (:func:`quantise`), so
    that only the chosen one lies next to a voxel face. Such points are where
    single-precision rounding decides the voxel: they are a float32 step from the
    face, but on a grid whose voxel coordinates are larger than the world ones
    (e.g. 2 mm MNI, near the middle of the brain) they round onto it.
    """
    rng = np.random.default_rng(seed)
    low, high = np.asarray(low_mm, dtype=np.float64), np.asarray(high_mm, dtype=np.float64)
    centre = (low + high) / 2
    out = []
    for axis in range(3):
        along, across = [a for a in range(3) if a != axis]
        for face in (low[axis], high[axis]):
            for side in (-np.inf, np.inf):
                value = np.nextafter(np.float32(face), np.float32(side))
                for _ in range(per_face):
                    t = np.arange(-25.0, 25.0 + 1e-9, step) + rng.uniform(0, step)
                    pts = np.empty((len(t), 3))
                    pts[:, along] = centre[along] + t
                    pts[:, across] = rng.uniform(low[across], high[across])
                    pts[:, axis] = 0.0
                    pts = quantise(pts)
                    pts[:, axis] = value
                    out.append(pts)
    return out
