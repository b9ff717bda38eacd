"""``neuratlas atlases|spaces|parcellations|regions|region``: browse the catalogue."""

from __future__ import annotations

from typing import Annotated, Any

import typer

import neuratlas
from neuratlas.catalogue import describe_maps
from neuratlas.cli.output import console, emit_object, emit_rows, err_console
from neuratlas.errors import DataUnavailableError

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
            "maps": describe_maps(p.maps),
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
    """List (or search: best match first) the regions of a parcellation."""
    parc = neuratlas.parcellations[parcellation]
    if tree and not as_json and find is None:
        console.print(parc.tree(), markup=False, highlight=False)
        return
    # the order is the parcellation's: best match first for a search
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
    emit_rows(
        rows,
        title=f"Regions of {parc.name}" + (f" matching {find!r}, best first" if find else ""),
        as_json=as_json,
        columns=("name", "parent", "leaf", "hemisphere"),
        empty=f"no region of {parc.name} matches {find!r}" if find else None,
    )


def region(
    parcellation: Annotated[str, typer.Argument(help="Parcellation name, key or id.")],
    name: Annotated[str, typer.Argument(help="Region name or words of it.")],
    space: Annotated[
        str | None, typer.Option("--space", "-s", help="Space for spatial properties.")
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Show a region: its place in the hierarchy and its spatial properties.

    The spatial properties are those of the region's map in ``--space`` (by default
    the first space the region is mapped in): volume in mm³ (area in mm² on a
    surface), centroid, bounding box and connected components.
    """
    found = neuratlas.get_region(parcellation, name)
    supported = found.supported_spaces
    info: dict[str, Any] = {
        "name": found.name,
        "parcellation": found.parcellation.name,
        "parent": found.parent.name if found.parent else None,
        "children": [c.name for c in found.children],
        "hemisphere": found.hemisphere,
        "rgb": list(found.rgb) if found.rgb else None,
        "spaces": [s.name for s in supported],
    }
    target = neuratlas.get_space(space) if space else (supported[0] if supported else None)
    if target is not None:
        info["space"] = target.name
        try:
            info.update(spatial_info(found.spatial_props(target)))
        except DataUnavailableError as exc:
            if space:  # asked for: the answer is the error
                raise
            # not asked for: the hierarchy above is still the answer, with a word on why
            # the spatial properties are missing (e.g. a map not downloaded, offline)
            info["spatial properties"] = f"not available: {exc.message}"
            err_console.print(
                f"warning: no spatial properties: {exc.message}", markup=False, soft_wrap=True
            )
            if exc.hint:
                err_console.print(f"hint: {exc.hint}", markup=False, soft_wrap=True)
    emit_object(info if as_json else for_people(info), as_json=as_json)


# --- spatial properties --------------------------------------------------------------------
# what a properties object may offer, by attribute: volumes offer volume_mm3, surfaces
# area_mm2; either may lack a bounding box or components
SIZES = ("volume_mm3", "area_mm2")
UNITS = {"_mm3": "mm³", "_mm2": "mm²", "_mm": "mm"}
LABELS = {"bbox": "bounding box"}


def spatial_info(props: Any) -> dict[str, Any]:
    """The spatial properties a properties object offers, as JSON-able values.

    Parameters
    ----------
    props : object
        What ``Region.spatial_props`` returns: ``volume_mm3`` (volumes) or
        ``area_mm2`` (surfaces), ``centroid_mm``, and maybe ``bbox_mm`` and
        ``components`` (each with a centroid and a volume or area).

    Returns
    -------
    dict
        ``volume_mm3`` or ``area_mm2`` (0.1 mm precision), ``centroid_mm`` and
        ``bbox_mm`` (0.01 mm), ``components`` (a list of dicts), where offered.
    """
    info: dict[str, Any] = {}
    for size in SIZES:
        if hasattr(props, size):
            info[size] = round(float(getattr(props, size)), 1)
    if hasattr(props, "centroid_mm"):
        info["centroid_mm"] = _rounded(props.centroid_mm)
    if getattr(props, "bbox_mm", None) is not None:
        info["bbox_mm"] = [_rounded(corner) for corner in props.bbox_mm]
    components = getattr(props, "components", None)
    if components:
        info["components"] = [
            {
                "centroid_mm": _rounded(c.centroid_mm),
                **{s: round(float(getattr(c, s)), 1) for s in SIZES if hasattr(c, s)},
            }
            for c in components
        ]
    return info


def for_people(info: dict[str, Any]) -> dict[str, Any]:
    """``info`` for reading: units after numbers (``8,204 mm³``), components as table rows.

    A key ending in ``_mm3``, ``_mm2`` or ``_mm`` loses its suffix and its value
    gains the unit; numbers get thousands separators.
    """
    out: dict[str, Any] = {}
    for key, value in info.items():
        label, unit = _split_unit(key)
        if key == "components":
            out[f"components ({len(value)})"] = [
                {"#": i, **{_header(k): _number_text(v) for k, v in c.items()}}
                for i, c in enumerate(value, 1)
            ]
        elif unit:
            out[label] = f"{_number_text(value)} {unit}"
        else:
            out[key] = value
    return out


def _split_unit(key: str) -> tuple[str, str | None]:
    for suffix, unit in UNITS.items():
        if key.endswith(suffix):
            label = key.removesuffix(suffix)
            return LABELS.get(label, label), unit
    return key, None


def _header(key: str) -> str:
    label, unit = _split_unit(key)
    return f"{label} ({unit})" if unit else label


def _number_text(value: Any) -> str:
    """A number with thousands separators and at most 2 decimals; lists in parentheses.

    A bounding box (two corners) reads ``(x, y, z) to (x, y, z)``.
    """
    if isinstance(value, list):
        if value and isinstance(value[0], list):
            return " to ".join(_number_text(v) for v in value)
        return "(" + ", ".join(_number_text(v) for v in value) + ")"
    text = f"{value:,.2f}".rstrip("0").rstrip(".")
    return "0" if text == "-0" else text


def _rounded(values: Any) -> list[float]:
    return [round(float(v), 2) for v in values]
