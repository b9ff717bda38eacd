"""Structural lesion network mapping: the white-matter disconnection a lesion causes.

A normative whole-brain tractogram is filtered to the streamlines that pass
through the lesion; their track density, divided by the whole tractogram's, is
the **disconnection map**: in each voxel, the share of the streamlines through
it that the lesion cuts (0 where no streamline passes). This is lacuna's
definition (``tckedit -include lesion``, ``tckmap -contrast tdi`` on the lesion's
grid, ``mrcalc ... -divide``), computed without MRtrix3 from a sparse
streamline x voxel incidence matrix built once per tractogram and grid
(:mod:`neuratlas.lesion.tractography`). By default the voxels a streamline
visits are MRtrix3's (``mapping="mrtrix"``): the numbers are MRtrix3's to the
voxel. ``mapping="exact"`` uses every voxel a streamline's segments pass through.

With a parcellation, streamline ends are assigned to regions as
``tck2connectome`` does by default (nearest labelled voxel within 4 mm), and:

- ``mask_connectivity_matrix``: streamlines between each pair of regions that
  the lesion cuts; ``full_connectivity_matrix``: all of them (symmetric, zero
  diagonal, ``tck2connectome -symmetric -zero_diagonal``);
- ``disconnectivity_percent``: ``100 * mask / full`` per pair (0 where ``full`` is 0);
- ``roi_disconnection``: per region, the percentage of its streamlines cut
  (row sums of ``mask`` over row sums of ``full``);
- with ``compute_disconnectivity_matrix=True``, ``intact_connectivity_matrix``:
  ``full - mask``, the streamlines left (lacuna's ``tckedit -exclude``).

Differences from lacuna, all deliberate: voxels that no streamline reaches are
0 in the disconnection map (``mrcalc`` writes 0/0 = NaN there, although
lacuna's documentation says 0); ``mask_streamline_count`` counts streamlines
(lacuna sums the lesion's track density, i.e. streamline-voxel visits); the
per-region disconnection is always given with a parcellation; edges are
counted once per region pair, and the degree reduction of a region is the
number of its connections whose every streamline is cut.
"""

from __future__ import annotations

import os
from collections import OrderedDict
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import nibabel as nib
import numpy as np
from scipy import sparse

from neuratlas.errors import ArgumentError, NotFoundError, SpaceMismatchError
from neuratlas.lesion.analysis.base import Analysis
from neuratlas.lesion.connectomes.registry import get_connectome
from neuratlas.lesion.parcels import Parcels, parcels_on_grid
from neuratlas.lesion.results import (
    ConnectivityMatrix,
    ParcelData,
    Result,
    ScalarMetric,
    VoxelMap,
    result_key,
)
from neuratlas.lesion.spaces import bids_space_label, resolve_space, same_space
from neuratlas.lesion.subject import SubjectData
from neuratlas.lesion.tractography.endpoints import (
    DEFAULT_RADIUS_MM,
    assign_endpoints,
    connection_counts,
)
from neuratlas.lesion.tractography.files import DEFAULT_CHUNK_POINTS, FORMATS, read_info
from neuratlas.lesion.tractography.incidence import Incidence, tractogram_incidence
from neuratlas.lesion.tractography.traversal import MAPPINGS
from neuratlas.matching import closest

__all__ = ["DEFAULT_SPACE", "StructuralNetworkMapping"]

#: The space of a tractogram given by path, unless told otherwise.
DEFAULT_SPACE = "MNI152NLin6Asym"
# lesions mapped per sparse product: bounds the (lesions x voxels) density matrix
_LESIONS_PER_PASS = 64
_GRIDS_KEPT = 2  # incidences kept in memory per analysis (a batch has one grid)


class _Grid:
    """What one grid needs, built once: the incidence, and the regions with their counts."""

    def __init__(self, incidence: Incidence, parcels: Parcels | None, radius_mm: float) -> None:
        self.incidence = incidence
        self.parcels = parcels
        self.nodes: np.ndarray | None = None
        self.full: np.ndarray | None = None
        if parcels is not None:
            labels = parcels.labels_volume()
            self.nodes = assign_endpoints(incidence.endpoints, labels, parcels.affine, radius_mm)
            self.full = connection_counts(self.nodes, parcels.region_labels)


