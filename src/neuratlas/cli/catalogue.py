"""``neuratlas atlases|spaces|parcellations|regions|region``: browse the catalogue."""

from __future__ import annotations

from typing import Annotated

import typer

import neuratlas
from neuratlas.cli.output import console, emit_object, emit_rows

JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")]


def register(cli: typer.Typer) -> None:
    """Add the catalogue commands to the top-level app."""
    cli.command("atlases")(atlases)
    cli.command("spaces")(spaces)
    cli.command("parcellations")(parcellations)
    cli.command("regions")(regions)
    cli.command("region")(region)


def atlases(as_json: JsonOption = False) -> None:
    """List the atlases."""
    rows = [
        {
            "key": a.key,
            "name": a.name,
            "species": a.species,
            "spaces": len(a.spaces),
            "parcellations": len(a.parcellations),
        }
        for a in neuratlas.atlases
    ]
    emit_rows(rows, title="Atlases", as_json=as_json)


def spaces(as_json: JsonOption = False) -> None:
    """List the reference spaces."""
    rows = [
        {
            "key": s.key,
            "name": s.name,
            "kind": "surface" if s.is_surface else "volume",
            "templates": ", ".join(v.variant or "T1" for v in s.volumes),
            "id": s.id,
        }
        for s in neuratlas.spaces
    ]
    emit_rows(rows, title="Spaces", as_json=as_json)


def parcellations(as_json: JsonOption = False) -> None:
    """List the parcellations and the spaces they are mapped in."""
    rows = [
        {
            "key": p.key,
            "name": p.name,
            "version": p.version,
            "leaves": len(p.leaves),
            "maps": ", ".join(f"{m.maptype.value} in {m.space.short_name}" for m in p.maps),
        }
        for p in neuratlas.parcellations
    ]
    emit_rows(rows, title="Parcellations", as_json=as_json)


def regions(
    parcellation: Annotated[str, typer.Argument(help="Parcellation name, key or id.")],
    find: Annotated[str | None, typer.Option("--find", "-f", help="Words or /regex/.")] = None,
    tree: Annotated[bool, typer.Option("--tree", help="Show the hierarchy.")] = False,
    as_json: JsonOption = False,
) -> None:
    """List (or search) the regions of a parcellation."""
    parc = neuratlas.parcellations[parcellation]
    if tree and not as_json and find is None:
        console.print(parc.tree())
        return
    found = parc.find(find) if find else list(parc.descendants)
    rows = [
        {
            "name": r.name,
            "parent": r.parent.name if r.parent else None,
            "leaf": r.is_leaf,
            "hemisphere": r.hemisphere,
        }
        for r in found
    ]
    emit_rows(rows, title=f"Regions of {parc.name}", as_json=as_json)


def region(
    parcellation: Annotated[str, typer.Argument(help="Parcellation name, key or id.")],
    name: Annotated[str, typer.Argument(help="Region name or words of it.")],
    space: Annotated[
        str | None, typer.Option("--space", "-s", help="Space for spatial properties.")
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Show a region: its place in the hierarchy and its spatial properties."""
    found = neuratlas.get_region(parcellation, name)
    supported = found.supported_spaces
    info: dict = {
        "name": found.name,
        "parcellation": found.parcellation.name,
        "parent": found.parent.name if found.parent else None,
        "children": [c.name for c in found.children],
        "hemisphere": found.hemisphere,
        "rgb": list(found.rgb) if found.rgb else None,
        "spaces": [s.name for s in supported],
    }
    target = neuratlas.get_space(space) if space else (supported[0] if supported else None)
    if target is not None and not target.is_surface:
        props = found.spatial_props(target)
        info["space"] = target.name
        info["volume_mm3"] = round(props.volume_mm3, 1)
        info["centroid_mm"] = [round(v, 2) for v in props.centroid_mm]
        info["bbox_mm"] = [[round(v, 2) for v in corner] for corner in props.bbox_mm]
        info["components"] = [
            {
                "centroid_mm": [round(v, 2) for v in c.centroid_mm],
                "volume_mm3": round(c.volume_mm3, 1),
            }
            for c in props.components
        ]
    emit_object(info, as_json=as_json)
