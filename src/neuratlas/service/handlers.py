"""The data handlers of siibra-api (its ``api.common.data_handlers``), on neuratlas.

Every function has the name, parameters and meaning of its siibra-api namesake,
so that the HTTP routes (and anyone who called siibra-api's handlers from Python)
can switch over. Differences that users asked for:

- Ids go through neuratlas's lookup: names, short names, aliases, keys, ``@id`` s
  and words (``"hIP1 left"``), as ``neuratlas.get_region`` takes them.
- Failures are neuratlas errors, never ``AssertionError`` or a bare ``NotFound``:
  an unknown id raises :class:`~neuratlas.errors.NotFoundError` with suggestions,
  an ambiguous one :class:`~neuratlas.errors.AmbiguousError` with candidates, a
  bad parameter :class:`~neuratlas.errors.ArgumentError`, missing data
  :class:`~neuratlas.errors.DataUnavailableError`; the HTTP layer maps each to
  its status code.
- JSON handlers return pydantic models (:mod:`neuratlas.service.models`), not
  dicts. File handlers return ``(path, was_cached)``; the files live in the
  neuratlas cache (area ``service``), keyed by the resolved ``@id`` s and the
  neuratlas version, written atomically and bounded by the cache's LRU cap.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import neuratlas
from neuratlas.__about__ import __version__
from neuratlas.core.map_index import MapType
from neuratlas.errors import ArgumentError, ArgumentTypeError, NotFoundError
from neuratlas.retrieval.cache import cache_key, cache_path, evict, touch
from neuratlas.service.bundle import build_bundle
from neuratlas.service.models import (
    AnnotationModel,
    AtlasModel,
    FeatureTypeModel,
    MapModel,
    ParcellationModel,
    RegionModel,
    RegionRelationModel,
    SpaceModel,
    StatisticInfoModel,
)

if TYPE_CHECKING:
    import nibabel as nib

    from neuratlas.core.maps import Map
    from neuratlas.core.region import Region

#: The cache area that holds the map files of the handlers.
SERVICE_AREA = "service"

__all__ = [
    "SERVICE_AREA",
    "MapFile",
    "all_atlases",
    "all_feature_types",
    "all_parcellations",
    "all_regions",
    "all_spaces",
    "cache_region_statistic_map",
    "download_all",
    "get_map",
    "get_parcellation_labelled_map",
    "get_region_statistic_map",
    "get_region_statistic_map_info",
    "get_related_regions",
    "get_resampled_map",
    "labelled_map_file",
    "resampled_map_file",
    "single_atlas",
    "single_parcellation",
    "single_region",
    "single_space",
    "statistical_map_file",
    "template_file",
]


# --- atlases, spaces, parcellations ------------------------------------------------
def all_atlases() -> list[AtlasModel]:
    """Get all atlases.

    Returns
    -------
    list of AtlasModel
        Every atlas of the active catalogue, serialised.
    """
    return [AtlasModel.of(atlas) for atlas in neuratlas.atlases]


def single_atlas(atlas_id: str) -> AtlasModel:
    """Get a single atlas.

    Parameters
    ----------
    atlas_id : str
        Lookup id of the atlas (``@id``, name, short name, alias, key or words).

    Returns
    -------
    AtlasModel

    Raises
    ------
    NotFoundError
        No atlas matches; ``suggestions`` lists the closest names.
    AmbiguousError
        Several atlases match equally well.
    """
    return AtlasModel.of(neuratlas.atlases.get(atlas_id))


def all_parcellations() -> list[ParcellationModel]:
    """Get all parcellations.

    Returns
    -------
    list of ParcellationModel
    """
    return [ParcellationModel.of(parc) for parc in neuratlas.parcellations]


def single_parcellation(parc_id: str) -> ParcellationModel:
    """Get a single parcellation.

    Parameters
    ----------
    parc_id : str
        Lookup id of the parcellation.

    Returns
    -------
    ParcellationModel

    Raises
    ------
    NotFoundError, AmbiguousError
        As :func:`single_atlas`.
    """
    return ParcellationModel.of(neuratlas.get_parcellation(parc_id))


def all_spaces() -> list[SpaceModel]:
    """Get all spaces.

    Returns
    -------
    list of SpaceModel
    """
    return [SpaceModel.of(space) for space in neuratlas.spaces]


def single_space(space_id: str) -> SpaceModel:
    """Get a single space.

    Parameters
    ----------
    space_id : str
        Lookup id of the space.

    Returns
    -------
    SpaceModel

    Raises
    ------
    NotFoundError, AmbiguousError
        As :func:`single_atlas`.
    """
    return SpaceModel.of(neuratlas.get_space(space_id))


# --- regions -----------------------------------------------------------------------
def all_regions(parcellation_id: str, find: str | None = None) -> list[RegionModel]:
    """Get the regions of a parcellation, optionally only those that ``find`` matches.

    Parameters
    ----------
    parcellation_id : str
        Lookup id of the parcellation whose regions are listed.
    find : str, optional
        Words to search for (as ``Parcellation.find``); the best matches come first.

    Returns
    -------
    list of RegionModel
        Without ``find``, every region of the tree in depth-first order; the
        parcellation itself (the tree's root) is never listed.
    """
    parc = neuratlas.get_parcellation(parcellation_id)
    regions = parc.find(find) if find else list(parc)
    return [RegionModel.of(region) for region in regions if region is not parc]


def get_related_regions(parcellation_id: str, region_id: str) -> list[RegionRelationModel]:
    """Get the regions of other parcellations that overlap a region, with the qualification.

    Parameters
    ----------
    parcellation_id : str
        Lookup id of the region's parcellation.
    region_id : str
        Lookup id of the region.

    Returns
    -------
    list of RegionRelationModel
        Best overlap (intersection over union) first; see
        ``Region.get_related_regions``.
    """
    region = neuratlas.get_region(parcellation_id, region_id)
    return [RegionRelationModel.of(region, rel) for rel in region.get_related_regions()]


def single_region(
    parcellation_id: str, region_id: str, space_id: str | None = None
) -> RegionModel:
    """Get a single region of a parcellation.

    With ``space_id``, the region's annotation in that space comes along:
    ``hasAnnotation.bestViewPoint`` is the centroid of the region's mask there, and
    ``hasAnnotation.spatialProps`` its size, components and bounding box (as
    ``Region.spatial_props(space)``).

    Parameters
    ----------
    parcellation_id : str
        Lookup id of the parcellation.
    region_id : str
        Lookup id of the region.
    space_id : str, optional
        Lookup id of a space in which the parcellation is mapped.

    Returns
    -------
    RegionModel

    Raises
    ------
    NotFoundError
        Unknown parcellation, region or space, or no map of the parcellation in
        the space.
    """
    region = neuratlas.get_region(parcellation_id, region_id)
    if space_id is None:
        return RegionModel.of(region)
    space = neuratlas.get_space(space_id)
    return RegionModel.of(region, AnnotationModel.of(region.spatial_props(space), space))


# --- features ----------------------------------------------------------------------
def all_feature_types() -> list[FeatureTypeModel]:
    """Get all feature types.

    Returns
    -------
    list of FeatureTypeModel
        One per feature class, as siibra-api lists them: ``name`` is the class
        hierarchy from ``Feature`` down (``"Feature.Tabular.CorticalProfile.
        CellDensityProfile"``), ``category`` the class's category
        (``"connectivity"``, ``"tabular"``, ``"image"``, ``"location"``,
        ``"surface"``, ``"other"``).
    """
    # heavy: the feature classes bring pandas; the service starts without them
    from neuratlas.features import Feature, modalities

    return [
        FeatureTypeModel(
            name=_hierarchy(cls, Feature), category=cls.category, modality=cls.modality
        )
        for cls in modalities.classes()
        if cls is not Feature  # siibra-api lists the subclasses
    ]


def _hierarchy(cls: type, base: type) -> str:
    """``"Feature.Tabular.CorticalProfile"``: the classes from ``base`` down to ``cls``."""
    return ".".join(c.__name__ for c in reversed(cls.__mro__) if issubclass(c, base))


# --- maps --------------------------------------------------------------------------
def _maptype(maptype: MapType | str) -> MapType:
    """``maptype`` (``labelled``/``statistical``, any case, or a MapType) as a MapType."""
    if not isinstance(maptype, str):  # MapType is a str enum, so this is neither
        raise ArgumentTypeError(
            f"a map type is a string, not {type(maptype).__name__}",
            hint="use 'labelled' or 'statistical'",
        )
    try:
        return MapType.parse(maptype)
    except NotFoundError:
        # a request's parameter with a value outside its two choices: a bad argument
        # (422 over HTTP), not an unknown catalogue entry
        raise ArgumentError(
            f"unknown map type {maptype!r}", hint="use 'labelled' or 'statistical'"
        ) from None


def get_map(parcellation_id: str, space_id: str, maptype: MapType | str) -> MapModel:
    """Get a map of a parcellation in a space.

    Parameters
    ----------
    parcellation_id : str
        Lookup id of the parcellation of the map.
    space_id : str
        Lookup id of the space of the map.
    maptype : {"labelled", "statistical"} or MapType
        Case is ignored (siibra-api writes ``LABELLED``).

    Returns
    -------
    MapModel
        Where the map is labelled and also thresholded (FSL's ``maxprob-thr25``),
        the unthresholded map.

    Raises
    ------
    ArgumentError
        ``maptype`` is neither labelled nor statistical.
    NotFoundError
        Unknown parcellation or space, or no such map; the hint lists the spaces
        that have one.
    """
    kind = _maptype(maptype)
    return MapModel.of(neuratlas.get_map(parcellation_id, space_id, kind))


def _volume_map(parcellation_id: str, space_id: str, maptype: MapType) -> Map:
    """The ``maptype`` map of the parcellation in the space, which must be a volume space."""
    the_map = neuratlas.get_map(parcellation_id, space_id, maptype)
    if the_map.is_surface:
        volume_spaces = [s.name for s in the_map.parcellation.spaces if not s.is_surface]
        raise ArgumentError(
            f"{the_map.space.name!r} is a surface space: the map of "
            f"{the_map.parcellation.name!r} there is a mesh, not a NIfTI image",
            hint="use a volume space: " + (", ".join(volume_spaces) or "none is mapped"),
        )
    return the_map


@dataclass(frozen=True)
class MapFile:
    """A map file of the handlers: its place in the cache, and how to make it.

    The file handlers return ``MapFile(...).get()``; the HTTP app asks
    :meth:`cached` first and sends only the making of a missing file to its workers.

    Attributes
    ----------
    path : Path
        Where the file is, or will be, in the cache area ``service``: named by the
        resolved ``@id`` s and the neuratlas version.
    make : callable
        Makes the image when the file is not there.
    """

    path: Path
    make: Callable[[], nib.Nifti1Image]

    def cached(self) -> str | None:
        """The file's path if it is in the cache already (a use, for the LRU cap), else None."""
        if not self.path.is_file():
            return None
        touch(self.path)
        return str(self.path)

    def get(self) -> tuple[str, bool]:
        """The file, made and saved (atomically) if it is not cached yet.

        Returns
        -------
        (str, bool)
            The file's path, and True if it was already in the cache.
        """
        found = self.cached()
        if found is not None:
            return found, True
        # heavy: NumPy and nibabel; the catalogue handlers above never need them
        from neuratlas.volumes.nifti import save_nifti

        save_nifti(self.make(), self.path)
        evict()
        return str(self.path), False


def _map_file(parts: tuple[str | None, ...], make: Callable[[], nib.Nifti1Image]) -> MapFile:
    return MapFile(cache_path(SERVICE_AREA, cache_key(__version__, *parts), ".nii.gz"), make)


def labelled_map_file(
    parcellation_id: str, space_id: str, region_id: str | None = None
) -> MapFile:
    """The file of :func:`get_parcellation_labelled_map`, made or not (same parameters)."""
    the_map = _volume_map(parcellation_id, space_id, MapType.LABELLED)
    if region_id is None:
        return _map_file(("labelled_map", the_map.id, None), the_map.fetch)
    region = the_map.parcellation.get_region(region_id)
    return _map_file(("labelled_map", the_map.id, region.id), lambda: the_map.fetch_mask(region))


def statistical_map_file(parcellation_id: str, region_id: str, space_id: str) -> MapFile:
    """The file of :func:`cache_region_statistic_map`, made or not (same parameters)."""
    the_map = _volume_map(parcellation_id, space_id, MapType.STATISTICAL)
    region: Region = the_map.parcellation.get_region(region_id)
    return _map_file(
        ("statistical_map", the_map.id, region.id), lambda: the_map.fetch(region=region)
    )


def resampled_map_file(parcellation_id: str, space_id: str) -> MapFile:
    """The file of :func:`get_resampled_map`, made or not (same parameters)."""
    the_map = _volume_map(parcellation_id, space_id, MapType.LABELLED)

    def make() -> nib.Nifti1Image:
        # heavy: NumPy and nibabel; the catalogue handlers above never need them
        from neuratlas.volumes.resampling import resample_to_grid

        template = the_map.space.get_template().fetch()
        return resample_to_grid(the_map.fetch(), template.affine, template.shape, order=0)

    return _map_file(("resampled_map", the_map.id, the_map.space.id), make)


def template_file(space_id: str) -> MapFile:
    """The template of a volume space as a NIfTI file, made or not (the explorer's slices).

    Parameters
    ----------
    space_id : str
        Lookup id of the space (a volume space).

    Returns
    -------
    MapFile
        The file of ``Space.get_template().fetch()``: the grid that
        :func:`resampled_map_file` puts a labelled map on.

    Raises
    ------
    NotFoundError
        Unknown space, or a space without a template.
    ArgumentError
        The space is a surface space; the hint names the volume spaces.
    """
    space = neuratlas.get_space(space_id)
    if space.is_surface:
        volume_spaces = [s.name for s in neuratlas.spaces if not s.is_surface]
        raise ArgumentError(
            f"{space.name!r} is a surface space: its template is a mesh, not a NIfTI image",
            hint="use a volume space: " + (", ".join(volume_spaces) or "there is none"),
        )
    template = space.get_template()
    return _map_file(("template", space.id, template.variant), template.fetch)


def get_parcellation_labelled_map(
    parcellation_id: str, space_id: str, region_id: str | None = None
) -> tuple[str, bool]:
    """Save the labelled map, or a region's mask from it, and return the file.

    Parameters
    ----------
    parcellation_id : str
        Lookup id of the parcellation of the map.
    space_id : str
        Lookup id of the space of the map (a volume space).
    region_id : str, optional
        Lookup id of a region: its binary (uint8) mask instead of the whole map.

    Returns
    -------
    (str, bool)
        The path of the NIfTI file (``.nii.gz``), and whether it was cached.

    Raises
    ------
    NotFoundError
        Unknown ids, or no labelled map of the parcellation in the space.
    ArgumentError
        The space is a surface space.
    """
    return labelled_map_file(parcellation_id, space_id, region_id).get()


def cache_region_statistic_map(
    parcellation_id: str, region_id: str, space_id: str
) -> tuple[str, bool]:
    """Save a region's statistical map (if not yet saved) and return the file.

    Parameters
    ----------
    parcellation_id : str
        Lookup id of the parcellation of the map.
    region_id : str
        Lookup id of the region; for a non-leaf region, the voxel-wise maximum of
        its descendants' maps.
    space_id : str
        Lookup id of the space of the map.

    Returns
    -------
    (str, bool)
        The path of the NIfTI file, and whether it was cached.

    Raises
    ------
    NotFoundError
        Unknown ids, or no statistical map of the parcellation in the space.
    """
    return statistical_map_file(parcellation_id, region_id, space_id).get()


def get_region_statistic_map(
    parcellation_id: str, region_id: str, space_id: str
) -> tuple[str, bool]:
    """Save a region's statistical map (if not yet saved) and return the file.

    The same as :func:`cache_region_statistic_map`, which siibra-api keeps as a
    separate name.
    """
    return cache_region_statistic_map(parcellation_id, region_id, space_id)


def get_region_statistic_map_info(
    parcellation_id: str, region_id: str, space_id: str
) -> StatisticInfoModel:
    """The smallest and largest value of a region's statistical map.

    Parameters are those of :func:`cache_region_statistic_map`.

    Returns
    -------
    StatisticInfoModel
        ``min`` and ``max`` over the voxels of the saved map (NaN ignored).
    """
    path, _ = cache_region_statistic_map(parcellation_id, region_id, space_id)
    # heavy: NumPy and nibabel; the catalogue handlers above never need them
    import numpy as np

    from neuratlas.volumes.nifti import open_image

    # not the in-memory LRU of loaded images: this file is read once, its answer memoised
    with open_image(path) as img:
        data = np.asanyarray(img.dataobj)
    return StatisticInfoModel(min=float(np.nanmin(data)), max=float(np.nanmax(data)))


def get_resampled_map(parcellation_id: str, space_id: str) -> tuple[str, bool]:
    """Save the labelled map resampled onto the grid of the space's template.

    Nearest-neighbour resampling, so labels keep their values: the file overlays
    voxel by voxel on ``Space.get_template().fetch()``.

    Parameters
    ----------
    parcellation_id : str
        Lookup id of the parcellation of the map.
    space_id : str
        Lookup id of the space (a volume space in which the parcellation has a
        labelled map).

    Returns
    -------
    (str, bool)
        The path of the NIfTI file, and whether it was cached.
    """
    return resampled_map_file(parcellation_id, space_id).get()


# --- compounds ---------------------------------------------------------------------
def download_all(
    space_id: str,
    parcellation_id: str,
    region_id: str | None = None,
    feature_id: str | None = None,
) -> str:
    """Make (or reuse) the download bundle (zip) for a space, a parcellation and a region.

    Parameters
    ----------
    space_id : str
        Lookup id of the space.
    parcellation_id : str
        Lookup id of the parcellation.
    region_id : str, optional
        Lookup id of a region: the bundle holds its map instead of the labelled map.
    feature_id : str, optional
        The id of a feature: the bundle also holds its export
        (``export-{feature id}.zip``), or ``{feature id}.error.txt`` saying why it
        could not be exported (an unknown id, data that cannot be fetched).

    Returns
    -------
    str
        The path of the zip file (see :func:`neuratlas.service.bundle.build_bundle`).
    """
    return str(build_bundle(space_id, parcellation_id, region_id, feature_id))
