"""``neuratlas assign``: which regions a point, a list of points or an image falls in."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import nibabel as nib
import typer

import neuratlas
from neuratlas.cli.output import emit_rows
from neuratlas.core.space import Space
from neuratlas.errors import ArgumentError, ImageError
from neuratlas.locations.pointcloud import PointCloud

TABLE_COLUMNS = {
    "input structure": "input",
    "region": "region",
    "map value": "map value",
    "intersection over union": "IoU",
    "input containedness": "input contained",
    "map containedness": "map contained",
    "correlation": "correlation",
}


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
    maptype: Annotated[str, typer.Option("--type", "-t", help="labelled or statistical.")] = (
        "labelled"
    ),
    threshold: Annotated[float, typer.Option("--threshold", help="Lower map threshold.")] = 0.0,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
    output: Annotated[Path | None, typer.Option("--output", "-o", help="Write CSV/JSON.")] = None,
) -> None:
    """Assign a point (--point), points (--points) or an image (--image) to regions."""
    given = [x for x in (point, points, image) if x is not None]
    if len(given) != 1:
        raise ArgumentError(
            "give exactly one of --point, --points or --image",
            hint="e.g. --point=-32,-60,48 or --points points.csv or --image lesion.nii.gz",
        )
    the_map = neuratlas.get_map(parcellation, space, maptype)
    if point is not None:
        item = neuratlas.Point(point, the_map.space, sigma_mm=sigma)
    elif points is not None:
        item = _read_points(points, the_map.space, sigma)
    else:
        item = _read_image(image)
    table = the_map.assign(item, lower_threshold=threshold)
    rows = table.assign(centroid=[[round(float(v), 2) for v in c] for c in table["centroid"]])
    if not (as_json or output):
        # the terminal table keeps the columns people read first; --json and -o have all
        rows = rows[list(TABLE_COLUMNS)].rename(columns=TABLE_COLUMNS)
    emit_rows(
        rows.to_dict("records"),
        title=f"Assignment to {the_map.name}",
        as_json=as_json,
        output=output,
    )


def _read_points(path: Path, space: Space, sigma: float) -> PointCloud:
    # heavy: pandas costs ~0.2 s to import; only --points needs it here
    import pandas as pd

    try:
        frame = pd.read_csv(path, sep=None, engine="python")
    except (OSError, pd.errors.ParserError, UnicodeDecodeError) as exc:
        raise ArgumentError(
            f"cannot read points from {str(path)!r}: {exc}",
            hint="give a CSV or TSV file with a header line x,y,z[,sigma]",
        ) from None
    frame.columns = [str(c).strip().lower() for c in frame.columns]
    if not {"x", "y", "z"} <= set(frame.columns):
        raise ArgumentError(
            f"{str(path)!r} needs columns x, y, z (found {', '.join(frame.columns)})",
            hint="write a header line: x,y,z[,sigma]",
        )
    sigmas = frame["sigma"].to_numpy(float) if "sigma" in frame.columns else sigma
    return PointCloud(frame[["x", "y", "z"]].to_numpy(float), space, sigmas)


def _read_image(path: Path) -> nib.spatialimages.SpatialImage:
    try:
        return nib.load(path)
    except (OSError, nib.filebasedimages.ImageFileError) as exc:
        raise ImageError(
            f"cannot read the image {str(path)!r}: {exc}",
            hint="give a NIfTI file (.nii or .nii.gz)",
        ) from None