def _resolve_tractogram(tractogram: str | os.PathLike[str], space: str | None) -> tuple[Path, str]:
    """(path, space) of a tractogram path or of a registered structural connectome's name."""
    path = Path(tractogram).expanduser()
    looks_like_file = any(path.name.lower().endswith(ext) for ext in FORMATS)
    if path.exists() or looks_like_file or os.sep in str(tractogram):
        read_info(path)  # a missing or damaged file fails here, not in the middle of a batch
        return path, space or DEFAULT_SPACE
    entry = get_connectome(str(tractogram))
    if entry.kind != "structural":
        raise ArgumentError(
            f"{entry.name!r} is a {entry.kind} connectome, not a tractogram",
            hint="give a structural connectome (a registered .tck/.trk) or a tractogram path",
        )
    read_info(entry.path)
    return entry.path, space or entry.space


class StructuralNetworkMapping(Analysis):
    """The white-matter disconnection a lesion causes, from a normative tractogram.

    Parameters
    ----------
    tractogram : str or path-like
        A .tck or .trk file (world mm), or the name of a registered structural
        connectome (:func:`neuratlas.lesion.connectomes.registry.get_connectome`).
    parcellation : str, Parcellation, (image, labels) pair or Parcels, optional
        Regions for the disconnection matrices: a catalogue parcellation with a
        labelled map in the tractogram's space, a user's labelled NIfTI and its
        labels file, or :class:`~neuratlas.lesion.parcels.Parcels` on the lesion's grid.
    space : str, optional
        The tractogram's space; lesions must be in it. By default the registered
        connectome's space, or MNI152NLin6Asym for a path.
    compute_disconnectivity_matrix : bool
        Also give the intact connectivity matrix (streamlines the lesion spares).
    keep_intermediate : bool
        Also give the lesion's track density image (``mask_tdi``).
    mapping : {"mrtrix", "exact"}
        Which voxels a streamline visits: MRtrix3's (default: the same numbers as
        ``tckedit`` + ``tckmap``) or every voxel its segments pass through.
    endpoint_radius_mm : float
        The radial search for the regions of streamline ends (``tck2connectome``'s
        4 mm); 0 takes the voxel of the end only.
    cache : bool
        Keep the incidence matrix in the neuratlas cache (built on first use).
    chunk_points : int
        Points read at a time while building the incidence matrix.

    Raises
    ------
    ImageError
        The tractogram file is missing, not .tck/.trk, or damaged.
    NotFoundError
        An unknown connectome name or space.
    ArgumentError
        An unknown mapping, a negative radius, a functional connectome's name.

    Examples
    --------
    >>> snm = StructuralNetworkMapping("dTOR985.tck", parcellation="aal3")  # doctest: +SKIP
    >>> subject = snm.run(subject)  # doctest: +SKIP
    >>> subject.StructuralNetworkMapping["desc-disconnectionmap"]  # doctest: +SKIP
    """

    def __init__(
        self,
        tractogram: str | os.PathLike[str],
        parcellation: Any = None,
        *,
        space: str | None = None,
        compute_disconnectivity_matrix: bool = False,
        keep_intermediate: bool = False,
        mapping: str = "mrtrix",
        endpoint_radius_mm: float = DEFAULT_RADIUS_MM,
        cache: bool = True,
        chunk_points: int = DEFAULT_CHUNK_POINTS,
    ) -> None:
        if mapping not in MAPPINGS:
            near = closest(mapping, MAPPINGS, n=1)
            raise ArgumentError(
                f"unknown streamline mapping {mapping!r}; choose one of {', '.join(MAPPINGS)}",
                hint=f"did you mean {near[0]!r}?" if near else None,
            )
        if not np.isfinite(endpoint_radius_mm) or endpoint_radius_mm < 0:
            raise ArgumentError(
                f"endpoint_radius_mm is {endpoint_radius_mm}; give 0 (the end's voxel) or more",
                hint="tck2connectome's default is 4 mm",
            )
        self.tractogram, space = _resolve_tractogram(tractogram, space)
        self.space = bids_space_label(resolve_space(space))
        self.parcellation = parcellation
        self.compute_disconnectivity_matrix = bool(compute_disconnectivity_matrix)
        self.keep_intermediate = bool(keep_intermediate)
        self.mapping = mapping
        self.endpoint_radius_mm = float(endpoint_radius_mm)
        self.cache = bool(cache)
        self.chunk_points = int(chunk_points)
        self._grids: OrderedDict[tuple, _Grid] = OrderedDict()

    def __getstate__(self) -> dict[str, Any]:
        # the incidence is rebuilt (or read from the cache) where the analysis runs
        return {**self.__dict__, "_grids": OrderedDict()}

    def parameters(self) -> dict[str, Any]:
        parc = self.parcellation
        if parc is not None and not isinstance(parc, str | tuple):
            parc = getattr(parc, "name", str(parc))
        return {
            "tractogram": str(self.tractogram),
            "parcellation": parc,
            "space": self.space,
            "compute_disconnectivity_matrix": self.compute_disconnectivity_matrix,
            "keep_intermediate": self.keep_intermediate,
            "mapping": self.mapping,
            "endpoint_radius_mm": self.endpoint_radius_mm,
        }

    # --- inputs ---------------------------------------------------------------------
    def _check_space(self, subject: SubjectData) -> None:
        if not same_space(subject.space, self.space):
            raise SpaceMismatchError(
                f"{subject.subject_id}: the lesion is in {subject.space}, the tractogram "
                f"{self.tractogram.name} in {self.space}",
                hint=f"register the lesion to {self.space}, or pass space=... if the "
                "tractogram is in another space",
            )

    def _parcels(self, shape: tuple[int, ...], affine: np.ndarray) -> Parcels | None:
        parc = self.parcellation
        if parc is None:
            return None
        if isinstance(parc, Parcels):
            if tuple(parc.shape) != tuple(shape) or not np.allclose(parc.affine, affine):
                raise ArgumentError(
                    f"the regions {parc.name} are on a grid {parc.shape} that is not the "
                    f"lesion's {tuple(shape)}",
                    hint="give the parcellation by name or files, so that it is put on the "
                    "lesion's grid, or make the Parcels on that grid",
                )
            found = parc
        else:
            found = parcels_on_grid(parc, self.space, shape, affine)
            if found.probabilistic:
                # streamline ends need one region per voxel: the labelled (maximum
                # probability) map of the parcellation, where there is one
                try:
                    found = parcels_on_grid(parc, self.space, shape, affine, maptype="labelled")
                except NotFoundError:
                    raise ArgumentError(
                        f"{found.title} has only a probabilistic map; structural mapping "
                        "assigns streamline ends to labelled regions",
                        hint="use a labelled parcellation, or a maximum-probability map",
                    ) from None
        if found.probabilistic:
            raise ArgumentError(f"{found.title}: structural mapping needs a labelled map")
        return found

    def _grid(self, shape: tuple[int, ...], affine: np.ndarray) -> _Grid:
        key = (tuple(shape), np.asarray(affine, dtype=np.float64).round(6).tobytes())
        if key not in self._grids:
            inc = tractogram_incidence(
                self.tractogram,
                shape,
                affine,
                mapping=self.mapping,
                cache=self.cache,
                chunk_points=self.chunk_points,
            )
            self._grids[key] = _Grid(inc, self._parcels(shape, affine), self.endpoint_radius_mm)
            while len(self._grids) > _GRIDS_KEPT:
                self._grids.popitem(last=False)
        self._grids.move_to_end(key)
        return self._grids[key]

    # --- the analysis -----------------------------------------------------------------
    def compute(self, subject: SubjectData) -> dict[str, Result]:
        """The disconnection map (and matrices, with a parcellation) of one lesion."""
        return self.compute_batch([subject])[0]

    def compute_batch(self, subjects: Sequence[SubjectData]) -> list[dict[str, Result]]:
        """Many lesions per pass: one sparse product for their hits, one for their densities.

        Raises
        ------
        SpaceMismatchError
            A lesion is not in the tractogram's space.
        """
        subjects = list(subjects)
        for s in subjects:
            self._check_space(s)
        out: list[dict[str, Result] | None] = [None] * len(subjects)
        groups: dict[tuple, list[int]] = {}
        for i, s in enumerate(subjects):
            groups.setdefault((s.shape, s.affine.round(6).tobytes()), []).append(i)
        for members in groups.values():
            first = subjects[members[0]]
            grid = self._grid(first.shape, first.affine)
            for start in range(0, len(members), _LESIONS_PER_PASS):
                part = members[start : start + _LESIONS_PER_PASS]
                mapped = self._map([subjects[i] for i in part], grid)
                for i, results in zip(part, mapped, strict=True):
                    out[i] = results
        return out  # type: ignore[return-value]

    def _map(self, subjects: list[SubjectData], grid: _Grid) -> list[dict[str, Result]]:
        inc = grid.incidence
        voxels = [np.flatnonzero(s.mask) for s in subjects]
        indptr = np.zeros(len(voxels) + 1, dtype=np.int64)
        np.cumsum([len(v) for v in voxels], out=indptr[1:])
        lesions = sparse.csc_matrix(
            (np.ones(indptr[-1], dtype=bool), np.concatenate(voxels), indptr),
            shape=(inc.n_voxels, len(subjects)),
        )
        hits = inc.streamlines_hit(lesions)
        densities = inc.density(hits)
        whole = inc.whole_brain_tdi.reshape(-1)
        out = []
        for k, s in enumerate(subjects):
            cut = hits.indices[hits.indptr[k] : hits.indptr[k + 1]]
            row = slice(densities.indptr[k], densities.indptr[k + 1])
            # the voxels the cut streamlines reach, and how many reach each
            out.append(
                self._results(s, cut, densities.indices[row], densities.data[row], whole, grid)
            )
        return out

    def _metadata(self, inc: Incidence) -> dict[str, Any]:
        return {
            "tractogram": str(self.tractogram),
            "tractogram_space": self.space,
            "n_streamlines": inc.n_streamlines,
            "mapping": self.mapping,
            "upsample_ratio": inc.upsample_ratio,
        }

    def _results(
        self,
        subject: SubjectData,
        cut: np.ndarray,
        reached: np.ndarray,
        counts: np.ndarray,
        whole: np.ndarray,
        grid: _Grid,
    ) -> dict[str, Result]:
        inc = grid.incidence
        # only the reached voxels are touched: a lesion costs what its streamlines visit
        share = counts / whole[reached]
        ratio = np.zeros(inc.n_voxels, dtype=np.float32)
        ratio[reached] = share
        meta = self._metadata(inc)
        results: dict[str, Result] = {
            result_key(desc="disconnectionmap"): VoxelMap(
                name="disconnection_map",
                data=nib.Nifti1Image(ratio.reshape(inc.shape), subject.affine),
                space=subject.space,
                resolution=subject.resolution,
                metadata={
                    **meta,
                    "description": "share of the streamlines through each voxel that the "
                    "lesion cuts (lesion TDI / whole-brain TDI; 0 where no streamline passes)",
                },
            ),
            result_key(desc="summarystatistics"): ScalarMetric(
                name="summarystatistics",
                data={
                    "mean_disconnection": float(ratio[reached].mean(dtype=np.float64))
                    if len(reached)
                    else 0.0,
                    "max_disconnection": float(ratio[reached].max(initial=0.0)),
                    "mask_streamline_count": len(cut),
                    "total_streamline_count": inc.n_streamlines,
                    "percent_streamlines_cut": 100.0 * len(cut) / max(inc.n_streamlines, 1),
                    "disconnected_voxel_count": len(reached),
                },
                metadata=meta,
            ),
        }
        if self.keep_intermediate:
            lesion_tdi = np.zeros(inc.n_voxels, dtype=np.int32)
            lesion_tdi[reached] = counts
            results[result_key(desc="masktdi")] = VoxelMap(
                name="mask_tdi",
                data=nib.Nifti1Image(lesion_tdi.reshape(inc.shape), subject.affine),
                space=subject.space,
                resolution=subject.resolution,
                metadata={
                    **meta,
                    "description": "track density of the streamlines the lesion cuts",
                },
            )
        if grid.parcels is not None:
            results.update(self._matrices(cut, grid, meta))
        return results

    def _matrices(self, cut: np.ndarray, grid: _Grid, meta: dict[str, Any]) -> dict[str, Result]:
        parcels, full = grid.parcels, grid.full
        assert parcels is not None and full is not None and grid.nodes is not None
        mask = connection_counts(grid.nodes, parcels.region_labels, cut)
        intact = full - mask
        names = list(parcels.region_names)
        with np.errstate(divide="ignore", invalid="ignore"):
            percent = np.where(full > 0, 100.0 * mask / full, 0.0)
            rows_full = full.sum(axis=1)
            per_region = np.where(rows_full > 0, 100.0 * mask.sum(axis=1) / rows_full, 0.0)
        atlas = parcels.name
        meta = {**meta, "atlas": parcels.title, "endpoint_radius_mm": self.endpoint_radius_mm}

        def matrix(name: str, values: np.ndarray, description: str) -> ConnectivityMatrix:
            return ConnectivityMatrix(
                name=name,
                matrix=values,
                region_labels=names,
                matrix_type="structural",
                metadata={**meta, "description": description},
            )

        out: dict[str, Result] = {
            result_key(atlas=atlas, desc="maskconnectivitymatrix"): matrix(
                "mask_connectivity_matrix",
                mask,
                "streamlines between regions that the lesion cuts",
            ),
            result_key(atlas=atlas, desc="disconnectivitypercent"): matrix(
                "disconnectivity_percent",
                percent,
                "percentage of streamlines cut, per region pair",
            ),
            result_key(atlas=atlas, desc="fullconnectivitymatrix"): matrix(
                "full_connectivity_matrix", full, "all streamlines between regions (reference)"
            ),
            result_key(atlas=atlas, desc="roidisconnection"): ParcelData(
                name="roi_disconnection",
                data={n: float(v) for n, v in zip(names, per_region, strict=True)},
                region_labels=list(parcels.region_labels),
                parcel_names=[parcels.title],
                aggregation_method="percent",
                metadata={
                    **meta,
                    "unit": "percent",
                    "description": "percentage of each region's streamlines that the lesion cuts",
                },
            ),
            result_key(atlas=atlas, desc="matrixstatistics"): ScalarMetric(
                name="matrix_statistics",
                data=_matrix_statistics(full, mask, percent, names),
                metadata=meta,
            ),
        }
        if self.compute_disconnectivity_matrix:
            out[result_key(atlas=atlas, desc="intactconnectivitymatrix")] = matrix(
                "intact_connectivity_matrix",
                intact,
                "streamlines between regions the lesion spares",
            )
        return out


