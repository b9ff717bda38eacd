"""``neuratlas allen ...``: Allen Brain section datasets.

Argument parsing and printing only; the work is done in :mod:`neuratlas.allen`.
Output paths are checked before anything is downloaded: a file's folder must
exist (nothing is created by a typo), an output folder is created inside an
existing one.
"""

from __future__ import annotations

import dataclasses
import logging
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from neuratlas.allen.client import AllenClient, cache_folder, cache_usage, clear_cache
from neuratlas.allen.export import MANIFEST, export_dataset, export_image
from neuratlas.allen.expression import (
    DEFAULT_PARCELLATION,
    PLANES,
    gene_expression,
    write_picture,
    write_table,
)
from neuratlas.allen.metadata import dataset_row, dataset_summary, image_row
from neuratlas.allen.ontology import OntologyChange, compare_ontology
from neuratlas.allen.preview import contact_sheet, pick_evenly
from neuratlas.allen.sync import DatasetDownloader
from neuratlas.allen.transforms import REFERENCE_SHAPE_UM
from neuratlas.allen.volume import GAPS
from neuratlas.cli.output import check_output_path, console, emit_json, emit_rows
from neuratlas.cli.running import run
from neuratlas.retrieval.cache import check_writable

app = typer.Typer(
    help="Allen Brain section datasets synced to the reference space.",
    no_args_is_help=True,
    # run on its own by the console script's fast path (run_alone): as the full command
    add_completion=False,
    pretty_exceptions_enable=False,
)
dataset_app = typer.Typer(help="Inspect one section dataset.", no_args_is_help=True)
search_app = typer.Typer(help="Find datasets and images.", no_args_is_help=True)
download_app = typer.Typer(help="Download datasets and images.", no_args_is_help=True)
cache_app = typer.Typer(help="The local cache of Allen data.", no_args_is_help=True)
app.add_typer(dataset_app, name="dataset")
app.add_typer(search_app, name="search")
app.add_typer(download_app, name="download")
app.add_typer(cache_app, name="cache")

_options: dict[str, Any] = {"api": None}

ApiOption = typer.Option(
    None,
    "--api",
    envvar="NEURATLAS_ALLEN_API",
    help="Base URL of the Allen API (default https://api.brain-map.org/api/v2/).",
)
JsonOption = typer.Option(False, "--json", help="Print JSON instead of a table.")
#: The coarsest reference grid that still has a pixel along every axis, in micrometres.
COARSEST_GRID_UM = min(REFERENCE_SHAPE_UM)


@app.callback()
def _allen(api: str | None = ApiOption) -> None:
    _options["api"] = api


def _client() -> AllenClient:
    return AllenClient(_options["api"])


@contextmanager
def _failures_summarised() -> Iterator[None]:
    """Per-image failure warnings off: the command ends with one line about them all."""
    logger = logging.getLogger("neuratlas.allen.sync")
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        logger.setLevel(level)


def _progress_bar(stderr: Any = None) -> Any:
    """A transient rich progress bar on stderr (shown only on a terminal)."""
    # heavy: rich.progress adds ~20 ms to every command; only downloads show a bar
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn

    stderr = stderr or Console(stderr=True)
    return Progress(
        "{task.description}",
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=stderr,
        disable=not stderr.is_terminal,
        transient=True,
    )


@contextmanager
def _progress(total: int, label: str) -> Iterator[Callable[..., None]]:
    """A rich progress bar on stderr; calling what it yields moves it by one."""
    with _progress_bar() as bar:
        task = bar.add_task(label, total=total)
        yield lambda *_: bar.advance(task)


