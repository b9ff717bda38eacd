"""The assignment table: its columns, each defined once, and the sums they come from.

Every input structure ``I`` (a point, a Gaussian blob around an uncertain point,
or one connected component of an image) is compared with every region map ``M``
it overlaps, on the map's voxel grid. For a labelled map ``M`` is the region's
binary mask; for a statistical map it is the region's map (e.g. probabilities).
Map values at or below ``lower_threshold`` count as 0. Sums run over all voxels;
``n`` is the number of voxels in the union of the supports of ``I`` and ``M``.

The columns, the same for labelled and statistical maps:

``input structure``
    Index of the input structure (the point's index, or the image component's).
``centroid``
    Centroid of the input structure, in mm (the point itself for points).
``volume``
    Volume of the input structure in mm³ (0 for an exact point).
``fragment``
    The map fragment (e.g. hemisphere of a surface map), else ``None``.
``region``
    The region's name.
``map value``
    ``M`` at the voxel nearest to the input's centroid. For a labelled map derived
    from a statistical one (a maximum-probability map) it is the region's value
    in the statistical map there instead of 1: the label says which region is the
    most probable, the map value how probable it is.
``intersection over union``
    ``Σ min(I, M) / Σ max(I, M)`` (the Jaccard index for binary ``I`` and ``M``).
``correlation``
    Pearson correlation of ``I`` and ``M`` over the union of their supports;
    NaN where it is undefined (either is constant there, e.g. two identical
    binary masks).
``map weighted mean``
    ``Σ I·M / Σ M``: the mean of the input, weighted by the map.
``map containedness``
    ``Σ min(I, M) / Σ M``: how much of the region lies inside the input.
``input weighted mean``
    ``Σ I·M / Σ I``: the mean of the map, weighted by the input.
``input containedness``
    ``Σ min(I, M) / Σ I``: how much of the input lies inside the region.

Rows come ordered by input structure, then by region in the map's order.

An exact point (``sigma_mm == 0``) is a single voxel with ``I = 1``; a point with
``sigma_mm > 0`` is the Gaussian ``I = exp(-d² / 2σ²)`` (peak 1), cut at 3σ; an
image component carries the image's values (NaN counts as 0; only positive
values form components).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

COLUMNS = [
    "input structure",
    "centroid",
    "volume",
    "fragment",
    "region",
    "map value",
    "intersection over union",
    "correlation",
    "map weighted mean",
    "map containedness",
    "input weighted mean",
    "input containedness",
]


@dataclass
class Sums:
    """The sums every column is computed from, one entry per (structure, region) row.

    ``i`` refers to the input, ``m`` to the region map, ``im`` to their overlap.
    """

    s_i: np.ndarray  # Σ I
    s_i2: np.ndarray  # Σ I²
    n_i: np.ndarray  # |supp I|
    s_m: np.ndarray  # Σ M
    s_m2: np.ndarray  # Σ M²
    n_m: np.ndarray  # |supp M|
    s_im: np.ndarray  # Σ I·M
    s_min: np.ndarray  # Σ min(I, M)
    n_im: np.ndarray  # |supp I ∩ supp M|


def overlap_columns(s: Sums) -> dict[str, np.ndarray]:
    """Compute the comparison columns from the sums: the single definition of each.

    Returns
    -------
    dict of ndarray
        ``intersection over union``, ``correlation``, ``map weighted mean``,
        ``map containedness``, ``input weighted mean``, ``input containedness``.
    """
    with np.errstate(divide="ignore", invalid="ignore"):
        s_max = s.s_i + s.s_m - s.s_min
        n = s.n_i + s.n_m - s.n_im
        cov = n * s.s_im - s.s_i * s.s_m
        var = (n * s.s_i2 - s.s_i**2) * (n * s.s_m2 - s.s_m**2)
        correlation = np.where(var > 0, cov / np.sqrt(np.where(var > 0, var, 1.0)), np.nan)
        return {
            "intersection over union": s.s_min / s_max,
            "correlation": np.clip(correlation, -1.0, 1.0),
            "map weighted mean": s.s_im / s.s_m,
            "map containedness": s.s_min / s.s_m,
            "input weighted mean": s.s_im / s.s_i,
            "input containedness": s.s_min / s.s_i,
        }
