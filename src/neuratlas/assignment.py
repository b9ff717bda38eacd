"""Assign locations and images to the regions of a map: one table, one definition.

Every input structure ``I`` (a point, a Gaussian blob around an uncertain point,
or one connected component of an image) is compared with every region map ``M``
it overlaps, on the map's voxel grid. For a labelled map ``M`` is the region's
binary mask; for a statistical map it is the region's map (e.g. probabilities).
Map values at or below ``lower_threshold`` count as 0. Sums run over all voxels;
``n`` is the number of voxels in the union of the supports of ``I`` and ``M``.

The columns, the same for labelled and statistical maps:

``input structure``
    Index of the input structure (the point's index, or the image component's).
``centroid``
    Centroid of the input structure, in mm (the point itself for points).
``volume``
    Volume of the input structure in mm³ (0 for an exact point).
``fragment``
    The map fragment (e.g. hemisphere of a surface map), else ``None``.
``region``
    The region's name.
``map value``
    ``M`` at the voxel nearest to the input's centroid.
``intersection over union``
    ``Σ min(I, M) / Σ max(I, M)`` (the Jaccard index for binary ``I`` and ``M``).
``correlation``
    Pearson correlation of ``I`` and ``M`` over the union of their supports;
    NaN where it is undefined (either is constant there, e.g. two identical
    binary masks).
``map weighted mean``
    ``Σ I·M / Σ M``: the mean of the input, weighted by the map.
``map containedness``
    ``Σ min(I, M) / Σ M``: how much of the region lies inside the input.
``input weighted mean``
    ``Σ I·M / Σ I``: the mean of the map, weighted by the input.
``input containedness``
    ``Σ min(I, M) / Σ I``: how much of the input lies inside the region.

Rows come ordered by input structure, then by region in the map's order.

An exact point (``sigma_mm == 0``) is a single voxel with ``I = 1``; a point with
``sigma_mm > 0`` is the Gaussian ``I = exp(-d² / 2σ²)`` (peak 1), cut at 3σ; an
image component carries the image's values (NaN counts as 0; only positive
values form components).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from neuratlas.errors import DataUnavailableError, Error, ImageError, SpaceMismatchError

if TYPE_CHECKING:
    import nibabel as nib
    import pandas as pd

    from neuratlas.volumes.maps import Map

COLUMNS = [
    "input structure",
    "centroid",
    "volume",
    "fragment",
    "region",
    "map value",
    "intersection over union",
    "correlation",
    "map weighted mean",
    "map containedness",
    "input weighted mean",
    "input containedness",
]


@dataclass
class Sums:
    """The sums every column is computed from, one entry per (structure, region) row.

    ``i`` refers to the input, ``m`` to the region map, ``im`` to their overlap.
    """

    s_i: np.ndarray  # Σ I
    s_i2: np.ndarray  # Σ I²
    n_i: np.ndarray  # |supp I|
    s_m: np.ndarray  # Σ M
    s_m2: np.ndarray  # Σ M²
    n_m: np.ndarray  # |supp M|
    s_im: np.ndarray  # Σ I·M
    s_min: np.ndarray  # Σ min(I, M)
    n_im: np.ndarray  # |supp I ∩ supp M|


def overlap_columns(s: Sums) -> dict[str, np.ndarray]:
    """Compute the comparison columns from the sums: the single definition of each.

    Returns
    -------
    dict of ndarray
        ``intersection over union``, ``correlation``, ``map weighted mean``,
        ``map containedness``, ``input weighted mean``, ``input containedness``.
    """
    with np.errstate(divide="ignore", invalid="ignore"):
        s_max = s.s_i + s.s_m - s.s_min
        n = s.n_i + s.n_m - s.n_im
        cov = n * s.s_im - s.s_i * s.s_m
        var = (n * s.s_i2 - s.s_i**2) * (n * s.s_m2 - s.s_m**2)
        correlation = np.where(var > 0, cov / np.sqrt(np.where(var > 0, var, 1.0)), np.nan)
        return {
            "intersection over union": s.s_min / s_max,
            "correlation": np.clip(correlation, -1.0, 1.0),
            "map weighted mean": s.s_im / s.s_m,
            "map containedness": s.s_min / s.s_m,
            "input weighted mean": s.s_im / s.s_i,
            "input containedness": s.s_min / s.s_i,
        }


# --- the map side ----------------------------------------------------------------
class MapLookup:
    """A map reduced to what assignment needs: values at voxels and per-region sums.

    Entries are the map's distinct (region, fragment) maps: labels of a labelled
    map, volumes of a statistical one.
    """

    def __init__(self, the_map: Map, lower_threshold: float = 0.0) -> None:
        from neuratlas.volumes.maps import MapType

        self.map = the_map
        self.threshold = float(lower_threshold)
        if the_map.is_surface:
            raise Error(
                f"{the_map.name!r} is a surface map: assignment works on volumetric maps",
                hint="use a volumetric map of the same parcellation",
            )
        if the_map.maptype is MapType.LABELLED:
            self._init_labelled()
        else:
            self._init_statistical()

    def _init_labelled(self) -> None:
        img = self.map.fetch()
        labels = np.asanyarray(img.dataobj)
        if labels.dtype.kind == "f":
            labels = labels.astype(np.int64)
        self.affine, self.shape = img.affine, labels.shape
        lut_items = sorted(self.map.label_lut.items())
        self.entries = [(name, _fragment(self.map, name, label)) for label, name in lut_items]
        size = max(int(labels.max()), max((k for k, _ in lut_items), default=0)) + 1
        self._lut = np.full(size, -1, dtype=np.int64)
        for entry, (label, _) in enumerate(lut_items):
            self._lut[label] = entry
        self._labels = labels
        counts = np.bincount(labels.ravel(), minlength=size)
        n = np.array([counts[label] for label, _ in lut_items], dtype=float)
        # binary masks: Σ M = Σ M² = |supp M| (a threshold >= 1 leaves nothing)
        n = n if self.threshold < 1 else np.zeros_like(n)
        self.s_m, self.s_m2, self.n_m = n, n, n

    def _init_statistical(self) -> None:
        from neuratlas.volumes.sparse_build import scaled

        index = self.map.sparse_index
        self.affine, self.shape = index.affine, index.shape
        self._index = index
        self._scale = self.map.value_scale
        self.entries = [(name, frag) for name, frag in self.map.sparse_entries]
        values = scaled(index.values, self._scale).astype(np.float64)
        volumes = np.asarray(index.volumes)
        keep = values > self.threshold
        size = len(self.entries)
        self.s_m = np.bincount(volumes[keep], weights=values[keep], minlength=size)
        self.s_m2 = np.bincount(volumes[keep], weights=values[keep] ** 2, minlength=size)
        self.n_m = np.bincount(volumes[keep], minlength=size).astype(float)

    def values_at(self, ijk: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Map values at voxels: ``(row of ijk, entry, value)`` for every value above threshold.

        Voxels outside the grid give no rows.
        """
        ijk = np.asarray(ijk, dtype=np.int64).reshape(-1, 3)
        inside = np.all((ijk >= 0) & (ijk < np.array(self.shape[:3])), axis=1)
        rows = np.flatnonzero(inside)
        if not hasattr(self, "_labels"):
            from neuratlas.volumes.sparse_build import scaled

            point, entry, value = self._index.values_at(ijk[rows])
            point = rows[point]
            value = scaled(value, self._scale).astype(np.float64)
        else:
            labels = self._labels[ijk[rows, 0], ijk[rows, 1], ijk[rows, 2]].astype(np.int64)
            valid = (labels >= 0) & (labels < len(self._lut))
            entry = np.full(len(rows), -1, dtype=np.int64)
            entry[valid] = self._lut[labels[valid]]
            hit = entry >= 0
            point, entry = rows[hit], entry[hit]
            value = np.ones(len(point), dtype=np.float64)
        keep = value > self.threshold
        return point[keep], entry[keep], value[keep]


