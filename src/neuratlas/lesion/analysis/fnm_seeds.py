"""Seed time courses of lesions in a connectome subject: Boes's mean and Pini's selection.

``boes`` (Boes et al. 2015): the seed is the mean time course of the lesion's
voxels. ``pini`` (Pini et al. 2020): the same mean, over the lesion voxels that
represent the lesion best. As lacuna defines it: in every subject, correlate each
lesion voxel's time course with the lesion's mean time course; across subjects,
the first principal component of these correlations (subjects x voxels, centred
per voxel) weights the voxels; the voxels whose absolute loading reaches the
``pini_percentile``-th percentile of all loadings are kept. Lacuna runs the PCA
separately on each batch file of a connectome, so its choice depends on how the
connectome was split; here it runs once on all subjects (the same as lacuna's for
a single-file connectome).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

__all__ = [
    "mean_time_courses",
    "pini_selection",
    "seed_voxel_correlations",
    "unit_seeds",
]


def mean_time_courses(series: np.ndarray, columns: Sequence[np.ndarray]) -> np.ndarray:
    """The mean time course of each set of columns, in float64.

    Parameters
    ----------
    series : ndarray, shape (T, n)
        One subject's time series (float32).
    columns : sequence of ndarray of int
        The columns of each seed (none empty).

    Returns
    -------
    ndarray, shape (len(columns), T)
    """
    out = np.empty((len(columns), series.shape[0]), dtype=np.float64)
    for row, cols in enumerate(columns):
        np.mean(series[:, cols], axis=1, dtype=np.float64, out=out[row])
    return out


def unit_seeds(seeds: np.ndarray) -> np.ndarray:
    """Seeds centred and scaled to unit norm, so that a dot product with unit voxels is r.

    A seed that does not vary (zero norm), or holds NaN, becomes all zeros: its
    correlation with every voxel is 0, as lacuna makes it.
    """
    centred = seeds - seeds.mean(axis=1, keepdims=True)
    # row by row, the same sums whatever the number of seeds
    norm = np.sqrt((centred * centred).sum(axis=1))[:, None]
    return np.divide(centred, norm, out=np.zeros_like(centred), where=norm > 0)


def seed_voxel_correlations(series: np.ndarray) -> np.ndarray:
    """The correlation of each column's time course with the mean of all columns.

    Parameters
    ----------
    series : ndarray, shape (T, n)
        The lesion voxels' time courses in one subject.

    Returns
    -------
    ndarray, shape (n,), float64
        0 for a voxel (or a mean) that does not vary.
    """
    x = series.astype(np.float64)
    x -= x.mean(axis=0)
    mean = x.mean(axis=1)  # the centred mean time course
    cov = mean @ x
    scale = np.sqrt(np.einsum("tv,tv->v", x, x)) * np.sqrt(mean @ mean)
    return np.divide(cov, scale, out=np.zeros_like(cov), where=scale > 0)


def pini_selection(correlations: np.ndarray, percentile: float) -> np.ndarray:
    """Which lesion voxels Pini's method keeps.

    Parameters
    ----------
    correlations : ndarray, shape (subjects, n)
        :func:`seed_voxel_correlations` of every subject.
    percentile : float
        0-100: voxels whose absolute first-component loading is at least this
        percentile of all loadings are kept (20 keeps about 80 % of them).

    Returns
    -------
    ndarray of bool, shape (n,)
        All True when the correlations do not vary across subjects (no component).
    """
    centred = correlations - correlations.mean(axis=0)
    if not np.any(centred):
        return np.ones(correlations.shape[1], dtype=bool)
    # the first right singular vector, from the eigenvectors of the smaller Gram matrix
    n_subjects, n_voxels = centred.shape
    if n_subjects <= n_voxels:
        _, vectors = np.linalg.eigh(centred @ centred.T)
        loadings = vectors[:, -1] @ centred  # proportional to the loadings: enough to rank
    else:
        _, vectors = np.linalg.eigh(centred.T @ centred)
        loadings = vectors[:, -1]
    magnitude = np.abs(loadings)
    return magnitude >= np.percentile(magnitude, percentile)
