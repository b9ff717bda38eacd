"""Gene -> expression per region of the Allen mouse annotation.

For a gene, the ISH datasets of the adult mouse atlas are found
(:func:`~neuratlas.allen.queries.get_experiment_list_from_gene`); the expression
view of each dataset's sections (only that view: the plain section images are
not fetched) is synced and placed on the CCF grid one section at a time
(:func:`~neuratlas.allen.volume.place_sections`: only the running sums of the
planes that sections reached stay in memory, never all the images nor the whole
grid); then, for every region of the annotation (its own label and those of its
descendants, as the map's masks are), the expression energy over the voxels that
a section sampled is summarised: its mean and maximum, and the coverage (the
fraction of the region's voxels that lie on a sampled section).

The expression energy of a voxel is the mean grey level (0-255, luma of the
expression view's false colours) of the sections that fell on it. The annotation
is read on the expression grid (nearest neighbour, so voxel counts are in voxels
of that grid; see :mod:`~neuratlas.allen.grid_labels`): at 25 µm the two grids
are the same. The annotation is fetched while the datasets' metadata come, then
read in one pass, a few slabs at a time, in a background thread while the sections
download: the pass gathers the planes the sections fall on (known from the metadata)
and counts the labels (cached), never holding the whole annotation
(:mod:`~neuratlas.allen.grid_cache`).

A sagittal dataset covers one hemisphere only (its sections stop at the midline):
its coverage of a region lying in both hemispheres is at most about one half,
which the ``coverage`` column shows.
"""

from __future__ import annotations

import csv
import io
import logging
import math
import os
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import astuple, dataclass, fields
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from neuratlas.allen.client import AllenClient
from neuratlas.allen.grid_cache import fetch_annotation, sample_annotation
from neuratlas.allen.grid_labels import GridLabels, GridSample, labels_on_grid
from neuratlas.allen.queries import get_experiment_list_from_gene
from neuratlas.allen.sync import DatasetDownloader
from neuratlas.allen.volume import VolumeAccumulator, place_sections
from neuratlas.catalogue import active
from neuratlas.errors import ArgumentError, NotFoundError
from neuratlas.matching import closest
from neuratlas.retrieval.cache import atomic_write

logger = logging.getLogger(__name__)

__all__ = [
    "DEFAULT_PARCELLATION",
    "PLANES",
    "SPACE",
    "GridLabels",
    "GridSample",
    "RegionExpression",
    "find_datasets",
    "gene_expression",
    "labels_on_grid",
    "region_expression",
    "write_picture",
    "write_table",
]

#: The parcellation whose regions are reported unless another is asked for.
DEFAULT_PARCELLATION = "Allen Mouse Brain Atlas (CCFv3 2017 annotation)"
#: The reference space of the section datasets' volumes.
SPACE = "Allen Mouse CCF v3"
#: The planes of section of the adult mouse ISH atlas.
PLANES: tuple[str, ...] = ("coronal", "sagittal")


@dataclass(frozen=True)
class RegionExpression:
    """The expression of one dataset in one region (a row of the table)."""

    #: The region's name.
    region: str
    #: Its acronym (the first alias), or ``""``.
    acronym: str
    #: The section dataset.
    dataset_id: int
    #: Mean expression energy over the region's sampled voxels (``nan`` if none).
    mean: float
    #: Largest expression energy over the region's sampled voxels (``nan`` if none).
    max: float
    #: Fraction of the region's voxels that lie on a sampled section.
    coverage: float
    #: The region's voxels (on the expression grid).
    voxels: int


#: Column names of the table, in order.
COLUMNS: tuple[str, ...] = tuple(f.name for f in fields(RegionExpression))


def _check_plane(plane: str) -> None:
    if plane not in PLANES:
        raise ArgumentError(f"unknown plane of section {plane!r}", hint="use coronal or sagittal")


