"""``neuratlas map`` and ``neuratlas template``: write images to files."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

import neuratlas
from neuratlas.cli.output import err_console
from neuratlas.errors import ArgumentError
from neuratlas.volumes.nifti import save_nifti
from neuratlas.volumes.pictures import render_png


def register(cli: typer.Typer) -> None:
    """Add the map commands to the top-level app."""
    cli.command("map")(map_command)
    cli.command("template")(template)


def map_command(
    parcellation: Annotated[str, typer.Argument(help="Parcellation name, key or id.")],
    space: Annotated[str, typer.Argument(help="Space name, key or id.")],
    output: Annotated[Path, typer.Option("--output", "-o", help="Output .nii.gz file.")],
    region: Annotated[str | None, typer.Option("--region", "-r", help="Only this region.")] = None,
    maptype: Annotated[
        str, typer.Option("--type", "-t", help="labelled or statistical.")
    ] = "labelled",
    resolution: Annotated[
        float | None, typer.Option("--resolution-mm", help="Resample to this voxel size.")
    ] = None,
    png: Annotated[Path | None, typer.Option("--png", help="Also draw a PNG picture.")] = None,
) -> None:
    """Write a parcellation map, or one region's mask or probability map, as NIfTI."""
    the_map = neuratlas.get_map(parcellation, space, maptype)
    img = the_map.fetch(region=region, resolution_mm=resolution)
    save_nifti(img, output)
    err_console.print(f"wrote {output} {img.shape}")
    if png is not None:
        title = f"{region or the_map.parcellation.name} ({the_map.maptype.value})"
        template = the_map.space.get_template().fetch()
        labelled = region is None and the_map.maptype.value == "labelled"
        render_png(img, png, template=template, title=title, labelled=labelled)
        err_console.print(f"wrote {png}")


def template(
    space: Annotated[str, typer.Argument(help="Space name, key or id.")],
    output: Annotated[Path, typer.Option("--output", "-o", help="Output .nii.gz file.")],
    variant: Annotated[str | None, typer.Option("--variant", help="e.g. 'grey matter'.")] = None,
) -> None:
    """Write the template of a (volumetric) space as NIfTI."""
    volume = neuratlas.get_template(space, variant)
    if volume.is_surface:
        raise ArgumentError(
            f"{space!r} is a surface space", hint="its templates are meshes, not NIfTI"
        )
    img = volume.fetch()
    save_nifti(img, output)
    err_console.print(f"wrote {output} {img.shape}")
