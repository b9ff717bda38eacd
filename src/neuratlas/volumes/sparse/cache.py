"""The cache policy of sparse indexes: build once, then load memory-mapped.

An index is cached as a folder (:mod:`neuratlas.volumes.sparse.folder`) under the
``sparse`` area of the neuratlas cache (:mod:`neuratlas.retrieval.cache`), named by
its key. A damaged entry is rebuilt rather than reported: the cache holds nothing
that cannot be made again. Every new entry keeps the cache under its size cap,
least recently used entries out first.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

from neuratlas.errors import ImageError
from neuratlas.retrieval.cache import cache_path, evict, touch
from neuratlas.volumes.sparse.folder import load_folder, save_folder
from neuratlas.volumes.sparse.header import HEADER_NAME
from neuratlas.volumes.sparse.index import SparseIndex

__all__ = ["CACHE_AREA", "cached_index", "store_index"]

#: The area (sub-folder) of the neuratlas cache that holds sparse indexes.
CACHE_AREA = "sparse"


def cached_index(key: str, build: Callable[[], SparseIndex], *, mmap: bool = True) -> SparseIndex:
    """Load the index cached under ``key``, building and caching it if needed.

    A damaged cache entry (missing, truncated or inconsistent files) is rebuilt;
    every new entry keeps the cache under its size cap, least recently used out first.

    Parameters
    ----------
    key : str
        Cache key (e.g. from :func:`neuratlas.retrieval.cache.cache_key`).
    build : callable
        Returns the index when the cache has none (or a damaged one).
    mmap : bool
        Memory-map the cached arrays.

    Returns
    -------
    SparseIndex
        The cached copy (memory-mapped when ``mmap``).
    """
    folder = cache_path(CACHE_AREA, key)
    # one build per key in this process: threads asking at once (service workers,
    # the service's warm-up) wait for the first one instead of building again
    with _lock_of(key):
        if (folder / HEADER_NAME).is_file():
            try:
                index = load_folder(folder, mmap=mmap)
            except ImageError:
                pass  # a damaged entry is rebuilt below
            else:
                touch(folder / HEADER_NAME)  # used now: last in line for eviction
                return index
        return store_index(key, build(), mmap=mmap)


_locks: dict[str, threading.Lock] = {}
_locks_guard = threading.Lock()


def _lock_of(key: str) -> threading.Lock:
    with _locks_guard:
        return _locks.setdefault(key, threading.Lock())


def store_index(key: str, index: SparseIndex, *, mmap: bool = True) -> SparseIndex:
    """Put ``index`` in the cache under ``key`` (replacing any entry) and return the cached copy.

    Parameters
    ----------
    key : str
        Cache key.
    index : SparseIndex
        A non-empty index.
    mmap : bool
        Memory-map the returned copy's arrays.

    Returns
    -------
    SparseIndex
        The index loaded back from the cache, so that callers share the file's pages.

    Raises
    ------
    neuratlas.errors.ImageError
        If ``index`` is empty (no image added).
    """
    folder = cache_path(CACHE_AREA, key)
    save_folder(index, folder)
    evict()  # keep the cache under its cap, least recently used out first
    return load_folder(folder, mmap=mmap)
