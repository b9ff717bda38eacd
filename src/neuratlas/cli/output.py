"""How the CLI shows results: rich tables for people, JSON for machines."""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

console = Console()
err_console = Console(stderr=True)


def emit_rows(
    rows: Sequence[dict[str, Any]], *, title: str, as_json: bool, output: Path | None = None
) -> None:
    """Print rows as a table, or as JSON with ``as_json``; ``output`` writes CSV or JSON."""
    if output is not None:
        write_rows(rows, output)
        err_console.print(f"wrote {len(rows)} rows to {output}")
        return
    if as_json:
        sys.stdout.write(json.dumps(list(rows), indent=1, default=_jsonable) + "\n")
        return
    table = Table(title=title, title_justify="left")
    columns = list(rows[0]) if rows else []
    for column in columns:
        table.add_column(column)
    for row in rows:
        table.add_row(*(_cell(row[c]) for c in columns))
    console.print(table)


def emit_object(obj: dict[str, Any], *, as_json: bool) -> None:
    """Print one object: ``key: value`` lines, or JSON."""
    if as_json:
        sys.stdout.write(json.dumps(obj, indent=1, default=_jsonable) + "\n")
        return
    for key, value in obj.items():
        console.print(f"[bold]{key}[/bold]: {_cell(value)}")


def write_rows(rows: Sequence[dict[str, Any]], output: Path) -> None:
    """Write rows atomically as CSV (``.csv``/``.tsv``) or JSON (anything else)."""
    import pandas as pd

    from neuratlas.retrieval.cache import atomic_write

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
    import numpy as np

    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    return str(value)