def _fragment(the_map: Map, name: str, label: int) -> str | None:
    for index in the_map.indices[name]:
        if index.label == label:
            return index.fragment
    return None


# --- the input side ----------------------------------------------------------------
@dataclass
class Structure:
    """One input structure on the map's grid: its support voxels and values."""

    ijk: np.ndarray  # (K, 3) voxel indices
    values: np.ndarray  # (K,) input values I > 0
    centroid: np.ndarray  # (3,) mm
    volume: float  # mm³


def gaussian_blob(centre_mm: np.ndarray, sigma_mm: float, affine: np.ndarray) -> Structure:
    """The Gaussian ``exp(-d²/2σ²)`` around ``centre_mm`` on the grid, cut at 3σ."""
    inv = np.linalg.inv(affine)
    centre_vox = inv[:3, :3] @ centre_mm + inv[:3, 3]
    zooms = np.sqrt((affine[:3, :3] ** 2).sum(0))
    reach = np.ceil(3 * sigma_mm / zooms).astype(int)
    axes = [
        np.arange(int(np.floor(c)) - r, int(np.ceil(c)) + r + 1)
        for c, r in zip(centre_vox, reach, strict=True)
    ]
    ijk = np.stack(np.meshgrid(*axes, indexing="ij"), -1).reshape(-1, 3)
    xyz = ijk @ affine[:3, :3].T + affine[:3, 3]
    d2 = ((xyz - centre_mm) ** 2).sum(1)
    inside = d2 <= (3 * sigma_mm) ** 2
    values = np.exp(-d2[inside] / (2 * sigma_mm**2))
    voxel_mm3 = float(abs(np.linalg.det(affine[:3, :3])))
    return Structure(ijk[inside], values, np.asarray(centre_mm, float), inside.sum() * voxel_mm3)


