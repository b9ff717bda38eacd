"""One subject's lesion mask, what is known about it, and what analyses found.

:class:`SubjectData` holds a binary 3D mask on a voxel grid of a template space,
its metadata (subject, session, label: from the BIDS file name when there is
one), the provenance of everything done to it, and results namespaced by the
analysis that made them (``subject.RegionalDamage["atlas-..."]``).

It is immutable by convention, as lacuna's is: operations return new objects,
sharing the mask (read-only) and the results (frozen containers) with the old.
"""

from __future__ import annotations

import fnmatch
import os
from collections.abc import Mapping
from pathlib import Path
from types import MappingProxyType
from typing import Any

import nibabel as nib
import numpy as np

from neuratlas import matching
from neuratlas.errors import ImageError, LesionError, NotFoundError, SpaceMismatchError
from neuratlas.lesion.entities import parse_entities, resolution_mm
from neuratlas.lesion.provenance import array_digest, check_record
from neuratlas.lesion.results import Result
from neuratlas.lesion.spaces import (
    bids_space_label,
    grid_resolution,
    matching_grids,
    resolve_space,
    same_space,
)
from neuratlas.volumes import gz
from neuratlas.volumes.grid import voxel_volume_mm3
from neuratlas.volumes.nifti import open_image

__all__ = ["SubjectData"]

# metadata keys that the file name's entities fill in
_ENTITY_METADATA = {"sub": "subject_id", "ses": "session_id", "label": "label"}


def _mask_array(img: nib.spatialimages.SpatialImage, where: str) -> np.ndarray:
    """The image's data as a read-only boolean mask, after checking it is one."""
    shape = img.shape
    if len(shape) == 4 and shape[3] == 1:
        shape = shape[:3]
    if len(shape) != 3:
        raise LesionError(
            f"{where}: a lesion mask is a 3D image, this one is {len(img.shape)}D {img.shape}",
            hint="split 4D images into one mask per volume (e.g. nibabel.funcs.four_to_three)",
        )
    # the array stays in the file's (Fortran) order: a copy into C order costs more
    # than everything else a regional damage does with it
    data = np.asanyarray(img.dataobj).reshape(shape)
    if data.dtype == bool:
        mask, empty = data, not data.any()
    elif data.dtype.kind in "ui":
        # two reductions, no temporary arrays; 0/1 bytes are booleans as they are
        low, high = data.min(), data.max()
        if low < 0 or high > 1:
            _not_binary(data[(data < 0) | (data > 1)], where)
        mask = data.view(bool) if data.dtype.itemsize == 1 else data != 0
        empty = high == 0
    else:
        ones = data == 1
        binary = ones | (data == 0)
        if not np.all(binary):
            _not_binary(data[~binary], where)
        mask, empty = ones, not ones.any()
    if empty:
        raise LesionError(
            f"{where}: the mask is empty (no voxel is 1)", hint="check the file is the lesion mask"
        )
    mask.flags.writeable = False
    return mask


def _not_binary(bad: np.ndarray, where: str) -> None:
    shown = ", ".join(f"{v:g}" for v in np.unique(bad)[:5])
    raise LesionError(
        f"{where}: a lesion mask holds only 0 and 1; found {shown}",
        hint="binarise the mask first, e.g. (img.get_fdata() > 0.5)",
    )


def _check_affine(affine: np.ndarray, where: str) -> None:
    if affine.shape != (4, 4) or not np.all(np.isfinite(affine)):
        raise LesionError(
            f"{where}: the affine is not a finite 4x4 matrix",
            hint="repair the NIfTI header (sform/qform)",
        )
    if abs(np.linalg.det(affine[:3, :3])) < 1e-9:
        raise LesionError(
            f"{where}: the affine is singular (a voxel has no volume)",
            hint="repair the NIfTI header (sform/qform)",
        )


