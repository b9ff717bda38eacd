"""Functional lesion network mapping: which voxels a lesion is functionally connected to.

For each subject of a normative functional connectome (resting-state time series
of healthy people, in lacuna's HDF5 layout, :mod:`neuratlas.lesion.connectomes`),
the lesion's seed time course is correlated with every voxel's; the correlations
are Fisher-transformed (``z = arctanh r``, |z| capped at 10) and tested across
subjects with a one-sample t-test against 0. These are lacuna's definitions:

- seed: ``method="boes"``, the mean time course of the lesion's voxels;
  ``method="pini"``, the mean over the lesion voxels that best represent it
  (:mod:`~neuratlas.lesion.analysis.fnm_seeds`);
- ``zmap``: the mean z over subjects; ``rmap``: ``tanh`` of it;
- ``tmap``: ``mean z / (sd z / sqrt n)`` (sample sd), 0 where z does not vary;
- ``pmap``: two-sided p of t with n - 1 degrees of freedom; ``pfdrmap``:
  Benjamini-Hochberg adjusted p over the connectome's voxels;
- ``tthresholdmap``: ``|t| > t_threshold``; ``pfdrthresholdmap``: ``q < fdr_alpha``;
- ``summarystatistics``: mean, sd, min and max of the r map and more.

It streams: each subject is read once, memory holds a block of subjects and the
running moments of z (float64, Welford), and :meth:`run_batch` maps many lesions
in one pass over the file, with the numbers :meth:`run` gives each alone
(:mod:`~neuratlas.lesion.analysis.fnm_stream`).

Lesions must be in the connectome's space; on another grid of that space they
are resampled to the connectome's grid by nearest neighbour
(:mod:`~neuratlas.lesion.analysis.fnm_grid`). The maps lie on the connectome's
grid; they keep the values inside the brain mask only, placed on the grid when read
(:mod:`~neuratlas.lesion.analysis.fnm_images`).
"""

from __future__ import annotations

import itertools
import math
import os
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import nibabel as nib
import numpy as np

from neuratlas.errors import ArgumentError, LesionError, NotFoundError, SpaceMismatchError
from neuratlas.lesion.analysis.base import Analysis
from neuratlas.lesion.analysis.fnm_grid import GridLookup
from neuratlas.lesion.analysis.fnm_images import masked_image
from neuratlas.lesion.analysis.fnm_stats import GroupMaps, RunningMoments, group_maps
from neuratlas.lesion.analysis.fnm_stream import available_cores, map_lesions, pini_columns
from neuratlas.lesion.connectomes.layout import HDF5_SUFFIXES, ConnectomeReader
from neuratlas.lesion.connectomes.registry import get_connectome, get_connectome_path
from neuratlas.lesion.results import Result, ScalarMetric, VoxelMap, result_key
from neuratlas.lesion.spaces import bids_space_label, matching_grids, resolve_space, same_space
from neuratlas.lesion.subject import SubjectData

__all__ = ["METHODS", "FunctionalNetworkMapping"]

#: The seed methods.
METHODS = ("boes", "pini")
#: Budget of the running moments of one pass (16 bytes per lesion and voxel); a batch
#: with more lesions than fit makes several passes.
MOMENTS_BYTES = 2 * 1024**3

ConnectomeSource = str | os.PathLike[str] | Sequence[str | os.PathLike[str]] | ConnectomeReader


def _subject_label(subject: SubjectData) -> str:
    """``sub-01/ses-02/lesion``: the subject as messages name it."""
    meta = subject.metadata
    parts = [subject.subject_id, meta.get("session_id"), meta.get("label")]
    return "/".join(str(p) for p in parts if p)


def _looks_like_path(text: str) -> bool:
    return os.sep in text or "/" in text or text.lower().endswith(HDF5_SUFFIXES)


