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
import re
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path, PurePosixPath
from typing import IO, Any

import platformdirs

DEFAULT_MAX_BYTES = 20 * 1024**3


def _read_umask() -> int:
    # read once at import: os.umask can only be read by setting it, which is not thread-safe
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


_UMASK = _read_umask()


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


def _key_default(obj: Any) -> Any:
    """JSON stand-in for values json cannot encode, identical across processes."""
    if isinstance(obj, set | frozenset):
        # set order follows string hashing, which changes from one process to the next
        return sorted(json.dumps(item, sort_keys=True, default=_key_default) for item in obj)
    if hasattr(obj, "__array__") and hasattr(obj, "dtype") and hasattr(obj, "shape"):
        # heavy: NumPy stays out of catalogue lookups; an array here means it is loaded
        import numpy as np

        array = np.ascontiguousarray(obj)
        if array.ndim == 0:
            return array.item()
        # str() of a large array elides its middle, so hash the bytes instead
        digest = hashlib.sha256(array.tobytes()).hexdigest()
        return {"array": digest, "dtype": array.dtype.str, "shape": list(array.shape)}
    return str(obj)


def cache_key(*parts: Any) -> str:
    """Hash any JSON-serialisable inputs into a stable 20-character hex key.

    Parameters
    ----------
    *parts
        The inputs that determine the cached product (URLs, parameters, versions).
        Paths and other objects count by their ``str``; sets by their sorted
        items; NumPy arrays by dtype, shape and content.
    """
    text = json.dumps(parts, sort_keys=True, default=_key_default, separators=(",", ":"))
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
        # mkstemp makes owner-only files; give the result the usual permissions
        os.chmod(tmp, 0o666 & ~_UMASK)
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
        os.chmod(tmp, 0o777 & ~_UMASK)
        try:
            os.replace(tmp, target)
        except OSError:
            if not target.is_dir():
                raise
            # a non-empty folder cannot be replaced: move it aside first, so that the
            # target is missing only between two renames (never half-deleted)
            old = Path(
                tempfile.mkdtemp(dir=target.parent, prefix=f".{target.name}.", suffix=".old")
            )
            os.replace(target, old)
            os.replace(tmp, target)
            shutil.rmtree(old, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def max_bytes() -> int:
    """The cache size cap in bytes, from ``$NEURATLAS_CACHE_MAX_GB``."""
    value = os.environ.get("NEURATLAS_CACHE_MAX_GB")
    return int(float(value) * 1024**3) if value else DEFAULT_MAX_BYTES


def _file_stats(root: Path) -> list[os.stat_result]:
    """Stat every file under ``root`` (or ``root`` itself), skipping files that vanish."""
    paths = [root] if not root.is_dir() else [p for p in root.rglob("*") if not p.is_dir()]
    stats = []
    for path in paths:
        with contextlib.suppress(OSError):  # another process may delete it meanwhile
            stats.append(path.stat())
    return stats


def usage() -> tuple[int, int]:
    """Return ``(number of files, total bytes)`` held in the cache."""
    stats = _file_stats(cache_root())
    return len(stats), sum(st.st_size for st in stats)


def _entries() -> list[tuple[float, int, Path]]:
    """Every cache entry as ``(last use, bytes, path)``.

    An entry is one item inside an area folder (or at the root): a file, or a
    folder built by :func:`atomic_dir`, which is used and evicted as a whole.
    """
    root = cache_root()
    items: list[Path] = []
    for child in root.iterdir():
        if child.is_dir() and not child.is_symlink():
            items.extend(child.iterdir())
        else:
            items.append(child)
    entries = []
    for item in items:
        try:
            own = item.stat()
        except OSError:
            continue  # deleted meanwhile
        if item.is_dir():
            inner = _file_stats(item)
            # a folder's own mtime is what touch() refreshes; its files' mtimes count too
            last = max([own.st_mtime, *(st.st_mtime for st in inner)])
            entries.append((last, sum(st.st_size for st in inner), item))
        else:
            entries.append((own.st_mtime, own.st_size, item))
    return entries


def evict(limit: int | None = None) -> int:
    """Delete least recently used entries until the cache fits under ``limit`` bytes.

    Entries are files, or whole folders built with :func:`atomic_dir` (a folder
    is never left half-deleted); their last use is the newest modification time
    within them, which :func:`touch` refreshes.

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
    entries = _entries()
    total = sum(size for _, size, _ in entries)
    freed = 0
    for _, size, path in sorted(entries, key=lambda e: e[0]):
        if total - freed <= limit:
            break
        with contextlib.suppress(OSError):
            if path.is_dir() and not path.is_symlink():
                shutil.rmtree(path)
            else:
                path.unlink()
            freed += size
    return freed


def clear(area: str | None = None) -> None:
    """Delete one area of the cache, or all of it."""
    target = cache_root() / area if area else cache_root()
    if target.exists():
        shutil.rmtree(target)


def name_suffix(name: str) -> str:
    """The file suffix of a file name, keeping compression pairs such as ``.nii.gz``.

    Only short alphanumeric suffixes count, so version-like names such as
    ``v1.2`` do not produce odd cache names.
    """
    suffixes = [s for s in PurePosixPath(name).suffixes if re.fullmatch(r"\.[A-Za-z0-9]{1,5}", s)]
    if len(suffixes) >= 2 and suffixes[-1].lower() in (".gz", ".bz2", ".xz", ".zst"):
        return "".join(suffixes[-2:])
    return suffixes[-1] if suffixes else ""
