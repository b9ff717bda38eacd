"""The on-disk cache: one root folder, keys hashed from inputs, atomic writes, LRU cap.

The root is ``$NEURATLAS_CACHE`` when set, else the platform's user cache folder;
a root that cannot be a folder (a file, or a place where no folder can be created)
raises :class:`~neuratlas.errors.DataUnavailableError` naming the variable and the path.
Entries live in sub-folders per area (``downloads``, ``sparse``, ``maps``, ...).
Reading an entry touches its modification time so that :func:`evict` can drop the
least recently used files once the cache grows past its cap
(``$NEURATLAS_CACHE_MAX_GB``, default 20 GB).

Every file neuratlas writes, in the cache or where the user asked, goes through
:func:`atomic_write` (or :func:`atomic_dir`); :func:`check_writable` checks a
user's output path before any work is done.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import math
import os
import re
import shutil
import sys
import tempfile
from collections.abc import Iterator
from contextvars import ContextVar
from pathlib import Path, PurePosixPath
from typing import IO, Any

import platformdirs

from neuratlas.errors import ArgumentError, DataUnavailableError

DEFAULT_MAX_BYTES = 20 * 1024**3
#: The environment variables that choose the cache folder and its size cap.
CACHE_ENV = "NEURATLAS_CACHE"
MAX_GB_ENV = "NEURATLAS_CACHE_MAX_GB"


def _read_umask() -> int:
    # read once at import: os.umask can only be read by setting it, which is not thread-safe
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


_UMASK = _read_umask()


def _default_root() -> Path:
    return Path(platformdirs.user_cache_dir("neuratlas"))


def _why_not_a_folder(path: Path) -> str | None:
    """Which file is in the way of ``path`` being a folder, in words; None if none is."""
    for place in (path, *path.parents):
        if place.exists() and not place.is_dir():
            return f"{place} is a file, not a folder"
    return None


def _os_reason(exc: OSError) -> str:
    return (exc.strerror or str(exc)).lower()


def _settings_hint() -> str:
    """What to do about a cache folder that cannot be used."""
    if os.environ.get(CACHE_ENV):
        return (
            f"set {CACHE_ENV} to a folder you can write to (it is created if missing), "
            f"or unset it to use {_default_root()}"
        )
    return f"set {CACHE_ENV} to a folder you can write to (it is created if missing)"


def cache_root() -> Path:
    """Return the cache root folder, creating it if needed.

    Returns
    -------
    pathlib.Path
        ``$NEURATLAS_CACHE`` if set, else the platform user cache dir for neuratlas.

    Raises
    ------
    DataUnavailableError
        The folder cannot exist: the path is a file, lies under a file, or cannot
        be created; the message names ``$NEURATLAS_CACHE`` and the path.
    """
    root = os.environ.get(CACHE_ENV)
    path = Path(root).expanduser() if root else _default_root()
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        what = f"{CACHE_ENV}={root}" if root else f"the cache folder {path}"
        raise DataUnavailableError(
            f"{what} cannot be used as the neuratlas cache: "
            + (_why_not_a_folder(path) or f"the folder cannot be created ({_os_reason(exc)})"),
            source=str(path),
            hint=_settings_hint(),
        ) from None
    return path


def cache_dir(area: str) -> Path:
    """Return (and create) the cache sub-folder for one area, e.g. ``"sparse"``.

    Raises
    ------
    DataUnavailableError
        As :func:`cache_root`, or when something in the cache is in the way of the
        sub-folder (a file of the same name).
    """
    path = cache_root() / area
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        in_the_way = path.exists() and not path.is_dir()
        raise DataUnavailableError(
            f"the cache folder {path} cannot be created: "
            + (_why_not_a_folder(path) or _os_reason(exc)),
            source=str(path),
            hint=f"delete the file {path}; the cache makes a folder there"
            if in_the_way
            else _settings_hint(),
        ) from None
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


def check_writable(
    path: str | os.PathLike[str], *, folder: bool = False, create_parents: bool = False
) -> Path:
    """Check, before any work is done, that a user's output path can be written.

    By default a file must go into an existing folder: a typo in the folder name
    should fail rather than create folders nobody asked for. A folder output may
    itself be missing (it is created) but its parent must exist, unless
    ``create_parents`` allows missing folders above it (nothing is created here).

    Parameters
    ----------
    path : path-like
        The output file (or folder, with ``folder=True``).
    folder : bool
        The output is a folder rather than a file.
    create_parents : bool
        Missing folders above ``path`` will be created by the writer.

    Returns
    -------
    pathlib.Path
        ``path``, with ``~`` expanded.

    Raises
    ------
    ArgumentError
        The path is a folder (for a file) or a file (for a folder), a file is in
        the way of its folder, the folder is missing (unless ``create_parents``),
        or the folder that would receive it is not writable.
    """
    target = Path(path).expanduser()
    place = target if folder and target.is_dir() else target.parent
    reason, hint = None, "choose a path in an existing folder you can write to"
    if place is target:
        pass  # an existing output folder: files are written into it
    elif target.is_dir():
        reason, hint = "it is a folder", f"give the name of a file in it: {target / '<name>'}"
    elif folder and target.exists():
        reason, hint = "it is a file", "give the path of a folder; it is created if missing"
    elif (blocked := _why_not_a_folder(place)) is not None:
        reason = blocked
    elif not place.exists() and not create_parents:
        reason = f"the folder {place} does not exist"
        hint = f"create it first with mkdir -p {place}, or fix the path"
    # the folder that gets the new entry: the nearest one that exists
    while not place.exists() and place != place.parent:
        place = place.parent
    if reason is None and not _can_write_in(place):
        reason = f"the folder {place} is not writable"
    if reason is not None:
        raise ArgumentError(f"cannot write {target}: {reason}", hint=hint)
    return target


def _can_write_in(folder: Path) -> bool:
    # the only sure test (read-only mounts, ACLs, root bypassing modes): create an
    # unnamed file there, gone on close
    try:
        with tempfile.TemporaryFile(dir=folder):
            return True
    except OSError:
        return False


def _unwritable(target: Path, exc: OSError) -> ArgumentError:
    """The error for a file or folder that cannot be created where asked."""
    reason = "it is a folder" if target.is_dir() else _why_not_a_folder(target.parent)
    return ArgumentError(
        f"cannot write {target}: {reason or _os_reason(exc)}",
        hint=f"choose a path in a folder you can write to; for the cache, set {CACHE_ENV} "
        "to such a folder",
    )


def make_parent(path: str | os.PathLike[str]) -> None:
    """Create the folder of ``path`` (and any missing above it).

    Raises
    ------
    ArgumentError
        The folder cannot be created: a file is in the way, or no permission.
    """
    target = Path(path)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise _unwritable(target, exc) from None


#: Inside :func:`synced_together`: the files written so far, to be made durable at its end.
_SYNC_LATER: ContextVar[list[str] | None] = ContextVar("neuratlas_sync_later", default=None)


@contextlib.contextmanager
def synced_together() -> Iterator[None]:
    """Make the files that :func:`atomic_write` writes inside durable together, at the end.

    Each file is still written atomically (readers see the old file or the new
    one), but instead of one ``fsync`` per file, which serialises processes that
    write many small files at once (a batch of subjects on Dask), the file system
    is synced once when the block ends (``syncfs`` on Linux; elsewhere, one
    ``fsync`` per file, then). Until then a power loss may lose the new files, so
    write whatever records that they are complete after the block.
    """
    written: list[str] = []
    token = _SYNC_LATER.set(written)
    try:
        yield
    finally:
        _SYNC_LATER.reset(token)
        _make_durable(written)


def _make_durable(paths: list[str]) -> None:
    by_device: dict[int, list[str]] = {}
    for path in paths:
        with contextlib.suppress(OSError):
            by_device.setdefault(os.stat(path).st_dev, []).append(path)
    syncfs = _syncfs()
    for files in by_device.values():
        if syncfs is not None and _synced_file_system(syncfs, files[0]):
            continue
        for path in files:
            with contextlib.suppress(OSError):
                fd = os.open(path, os.O_RDONLY)
                try:
                    os.fsync(fd)
                finally:
                    os.close(fd)


def _syncfs() -> Any:
    """Linux's ``syncfs`` from the C library, or None where there is none."""
    if not sys.platform.startswith("linux"):
        return None
    # optional: ctypes only where the C library has syncfs (glibc, musl)
    import ctypes

    try:
        return ctypes.CDLL(None, use_errno=True).syncfs
    except (OSError, AttributeError):
        return None


