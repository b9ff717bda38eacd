"""Contact sheets: a dataset's sections side by side in one PNG."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from neuratlas.allen.sync import DatasetDownloader
from neuratlas.errors import ArgumentError, ArgumentTypeError, DataUnavailableError
from neuratlas.retrieval.cache import atomic_write, check_writable

__all__ = ["contact_sheet", "pick_evenly"]


def pick_evenly(count: int, most: int) -> list[int]:
    """Indices of at most ``most`` items spread evenly over ``count``, first and last included.

    Examples
    --------
    >>> pick_evenly(10, 4)
    [0, 3, 6, 9]
    """
    if count < 1 or most < 1:
        return []
    spread = np.linspace(0, count - 1, min(most, count)).round()
    return [int(k) for k in np.unique(spread)]


def contact_sheet(
    downloader: DatasetDownloader,
    output: str | os.PathLike[str],
    *,
    max_images: int = 12,
    registered: bool = False,
    expression: bool = False,
    on_section: Callable[[int, float], None] | None = None,
) -> Path:
    """Draw some of a dataset's sections side by side and write the sheet as a PNG.

    Parameters
    ----------
    downloader : DatasetDownloader
        The dataset (``downsample_img`` sets the size of the images;
        ``downsample_ref`` the reference grid of ``registered`` sections).
        Its metadata are fetched if needed.
    output : path-like
        The PNG file, written atomically.
    max_images : int
        Most sections shown, spread evenly from the first to the last.
    registered : bool
        Show each section warped onto its reference slice instead of as imaged.
    expression : bool
        Show the expression view (the downloader must include it).
    on_section : callable, optional
        Called with ``(image_id, slice_coordinate)`` after each section is
        downloaded (progress); at most ``max_images`` calls.

    Returns
    -------
    pathlib.Path
        ``output``.

    Raises
    ------
    neuratlas.errors.ArgumentTypeError
        If ``max_images`` is not an integer.
    neuratlas.errors.ArgumentError
        If ``max_images`` is below 1, ``expression=True`` with a downloader
        that does not include expression images, or ``output`` cannot be written
        (all checked before anything is downloaded).
    neuratlas.errors.DataUnavailableError
        If the dataset has no aligned section images, or none of the chosen
        ones could be downloaded.
    """
    if isinstance(max_images, bool) or not isinstance(max_images, int | np.integer):
        raise ArgumentTypeError(
            f"max_images must be an integer, got {type(max_images).__name__} {max_images!r}"
        )
    if max_images < 1:
        raise ArgumentError(
            f"max_images must be at least 1, got {max_images}", hint="show one section or more"
        )
    if expression and not downloader.include_expression:
        raise ArgumentError(
            "expression=True needs a DatasetDownloader with include_expression=True",
            hint="create the downloader with include_expression=True",
        )
    output = check_writable(output, create_parents=True)
    downloader.fetch_metadata()
    records = downloader.metadata["images"]
    if not records:
        # the dataset exists, but nothing in it can be placed (as for a missing 3D alignment)
        raise DataUnavailableError(
            f"dataset {downloader.dataset_id} has no aligned section images",
            hint="pick another dataset; unaligned experiments cannot be previewed",
        )
    chosen = [records[k]["id"] for k in pick_evenly(len(records), max_images)]
    panels: list[tuple[int, float, Any]] = []
    for image_id, coordinate, img, img_expr, df in downloader.run(chosen):
        picture = img_expr if expression else img
        panels.append((image_id, coordinate, df.warp(picture) if registered else picture))
        if on_section is not None:
            on_section(image_id, coordinate)
    if not panels:
        raise downloader.failures_error(len(chosen))
    title = f"Allen section dataset {downloader.dataset_id}"
    return _draw(panels, downloader.axis, title, output)


def _draw(panels: list[tuple[int, float, Any]], axis: str, title: str, output: Path) -> Path:
    # heavy: matplotlib costs ~0.2 s to import; only previews need it. A bare Figure (no
    # pyplot) renders with Agg without switching the caller's matplotlib backend.
    from matplotlib.figure import Figure

    columns = int(np.ceil(np.sqrt(len(panels))))
    rows = int(np.ceil(len(panels) / columns))
    figure = Figure(figsize=(3 * columns, 2.4 * rows))
    axes = figure.subplots(rows, columns, squeeze=False)
    for ax in axes.ravel():
        ax.axis("off")
    for ax, (image_id, coordinate, picture) in zip(axes.ravel(), panels, strict=False):
        ax.imshow(picture)
        ax.set_title(f"{image_id}\n{axis} {coordinate:.0f} µm", fontsize=8)
    figure.suptitle(title)
    figure.tight_layout()
    with atomic_write(output, "wb") as handle:
        figure.savefig(handle, format="png", dpi=100)
    return output