def _matrix_statistics(
    full: np.ndarray, mask: np.ndarray, percent: np.ndarray, names: list[str]
) -> dict[str, Any]:
    """Summary numbers of the disconnection matrices; each region pair counted once."""
    upper = np.triu_indices(full.shape[0], k=1)
    edges = full[upper] > 0
    n_edges = int(edges.sum())
    affected = int((mask[upper] > 0).sum())
    lost_edges = (full > 0) & (full == mask)
    degree_reduction = lost_edges.sum(axis=1)
    intact_degree = ((full - mask) > 0).sum(axis=1)
    return {
        "n_parcels": int(full.shape[0]),
        "n_edges_total": n_edges,
        "n_edges_affected": affected,
        "percent_edges_affected": 100.0 * affected / n_edges if n_edges else 0.0,
        "n_edges_lost": int(lost_edges[upper].sum()),
        "mean_disconnection_percent": float(percent[upper][edges].mean()) if n_edges else 0.0,
        "max_disconnection_percent": float(percent.max(initial=0.0)),
        "mean_degree_reduction": float(degree_reduction.mean()) if len(names) else 0.0,
        "max_degree_reduction": int(degree_reduction.max(initial=0)),
        "most_affected_parcel": names[int(np.argmax(degree_reduction))] if len(names) else None,
        "intact_mean_degree": float(intact_degree.mean()) if len(names) else 0.0,
        "connectivity_preservation_ratio": (
            float(((full - mask)[upper] > 0).sum() / n_edges) if n_edges else 1.0
        ),
    }
