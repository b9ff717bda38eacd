"""``neuratlas allen ...``: Allen Brain section datasets."""

from __future__ import annotations

import json
import shutil
import sys
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any

import typer

from neuratlas.errors import Error

app = typer.Typer(
    help="Allen Brain section datasets synced to the reference space.", no_args_is_help=True
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


@app.callback()
def _allen(api: str | None = ApiOption) -> None:
    _options["api"] = api


def _client() -> Any:
    from neuratlas.allen.client import AllenClient

    return AllenClient(_options["api"])


def _console() -> Any:
    from rich.console import Console

    return Console()


def _print_json(data: Any) -> None:
    typer.echo(json.dumps(data, indent=2, default=str))


@contextmanager
def _progress(total: int, label: str) -> Any:
    """A rich progress bar on stderr; ``advance()`` moves it by one."""
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn

    console = Console(stderr=True)
    bar = Progress(
        "{task.description}",
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        disable=not console.is_terminal,
        transient=True,
    )
    with bar:
        task = bar.add_task(label, total=total)
        yield lambda: bar.advance(task)


def _dataset_summary(dataset: Any, images: list[Any]) -> dict[str, Any]:
    numbers = [image.section_number for image in images]
    return {
        "id": dataset.id,
        "plane": dataset.plane,
        "section_thickness_um": dataset.section_thickness,
        "reference_space_id": dataset.reference_space_id,
        "genes": list(dataset.genes),
        "failed": dataset.failed,
        "aligned": dataset.affine_tvr is not None,
        "images": len(images),
        "section_numbers": [min(numbers), max(numbers)] if numbers else None,
        "image_sizes": sorted({f"{image.width}x{image.height}" for image in images}),
    }


# -- dataset -------------------------------------------------------------------------------
@dataset_app.command("info")
def dataset_info(
    dataset_id: Annotated[int, typer.Argument(help="Section dataset id.")],
    as_json: bool = JsonOption,
) -> None:
    """Show the metadata of a section dataset."""
    with _client() as client:
        dataset, images = client.fetch_metadata(dataset_id)
    summary = _dataset_summary(dataset, images)
    if as_json:
        summary["affine_tvr"] = None if dataset.affine_tvr is None else dataset.affine_tvr.tolist()
        summary["sections"] = [
            {"id": i.id, "section_number": i.section_number, "width": i.width, "height": i.height}
            for i in images
        ]
        _print_json(summary)
        return
    from rich.table import Table

    table = Table(title=f"Allen section dataset {dataset.id}", show_header=False)
    for key, value in summary.items():
        if isinstance(value, list):
            value = (
                ", ".join(str(v) for v in value)
                if key != "section_numbers"
                else (f"{value[0]} .. {value[1]}")
            )
        table.add_row(key.replace("_", " "), str(value))
    _console().print(table)


@dataset_app.command("preview")
def dataset_preview(
    dataset_id: Annotated[int, typer.Argument(help="Section dataset id.")],
    output: Annotated[Path, typer.Option("-o", "--output", help="PNG file to write.")],
    downsample: int = typer.Option(5, help="Images are shrunk by 2**downsample."),
    max_images: int = typer.Option(12, help="Most sections shown."),
    registered: bool = typer.Option(
        False, "--registered", help="Show the sections warped onto the reference grid."
    ),
    expression: bool = typer.Option(False, "--expression", help="Show the expression view."),
) -> None:
    """Draw a contact sheet of a dataset's sections."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    from neuratlas.allen.sync import DatasetDownloader
    from neuratlas.retrieval.cache import atomic_write

    if max_images < 1:
        raise typer.BadParameter("must be at least 1", param_hint="--max-images")
    with _client() as client:
        downloader = DatasetDownloader(
            dataset_id,
            downsample_ref=25,
            include_expression=expression,
            downsample_img=downsample,
            client=client,
        )
        downloader.fetch_metadata()
        records = downloader.metadata["images"]
        if not records:
            raise Error(f"dataset {dataset_id} has no aligned section images")
        chosen = np.unique(np.linspace(0, len(records) - 1, min(max_images, len(records))).round())
        keep = {records[int(k)]["id"] for k in chosen}
        downloader.metadata["images"] = [r for r in records if r["id"] in keep]
        panels = []
        with _progress(len(keep), "downloading") as advance:
            for image_id, coordinate, img, img_expr, df in downloader.run():
                picture = img_expr if expression else img
                if registered:
                    picture = df.warp(picture)
                panels.append((image_id, coordinate, picture))
                advance()
    columns = int(np.ceil(np.sqrt(len(panels))))
    rows = int(np.ceil(len(panels) / columns)) if panels else 1
    figure, axes = plt.subplots(rows, columns, figsize=(3 * columns, 2.4 * rows), squeeze=False)
    for ax in axes.ravel():
        ax.axis("off")
    for ax, (image_id, coordinate, picture) in zip(axes.ravel(), panels, strict=False):
        ax.imshow(picture)
        ax.set_title(f"{image_id}\n{downloader.axis} {coordinate:.0f} µm", fontsize=8)
    figure.suptitle(f"Allen section dataset {dataset_id}")
    figure.tight_layout()
    with atomic_write(output, "wb") as handle:
        figure.savefig(handle, format="png", dpi=100)
    plt.close(figure)
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
    rows = [
        {"id": d.id, "plane": d.plane, "genes": list(d.genes), "failed": d.failed}
        for d in datasets
    ]
    if as_json:
        _print_json(rows)
        return
    from rich.table import Table

    table = Table(title=f"{len(rows)} section datasets")
    for column in ("id", "plane", "genes", "failed"):
        table.add_column(column)
    for row in rows:
        table.add_row(str(row["id"]), row["plane"], ", ".join(row["genes"]), str(row["failed"]))
    _console().print(table)


@search_app.command("image")
def search_image(
    dataset: int = typer.Option(..., "--dataset", help="Section dataset id."),
    as_json: bool = JsonOption,
) -> None:
    """List the section images of a dataset, highest section first."""
    with _client() as client:
        _, images = client.fetch_metadata(dataset)
    rows = [
        {
            "id": i.id,
            "section_number": i.section_number,
            "width": i.width,
            "height": i.height,
            "aligned": i.aligned,
        }
        for i in images
    ]
    if as_json:
        _print_json(rows)
        return
    from rich.table import Table

    table = Table(title=f"dataset {dataset}: {len(rows)} section images")
    for column in ("id", "section_number", "width", "height", "aligned"):
        table.add_column(column)
    for row in rows:
        table.add_row(
            *(str(row[c]) for c in ("id", "section_number", "width", "height", "aligned"))
        )
    _console().print(table)


# -- download -------------------------------------------------------------------------------
@download_app.command("dataset")
def download_dataset(
    dataset_id: Annotated[int, typer.Argument(help="Section dataset id.")],
    out: Annotated[Path, typer.Argument(help="Output folder.")],
    downsample_ref: int = typer.Option(25, help="Reference grid step in micrometres."),
    downsample_img: int = typer.Option(0, help="Images are shrunk by 2**downsample-img."),
    expression: bool = typer.Option(False, "--expression", help="Also the expression view."),
    volume: bool = typer.Option(False, "--volume", help="Also assemble a NIfTI volume."),
    gaps: str = typer.Option("empty", help="Volume gaps: empty, nearest or linear."),
    oblique: bool = typer.Option(False, "--oblique", help="Place sections along their plane."),
    fields: bool = typer.Option(False, "--fields", help="Also save displacement fields."),
) -> None:
    """Download a dataset, every section warped onto its reference slice."""
    import numpy as np
    from PIL import Image

    from neuratlas.allen.sync import DatasetDownloader
    from neuratlas.allen.volume import VolumeAccumulator, save_volume
    from neuratlas.retrieval.cache import atomic_write

    if gaps not in ("empty", "nearest", "linear"):
        raise typer.BadParameter("use empty, nearest or linear", param_hint="--gaps")
    sections = out / "sections"
    sections.mkdir(parents=True, exist_ok=True)
    with _client() as client:
        downloader = DatasetDownloader(
            dataset_id,
            downsample_ref=downsample_ref,
            include_expression=expression,
            downsample_img=downsample_img,
            client=client,
        )
        downloader.fetch_metadata()
        records = {r["id"]: r for r in downloader.metadata["images"]}
        axis = downloader.axis
        accumulators: dict[str, VolumeAccumulator] = {}
        if volume:
            accumulators["image"] = VolumeAccumulator(downsample_ref, axis)
            if expression:
                accumulators["expression"] = VolumeAccumulator(downsample_ref, axis)
        written: list[dict[str, Any]] = []
        with _progress(len(records), f"dataset {dataset_id}") as advance:
            for image_id, coordinate, img, img_expr, df in downloader.run():
                record = records[image_id]
                depth: Any = coordinate
                if oblique:
                    from neuratlas.allen.transforms import get_oblique_transform

                    df, depth = get_oblique_transform(
                        downloader.section_z(record),
                        record["affine_tvs"],
                        downloader.metadata["dataset"]["affine_trv"],
                        axis=axis,  # type: ignore[arg-type]
                        downsample_ref=downsample_ref,
                        downsample_img=downsample_img,
                    )
                stem = f"{record['section_number']:04d}_{image_id}"
                entry: dict[str, Any] = {
                    "image_id": image_id,
                    "section_number": record["section_number"],
                    "slice_coordinate_um": coordinate,
                    "image": f"sections/{stem}.png",
                }
                pictures = {"image": img, "expression": img_expr}
                for kind, picture in pictures.items():
                    if picture is None:
                        continue
                    warped = df.warp(picture)
                    name = f"{stem}.png" if kind == "image" else f"{stem}_expression.png"
                    with atomic_write(sections / name, "wb") as handle:
                        Image.fromarray(warped).save(handle, format="PNG")
                    entry[kind] = f"sections/{name}"
                    if kind in accumulators:
                        accumulators[kind].add_section(picture, df, depth)
                if fields:
                    df.save(sections / f"{stem}_field.npz")
                    entry["field"] = f"sections/{stem}_field.npz"
                written.append(entry)
                advance()
        failures = {str(k): str(v) for k, v in downloader.failures.items()}
    volumes = {}
    for kind, accumulator in accumulators.items():
        nifti = accumulator.to_nifti(gaps)  # type: ignore[arg-type]
        name = "volume.nii.gz" if kind == "image" else "volume_expression.nii.gz"
        save_volume(nifti, out / name)
        volumes[kind] = name
    meta = downloader.metadata["dataset"]
    manifest = {
        "dataset_id": dataset_id,
        "plane": meta["plane"],
        "axis": axis,
        "section_thickness_um": meta["section_thickness"],
        "downsample_ref": downsample_ref,
        "downsample_img": downsample_img,
        "sampling": "oblique" if oblique else "parallel",
        "affine_tvr": np.asarray(meta["affine_tvr"]).tolist(),
        "affine_trv": np.asarray(meta["affine_trv"]).tolist(),
        "sections": written,
        "volumes": volumes,
        "failures": failures,
    }
    with atomic_write(out / "metadata.json", "w") as handle:
        json.dump(manifest, handle, indent=2)
    typer.echo(f"wrote {len(written)} sections to {out}", err=True)
    if failures:
        typer.echo(f"warning: {len(failures)} images failed: {', '.join(failures)}", err=True)
        raise typer.Exit(1)


@download_app.command("image")
def download_image(
    image_id: Annotated[int, typer.Argument(help="Section image id.")],
    out: Annotated[Path, typer.Argument(help="Output file (.jpg) or folder.")],
    downsample: int = typer.Option(0, help="The image is shrunk by 2**downsample."),
    expression: bool = typer.Option(False, "--expression", help="The expression view."),
) -> None:
    """Download one section image as served by the API (JPEG)."""
    from neuratlas.retrieval.cache import atomic_write

    with _client() as client:
        client.section_image(image_id)  # a clear error for an unknown id
        cached = client.image_path(image_id, downsample=downsample, expression=expression)
    target = out / f"{image_id}{'_expression' if expression else ''}.jpg" if out.is_dir() else out
    with atomic_write(target, "wb") as handle, open(cached, "rb") as source:
        shutil.copyfileobj(source, handle)
    typer.echo(f"wrote {target}", err=True)


# -- cache ------------------------------------------------------------------------------------
@cache_app.command("info")
def cache_info(as_json: bool = JsonOption) -> None:
    """Show where Allen data is cached and how much."""
    from neuratlas.allen.client import CACHE_AREA
    from neuratlas.retrieval.cache import cache_dir

    folder = cache_dir(CACHE_AREA)
    files = [p for p in folder.rglob("*") if p.is_file()]
    size = sum(p.stat().st_size for p in files)
    info = {"folder": str(folder), "files": len(files), "bytes": size}
    if as_json:
        _print_json(info)
        return
    typer.echo(f"{folder}: {len(files)} files, {size / 1024**2:.1f} MB")


@cache_app.command("clear")
def cache_clear(yes: bool = typer.Option(False, "--yes", "-y", help="Do not ask.")) -> None:
    """Delete the cached Allen metadata and images."""
    from neuratlas.allen.client import CACHE_AREA
    from neuratlas.retrieval.cache import cache_root, clear

    folder = cache_root() / CACHE_AREA
    if not yes and sys.stdin.isatty() and not typer.confirm(f"delete {folder}?"):
        raise typer.Abort()
    clear(CACHE_AREA)
    typer.echo(f"cleared {folder}", err=True)


__all__ = ["app"]
