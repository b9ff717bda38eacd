"""Lesion analysis: binary lesion masks in, regional damage and network mapping out.

>>> from neuratlas.lesion import SubjectData
>>> path = "sub-01_space-MNI152NLin6Asym_label-lesion_mask.nii.gz"
>>> subject = SubjectData.from_nifti(path)  # doctest: +SKIP

The I/O functions keep the names, parameters and meaning of lacuna's (seed 004).
"""

from __future__ import annotations

from neuratlas.errors import BidsError, LesionError
from neuratlas.lesion.bids import (
    BidsWarning,
    bidsify,
    load_bids_dataset,
    validate_bids_derivatives,
)
from neuratlas.lesion.export import (
    batch_export_to_csv,
    batch_export_to_tsv,
    export_bids_derivatives,
    export_provenance_to_json,
    export_results_to_csv,
    export_results_to_json,
    export_results_to_tsv,
    save_nifti,
)
from neuratlas.lesion.provenance import provenance_record
from neuratlas.lesion.results import ConnectivityMatrix, ParcelData, ScalarMetric, VoxelMap
from neuratlas.lesion.subject import SubjectData

__all__ = [
    "BidsError",
    "BidsWarning",
    "ConnectivityMatrix",
    "LesionError",
    "ParcelData",
    "ScalarMetric",
    "SubjectData",
    "VoxelMap",
    "batch_export_to_csv",
    "batch_export_to_tsv",
    "bidsify",
    "export_bids_derivatives",
    "export_provenance_to_json",
    "export_results_to_csv",
    "export_results_to_json",
    "export_results_to_tsv",
    "load_bids_dataset",
    "provenance_record",
    "save_nifti",
    "validate_bids_derivatives",
]
