"""How the CLI shows results: rich tables for people, JSON for machines.

Every command prints JSON through :func:`emit_json`, so all of them write the
same format (values json cannot encode go through :func:`_jsonable`).
"""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from neuratlas.retrieval.cache import atomic_write

console = Console()
err_console = Console(stderr=True)


def emit_json(data: Any) -> None:
    """Print any JSON-able value (NumPy values and paths included) on stdout."""
    sys.stdout.write(json.dumps(data, indent=1, default=_jsonable) + "\n")


def emit_rows(
    rows: Sequence[dict[str, Any]],
    *,
    title: str,
    as_json: bool,
    output: Path | None = None,
    columns: Sequence[str] | None = None,
) -> None:
    """Print rows as a table, or as JSON with ``as_json``; ``output`` writes CSV or JSON.

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
        The table's columns; by default the keys of the first row. Give them
        so that an empty result still shows its title and header.
    """
    if output is not None:
        write_rows(rows, output)
        err_console.print(f"wrote {len(rows)} rows to {output}")
        return
    if as_json:
        emit_json(list(rows))
        return
    table = Table(title=title, title_justify="left")
    names = list(columns) if columns is not None else list(rows[0]) if rows else []
    for name in names:
        table.add_column(name)
    for row in rows:
        table.add_row(*(_cell(row[name]) for name in names))
    console.print(table)


def emit_object(obj: dict[str, Any], *, as_json: bool) -> None:
    """Print one object: ``key: value`` lines, or JSON."""
    if as_json:
        emit_json(obj)
        return
    for key, value in obj.items():
        console.print(f"[bold]{key}[/bold]: {_cell(value)}")


def write_rows(rows: Sequence[dict[str, Any]], output: Path) -> None:
    """Write rows atomically as CSV (``.csv``), TSV (``.tsv``) or JSON (anything else)."""
    # heavy: pandas costs ~0.2 s to import; only writing CSV/TSV files needs it
    import pandas as pd

    with atomic_write(output, "w") as handle:
        if output.suffix in (".csv", ".tsv"):
            sep = "\t" if output.suffix == ".tsv" else ","
            pd.DataFrame(list(rows)).to_csv(handle, index=False, sep=sep)
        else:
            json.dump(list(rows), handle, indent=1, default=_jsonable)


def _cell(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, list | tuple):
        return ", ".join(_cell(v) for v in value)
    return "" if value is None else str(value)


def _jsonable(value: Any) -> Any:
    """JSON stand-in for what json cannot encode: NumPy values as Python ones, else ``str``."""
    # heavy: numpy costs ~60 ms to import; only values json cannot encode need it
    import numpy as np

    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    return str(value)
