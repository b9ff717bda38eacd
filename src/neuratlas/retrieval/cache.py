"""The on-disk cache: one root folder, keys hashed from inputs, atomic writes, LRU cap.

The root is ``$NEURATLAS_CACHE`` when set, else the platform's user cache folder.
Entries live in sub-folders per area (``downloads``, ``sparse``, ``maps``, ...).
Reading an entry touches its modification time so that :func:`evict` can drop the
least recently used files once the cache grows past its cap
(``$NEURATLAS_CACHE_MAX_GB``, default 20 GB).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

import platformdirs

DEFAULT_MAX_BYTES = 20 * 1024**3


def cache_root() -> Path:
    """Return the cache root folder, creating it if needed.

    Returns
    -------
    pathlib.Path
        ``$NEURATLAS_CACHE`` if set, else the platform user cache dir for neuratlas.
    """
    root = os.environ.get("NEURATLAS_CACHE")
    path = Path(root).expanduser() if root else Path(platformdirs.user_cache_dir("neuratlas"))
    path.mkdir(parents=True, exist_ok=True)
    return path


def cache_dir(area: str) -> Path:
    """Return (and create) the cache sub-folder for one area, e.g. ``"sparse"``."""
    path = cache_root() / area
    path.mkdir(parents=True, exist_ok=True)
    return path


def cache_key(*parts: Any) -> str:
    """Hash any JSON-serialisable inputs into a stable 20-character hex key.

    Parameters
    ----------
    *parts
        The inputs that determine the cached product (URLs, parameters, versions).
    """
    text = json.dumps(parts, sort_keys=True, default=str, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:20]


def cache_path(area: str, key: str, suffix: str = "") -> Path:
    """Return the path of one cache entry (which may not exist yet)."""
    return cache_dir(area) / f"{key}{suffix}"


def touch(path: Path) -> None:
    """Mark a cache entry as just used (for LRU eviction)."""
    with contextlib.suppress(OSError):
        os.utime(path)


@contextlib.contextmanager
def atomic_write(path: str | os.PathLike[str], mode: str = "wb") -> Iterator[IO[Any]]:
    """Open a temporary file next to ``path`` and move it into place on success.

    Readers never see a half-written file: the temporary file lives in the same
    folder (so ``os.replace`` is atomic) and is deleted if the block raises.

    Parameters
    ----------
    path : path-like
        The final destination.
    mode : {"wb", "w"}
        Binary or text mode.

    Examples
    --------
    >>> with atomic_write(tmp_path / "a.txt", "w") as f:  # doctest: +SKIP
    ...     f.write("hello")
    """
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".part")
    try:
        with os.fdopen(fd, mode) as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


@contextlib.contextmanager
def atomic_dir(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Build a folder under a temporary name and rename it into place on success."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=target.parent, prefix=f".{target.name}.", suffix=".part"))
    try:
        yield tmp
        if target.exists():
            shutil.rmtree(target)
        os.replace(tmp, target)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def max_bytes() -> int:
    """The cache size cap in bytes, from ``$NEURATLAS_CACHE_MAX_GB``."""
    value = os.environ.get("NEURATLAS_CACHE_MAX_GB")
    return int(float(value) * 1024**3) if value else DEFAULT_MAX_BYTES


def usage() -> tuple[int, int]:
    """Return ``(number of files, total bytes)`` held in the cache."""
    files = [p for p in cache_root().rglob("*") if p.is_file()]
    return len(files), sum(p.stat().st_size for p in files)


def evict(limit: int | None = None) -> int:
    """Delete least recently used files until the cache fits under ``limit`` bytes.

    Parameters
    ----------
    limit : int, optional
        The cap; defaults to :func:`max_bytes`.

    Returns
    -------
    int
        The number of bytes freed.
    """
    limit = max_bytes() if limit is None else limit
    entries = [(p.stat(), p) for p in cache_root().rglob("*") if p.is_file()]
    total = sum(st.st_size for st, _ in entries)
    freed = 0
    for st, path in sorted(entries, key=lambda e: e[0].st_mtime):
        if total - freed <= limit:
            break
        with contextlib.suppress(OSError):
            path.unlink()
            freed += st.st_size
    return freed


def clear(area: str | None = None) -> None:
    """Delete one area of the cache, or all of it."""
    target = cache_root() / area if area else cache_root()
    if target.exists():
        shutil.rmtree(target)