def _synced_file_system(syncfs: Any, path: str) -> bool:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return False
    try:
        return syncfs(fd) == 0
    finally:
        os.close(fd)


@contextlib.contextmanager
def atomic_write(path: str | os.PathLike[str], mode: str = "wb") -> Iterator[IO[Any]]:
    """Open a temporary file next to ``path`` and move it into place on success.

    Readers never see a half-written file: the temporary file lives in the same
    folder (so ``os.replace`` is atomic) and is deleted if the block raises.
    Missing folders above ``path`` are created (cache entries need that; check a
    user's output path with :func:`check_writable` first).

    Parameters
    ----------
    path : path-like
        The final destination.
    mode : {"wb", "w"}
        Binary or text mode.

    Raises
    ------
    ArgumentError
        ``path`` cannot be written: a file is in the way of its folder, the folder
        cannot be created or written, or ``path`` is a folder.

    Examples
    --------
    >>> with atomic_write(tmp_path / "a.txt", "w") as f:  # doctest: +SKIP
    ...     f.write("hello")
    """
    target = Path(path)
    make_parent(target)
    try:
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".part")
    except OSError as exc:
        raise _unwritable(target, exc) from None
    try:
        sync_later = _SYNC_LATER.get()
        with os.fdopen(fd, mode) as handle:
            yield handle
            handle.flush()
            if sync_later is None:
                os.fsync(handle.fileno())
        # mkstemp makes owner-only files; give the result the usual permissions
        os.chmod(tmp, 0o666 & ~_UMASK)
        try:
            os.replace(tmp, target)
        except IsADirectoryError as exc:
            raise _unwritable(target, exc) from None
        if sync_later is not None:
            sync_later.append(str(target))
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


