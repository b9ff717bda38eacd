"""``neuratlas map`` and ``neuratlas template``: write images to files.

Volumetric maps are written as NIfTI on the grid of their space's template (same
shape and affine), so that they overlay the template in every viewer; ``--crop``
keeps the map's own grid, which covers the brain only. Labels and masks are
resampled with nearest neighbours, probabilities linearly. Surface maps are written
as GIfTI label files, one per hemisphere. Every output path is checked before any
work starts (:func:`neuratlas.cli.output.check_output_path`): its folder must exist
and be writable, and its name must fit the format.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import nibabel as nib
import numpy as np
import typer

import neuratlas
from neuratlas.cli.options import MapTypeOption, MaxprobThresholdOption
from neuratlas.cli.output import check_output_path, err_console
from neuratlas.core.label_table import surface_label_table
from neuratlas.core.map_index import MapType
from neuratlas.errors import ArgumentError
from neuratlas.retrieval.cache import atomic_write
from neuratlas.volumes.nifti import NIFTI_SUFFIXES, save_nifti
from neuratlas.volumes.pictures import render_png
from neuratlas.volumes.resampling import grid_at_resolution, resample_to_grid
from neuratlas.volumes.surfaces import GIFTI_SUFFIXES, Mesh, gifti_stem, save_gifti_labels

if TYPE_CHECKING:
    from neuratlas.core.maps import Map
    from neuratlas.core.region import Region


def register(cli: typer.Typer) -> None:
    """Add the map commands to the top-level app."""
    cli.command("map")(map_command)
    cli.command("template")(template)


# --- output paths ------------------------------------------------------------------------------
def _stem(path: Path, suffixes: tuple[str, ...]) -> str:
    name = path.name
    suffix = next((s for s in suffixes if name.lower().endswith(s)), "")
    return name[: len(name) - len(suffix)]


# --- images on the template grid ---------------------------------------------------------------
def on_template_grid(
    the_map: Map, img: nib.Nifti1Image, resolution_mm: float | None = None
) -> nib.Nifti1Image:
    """``img`` (3D, or a lazy 4D stack) resampled onto its space's template grid.

    With ``resolution_mm``, onto the grid that covers the template's field of view
    with voxels of that size. Labels and masks are resampled with nearest
    neighbours, the values of statistical maps linearly.
    """
    template = the_map.space.get_template().fetch()
    affine, shape = template.affine, template.shape[:3]
    if resolution_mm is not None:
        affine, shape = grid_at_resolution(affine, shape, resolution_mm)
    order = 1 if the_map.maptype is MapType.STATISTICAL else 0
    return resample_to_grid(img, affine, shape, order=order)


def picture_title(the_map: Map, region: Region | None) -> str:
    """The title of a picture of a map, or of a region's mask or probability map."""
    if region is None:
        return f"{the_map.parcellation.name} ({the_map.maptype.value})"
    what = "mask" if the_map.maptype is MapType.LABELLED else "probability"
    return f"{region.name} ({what})"


def _peak(img: nib.Nifti1Image) -> nib.Nifti1Image:
    """The voxel-wise maximum over the volumes of a 4D image, read one volume at a time."""
    peak = np.array(img.dataobj[..., 0], dtype=np.float32)
    for k in range(1, img.shape[3]):
        np.maximum(peak, img.dataobj[..., k], out=peak)
    return nib.Nifti1Image(peak, img.affine)


# --- surfaces --------------------------------------------------------------------------------
def surface_files(output: Path, mesh: Mesh, masked: bool) -> dict[Path, tuple[str, Mesh]]:
    """The file of each hemisphere of ``mesh``: ``x.label.gii`` -> ``x.left.label.gii``, ...

    A mesh of one part (no hemispheres) goes to ``output`` itself. For a region's
    mask (``masked``), a hemisphere without any vertex of the region gets no file.
    """
    parts = mesh.split()
    if masked and any(part.labels.any() for part in parts.values()):
        parts = {hemi: part for hemi, part in parts.items() if part.labels.any()}
    if list(parts) == [""]:
        return {output: ("", parts[""])}
    stem = gifti_stem(output) or output.name
    suffix = output.name[len(stem) :]
    return {
        output.with_name(f"{stem}.{hemi}{suffix}"): (hemi, part) for hemi, part in parts.items()
    }


def write_surface(
    the_map: Map, files: dict[Path, tuple[str, Mesh]], region: Region | None = None
) -> None:
    """Write a surface map (or a region's mask on it) as GIfTI label files.

    ``files`` comes from :func:`surface_files`. The label tables name the regions
    (for a mask, label 1 is the region) and carry their colours, as in download
    bundles (:func:`~neuratlas.core.label_table.surface_label_table`).
    """
    for path, (hemi, part) in files.items():
        names, colours = surface_label_table(the_map, hemi, region)
        save_gifti_labels(part.labels, path, names, colours, hemi)


