"""A tractogram on a voxel grid: which voxels each streamline visits, as one sparse matrix.

The incidence matrix ``A`` (streamlines x voxels, CSR, boolean) answers every
question structural lesion network mapping asks, for one lesion or a hundred:

- the streamlines a set of lesions cuts (``tckedit -include``): with ``L`` the
  lesions as a (voxels x lesions) matrix, ``hit = (A @ L) > 0``;
- a track density image (``tckmap -contrast tdi``): column sums of ``A``; for the
  streamlines each lesion cuts, ``hit.T @ A``, one sparse product for all lesions.

Building ``A`` reads the whole tractogram once (see :mod:`.traversal` for the two
definitions of "visits"); it is then kept on disk in the neuratlas cache, keyed
by the file (path, size, modification time, and a digest of its first and last
MiB) and the grid, so that every later analysis on that grid starts from it.

Under MRtrix3's rule with upsampling (a .tck whose header gives a step size
larger than a third of a voxel), the lesion test uses the stored points only
(as ``tckedit`` does) while the density uses the upsampled ones (as ``tckmap``
does); the voxels of stored points are a subset of the others, so one matrix
holds both, with a flag per entry (``tested``) marking those of stored points.
"""

from __future__ import annotations

import hashlib
import json
import os
import zipfile
from dataclasses import dataclass, field, replace
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np
from scipy import sparse

from neuratlas.errors import ArgumentError, ImageError
from neuratlas.lesion.tractography.files import DEFAULT_CHUNK_POINTS, iter_chunks, read_info
from neuratlas.lesion.tractography.traversal import (
    MAPPINGS,
    sampled_voxels,
    traversed_voxels,
    upsample_ratio,
)
from neuratlas.retrieval.cache import atomic_write, cache_key, cache_path, touch

__all__ = [
    "CACHE_AREA",
    "Incidence",
    "build_incidence",
    "incidence_key",
    "tractogram_fingerprint",
    "tractogram_incidence",
]

#: The cache sub-folder of incidence matrices.
CACHE_AREA = "tractography"
# bump when the stored layout or the definitions change: old entries are then ignored
_FORMAT = 1
_EDGE_BYTES = 1 << 20


def tractogram_fingerprint(path: str | os.PathLike[str]) -> dict[str, Any]:
    """What identifies a tractogram file's content cheaply: path, size, mtime, edge digest.

    Hashing a multi-GB file would cost more than the analysis; its size, its
    modification time (ns) and a sha256 of its first and last MiB change
    whenever it is rewritten.
    """
    p = Path(path).resolve()
    st = p.stat()
    h = hashlib.sha256()
    with open(p, "rb") as fh:
        h.update(fh.read(_EDGE_BYTES))
        if st.st_size > 2 * _EDGE_BYTES:
            fh.seek(-_EDGE_BYTES, os.SEEK_END)
            h.update(fh.read(_EDGE_BYTES))
    return {"path": str(p), "size": st.st_size, "mtime_ns": st.st_mtime_ns, "edges": h.hexdigest()}


