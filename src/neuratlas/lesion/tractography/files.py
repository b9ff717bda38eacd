"""Tractogram files (.tck, .trk) read in chunks of streamlines, in world millimetres (RAS+).

nibabel reads both formats and gives every point in RAS+ millimetres (the
TrackVis voxel-millimetre convention and its half-voxel shift included). It is
used lazily here: streamlines are pulled one at a time and packed into chunks of
at most ``max_points`` points, so that a whole-brain tractogram of millions of
streamlines never sits in memory at once.

A chunk is one flat ``(points, 3)`` float32 array plus offsets, the layout of
nibabel's ``ArraySequence``: streamline ``i`` of the chunk is
``points[offsets[i]:offsets[i + 1]]``.
"""

from __future__ import annotations

import os
import struct
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import nibabel as nib
import numpy as np
from nibabel.streamlines.tractogram_file import DataError, HeaderError

from neuratlas.errors import ImageError

__all__ = ["FORMATS", "StreamlineChunk", "TractogramInfo", "iter_chunks", "read_info"]

#: The file extensions understood, and the format each names (nibabel reads .trk.gz too).
FORMATS = {".tck": "tck", ".trk": "trk", ".trk.gz": "trk"}
#: Points per chunk by default: 24 MB of float32 coordinates, about ten times that
#: while a chunk is mapped to voxels.
DEFAULT_CHUNK_POINTS = 2_000_000

# what nibabel raises on a damaged file: bad magic or header (HeaderError), a
# missing end marker (DataError), a short read (ValueError, TypeError, struct.error)
_READ_ERRORS = (OSError, EOFError, ValueError, TypeError, struct.error, DataError, HeaderError)


@dataclass(frozen=True)
class TractogramInfo:
    """What a tractogram file's header says.

    Attributes
    ----------
    path : pathlib.Path
    format : {"tck", "trk"}
    count : int or None
        The number of streamlines the header announces (None when it does not say).
    step_size : float or None
        The tracking step size in mm (``.tck`` headers written by MRtrix3:
        ``output_step_size`` or ``step_size``); None when the header has none.
    """

    path: Path
    format: str
    count: int | None
    step_size: float | None


@dataclass(frozen=True)
class StreamlineChunk:
    """Consecutive streamlines of a file, packed flat.

    Attributes
    ----------
    points : numpy.ndarray, shape (P, 3), float32
        Every point of the chunk's streamlines, world mm (RAS+).
    offsets : numpy.ndarray, shape (n + 1,), int64
        Streamline ``i`` is ``points[offsets[i]:offsets[i + 1]]``.
    start : int
        The index in the file of the chunk's first streamline.
    """

    points: np.ndarray
    offsets: np.ndarray
    start: int

    @property
    def n_streamlines(self) -> int:
        """How many streamlines the chunk holds."""
        return len(self.offsets) - 1


def _check_path(path: str | os.PathLike[str]) -> tuple[Path, str]:
    path = Path(path)
    name = path.name.lower()
    fmt = next((f for ext, f in FORMATS.items() if name.endswith(ext)), None)
    if fmt is None:
        raise ImageError(
            f"{path}: not a tractogram file (expected {', '.join(FORMATS)})",
            hint="convert it to .tck first, e.g. with nibabel.streamlines or MRtrix3 tckconvert",
        )
    if not path.is_file():
        raise ImageError(f"{path}: no such tractogram file", hint="check the path")
    return path, fmt


def _open(path: Path) -> nib.streamlines.TractogramFile:
    try:
        return nib.streamlines.load(str(path), lazy_load=True)
    except _READ_ERRORS as exc:
        raise ImageError(
            f"{path}: not a readable tractogram ({exc})",
            hint="check that the file is complete and really a .tck/.trk file",
        ) from None


def _header_count(fmt: str, header: dict) -> int | None:
    raw = header.get("count") if fmt == "tck" else header.get(nib.streamlines.Field.NB_STREAMLINES)
    try:
        count = int(raw)
    except (TypeError, ValueError):
        return None
    # TrackVis writes 0 when it did not count
    return count if count > 0 or fmt == "tck" else None


def _header_step_size(fmt: str, header: dict) -> float | None:
    if fmt != "tck":
        return None
    # MRtrix3's precedence: the step of the written points, else the tracking step
    for field in ("output_step_size", "step_size"):
        try:
            value = float(header[field])
        except (KeyError, TypeError, ValueError):
            continue
        if np.isfinite(value) and value > 0:
            return value
    return None


def read_info(path: str | os.PathLike[str]) -> TractogramInfo:
    """The header of a tractogram file: format, announced count, step size.

    Raises
    ------
    ImageError
        The file is missing, has another extension, or its header is damaged.
    """
    path, fmt = _check_path(path)
    header = dict(_open(path).header)
    return TractogramInfo(path, fmt, _header_count(fmt, header), _header_step_size(fmt, header))


def _pack(pieces: list[np.ndarray], start: int) -> StreamlineChunk:
    lengths = np.fromiter((len(p) for p in pieces), dtype=np.int64, count=len(pieces))
    offsets = np.zeros(len(pieces) + 1, dtype=np.int64)
    np.cumsum(lengths, out=offsets[1:])
    points = (
        np.concatenate(pieces).astype(np.float32, copy=False)
        if offsets[-1]
        else np.empty((0, 3), dtype=np.float32)
    )
    return StreamlineChunk(points.reshape(-1, 3), offsets, start)


def iter_chunks(
    path: str | os.PathLike[str], max_points: int = DEFAULT_CHUNK_POINTS
) -> Iterator[StreamlineChunk]:
    """The streamlines of a .tck or .trk file, in chunks of at most ``max_points`` points.

    A streamline longer than ``max_points`` makes a chunk of its own.

    Parameters
    ----------
    path : path-like
        The tractogram.
    max_points : int
        How many points a chunk may hold; bounds the memory of the reader.

    Yields
    ------
    StreamlineChunk
        Consecutive streamlines in file order, world mm (RAS+), float32.

    Raises
    ------
    ImageError
        The file is missing, damaged or truncated (found while reading it), or
        holds fewer or more streamlines than its header announces.
    """
    path, fmt = _check_path(path)
    tractogram_file = _open(path)
    announced = _header_count(fmt, dict(tractogram_file.header))
    pieces: list[np.ndarray] = []
    held = start = 0
    try:
        for streamline in tractogram_file.streamlines:
            pieces.append(streamline)
            held += len(streamline)
            if held >= max_points:
                yield _pack(pieces, start)
                start += len(pieces)
                pieces, held = [], 0
    except _READ_ERRORS as exc:
        raise ImageError(
            f"{path}: damaged after streamline {start + len(pieces)} ({exc})",
            hint="the file is probably truncated; download or convert it again",
        ) from None
    if pieces:
        yield _pack(pieces, start)
        start += len(pieces)
    if announced is not None and start != announced:
        raise ImageError(
            f"{path}: the header announces {announced} streamlines, the file holds {start}",
            hint="the file is probably truncated or was not closed properly; write it again",
        )
