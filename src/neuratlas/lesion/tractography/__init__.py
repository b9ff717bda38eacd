"""Tractograms on voxel grids, without MRtrix3: reading, voxel traversal, incidence.

The pieces of structural lesion network mapping
(:class:`~neuratlas.lesion.analysis.structural.StructuralNetworkMapping`):

- :mod:`.files`: .tck and .trk files read in chunks of streamlines (nibabel), world mm;
- :mod:`.traversal`: which voxels a streamline visits (MRtrix3's rule, or exact),
  and where ``tckedit`` places a point on an ROI mask's cropped grid;
- :mod:`.incidence`: the streamline x voxel incidence matrix, built once per
  tractogram and grid and cached on disk; lesion hits and track densities from it;
- :mod:`.endpoints`: streamline ends to regions, streamline counts between regions.
"""

from __future__ import annotations

from neuratlas.lesion.tractography.endpoints import (
    DEFAULT_RADIUS_MM,
    assign_endpoints,
    connection_counts,
)
from neuratlas.lesion.tractography.files import (
    FORMATS,
    StreamlineChunk,
    TractogramInfo,
    iter_chunks,
    read_info,
)
from neuratlas.lesion.tractography.incidence import (
    Incidence,
    build_incidence,
    tractogram_incidence,
)
from neuratlas.lesion.tractography.traversal import (
    MAPPINGS,
    hermite_upsample,
    point_voxels,
    roi_crop,
    roi_voxels,
    sampled_voxels,
    traversed_voxels,
    upsample_ratio,
    visit_pairs,
)

__all__ = [
    "DEFAULT_RADIUS_MM",
    "FORMATS",
    "MAPPINGS",
    "Incidence",
    "StreamlineChunk",
    "TractogramInfo",
    "assign_endpoints",
    "build_incidence",
    "connection_counts",
    "hermite_upsample",
    "iter_chunks",
    "point_voxels",
    "read_info",
    "roi_crop",
    "roi_voxels",
    "sampled_voxels",
    "tractogram_incidence",
    "traversed_voxels",
    "upsample_ratio",
    "visit_pairs",
]
