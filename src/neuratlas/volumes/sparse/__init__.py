"""Sparse storage of probabilistic (statistical) maps: many 3D volumes on one voxel grid.

One module per job:

:mod:`~neuratlas.volumes.sparse.index`
    :class:`SparseIndex`, the data structure (building, queries, no files).
:mod:`~neuratlas.volumes.sparse.folder`
    :func:`save_folder` / :func:`load_folder`: ``.npy`` arrays plus ``header.json``,
    loaded memory-mapped in milliseconds (the cache form; header in
    :mod:`~neuratlas.volumes.sparse.header`).
:mod:`~neuratlas.volumes.sparse.zipped`
    :func:`save_zip` / :func:`load_zip`: the same in one zip.
:mod:`~neuratlas.volumes.sparse.siibra_v1`
    :func:`save_siibra_v1` / :func:`load_siibra_v1`: siibra's three-file
    ``sparseindex_v1`` format.
:mod:`~neuratlas.volumes.sparse.cache`
    :func:`cached_index` / :func:`store_index`: build once, cache, load memory-mapped.
"""

from __future__ import annotations

from neuratlas.volumes.sparse.cache import cached_index, store_index
from neuratlas.volumes.sparse.folder import load_folder, save_folder
from neuratlas.volumes.sparse.index import SparseIndex
from neuratlas.volumes.sparse.siibra_v1 import SIIBRA_V1_SUFFIXES, load_siibra_v1, save_siibra_v1
from neuratlas.volumes.sparse.zipped import load_zip, save_zip

__all__ = [
    "SIIBRA_V1_SUFFIXES",
    "SparseIndex",
    "cached_index",
    "load_folder",
    "load_siibra_v1",
    "load_zip",
    "save_folder",
    "save_siibra_v1",
    "save_zip",
    "store_index",
]