def _open_connectome(
    connectome: ConnectomeSource,
) -> tuple[ConnectomeReader, str, str | None]:
    """The reader of a connectome, how messages name it, and its registered space if any.

    ``connectome`` is a reader, a file, a folder, a list of batch files or a
    registered name; a path that does not exist is reported as a missing file.
    """
    if isinstance(connectome, ConnectomeReader):
        files = connectome.files
        return connectome, str(files[0] if len(files) == 1 else files[0].parent), None
    if isinstance(connectome, str | os.PathLike):
        path = Path(connectome).expanduser()
        if path.exists() or _looks_like_path(str(connectome)):
            return ConnectomeReader(path), str(path), None
        entry = get_connectome(str(connectome))
        if entry.kind != "functional":
            raise ArgumentError(
                f"the connectome {entry.name!r} is {entry.kind}, not functional",
                hint="use it with StructuralNetworkMapping, or name a functional connectome",
            )
        return ConnectomeReader(get_connectome_path(entry.name)), entry.name, entry.space
    if isinstance(connectome, Sequence) and not isinstance(connectome, bytes):
        files = [Path(p).expanduser() for p in connectome]
        label = str(files[0]) if len(files) == 1 else f"{files[0].parent} ({len(files)} files)"
        return ConnectomeReader(files), label, None
    raise ArgumentError(
        "connectome must be a path, a list of batch files, a registered name or a "
        f"ConnectomeReader, not {type(connectome).__name__}"
    )


def _connectome_space(
    reader: ConnectomeReader, declared: str | None, registered: str | None, where: str
) -> str:
    """The space of the connectome.

    ``declared`` (the user's word) must agree with the grid when the grid is a
    standard one. Otherwise the registry's or the file's ``space``, when it names
    a space on that grid (it tells NLin6Asym from NLin6Sym), else the grid's space.
    """
    grids = matching_grids(reader.mask_shape, reader.mask_affine)
    on_grid = [s for g in grids for s in g.spaces]
    if declared is not None:
        label = bids_space_label(resolve_space(declared))
        if on_grid and label not in on_grid:
            raise SpaceMismatchError(
                f"connectome {where}: space={declared} contradicts its grid "
                f"{reader.mask_shape}, that of {' / '.join(on_grid)}",
                hint="declare the space the connectome was made in",
            )
        return label
    attribute = reader.space
    for hint in (registered, attribute):
        if not hint:
            continue
        try:
            label = bids_space_label(resolve_space(hint))
        except NotFoundError:  # lacuna writes "MNI152_2mm": the grid tells more
            continue
        if not on_grid or label in on_grid:
            return label
    for candidate in on_grid:
        try:
            return bids_space_label(resolve_space(candidate))
        except NotFoundError:
            continue
    raise ArgumentError(
        f"connectome {where}: its space is not known (its space attribute is "
        f"{attribute or 'empty'}, and its grid {reader.mask_shape} is none of the standard "
        "MNI grids)",
        hint="pass space=..., e.g. FunctionalNetworkMapping(path, space='MNI152NLin6Asym')",
    )