@dataclass(frozen=True, eq=False)
class Incidence:
    """Which voxels of one grid each streamline of a tractogram visits.

    Attributes
    ----------
    matrix : scipy.sparse.csr_matrix, shape (streamlines, voxels), bool
        Row ``s`` marks the voxels (flat, C order) streamline ``s`` visits: the
        voxels its track density counts.
    tested : numpy.ndarray of bool or None
        Per stored entry of ``matrix``: whether the lesion test looks at it (the
        voxel holds a stored point, under MRtrix3's rule with upsampling); None
        when it looks at all of them.
    endpoints : numpy.ndarray, shape (streamlines, 2, 3), float32
        The first and last point of each streamline, world mm (NaN if it has none).
    shape : tuple of int
    affine : numpy.ndarray
    mapping : {"mrtrix", "exact"}
        The definition of the visited voxels (:mod:`.traversal`).
    upsample_ratio : int
        MRtrix3's upsampling ratio used for the densities (1 for ``exact``).
    source : str
        The tractogram file.
    """

    matrix: sparse.csr_matrix
    tested: np.ndarray | None
    endpoints: np.ndarray
    shape: tuple[int, int, int]
    affine: np.ndarray
    mapping: str
    upsample_ratio: int
    source: str
    key: str = field(default="")

    @property
    def n_streamlines(self) -> int:
        """How many streamlines the tractogram holds."""
        return int(self.matrix.shape[0])

    @property
    def n_voxels(self) -> int:
        """How many voxels the grid has."""
        return int(self.matrix.shape[1])

    @cached_property
    def whole_brain_tdi(self) -> np.ndarray:
        """The track density image of the whole tractogram (int64, on the grid)."""
        return np.bincount(self.matrix.indices, minlength=self.n_voxels).reshape(self.shape)

    def streamlines_hit(self, lesions: sparse.spmatrix | np.ndarray) -> sparse.csc_matrix:
        """Which streamlines each lesion cuts: ``tckedit -include lesion``.

        Parameters
        ----------
        lesions : sparse matrix or array, shape (voxels, lesions) or a 3D mask
            Lesion masks on the grid, one per column (flat, C order).

        Returns
        -------
        scipy.sparse.csc_matrix, shape (streamlines, lesions), bool
        """
        lesions = self._as_columns(lesions)
        touched = np.asarray(lesions.getnnz(axis=1)).ravel() > 0
        # only entries on some lesion's voxel matter: find them with one pass over
        # the matrix, then multiply the small remainder by the lesions
        candidate = touched[self.matrix.indices]
        if self.tested is not None:
            candidate &= self.tested
        where = np.flatnonzero(candidate)
        rows = np.searchsorted(self.matrix.indptr, where, side="right") - 1
        sub = sparse.csr_matrix(
            (np.ones(len(where), dtype=np.int32), (rows, self.matrix.indices[where])),
            shape=self.matrix.shape,
        )
        counts = sub @ lesions.astype(np.int32)
        return sparse.csc_matrix(counts > 0)

    def density(self, streamlines: sparse.spmatrix | np.ndarray) -> sparse.csr_matrix:
        """Track density images of sets of streamlines: ``tckmap -contrast tdi``.

        Parameters
        ----------
        streamlines : sparse matrix or array, shape (streamlines, n) of bool
            Each column selects a set of streamlines (e.g. :meth:`streamlines_hit`).

        Returns
        -------
        scipy.sparse.csr_matrix, shape (n, voxels), int32
            Row ``k``: how many selected streamlines visit each voxel.
        """
        chosen = sparse.csc_matrix(streamlines)
        if chosen.shape[0] != self.n_streamlines:
            raise ArgumentError(
                f"a selection of {chosen.shape[0]} streamlines for a tractogram of "
                f"{self.n_streamlines}",
                hint="select with streamlines_hit() of this incidence",
            )
        # only the selected rows take part: slice them out (cheap in CSR) rather
        # than convert the whole matrix to integers for the product
        needed, position = np.unique(chosen.indices, return_inverse=True)
        picked = self.matrix[needed].astype(np.int32)
        selection = sparse.csc_matrix(
            (np.ones(len(position), dtype=np.int32), position, chosen.indptr),
            shape=(len(needed), chosen.shape[1]),
        )
        return sparse.csr_matrix(selection.T @ picked)

    def _as_columns(self, lesions: sparse.spmatrix | np.ndarray) -> sparse.csr_matrix:
        if not sparse.issparse(lesions):
            lesions = np.asarray(lesions)
            if lesions.shape == self.shape:
                lesions = lesions.reshape(-1, 1)
            lesions = sparse.csr_matrix(lesions.reshape(lesions.shape[0], -1) != 0)
        lesions = sparse.csr_matrix(lesions)
        if lesions.shape[0] != self.n_voxels:
            raise ArgumentError(
                f"lesions have {lesions.shape[0]} voxels, the grid {self.shape} has "
                f"{self.n_voxels}",
                hint="put the lesions on the incidence's grid (flat, C order), one per column",
            )
        return lesions

    def __repr__(self) -> str:
        return (
            f"Incidence({self.n_streamlines} streamlines x {self.shape} voxels, "
            f"mapping={self.mapping!r}, nnz={self.matrix.nnz})"
        )


