"""Group statistics of functional network maps, accumulated one subject at a time.

Functional lesion network mapping correlates a seed time course with every voxel
in each connectome subject, Fisher-transforms the correlations and tests their
mean across subjects against zero (one-sample t-test), as lacuna does. The maps
of all subjects are never held together: :class:`RunningMoments` keeps, for many
lesions at once, the running mean and sum of squared deviations of the z values
(Welford's update in float64, stable whatever the number of subjects and the
offset of the values); :func:`group_maps` turns them into the r, z, t, p and
FDR-corrected p maps at the end.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import special

from neuratlas.errors import ArgumentError

__all__ = [
    "R_LIMIT",
    "Z_LIMIT",
    "GroupMaps",
    "RunningMoments",
    "fdr_bh",
    "fisher_z",
    "group_maps",
]

#: Largest |z| a correlation is given: |r| = 1 (a voxel that *is* the seed) maps to it,
#: as it does in lacuna's single-lesion path, instead of an infinity that would poison
#: the mean of every subject.
Z_LIMIT = 10.0
#: |r| at which z reaches :data:`Z_LIMIT` (1 - 4e-9).
R_LIMIT = float(np.tanh(Z_LIMIT))


def fisher_z(r: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    """Fisher's z, ``arctanh(r)``, with |r| clipped at :data:`R_LIMIT` so that |z| <= 10.

    Parameters
    ----------
    r : ndarray
        Correlations; rounding may have pushed some a hair beyond ±1.
    out : ndarray, optional
        Where to write z (may be ``r`` itself).

    Returns
    -------
    ndarray
        z, finite everywhere.
    """
    clipped = np.clip(r, -R_LIMIT, R_LIMIT, out=out)
    return np.arctanh(clipped, out=clipped)


class RunningMoments:
    """Running mean and sum of squared deviations of ``(n_maps, n_voxels)`` maps over subjects.

    Welford's update, in float64: after each subject, ``mean`` is the mean of the
    values so far and ``m2`` the sum of their squared deviations from it. Unlike
    sums of values and of squares, neither loses precision when the values sit
    far from zero or the subjects number thousands.

    A subject's map may come in voxel blocks: call :meth:`start_subject` once,
    then :meth:`update` with each block.

    Parameters
    ----------
    n_maps : int
        Maps updated together (one per lesion).
    n_voxels : int
        Values per map.
    """

    def __init__(self, n_maps: int, n_voxels: int) -> None:
        self.count = 0
        self.mean = np.zeros((n_maps, n_voxels), dtype=np.float64)
        self.m2 = np.zeros((n_maps, n_voxels), dtype=np.float64)

    def start_subject(self) -> None:
        """Count one more subject; its values follow through :meth:`update`."""
        self.count += 1

    def update(self, values: np.ndarray, start: int = 0) -> None:
        """Add the current subject's values of voxels ``start:start + values.shape[1]``.

        Parameters
        ----------
        values : ndarray, shape (n_maps, n)
            float64; overwritten (used as scratch space).
        start : int
            The first voxel of the block.
        """
        if self.count < 1:
            raise ArgumentError("start_subject() must be called before update()")
        stop = start + values.shape[1]
        mean = self.mean[:, start:stop]
        delta = values - mean
        mean += delta / self.count
        values -= mean  # x - new mean
        values *= delta  # (x - old mean)(x - new mean): Welford's increment of m2
        self.m2[:, start:stop] += values

    def variance(self) -> np.ndarray:
        """The sample variance (``ddof=1``) of each value; needs at least two subjects."""
        if self.count < 2:
            raise ArgumentError(f"a variance needs two subjects, got {self.count}")
        return self.m2 / (self.count - 1)


def fdr_bh(p: np.ndarray) -> np.ndarray:
    """Benjamini-Hochberg adjusted p-values (q-values) of a 1D array of p-values.

    ``q_(i) = min_{j >= i} p_(j) n / j`` over the sorted p-values, capped at 1; a
    voxel is significant at FDR level alpha when its q is below alpha.
    """
    p = np.asarray(p, dtype=np.float64)
    n = p.size
    if n == 0:
        return p.copy()
    order = np.argsort(p)  # ties get equal q whatever their order
    adjusted = p[order] * (n / np.arange(1, n + 1))
    adjusted = np.minimum.accumulate(adjusted[::-1])[::-1]
    np.clip(adjusted, 0.0, 1.0, out=adjusted)
    q = np.empty_like(adjusted)
    q[order] = adjusted
    return q


@dataclass(frozen=True)
class GroupMaps:
    """The group maps of one lesion, one value per connectome voxel (float64).

    ``rmap`` is ``tanh`` of the mean z (the correlation of the mean z), ``zmap``
    the mean z, ``tmap`` the one-sample t of z against 0 (0 where z does not vary
    across subjects), ``pmap`` its two-sided p, ``pfdrmap`` the BH-adjusted p.
    """

    rmap: np.ndarray
    zmap: np.ndarray
    tmap: np.ndarray
    pmap: np.ndarray | None
    pfdrmap: np.ndarray | None
    n_subjects: int


def group_maps(
    mean_z: np.ndarray, m2: np.ndarray, n_subjects: int, *, p_values: bool, fdr: bool
) -> GroupMaps:
    """The r, z, t, p and FDR maps of one lesion from its running moments.

    Parameters
    ----------
    mean_z, m2 : ndarray, shape (V,)
        Mean and sum of squared deviations of z over the subjects.
    n_subjects : int
        How many subjects (at least 2).
    p_values : bool
        Compute the two-sided p map (Student's t, ``n_subjects - 1`` degrees of freedom).
    fdr : bool
        Compute the Benjamini-Hochberg adjusted p map too (needs ``p_values``).
    """
    if n_subjects < 2:
        raise ArgumentError(f"group statistics need two subjects, got {n_subjects}")
    sd = np.sqrt(m2 / (n_subjects - 1))
    se = sd / np.sqrt(n_subjects)
    # t = 0 where z does not vary (lacuna's convention): no evidence either way
    t = np.divide(mean_z, se, out=np.zeros_like(mean_z), where=se > 0)
    p = q = None
    if p_values:
        p = 2.0 * special.stdtr(n_subjects - 1, -np.abs(t))
        if fdr:
            q = fdr_bh(p)
    return GroupMaps(np.tanh(mean_z), mean_z, t, p, q, n_subjects)
