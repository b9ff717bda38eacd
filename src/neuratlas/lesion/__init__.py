"""Lesion analysis: binary lesion masks in, regional damage and network mapping out.

>>> from neuratlas.lesion import SubjectData
>>> path = "sub-01_space-MNI152NLin6Asym_label-lesion_mask.nii.gz"
>>> subject = SubjectData.from_nifti(path)  # doctest: +SKIP
"""

from __future__ import annotations

from neuratlas.errors import BidsError, LesionError
from neuratlas.lesion.provenance import provenance_record
from neuratlas.lesion.results import ConnectivityMatrix, ParcelData, ScalarMetric, VoxelMap
from neuratlas.lesion.subject import SubjectData

__all__ = [
    "BidsError",
    "ConnectivityMatrix",
    "LesionError",
    "ParcelData",
    "ScalarMetric",
    "SubjectData",
    "VoxelMap",
    "provenance_record",
]