def _endpoints(points: np.ndarray, offsets: np.ndarray) -> np.ndarray:
    lengths = np.diff(offsets)
    out = np.full((len(lengths), 2, 3), np.nan, dtype=np.float32)
    has = lengths > 0
    out[has, 0] = points[offsets[:-1][has]]
    out[has, 1] = points[offsets[1:][has] - 1]
    return out


def build_incidence(
    tractogram: str | os.PathLike[str],
    shape: tuple[int, ...],
    affine: np.ndarray,
    *,
    mapping: str = "mrtrix",
    chunk_points: int = DEFAULT_CHUNK_POINTS,
) -> Incidence:
    """Read a tractogram once and record which voxels of a grid each streamline visits.

    Parameters
    ----------
    tractogram : path-like
        A .tck or .trk file, world mm.
    shape, affine
        The grid.
    mapping : {"mrtrix", "exact"}
        MRtrix3's point-sampling rule or exact segment traversal (:mod:`.traversal`).
    chunk_points : int
        Points read at a time: bounds the memory of the build besides its result.

    Raises
    ------
    ArgumentError
        An unknown mapping.
    ImageError
        The tractogram is missing, damaged or truncated.
    """
    if mapping not in MAPPINGS:
        raise ArgumentError(
            f"unknown streamline mapping {mapping!r}; choose one of {', '.join(MAPPINGS)}"
        )
    shape = tuple(int(s) for s in shape[:3])
    affine = np.asarray(affine, dtype=np.float64)
    n_voxels = int(np.prod(shape))
    info = read_info(tractogram)
    ratio = upsample_ratio(info.step_size, affine) if mapping == "mrtrix" else 1
    counts, columns, flags, ends = [], [], [], []
    for chunk in iter_chunks(tractogram, chunk_points):
        if mapping == "exact":
            rows, cols = traversed_voxels(chunk.points, chunk.offsets, affine, shape)
        else:
            rows, cols = sampled_voxels(chunk.points, chunk.offsets, affine, shape, ratio)
            if ratio > 1:
                vrows, vcols = sampled_voxels(chunk.points, chunk.offsets, affine, shape, 1)
                keys = rows * n_voxels + cols
                vkeys = vrows * n_voxels + vcols
                pos = np.minimum(np.searchsorted(vkeys, keys), max(len(vkeys) - 1, 0))
                flags.append(vkeys[pos] == keys if len(vkeys) else np.zeros(len(keys), bool))
        counts.append(np.bincount(rows, minlength=chunk.n_streamlines))
        columns.append(cols.astype(np.int32))
        ends.append(_endpoints(chunk.points, chunk.offsets))
    n = sum(len(c) for c in counts)
    indptr = np.zeros(n + 1, dtype=np.int64)
    if n:
        np.cumsum(np.concatenate(counts), out=indptr[1:])
    indices = np.concatenate(columns) if columns else np.empty(0, np.int32)
    matrix = sparse.csr_matrix(
        (np.ones(len(indices), dtype=bool), indices, indptr), shape=(n, n_voxels)
    )
    return Incidence(
        matrix=matrix,
        tested=np.concatenate(flags) if flags else None,
        endpoints=np.concatenate(ends) if ends else np.empty((0, 2, 3), np.float32),
        shape=shape,  # type: ignore[arg-type]
        affine=affine,
        mapping=mapping,
        upsample_ratio=ratio,
        source=str(Path(tractogram)),
    )


