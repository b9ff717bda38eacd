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

One more exception keeps the lesion test ``tckedit``'s to the last streamline:
``tckedit`` places points in voxels on the mask cropped to its bounding box, in
float32, so a stored point within a rounding step of a voxel face may be in
another voxel for it than for ``tckmap``, depending on the lesion
(:mod:`.traversal`). Those few points (about one in ten thousand) are kept
aside with their streamline, left out of the ``tested`` flags, and tested
against each lesion's own cropped grid.
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
    point_voxels,
    roi_crop,
    roi_voxels,
    sampled_voxels,
    traversed_voxels,
    upsample_ratio,
    visit_pairs,
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
_FORMAT = 2
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
        voxel holds a stored point that is not on a voxel face, under MRtrix3's
        rule); None when it looks at all of them.
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
    face_streamlines : numpy.ndarray, shape (F,), int64
        Under MRtrix3's rule: the streamline of each stored point that lies within
        a float32 rounding step of a voxel face (``face_points``); the lesion test
        places those per lesion, as ``tckedit`` does (:func:`.traversal.roi_voxels`).
    face_points : numpy.ndarray, shape (F, 3), float32
        Those points, world mm.
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
    face_streamlines: np.ndarray = field(default_factory=lambda: np.empty(0, np.int64))
    face_points: np.ndarray = field(default_factory=lambda: np.empty((0, 3), np.float32))

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
        counts = self._tested_hits(lesions)
        if len(self.face_streamlines):
            counts = counts + self._face_hits(lesions)
        return sparse.csc_matrix(counts > 0)

    def _tested_hits(self, lesions: sparse.csr_matrix) -> sparse.spmatrix:
        """(streamlines x lesions) counts of tested entries on each lesion."""
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
        return sub @ lesions.astype(np.int32)

    @cached_property
    def _face_voxels(self) -> np.ndarray:
        """(F, 3) voxel of each face point on the whole grid, to a voxel (float64 rounding)."""
        inverse = np.linalg.inv(self.affine)
        v = self.face_points.astype(np.float64) @ inverse[:3, :3].T + inverse[:3, 3]
        return np.floor(v + 0.5).astype(np.int64)

    def _face_hits(self, lesions: sparse.csr_matrix) -> sparse.csr_matrix:
        """(streamlines x lesions): 1 where tckedit places a face point in the lesion."""
        columns = sparse.csc_matrix(lesions)
        columns.sort_indices()
        rows, cols = [], []
        for k in range(columns.shape[1]):
            voxels = columns.indices[columns.indptr[k] : columns.indptr[k + 1]]
            if len(voxels) == 0:
                continue
            # only points next to the lesion's box can be placed in it on any grid
            ijk = np.stack(np.unravel_index(voxels, self.shape), axis=1)
            near = np.all(
                (self._face_voxels >= ijk.min(0) - 2) & (self._face_voxels <= ijk.max(0) + 2),
                axis=1,
            )
            if not near.any():
                continue
            origin, size = roi_crop(voxels, self.affine, self.shape)
            where = np.flatnonzero(near)
            placed = roi_voxels(self.face_points[where], self.affine, self.shape, origin, size)
            pos = np.minimum(np.searchsorted(voxels, placed), len(voxels) - 1)
            inside = where[(placed >= 0) & (voxels[pos] == placed)]
            rows.append(self.face_streamlines[inside])
            cols.append(np.full(len(inside), k, dtype=np.int64))
        row = np.concatenate(rows) if rows else np.empty(0, np.int64)
        col = np.concatenate(cols) if cols else np.empty(0, np.int64)
        return sparse.csr_matrix(
            (np.ones(len(row), dtype=np.int32), (row, col)),
            shape=(self.n_streamlines, columns.shape[1]),
        )

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
    counts, columns, flags, ends, face_rows, face_points = [], [], [], [], [], []
    for chunk in iter_chunks(tractogram, chunk_points):
        tested = None
        if mapping == "exact":
            rows, cols = traversed_voxels(chunk.points, chunk.offsets, affine, shape)
        else:
            rows, cols, tested, near = _mrtrix_chunk(
                chunk.points, chunk.offsets, affine, shape, ratio
            )
            on_face = np.flatnonzero(near)
            owner = np.searchsorted(chunk.offsets, on_face, side="right") - 1
            face_rows.append(chunk.start + owner)
            face_points.append(chunk.points[on_face])
        flags.append(tested)
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
    all_tested = None
    if any(f is not None for f in flags):
        all_tested = np.concatenate(
            [
                np.ones(len(c), bool) if f is None else f
                for f, c in zip(flags, columns, strict=True)
            ]
        )
    return Incidence(
        matrix=matrix,
        tested=all_tested,
        endpoints=np.concatenate(ends) if ends else np.empty((0, 2, 3), np.float32),
        shape=shape,  # type: ignore[arg-type]
        affine=affine,
        mapping=mapping,
        upsample_ratio=ratio,
        source=str(Path(tractogram)),
        face_streamlines=np.concatenate(face_rows) if face_rows else np.empty(0, np.int64),
        face_points=(np.concatenate(face_points) if face_points else np.empty((0, 3), np.float32)),
    )