class SubjectData:
    """A binary lesion mask in a template space, with metadata, provenance and results.

    Parameters
    ----------
    mask_img : nibabel.Nifti1Image
        A 3D image of 0 and 1 (bool, integers or floats), at least one voxel 1.
    space : str, optional
        Its space: a TemplateFlow identifier (``MNI152NLin6Asym``) or any name of a
        catalogue space. Without it, ``metadata["space"]``; without that, the space
        whose standard grid the image lies on.
    resolution : float, optional
        Its voxel size in mm; checked against the header.
    metadata : mapping, optional
        ``subject_id``, ``session_id``, ``label``, anything else worth keeping.
    provenance : list of dict, optional
        What was done to the mask so far.
    results : mapping, optional
        Analysis name -> {result key -> result container}.

    Raises
    ------
    LesionError
        The image is not 3D, not binary, empty, has a bad affine, or its space or
        resolution cannot be told.
    SpaceMismatchError
        The declared space contradicts the grid of the header.
    NotFoundError
        The declared space is none of the catalogue's.
    """

    def __init__(
        self,
        mask_img: nib.spatialimages.SpatialImage,
        space: str | None = None,
        resolution: float | None = None,
        metadata: Mapping[str, Any] | None = None,
        provenance: list[dict[str, Any]] | None = None,
        results: Mapping[str, Mapping[str, Result]] | None = None,
    ) -> None:
        meta = dict(metadata or {})
        where = str(meta.get("source") or meta.get("subject_id") or "lesion mask")
        if not isinstance(mask_img, nib.spatialimages.SpatialImage):
            raise ImageError(f"{where}: expected a nibabel image, got {type(mask_img).__name__}")
        if mask_img.affine is None:
            raise LesionError(
                f"{where}: the image has no affine", hint="give the image its affine"
            )
        affine = np.asarray(mask_img.affine, dtype=np.float64)
        _check_affine(affine, where)
        self._mask = _mask_array(mask_img, where)
        self._affine = affine
        self._space = self._settle_space(space or meta.get("space"), where)
        self._resolution = self._settle_resolution(
            resolution if resolution is not None else meta.get("resolution"), where
        )
        meta.setdefault("subject_id", "sub-unknown")
        meta["space"], meta["resolution"] = self._space, self._resolution
        self._metadata = MappingProxyType(meta)
        for record in provenance or []:
            check_record(record)
        self._provenance = [dict(r) for r in provenance or []]
        self._results = {name: dict(found) for name, found in (results or {}).items()}
        self._header = mask_img.header.copy() if isinstance(mask_img, nib.Nifti1Image) else None

    # --- construction ---------------------------------------------------------
    def _settle_space(self, declared: str | None, where: str) -> str:
        grids = matching_grids(self._mask.shape, self._affine)
        on_grid = [s for g in grids for s in g.spaces]
        if declared is None:
            for candidate in on_grid:
                try:
                    return bids_space_label(resolve_space(candidate))
                except NotFoundError:
                    continue
            raise LesionError(
                f"{where}: the space of the mask is not known (not in its file name, and its "
                f"grid {self._mask.shape} is none of the standard MNI grids)",
                hint="pass space=..., e.g. SubjectData(img, space='MNI152NLin6Asym')",
            )
        label = bids_space_label(resolve_space(declared))
        if on_grid and label not in on_grid:
            raise SpaceMismatchError(
                f"{where}: declared space {declared} contradicts the header, whose grid "
                f"{self._mask.shape} at {grids[0].resolution_mm:g} mm is that of "
                f"{' / '.join(on_grid)}",
                hint="declare the space the mask was made in, or resample it to the declared one",
            )
        return label

    def _settle_resolution(self, declared: Any, where: str) -> float:
        found = grid_resolution(self._affine)
        if declared is None:
            if found is None:
                raise LesionError(
                    f"{where}: the voxels are not cubes, so the resolution is not one number",
                    hint="pass resolution=... (mm)",
                )
            return found
        declared = float(declared)
        if found is not None and abs(declared - found) > 0.01 * max(found, 1.0):
            raise LesionError(
                f"{where}: declared resolution {declared:g} mm contradicts the header's "
                f"voxel size {found:g} mm",
                hint=f"use resolution={found:g}, or resample the mask to {declared:g} mm",
            )
        return declared

    @classmethod
    def from_nifti(
        cls,
        mask_path: str | os.PathLike[str],
        space: str | None = None,
        resolution: float | None = None,
        metadata: Mapping[str, Any] | None = None,
    ) -> SubjectData:
        """Read a mask from a NIfTI file; BIDS entities of its name fill in the metadata.

        ``sub-``, ``ses-`` and ``label-`` give ``subject_id``, ``session_id`` and
        ``label``; ``space-`` and ``res-`` declare the space and resolution, and
        must agree with ``space`` and ``resolution`` when those are given too.

        Raises
        ------
        ImageError
            The file is missing or is not a readable NIfTI image.
        LesionError, SpaceMismatchError
            As :class:`SubjectData`, and when the file name contradicts the arguments.
        """
        path = Path(mask_path)
        if not path.is_file():
            raise ImageError(f"{path}: no such file", hint="check the path of the lesion mask")
        entities = parse_entities(path)
        meta: dict[str, Any] = {"source": str(path)}
        for entity, key in _ENTITY_METADATA.items():
            if entity in entities:
                meta[key] = f"sub-{entities[entity]}" if entity == "sub" else entities[entity]
        if entities.get("ses"):
            meta["session_id"] = f"ses-{entities['ses']}"
        meta.update(metadata or {})
        named_space = entities.get("space")
        if named_space and space and not same_space(named_space, space):
            raise SpaceMismatchError(
                f"{path.name}: space={space} contradicts the file name's space-{named_space}",
                hint="rename the file or drop the space argument",
            )
        if "res" in entities:
            named_res = resolution_mm(entities["res"])
            if resolution is not None and abs(float(resolution) - named_res) > 1e-6:
                raise LesionError(
                    f"{path.name}: resolution={resolution:g} contradicts the file name's "
                    f"res-{entities['res']}",
                    hint="rename the file or drop the resolution argument",
                )
            resolution = named_res if resolution is None else resolution
        try:
            with open_image(path) as img:
                loaded = nib.Nifti1Image(np.asanyarray(img.dataobj), img.affine, img.header)
        except (OSError, ValueError, nib.filebasedimages.ImageFileError, *gz.ERRORS) as exc:
            raise ImageError(
                f"{path}: not a readable NIfTI image ({exc})", hint="check the file is complete"
            ) from None
        return cls(loaded, space=space or named_space, resolution=resolution, metadata=meta)

    def _replace(self, **changes: Any) -> SubjectData:
        new = object.__new__(SubjectData)
        new.__dict__.update(self.__dict__)
        new.__dict__.update(changes)
        return new

    # --- data -------------------------------------------------------------------
    @property
    def mask(self) -> np.ndarray:
        """The mask, a read-only boolean array."""
        return self._mask

    @property
    def mask_img(self) -> nib.Nifti1Image:
        """The mask as a NIfTI image (uint8 0/1) with the original affine."""
        img = nib.Nifti1Image(self._mask.astype(np.uint8), self._affine, self._header)
        img.set_data_dtype(np.uint8)
        return img

    @property
    def affine(self) -> np.ndarray:
        """The voxel-to-world affine (a copy)."""
        return self._affine.copy()

    @property
    def shape(self) -> tuple[int, int, int]:
        """The grid's shape."""
        return self._mask.shape  # type: ignore[return-value]

    @property
    def space(self) -> str:
        """The space, as a TemplateFlow identifier (``MNI152NLin6Asym``)."""
        return self._space

    @property
    def resolution(self) -> float:
        """The voxel size in mm."""
        return self._resolution

    @property
    def metadata(self) -> Mapping[str, Any]:
        """Subject, session, label, space, resolution, source (read-only)."""
        return self._metadata

    @property
    def subject_id(self) -> str:
        """``sub-XX``."""
        return str(self._metadata["subject_id"])

    @property
    def provenance(self) -> list[dict[str, Any]]:
        """What was done to the mask, oldest first (a copy)."""
        return [dict(r) for r in self._provenance]

    @property
    def results(self) -> Mapping[str, Mapping[str, Result]]:
        """Analysis name -> {result key -> container} (read-only)."""
        return MappingProxyType({k: MappingProxyType(v) for k, v in self._results.items()})

    def get_volume_mm3(self) -> float:
        """The lesion's volume in mm³."""
        return len(self.voxel_indices()) * voxel_volume_mm3(self._affine)

    def digest(self) -> str:
        """The sha256 of the mask and its affine: what provenance records call the input.

        Hashed are the grid's shape, the flat C-order indices of the lesion's voxels
        (int64, ascending) and the affine (float64): the whole content of a binary
        mask, without hashing millions of zeros.
        """
        # the mask never changes: hashed once (copies made by the operations share it)
        if self.__dict__.get("_digest") is None:
            self._digest = array_digest(self.voxel_indices(), self._affine, grid=self.shape)
        return self._digest

    def voxel_indices(self) -> np.ndarray:
        """The flat (C order) indices of the lesion's voxels, ascending, computed once."""
        if self.__dict__.get("_voxels") is None:
            mask = self._mask
            if mask.flags.c_contiguous:
                voxels = np.flatnonzero(mask)
            else:
                # found in memory order (a view: no copy of the grid), then renumbered
                found = np.flatnonzero(mask.ravel(order="K"))
                order = "F" if mask.flags.f_contiguous else "C"
                where = np.unravel_index(found, mask.shape, order=order)
                voxels = np.sort(np.ravel_multi_index(where, mask.shape))
            voxels = voxels.astype(np.int64, copy=False)
            voxels.flags.writeable = False
            self._voxels = voxels
        return self._voxels

    # --- new objects ------------------------------------------------------------
    def add_result(self, namespace: str, results: Mapping[str, Result]) -> SubjectData:
        """A copy with ``results`` under ``namespace``.

        Raises
        ------
        LesionError
            ``namespace`` already holds results (an analysis runs once per subject;
            run it on the subject without them to recompute).
        """
        if namespace in self._results:
            raise LesionError(
                f"{self.subject_id}: results of {namespace} are there already",
                hint="run it on the subject as it was before, or use another namespace",
            )
        return self._replace(_results={**self._results, namespace: dict(results)})

    def add_provenance(self, record: Mapping[str, Any]) -> SubjectData:
        """A copy with ``record`` (:mod:`neuratlas.lesion.provenance`) appended."""
        check_record(record)
        return self._replace(_provenance=[*self._provenance, dict(record)])

    def with_metadata(self, **metadata: Any) -> SubjectData:
        """A copy whose metadata has these entries added or replaced (not space or resolution)."""
        fixed = {"space", "resolution"} & set(metadata)
        if fixed:
            raise LesionError(
                f"{', '.join(sorted(fixed))} follow from the mask; they cannot be set"
            )
        return self._replace(_metadata=MappingProxyType({**self._metadata, **metadata}))

    def get_result(self, analysis: str, pattern: str | None = None, unwrap: bool = True) -> Any:
        """The results of ``analysis``; with ``pattern`` (a glob), those whose key fits it.

        One match gives the result itself, several a dict; ``unwrap`` gives the raw
        data (image, dict, array) instead of the containers.

        Raises
        ------
        NotFoundError
            No such analysis, or no key fits ``pattern``; the error suggests near names.
        """
        if analysis not in self._results:
            raise NotFoundError(
                f"{self.subject_id}: no results of {analysis!r}",
                suggestions=self._near(analysis, self._results),
            )
        found = self._results[analysis]
        if pattern is not None:
            found = {k: v for k, v in found.items() if fnmatch.fnmatchcase(k, pattern)}
            if not found:
                raise NotFoundError(
                    f"{self.subject_id}: no {analysis} result fits {pattern!r}",
                    suggestions=self._near(pattern, self._results[analysis]),
                )
        if unwrap:
            found = {k: v.get_data() for k, v in found.items()}
        if pattern is not None and len(found) == 1:
            return next(iter(found.values()))
        return found

    @staticmethod
    def _near(word: str, options: Mapping[str, Any]) -> list[str]:
        return matching.closest(word, list(options))

    def __getattr__(self, name: str) -> Mapping[str, Result]:
        # subject.RegionalDamage: the results of one analysis, as in lacuna
        if name.startswith("_"):
            raise AttributeError(name)
        results = self.__dict__.get("_results", {})
        if name in results:
            return MappingProxyType(results[name])
        have = ", ".join(results) or "none yet"
        raise AttributeError(
            f"'SubjectData' has no attribute or results {name!r} (results: {have})"
        )

    def __repr__(self) -> str:
        parts = [self.subject_id]
        if self._metadata.get("session_id"):
            parts.append(str(self._metadata["session_id"]))
        ran = ", ".join(self._results) or "none"
        return (
            f"<SubjectData {' '.join(parts)}: {len(self.voxel_indices())} voxels "
            f"({self.get_volume_mm3():.0f} mm³) in {self._space} at {self._resolution:g} mm; "
            f"results: {ran}>"
        )
