"""The sparse index of a statistical map: built from its source images, cached on disk.

Volume ``k`` of the index is the map's ``k``-th (volume, z) source
(:attr:`Map.sparse_sources`), with the source's values unchanged; the map's
``value_scale`` is applied on the way out (:func:`scaled`). The index is keyed by
the map's ``@id``, its sources (file, size, mtime, z) and the value scale, so a
changed source file gives a new index; the cache policy itself (memory-mapped
folder, repair of damaged entries, size cap) is :mod:`neuratlas.volumes.sparse.cache`.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

import nibabel as nib
import numpy as np

from neuratlas.errors import ImageError
from neuratlas.retrieval import cache
from neuratlas.volumes.providers import DECODE_ERRORS
from neuratlas.volumes.sparse import SparseIndex, cached_index

if TYPE_CHECKING:
    from neuratlas.core.maps import Map

FORMAT_VERSION = 2  # 2: sources keyed by mtime in nanoseconds


def scaled(values: np.ndarray, scale: float) -> np.ndarray:
    """Stored values as the map's values: ``float32(values) * float32(scale)``.

    The one formula for every way out of a statistical map (dense fetch, sparse
    fetch, assignment), so all of them agree to the bit.
    """
    return np.asarray(values).astype(np.float32) * np.float32(scale)


def _source_files(the_map: Map) -> dict[int, str]:
    return {v: str(the_map.volumes[v].path()) for v in {v for v, _ in the_map.sparse_sources}}


def index_key(the_map: Map) -> str:
    """The cache key of a map's sparse index."""
    stats = {}
    for volume, file in _source_files(the_map).items():
        stat = os.stat(file)
        # nanoseconds: a file rewritten within the same second must change the key
        stats[volume] = (file, stat.st_size, stat.st_mtime_ns)
    return cache.cache_key(
        "sparse-index",
        FORMAT_VERSION,
        the_map.id,
        the_map.sparse_sources,
        sorted(stats.items()),
        the_map.value_scale,
    )


def sparse_index_of(the_map: Map) -> SparseIndex:
    """The sparse index of ``the_map``: loaded from the cache, or built and cached."""
    return cached_index(index_key(the_map), lambda: build_sparse_index(the_map))


def build_sparse_index(the_map: Map) -> SparseIndex:
    """Build the sparse index of ``the_map`` from its source images (no cache).

    Raises
    ------
    ImageError
        A source file is corrupt, or the sources lie on different grids.
    """
    files = _source_files(the_map)
    blocks = []
    affine = None
    for volume in sorted(files):
        try:
            img = nib.load(files[volume])  # not the in-memory LRU: 4D sources are large
            data = np.asanyarray(img.dataobj)
        except DECODE_ERRORS as exc:
            raise ImageError(
                f"cannot read {files[volume]!r}: {exc}", hint="the file is corrupt or truncated"
            ) from None
        zs = [z for v, z in the_map.sparse_sources if v == volume]
        if data.ndim == 4:
            picks = [0 if z is None else z for z in zs]
            blocks.append(data[..., picks] if picks != list(range(data.shape[3])) else data)
        else:
            blocks.append(data[..., None])
        if affine is None:
            affine = img.affine
        elif not np.allclose(affine, img.affine) or blocks[-1].shape[:3] != blocks[0].shape[:3]:
            raise ImageError(f"{files[volume]!r} is on another grid than the map's first volume")
    data4d = blocks[0] if len(blocks) == 1 else np.concatenate(blocks, axis=3)
    return SparseIndex.from_4d(data4d, affine)
