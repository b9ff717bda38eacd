"""Related regions: how the regions of other parcellations overlap a given region.

For every space where the region has a labelled map, its mask is assigned to the
labelled maps of every other parcellation in that space (the unthresholded one
where a parcellation has thresholded maximum-probability maps too), as one input
structure; the relation is read from the assignment's columns, by name.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from neuratlas.assignment.assign import assign_structures
from neuratlas.assignment.lookups import LabelledLookup
from neuratlas.assignment.structures import mask_structure
from neuratlas.core.map_index import MapType
from neuratlas.errors import DataUnavailableError

if TYPE_CHECKING:
    from neuratlas.core.maps import Map
    from neuratlas.core.region import Region
    from neuratlas.core.space import Space

QUALIFIED = 0.9  # fraction of a region that must lie inside the other to count as inside


@dataclass(frozen=True)
class RegionRelation:
    """How a region of another parcellation relates to a given region, in one space.

    ``qualification`` is ``EXACT`` when each contains at least 90 % of the other,
    ``CONTAINED`` when at least 90 % of the given region lies inside ``region``,
    ``CONTAINS`` when at least 90 % of ``region`` lies inside the given region,
    else ``OVERLAPS``. The figures are those of
    :func:`~neuratlas.assignment.columns.overlap_columns` on the two binary masks.
    """

    region: Region
    qualification: str
    space: Space
    intersection_over_union: float
    contained: float  # share of the given region inside `region`
    contains: float  # share of `region` inside the given region


def qualify(contained: float, contains: float) -> str:
    """The qualification for the two containedness figures (see RegionRelation)."""
    if contained >= QUALIFIED and contains >= QUALIFIED:
        return "EXACT"
    if contained >= QUALIFIED:
        return "CONTAINED"
    if contains >= QUALIFIED:
        return "CONTAINS"
    return "OVERLAPS"


def related_regions(region: Region, maps_in: Callable[..., list[Map]]) -> list[RegionRelation]:
    """Regions of other parcellations (and versions) overlapping ``region``.

    Parameters
    ----------
    region : Region
    maps_in : callable
        ``maps_in(space=space)`` lists the maps to compare with in a space (the
        catalogue's ``maps_of``).

    Returns
    -------
    list of RegionRelation
        Sorted by intersection over union, best first. A map that cannot be
        fetched is skipped with a warning.
    """
    own = region.parcellation
    out: list[RegionRelation] = []
    for space in region.supported_spaces:
        if space.is_surface:
            continue  # overlaps are measured on voxel grids; meshes are not compared yet
        if not any(m.maptype is MapType.LABELLED for m in own.maps if m.space is space):
            continue
        mask = region.get_regional_mask(space)
        data = np.asanyarray(mask.dataobj) > 0
        for other in maps_in(space=space):
            if other.parcellation is own or other.maptype is not MapType.LABELLED:
                continue
            # a thresholded maximum-probability map repeats its parcellation's regions
            if other.is_surface or (other.threshold or 0.0) > 0:
                continue
            try:
                lookup = LabelledLookup(other)
            except DataUnavailableError as exc:
                # one unreachable map must not hide the relations found in the others
                warnings.warn(f"skipped {other.name!r}: {exc}", stacklevel=2)
                continue
            structure = mask_structure(data, mask.affine, lookup.affine, lookup.shape)
            table = assign_structures(lookup, [(0, structure)])
            for row in table.to_dict("records"):
                contained = float(row["input containedness"])
                contains = float(row["map containedness"])
                out.append(
                    RegionRelation(
                        other.parcellation.get_region(str(row["region"])),
                        qualify(contained, contains),
                        space,
                        float(row["intersection over union"]),
                        contained,
                        contains,
                    )
                )
    out.sort(key=lambda r: -r.intersection_over_union)
    return out
