"""Writing MRtrix3 ``.tck`` tractograms, many streamlines per write.

The format (MRtrix3's documentation, "Tracks file format"): a text header
(``mrtrix tracks``, ``count: N``, ``datatype: Float32LE``, ``file: . <offset>``,
``END``), then each streamline's points as little-endian float32 triplets in
RAS+ millimetres, a ``(NaN, NaN, NaN)`` triplet after each streamline and an
``(inf, inf, inf)`` one at the end. nibabel writes one streamline per call,
which costs seconds per million streamlines; :class:`TckWriter` lays out a
whole batch with one NumPy assignment. The count is written last, into a
fixed-width field, so streamlines can be written as they are read.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType
from typing import IO, Any

import numpy as np
from nibabel.streamlines import ArraySequence

from neuratlas.retrieval.cache import atomic_write

__all__ = ["TckWriter"]

_COUNT_WIDTH = 10
_DTYPE = np.dtype("<f4")


def _header(count: int) -> bytes:
    """The header for ``count`` streamlines; its length does not depend on the count."""
    lines = ["mrtrix tracks", f"count: {count:0{_COUNT_WIDTH}d}", "datatype: Float32LE"]
    head = "\n".join(lines) + "\nfile: . "
    tail = "\nEND\n"
    # the offset names the header's own length: find the number that is consistent
    offset = len(head) + len(tail)
    while len(head) + len(str(offset)) + len(tail) != offset:
        offset = len(head) + len(str(offset)) + len(tail)
    return f"{head}{offset}{tail}".encode("ascii")


class TckWriter:
    """Write a ``.tck`` file atomically, a batch of streamlines at a time.

    Parameters
    ----------
    path : path-like
        The ``.tck`` file; it appears when the writer is closed without error.

    Examples
    --------
    >>> with TckWriter(tmp / "t.tck") as writer:  # doctest: +SKIP
    ...     writer.write(tractogram.streamlines)
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self.count = 0
        self._closed = False
        self._stack = contextlib.ExitStack()
        self._handle: IO[Any] = self._stack.enter_context(atomic_write(self.path, "wb"))
        self._handle.write(_header(0))

    def write(self, streamlines: ArraySequence | Sequence[np.ndarray]) -> int:
        """Append streamlines (RAS+ mm, each an (n, 3) array); empty ones are skipped.

        Returns
        -------
        int
            How many streamlines were written.
        """
        if isinstance(streamlines, ArraySequence):
            seq = streamlines
        else:
            seq = ArraySequence(
                [np.asarray(s, dtype=np.float32).reshape(-1, 3) for s in streamlines]
            )
        if len(seq) == 0:
            return 0
        lengths = np.asarray(seq._lengths, dtype=np.int64)  # nibabel keeps no public copy
        points = np.asarray(seq.get_data(), dtype=_DTYPE).reshape(-1, 3)
        kept = lengths > 0
        lengths = lengths[kept]
        n = lengths.size
        out = np.full((points.shape[0] + n, 3), np.nan, dtype=_DTYPE)
        # point p of streamline s goes to row p + s: each earlier streamline adds a NaN row
        out[np.arange(points.shape[0]) + np.repeat(np.arange(n), lengths)] = points
        self._handle.write(out.tobytes())
        self.count += n
        return n

    def close(self) -> Path:
        """Write the end marker and the count, and move the file into place."""
        if self._closed:
            return self.path
        self._closed = True
        self._handle.write(np.full((1, 3), np.inf, dtype=_DTYPE).tobytes())
        self._handle.seek(0)
        self._handle.write(_header(self.count))
        self._stack.close()
        return self.path

    def __enter__(self) -> TckWriter:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if exc is None:
            self.close()
        else:
            self._closed = True
            self._stack.__exit__(exc_type, exc, tb)
