"""How the CLI shows results: rich tables for people, JSON for machines, files by extension.

- Every command prints JSON through :func:`emit_json`: strict JSON, in which a
  value JSON has no word for (NaN, infinity) is ``null``.
- Tables fit the terminal: long cells wrap (a word longer than its column folds),
  they are never cut; number columns take no more room than their numbers.
- A command that writes a file checks the path with :func:`check_output_path`
  before any work, so that a bad ``-o`` fails at once and nothing (no folder
  either) is created; every command that writes rows writes them with
  :func:`write_rows`, in the format the file's extension names (:data:`ROW_FORMATS`).
"""

from __future__ import annotations

import importlib.util
import json
import math
import re
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from neuratlas.errors import ArgumentError
from neuratlas.retrieval.cache import atomic_write, check_writable

console = Console()
err_console = Console(stderr=True)

# the row formats by extension, each with the modules that can write it (any one of
# them does; none for the formats the standard library and pandas write themselves)
ROW_FORMATS: dict[str, tuple[str, ...]] = {
    ".csv": (),
    ".tsv": (),
    ".json": (),
    ".parquet": ("pyarrow", "fastparquet"),
    ".xlsx": ("openpyxl", "xlsxwriter"),
}

# how a table shows a value that is undefined (NaN): not "nan", which reads as a bug
UNDEFINED = "–"

_NUMBER = re.compile(r"^[-+]?[\d,]*\.?\d+(e[-+]?\d+)?$")


# --- printing ------------------------------------------------------------------------------
def emit_json(data: Any) -> None:
    """Print any JSON-able value (NumPy values and paths included) on stdout, as strict JSON."""
    sys.stdout.write(to_json(data) + "\n")


def to_json(data: Any) -> str:
    """Serialise ``data`` as strict JSON: NaN and infinities become ``null``.

    NumPy values and arrays become Python numbers and lists; anything else JSON
    cannot encode (a path, say) becomes its ``str``.
    """
    return json.dumps(_plain(data), indent=1, allow_nan=False)


def emit_rows(
    rows: Sequence[dict[str, Any]],
    *,
    title: str,
    as_json: bool,
    output: Path | None = None,
    columns: Sequence[str] | None = None,
    empty: str | None = None,
) -> None:
    """Print rows as a table, or as JSON with ``as_json``; ``output`` writes them to a file.

    Parameters
    ----------
    rows : sequence of dict
        The rows, all with the same keys.
    title : str
        The table's title.
    as_json : bool
        Print a JSON list instead of a table.
    output : pathlib.Path, optional
        Write the rows to this file instead (see :func:`write_rows`).
    columns : sequence of str, optional
        The columns; by default the keys of the first row. Give them so that an
        empty result still shows its title and header (and an empty file its header).
    empty : str, optional
        What to print instead of a table when there are no rows (e.g. ``"no region
        of <map> at <point>"``); JSON output is then ``[]`` all the same.
    """
    names = list(columns) if columns is not None else list(rows[0]) if rows else []
    if output is not None:
        write_rows(rows, output, columns=names)
        err_console.print(f"wrote {len(rows)} rows to {output}", soft_wrap=True, markup=False)
        return
    if as_json:
        emit_json(list(rows))
        return
    if not rows and empty is not None:
        console.print(empty, soft_wrap=True, markup=False)
        return
    console.print(_table(rows, names, title))


def emit_object(obj: dict[str, Any], *, as_json: bool) -> None:
    """Print one object: ``key: value`` lines, or JSON.

    A value that is a non-empty list of dicts prints as a table titled by its key,
    after the other lines.
    """
    if as_json:
        emit_json(obj)
        return
    tables = {}
    for key, value in obj.items():
        if isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
            tables[key] = value
            continue
        console.print(f"[bold]{escape(key)}[/bold]: {escape(_cell(value) or UNDEFINED)}")
    for key, rows in tables.items():
        console.print(_table(rows, list(rows[0]), key))


def one_line(error: BaseException | str) -> str:
    """An error's text on one line (nibabel's, say, carry line breaks)."""
    return " ".join(str(error).split())


def _table(rows: Sequence[dict[str, Any]], names: Sequence[str], title: str) -> Table:
    # Text, not str: rich would read "[...]" in a region's name as markup
    table = Table(title=Text(title), title_justify="left")
    for name in names:
        cells = [_cell(row[name]) for row in rows]
        if cells and all(_NUMBER.match(c) or c == UNDEFINED for c in cells if c):
            # numbers never wrap, and their column takes no more than they need
            # (or than the header's longest word): the room goes to the names
            widest = max([len(c) for c in cells] + [len(w) for w in name.split()])
            table.add_column(Text(name), justify="right", overflow="fold", max_width=widest)
        else:
            table.add_column(Text(name), overflow="fold")
    for row in rows:
        table.add_row(*(Text(_cell(row[name])) for name in names))
    return table


