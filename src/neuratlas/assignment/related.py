"""Related regions: how the regions of other parcellations overlap a given region.

For every space where the region has a labelled map, its mask is assigned to the
labelled maps of every other parcellation in that space (the unthresholded one
where a parcellation has thresholded maximum-probability maps too), as one input
structure; the relation is read from the assignment's columns, by name.

An assignment names the regions whose own labels the mask covers, so it misses a
region drawn only through its descendants' labels (the Allen annotation's
"Primary visual area" through its layers). Other versions of the region's
parcellation (the same ``collectionName``) add the region of the same name,
measured on the two masks, whole: the Allen 2015 and 2017 annotations' regions
of one structure id are related however the later release redrew them, with the
qualification their overlap gives. Two regions that do not overlap, or a region
without voxels in a space, are not related there.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from neuratlas.assignment.assign import assign_structures
from neuratlas.assignment.columns import Sums, overlap_columns
from neuratlas.assignment.lookups import LabelledLookup
from neuratlas.assignment.structures import Structure, mask_structure
from neuratlas.core.map_index import MapType
from neuratlas.errors import DataUnavailableError

if TYPE_CHECKING:
    from neuratlas.core.maps import Map
    from neuratlas.core.parcellation import Parcellation
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

    In another version of the region's parcellation, the region of the same name
    is compared as a whole (see the module notes).

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
        if not data.any():
            continue  # no voxel here: nothing to overlap (e.g. a structure a release lacks)
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
            found = [
                _relation(
                    other.parcellation.get_region(str(row["region"])),
                    space,
                    float(row["intersection over union"]),
                    float(row["input containedness"]),
                    float(row["map containedness"]),
                )
                for row in table.to_dict("records")
            ]
            namesake = _other_version_of(region, other)
            if namesake is not None:
                # the whole region, not only the voxels of its own label
                found = [r for r in found if r.region is not namesake]
                found += _whole_region_relation(structure, namesake, other, space)
            out.extend(found)
    out.sort(key=lambda r: -r.intersection_over_union)
    return out


def _relation(
    other: Region, space: Space, iou: float, contained: float, contains: float
) -> RegionRelation:
    return RegionRelation(other, qualify(contained, contains), space, iou, contained, contains)


def _other_version_of(region: Region, other: Map) -> Region | None:
    """The region of the same name in ``other``'s parcellation, if that is another version."""
    own: Parcellation = region.parcellation
    theirs = other.parcellation
    if theirs is own or theirs.collection != own.collection:
        return None
    if region is own:
        return theirs  # the whole parcellation: its root in the other version
    namesake = next((r for r in theirs if r.name == region.name), None)
    if namesake is None or not any(r.name in other.indices for r in namesake):
        return None
    return namesake


def _whole_region_relation(
    structure: Structure, namesake: Region, other: Map, space: Space
) -> list[RegionRelation]:
    """The relation of a mask (``structure``, on ``other``'s grid) to ``namesake``'s mask."""
    # fetch_mask is on the grid of other.fetch(), the lookup's grid that structure is on
    theirs = np.asanyarray(other.fetch_mask(namesake).dataobj) > 0
    inside = int(np.count_nonzero(theirs[tuple(structure.ijk.T)]))
    if not inside:
        return []
    n_i, n_m = float(len(structure.ijk)), float(np.count_nonzero(theirs))
    # binary masks: Σ I = Σ I² = |supp I|, and Σ min(I, M) = Σ I·M = |supp I ∩ supp M|
    ones = np.ones(1)
    sums = Sums(
        s_i=n_i * ones,
        s_i2=n_i * ones,
        n_i=n_i * ones,
        s_m=n_m * ones,
        s_m2=n_m * ones,
        n_m=n_m * ones,
        s_im=inside * ones,
        s_min=inside * ones,
        n_im=inside * ones,
    )
    columns = overlap_columns(sums)
    return [
        _relation(
            namesake,
            space,
            float(columns["intersection over union"][0]),
            float(columns["input containedness"][0]),
            float(columns["map containedness"][0]),
        )
    ]
