"""``neuratlas assign``: which regions a point, a list of points or an image falls in."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from neuratlas.cli.output import emit_rows

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
    import neuratlas
    from neuratlas.errors import Error

    given = [x for x in (point, points, image) if x is not None]
    if len(given) != 1:
        raise Error("give exactly one of --point, --points or --image")
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


def _read_points(path: Path, space, sigma: float):
    import pandas as pd

    import neuratlas
    from neuratlas.errors import Error

    try:
        frame = pd.read_csv(path, sep=None, engine="python")
    except (OSError, pd.errors.ParserError, UnicodeDecodeError) as exc:
        raise Error(f"cannot read points from {str(path)!r}: {exc}") from None
    frame.columns = [str(c).strip().lower() for c in frame.columns]
    if not {"x", "y", "z"} <= set(frame.columns):
        raise Error(
            f"{str(path)!r} needs columns x, y, z (found {', '.join(frame.columns)})",
            hint="write a header line: x,y,z[,sigma]",
        )
    sigmas = frame["sigma"].to_numpy(float) if "sigma" in frame.columns else sigma
    return neuratlas.PointCloud(frame[["x", "y", "z"]].to_numpy(float), space, sigmas)


def _read_image(path: Path):
    import nibabel as nib

    from neuratlas.errors import ImageError

    try:
        return nib.load(path)
    except (OSError, nib.filebasedimages.ImageFileError) as exc:
        raise ImageError(f"cannot read the image {str(path)!r}: {exc}") from None