def find_datasets(
    gene: str, plane: str = "coronal", *, client: AllenClient | None = None
) -> list[int]:
    """The ids of the gene's ISH datasets in ``plane``; never empty.

    When there is none, the API is asked why, so that the error says what to do:
    the gene has datasets in the other plane, or none at all, or the API knows no
    mouse gene of that acronym (then the closest acronyms are suggested).

    Raises
    ------
    ArgumentError
        An empty gene acronym or an unknown plane.
    NotFoundError
        The atlas has no dataset of the gene in that plane (``suggestions``: similar
        gene acronyms, for an unknown gene).
    """
    _check_plane(plane)
    ids = get_experiment_list_from_gene(gene, plane, client=client)
    if ids:
        return ids
    other = PLANES[1 - PLANES.index(plane)]
    elsewhere = get_experiment_list_from_gene(gene, other, client=client)
    if elsewhere:
        raise NotFoundError(
            f"no {plane} ISH dataset of gene {gene!r} in the Allen mouse brain atlas "
            f"(it has {len(elsewhere)} {other})",
            hint=f"use --plane {other}",
        )
    # the genes sharing the first letter (~1,000 acronyms): a typo after it still finds its gene
    known = (client or AllenClient.default()).search_genes(gene.strip()[:1] + "*")
    if any(name.casefold() == gene.strip().casefold() for name in known):
        raise NotFoundError(
            f"gene {gene!r} has no ISH dataset in the Allen mouse brain atlas "
            "(neither coronal nor sagittal)",
            hint="the atlas covers most but not all mouse genes; try a related gene",
        )
    suggestions = closest(gene, known, 3)
    raise NotFoundError(
        f"unknown gene {gene!r}: the Allen API knows no mouse gene of that acronym",
        suggestions=suggestions,
        hint=None if suggestions else "check the gene acronym (e.g. 'Gad1')",
    )


def _section_planes(downloaders: Sequence[DatasetDownloader]) -> tuple[int, list[int]]:
    """The grid axis the datasets' sections are stacked along, and the planes they fall on.

    Known from the metadata alone (each section's slice coordinate), before any image.
    """
    grids = [VolumeAccumulator.for_dataset(downloader) for downloader in downloaders]
    planes = {
        grid.slab_of(downloader.slice_coordinate(record))
        for grid, downloader in zip(grids, downloaders, strict=True)
        for record in downloader.metadata["images"]
    }
    return grids[0].axis, sorted(planes)


def _accumulate(
    downloader: DatasetDownloader, on_section: Callable[[int, float], None] | None
) -> VolumeAccumulator:
    """The expression view of every section on the CCF grid, one section at a time."""
    accumulator: VolumeAccumulator | None = None
    placed = 0
    for section in place_sections(downloader):
        if accumulator is None:
            accumulator = VolumeAccumulator.for_dataset(downloader)
        assert section.img_expr is not None
        accumulator.add_section(section.img_expr, section.df, section.depth)
        placed += 1
        if on_section is not None:
            on_section(section.record["id"], section.coordinate)
    if not placed:
        if downloader.failures:
            raise downloader.failures_error(len(downloader.failures))
        accumulator = VolumeAccumulator.for_dataset(downloader)
    elif downloader.failures:
        logger.warning(
            "dataset %s: %d of %d sections could not be had and are left out",
            downloader.dataset_id,
            len(downloader.failures),
            placed + len(downloader.failures),
        )
    assert accumulator is not None
    return accumulator


def region_expression(
    accumulator: VolumeAccumulator, sample: GridSample, the_map: Any, dataset_id: int
) -> list[RegionExpression]:
    """One row per region of ``the_map`` that has voxels on the grid.

    Parameters
    ----------
    accumulator : VolumeAccumulator
        The placed sections (a voxel is sampled when a section fell on it).
    sample : GridSample
        The annotation on the accumulator's grid: the planes of its slabs (across its
        axis) and the grid's label counts (:func:`~neuratlas.allen.grid_labels.sample_grid`).
    the_map : neuratlas.core.maps.Map
        The labelled map whose regions and labels are reported.
    dataset_id : int
        Written into the rows.

    Returns
    -------
    list of RegionExpression
        Sorted by mean expression, highest first (regions without a sampled voxel last).

    Raises
    ------
    ArgumentError
        The sample lacks a plane that a section fell on, or its counts.
    """
    if sample.counts is None:
        raise ArgumentError("the annotation sample has no label counts", hint=_SAMPLE_HINT)
    present, counts = sample.counts
    n_sampled, total, highest = _per_label(accumulator, sample, present)
    labels = _labels_per_region(the_map)
    rows = []
    for region in the_map.parcellation.descendants:
        wanted = labels.get(region.name)
        if wanted is None:
            continue  # not in this map
        at = np.searchsorted(present, wanted)
        found = at[(at < len(present)) & (present[np.minimum(at, len(present) - 1)] == wanted)]
        voxels = int(counts[found].sum())
        if not voxels:
            continue
        hits = int(n_sampled[found].sum())
        rows.append(
            RegionExpression(
                region=region.name,
                acronym=region.aliases[0] if region.aliases else "",
                dataset_id=int(dataset_id),
                mean=float(total[found].sum() / hits) if hits else math.nan,
                max=float(highest[found].max()) if hits else math.nan,
                coverage=hits / voxels,
                voxels=voxels,
            )
        )
    rows.sort(key=lambda row: -row.mean if _sampled(row) else math.inf)
    return rows