def image_components(img: nib.Nifti1Image, affine: np.ndarray, shape: tuple) -> list[Structure]:
    """Resample ``img`` to the grid and split its positive part into connected components."""
    from scipy import ndimage

    from neuratlas.volumes.resampling import resample_to_grid

    data = np.asanyarray(img.dataobj)
    if data.ndim == 4 and data.shape[3] == 1:
        data = data[..., 0]
    if data.ndim != 3:
        raise ImageError(f"can only assign 3D images, got shape {data.shape}")
    data = np.nan_to_num(np.asarray(data, dtype=np.float32), nan=0.0, posinf=0.0, neginf=0.0)
    binary = bool(np.isin(np.unique(data), (0, 1)).all())
    import nibabel as nib

    resampled = resample_to_grid(
        nib.Nifti1Image(data, img.affine), affine, shape, order=0 if binary else 1
    )
    values = np.asanyarray(resampled.dataobj)
    positive = values > 0
    if not positive.any():
        raise ImageError(
            "the image has no positive value on the map's grid",
            hint="check that the image is not empty and lies in the map's space",
        )
    labels, n = ndimage.label(positive, structure=np.ones((3, 3, 3), dtype=bool))
    voxel_mm3 = float(abs(np.linalg.det(affine[:3, :3])))
    order = np.argsort(labels.ravel(), kind="stable")
    flat_labels = labels.ravel()[order]
    bounds = np.searchsorted(flat_labels, np.arange(1, n + 2))
    out = []
    for c in range(n):
        flat = order[bounds[c] : bounds[c + 1]]
        ijk = np.stack(np.unravel_index(flat, labels.shape), 1)
        vals = values.ravel()[flat].astype(np.float64)
        centroid_vox = (ijk * vals[:, None]).sum(0) / vals.sum()
        centroid = affine[:3, :3] @ centroid_vox + affine[:3, 3]
        out.append(Structure(ijk, vals, centroid, len(flat) * voxel_mm3))
    return out


