"""Labelled maximum-probability maps derived from statistical maps.

Rule: each voxel gets the label of the region with the highest value there,
provided that value is above ``threshold`` (default 0: any positive value);
ties go to the region that comes first in the statistical map's order.
``threshold`` is in the map's values (probabilities for the embedded maps): the
embedded Juelich and Harvard-Oxford maps come unthresholded and thresholded at
0.25 and 0.5, as FSL ships its ``maxprob-thr25`` and ``maxprob-thr50`` files
(FSL also labels a voxel whose top probability is exactly the threshold; here it
must be above it). ``get_map(parcellation, space, "labelled")`` is the
unthresholded map; ``get_map(..., threshold=0.25)`` a thresholded one.

Such a label says which region is the most probable, not how probable it is:
:func:`maximum_probability_values` keeps the probability of the region that
labels each voxel. Both images are computed once from the statistical map's
sparse index and cached as NIfTI; a cached file that cannot be read is computed
again, as a damaged sparse index is rebuilt. The last few images used stay in
memory, so that repeated assignments do not decompress them again.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import nibabel as nib
import numpy as np

from neuratlas.core.sparse_sources import index_key
from neuratlas.errors import ImageError, SpecError
from neuratlas.retrieval import cache
from neuratlas.volumes.nifti import save_nifti
from neuratlas.volumes.providers import load_nifti

if TYPE_CHECKING:
    from neuratlas.core.maps import Map

CACHE_AREA = "maps"
RECENT = 8  # derived images kept in memory, by cache file
_recent: OrderedDict[str, nib.Nifti1Image] = OrderedDict()


def maximum_probability_map(labelled: Map, source: Map, threshold: float = 0.0) -> nib.Nifti1Image:
    """The labelled map ``labelled`` computed from the statistical map ``source``.

    Labels are those of ``labelled``'s indices; a region of ``source`` with no label
    in ``labelled`` raises :class:`SpecError`. ``threshold`` is in the map's values
    (e.g. probabilities), after its ``value_scale``.
    """
    labels = sorted(labelled.label_lut.items())
    key = cache.cache_key("maxprob", labelled.id, labels, index_key(source), threshold)

    def compute() -> nib.Nifti1Image:
        lut = np.zeros(len(source.sparse_entries) + 1, dtype=np.int32)
        by_name = {name: label for label, name in labels}
        for k, (name, _) in enumerate(source.sparse_entries):
            if name not in by_name:
                raise SpecError(
                    f"region {name!r} of {source.name!r} has no label in {labelled.name!r}",
                    file=labelled.spec_file,
                    path="$.indices",
                )
            lut[k + 1] = by_name[name]
        index = source.sparse_index
        winner = np.asarray(index.max_label_map(threshold=_stored(source, threshold)))
        dtype = np.uint8 if lut.max() < 256 else np.uint16
        return nib.Nifti1Image(lut[winner].astype(dtype), index.affine)  # k+1 = volume k

    return _cached(key, compute)


def maximum_probability_values(source: Map, threshold: float = 0.0) -> nib.Nifti1Image:
    """The value of the most probable region at each voxel, where it is above ``threshold``.

    This is the probability of the region that :func:`maximum_probability_map`
    labels the voxel with (0 where it labels none), as ``source`` gives it.

    Parameters
    ----------
    source : Map
        A statistical map.
    threshold : float
        In the map's values, as for :func:`maximum_probability_map`.

    Returns
    -------
    nibabel.Nifti1Image
        float32, on the grid of ``source``'s sparse index.
    """
    key = cache.cache_key("maxprob-values", index_key(source), threshold)

    def compute() -> nib.Nifti1Image:
        index = source.sparse_index
        top = np.zeros(index.num_mapped_voxels + 1, dtype=np.float32)  # last: background
        if index.num_entries:
            peak = np.maximum.reduceat(index.values, index.indptr[:-1])
            top[:-1] = np.where(peak > _stored(source, threshold), source.scaled(peak), 0)
        return nib.Nifti1Image(np.take(top, index.voxels), index.affine)

    return _cached(key, compute)


def _stored(source: Map, threshold: float) -> float:
    # the index stores unscaled values: the threshold goes to their scale
    return threshold / source.value_scale


def _cached(key: str, compute: Callable[[], nib.Nifti1Image]) -> nib.Nifti1Image:
    """The image cached under ``key``: from memory, else from its file, else computed."""
    path = cache.cache_path(CACHE_AREA, key, ".nii.gz")
    img = _recent.pop(str(path), None)
    if img is None:
        img = _load_or_compute(path, compute)
    # the key hashes every input, so the image in memory stays right even if the file
    # changes: each use costs no decompression (the file's mtime, which providers key
    # their memory on, moves with every cache.touch)
    _recent[str(path)] = img
    while len(_recent) > RECENT:
        _recent.popitem(last=False)
    return img


def _load_or_compute(path: Path, compute: Callable[[], nib.Nifti1Image]) -> nib.Nifti1Image:
    if path.exists():
        try:
            img = load_nifti(path)
        except ImageError:
            pass  # truncated or corrupt: the cache holds nothing that cannot be made again
        else:
            cache.touch(path)
            return img
    save_nifti(compute(), path)
    cache.evict()  # keep the cache under its cap, least recently used out first
    return load_nifti(path)