_SAMPLE_HINT = "sample the annotation at the accumulator's slabs (neuratlas.allen.grid_labels)"


def _labels_per_region(the_map: Any) -> dict[str, NDArray[np.int64]]:
    """Region name -> the sorted labels of it and its descendants (as its masks take them).

    Only regions the map draws (themselves or a descendant) are keys: the same
    regions and labels as :meth:`~neuratlas.core.maps.Map.get_indices` gives one
    region at a time, in one walk of the tree.
    """
    own = {
        name: {int(i.label) for i in entries if i.label}
        for name, entries in the_map.indices.items()
    }
    out: dict[str, NDArray[np.int64]] = {}

    def walk(region: Any) -> set[int]:
        labels = set(own.get(region.name, ()))
        mapped = region.name in own
        for child in region.children:
            labels |= walk(child)
            mapped = mapped or child.name in out
        if mapped:
            out[region.name] = np.array(sorted(labels), dtype=np.int64)
        return labels

    for top in the_map.parcellation.children:
        walk(top)
    return out


def _per_label(
    accumulator: VolumeAccumulator, sample: GridSample, present: NDArray[Any]
) -> tuple[NDArray[np.int64], NDArray[np.float64], NDArray[np.float64]]:
    """For each label of ``present``: its sampled voxels, their summed and largest energy.

    A plane's sampled voxels come in runs of one label (regions are blobs), so the
    sums and maxima are taken per run (``reduceat``) and only the runs' labels are
    looked up in ``present``: millions of voxels, thousands of lookups.
    """
    n_sampled = np.zeros(len(present), dtype=np.int64)
    total = np.zeros(len(present))
    highest = np.full(len(present), -np.inf)
    for index, sums, count in accumulator.slabs():
        plane = sample.planes.get(index)
        if plane is None:
            raise ArgumentError(
                f"the annotation sample lacks plane {index}, which a section fell on",
                hint=_SAMPLE_HINT,
            )
        sampled = count > 0
        found = plane[sampled]
        if not found.size:
            continue
        energy = sums[sampled].astype(np.float64) / count[sampled]
        starts = np.flatnonzero(np.concatenate(([True], found[1:] != found[:-1])))
        at = np.searchsorted(present, found[starts])
        known = at < len(present)
        known[known] = present[at[known]] == found[starts][known]  # not beyond the annotation
        lengths = np.diff(np.append(starts, found.size))
        at, starts, lengths = at[known], starts[known], lengths[known]
        n_sampled += np.bincount(at, weights=lengths, minlength=len(present)).astype(np.int64)
        total += np.bincount(at, weights=np.add.reduceat(energy, starts), minlength=len(present))
        np.maximum.at(highest, at, np.maximum.reduceat(energy, starts))
    return n_sampled, total, highest


def _sampled(row: RegionExpression) -> bool:
    """Whether a row's region has at least one sampled voxel."""
    return row.coverage > 0


