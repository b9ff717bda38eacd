"""Write Allen section data into the user's folders.

:func:`export_dataset` writes a whole dataset, every section warped onto its
reference slice::

    out/
      metadata.json                      the manifest (written last)
      sections/0044_<image id>.png       the section on its reference slice
      sections/0044_<image id>_expression.png   with include_expression
      sections/0044_<image id>_field.npz        with fields=True
      volume.nii.gz                      with volume=True
      volume_expression.nii.gz           with volume=True and include_expression

:func:`export_image` copies one section image, as the API serves it (JPEG).
Every file is written atomically.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from neuratlas.allen.client import AllenClient
from neuratlas.allen.sync import DatasetDownloader
from neuratlas.allen.volume import (
    Gaps,
    PlacedSection,
    Sampling,
    VolumeAccumulator,
    check_gaps,
    check_sampling,
    place_sections,
    save_volume,
)
from neuratlas.retrieval.cache import atomic_write, check_writable

__all__ = ["MANIFEST", "VOLUME_FILES", "export_dataset", "export_image"]

#: The manifest of an exported dataset, in its folder.
MANIFEST = "metadata.json"
#: The sub-folder of the section files.
SECTIONS = "sections"
#: File name of each assembled volume, by picture kind.
VOLUME_FILES = {"image": "volume.nii.gz", "expression": "volume_expression.nii.gz"}


def export_dataset(
    downloader: DatasetDownloader,
    out: str | os.PathLike[str],
    *,
    volume: bool = False,
    gaps: Gaps = "empty",
    max_gap_um: float | None = None,
    sampling: Sampling = "parallel",
    fields: bool = False,
    on_section: Callable[[int, float], None] | None = None,
) -> dict[str, Any]:
    """Download a dataset into a folder, every section warped onto its reference slice.

    The expression view is written too when the downloader includes it
    (``include_expression=True``). Sections, volumes and the manifest come
    from one pass over the images, the same one :func:`~neuratlas.allen.volume.assemble_volume`
    makes (:func:`~neuratlas.allen.volume.place_sections`).

    Parameters
    ----------
    downloader : DatasetDownloader
        The dataset (``downsample_ref`` sets the reference grid step,
        ``downsample_img`` the image size). Its metadata are fetched if needed.
    out : path-like
        The folder (created if needed); the layout is in the module documentation.
    volume : bool
        Also assemble the sections into NIfTI volumes on the CCF grid.
    gaps : {"empty", "nearest", "linear"}
        What the volumes hold between sections.
    max_gap_um : float, optional
        Fill only gaps up to this size in micrometres (default: any gap).
    sampling : {"parallel", "oblique"}
        Place each section at its slice coordinate, or along its true plane;
        the section files and fields follow the same choice.
    fields : bool
        Also save each section's displacement field (``.npz``).
    on_section : callable, optional
        Called with ``(image_id, slice_coordinate)`` after each section is
        written (progress).

    Returns
    -------
    dict
        The manifest written to ``out/metadata.json``: the dataset (id, plane,
        axis, section thickness, affines), the grid and image steps, the
        sampling, ``"sections"`` (one entry per section written, with paths
        relative to ``out``), ``"volumes"`` (kind -> file name) and
        ``"failures"`` (image id -> why it was skipped).

    Raises
    ------
    neuratlas.errors.TransformError
        On unknown ``gaps`` or ``sampling`` values (before anything is downloaded).
    neuratlas.errors.ArgumentError
        If ``out`` is an existing file, lies below one, or cannot be written
        (checked before anything is downloaded).
    neuratlas.errors.DatasetNotFoundError
        If the API knows no dataset with this id.
    neuratlas.errors.DataUnavailableError
        If no image of the dataset could be downloaded and read: the message
        counts them and gives the first reason; nothing is written (no empty
        volume, no manifest).

    Notes
    -----
    An image that cannot be downloaded is skipped and listed in
    ``"failures"``; check it before trusting the folder to be complete
    (``neuratlas allen download dataset`` exits with status 1 then, after
    writing what worked).
    """
    check_sampling(sampling)
    check_gaps(gaps)
    out = check_writable(out, folder=True, create_parents=True)
    sections = place_sections(downloader, sampling)
    folder = out / SECTIONS
    accumulators: dict[str, VolumeAccumulator] = {}
    if volume:
        accumulators["image"] = VolumeAccumulator.for_dataset(downloader)
        if downloader.include_expression:
            accumulators["expression"] = VolumeAccumulator.for_dataset(downloader)
    written: list[dict[str, Any]] = []
    for section in sections:
        # made with the first section, so that a dataset of which nothing arrives leaves nothing
        folder.mkdir(parents=True, exist_ok=True)
        written.append(_write_section(section, folder, accumulators, fields=fields))
        if on_section is not None:
            on_section(section.record["id"], section.coordinate)
    if not written and downloader.failures:
        raise downloader.failures_error(len(downloader.failures))
    volumes = {}
    for kind, accumulator in accumulators.items():
        save_volume(accumulator.to_nifti(gaps, max_gap_um), out / VOLUME_FILES[kind])
        volumes[kind] = VOLUME_FILES[kind]
    meta = downloader.metadata["dataset"]
    manifest = {
        "dataset_id": downloader.dataset_id,
        "plane": meta["plane"],
        "axis": downloader.axis,
        "section_thickness_um": meta["section_thickness"],
        "downsample_ref": downloader.downsample_ref,
        "downsample_img": downloader.downsample_img,
        "sampling": sampling,
        "affine_tvr": np.asarray(meta["affine_tvr"]).tolist(),
        "affine_trv": np.asarray(meta["affine_trv"]).tolist(),
        "sections": written,
        "volumes": volumes,
        "failures": {str(key): str(exc) for key, exc in downloader.failures.items()},
    }
    with atomic_write(out / MANIFEST, "w") as handle:
        json.dump(manifest, handle, indent=2)
    return manifest


def _write_section(
    section: PlacedSection,
    folder: Path,
    accumulators: dict[str, VolumeAccumulator],
    *,
    fields: bool,
) -> dict[str, Any]:
    """Write one section's files, add it to the volumes, and return its manifest entry."""
    # heavy: Pillow adds ~40 ms to `import neuratlas.allen`; only exports write PNGs
    from PIL import Image

    record = section.record
    stem = f"{record['section_number']:04d}_{record['id']}"
    entry: dict[str, Any] = {
        "image_id": record["id"],
        "section_number": record["section_number"],
        "slice_coordinate_um": section.coordinate,
    }
    for kind, picture in (("image", section.img), ("expression", section.img_expr)):
        if picture is None:
            continue
        name = f"{stem}.png" if kind == "image" else f"{stem}_{kind}.png"
        with atomic_write(folder / name, "wb") as handle:
            Image.fromarray(section.df.warp(picture)).save(handle, format="PNG")
        entry[kind] = f"{SECTIONS}/{name}"
        if kind in accumulators:
            accumulators[kind].add_section(picture, section.df, section.depth)
    if fields:
        section.df.save(folder / f"{stem}_field.npz")
        entry["field"] = f"{SECTIONS}/{stem}_field.npz"
    return entry


