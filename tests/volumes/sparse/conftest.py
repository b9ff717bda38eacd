"""Fixtures of the sparse index tests: the Juelich 4D map and its index."""

from __future__ import annotations

import nibabel as nib
import numpy as np
import pytest

from neuratlas.volumes.sparse import SparseIndex
from tests.volumes.sparse.sparse_helpers import atlas_path


@pytest.fixture(scope="session")
def juelich() -> tuple[np.ndarray, np.ndarray]:
    image = nib.load(atlas_path("atlas_juelich.nii.gz"))
    return np.asanyarray(image.dataobj), image.affine


@pytest.fixture(scope="session")
def juelich_index(juelich: tuple[np.ndarray, np.ndarray]) -> SparseIndex:
    data, affine = juelich
    return SparseIndex.from_4d(data, affine)