class FunctionalNetworkMapping(Analysis):
    """Functional lesion network mapping with a normative connectome (lacuna's definitions).

    Parameters
    ----------
    connectome : path-like, list of path-like, str or ConnectomeReader
        An HDF5 file or a folder of batch files in lacuna's layout, the batch
        files themselves, or the name of a connectome registered with
        :mod:`neuratlas.lesion.connectomes` (``"GSP1000"``).
    method : {"boes", "pini"}
        The seed time course: the mean over the lesion's voxels (Boes et al.
        2015), or over those that represent it best (Pini et al. 2020).
    pini_percentile : float
        For ``pini``: keep lesion voxels whose absolute loading on the first
        principal component reaches this percentile (0-100) of all loadings.
    compute_p_map : bool
        Add the two-sided p map (``pmap``) and, with ``fdr_alpha``, the FDR maps.
    fdr_alpha : float or None
        Level of the Benjamini-Hochberg correction (``pfdrmap``,
        ``pfdrthresholdmap``); None for none. Ignored without ``compute_p_map``.
    t_threshold : float or None
        Add ``tthresholdmap``, the voxels where ``|t| > t_threshold``.
    space : str, optional
        The connectome's space, when neither its ``space`` attribute nor its grid
        tells it (a TemplateFlow identifier, ``MNI152NLin6Asym``).
    max_block_bytes : int, optional
        Budget of the time series read at once: as many whole subjects as fit,
        and subjects larger than it in voxel blocks (slow for files compressed
        in one chunk per subject, as lacuna writes them). Default: one subject at
        a time. Memory holds two blocks (the next one is read while the current
        one is used) and 16 bytes per lesion and voxel.
    prefetch : bool
        Read the next block in a background thread while computing.

    Attributes
    ----------
    reader : ConnectomeReader
        The connectome's files.
    connectome : str
        How results and messages name it (its registered name, or its path).
    space : str
        Its space (TemplateFlow identifier), that of the maps.
    resolution : float
        The voxel size (mm) of its grid, that of the maps.

    Raises
    ------
    ArgumentError
        An unknown method or an out-of-range parameter; a connectome with fewer
        than two subjects, or whose space cannot be told.
    NotFoundError
        A connectome file, folder or name that does not exist.
    ImageError
        A file that is not a connectome in lacuna's layout.
    SpaceMismatchError
        ``space`` contradicts the connectome's grid.

    Examples
    --------
    >>> fnm = FunctionalNetworkMapping("gsp1000/processed", method="boes")  # doctest: +SKIP
    >>> lesion = SubjectData.from_nifti("sub-01_label-lesion_mask.nii.gz")  # doctest: +SKIP
    >>> subject = fnm.run(lesion)  # doctest: +SKIP
    >>> subject.FunctionalNetworkMapping["desc-rmap"].data  # doctest: +SKIP
    <nibabel.nifti1.Nifti1Image ...>
    """

    def __init__(
        self,
        connectome: ConnectomeSource,
        method: str = "boes",
        *,
        pini_percentile: float = 20,
        compute_p_map: bool = True,
        fdr_alpha: float | None = 0.05,
        t_threshold: float | None = None,
        space: str | None = None,
        max_block_bytes: int | None = None,
        prefetch: bool = True,
    ) -> None:
        if method not in METHODS:
            raise ArgumentError(
                f"unknown method {method!r} for FunctionalNetworkMapping",
                hint="choose one of " + ", ".join(repr(m) for m in METHODS),
            )
        if not 0 <= pini_percentile <= 100:
            raise ArgumentError(f"pini_percentile must lie in 0..100, got {pini_percentile}")
        if fdr_alpha is not None and not 0 < fdr_alpha < 1:
            raise ArgumentError(f"fdr_alpha must lie between 0 and 1, got {fdr_alpha}")
        if t_threshold is not None and not (math.isfinite(t_threshold) and t_threshold >= 0):
            raise ArgumentError(f"t_threshold must be a finite number >= 0, got {t_threshold}")
        if max_block_bytes is not None and int(max_block_bytes) < 1:
            raise ArgumentError(f"max_block_bytes must be positive, got {max_block_bytes}")
        self.method = method
        self.pini_percentile = float(pini_percentile)
        self.compute_p_map = bool(compute_p_map)
        self.fdr_alpha = None if fdr_alpha is None else float(fdr_alpha)
        self.t_threshold = None if t_threshold is None else float(t_threshold)
        self.max_block_bytes = None if max_block_bytes is None else int(max_block_bytes)
        self.prefetch = bool(prefetch)
        self.reader, self.connectome, registered = _open_connectome(connectome)
        if self.reader.n_subjects < 2:
            raise ArgumentError(
                f"connectome {self.connectome} has {self.reader.n_subjects} subject: the "
                "group t-test needs at least two",
                hint="use a connectome of several subjects",
            )
        self.space = _connectome_space(self.reader, space, registered, self.connectome)
        self.resolution = round(self.reader.resolution, 4)
        self._grid = GridLookup(
            self.reader.mask_indices, self.reader.mask_affine, self.reader.mask_shape
        )
        # the maps keep their in-mask values only, placed on the grid when read
        self._flat_index = np.ravel_multi_index(
            tuple(self.reader.mask_indices), self.reader.mask_shape
        )

    def parameters(self) -> dict[str, Any]:
        """The parameters, as the provenance records them."""
        return {
            "connectome": self.connectome,
            "method": self.method,
            "pini_percentile": self.pini_percentile,
            "compute_p_map": self.compute_p_map,
            "fdr_alpha": self.fdr_alpha,
            "t_threshold": self.t_threshold,
            "space": self.space,
            "resolution": self.resolution,
            "n_subjects": self.reader.n_subjects,
        }

    # -- computing -----------------------------------------------------------------------------

    def lesion_columns(self, subject: SubjectData) -> np.ndarray:
        """The connectome columns (voxels inside its brain mask) that the lesion covers.

        Raises
        ------
        SpaceMismatchError
            The lesion is in another space than the connectome.
        LesionError
            No voxel of the lesion lies inside the connectome's brain mask.
        """
        if not same_space(subject.space, self.space):
            raise SpaceMismatchError(
                f"{_subject_label(subject)}: the lesion is in {subject.space}, the connectome "
                f"{self.connectome} in {self.space}",
                hint=f"transform the lesion mask to {self.space} first",
            )
        columns = self._grid.columns(subject.mask, subject.affine)
        if columns.size == 0:
            raise LesionError(
                f"{_subject_label(subject)}: no voxel of the lesion lies inside the brain mask "
                f"of the connectome {self.connectome}",
                hint="check that the mask is aligned with the template (and not flipped)",
            )
        return columns

    def compute(self, subject: SubjectData) -> dict[str, Result]:
        """The maps and summary of one lesion (see :meth:`compute_batch`)."""
        return self.compute_batch([subject])[0]

    def compute_batch(self, subjects: Sequence[SubjectData]) -> list[dict[str, Result]]:
        """The maps and summary of many lesions, from one pass over the connectome.

        Every lesion is checked before the connectome is read. ``pini`` makes a
        first pass over the lesions' voxels only.

        Returns
        -------
        list of dict
            Per subject: result key (``desc-rmap``, ...) -> VoxelMap or ScalarMetric.
        """
        subjects = list(subjects)
        if not subjects:
            return []
        lesions = [self.lesion_columns(s) for s in subjects]
        budget = self.max_block_bytes or self.reader.subject_bytes
        seeds = lesions
        if self.method == "pini":
            seeds = pini_columns(
                self.reader, lesions, self.pini_percentile, max_block_bytes=budget
            )
        per_pass = max(1, MOMENTS_BYTES // (16 * self.reader.n_voxels))
        results: list[dict[str, Result]] = []
        for start in range(0, len(subjects), per_pass):
            group = seeds[start : start + per_pass]
            moments = map_lesions(
                self.reader, group, max_block_bytes=budget, prefetch=self.prefetch
            )

            # p-values and the sorts of the FDR cost ~0.1 s per lesion at 2 mm and release
            # the GIL: the lesions are finished on every core
            with ThreadPoolExecutor(max_workers=available_cores()) as pool:
                results.extend(
                    pool.map(
                        self._finish,
                        itertools.repeat(moments),
                        range(len(group)),
                        [c.size for c in lesions[start : start + per_pass]],
                        [c.size for c in group],
                    )
                )
            del moments
        return results

    # -- results -------------------------------------------------------------------------------

    def _finish(
        self, moments: RunningMoments, row: int, n_lesion: int, n_seed: int
    ) -> dict[str, Result]:
        maps = group_maps(
            moments.mean[row],
            moments.m2[row],
            moments.count,
            p_values=self.compute_p_map,
            fdr=self.compute_p_map and self.fdr_alpha is not None,
        )
        return self._results(maps, n_lesion, n_seed)

    def _image(self, values: np.ndarray, dtype: type) -> nib.Nifti1Image:
        return masked_image(
            values.astype(dtype), self._flat_index, self.reader.mask_shape, self.reader.mask_affine
        )

    def _map(self, name: str, values: np.ndarray, dtype: type, **metadata: Any) -> VoxelMap:
        meta = {"method": self.method, "connectome": self.connectome, **metadata}
        return VoxelMap(name, self._image(values, dtype), self.space, self.resolution, meta)

    def _results(self, maps: GroupMaps, n_lesion: int, n_seed: int) -> dict[str, Result]:
        n = maps.n_subjects
        r, t = maps.rmap, maps.tmap
        summary: dict[str, Any] = {
            "mean": float(r.mean()),
            "std": float(r.std()),
            "max": float(r.max()),
            "min": float(r.min()),
            "n_subjects": n,
            "n_batches": len(self.reader.files),
            "n_lesion_voxels": int(n_lesion),
            "n_seed_voxels": int(n_seed),
            "t_min": float(t.min()),
            "t_max": float(t.max()),
        }
        out: dict[str, Result] = {
            result_key(desc="rmap"): self._map(
                "rmap", r, np.float32, n_subjects=n, statistic="pearson_correlation_coefficient"
            ),
            result_key(desc="zmap"): self._map(
                "zmap", maps.zmap, np.float32, n_subjects=n, statistic="fisher_z"
            ),
            result_key(desc="tmap"): self._map(
                "tmap",
                t,
                np.float32,
                n_subjects=n,
                statistic="t_statistic",
                degrees_of_freedom=n - 1,
            ),
        }
        if self.t_threshold is not None:
            above = np.abs(t) > self.t_threshold
            out[result_key(desc="tthresholdmap")] = self._map(
                "tthresholdmap",
                above,
                np.uint8,
                threshold=self.t_threshold,
                statistic="thresholded_t",
            )
            summary["t_threshold"] = self.t_threshold
            summary["n_significant_voxels"] = int(above.sum())
            summary["pct_significant_voxels"] = 100.0 * float(above.mean())
        if maps.pmap is not None:
            out[result_key(desc="pmap")] = self._map(
                "pmap",
                maps.pmap,
                np.float32,
                n_subjects=n,
                statistic="p_value_two_tailed",
                degrees_of_freedom=n - 1,
            )
            summary["p_min"] = float(maps.pmap.min())
            summary["p_max"] = float(maps.pmap.max())
        if maps.pfdrmap is not None and self.fdr_alpha is not None:
            significant = maps.pfdrmap < self.fdr_alpha
            out[result_key(desc="pfdrmap")] = self._map(
                "pfdrmap",
                maps.pfdrmap,
                np.float32,
                n_subjects=n,
                statistic="p_value_fdr_corrected",
                fdr_alpha=self.fdr_alpha,
                correction_method="benjamini_hochberg",
            )
            out[result_key(desc="pfdrthresholdmap")] = self._map(
                "pfdrthresholdmap",
                significant,
                np.uint8,
                n_subjects=n,
                statistic="fdr_significant_binary",
                fdr_alpha=self.fdr_alpha,
                n_significant=int(significant.sum()),
            )
            summary["fdr_alpha"] = self.fdr_alpha
            summary["n_significant_fdr"] = int(significant.sum())
            summary["pct_significant_fdr"] = 100.0 * float(significant.mean())
        out[result_key(desc="summarystatistics")] = ScalarMetric(
            "summarystatistics", summary, {"method": self.method, "connectome": self.connectome}
        )
        return out