# --- commands --------------------------------------------------------------------------------
def map_command(
    parcellation: Annotated[str, typer.Argument(help="Parcellation name, key or id.")],
    space: Annotated[str, typer.Argument(help="Space name, key or id.")],
    output: Annotated[
        Path,
        typer.Option(
            "--output",
            "-o",
            help="Output file: .nii.gz or .nii for volumes; .label.gii for surfaces "
            "(written once per hemisphere: x.left.label.gii, x.right.label.gii).",
        ),
    ],
    region: Annotated[str | None, typer.Option("--region", "-r", help="Only this region.")] = None,
    maptype: MapTypeOption = "labelled",
    maxprob_threshold: MaxprobThresholdOption = None,
    resolution: Annotated[
        float | None, typer.Option("--resolution-mm", help="Resample to this voxel size.")
    ] = None,
    crop: Annotated[
        bool,
        typer.Option(
            "--crop", help="Keep the map's own grid instead of the template's (smaller files)."
        ),
    ] = False,
    png: Annotated[Path | None, typer.Option("--png", help="Also draw a PNG picture.")] = None,
) -> None:
    """Write a parcellation map, a region's mask or probability map, or all probability maps.

    Volumetric maps are written on the template's grid (same shape and affine) unless
    --crop is given. Without --region, a statistical map is written as one 4D file
    with one probability map per region, and a .tsv beside it names the region of
    each volume.
    """
    the_map = neuratlas.get_map(parcellation, space, maptype, maxprob_threshold)
    found = the_map.parcellation.get_region(region) if region is not None else None
    if the_map.is_surface:
        _write_surface_map(the_map, found, output, resolution, crop, png)
        return
    target = check_output_path(output, NIFTI_SUFFIXES)
    whole_statistical = found is None and the_map.maptype is MapType.STATISTICAL
    table = target.with_name(_stem(target, NIFTI_SUFFIXES) + ".tsv")
    if whole_statistical:
        check_output_path(table)
    if png is not None:
        check_output_path(png, (".png",), "--png")

    fetched = the_map.fetch(region=found, resolution_mm=resolution if crop else None)
    img = fetched if crop else on_template_grid(the_map, fetched, resolution)
    save_nifti(img, target)
    err_console.print(f"wrote {output} {img.shape}")
    if whole_statistical:
        with atomic_write(table, "w") as handle:
            handle.write("volume\tregion\tfragment\n")
            for k, (name, fragment) in enumerate(the_map.sparse_entries):
                handle.write(f"{k}\t{name}\t{fragment or ''}\n")
        err_console.print(f"wrote {table} (the region of each of the {img.shape[3]} volumes)")
    if png is not None:
        title = picture_title(the_map, found)
        if whole_statistical:
            fetched = _peak(fetched)
            title = f"{the_map.parcellation.name} (highest probability of {img.shape[3]} regions)"
        render_png(
            fetched,
            png,
            template=the_map.space.get_template().fetch(),
            title=title,
            labelled=the_map.maptype is MapType.LABELLED,
        )
        err_console.print(f"wrote {png}")


def _write_surface_map(
    the_map: Map,
    region: Region | None,
    output: Path,
    resolution: float | None,
    crop: bool,
    png: Path | None,
) -> None:
    for given, option in (
        (resolution, "--resolution-mm"),
        (crop or None, "--crop"),
        (png, "--png"),
    ):
        if given is not None:
            raise ArgumentError(
                f"{option} applies to volumetric maps; {the_map.name!r} is a surface map",
                hint=f"leave out {option}",
            )
    if gifti_stem(output) is None:
        stem = _stem(output, NIFTI_SUFFIXES).split(".")[0] or "map"
        raise ArgumentError(
            f"{the_map.name!r} is a surface map: it is written as GIfTI, not as {output.name!r}",
            hint=f"name the output {stem}.label.gii (one file per hemisphere is written)",
        )
    check_output_path(output, GIFTI_SUFFIXES)
    mesh = the_map.fetch(region=region)
    files = surface_files(output, mesh, masked=region is not None)
    for path in files:
        check_output_path(path, GIFTI_SUFFIXES)  # x.left.label.gii may be a folder
    write_surface(the_map, files, region)
    for path, (_, part) in files.items():
        err_console.print(f"wrote {path} ({part.n_vertices} vertices)")


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
    target = check_output_path(output, NIFTI_SUFFIXES)
    img = volume.fetch()
    save_nifti(img, target)
    err_console.print(f"wrote {output} {img.shape}")
