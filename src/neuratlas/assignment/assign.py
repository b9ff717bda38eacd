"""Assign points, point clouds and images to the regions of a map: one table.

The columns and their definitions are in :mod:`neuratlas.assignment.columns`; rows
come ordered by input structure, then by region in the map's order.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import nibabel as nib
import numpy as np

from neuratlas.assignment.columns import COLUMNS, Sums, overlap_columns
from neuratlas.assignment.lookups import MapLookup, lookup_for
from neuratlas.assignment.structures import Structure, gaussian_blob, image_components
from neuratlas.errors import ArgumentTypeError, SpaceMismatchError
from neuratlas.locations.point import Point
from neuratlas.locations.pointcloud import PointCloud
from neuratlas.volumes.grid import nearest_voxel

if TYPE_CHECKING:
    import pandas as pd

    from neuratlas.core.maps import Map
    from neuratlas.core.space import Space


def assign_to_map(the_map: Map, item: Any, lower_threshold: float = 0.0) -> pd.DataFrame:
    """Assign a Point, PointCloud or image to the regions of ``the_map``.

    Parameters
    ----------
    the_map : Map
        A volumetric labelled or statistical map.
    item : Point, PointCloud or nibabel.Nifti1Image
        Points must be in the map's space (or carry no space). Images are assumed
        to be in the map's space and are resampled onto its grid when needed.
    lower_threshold : float
        Map values at or below this count as 0.

    Returns
    -------
    pandas.DataFrame
        One row per (input structure, region) pair, with the columns in
        :data:`~neuratlas.assignment.columns.COLUMNS`; ``attrs["map"]`` and
        ``attrs["map id"]`` name the map that answered (e.g. which thresholded
        maximum-probability map).

    Raises
    ------
    SpaceMismatchError
        The points are in another space.
    ImageError
        The image is empty or not 3D.
    ArgumentTypeError
        ``item`` is none of the above.
    ArgumentError
        ``the_map`` is a surface map.
    """
    lookup = lookup_for(the_map, lower_threshold)
    if isinstance(item, Point):
        item = PointCloud(item.coordinate[None], item.space, [item.sigma_mm])
    if isinstance(item, PointCloud):
        _check_space(item.space, the_map)
        exact = item.sigma_mm == 0
        frames = []
        if exact.any():
            frames.append(_assign_exact_points(lookup, item.coordinates, np.flatnonzero(exact)))
        blobs = [
            (int(i), gaussian_blob(item.coordinates[i], float(item.sigma_mm[i]), lookup.affine))
            for i in np.flatnonzero(~exact)
        ]
        frames.append(assign_structures(lookup, blobs))
        table = _concat(frames)
    elif isinstance(item, nib.spatialimages.SpatialImage):
        components = image_components(item, lookup.affine, lookup.shape)
        table = assign_structures(lookup, list(enumerate(components)))
    else:
        raise ArgumentTypeError(
            f"cannot assign a {type(item).__name__}",
            hint="pass a Point, a PointCloud or a NIfTI image",
        )
    table.attrs.update({"map": the_map.name, "map id": the_map.id})
    return table


def _check_space(space: Space | None, the_map: Map) -> None:
    if space is not None and space.id != the_map.space.id:
        raise SpaceMismatchError(
            f"the points are in {space.name!r} but the map is in {the_map.space.name!r}",
            hint="use a map in the points' space (transforms between spaces come later)",
        )


def _assign_exact_points(lookup: MapLookup, coords: np.ndarray, which: np.ndarray) -> pd.DataFrame:
    ijk = nearest_voxel(lookup.affine, coords[which])
    row, entry, value = lookup.values_at(ijk)
    ones = np.ones(len(row))
    sums = Sums(
        s_i=ones,
        s_i2=ones,
        n_i=ones,
        s_m=lookup.s_m[entry],
        s_m2=lookup.s_m2[entry],
        n_m=lookup.n_m[entry],
        s_im=value,
        s_min=np.minimum(value, 1.0),
        n_im=ones,
    )
    structure = which[row]
    # one centroid object per point, shared by its rows (cheaper than one per row)
    per_point = np.empty(len(which), dtype=object)
    per_point[:] = list(coords[which])
    centroid = per_point[row]
    map_value = lookup.map_values(ijk, row, entry, value)
    return _frame(lookup, structure, centroid, np.zeros(len(row)), entry, map_value, sums)


def assign_structures(lookup: MapLookup, structures: list[tuple[int, Structure]]) -> pd.DataFrame:
    """The assignment rows of numbered structures (one row per structure and region)."""
    frames = []
    for number, s in structures:
        voxel, entry, value = lookup.values_at(s.ijk)
        if not len(entry):
            continue
        size = len(lookup.entries)
        weights = s.values[voxel]
        s_im = np.bincount(entry, weights=weights * value, minlength=size)
        s_min = np.bincount(entry, weights=np.minimum(weights, value), minlength=size)
        n_im = np.bincount(entry, minlength=size).astype(float)
        hit = np.flatnonzero(n_im)
        k = len(hit)
        sums = Sums(
            s_i=np.full(k, s.values.sum()),
            s_i2=np.full(k, (s.values**2).sum()),
            n_i=np.full(k, float(len(s.values))),
            s_m=lookup.s_m[hit],
            s_m2=lookup.s_m2[hit],
            n_m=lookup.n_m[hit],
            s_im=s_im[hit],
            s_min=s_min[hit],
            n_im=n_im[hit],
        )
        centre = nearest_voxel(lookup.affine, s.centroid)[None]
        _, c_entry, c_value = lookup.values_at(centre)
        at_centre = dict(zip(c_entry.tolist(), c_value.tolist(), strict=True))
        centre_value = np.array([at_centre.get(e, 0.0) for e in hit.tolist()])
        map_value = lookup.map_values(centre, np.zeros(k, dtype=np.intp), hit, centre_value)
        centroid = np.empty(k, dtype=object)
        centroid[:] = [s.centroid] * k
        frames.append(
            _frame(
                lookup,
                np.full(k, number),
                centroid,
                np.full(k, s.volume),
                hit,
                map_value,
                sums,
            )
        )
    return _concat(frames)


def _frame(
    lookup: MapLookup,
    structure: np.ndarray,
    centroid: np.ndarray,
    volume: np.ndarray,
    entry: np.ndarray,
    map_value: np.ndarray,
    sums: Sums,
) -> pd.DataFrame:
    # heavy: pandas costs ~0.2 s to import; only assignment results need it
    import pandas as pd

    names = np.array([e[0] for e in lookup.entries], dtype=object)
    frags = np.array([e[1] for e in lookup.entries], dtype=object)
    region = (
        pd.Categorical.from_codes(entry, categories=pd.Index(names).unique())
        if len(set(names)) == len(names)
        else names[entry]
    )
    columns: dict[str, Any] = {
        "input structure": structure.astype(np.int64),
        "centroid": centroid,
        "volume": volume.astype(float),
        "fragment": frags[entry],
        "region": region,
        "map value": map_value.astype(float),
    }
    columns.update(overlap_columns(sums))
    frame = pd.DataFrame(columns, columns=COLUMNS)
    return frame


def _concat(frames: list[pd.DataFrame]) -> pd.DataFrame:
    # heavy: pandas, as above
    import pandas as pd

    frames = [f for f in frames if len(f)]
    if not frames:
        return pd.DataFrame({c: [] for c in COLUMNS}, columns=COLUMNS)
    if len(frames) == 1:
        return frames[0]  # already in row order
    out = pd.concat(frames, ignore_index=True)
    out["region"] = out["region"].astype(str)
    return out.sort_values("input structure", kind="stable").reset_index(drop=True)
