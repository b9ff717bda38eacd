"""The service's JSON: pydantic models shaped like siibra-api's, one serialiser per concept.

Each model has a classmethod ``of`` that builds it from a neuratlas object, so
handlers and routes never assemble dicts by hand. Keys follow siibra-api
(``@id``, ``@type``, ``shortName``, ``hasParent``...) through field aliases:
dump with ``model_dump(by_alias=True)`` (FastAPI does so for response models),
or use :meth:`ServiceModel.as_json`. The models are frozen: a serialised
catalogue object can be cached and shared between requests.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

if TYPE_CHECKING:
    from neuratlas.assignment.related import RegionRelation
    from neuratlas.configuration.specs import Reference
    from neuratlas.core.atlas import Atlas
    from neuratlas.core.map_index import MapIndex
    from neuratlas.core.maps import Map
    from neuratlas.core.parcellation import Parcellation
    from neuratlas.core.region import Region
    from neuratlas.core.space import Space
    from neuratlas.volumes.properties import SpatialProperties, SurfaceProperties
    from neuratlas.volumes.volume import Volume

# the openMINDS identifiers siibra-api uses for a coordinate point and its unit
COORDINATE_POINT_TYPE = "https://openminds.ebrains.eu/sands/CoordinatePoint"
MILLIMETRE_ID = "id.link/mm"
# formats whose files are meshes rather than images (as in neuratlas.volumes)
_MESH_FORMATS = ("gii-mesh", "gii-label", "neuratlas:csv-label")


class ServiceModel(BaseModel):
    """Base of every model: aliases both ways, frozen, JSON by alias."""

    model_config = ConfigDict(populate_by_name=True, frozen=True)

    def as_json(self) -> dict[str, Any]:
        """The JSON object that the service sends (keys by alias, values JSON-ready)."""
        return self.model_dump(mode="json", by_alias=True)


class AtIdModel(ServiceModel):
    """A link to another object by its ``@id``, as siibra-api writes links."""

    id: str = Field(alias="@id")


def _link(ref: str | Reference | None) -> AtIdModel | None:
    """A link to ``ref`` (an ``@id`` or a spec reference), or None."""
    if ref is None:
        return None
    return AtIdModel(id=ref if isinstance(ref, str) else ref.id)


class VolumeModel(ServiceModel):
    """One volume of a space's template or of a map: its name and file formats."""

    type: Literal["siibra-0.4/volume"] = Field("siibra-0.4/volume", alias="@type")
    name: str | None
    variant: str | None
    formats: list[str]
    provides_mesh: bool = Field(alias="providesMesh")
    provides_image: bool = Field(alias="providesImage")
    space: AtIdModel

    @classmethod
    def of(cls, volume: Volume) -> VolumeModel:
        """Serialise a :class:`~neuratlas.volumes.volume.Volume`."""
        formats = volume.formats
        mesh = any(f in _MESH_FORMATS for f in formats)
        return cls(
            name=volume.name,
            variant=volume.variant,
            formats=formats,
            provides_mesh=mesh,
            provides_image=any(f not in _MESH_FORMATS for f in formats),
            space=AtIdModel(id=volume.space_id),
        )


class AtlasModel(ServiceModel):
    """An atlas, with links to its spaces and parcellations."""

    id: str = Field(alias="@id")
    type: Literal["siibra-0.4/atlas"] = Field("siibra-0.4/atlas", alias="@type")
    name: str
    short_name: str = Field(alias="shortName")
    species: str | None
    spaces: list[AtIdModel]
    parcellations: list[AtIdModel]

    @classmethod
    def of(cls, atlas: Atlas) -> AtlasModel:
        """Serialise an :class:`~neuratlas.core.atlas.Atlas`."""
        return cls(
            id=atlas.id,
            name=atlas.name,
            short_name=atlas.short_name,
            species=atlas.species,
            spaces=[AtIdModel(id=s.id) for s in atlas.spaces],
            parcellations=[AtIdModel(id=p.id) for p in atlas.parcellations],
        )


