"""Lesion analysis: binary lesion masks in, regional damage and network mapping out.

>>> from neuratlas.lesion import SubjectData
>>> path = "sub-01_space-MNI152NLin6Asym_label-lesion_mask.nii.gz"
>>> subject = SubjectData.from_nifti(path)  # doctest: +SKIP

The I/O functions keep the names, parameters and meaning of lacuna's (seed 004).
"""

from __future__ import annotations

from neuratlas.errors import (
    AuthenticationError,
    BidsError,
    DownloadError,
    LesionError,
    ProcessingError,
)
from neuratlas.lesion.bids import (
    BidsWarning,
    bidsify,
    load_bids_dataset,
    validate_bids_derivatives,
)
from neuratlas.lesion.connectomes import (
    ConnectomeSource,
    FetchConfig,
    FetchProgress,
    FetchResult,
    fetch_connectome,
    fetch_dtor985,
    fetch_gsp1000,
    fetch_hcp1065,
    get_connectome_path,
    get_data_dir,
    get_fetch_status,
    gsp1000_to_hdf5,
    list_fetchable_connectomes,
    merge_trk_to_tck,
    trk_to_tck,
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
    "AuthenticationError",
    "BidsError",
    "BidsWarning",
    "ConnectivityMatrix",
    "ConnectomeSource",
    "DownloadError",
    "FetchConfig",
    "FetchProgress",
    "FetchResult",
    "LesionError",
    "ParcelData",
    "ProcessingError",
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
    "fetch_connectome",
    "fetch_dtor985",
    "fetch_gsp1000",
    "fetch_hcp1065",
    "get_connectome_path",
    "get_data_dir",
    "get_fetch_status",
    "gsp1000_to_hdf5",
    "list_fetchable_connectomes",
    "load_bids_dataset",
    "merge_trk_to_tck",
    "provenance_record",
    "save_nifti",
    "trk_to_tck",
    "validate_bids_derivatives",
]
