"""Values per region: the damage a lesion does to each region, or any map summarised per region.

:class:`ParcelAggregation` summarises a voxel map (the lesion mask, or a map an
earlier analysis made, such as ``FunctionalNetworkMapping.rmap``) over the
regions of one or more parcellations; :class:`RegionalDamage` is its most asked
question: what percentage of each region the lesion covers.

**Definitions.** With ``w[v, r]`` the membership of voxel ``v`` in region ``r``
(1 or 0 in a labelled map, the probability in a statistical map, on the
lesion's grid: see :mod:`neuratlas.lesion.parcels`) and ``x[v]`` the map's value:

- ``sum``: ``Σ_v w x``; ``mean``: ``Σ_v w x / Σ_v w``; ``std``: the weighted
  population standard deviation around that mean; ``median``: the weighted
  median (the smallest value at which the cumulative weight reaches half).
- ``percent``: ``100 Σ_v w [x ≠ 0] / Σ_v w``, the share of the region where the
  map is non-zero; for a lesion mask, the share of the region destroyed. In a
  statistical map this is the probability-weighted share: a lesion over voxels
  where the region is likely counts more than one over its fringe, and a lesion
  over the whole brain gives 100 %.
- ``volume``: ``Σ_v w [x ≠ 0]`` times the voxel volume, in mm³.

A region with no voxel on the grid gets NaN (nothing to summarise), never 0.
For labelled maps and binary masks these are lacuna's numbers (voxel counts).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from scipy import sparse

from neuratlas.catalogue import active
from neuratlas.errors import ArgumentError, LesionError, NotFoundError
from neuratlas.lesion.analysis.base import Analysis
from neuratlas.lesion.parcels import Parcels, parcels_on_grid
from neuratlas.lesion.results import ParcelData, Result, VoxelMap, bids_label, result_key
from neuratlas.lesion.spaces import resolve_space
from neuratlas.lesion.subject import SubjectData
from neuratlas.matching import closest
from neuratlas.volumes.grid import voxel_volume_mm3

__all__ = ["AGGREGATIONS", "ParcelAggregation", "RegionalDamage"]

#: The summaries ParcelAggregation knows.
AGGREGATIONS = ("mean", "sum", "percent", "volume", "median", "std")
#: The source that means the lesion mask itself.
MASK_SOURCE = "maskimg"


def _parcellation_list(parcellation: Any) -> list[Any]:
    if parcellation is None:
        raise ArgumentError(
            "no parcellation given",
            hint="name one, e.g. parcellation='Schaefer 2018 400 parcels 7 networks'",
        )
    if isinstance(parcellation, str | tuple) or not isinstance(parcellation, Sequence):
        return [parcellation]
    return list(parcellation)


def _check_parcellation(parcellation: Any) -> None:
    """Fail at once, before any subject is read, on a name or file that cannot be used."""
    if isinstance(parcellation, str):
        active().parcellations.get(parcellation)  # NotFoundError with suggestions
    elif isinstance(parcellation, tuple):
        if len(parcellation) != 2:
            raise ArgumentError(
                f"a user atlas is an (image, labels file) pair, got {len(parcellation)} items"
            )
        for path in parcellation:
            if not Path(path).is_file():
                raise ArgumentError(f"{path}: no such file", hint="check the atlas's paths")


def _weighted_median(parcels: Parcels, x: np.ndarray) -> np.ndarray:
    coo = parcels.membership.tocoo()
    values, weights, regions = x[coo.row], coo.data, coo.col
    order = np.lexsort((values, regions))
    values, weights, regions = values[order], weights[order], regions[order]
    cumulative = np.cumsum(weights)
    n = len(parcels.region_names)
    start = np.searchsorted(regions, np.arange(n), side="left")
    stop = np.searchsorted(regions, np.arange(n), side="right")
    out = np.full(n, np.nan)
    for r in np.flatnonzero(stop > start):
        before = cumulative[start[r] - 1] if start[r] else 0.0
        half = before + (cumulative[stop[r] - 1] - before) / 2
        out[r] = values[start[r] + np.searchsorted(cumulative[start[r] : stop[r]], half - 1e-12)]
    return out


class ParcelAggregation(Analysis):
    """A voxel map summarised over the regions of one or more parcellations.

    Parameters
    ----------
    source : str or VoxelMap
        ``"maskimg"`` (the lesion mask), ``"<Analysis>.<result key>"`` (a map an
        earlier analysis put in the subject, e.g. ``"FunctionalNetworkMapping.desc-rmap"``),
        or a VoxelMap.
    aggregation : {"mean", "sum", "percent", "volume", "median", "std"}
        The summary; see the module's definitions.
    parcellation : str, Parcellation, (image, labels) pair, or a list of them
        Catalogue parcellations with a map in the subject's space, or a user's
        labelled NIfTI and labels file.

    Raises
    ------
    ArgumentError
        An unknown aggregation (listing the choices) or no parcellation.
    """

    def __init__(
        self,
        source: str | VoxelMap = MASK_SOURCE,
        aggregation: str = "mean",
        parcellation: Any = None,
    ) -> None:
        if aggregation not in AGGREGATIONS:
            near = closest(aggregation, AGGREGATIONS, n=1)
            raise ArgumentError(
                f"unknown aggregation {aggregation!r}; choose one of {', '.join(AGGREGATIONS)}",
                hint=f"did you mean {near[0]!r}?" if near else None,
            )
        self.source = source
        self.aggregation = aggregation
        self.parcellations = _parcellation_list(parcellation)
        for p in self.parcellations:
            _check_parcellation(p)

    def parameters(self) -> dict[str, Any]:
        source = self.source if isinstance(self.source, str) else f"VoxelMap:{self.source.name}"
        return {
            "source": source,
            "aggregation": self.aggregation,
            "parcellation": [
                p if isinstance(p, str | tuple) else getattr(p, "name", str(p))
                for p in self.parcellations
            ],
        }

    # --- inputs -----------------------------------------------------------------
    def _parcels(self, space: str, shape: tuple[int, ...], affine: np.ndarray) -> list[Parcels]:
        # parcels_on_grid keeps recent ones per process: no cache of our own
        return [parcels_on_grid(p, space, shape, affine) for p in self.parcellations]

    def _source_map(self, subject: SubjectData) -> tuple[str, np.ndarray, np.ndarray, str]:
        """(label, values, affine, space) of the map to summarise."""
        if isinstance(self.source, VoxelMap):
            img = self.source.data
            return (
                bids_label(self.source.name),
                np.asanyarray(img.dataobj),
                img.affine,
                self.source.space,
            )
        if self.source == MASK_SOURCE:
            return "lesion", subject.mask, subject.affine, subject.space
        namespace, dot, key = self.source.partition(".")
        if not dot:
            raise ArgumentError(
                f"source {self.source!r}: expected 'maskimg' or '<Analysis>.<result key>'",
                hint="e.g. source='FunctionalNetworkMapping.desc-rmap'",
            )
        try:
            found = subject.get_result(namespace, key, unwrap=False)
        except NotFoundError as exc:
            raise LesionError(
                f"{subject.subject_id}: source {self.source!r} is not among its results "
                f"({exc.message})",
                hint=f"run {namespace} first, or name one of its result keys",
            ) from None
        if isinstance(found, dict) or not isinstance(found, VoxelMap):
            raise LesionError(f"{subject.subject_id}: source {self.source!r} is not one voxel map")
        img = found.data
        return bids_label(key.split("-")[-1]), np.asanyarray(img.dataobj), img.affine, found.space

    # --- the summaries ------------------------------------------------------------
    def _summarise(self, parcels: Parcels, x: np.ndarray, affine: np.ndarray) -> np.ndarray:
        sizes = parcels.sizes
        with np.errstate(invalid="ignore", divide="ignore"):
            if self.aggregation in ("percent", "volume"):
                hit = parcels.region_sums((x != 0).astype(np.float64))
                if self.aggregation == "volume":
                    out = hit * voxel_volume_mm3(affine)
                    return np.where(sizes > 0, out, np.nan)
                return 100.0 * hit / sizes
            if self.aggregation == "median":
                return _weighted_median(parcels, x)
            total = parcels.region_sums(x)
            if self.aggregation == "sum":
                return np.where(sizes > 0, total, np.nan)
            mean = total / sizes
            if self.aggregation == "mean":
                return mean
            # std: weighted squared deviations from each region's own mean, summed
            coo = parcels.membership.tocoo()
            deviation = x[coo.row] - mean[coo.col]
            spread = np.bincount(coo.col, weights=coo.data * deviation**2, minlength=sizes.size)
            return np.sqrt(spread / sizes)

    def _results(
        self, label: str, per_parcels: list[tuple[Parcels, np.ndarray]]
    ) -> dict[str, Result]:
        out: dict[str, Result] = {}
        for parcels, values in per_parcels:
            desc = self.aggregation if label == "lesion" else f"{label}{self.aggregation}"
            key = result_key(atlas=parcels.name, desc=desc)
            out[key] = ParcelData(
                name=desc,
                data={n: float(v) for n, v in zip(parcels.region_names, values, strict=True)},
                region_labels=list(parcels.region_labels),
                parcel_names=[parcels.title],
                aggregation_method=self.aggregation,
                metadata={
                    "source": label,
                    "probabilistic": parcels.probabilistic,
                    "weights": "probability" if parcels.probabilistic else "voxel count",
                },
            )
        return out

    def compute(self, subject: SubjectData) -> dict[str, Result]:
        label, x, affine, space = self._source_map(subject)
        if x.ndim != 3:
            raise LesionError(
                f"{subject.subject_id}: source {label!r} is not a 3D map ({x.shape})"
            )
        parcels = self._parcels(space, x.shape, affine)
        flat = np.asarray(x, dtype=np.float64).reshape(-1)
        return self._results(label, [(p, self._summarise(p, flat, affine)) for p in parcels])


class RegionalDamage(ParcelAggregation):
    """The percentage of each region that the lesion covers.

    ``ParcelAggregation(source="maskimg", aggregation="percent")``; see the module
    for the probability-weighted definition used for statistical maps.

    Parameters
    ----------
    parcellation : str, Parcellation, (image, labels) pair, or a list of them
        Catalogue parcellations with a map in the lesion's space, or a user's
        labelled NIfTI and labels file.

    Examples
    --------
    >>> damage = RegionalDamage(parcellation="aal3")  # doctest: +SKIP
    >>> subject = damage.run(subject)  # doctest: +SKIP
    >>> subject.RegionalDamage["atlas-AAL3_desc-percent"]  # doctest: +SKIP
    """

    def __init__(self, parcellation: Any = None) -> None:
        super().__init__(source=MASK_SOURCE, aggregation="percent", parcellation=parcellation)

    def compute_batch(self, subjects: Sequence[SubjectData]) -> list[dict[str, Result]]:
        """All subjects on one grid in one sparse product per parcellation."""
        out: list[dict[str, Result] | None] = [None] * len(subjects)
        groups: dict[tuple, list[int]] = {}
        for i, s in enumerate(subjects):
            key = (resolve_space(s.space).id, s.shape, s.affine.round(6).tobytes())
            groups.setdefault(key, []).append(i)
        for members in groups.values():
            first = subjects[members[0]]
            parcels = self._parcels(first.space, first.shape, first.affine)
            voxels = [subjects[i].voxel_indices() for i in members]
            lesions = sparse.csc_matrix(
                (
                    np.ones(sum(v.size for v in voxels)),
                    np.concatenate(voxels),
                    np.concatenate([[0], np.cumsum([v.size for v in voxels])]),
                ),
                shape=(first.mask.size, len(members)),
            )
            per_parcels = []
            for p in parcels:
                with np.errstate(invalid="ignore", divide="ignore"):
                    per_parcels.append(100.0 * p.region_sums(lesions) / p.sizes[:, None])
            for column, i in enumerate(members):
                out[i] = self._results(
                    "lesion",
                    [(p, v[:, column]) for p, v in zip(parcels, per_parcels, strict=True)],
                )
        return out  # type: ignore[return-value]