class SpaceModel(ServiceModel):
    """A reference space with its template volumes (``defaultImage``, as siibra-api)."""

    id: str = Field(alias="@id")
    type: Literal["siibra-0.4/space"] = Field("siibra-0.4/space", alias="@type")
    name: str
    short_name: str = Field(alias="shortName")
    species: str | None
    description: str
    default_image: list[VolumeModel] = Field(alias="defaultImage")

    @classmethod
    def of(cls, space: Space) -> SpaceModel:
        """Serialise a :class:`~neuratlas.core.space.Space`."""
        return cls(
            id=space.id,
            name=space.name,
            short_name=space.short_name,
            species=space.species,
            description=space.description,
            default_image=[VolumeModel.of(v) for v in space.volumes],
        )


class VersionModel(ServiceModel):
    """A parcellation's version and links to the previous and next one."""

    name: str | None
    prev: AtIdModel | None
    next: AtIdModel | None


class ParcellationModel(ServiceModel):
    """A parcellation (its regions are listed by the region routes, not here)."""

    id: str = Field(alias="@id")
    type: Literal["siibra-0.4/parcellation"] = Field("siibra-0.4/parcellation", alias="@type")
    name: str
    short_name: str = Field(alias="shortName")
    species: str | None
    modality: str | None
    description: str
    version: VersionModel | None

    @classmethod
    def of(cls, parcellation: Parcellation) -> ParcellationModel:
        """Serialise a :class:`~neuratlas.core.parcellation.Parcellation`."""
        spec = parcellation.version_spec
        version = None
        if spec is not None:
            version = VersionModel(name=spec.name, prev=_link(spec.prev), next=_link(spec.next))
        return cls(
            id=parcellation.id,
            name=parcellation.name,
            short_name=parcellation.short_name,
            species=parcellation.species,
            modality=parcellation.modality,
            description=parcellation.description,
            version=version,
        )


class QuantityModel(ServiceModel):
    """A value with its unit, as openMINDS writes coordinates."""

    value: float
    unit: AtIdModel


class CoordinatePointModel(ServiceModel):
    """A point in a space (mm), shaped like siibra-api's openMINDS coordinate point."""

    type: Literal["https://openminds.ebrains.eu/sands/CoordinatePoint"] = Field(
        COORDINATE_POINT_TYPE, alias="@type"
    )
    coordinate_space: AtIdModel = Field(alias="coordinateSpace")
    coordinates: list[QuantityModel]

    @classmethod
    def of(cls, point_mm: tuple[float, float, float], space: Space) -> CoordinatePointModel:
        """Serialise a point given in mm in ``space``."""
        mm = AtIdModel(id=MILLIMETRE_ID)
        return cls(
            coordinate_space=AtIdModel(id=space.id),
            coordinates=[QuantityModel(value=float(v), unit=mm) for v in point_mm],
        )


class ComponentModel(ServiceModel):
    """One connected component of a region's mask: its centroid (mm) and size."""

    centroid_mm: tuple[float, float, float]
    size: float


class SpatialPropsModel(ServiceModel):
    """A region's size, centroid, bounding box and components in one space.

    ``measure`` is ``volume`` (``unit`` mm³) for a volume space and ``area`` (mm²)
    for a surface space; ``size`` is in that unit.
    """

    space: AtIdModel
    measure: str
    unit: str
    size: float
    centroid_mm: tuple[float, float, float]
    bbox_mm: tuple[tuple[float, float, float], tuple[float, float, float]]
    components: list[ComponentModel]

    @classmethod
    def of(cls, props: SpatialProperties | SurfaceProperties, space: Space) -> SpatialPropsModel:
        """Serialise the spatial properties of a region in ``space``."""
        return cls(
            space=AtIdModel(id=space.id),
            measure=props.measure,
            unit=props.unit,
            size=props.size,
            centroid_mm=props.centroid_mm,
            bbox_mm=props.bbox_mm,
            components=[
                ComponentModel(centroid_mm=c.centroid_mm, size=c.size) for c in props.components
            ],
        )


class AnnotationModel(ServiceModel):
    """What is known of a region in one space: its best view point and spatial properties."""

    best_view_point: CoordinatePointModel = Field(alias="bestViewPoint")
    spatial_props: SpatialPropsModel = Field(alias="spatialProps")

    @classmethod
    def of(cls, props: SpatialProperties | SurfaceProperties, space: Space) -> AnnotationModel:
        """The annotation of a region whose spatial properties in ``space`` are ``props``.

        The best view point is the centroid of the whole region.
        """
        return cls(
            best_view_point=CoordinatePointModel.of(props.centroid_mm, space),
            spatial_props=SpatialPropsModel.of(props, space),
        )


