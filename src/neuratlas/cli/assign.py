"""``neuratlas assign``: which regions a point, a list of points or an image falls in.

Rows come best first within each input structure: an exact point's rows by the
map value there (the probability, or 1 inside a label), a blob's or an image
component's by input containedness (how much of the input lies in the region,
weighted by the map's values), ties by intersection over union.

The terminal table shows the columns people read first, and only those defined
and informative for the input: for exact points (``--sigma 0``) the map value alone,
since the overlap columns would compare one voxel with a whole region (correlation
is undefined there); the input number only when there are several inputs.
``--json`` and ``-o`` have every column of :data:`neuratlas.assignment.COLUMNS`.
"""

from __future__ import annotations

import csv
import math
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import nibabel as nib
import numpy as np
import typer

import neuratlas
from neuratlas.assignment import COLUMNS
from neuratlas.cli.options import MapTypeOption, MaxprobThresholdOption
from neuratlas.cli.output import check_rows_output, console, emit_rows, one_line
from neuratlas.core.space import Space
from neuratlas.errors import ArgumentError, ImageError
from neuratlas.locations.pointcloud import PointCloud
from neuratlas.volumes.providers import DECODE_ERRORS

if TYPE_CHECKING:
    import pandas as pd

TABLE_COLUMNS = {
    "input structure": "input",
    "region": "region",
    "map value": "map value",
    "intersection over union": "IoU",
    "input containedness": "input contained",
    "map containedness": "map contained",
    "correlation": "correlation",
}
# for exact points these compare one voxel with a whole region: ~0, or the map value again
POINT_HIDDEN = (
    "intersection over union",
    "input containedness",
    "map containedness",
    "correlation",
)

POINTS_HINT = "write a header line x,y,z[,sigma], then one point per line in mm, e.g. -32,-60,48"


def register(cli: typer.Typer) -> None:
    cli.command("assign")(assign)


def assign(
    parcellation: Annotated[str, typer.Argument(help="Parcellation name, key or id.")],
    space: Annotated[str, typer.Argument(help="Space of the input.")],
    point: Annotated[str | None, typer.Option("--point", help='"x,y,z" in mm.')] = None,
    sigma: Annotated[float, typer.Option("--sigma", help="Point uncertainty in mm.")] = 0.0,
    points: Annotated[
        Path | None, typer.Option("--points", help="CSV with columns x,y,z (and sigma).")
    ] = None,
    image: Annotated[Path | None, typer.Option("--image", help="NIfTI image.")] = None,
    maptype: MapTypeOption = "labelled",
    threshold: Annotated[float, typer.Option("--threshold", help="Lower map threshold.")] = 0.0,
    maxprob_threshold: MaxprobThresholdOption = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
    output: Annotated[
        Path | None,
        typer.Option("--output", "-o", help="Write .csv, .tsv, .json, .parquet or .xlsx."),
    ] = None,
) -> None:
    """Assign a point (--point), points (--points) or an image (--image) to regions.

    Rows come best first for each input: by the map value at an exact point, by how
    much of the input lies in the region otherwise.
    """
    given = [x for x in (point, points, image) if x is not None]
    if len(given) != 1:
        raise ArgumentError(
            "give exactly one of --point, --points or --image",
            hint="e.g. --point=-32,-60,48 or --points points.csv or --image lesion.nii.gz",
        )
    if output is not None:
        check_rows_output(output)  # before any work: a bad -o fails at once
    the_map = neuratlas.get_map(parcellation, space, maptype, maxprob_threshold)
    if point is not None:
        item = neuratlas.Point(point, the_map.space, sigma_mm=sigma)
        inputs = f"({', '.join(f'{v:g}' for v in item.coordinate)}) mm" + (
            f" (sigma {sigma:g} mm)" if sigma else ""
        )
    elif points is not None:
        item = _read_points(points, the_map.space, sigma)
        inputs = f"any of the {len(item)} points in {points}"
    else:
        item = _read_image(image)
        inputs = f"the image {image}"
    table = the_map.assign(item, lower_threshold=threshold)
    # the map that answered: a derived one (e.g. a thresholded maximum-probability map)
    # may name itself in the table
    answered = table.attrs.get("map", the_map.name)
    table = best_first(table)
    rows = table.assign(centroid=[[round(float(v), 2) for v in c] for c in table["centroid"]])
    if as_json or output:
        emit_rows(
            rows.to_dict("records"),
            title=the_map.name,
            as_json=as_json,
            output=output,
            columns=COLUMNS,
        )
        return
    shown = _table_columns(rows)
    emit_rows(
        rows[list(shown)].round(3).rename(columns=shown).to_dict("records"),
        title=f"Assignment to {answered}",
        as_json=False,
        empty=f"no region of {answered} at {inputs}",
    )
    if isinstance(item, PointCloud) and len(rows):
        _say_which_points_missed(item, rows, answered)


