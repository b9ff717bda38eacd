"""Assignment of locations and images to the regions of maps, and related regions.

- :mod:`~neuratlas.assignment.columns`: the table's columns, each defined once;
- :mod:`~neuratlas.assignment.lookups`: a map as values at voxels and per-region sums;
- :mod:`~neuratlas.assignment.structures`: points, blobs and image components as voxels;
- :mod:`~neuratlas.assignment.assign`: the assignment table of a map;
- :mod:`~neuratlas.assignment.related`: regions of other parcellations that overlap one.
"""

from __future__ import annotations

from neuratlas.assignment.assign import assign_structures, assign_to_map
from neuratlas.assignment.columns import COLUMNS, Sums, overlap_columns
from neuratlas.assignment.lookups import (
    DerivedLookup,
    LabelledLookup,
    MapLookup,
    StatisticalLookup,
    lookup_for,
)
from neuratlas.assignment.related import RegionRelation, qualify, related_regions
from neuratlas.assignment.structures import Structure, gaussian_blob, image_components

__all__ = [
    "COLUMNS",
    "DerivedLookup",
    "LabelledLookup",
    "MapLookup",
    "RegionRelation",
    "StatisticalLookup",
    "Structure",
    "Sums",
    "assign_structures",
    "assign_to_map",
    "gaussian_blob",
    "image_components",
    "lookup_for",
    "overlap_columns",
    "qualify",
    "related_regions",
]