@contextmanager
def _expression_progress(gene: str, stderr: Any = None) -> Iterator[dict[str, Any]]:
    """Two bars on stderr: the gene's datasets, and the sections of the current one.

    Yields the callbacks of :func:`~neuratlas.allen.expression.gene_expression`
    (``on_datasets``, ``on_dataset``, ``on_section``), as keyword arguments.
    """
    with _progress_bar(stderr) as bar:
        datasets = bar.add_task(f"{gene}: finding datasets", total=None)
        sections: list[Any] = []  # the sections' task, once the first dataset starts

        def on_datasets(ids: list[int]) -> None:
            bar.update(datasets, total=len(ids), description=f"{gene}: datasets")

        def on_dataset(dataset_id: int, downloader: DatasetDownloader) -> None:
            label = f"dataset {dataset_id}: sections"
            if sections:
                bar.advance(datasets)
                bar.reset(sections[0], total=len(downloader), description=label)
            else:
                sections.append(bar.add_task(label, total=len(downloader)))

        def on_section(*_: Any) -> None:
            bar.advance(sections[0])

        yield {"on_datasets": on_datasets, "on_dataset": on_dataset, "on_section": on_section}
        if sections:
            bar.advance(datasets)


# -- dataset -------------------------------------------------------------------------------
@dataset_app.command("info")
def dataset_info(
    dataset_id: Annotated[int, typer.Argument(help="Section dataset id.")],
    as_json: bool = JsonOption,
) -> None:
    """Show the metadata of a section dataset."""
    with _client() as client:
        dataset, images = client.fetch_metadata(dataset_id)
    summary = dataset_summary(dataset, images, details=as_json)
    if as_json:
        emit_json(summary)
        return
    table = Table(title=f"Allen section dataset {dataset.id}", show_header=False)
    for key, value in summary.items():
        if isinstance(value, list):
            value = (
                ", ".join(str(v) for v in value)
                if key != "section_numbers"
                else (f"{value[0]} .. {value[1]}")
            )
        table.add_row(key.replace("_", " "), str(value))
    console.print(table)


@dataset_app.command("preview")
def dataset_preview(
    dataset_id: Annotated[int, typer.Argument(help="Section dataset id.")],
    output: Annotated[Path, typer.Option("-o", "--output", help="PNG file to write.")],
    downsample: int = typer.Option(5, min=0, help="Images are shrunk by 2**downsample."),
    max_images: int = typer.Option(12, help="Most sections shown."),
    registered: bool = typer.Option(
        False, "--registered", help="Show the sections warped onto the reference grid."
    ),
    expression: bool = typer.Option(False, "--expression", help="Show the expression view."),
) -> None:
    """Draw a contact sheet of a dataset's sections."""
    if max_images < 1:
        raise typer.BadParameter("must be at least 1", param_hint="--max-images")
    output = check_output_path(output, (".png",))
    with _client() as client:
        downloader = DatasetDownloader(
            dataset_id,
            downsample_ref=25,
            include_expression=expression,
            downsample_img=downsample,
            client=client,
        )
        downloader.fetch_metadata()
        shown = len(pick_evenly(len(downloader), max_images))
        with _failures_summarised(), _progress(shown, "downloading") as advance:
            contact_sheet(
                downloader,
                output,
                max_images=max_images,
                registered=registered,
                expression=expression,
                on_section=advance,
            )
    typer.echo(f"wrote {output}", err=True)


# -- search ----------------------------------------------------------------------------------
@search_app.command("dataset")
def search_dataset(
    gene: str | None = typer.Option(None, "--gene", help="Gene acronym, e.g. Gad1."),
    plane: str | None = typer.Option(None, "--plane", help="coronal or sagittal."),
    include_failed: bool = typer.Option(False, "--include-failed", help="Also failed QC."),
    as_json: bool = JsonOption,
) -> None:
    """Find section datasets of the adult mouse ISH atlas."""
    if plane is not None and plane not in ("coronal", "sagittal"):
        raise typer.BadParameter("use coronal or sagittal", param_hint="--plane")
    if gene is None and plane is None:
        raise typer.BadParameter("give --gene, --plane or both", param_hint="--gene")
    with _client() as client:
        datasets = client.search_datasets(gene, plane, include_failed=include_failed)
    rows = [dataset_row(d) for d in datasets]
    emit_rows(
        rows,
        title=f"{len(rows)} section datasets",
        as_json=as_json,
        columns=("id", "plane", "genes", "failed"),
    )


