"""``neuratlas tour``: the main job of ``make run``, a walk through the embedded atlases."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

import neuratlas
from neuratlas.cli.output import console
from neuratlas.volumes.nifti import save_nifti
from neuratlas.volumes.pictures import render_png


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
    others = neuratlas.find_regions(region)[:5]
    console.print(
        "the same words in other parcellations: "
        + "; ".join(f"{r.name} ({r.parcellation.short_name})" for r in others)
    )

    space = found.supported_spaces[0]
    console.rule(f"Spatial properties in {space.name}")
    maps = {m.maptype.value: m for m in found.parcellation.maps if m.space is space}
    props = found.spatial_props(space)
    console.print(f"volume: {props.volume_mm3:.0f} mm³")
    console.print(f"centroid: ({', '.join(f'{v:.1f}' for v in props.centroid_mm)}) mm")
    console.print(f"bounding box: {props.bbox_mm[0]} - {props.bbox_mm[1]} mm")
    for i, comp in enumerate(props.components[:5], 1):
        console.print(
            f"  component {i}: {comp.volume_mm3:.0f} mm³ at "
            f"({', '.join(f'{v:.1f}' for v in comp.centroid_mm)})"
        )

    console.rule("Writing files")
    output.mkdir(parents=True, exist_ok=True)
    template = space.get_template().fetch()
    stem = found.key.lower()
    for maptype, the_map in sorted(maps.items()):
        img = the_map.fetch(region=found)
        nii = save_nifti(img, output / f"{stem}_{maptype}.nii.gz")
        png = render_png(
            img,
            output / f"{stem}_{maptype}.png",
            template=template,
            title=f"{found.name} ({maptype})",
        )
        console.print(f"wrote {nii} and {png}")