def export_image(
    image_id: int,
    out: str | os.PathLike[str],
    *,
    downsample: int = 0,
    expression: bool = False,
    client: AllenClient | None = None,
) -> Path:
    """Copy one section image, as the API serves it (JPEG), to a file or folder.

    Parameters
    ----------
    image_id : int
        The section image id.
    out : path-like
        The file to write, or an existing folder, which receives
        ``<image_id>.jpg`` (``<image_id>_expression.jpg`` for the expression view).
    downsample : int
        Both sides are shrunk by ``2 ** downsample`` on the server.
    expression : bool
        The expression view instead of the plain image.
    client : AllenClient, optional
        The API client; the default one otherwise.

    Returns
    -------
    pathlib.Path
        The file written.

    Raises
    ------
    neuratlas.errors.DatasetNotFoundError
        If the API knows no section image with this id (nothing is written).
    neuratlas.errors.ImageError
        If the server's answer is not a readable image, or ``downsample`` is invalid.
    neuratlas.errors.ArgumentError
        If ``out`` cannot be written (checked before anything is downloaded).
    """
    out = Path(out).expanduser()
    suffix = "_expression" if expression else ""
    target = out / f"{image_id}{suffix}.jpg" if out.is_dir() else out
    check_writable(target, create_parents=True)
    client = client or AllenClient.default()
    client.section_image(image_id)  # a clear error for an unknown id, before any download
    cached = client.image_path(image_id, downsample=downsample, expression=expression)
    with atomic_write(target, "wb") as handle, open(cached, "rb") as source:
        shutil.copyfileobj(source, handle)
    return target
