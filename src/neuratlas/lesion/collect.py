"""Group tables: every subject's regional values side by side (participants x regions).

A batch writes one ``*_parcelstats.tsv`` per subject, result and parcellation;
group statistics want them as one table per result, a row per subject (and
session and label) and a column per region. :func:`collect_group_tables` reads
the derivatives folder and makes those tables; :func:`write_group_tables` writes
them to ``group/`` in it (listed in ``.bidsignore``: BIDS has no group tables yet).
"""

from __future__ import annotations

import os
from collections import defaultdict
from pathlib import Path

import pandas as pd

from neuratlas.errors import BidsError, BidsPathNotFoundError
from neuratlas.lesion.entities import parse_entities
from neuratlas.retrieval.cache import atomic_write

__all__ = ["GROUP_FOLDER", "collect_group_tables", "write_group_tables"]

#: Where the group tables go in the derivatives folder.
GROUP_FOLDER = "group"
_TABLE_ENTITIES = ("space", "atlas", "desc")


def _table_name(entities: dict[str, str]) -> str:
    return "_".join(f"{k}-{entities[k]}" for k in _TABLE_ENTITIES if k in entities)


def collect_group_tables(derivatives_dir: str | os.PathLike[str]) -> dict[str, pd.DataFrame]:
    """One table per result and parcellation: a row per subject, a column per region.

    Parameters
    ----------
    derivatives_dir : path
        A derivatives folder written by :func:`~neuratlas.lesion.batch.run_subjects`
        or :func:`~neuratlas.lesion.export_bids_derivatives`.

    Returns
    -------
    dict of str to pandas.DataFrame
        Keyed by ``space-X_atlas-Y_desc-Z``; rows indexed by ``participant_id``
        (plus ``session_id`` and ``label`` where the files have them), columns in
        the parcellation's region order.

    Raises
    ------
    BidsPathNotFoundError
        No such folder.
    BidsError
        No regional table in it.
    """
    root = Path(derivatives_dir).expanduser()
    if not root.is_dir():
        raise BidsPathNotFoundError(f"{root}: no such folder", hint="give the derivatives folder")
    rows: dict[str, list[pd.Series]] = defaultdict(list)
    for path in sorted(root.glob("sub-*/**/*_parcelstats.tsv")):
        entities = parse_entities(path)
        frame = pd.read_csv(path, sep="\t", na_values="n/a", keep_default_na=False)
        row = pd.Series(frame["value"].to_numpy(), index=frame["region"].astype(str))
        row.name = (
            f"sub-{entities['sub']}",
            f"ses-{entities['ses']}" if "ses" in entities else "",
            entities.get("label", ""),
        )
        rows[_table_name(entities)].append(row)
    if not rows:
        raise BidsError(
            f"{root}: no regional table (*_parcelstats.tsv) below it",
            hint="run an analysis first: neuratlas lesion run rd BIDS_DIR OUT_DIR",
        )
    tables = {}
    for name, series in rows.items():
        table = pd.DataFrame(series)
        table.index = pd.MultiIndex.from_tuples(
            table.index, names=["participant_id", "session_id", "label"]
        )
        # levels no file has say nothing: drop them
        empty = [
            lvl
            for lvl in ("session_id", "label")
            if set(table.index.get_level_values(lvl)) == {""}
        ]
        tables[name] = table.droplevel(empty) if empty else table
    return tables


def write_group_tables(derivatives_dir: str | os.PathLike[str]) -> list[Path]:
    """Write :func:`collect_group_tables` as TSV files in ``<derivatives_dir>/group/``.

    Returns
    -------
    list of Path
        The files written (``group/<space>_<atlas>_<desc>_group.tsv``).
    """
    root = Path(derivatives_dir).expanduser()
    tables = collect_group_tables(root)
    folder = root / GROUP_FOLDER
    folder.mkdir(exist_ok=True)
    written = []
    for name, table in tables.items():
        path = folder / f"{name}_group.tsv"
        with atomic_write(path, "w") as fh:
            table.to_csv(fh, sep="\t", na_rep="n/a")
        written.append(path)
    ignore = root / ".bidsignore"
    listed = ignore.read_text().splitlines() if ignore.exists() else []
    # the bare folder name: the validator does not match "group/" or "group/**"
    if GROUP_FOLDER not in listed:
        with atomic_write(ignore, "w") as fh:
            fh.write("\n".join([*listed, GROUP_FOLDER]) + "\n")
    return written
