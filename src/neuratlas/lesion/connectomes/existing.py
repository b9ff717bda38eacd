"""The error for an output that exists when ``overwrite=False``: OutputExistsError,
which is a ``FileExistsError`` as seed 004 says."""

from __future__ import annotations

from pathlib import Path

from neuratlas import errors
from neuratlas.errors import OutputExistsError


def output_exists(path: str | Path, *, what: str = "the output") -> errors.Error:
    """The error to raise when ``path`` exists and the caller did not allow overwriting it.

    Parameters
    ----------
    path : path-like
        The existing file or folder.
    what : str
        What ``path`` is, for the message (e.g. ``"the .tck file"``).
    """
    return OutputExistsError(
        f"{what} {path} already exists",
        hint="pass overwrite=True to replace it, or choose another path",
    )