@search_app.command("image")
def search_image(
    dataset: int = typer.Option(..., "--dataset", help="Section dataset id."),
    as_json: bool = JsonOption,
) -> None:
    """List the section images of a dataset, highest section first."""
    with _client() as client:
        _, images = client.fetch_metadata(dataset)
    rows = [image_row(i) for i in images]
    emit_rows(
        rows,
        title=f"dataset {dataset}: {len(rows)} section images",
        as_json=as_json,
        columns=("id", "section_number", "width", "height", "aligned"),
    )


# -- download -------------------------------------------------------------------------------
@download_app.command("dataset")
def download_dataset(
    dataset_id: Annotated[int, typer.Argument(help="Section dataset id.")],
    out: Annotated[Path, typer.Argument(help="Output folder (created in an existing one).")],
    downsample_ref: int = typer.Option(
        25, min=1, max=COARSEST_GRID_UM, help="Reference grid step in micrometres."
    ),
    downsample_img: int = typer.Option(0, min=0, help="Images are shrunk by 2**downsample-img."),
    expression: bool = typer.Option(False, "--expression", help="Also the expression view."),
    volume: bool = typer.Option(False, "--volume", help="Also assemble a NIfTI volume."),
    gaps: str = typer.Option("empty", help="Volume gaps: empty, nearest or linear."),
    oblique: bool = typer.Option(False, "--oblique", help="Place sections along their plane."),
    fields: bool = typer.Option(False, "--fields", help="Also save displacement fields."),
) -> None:
    """Download a dataset, every section warped onto its reference slice.

    Images that fail are skipped: what worked is written, the failures are listed
    in metadata.json, and the command ends with one error line about them and
    exit status 1 (so that scripts notice an incomplete folder). When no image
    arrives, nothing is written.
    """
    if gaps not in GAPS:
        raise typer.BadParameter("use empty, nearest or linear", param_hint="--gaps")
    out = check_writable(out, folder=True)
    with _client() as client:
        downloader = DatasetDownloader(
            dataset_id,
            downsample_ref=downsample_ref,
            include_expression=expression,
            downsample_img=downsample_img,
            client=client,
        )
        downloader.fetch_metadata()
        with (
            _failures_summarised(),
            _progress(len(downloader), f"dataset {dataset_id}") as advance,
        ):
            manifest = export_dataset(
                downloader,
                out,
                volume=volume,
                gaps=gaps,  # type: ignore[arg-type]
                sampling="oblique" if oblique else "parallel",
                fields=fields,
                on_section=advance,
            )
    written = len(manifest["sections"])
    typer.echo(f"wrote {written} sections to {out}", err=True)
    if downloader.failures:
        tried = written + len(downloader.failures)
        raise downloader.failures_error(tried, listed_in=out / MANIFEST)


@download_app.command("image")
def download_image(
    image_id: Annotated[int, typer.Argument(help="Section image id.")],
    out: Annotated[Path, typer.Argument(help="Output file (.jpg) or existing folder.")],
    downsample: int = typer.Option(0, min=0, help="The image is shrunk by 2**downsample."),
    expression: bool = typer.Option(False, "--expression", help="The expression view."),
) -> None:
    """Download one section image as served by the API (JPEG)."""
    if not out.is_dir():
        out = check_writable(out)
    with _client() as client:
        target = export_image(
            image_id, out, downsample=downsample, expression=expression, client=client
        )
    typer.echo(f"wrote {target}", err=True)