class RegionModel(ServiceModel):
    """A region: ``@id`` is the parcellation's ``@id``, ``#`` and the region's name."""

    id: str = Field(alias="@id")
    type: Literal["siibra-0.4/region"] = Field("siibra-0.4/region", alias="@type")
    name: str
    has_parent: str | None = Field(alias="hasParent")
    rgb: tuple[int, int, int] | None
    parcellation: AtIdModel
    has_annotation: AnnotationModel | None = Field(None, alias="hasAnnotation")

    @classmethod
    def of(cls, region: Region, annotation: AnnotationModel | None = None) -> RegionModel:
        """Serialise a :class:`~neuratlas.core.region.Region`, with its annotation in a space."""
        parent = region.parent
        return cls(
            id=region.id,
            name=region.name,
            has_parent=parent.id if parent is not None else None,
            rgb=region.rgb,
            parcellation=AtIdModel(id=region.parcellation.id),
            has_annotation=annotation,
        )


class RegionRelationModel(ServiceModel):
    """How a region of another parcellation relates to the queried region, in one space."""

    type: Literal["siibra-0.4/regionrelation"] = Field("siibra-0.4/regionrelation", alias="@type")
    qualification: Literal["EXACT", "CONTAINS", "CONTAINED", "OVERLAPS"]
    query_structure: AtIdModel
    assigned_structure: RegionModel
    assigned_structure_parcellation: AtIdModel
    space: AtIdModel
    intersection_over_union: float
    contained: float
    contains: float

    @classmethod
    def of(cls, query: Region, relation: RegionRelation) -> RegionRelationModel:
        """Serialise one relation of ``query`` (see ``Region.get_related_regions``)."""
        return cls(
            qualification=relation.qualification,
            query_structure=AtIdModel(id=query.id),
            assigned_structure=RegionModel.of(relation.region),
            assigned_structure_parcellation=AtIdModel(id=relation.region.parcellation.id),
            space=AtIdModel(id=relation.space.id),
            intersection_over_union=relation.intersection_over_union,
            contained=relation.contained,
            contains=relation.contains,
        )


class MapIndexModel(ServiceModel):
    """Where a region is in a map: volume, label and fragment as in siibra-api.

    ``z`` is neuratlas's index into a 4D volume (one region map per index), null
    for labels.
    """

    volume: int
    label: int | None
    fragment: str | None
    z: int | None = None

    @classmethod
    def of(cls, index: MapIndex) -> MapIndexModel:
        """Serialise a :class:`~neuratlas.core.map_index.MapIndex`."""
        return cls(volume=index.volume, label=index.label, fragment=index.fragment, z=index.z)


class MapModel(ServiceModel):
    """A parcellation map in one space: its volumes and where each region is in them."""

    id: str = Field(alias="@id")
    type: Literal["siibra-0.4/map"] = Field("siibra-0.4/map", alias="@type")
    name: str
    short_name: str = Field(alias="shortName")
    description: str
    maptype: Literal["labelled", "statistical"]
    threshold: float | None
    space: AtIdModel
    parcellation: AtIdModel
    volumes: list[VolumeModel]
    indices: dict[str, list[MapIndexModel]]

    @classmethod
    def of(cls, the_map: Map) -> MapModel:
        """Serialise a :class:`~neuratlas.core.maps.Map`."""
        return cls(
            id=the_map.id,
            name=the_map.name,
            short_name=the_map.short_name,
            description=the_map.description,
            maptype=the_map.maptype.value,
            threshold=the_map.threshold,
            space=AtIdModel(id=the_map.space.id),
            parcellation=AtIdModel(id=the_map.parcellation.id),
            volumes=[VolumeModel.of(v) for v in the_map.volumes],
            indices={
                name: [MapIndexModel.of(i) for i in entries]
                for name, entries in the_map.indices.items()
            },
        )


class StatisticInfoModel(ServiceModel):
    """The value range of a statistical map (siibra-api's ``StatisticModelInfo``)."""

    min: float
    max: float


class FeatureTypeModel(ServiceModel):
    """A feature type: its class hierarchy (``Feature.Tabular...``), category and modality."""

    name: str
    category: str | None
    modality: str | None = None