def best_first(table: pd.DataFrame) -> pd.DataFrame:
    """Sort assignment rows best first within each input structure (see the module doc).

    Parameters
    ----------
    table : pandas.DataFrame
        An assignment table (:meth:`neuratlas.Map.assign`).

    Returns
    -------
    pandas.DataFrame
        The same rows, ordered by input structure, then score, then IoU (both descending).
    """
    score = table["map value"].where(table["volume"] == 0, table["input containedness"])
    order = np.lexsort(
        (
            -table["intersection over union"].to_numpy(float),
            -score.to_numpy(float),
            table["input structure"].to_numpy(),
        )
    )
    return table.iloc[order].reset_index(drop=True)


def _table_columns(rows: pd.DataFrame) -> dict[str, str]:
    """The terminal table's columns (see the module doc), with their headers."""
    hidden: set[str] = set()
    if rows["input structure"].nunique() <= 1:
        hidden.add("input structure")
    if len(rows) and (rows["volume"] == 0).all():
        hidden.update(POINT_HIDDEN)
    hidden.update(c for c in TABLE_COLUMNS if c != "region" and rows[c].isna().all())
    return {c: header for c, header in TABLE_COLUMNS.items() if c not in hidden}


def _say_which_points_missed(cloud: PointCloud, rows: pd.DataFrame, map_name: str) -> None:
    missed = sorted(set(range(len(cloud))) - set(rows["input structure"].tolist()))
    if missed:
        numbers = ", ".join(str(i) for i in missed)
        console.print(f"no region of {map_name} at input {numbers}", markup=False, soft_wrap=True)


# --- input files -----------------------------------------------------------------------------
def _read_points(path: Path, space: Space, sigma: float) -> PointCloud:
    """Points from a CSV or TSV file: a header line naming x, y, z (and sigma), any case.

    The separator is the header's first of tab, comma, semicolon, else white space;
    other columns are ignored; blank lines are skipped. ``sigma`` applies to points
    without a sigma column.

    Raises
    ------
    ArgumentError
        The file cannot be read, is empty, lacks a column, has no points, or has a
        cell that is not a number (the message names the line and the column).
    """
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise ArgumentError(
            f"cannot read points from {str(path)!r}: {getattr(exc, 'strerror', None) or exc}",
            hint=POINTS_HINT,
        ) from None
    lines = [(number, line) for number, line in enumerate(text.splitlines(), 1) if line.strip()]
    if not lines:
        raise ArgumentError(
            f"cannot read points from {str(path)!r}: it is empty", hint=POINTS_HINT
        )
    delimiter = next((d for d in "\t,;" if d in lines[0][1]), None)

    def cells(line: str) -> list[str]:
        parts = next(csv.reader([line], delimiter=delimiter)) if delimiter else line.split()
        return [part.strip() for part in parts]

    names = [name.lower() for name in cells(lines[0][1])]
    if not {"x", "y", "z"} <= set(names):
        raise ArgumentError(
            f"{str(path)!r} needs columns x, y, z (found {', '.join(names)})",
            hint=POINTS_HINT,
        )
    wanted = ["x", "y", "z"] + (["sigma"] if "sigma" in names else [])
    where = {name: names.index(name) for name in wanted}
    values = []
    for number, line in lines[1:]:
        row = cells(line)
        values.append(
            [
                _number(row[where[name]] if where[name] < len(row) else "", path, number, name)
                for name in wanted
            ]
        )
    if not values:
        raise ArgumentError(
            f"cannot read points from {str(path)!r}: it has a header line but no points",
            hint=POINTS_HINT,
        )
    array = np.array(values)
    sigmas = array[:, 3] if "sigma" in where else sigma
    return PointCloud(array[:, :3], space, sigmas)


def _number(cell: str, path: Path, line: int, column: str) -> float:
    """A cell of a points file as a finite number (``sigma`` also >= 0)."""
    try:
        value = float(cell)
    except ValueError:
        value = math.nan
    if not cell:
        what = "the cell is empty"
    elif not math.isfinite(value):
        what = f"{cell!r} is not a number"
    elif column == "sigma" and value < 0:
        what = f"{cell!r} is negative"
    else:
        return value
    raise ArgumentError(
        f"cannot read points from {str(path)!r}: line {line}, column {column}: {what}",
        hint=POINTS_HINT,
    )


def _read_image(path: Path) -> nib.Nifti1Image:
    """A NIfTI image with its data decoded, so that a truncated file fails here, by name."""
    try:
        img = nib.load(path)
        is_volume = isinstance(img, nib.spatialimages.SpatialImage)
        data = np.asanyarray(img.dataobj) if is_volume else None
    except DECODE_ERRORS as exc:
        raise ImageError(
            f"cannot read the image {str(path)!r}: {one_line(exc)}",
            hint="give a complete NIfTI file (.nii or .nii.gz); this one is truncated,"
            " corrupt or not an image",
        ) from None
    if data is None:
        raise ImageError(
            f"cannot assign {str(path)!r}: it is not a volume image",
            hint="give a NIfTI file (.nii or .nii.gz)",
        )
    return nib.Nifti1Image(data, img.affine)
