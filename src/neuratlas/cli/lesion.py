"""``neuratlas lesion ...``: lesion masks in, regional damage and network maps out.

Argument parsing and printing only; the work is done in :mod:`neuratlas.lesion`,
imported by each command (it brings NumPy, SciPy, pandas and h5py: 0.8 s that
every other command of ``neuratlas`` should not pay).
``run`` sends the subjects of a BIDS dataset to Dask (a local cluster of worker
processes, or a scheduler by address), shows a progress bar, reports the subjects
that failed and goes on with the others; a rerun skips the subjects done before.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from neuratlas import parallel
from neuratlas.cli.output import emit_json, emit_rows, err_console
from neuratlas.errors import ArgumentError, Error
from neuratlas.retrieval.cache import check_writable

if TYPE_CHECKING:
    from distributed import Client

    from neuratlas.lesion.analysis.base import Analysis
    from neuratlas.lesion.batch import BatchReport, SubjectOutcome

app = typer.Typer(
    help="Lesion analysis: regional damage and lesion network mapping on BIDS datasets.",
    no_args_is_help=True,
)

ANALYSES = ("rd", "fnm", "snm")
JsonOption = typer.Option(False, "--json", help="Print JSON instead of a table.")


def _analysis(
    kind: str,
    parcellations: list[str],
    connectome: str | None,
    method: str,
    tractogram: str | None,
) -> Analysis:
    if kind not in ANALYSES:
        raise ArgumentError(
            f"unknown analysis {kind!r}; choose one of {', '.join(ANALYSES)}",
            hint="rd = regional damage, fnm = functional, snm = structural network mapping",
        )
    # heavy: see the module notes
    from neuratlas.lesion.analysis import (
        FunctionalNetworkMapping,
        RegionalDamage,
        StructuralNetworkMapping,
    )

    if kind == "rd":
        if not parcellations:
            raise ArgumentError(
                "regional damage needs a parcellation",
                hint="add --parcellation NAME (see: neuratlas parcellations)",
            )
        return RegionalDamage(parcellation=parcellations)
    if kind == "fnm":
        if not connectome:
            raise ArgumentError(
                "functional network mapping needs a connectome",
                hint="add --connectome NAME_OR_PATH (see: neuratlas lesion fetch --list)",
            )
        return FunctionalNetworkMapping(connectome, method=method)
    if not tractogram:
        raise ArgumentError(
            "structural network mapping needs a tractogram",
            hint="add --tractogram PATH.tck (see: neuratlas lesion fetch --list)",
        )
    return StructuralNetworkMapping(
        tractogram, parcellation=parcellations[0] if parcellations else None
    )


@contextmanager
def _client(scheduler: str | None, workers: int | None) -> Iterator[Client]:
    if scheduler:
        client = parallel.connect(scheduler)
        try:
            yield client
        finally:
            client.close()
        return
    # heavy: Dask starts only when a batch runs
    from distributed import Client

    n = workers or max(1, os.cpu_count() or 1)
    # worker processes, one thread each: the analyses are NumPy/SciPy work that a
    # single process's threads would share the interpreter for
    cluster = parallel.local_cluster(processes=True, n_workers=n, threads_per_worker=1)
    client = Client(cluster, set_as_default=False)
    try:
        yield client
    finally:
        client.close()
        cluster.close()


def _check_out_dir(path: Path) -> None:
    """Before any work: the output folder can be made (its parent exists) and written."""
    check_writable(path, folder=True)
    try:
        path.mkdir(exist_ok=True)
    except OSError as exc:
        raise ArgumentError(
            f"cannot make {path}: {exc.strerror}", hint="choose a folder you can write to"
        ) from None


def _print_report(report: BatchReport, as_json: bool) -> None:
    if as_json:
        emit_json(
            {
                "analysis": report.analysis,
                "output_dir": str(report.output_dir),
                "subjects": [o.__dict__ for o in report.outcomes],
            }
        )
        return
    for failed in report.of("failed"):
        typer.echo(f"failed: {failed.key}: {failed.message}", err=True)
    typer.echo(report.summary())


@app.command("run")
def run(
    analysis: Annotated[str, typer.Argument(help="rd (regional damage), fnm or snm.")],
    bids_dir: Annotated[Path, typer.Argument(help="The BIDS dataset (or folder of masks).")],
    out_dir: Annotated[Path, typer.Argument(help="The derivatives folder to write.")],
    parcellation: Annotated[
        list[str] | None,
        typer.Option("--parcellation", "-p", help="A parcellation (repeat for several)."),
    ] = None,
    connectome: Annotated[
        str | None, typer.Option(help="fnm: a registered connectome name or an HDF5 path.")
    ] = None,
    method: Annotated[str, typer.Option(help="fnm: boes or pini.")] = "boes",
    tractogram: Annotated[str | None, typer.Option(help="snm: a .tck or .trk file.")] = None,
    pattern: Annotated[str, typer.Option(help="Only masks whose names fit this glob.")] = "*",
    suffix: Annotated[str, typer.Option(help="The masks' file suffix.")] = "_mask.nii.gz",
    subject: Annotated[
        list[str] | None, typer.Option("--subject", help="Only this subject (repeat).")
    ] = None,
    space: Annotated[str | None, typer.Option(help="For masks whose names do not say.")] = None,
    resolution: Annotated[float | None, typer.Option(help="Voxel size in mm, likewise.")] = None,
    scheduler: Annotated[
        str | None,
        typer.Option(help="A Dask scheduler (tcp://host:8786); default: a local cluster."),
    ] = None,
    workers: Annotated[
        int | None, typer.Option(min=1, help="Local worker processes (default: one per CPU).")
    ] = None,
    as_json: bool = JsonOption,
) -> None:
    """Run an analysis on every subject of a BIDS dataset, writing BIDS derivatives."""
    # heavy: see the module notes
    from neuratlas.lesion.batch import run_subjects
    from neuratlas.lesion.bids import find_masks

    job = _analysis(analysis, parcellation or [], connectome, method, tractogram)
    masks = find_masks(bids_dir, pattern, suffix, subjects=subject)
    _check_out_dir(out_dir)
    with _client(scheduler, workers) as client, _progress(len(masks)) as tick:
        report = run_subjects(
            job,
            bids_dir,
            out_dir,
            pattern=pattern,
            suffix=suffix,
            subjects=subject,
            client=client,
            space=space,
            resolution=resolution,
            progress=tick,
        )
    _print_report(report, as_json)
    if report.of("failed"):
        raise typer.Exit(1)


@contextmanager
def _progress(total: int) -> Iterator[Any]:
    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=err_console, transient=True) as bar:
        task = bar.add_task("subjects", total=total)

        def tick(outcome: SubjectOutcome) -> None:
            bar.update(task, advance=1, description=f"{outcome.key}: {outcome.status}")

        yield tick


@app.command("collect")
def collect(
    out_dir: Annotated[Path, typer.Argument(help="A derivatives folder written by `run`.")],
    as_json: bool = JsonOption,
) -> None:
    """Write group tables (participants x regions) of every regional result."""
    # heavy: see the module notes
    from neuratlas.lesion.collect import write_group_tables

    written = write_group_tables(out_dir)
    if as_json:
        emit_json([str(p) for p in written])
        return
    for path in written:
        typer.echo(str(path))


@app.command("bidsify")
def bidsify_command(
    input_dir: Annotated[Path, typer.Argument(help="A folder of loose masks, one per subject.")],
    output_dir: Annotated[Path, typer.Argument(help="The BIDS dataset to write.")],
    space: Annotated[str, typer.Option(help="The masks' space (e.g. MNI152NLin6Asym).")],
    session: Annotated[str | None, typer.Option(help="A session label for all masks.")] = None,
    label: Annotated[str | None, typer.Option(help="A label for all masks (e.g. acute).")] = None,
) -> None:
    """Make a BIDS dataset of a folder of loose lesion masks."""
    # heavy: see the module notes
    from neuratlas.lesion.bids import bidsify

    typer.echo(str(bidsify(input_dir, output_dir, space, session=session, label=label)))


_INFO_COLUMNS = (
    "file", "subject", "session", "label", "space", "resolution_mm", "voxels", "volume_mm3"
)  # fmt: skip


@app.command("fetch")
def fetch(
    name: Annotated[
        str | None, typer.Argument(help="gsp1000, dtor985 or hcp1065; none with --list.")
    ] = None,
    output_dir: Annotated[
        Path | None, typer.Argument(help="Where the converted files go.")
    ] = None,
    list_them: Annotated[
        bool, typer.Option("--list", help="List the connectomes that can be fetched.")
    ] = False,
    api_key: Annotated[
        str | None,
        typer.Option(envvar="DATAVERSE_API_KEY", help="Dataverse API key (GSP1000)."),
    ] = None,
    force: Annotated[bool, typer.Option(help="Fetch and convert again.")] = False,
    as_json: bool = JsonOption,
) -> None:
    """Fetch a normative connectome, convert it and register it by name."""
    # heavy: see the module notes
    from neuratlas.lesion.connectomes import fetch_connectome, list_fetchable_connectomes

    if list_them:
        rows = [
            {
                "name": c.name,
                "type": c.type,
                "subjects": c.n_subjects,
                "size_gb": c.estimated_size_gb,
                "space": c.space,
                "description": c.description,
            }
            for c in list_fetchable_connectomes()
        ]
        emit_rows(rows, title="Connectomes that can be fetched", as_json=as_json)
        return
    if name is None or output_dir is None:
        raise ArgumentError(
            "fetch needs a connectome name and an output folder",
            hint="e.g. neuratlas lesion fetch hcp1065 ~/connectomes (or --list)",
        )
    _check_out_dir(output_dir)
    kwargs: dict[str, Any] = {"force": force}
    if api_key:
        kwargs["api_key"] = api_key
    with _fetch_progress() as report:
        result = fetch_connectome(name, output_dir, progress_callback=report, **kwargs)
    if as_json:
        emit_json({k: str(v) if isinstance(v, Path) else v for k, v in result.__dict__.items()})
    else:
        typer.echo(result.summary())
    if not result.success:
        raise typer.Exit(1)


@contextmanager
def _fetch_progress() -> Iterator[Any]:
    columns = (TextColumn("{task.description}"), BarColumn(), TimeElapsedColumn())
    with Progress(*columns, console=err_console, transient=True) as bar:
        task = bar.add_task("starting", total=100)

        def report(progress: Any) -> None:
            bar.update(
                task,
                completed=progress.percent_complete,
                description=f"{progress.phase}: {progress.current_file}",
            )

        yield report


@app.command("connectomes")
def connectomes(as_json: bool = JsonOption) -> None:
    """List the connectomes registered on this machine (fetched, or registered by hand)."""
    # heavy: see the module notes
    from neuratlas.lesion.connectomes import list_connectomes

    rows = [
        {
            "name": c.name,
            "kind": c.kind,
            "space": c.space,
            "resolution_mm": c.resolution,
            "path": str(c.path),
        }
        for c in list_connectomes()
    ]
    emit_rows(
        rows,
        title="Registered connectomes",
        as_json=as_json,
        empty="no connectome registered yet: neuratlas lesion fetch --list",
    )


def _mask_info(path: Path) -> dict[str, Any]:
    # heavy: see the module notes
    from neuratlas.lesion.bids import load_mask

    subject = load_mask(path, path.parent)
    return {
        "file": path.name,
        "subject": subject.subject_id,
        "session": subject.metadata.get("session_id"),
        "label": subject.metadata.get("label"),
        "space": subject.space,
        "resolution_mm": subject.resolution,
        "voxels": int(subject.mask.sum()),
        "volume_mm3": round(subject.get_volume_mm3(), 1),
    }


@app.command("info")
def info(
    path: Annotated[Path, typer.Argument(help="A mask file, or a BIDS dataset folder.")],
    pattern: Annotated[str, typer.Option(help="Folders: only masks fitting this glob.")] = "*",
    suffix: Annotated[str, typer.Option(help="Folders: the masks' suffix.")] = "_mask.nii.gz",
    as_json: bool = JsonOption,
) -> None:
    """Describe lesion masks: subject, space, resolution, lesion volume."""
    # heavy: see the module notes
    from neuratlas.lesion.bids import find_masks

    if path.is_dir():
        rows = []
        for mask in find_masks(path, pattern, suffix):
            try:
                rows.append({**_mask_info(mask), "problem": ""})
            except Error as exc:
                rows.append(
                    {**dict.fromkeys(_INFO_COLUMNS, ""), "file": str(mask), "problem": exc.message}
                )
        columns = None if as_json else [*_INFO_COLUMNS, "problem"]
        emit_rows(rows, title=f"Lesion masks in {path}", as_json=as_json, columns=columns)
        return
    row = _mask_info(path)
    if as_json:
        emit_json(row)
        return
    for key, value in row.items():
        typer.echo(f"{key}: {value}")


def register(cli: typer.Typer) -> None:
    """Add ``neuratlas lesion`` to the main app."""
    cli.add_typer(app, name="lesion")