@contextlib.contextmanager
def atomic_dir(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Build a folder under a temporary name and rename it into place on success.

    Raises
    ------
    ArgumentError
        The folder cannot be created where asked (see :func:`atomic_write`).
    """
    target = Path(path)
    make_parent(target)
    try:
        tmp = Path(tempfile.mkdtemp(dir=target.parent, prefix=f".{target.name}.", suffix=".part"))
    except OSError as exc:
        raise _unwritable(target, exc) from None
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
    """The cache size cap in bytes, from ``$NEURATLAS_CACHE_MAX_GB``.

    Raises
    ------
    ArgumentError
        The variable is set to something other than a number of gigabytes >= 0.
    """
    value = os.environ.get(MAX_GB_ENV, "").strip()
    if not value:
        return DEFAULT_MAX_BYTES
    try:
        gigabytes = float(value)
    except ValueError:
        gigabytes = math.nan
    if not math.isfinite(gigabytes) or gigabytes < 0:
        raise ArgumentError(
            f"{MAX_GB_ENV}={value} is not a size in gigabytes",
            hint=f"set it to a number >= 0, e.g. {MAX_GB_ENV}=20, or unset it for "
            f"the default ({DEFAULT_MAX_BYTES // 1024**3} GB)",
        )
    return int(gigabytes * 1024**3)


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