def _cell(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}" if math.isfinite(value) else UNDEFINED
    if isinstance(value, list | tuple):
        return ", ".join(_cell(v) for v in value)
    return "" if value is None else str(value)


def _plain(value: Any) -> Any:
    """``value`` as plain JSON values: NaN and infinities as ``None``, NumPy as Python."""
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, float):  # NumPy's float64 is a float too
        return float(value) if math.isfinite(value) else None
    if value is None or isinstance(value, str | int | bool):
        return value
    if hasattr(value, "tolist"):  # NumPy scalars and arrays, without importing NumPy
        return _plain(value.tolist())
    return str(value)


# --- files ---------------------------------------------------------------------------------
def check_output_path(path: Path, suffixes: Sequence[str] = (), option: str = "--output") -> Path:
    """Check, before any work, that a command can write the file ``path``.

    The name must end in one of ``suffixes``; the rest is
    :func:`~neuratlas.retrieval.cache.check_writable`: nothing is created (a missing
    folder is an error, not made silently), an existing file is fine (it is replaced
    atomically).

    Parameters
    ----------
    path : pathlib.Path
        The file to write.
    suffixes : sequence of str
        The extensions the command writes, e.g. ``(".nii.gz", ".nii")``; case is
        ignored; any name is accepted if empty.
    option : str
        The option that named the file, for the message.

    Returns
    -------
    pathlib.Path
        ``path``, with ``~`` expanded.

    Raises
    ------
    ArgumentError
        The name ends in none of ``suffixes``; ``path`` is a folder; its folder does
        not exist or is a file; the folder cannot be written to.
    """
    if path.is_dir():
        return check_writable(path)  # raises: a folder is not a file name
    if suffixes and not any(path.name.lower().endswith(s.lower()) for s in suffixes):
        raise ArgumentError(
            f"{option} {str(path)!r} does not end in {' or '.join(suffixes)}",
            hint=f"name the file e.g. {path.name.split('.')[0] or 'out'}{suffixes[0]}",
        )
    return check_writable(path)


def check_rows_output(path: Path) -> str:
    """Check that rows can be written to ``path`` (see :func:`check_output_path`).

    Returns
    -------
    str
        The format: the extension in :data:`ROW_FORMATS`, lower case.

    Raises
    ------
    ArgumentError
        As :func:`check_output_path`, or the format's writer is not installed.
    """
    check_output_path(path, list(ROW_FORMATS))
    suffix = next(s for s in ROW_FORMATS if path.name.lower().endswith(s))
    writers = ROW_FORMATS[suffix]
    if writers and not any(importlib.util.find_spec(w) for w in writers):
        ready = ", ".join(s for s, w in ROW_FORMATS.items() if not w)
        raise ArgumentError(
            f"cannot write {str(path)!r}: {suffix} files need {' or '.join(writers)},"
            " which is not installed",
            hint=f"pip install {writers[0]}, or end the file name in one of {ready}",
        )
    return suffix


def write_rows(
    rows: Sequence[dict[str, Any]], output: Path, columns: Sequence[str] | None = None
) -> None:
    """Write rows atomically in the format of ``output``'s extension (:data:`ROW_FORMATS`).

    CSV and TSV leave undefined values (NaN, ``None``) empty; JSON writes them as
    ``null``; XLSX writes lists as ``"a, b"`` text.

    Parameters
    ----------
    rows : sequence of dict
        The rows, all with the same keys.
    output : pathlib.Path
        The file; its extension chooses the format.
    columns : sequence of str, optional
        The columns, so that a file of no rows still has its header.

    Raises
    ------
    ArgumentError
        See :func:`check_rows_output`.
    """
    suffix = check_rows_output(output)
    if suffix == ".json":
        with atomic_write(output, "w") as handle:
            handle.write(to_json(list(rows)) + "\n")
        return
    # heavy: pandas costs ~0.2 s to import; only writing table files needs it
    import pandas as pd

    frame = pd.DataFrame(list(rows), columns=list(columns) if columns else None)
    if suffix in (".csv", ".tsv"):
        with atomic_write(output, "w") as handle:
            frame.to_csv(handle, index=False, sep="\t" if suffix == ".tsv" else ",")
    elif suffix == ".parquet":
        with atomic_write(output, "wb") as handle:
            frame.to_parquet(handle, index=False)
    else:
        # spreadsheet cells hold numbers and text, not lists
        frame = frame.map(lambda v: _cell(v) if isinstance(v, list | tuple) else v)
        with atomic_write(output, "wb") as handle:
            frame.to_excel(handle, index=False)
