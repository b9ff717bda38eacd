"""Streamline endpoints to regions, and streamline counts between regions.

A streamline connects the regions its two ends are assigned to. The assignment
is MRtrix3 ``tck2connectome``'s default, the radial search: the region of the
labelled voxel whose centre lies nearest to the endpoint, if that centre is
closer than ``radius_mm`` (4 mm by default); otherwise the end is unassigned
(label 0). With ``radius_mm=0`` only the voxel holding the endpoint counts
(``-assignment_end_voxels``). A k-d tree over the labelled voxel centres finds
the nearest one for all endpoints at once.

The counts between regions follow ``tck2connectome -symmetric -zero_diagonal``:
a streamline with both ends assigned adds one to the entry of its pair of
regions (both orders), one whose ends fall in the same region adds nothing, and
one with an unassigned end is left out.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from numpy.typing import ArrayLike
from scipy.spatial import cKDTree

from neuratlas.errors import ArgumentError

__all__ = ["DEFAULT_RADIUS_MM", "assign_endpoints", "connection_counts"]

#: tck2connectome's default search radius (mm).
DEFAULT_RADIUS_MM = 4.0


def _nearest_voxel_labels(ends: np.ndarray, labels: np.ndarray, affine: np.ndarray) -> np.ndarray:
    """The label of the voxel holding each point (0 off the grid), MRtrix's rounding."""
    inverse = np.linalg.inv(affine)
    v = ends @ inverse[:3, :3].T + inverse[:3, 3]
    ijk = np.trunc(v + np.copysign(0.5, v)).astype(np.int64)
    dims = np.asarray(labels.shape)
    inside = np.all((ijk >= 0) & (ijk < dims), axis=1)
    out = np.zeros(len(ends), dtype=np.int64)
    good = ijk[inside]
    out[inside] = labels[good[:, 0], good[:, 1], good[:, 2]]
    return out


def assign_endpoints(
    endpoints: np.ndarray,
    labels: np.ndarray,
    affine: ArrayLike,
    radius_mm: float = DEFAULT_RADIUS_MM,
) -> np.ndarray:
    """The region label each streamline end is assigned to (0: none).

    Parameters
    ----------
    endpoints : numpy.ndarray, shape (streamlines, 2, 3)
        First and last point of each streamline, world mm (NaN for none).
    labels : numpy.ndarray, 3D, integer
        A labelled parcellation on a grid (0 = background).
    affine : array_like, shape (4, 4)
        That grid's voxel-to-world affine.
    radius_mm : float
        The radial search's radius; 0 for the endpoint's own voxel only.

    Returns
    -------
    numpy.ndarray, shape (streamlines, 2), int64
    """
    if radius_mm < 0 or not np.isfinite(radius_mm):
        raise ArgumentError(f"the search radius is {radius_mm} mm; give 0 or more")
    labels = np.asarray(labels)
    affine = np.asarray(affine, dtype=np.float64)
    ends = np.asarray(endpoints, dtype=np.float64).reshape(-1, 3)
    out = np.zeros(len(ends), dtype=np.int64)
    known = np.all(np.isfinite(ends), axis=1)
    if radius_mm == 0:
        out[known] = _nearest_voxel_labels(ends[known], labels, affine)
        return out.reshape(-1, 2)
    labelled = np.argwhere(labels != 0)
    if len(labelled) == 0:
        return out.reshape(-1, 2)
    centres = labelled @ affine[:3, :3].T + affine[:3, 3]
    tree = cKDTree(centres)
    distance, nearest = tree.query(ends[known], k=1, distance_upper_bound=radius_mm)
    # MRtrix keeps a node strictly closer than the radius
    found = np.isfinite(distance) & (distance < radius_mm)
    node = np.zeros(len(distance), dtype=np.int64)
    hit = labelled[nearest[found]]
    node[found] = labels[hit[:, 0], hit[:, 1], hit[:, 2]]
    out[known] = node
    return out.reshape(-1, 2)


def connection_counts(
    nodes: np.ndarray, region_labels: Sequence[int], streamlines: ArrayLike | None = None
) -> np.ndarray:
    """Streamlines between each pair of regions: symmetric, zero diagonal.

    Parameters
    ----------
    nodes : numpy.ndarray, shape (streamlines, 2)
        The label each end is assigned to (:func:`assign_endpoints`).
    region_labels : sequence of int
        The regions' labels, in the order of the matrix's rows.
    streamlines : array_like of int or bool, optional
        Only these streamlines (indices, or a mask over all); all by default.

    Returns
    -------
    numpy.ndarray, shape (regions, regions), int64
    """
    nodes = np.asarray(nodes)
    if streamlines is not None:
        nodes = nodes[np.asarray(streamlines)]
    keys = np.asarray(region_labels, dtype=np.int64)
    n = len(keys)
    if n == 0:
        return np.zeros((0, 0), dtype=np.int64)
    order = np.argsort(keys)
    # label -> row, or -1 for 0 and for labels that are no region of the list
    pos = np.minimum(np.searchsorted(keys[order], nodes), n - 1)
    row = np.where(keys[order][pos] == nodes, order[pos], -1)
    a, b = row[:, 0], row[:, 1]
    keep = (a >= 0) & (b >= 0) & (a != b)
    a, b = a[keep], b[keep]
    flat = np.concatenate([a * n + b, b * n + a])
    return np.bincount(flat, minlength=n * n).reshape(n, n)