def _save(path: Path, inc: Incidence) -> None:
    meta = {
        "format": _FORMAT,
        "shape": list(inc.shape),
        "affine": inc.affine.tolist(),
        "mapping": inc.mapping,
        "upsample_ratio": inc.upsample_ratio,
        "source": inc.source,
    }
    arrays: dict[str, np.ndarray] = {
        "meta": np.array(json.dumps(meta)),
        "indptr": inc.matrix.indptr,
        "indices": inc.matrix.indices,
        "endpoints": inc.endpoints,
    }
    if inc.tested is not None:
        arrays["tested"] = inc.tested
    with atomic_write(path, "wb") as fh:
        np.savez(fh, **arrays)


def _load(path: Path, key: str) -> Incidence | None:
    """The cached incidence at ``path``; None when it is missing or unusable."""
    try:
        with np.load(path, allow_pickle=False) as npz:
            meta = json.loads(str(npz["meta"]))
            if meta.get("format") != _FORMAT:
                return None
            indptr, indices = npz["indptr"], npz["indices"]
            tested = npz["tested"] if "tested" in npz.files else None
            endpoints = npz["endpoints"]
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile):
        return None
    shape = tuple(meta["shape"])
    n = len(indptr) - 1
    if indptr[-1] != len(indices) or endpoints.shape != (n, 2, 3):
        return None
    touch(path)
    return Incidence(
        matrix=sparse.csr_matrix(
            (np.ones(len(indices), dtype=bool), indices, indptr),
            shape=(n, int(np.prod(shape))),
        ),
        tested=tested,
        endpoints=endpoints,
        shape=shape,  # type: ignore[arg-type]
        affine=np.asarray(meta["affine"], dtype=np.float64),
        mapping=meta["mapping"],
        upsample_ratio=int(meta["upsample_ratio"]),
        source=meta["source"],
        key=key,
    )


def incidence_key(
    tractogram: str | os.PathLike[str], shape: tuple[int, ...], affine: np.ndarray, mapping: str
) -> str:
    """The cache key of a tractogram's incidence on a grid."""
    return cache_key(
        "incidence",
        _FORMAT,
        tractogram_fingerprint(tractogram),
        [int(s) for s in shape[:3]],
        np.asarray(affine, dtype=np.float64).tolist(),
        mapping,
    )


def tractogram_incidence(
    tractogram: str | os.PathLike[str],
    shape: tuple[int, ...],
    affine: np.ndarray,
    *,
    mapping: str = "mrtrix",
    cache: bool = True,
    chunk_points: int = DEFAULT_CHUNK_POINTS,
) -> Incidence:
    """A tractogram's incidence on a grid: from the cache, or built and cached.

    Parameters
    ----------
    tractogram : path-like
        A .tck or .trk file.
    shape, affine
        The grid.
    mapping : {"mrtrix", "exact"}
        See :mod:`.traversal`.
    cache : bool
        Read and write the on-disk cache (``$NEURATLAS_CACHE/tractography``).
    chunk_points : int
        Points read at a time while building.

    Raises
    ------
    ArgumentError
        An unknown mapping.
    ImageError
        The tractogram is missing, damaged or truncated.
    """
    path = Path(tractogram)
    if not path.is_file():
        raise ImageError(f"{path}: no such tractogram file", hint="check the path")
    if not cache:
        return build_incidence(path, shape, affine, mapping=mapping, chunk_points=chunk_points)
    key = incidence_key(path, shape, affine, mapping)
    entry = cache_path(CACHE_AREA, key, ".npz")
    if entry.is_file():
        found = _load(entry, key)
        if found is not None:
            return found
    built = build_incidence(path, shape, affine, mapping=mapping, chunk_points=chunk_points)
    _save(entry, built)
    return replace(built, key=key)