def gene_expression(
    gene: str,
    *,
    plane: str = "coronal",
    parcellation: str = DEFAULT_PARCELLATION,
    resolution_um: int = 25,
    downsample_img: int | None = None,
    client: AllenClient | None = None,
    on_section: Callable[[int, float], None] | None = None,
    on_datasets: Callable[[list[int]], None] | None = None,
    on_dataset: Callable[[int, DatasetDownloader], None] | None = None,
) -> list[RegionExpression]:
    """The expression of a gene per region, for each of its ISH datasets.

    Parameters
    ----------
    gene : str
        Gene acronym, e.g. ``"Gad1"``.
    plane : {"coronal", "sagittal"}
        Plane of section of the datasets.
    parcellation : str
        The parcellation whose labelled map in "Allen Mouse CCF v3" gives the regions.
    resolution_um : int
        Voxel size of the CCF grid the sections are placed on, in micrometres.
    downsample_img : int, optional
        Images are downloaded shrunk by ``2 ** downsample_img`` (default:
        :func:`default_downsample_img`, pixels of about a third of a voxel).
    client : AllenClient, optional
        The API client.
    on_section : callable, optional
        Called with ``(image_id, slice_coordinate)`` after each section (progress).
    on_datasets : callable, optional
        Called once with the list of dataset ids found, before any download (progress).
    on_dataset : callable, optional
        Called with ``(dataset_id, downloader)`` before each dataset's sections are
        fetched; ``len(downloader)`` is then its number of sections (progress).

    Returns
    -------
    list of RegionExpression
        The rows of all datasets, sorted by mean expression, highest first.

    Raises
    ------
    NotFoundError
        No dataset of the gene in that plane, or an unknown parcellation or map.
    ArgumentError
        An unknown plane or an empty gene acronym.
    neuratlas.errors.TransformError
        A resolution out of range.
    neuratlas.errors.DataUnavailableError
        None of a dataset's sections could be had, or the annotation cannot be fetched.
    """
    _check_plane(plane)
    the_map = active().get_map(parcellation, SPACE, "labelled")
    if downsample_img is None:
        downsample_img = default_downsample_img(resolution_um)
    ids = find_datasets(gene, plane, client=client)
    if on_datasets is not None:
        on_datasets(ids)
    downloaders = [
        DatasetDownloader(
            dataset_id,
            downsample_ref=resolution_um,
            downsample_img=downsample_img,
            expression_only=True,
            to_ccf=True,
            client=client,
        )
        for dataset_id in ids
    ]
    rows: list[RegionExpression] = []
    # the annotation downloads while the metadata come, and is read while the sections
    # download: in one worker thread, in that order
    pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="allen-annotation")
    try:
        # a failure here is not lost: sample_annotation, next in the queue, fetches again
        # and raises it
        pool.submit(fetch_annotation, the_map)
        for downloader in downloaders:
            downloader.fetch_metadata()
        axis, planes = _section_planes(downloaders)
        sample = pool.submit(sample_annotation, the_map, resolution_um, axis, planes)
        for downloader in downloaders:
            if on_dataset is not None:
                on_dataset(downloader.dataset_id, downloader)
            accumulator = _accumulate(downloader, on_section)
            dataset_rows = region_expression(
                accumulator, sample.result(), the_map, downloader.dataset_id
            )
            rows.extend(dataset_rows)
            del accumulator
    finally:
        # on an error, do not wait for the annotation: report at once
        pool.shutdown(wait=False, cancel_futures=True)
    rows.sort(key=lambda row: -row.mean if _sampled(row) else math.inf)
    return rows


def default_downsample_img(resolution_um: int) -> int:
    """The image shrinking (a power of 2) whose pixels are about a third of a grid voxel.

    Pixels of the full-resolution images are about 1 µm: 3 at 25 µm (8 µm pixels),
    5 at 100 µm.
    """
    return max(0, int(math.log2(max(resolution_um, 1) / 3)))


def write_table(rows: Sequence[RegionExpression], path: str | os.PathLike[str]) -> Path:
    """Write the rows as CSV (atomically); missing values are empty cells."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(COLUMNS)
    for row in rows:
        writer.writerow("" if isinstance(v, float) and math.isnan(v) else v for v in astuple(row))
    target = Path(path)
    with atomic_write(target, "w") as handle:
        handle.write(buffer.getvalue())
    return target


def write_picture(
    rows: Sequence[RegionExpression],
    path: str | os.PathLike[str],
    top: int = 20,
    title: str | None = None,
) -> Path:
    """Draw the mean expression of the ``top`` regions as a bar chart (PNG, atomically)."""
    # heavy: matplotlib costs ~0.3 s to import; only pictures need it
    import matplotlib

    matplotlib.use("Agg")  # no display: draw into files only
    # heavy: as above (pyplot must come after the backend is chosen)
    import matplotlib.pyplot as plt

    shown = [row for row in rows if _sampled(row)][:top]
    several = len({row.dataset_id for row in shown}) > 1
    names = [
        (row.acronym or row.region) + (f" ({row.dataset_id})" if several else "") for row in shown
    ]
    figure, axes = plt.subplots(figsize=(7, 1.5 + 0.3 * max(len(shown), 1)))
    try:
        positions = np.arange(len(shown))
        axes.barh(positions, [row.mean for row in shown], color="#c0392b")
        axes.set_yticks(positions, names)
        axes.invert_yaxis()  # highest first, at the top
        axes.set_xlabel("mean expression energy (0-255)")
        ids = ", ".join(sorted({str(row.dataset_id) for row in shown})) or "none sampled"
        axes.set_title(title or f"top regions, datasets {ids}")
        figure.tight_layout()
        buffer = io.BytesIO()
        figure.savefig(buffer, format="png", dpi=100)
    finally:
        plt.close(figure)
    target = Path(path)
    with atomic_write(target, "wb") as handle:
        handle.write(buffer.getvalue())
    return target
