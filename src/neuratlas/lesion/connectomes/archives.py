"""Unpacking downloaded zip and tar archives without letting them write elsewhere.

Every member is checked before anything is written: no absolute names, no
``..``, no links pointing out of the target folder, no device files. An
archive that fails any check raises :class:`~neuratlas.errors.ProcessingError`
naming the member, and nothing of it is extracted. The members go into a
temporary folder that takes the target's name only when all are out
(:func:`~neuratlas.retrieval.cache.atomic_dir`), so an interrupted extraction
leaves no half-filled folder behind.
"""

from __future__ import annotations

import posixpath
import stat
import tarfile
import zipfile
from pathlib import Path, PurePosixPath

from neuratlas.errors import ProcessingError
from neuratlas.retrieval.cache import atomic_dir

__all__ = ["extract_archive", "unsafe_member"]

_HINT = (
    "the archive is damaged or is not the dataset it claims to be; delete it and fetch "
    "again, and report it to the dataset's maintainers if it persists"
)


def unsafe_member(name: str, link: str | None = None, *, hard: bool = False) -> str | None:
    """Why an archive member cannot be extracted safely, or None when it can.

    Parameters
    ----------
    name : str
        The member's name inside the archive.
    link : str, optional
        The target of a symbolic (or, with ``hard``, a hard) link member.
    hard : bool
        ``link`` is a hard link (relative to the archive root, not to the member).
    """
    text = name.replace("\\", "/")
    if not text or text.startswith("/") or (len(text) > 1 and text[1] == ":"):
        return "it has an absolute path"
    if ".." in PurePosixPath(text).parts:
        return "its path climbs out of the target folder with '..'"
    if link is not None:
        target = link.replace("\\", "/")
        if target.startswith("/") or (len(target) > 1 and target[1] == ":"):
            return f"it links to the absolute path {link!r}"
        base = "" if hard else posixpath.dirname(text)
        resolved = posixpath.normpath(posixpath.join(base, target))
        if resolved == ".." or resolved.startswith("../"):
            return f"it links to {link!r}, outside the target folder"
    return None


def _refuse(archive: Path, member: str, problem: str) -> ProcessingError:
    return ProcessingError(
        f"refusing to extract {archive}: its member {member!r} is unsafe ({problem})",
        hint=_HINT,
    )


def _check_tar(archive: Path, tar: tarfile.TarFile) -> None:
    for member in tar.getmembers():
        if member.ischr() or member.isblk() or member.isfifo():
            problem: str | None = "it is a device or pipe, not a file"
        elif member.issym() or member.islnk():
            problem = unsafe_member(member.name, member.linkname, hard=member.islnk())
        else:
            problem = unsafe_member(member.name)
        if problem is not None:
            raise _refuse(archive, member.name, problem)


def _check_zip(archive: Path, zf: zipfile.ZipFile) -> None:
    for info in zf.infolist():
        problem = unsafe_member(info.filename)
        if problem is None and stat.S_ISLNK(info.external_attr >> 16):
            # zipfile writes a link as a file holding its target; such a file is no tract
            problem = "it is a symbolic link"
        if problem is not None:
            raise _refuse(archive, info.filename, problem)


def _unreadable(archive: Path, kind: str, exc: BaseException) -> ProcessingError:
    return ProcessingError(f"{archive} is not a readable {kind} archive ({exc})", hint=_HINT)


def extract_archive(archive: str | Path, target: str | Path) -> list[Path]:
    """Extract a zip or tar archive (any compression) into the folder ``target``.

    ``target`` is replaced as a whole, atomically, once every member is out.

    Parameters
    ----------
    archive : path-like
        A ``.zip``, ``.tar``, ``.tar.gz``, ``.tgz``, ``.tar.bz2`` or ``.tar.xz`` file.
    target : path-like
        The folder to create (an existing one is replaced).

    Returns
    -------
    list of Path
        The regular files extracted, sorted.

    Raises
    ------
    ProcessingError
        The archive cannot be read, is neither zip nor tar, or has an unsafe
        member (named in the message); nothing is extracted then.
    """
    source = Path(archive)
    folder = Path(target)
    if zipfile.is_zipfile(source):
        try:
            with zipfile.ZipFile(source) as zf:
                _check_zip(source, zf)
                with atomic_dir(folder) as tmp:
                    zf.extractall(tmp)
        except (zipfile.BadZipFile, OSError, EOFError) as exc:
            raise _unreadable(source, "zip", exc) from None
    elif _is_tar(source):
        try:
            with tarfile.open(source, "r:*") as tar:
                _check_tar(source, tar)
                with atomic_dir(folder) as tmp:
                    # the "data" filter repeats the checks above in tarfile itself and
                    # drops set-uid bits and ownership: defence in depth
                    tar.extractall(tmp, filter="data")
        except (tarfile.TarError, OSError, EOFError) as exc:
            raise _unreadable(source, "tar", exc) from None
    else:
        raise ProcessingError(
            f"{source} is neither a zip nor a tar archive",
            hint="the download may be an error page or incomplete; delete it and fetch again",
        )
    return sorted(p for p in folder.rglob("*") if p.is_file() and not p.is_symlink())


def _is_tar(path: Path) -> bool:
    try:
        return tarfile.is_tarfile(path)
    except OSError:
        return False
