"""``neuratlas tour``: the main job of ``make run``, a walk through the embedded atlases."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

import neuratlas
from neuratlas.cli.maps import on_template_grid, picture_title, surface_files, write_surface
from neuratlas.cli.output import console
from neuratlas.retrieval.cache import check_writable
from neuratlas.volumes.nifti import save_nifti
from neuratlas.volumes.pictures import render_png

RELATED_SHOWN = 5  # overlapping regions of other parcellations listed


def register(cli: typer.Typer) -> None:
    cli.command("tour")(tour)


def tour(
    output: Annotated[Path, typer.Option("--output", "-o", help="Folder for the files.")] = Path(
        "out/tour"
    ),
    parcellation: Annotated[str, typer.Option(help="Parcellation to visit.")] = "juelich",
    region: Annotated[str, typer.Option(help="Region to visit.")] = "hIP1 left",
) -> None:
    """List the catalogue, find a region, show its spatial properties, write its maps."""
    # before any work: a folder can be made there (it is made when the first file is written)
    folder = check_writable(output, folder=True, create_parents=True)
    console.rule("The catalogue")
    console.print(f"{len(neuratlas.spaces)} spaces:")
    for space in neuratlas.spaces:
        console.print(f"  {space.name}")
    console.print(f"{len(neuratlas.parcellations)} parcellations:")
    for parc in neuratlas.parcellations:
        spaces = ", ".join(s.short_name for s in parc.spaces)
        console.print(f"  {parc.name}: {len(parc.leaves)} leaves in {spaces}")

    console.rule(f"Finding {region!r} in {parcellation!r}")
    found = neuratlas.get_region(parcellation, region)
    console.print(f"{found.name}  (parent: {found.parent.name if found.parent else '-'})")
    console.print("path: " + " > ".join(r.name for r in reversed([found, *found.ancestors])))
    # regions of other parcellations that share its voxels (the names rarely share words)
    related = found.get_related_regions()[:RELATED_SHOWN]
    console.print(
        "overlapping regions of other parcellations (intersection over union): "
        + (
            "; ".join(
                f"{r.region.name} ({r.region.parcellation.short_name}, "
                f"{r.intersection_over_union:.2f})"
                for r in related
            )
            or "none"
        )
    )

    space = found.supported_spaces[0]
    console.rule(f"Spatial properties in {space.name}")
    # the parcellation's own choice per type (not a thresholded variant of the labelled map)
    types = dict.fromkeys(m.maptype for m in found.parcellation.maps if m.space is space)
    maps = {kind.value: found.parcellation.get_map(space, kind) for kind in types}
    props = found.spatial_props(space)
    console.print(f"{props.measure}: {props.size:,.0f} {props.unit}")
    console.print(f"centroid: ({', '.join(f'{v:.1f}' for v in props.centroid_mm)}) mm")
    corners = [f"({', '.join(f'{v:.1f}' for v in corner)})" for corner in props.bbox_mm]
    console.print(f"bounding box: {corners[0]} - {corners[1]} mm")
    for i, comp in enumerate(props.components[:5], 1):
        console.print(
            f"  component {i}: {comp.size:,.0f} {props.unit} at "
            f"({', '.join(f'{v:.1f}' for v in comp.centroid_mm)})"
        )

    console.rule("Writing files")
    stem = found.key.lower()
    for maptype, the_map in sorted(maps.items()):
        img = the_map.fetch(region=found)
        if space.is_surface:
            files = surface_files(folder / f"{stem}_{maptype}.label.gii", img, masked=True)
            write_surface(the_map, files, found)
            console.print("wrote " + " and ".join(str(path) for path in files))
            continue
        nii = save_nifti(on_template_grid(the_map, img), folder / f"{stem}_{maptype}.nii.gz")
        png = render_png(
            img,
            folder / f"{stem}_{maptype}.png",
            template=space.get_template().fetch(),
            title=picture_title(the_map, found),
            labelled=maptype == "labelled",
        )
        console.print(f"wrote {nii} and {png}")