# -- expression --------------------------------------------------------------------------
@app.command("expression")
def expression(
    gene: Annotated[str, typer.Argument(help="Gene acronym, e.g. Gad1.")],
    output: Annotated[Path, typer.Option("-o", "--output", help="CSV table to write.")],
    plane: str = typer.Option("coronal", "--plane", help="coronal or sagittal."),
    parcellation: str = typer.Option(
        DEFAULT_PARCELLATION, "--parcellation", help="Parcellation giving the regions."
    ),
    resolution_um: int = typer.Option(
        25, "--resolution-um", min=1, max=COARSEST_GRID_UM, help="CCF grid step in micrometres."
    ),
    downsample_img: int | None = typer.Option(
        None,
        "--downsample-img",
        min=0,
        max=12,
        help="Images are shrunk by 2**downsample-img (default: pixels of a third of a voxel).",
    ),
    png: Annotated[
        Path | None, typer.Option("--png", help="Also draw the top regions (PNG).")
    ] = None,
    top: int = typer.Option(20, "--top", min=1, help="Regions in the picture."),
) -> None:
    """Expression energy of a gene per region of the Allen mouse annotation.

    Finds the gene's ISH datasets in the plane, places each dataset's expression
    sections on the CCF grid (one section in memory at a time) and writes one row per
    region and dataset: mean and max expression energy (0-255) over the region's
    voxels that a section sampled, the coverage (fraction of its voxels sampled) and
    its voxel count, highest mean first. Sagittal datasets cover one hemisphere: a
    region on both sides is at most about half covered.
    """
    if plane not in PLANES:
        raise typer.BadParameter("use coronal or sagittal", param_hint="--plane")
    output = check_output_path(output, (".csv",))
    if png is not None:
        png = check_output_path(png, (".png",), option="--png")
    with _client() as client, _failures_summarised(), _expression_progress(gene) as progress:
        rows = gene_expression(
            gene,
            plane=plane,
            parcellation=parcellation,
            resolution_um=resolution_um,
            downsample_img=downsample_img,
            client=client,
            **progress,
        )
    write_table(rows, output)
    typer.echo(f"wrote {output} ({len(rows)} rows)", err=True)
    if plane == "sagittal":
        typer.echo(
            "note: sagittal datasets cover one hemisphere: "
            "a region on both sides is at most about half covered",
            err=True,
        )
    if png is not None:
        write_picture(rows, png, top=top, title=f"{gene}: top regions by mean expression")
        typer.echo(f"wrote {png}", err=True)


# -- ontology ------------------------------------------------------------------------------
@app.command("ontology")
def ontology(
    parcellation: str = typer.Option(
        DEFAULT_PARCELLATION, "--parcellation", help="Parcellation whose region tree is compared."
    ),
    as_json: bool = JsonOption,
) -> None:
    """Compare the API's structure ontology (graph 1) with the one neuratlas ships.

    Lists structures added or removed by the API, and those it names, abbreviates,
    places or colours differently; nothing when both agree.
    """
    with _client() as client:
        changes = compare_ontology(parcellation, client=client)
    emit_rows(
        [dataclasses.asdict(change) for change in changes],
        title=f"{len(changes)} differences from the Allen API's ontology",
        as_json=as_json,
        columns=[field.name for field in dataclasses.fields(OntologyChange)],
        empty="the embedded ontology is the API's: no difference",
    )


# -- cache ------------------------------------------------------------------------------------
@cache_app.command("info")
def cache_info(as_json: bool = JsonOption) -> None:
    """Show where Allen data is cached and how much."""
    usage = cache_usage()
    if as_json:
        emit_json({"folder": str(usage.folder), "files": usage.files, "bytes": usage.size})
        return
    typer.echo(f"{usage.folder}: {usage.files} files, {usage.size / 1024**2:.1f} MB")


@cache_app.command("clear")
def cache_clear(yes: bool = typer.Option(False, "--yes", "-y", help="Do not ask.")) -> None:
    """Delete the cached Allen metadata and images."""
    folder = cache_folder()
    if not yes and sys.stdin.isatty() and not typer.confirm(f"delete {folder}?"):
        raise typer.Abort()
    clear_cache()
    typer.echo(f"cleared {folder}", err=True)


def run_alone() -> None:
    """Run ``neuratlas allen ...`` as a command line of its own (see ``cli/entry.py``)."""
    run(app, sys.argv[2:], "neuratlas allen")


__all__ = ["app", "run_alone"]
