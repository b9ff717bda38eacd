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
from collections.abc import Iterator
from typing import TYPE_CHECKING

import numpy as np

from neuratlas.errors import ImageError
from neuratlas.retrieval import cache
from neuratlas.volumes.nifti import open_image
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

    The sources are read one 3D volume at a time, in file order, so that a 4D
    file is decompressed once and never held whole in memory (Juelich: 469 MB
    unpacked, one 4 MB volume at a time).

    Raises
    ------
    ImageError
        A source file is corrupt, or the sources lie on different grids.
    """
    files = _source_files(the_map)
    try:
        with open_image(files[min(files)]) as first:
            grid = first.shape[:3], first.affine
        return SparseIndex.from_volumes(_source_volumes(the_map, files, grid), grid[1])
    except DECODE_ERRORS as exc:
        if isinstance(exc, ImageError):
            raise
        raise ImageError(
            f"cannot read the sources of {the_map.id!r} ({', '.join(files.values())}): {exc}",
            hint="a source file is corrupt or truncated; delete it so that it is fetched again",
        ) from None


def _source_volumes(
    the_map: Map, files: dict[int, str], grid: tuple[tuple[int, ...], np.ndarray]
) -> Iterator[np.ndarray]:
    """The map's sources as 3D arrays, in the order of :attr:`Map.sparse_sources`."""
    for volume in sorted(files):
        # not the in-memory LRU of providers: 4D sources are large and read once here
        with open_image(files[volume]) as img:
            if img.shape[:3] != grid[0] or not np.allclose(img.affine, grid[1]):
                raise ImageError(
                    f"{files[volume]!r} is on another grid than the map's first volume"
                )
            for z in (z for v, z in the_map.sparse_sources if v == volume):
                data = img.dataobj[..., 0 if z is None else z] if img.ndim == 4 else img.dataobj
                yield np.asanyarray(data)
