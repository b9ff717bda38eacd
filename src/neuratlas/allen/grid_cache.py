"""The annotation read on an expression grid, with its voxel counts cached.

Every gene's expression table reads the same annotation on the same grid: the
labels of the planes its sections fell on, and the voxel count of every label.
Both come from one pass over the annotation file, a few slabs at a time
(:func:`~neuratlas.allen.grid_labels.sample_grid`), so the decoded annotation
(308 MB at 25 µm) is never whole in memory and nothing of its size is written.
The planes differ from dataset to dataset and are read again each time (the
pass decodes at ~2 GB/s); the counts cost more than the pass and are the same
for every dataset: they are kept in the Allen cache (a few kB), keyed by the
annotation file's content and the grid (DESIGN: indexes built once, cached on
disk), and a run that finds them only gathers its planes.
"""

from __future__ import annotations

import contextlib
import hashlib
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from neuratlas.allen.client import CACHE_AREA
from neuratlas.allen.grid_labels import GridSample, LabelCounts, sample_grid
from neuratlas.allen.volume import ccf_affine, volume_shape
from neuratlas.errors import Error
from neuratlas.retrieval.cache import atomic_write, cache_dir, cache_key
from neuratlas.volumes.slabs import ArraySlabs, SlabSource

__all__ = ["fetch_annotation", "sample_annotation"]

#: Bumped when the layout of the cached files changes (1 also kept the grid's labels).
_VERSION = 2


def sample_annotation(
    the_map: Any, resolution_um: int, axis: int, indices: Sequence[int]
) -> GridSample:
    """The planes ``indices`` across ``axis`` of ``the_map`` on a CCF grid, and its counts.

    Parameters
    ----------
    the_map : neuratlas.core.maps.Map
        A labelled map of the Allen CCF (one annotation volume).
    resolution_um : int
        The grid's voxel size in micrometres.
    axis : int
        0, 1 or 2 (p, i, r).
    indices : sequence of int
        The grid planes wanted.

    Returns
    -------
    GridSample
        With the counts (:meth:`~neuratlas.allen.grid_labels.GridLabels.counts`).

    Raises
    ------
    neuratlas.errors.DataUnavailableError
        The annotation cannot be fetched.
    neuratlas.errors.ImageError
        Its file cannot be read.
    neuratlas.errors.TransformError
        Its axes are not those of the CCF grid.
    """
    shape = volume_shape(resolution_um)
    source, path = _annotation(the_map)
    counts_file = None
    counts = None
    if path is not None:
        key = cache_key("grid counts", _VERSION, _file_digest(path), shape)
        counts_file = cache_dir(CACHE_AREA) / f"{key}.counts.npz"
        counts = _load_counts(counts_file)
    sample = sample_grid(
        source, shape, ccf_affine(resolution_um), axis, indices, count=counts is None
    )
    if counts is None:
        assert sample.counts is not None
        if counts_file is not None:
            _store_counts(sample.counts, counts_file)
        return sample
    return sample._replace(counts=counts)


def fetch_annotation(the_map: Any) -> None:
    """Fetch the map's annotation file into the cache now (e.g. while other work runs)."""
    volume = _annotation_volume(the_map)
    if volume is not None:
        volume.path(volume.volume_format)


def _annotation(the_map: Any) -> tuple[SlabSource, Path | None]:
    """The map's annotation as slabs, and its file (``None``: no file, nothing cached)."""
    volume = _annotation_volume(the_map)
    if volume is None:
        return ArraySlabs(the_map.fetch()), None
    return volume.slabs(), volume.path(volume.volume_format)


def _annotation_volume(the_map: Any) -> Any:
    """The volume whose file holds the map's labels; ``None`` for a map computed from others."""
    volumes = getattr(the_map, "volumes", None)
    if volumes and getattr(the_map, "derived_from", None) is None:
        return volumes[0]
    return None


def _load_counts(path: Path) -> LabelCounts | None:
    try:
        with np.load(path) as stored:
            return stored["labels"], stored["counts"]
    except (OSError, ValueError, KeyError, EOFError):
        return None  # not there yet, or damaged: counted again


def _store_counts(counts: LabelCounts, path: Path) -> None:
    present, voxels = counts
    # an entry that cannot be written is only a missed shortcut: the next run counts
    # again (and atomic_write leaves no half-written file)
    with contextlib.suppress(Error, OSError), atomic_write(path, "wb") as handle:
        np.savez(handle, labels=present, counts=voxels)


def _file_digest(path: Path) -> str:
    """SHA-256 of a file's bytes (its modification time changes whenever the cache uses it)."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