# --- assignment ----------------------------------------------------------------------
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
        :data:`COLUMNS`, defined in this module's docstring.

    Raises
    ------
    SpaceMismatchError
        The points are in another space.
    ImageError
        The image is empty or not 3D.
    """
    import nibabel as nib

    from neuratlas.locations.point import Point
    from neuratlas.locations.pointcloud import PointCloud

    lookup = MapLookup(the_map, lower_threshold)
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
        frames.append(_assign_structures(lookup, blobs))
        return _concat(frames)
    if isinstance(item, nib.spatialimages.SpatialImage):
        components = image_components(item, lookup.affine, lookup.shape)
        return _assign_structures(lookup, list(enumerate(components)))
    raise Error(
        f"cannot assign a {type(item).__name__}",
        hint="pass a Point, a PointCloud or a NIfTI image",
    )


def assign(
    item: Any,
    parcellation: str,
    space: str | None = None,
    maptype: str = "labelled",
    lower_threshold: float = 0.0,
) -> pd.DataFrame:
    """Shortcut: assign ``item`` to the ``maptype`` map of ``parcellation``.

    Parameters
    ----------
    item : Point, PointCloud or nibabel.Nifti1Image
    parcellation : str
        Parcellation name, key or id.
    space : str, optional
        Defaults to the space of the points, or for images the first space the
        parcellation is mapped in.
    maptype : {"labelled", "statistical"}
    lower_threshold : float
        Map values at or below this count as 0.

    Returns
    -------
    pandas.DataFrame
        See :func:`assign_to_map`.
    """
    from neuratlas.configuration.catalogue import active

    if space is None:
        space = getattr(item, "space", None)
    the_map = active().get_map(parcellation, space, maptype)
    return assign_to_map(the_map, item, lower_threshold)


def _check_space(space: Any, the_map: Map) -> None:
    if space is not None and space.id != the_map.space.id:
        raise SpaceMismatchError(
            f"the points are in {space.name!r} but the map is in {the_map.space.name!r}",
            hint="use a map in the points' space (transforms between spaces come later)",
        )


def _assign_exact_points(lookup: MapLookup, coords: np.ndarray, which: np.ndarray) -> pd.DataFrame:
    inv = np.linalg.inv(lookup.affine)
    ijk = np.rint(coords[which] @ inv[:3, :3].T + inv[:3, 3]).astype(np.int64)
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
    return _frame(lookup, structure, centroid, np.zeros(len(row)), entry, value, sums)


def _assign_structures(lookup: MapLookup, structures: list[tuple[int, Structure]]) -> pd.DataFrame:
    frames = []
    inv = np.linalg.inv(lookup.affine)
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
        centre_vox = np.rint(inv[:3, :3] @ s.centroid + inv[:3, 3]).astype(np.int64)
        _, c_entry, c_value = lookup.values_at(centre_vox[None])
        at_centre = dict(zip(c_entry.tolist(), c_value.tolist(), strict=True))
        map_value = np.array([at_centre.get(e, 0.0) for e in hit.tolist()])
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
    import pandas as pd

    frames = [f for f in frames if len(f)]
    if not frames:
        return pd.DataFrame({c: [] for c in COLUMNS}, columns=COLUMNS)
    if len(frames) == 1:
        return frames[0]  # already in row order
    out = pd.concat(frames, ignore_index=True)
    out["region"] = out["region"].astype(str)
    return out.sort_values("input structure", kind="stable").reset_index(drop=True)


# --- related regions -----------------------------------------------------------------
QUALIFIED = 0.9  # fraction of a region that must lie inside the other to count as inside


@dataclass(frozen=True)
class RegionRelation:
    """How a region of another parcellation relates to a given region, in one space.

    ``qualification`` is ``EXACT`` when each contains at least 90 % of the other,
    ``CONTAINED`` when at least 90 % of the given region lies inside ``region``,
    ``CONTAINS`` when at least 90 % of ``region`` lies inside the given region,
    else ``OVERLAPS``. The figures are those of :func:`overlap_columns` on the
    two binary masks.
    """

    region: Any
    qualification: str
    space: Any
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


def related_regions(region: Any) -> list[RegionRelation]:
    """Regions of other parcellations (and versions) overlapping ``region``.

    For every space where ``region`` has a labelled map, its mask is compared
    with the labelled maps of every other parcellation in that space. Results are
    sorted by intersection over union, best first.
    """
    from neuratlas.volumes.maps import MapType

    own = region.parcellation
    out: list[RegionRelation] = []
    for space in region.supported_spaces:
        maps = [m for m in own.maps if m.space is space and m.maptype is MapType.LABELLED]
        if not maps:
            continue
        mask = region.get_regional_mask(space)
        data = np.asanyarray(mask.dataobj) > 0
        for other in own._catalogue.maps:
            if other.parcellation is own or other.space is not space:
                continue
            if other.maptype is not MapType.LABELLED or other.is_surface:
                continue
            try:
                lookup = MapLookup(other)
            except DataUnavailableError as exc:
                # one unreachable map must not hide the relations found in the others
                warnings.warn(f"skipped {other.name!r}: {exc}", stacklevel=2)
                continue
            structure = _mask_structure(data, mask.affine, lookup)
            table = _assign_structures(lookup, [(0, structure)])
            for row in table.itertuples(index=False):
                contained, contains = float(row[11]), float(row[9])
                out.append(
                    RegionRelation(
                        other.parcellation.get_region(str(row[4])),
                        qualify(contained, contains),
                        space,
                        float(row[6]),
                        contained,
                        contains,
                    )
                )
    out.sort(key=lambda r: -r.intersection_over_union)
    return out


def _mask_structure(data: np.ndarray, affine: np.ndarray, lookup: MapLookup) -> Structure:
    import nibabel as nib

    from neuratlas.volumes.resampling import resample_to_grid

    if data.shape != tuple(lookup.shape[:3]) or not np.allclose(affine, lookup.affine):
        img = resample_to_grid(
            nib.Nifti1Image(data.astype(np.uint8), affine), lookup.affine, lookup.shape, order=0
        )
        data = np.asanyarray(img.dataobj) > 0
    ijk = np.argwhere(data)
    voxel_mm3 = float(abs(np.linalg.det(lookup.affine[:3, :3])))
    centroid = lookup.affine[:3, :3] @ ijk.mean(0) + lookup.affine[:3, 3]
    return Structure(ijk, np.ones(len(ijk)), centroid, len(ijk) * voxel_mm3)
