"""Is a downloaded file the file the server promised? Size, checksum and file type.

The servers say different things about their files: Dataverse gives an MD5 (or
another digest) per file, Figshare a size and usually an MD5, a GitHub release
a size and, for assets uploaded since 2025, a SHA-256. Whatever is known is
checked; and every file's first bytes must match the type its name claims, so
that an HTML error page saved under ``tractogram.trk`` is caught at once.
"""

from __future__ import annotations

import hashlib
import struct
from pathlib import Path

from neuratlas.errors import ArgumentError, DownloadChecksumError, DownloadError

__all__ = ["ALGORITHMS", "check_file", "file_digest", "header_problem"]

#: Digest names as servers write them -> hashlib names.
ALGORITHMS = {
    "md5": "md5",
    "sha1": "sha1",
    "sha-1": "sha1",
    "sha256": "sha256",
    "sha-256": "sha256",
    "sha512": "sha512",
    "sha-512": "sha512",
}
_BLOCK = 4 * 1024**2
_TRK_HEADER_SIZE = 1000


def file_digest(path: str | Path, algorithm: str = "md5") -> str:
    """The hex digest of a file, read in blocks.

    Raises
    ------
    ArgumentError
        An algorithm not in :data:`ALGORITHMS`.
    """
    name = ALGORITHMS.get(algorithm.lower())
    if name is None:
        raise ArgumentError(
            f"unknown checksum type {algorithm!r}",
            hint="one of " + ", ".join(sorted(set(ALGORITHMS))),
        )
    digest = hashlib.new(name)
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(_BLOCK), b""):
            digest.update(block)
    return digest.hexdigest()


def _looks_like_html(head: bytes) -> bool:
    text = head.lstrip()[:64].lower()
    return text.startswith((b"<!doctype html", b"<html", b"<?xml", b"<head", b"<body"))


def _trk_problem(head: bytes) -> str | None:
    if not head.startswith(b"TRACK"):
        return "it does not start with TrackVis's magic 'TRACK'"
    if len(head) < _TRK_HEADER_SIZE:
        return "it is shorter than a TrackVis header (1000 bytes)"
    little, big = struct.unpack("<i", head[996:1000])[0], struct.unpack(">i", head[996:1000])[0]
    if _TRK_HEADER_SIZE not in (little, big):
        return f"its header size field is {little}, not {_TRK_HEADER_SIZE}"
    return None


def header_problem(path: str | Path) -> str | None:
    """What is wrong with a file's first bytes for the type its name claims, or None.

    Known types: ``.trk``, ``.tck``, ``.zip``, ``.tar``, ``.gz`` (``.nii.gz``,
    ``.trk.gz``, ``.tar.gz``, ``.tgz``), ``.nii``, ``.h5``/``.hdf5``. Any file
    that starts like an HTML page is a problem, whatever its name.
    """
    name = Path(path).name.lower()
    with open(path, "rb") as handle:
        head = handle.read(_TRK_HEADER_SIZE)
    if not head:
        return "it is empty"
    if _looks_like_html(head) and not name.endswith((".html", ".htm", ".xml")):
        return "it is an HTML page, not a data file (the server answered with a web page)"
    if name.endswith((".gz", ".tgz")):
        return None if head.startswith(b"\x1f\x8b") else "it is not gzip-compressed"
    if name.endswith(".trk"):
        return _trk_problem(head)
    if name.endswith(".tck"):
        return None if head.startswith(b"mrtrix tracks") else "it is not an MRtrix .tck file"
    if name.endswith(".zip"):
        return None if head[:4] in (b"PK\x03\x04", b"PK\x05\x06") else "it is not a zip archive"
    if name.endswith(".tar"):
        return None if head[257:262] == b"ustar" else "it is not a tar archive"
    if name.endswith((".h5", ".hdf5")):
        return None if head.startswith(b"\x89HDF\r\n\x1a\n") else "it is not an HDF5 file"
    if name.endswith(".nii"):
        sizes = {struct.unpack("<i", head[:4])[0], struct.unpack(">i", head[:4])[0]}
        return None if sizes & {348, 540} else "it is not a NIfTI file"
    return None


def check_file(
    path: str | Path,
    *,
    url: str,
    size: int | None = None,
    checksum: str | None = None,
    algorithm: str = "md5",
) -> None:
    """Check a downloaded file's size, checksum and type; raise if any is wrong.

    The file is left in place: the caller decides whether to delete it.

    Parameters
    ----------
    path : path-like
        The downloaded file.
    url : str
        Where it came from (named in the message).
    size : int, optional
        The size the server announced.
    checksum : str, optional
        The digest the server announced (hex).
    algorithm : str
        The digest's algorithm (``"md5"``, ``"SHA-256"``, ...).

    Raises
    ------
    DownloadError
        The size, the checksum or the file type is not what was promised.
    """
    target = Path(path)
    actual_size = target.stat().st_size
    hint = (
        "the transfer was corrupted or the file changed on the server; fetch again "
        "(the bad file was removed), and if it keeps failing, check the server's page"
    )
    if size is not None and size >= 0 and actual_size != size:
        raise DownloadChecksumError(
            f"{target.name} from {url} has {actual_size} bytes, the server announced {size}",
            source=url,
            hint=hint,
        )
    if checksum:
        actual = file_digest(target, algorithm)
        if actual.lower() != checksum.strip().lower():
            raise DownloadChecksumError(
                f"{target.name} from {url} has {algorithm.upper()} {actual}, the server "
                f"announced {checksum.strip().lower()}",
                source=url,
                hint=hint,
            )
    problem = header_problem(target)
    if problem is not None:
        raise DownloadError(
            f"{target.name} from {url} is not a valid file: {problem}",
            source=url,
            hint="the server may have answered with an error page (an expired link, a "
            "missing permission or API key); fetch again, and check the source's web page",
        )
