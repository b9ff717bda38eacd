"""``neuratlas features``: list the data features of a region, parcellation, space or point.

The features package (pandas and the built-in sources) is imported by the command
on first use, so that ``neuratlas --help`` and the other areas start without it.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

import neuratlas
from neuratlas.cli.output import check_output_path, emit_rows, err_console
from neuratlas.errors import ArgumentError
from neuratlas.retrieval.cache import atomic_write

if TYPE_CHECKING:
    from neuratlas.features.feature import Feature

COLUMNS = ("id", "name", "modality", "qualification", "anchor")


def register(cli: typer.Typer) -> None:
    """Add the features command to the top-level app."""
    cli.command("features")(features_command)


def parse_filters(pairs: list[str]) -> dict[str, Any]:
    """``["subject=average", "gene=MAOA"]`` as a dict; a key given twice keeps every value.

    Raises
    ------
    ArgumentError
        A filter without ``=`` or with an empty key.
    """
    filters: dict[str, Any] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        key = key.strip()
        if not sep or not key:
            raise ArgumentError(
                f"--filter {pair!r} is not key=value",
                hint="e.g. --filter subject=average",
            )
        if key in filters:
            old = filters[key]
            filters[key] = [*old, value] if isinstance(old, list) else [old, value]
        else:
            filters[key] = value
    return filters


def concept_of(text: str, parcellation: str | None, space: str | None) -> object:
    """The query concept the command line names.

    ``"x, y, z"`` with ``--space`` is a point; with ``--parcellation`` the text is a
    region of that parcellation; otherwise :func:`neuratlas.features.query.resolve_concept`
    (a parcellation, a space, or a region of any parcellation).
    """
    # heavy: the features package brings pandas and reads its sources
    from neuratlas.features.query import resolve_concept

    if space is not None:
        return neuratlas.Point(text, space=space)
    if parcellation is not None:
        return neuratlas.get_region(parcellation, text)
    return resolve_concept(text)


def row_of(feature: Feature) -> dict[str, str]:
    """One table row: id, name, modality, qualification, anchor."""
    match = feature.match
    return {
        "id": feature.id,
        "name": feature.name,
        "modality": feature.modality,
        "qualification": match.qualification.value if match is not None else "",
        "anchor": match.anchor if match is not None else feature.anchor.describe(),
    }


def write_png(feature: Feature, path: Path) -> None:
    """Draw ``feature`` into a PNG at ``path`` (written atomically)."""
    # heavy: matplotlib only for --png; a bare Figure renders with Agg and leaves
    # pyplot's state alone
    from matplotlib.figure import Figure

    figure = Figure(figsize=(7, 6), layout="constrained")
    feature.plot(ax=figure.subplots())
    with atomic_write(path, "wb") as handle:
        figure.savefig(handle, format="png", dpi=120)


def features_command(
    concept: Annotated[
        str | None,
        typer.Argument(
            help="A region, parcellation or space name; 'x, y, z' (mm) with --space "
            "(or --point, for coordinates that start with a minus sign).",
            show_default=False,
        ),
    ] = None,
    modality: Annotated[
        str | None,
        typer.Option("--modality", "-m", help="E.g. 'functional connectivity', 'fingerprint'."),
    ] = None,
    filters: Annotated[
        list[str] | None,
        typer.Option("--filter", "-f", help="key=value the features must have (repeatable)."),
    ] = None,
    parcellation: Annotated[
        str | None,
        typer.Option("--parcellation", "-p", help="Look CONCEPT up as a region of this."),
    ] = None,
    space: Annotated[
        str | None, typer.Option("--space", "-s", help="CONCEPT is a point in this space.")
    ] = None,
    point: Annotated[
        str | None,
        typer.Option("--point", help='"x,y,z" in mm, with --space: e.g. --point "-32,-60,48".'),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
    png: Annotated[
        Path | None, typer.Option("--png", help="Draw the first feature found (PNG).")
    ] = None,
    export: Annotated[
        str | None, typer.Option("--export", help="Export the feature with this id (zip).")
    ] = None,
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="The zip file of --export.")
    ] = None,
) -> None:
    """List the data features linked to CONCEPT, best matches first."""
    # heavy: the features package brings pandas and reads its sources
    from neuratlas.features.query import get_features, get_instance_by_id

    if export is not None:
        if output is None:
            raise ArgumentError("--export needs -o/--output", hint="e.g. -o feature.zip")
        target = check_output_path(output, (".zip",))
        written = get_instance_by_id(export).export(target)
        err_console.print(f"wrote {written}", soft_wrap=True, markup=False)
        if concept is None:
            return
    elif output is not None:
        raise ArgumentError("-o/--output names the zip of --export", hint="add --export ID")
    if point is not None:
        if concept is not None:
            raise ArgumentError(
                f"give CONCEPT ({concept!r}) or --point, not both",
                hint='a point is --point "x,y,z" --space SPACE',
            )
        if space is None:
            raise ArgumentError(
                "--point needs --space: the space its coordinates are in",
                hint='e.g. --point "-32,-60,48" --space "MNI152 NLin6"',
            )
        concept = point
    if concept is None:
        raise ArgumentError(
            "name a region, parcellation, space or point",
            hint="e.g. neuratlas features hOc1 --modality fingerprint",
        )
    if png is not None:
        png = check_output_path(png, (".png",), option="--png")
    found = get_features(
        concept_of(concept, parcellation, space), modality, **parse_filters(filters or [])
    )
    if png is not None and found:
        write_png(found[0], png)
        err_console.print(f"wrote {png}", soft_wrap=True, markup=False)
    elif png is not None:
        err_console.print("no feature found: no picture written", soft_wrap=True, markup=False)
    what = f"{modality} features" if modality else "features"
    emit_rows(
        [row_of(f) for f in found],
        title=f"{what} of {concept}",
        as_json=as_json,
        columns=COLUMNS,
        empty=f"no {what} found for {concept!r}",
    )
