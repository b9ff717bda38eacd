"""Labelled maximum-probability maps derived from statistical maps.

Rule: each voxel gets the label of the region with the highest value there,
provided that value is above ``threshold`` (default 0: any positive value);
ties go to the region that comes first in the statistical map's order. Computed
once from the statistical map's sparse index and cached as NIfTI.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import nibabel as nib
import numpy as np

from neuratlas.core.sparse_sources import index_key
from neuratlas.errors import SpecError
from neuratlas.retrieval import cache
from neuratlas.volumes.nifti import save_nifti
from neuratlas.volumes.providers import load_nifti

if TYPE_CHECKING:
    from neuratlas.core.maps import Map


def maximum_probability_map(labelled: Map, source: Map, threshold: float = 0.0) -> nib.Nifti1Image:
    """The labelled map ``labelled`` computed from the statistical map ``source``.

    Labels are those of ``labelled``'s indices; a region of ``source`` with no label
    in ``labelled`` raises :class:`SpecError`. ``threshold`` is in the map's values
    (e.g. probabilities), after its ``value_scale``.
    """
    labels = sorted(labelled.label_lut.items())
    key = cache.cache_key("maxprob", labelled.id, labels, index_key(source), threshold)
    path = cache.cache_path("maps", key, ".nii.gz")
    if path.exists():
        cache.touch(path)
        return load_nifti(path)
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
    # the index stores unscaled values: the threshold goes to their scale
    stored_threshold = threshold / source.value_scale
    winner = np.asarray(index.max_label_map(threshold=stored_threshold))  # k+1 = volume k
    dtype = np.uint8 if lut.max() < 256 else np.uint16
    img = nib.Nifti1Image(lut[winner].astype(dtype), index.affine)
    save_nifti(img, path)
    cache.evict()  # keep the cache under its cap, least recently used out first
    return load_nifti(path)