def _mrtrix_chunk(
    points: np.ndarray,
    offsets: np.ndarray,
    affine: np.ndarray,
    shape: tuple[int, ...],
    ratio: int,
) -> tuple[np.ndarray, np.ndarray, np.ndarray | None, np.ndarray]:
    """One chunk under MRtrix3's rule: (rows, cols, tested flags or None, points on a face).

    The entries are tckmap's (upsampled points); ``tested`` marks those that hold a
    stored point off every voxel face, which tckedit places where tckmap does.
    """
    n_voxels = int(np.prod(shape))
    owner = np.repeat(np.arange(len(offsets) - 1), np.diff(offsets))
    flat, near = point_voxels(points, affine, shape)
    if ratio > 1:
        rows, cols = sampled_voxels(points, offsets, affine, shape, ratio)
        off_face = ~near
        vrows, vcols = visit_pairs(owner[off_face], flat[off_face], n_voxels)
        return rows, cols, _members(rows, cols, vrows, vcols, n_voxels), near
    rows, cols = visit_pairs(owner, flat, n_voxels)
    if not near.any():
        return rows, cols, None, near
    # every entry holds a stored point; it is untested when all of its points are
    # on a face, which only the few streamlines with such points need checking for
    streamlines = np.unique(owner[near])
    pos = np.minimum(np.searchsorted(streamlines, owner), len(streamlines) - 1)
    involved = streamlines[pos] == owner
    frows, fcols = visit_pairs(owner[near], flat[near], n_voxels)
    off_face = involved & ~near
    orows, ocols = visit_pairs(owner[off_face], flat[off_face], n_voxels)
    only_face = ~_members(frows, fcols, orows, ocols, n_voxels)
    tested = np.ones(len(rows), dtype=bool)
    keys = rows * n_voxels + cols
    tested[np.searchsorted(keys, frows[only_face] * n_voxels + fcols[only_face])] = False
    return rows, cols, tested, near


def _members(
    rows: np.ndarray, cols: np.ndarray, in_rows: np.ndarray, in_cols: np.ndarray, n_voxels: int
) -> np.ndarray:
    """Which (rows, cols) pairs are among the sorted unique pairs (in_rows, in_cols)."""
    keys = rows * n_voxels + cols
    known = in_rows * n_voxels + in_cols
    if len(known) == 0:
        return np.zeros(len(keys), dtype=bool)
    pos = np.minimum(np.searchsorted(known, keys), len(known) - 1)
    return known[pos] == keys


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
    if len(inc.face_streamlines):
        arrays["face_streamlines"] = inc.face_streamlines
        arrays["face_points"] = inc.face_points
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
            face_streamlines = (
                npz["face_streamlines"]
                if "face_streamlines" in npz.files
                else np.empty(0, np.int64)
            )
            face_points = (
                npz["face_points"] if "face_points" in npz.files else np.empty((0, 3), np.float32)
            )
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile):
        return None
    shape = tuple(meta["shape"])
    n = len(indptr) - 1
    if (
        indptr[-1] != len(indices)
        or endpoints.shape != (n, 2, 3)
        or (tested is not None and len(tested) != len(indices))
        or face_points.shape != (len(face_streamlines), 3)
    ):
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
        face_streamlines=face_streamlines,
        face_points=face_points,
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
