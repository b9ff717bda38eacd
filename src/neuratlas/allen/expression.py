"""Gene -> expression per region of the Allen mouse annotation.

For a gene, the ISH datasets of the adult mouse atlas are found
(:func:`~neuratlas.allen.queries.get_experiment_list_from_gene`); the expression
view of each dataset's sections is synced and placed on the CCF grid one section
at a time (:func:`~neuratlas.allen.volume.place_sections`: only the running sums
of the volume stay in memory, never all the images); then, for every region of
the annotation (its own label and those of its descendants, as the map's masks
are), the expression energy over the voxels that a section sampled is summarised:
its mean and maximum, and the coverage (the fraction of the region's voxels that
lie on a sampled section).

The expression energy of a voxel is the mean grey level (0-255, luma of the
expression view's false colours) of the sections that fell on it. The annotation
is read on the expression grid (nearest neighbour, so voxel counts are in voxels
of that grid): at 25 µm the two grids are the same.
"""

from __future__ import annotations

import csv
import io
import logging
import math
import os
from collections.abc import Callable, Sequence
from dataclasses import astuple, dataclass, fields
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from neuratlas.allen.client import AllenClient
from neuratlas.allen.queries import get_experiment_list_from_gene
from neuratlas.allen.sync import DatasetDownloader
from neuratlas.allen.volume import VolumeAccumulator, ccf_affine, place_sections
from neuratlas.catalogue import active
from neuratlas.errors import ArgumentError, NotFoundError, TransformError
from neuratlas.retrieval.cache import atomic_write

logger = logging.getLogger(__name__)

__all__ = [
    "DEFAULT_PARCELLATION",
    "PLANES",
    "SPACE",
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

    Raises
    ------
    ArgumentError
        An empty gene acronym or an unknown plane.
    NotFoundError
        The atlas has no dataset of the gene in that plane.
    """
    _check_plane(plane)
    ids = get_experiment_list_from_gene(gene, plane, client=client)
    if not ids:
        other = PLANES[1 - PLANES.index(plane)]
        raise NotFoundError(
            f"no {plane} ISH dataset of gene {gene!r} in the Allen mouse brain atlas",
            hint=f"check the gene acronym (e.g. 'Gad1'), or try --plane {other}",
        )
    return ids


def labels_on_grid(
    annotation: Any, shape: Sequence[int], affine: NDArray[np.float64]
) -> NDArray[Any]:
    """The annotation's labels at the voxel centres of another grid (nearest neighbour).

    Parameters
    ----------
    annotation : nibabel.Nifti1Image
        The label image.
    shape : sequence of int
        The grid's shape.
    affine : numpy.ndarray
        The grid's affine (same world axes as the annotation's).

    Returns
    -------
    numpy.ndarray
        Labels of shape ``shape``, 0 outside the annotation (the annotation's own
        array when the grids are the same).

    Raises
    ------
    TransformError
        The grids' axes are not parallel (a voxel of one is not a box of the other).
    """
    data = np.asanyarray(annotation.dataobj)
    to_annotation = np.linalg.inv(annotation.affine) @ affine
    linear = to_annotation[:3, :3]
    if not np.allclose(linear, np.diag(np.diag(linear))) or np.any(np.diag(linear) <= 0):
        raise TransformError(
            "the annotation's voxel axes are not those of the CCF grid",
            hint="use an annotation in CCF orientation (axes P, I, R)",
        )
    if tuple(data.shape) == tuple(shape) and np.allclose(to_annotation, np.eye(4)):
        return data
    axes = []
    for a in range(3):
        index = np.rint(linear[a, a] * np.arange(shape[a]) + to_annotation[a, 3]).astype(np.int64)
        axes.append(index)
    inside = [(index >= 0) & (index < data.shape[a]) for a, index in enumerate(axes)]
    out = np.zeros(tuple(shape), dtype=data.dtype)
    where = np.ix_(*(np.flatnonzero(k) for k in inside))
    out[where] = data[np.ix_(*(index[k] for index, k in zip(axes, inside, strict=True)))]
    return out


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
    accumulator: VolumeAccumulator,
    labels: NDArray[Any],
    the_map: Any,
    dataset_id: int,
    label_counts: tuple[NDArray[Any], NDArray[np.int64]] | None = None,
) -> list[RegionExpression]:
    """One row per region of ``the_map`` that has voxels in ``labels``.

    Parameters
    ----------
    accumulator : VolumeAccumulator
        The placed sections (a voxel is sampled when a section fell on it).
    labels : numpy.ndarray
        The annotation on the accumulator's grid (see :func:`labels_on_grid`).
    the_map : neuratlas.core.maps.Map
        The labelled map whose regions and labels are reported.
    dataset_id : int
        Written into the rows.
    label_counts : (numpy.ndarray, numpy.ndarray), optional
        ``numpy.unique(labels, return_counts=True)``, when already known (it takes
        seconds on the 25 µm grid; the same for every dataset of a gene).

    Returns
    -------
    list of RegionExpression
        Sorted by mean expression, highest first (regions without a sampled voxel last).
    """
    present, counts = label_counts or np.unique(labels, return_counts=True)
    sampled = accumulator.count > 0
    sampled_labels = labels[sampled]
    energy = accumulator.total[sampled] / accumulator.count[sampled]
    position = np.searchsorted(present, sampled_labels)
    n_sampled = np.bincount(position, minlength=len(present))
    total = np.bincount(position, weights=energy, minlength=len(present))
    highest = np.full(len(present), -np.inf)
    np.maximum.at(highest, position, energy.astype(np.float64))
    rows = []
    for region in the_map.parcellation.descendants:
        try:
            indices = the_map.get_indices(region)
        except NotFoundError:
            continue  # not in this map
        wanted = np.array(sorted({int(i.label) for i in indices if i.label}), dtype=present.dtype)
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
        Images are downloaded shrunk by ``2 ** downsample_img`` (default: pixels
        of about a third of a voxel).
    client : AllenClient, optional
        The API client.
    on_section : callable, optional
        Called with ``(image_id, slice_coordinate)`` after each section (progress).

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
    TransformError
        A resolution out of range.
    """
    _check_plane(plane)
    the_map = active().get_map(parcellation, SPACE, "labelled")
    if downsample_img is None:
        downsample_img = max(0, int(math.log2(max(resolution_um, 1) / 3)))
    ids = find_datasets(gene, plane, client=client)
    annotation = the_map.fetch()
    rows: list[RegionExpression] = []
    labels = label_counts = None
    for dataset_id in ids:
        downloader = DatasetDownloader(
            dataset_id,
            downsample_ref=resolution_um,
            include_expression=True,
            downsample_img=downsample_img,
            client=client,
        )
        accumulator = _accumulate(downloader, on_section)
        if labels is None:
            labels = labels_on_grid(annotation, accumulator.shape, ccf_affine(resolution_um))
            label_counts = np.unique(labels, return_counts=True)
        rows.extend(region_expression(accumulator, labels, the_map, dataset_id, label_counts))
        del accumulator
    rows.sort(key=lambda row: -row.mean if _sampled(row) else math.inf)
    return rows


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
