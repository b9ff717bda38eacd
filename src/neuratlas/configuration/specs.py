"""Pydantic models of the four spec kinds (siibra-configurations layout).

The models accept siibra's files unchanged: unknown keys are ignored, aliases map
siibra's JSON names (``@id``, ``shortName``) to Python ones. Our own extensions use
keys prefixed ``neuratlas:``, which a siibra reader ignores.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

SPACE_TYPE = "siibra/space/v0.0.1"
PARCELLATION_TYPE = "siibra/parcellation/v0.0.1"
MAP_TYPE = "siibra/map/v0.0.1"
ATLAS_TYPE = "juelich/iav/atlas/v1.0.0"


class _Spec(BaseModel):
    model_config = ConfigDict(extra="ignore", populate_by_name=True, frozen=True)


class Reference(_Spec):
    """A link to another spec by ``@id``: ``{"@id": ...}``, or the ``@id`` string itself.

    siibra's public atlas specs list their spaces and parcellations as plain strings.
    """

    id: str = Field(alias="@id")

    @model_validator(mode="before")
    @classmethod
    def _plain_id(cls, value: Any) -> Any:
        return {"@id": value} if isinstance(value, str) else value


class Publication(_Spec):
    citation: str = ""
    url: str | None = None


class Source(_Spec):
    """Where an embedded spec's data comes from (``neuratlas:source``)."""

    package: str | None = None
    licence: str | None = None
    url: str | None = None
    notes: str | None = Field(default=None, alias="note")


class VolumeSpec(_Spec):
    """One volume: providers by format (``nii``, ``gii-mesh``, ``gii-label``, ``zip/nii``).

    A provider value is a URL, or ``{"left": url, "right": url}`` for surfaces.
    """

    providers: dict[str, str | dict[str, str]]
    variant: str | None = None
    name: str | None = None


class VersionSpec(_Spec):
    name: str | None = None
    prev: str | Reference | None = Field(default=None, alias="@prev")
    next: str | Reference | None = Field(default=None, alias="@next")
    collection: str | None = Field(default=None, alias="collectionName")


class RegionSpec(_Spec):
    name: str
    rgb: tuple[int, int, int] | None = None
    # neuratlas: other names of the region (e.g. siibra's names of an FSL area); the
    # factories spare pydantic a deep copy of a default list for each of ~10,000 regions
    aliases: list[str] = Field(default_factory=list)
    children: list[RegionSpec] = Field(default_factory=list)

    @field_validator("rgb", mode="before")
    @classmethod
    def _rgb(cls, value: Any) -> Any:
        # siibra writes colours as lists or "#rrggbb" strings
        if isinstance(value, str) and value.startswith("#") and len(value) == 7:
            return tuple(int(value[i : i + 2], 16) for i in (1, 3, 5))
        return value


class _Named(_Spec):
    """What every spec kind has: identity and names (the header of :class:`SpecHeader`)."""

    id: str = Field(alias="@id")
    type: str = Field(alias="@type")
    name: str
    short_name: str | None = Field(default=None, alias="shortName")
    aliases: list[str] = Field(default_factory=list)
    species: str | None = None
    modality: str | None = None

    @model_validator(mode="before")
    @classmethod
    def _maptype(cls, value: Any) -> Any:
        return _with_maptype(value)


def _with_maptype(value: Any) -> Any:
    """A map's raw JSON with ``maptype`` filled in when it has none.

    A map is labelled when every index has a label, else statistical. Decided on the
    raw JSON, so that a spec's header (:class:`SpecHeader`) and the whole spec
    (:class:`MapSpec`) agree without the indices being validated for the header.
    """
    if not isinstance(value, dict) or value.get("@type") != MAP_TYPE or value.get("maptype"):
        return value
    indices = value.get("indices")
    entries = (
        [e for v in indices.values() if isinstance(v, list) for e in v]
        if isinstance(indices, dict)
        else []
    )
    labelled = bool(entries) and all(
        isinstance(e, dict) and e.get("label") is not None for e in entries
    )
    return {**value, "maptype": "labelled" if labelled else "statistical"}


class _Concept(_Named):
    description: str | None = None
    publications: list[Publication] = []
    source: Source | None = Field(default=None, alias="neuratlas:source")


class SpaceSpec(_Concept):
    type: Literal["siibra/space/v0.0.1"] = Field(alias="@type")
    volumes: list[VolumeSpec] = []


class ParcellationSpec(_Concept):
    type: Literal["siibra/parcellation/v0.0.1"] = Field(alias="@type")
    version: VersionSpec | None = Field(default=None, alias="@version")
    regions: list[RegionSpec]


class MapIndexSpec(_Spec):
    volume: int = 0
    label: int | None = None
    z: int | None = None
    fragment: str | None = None


class DerivedSpec(_Spec):
    """A labelled map computed from a statistical one (``neuratlas:derived``).

    ``from`` is the statistical map's ``@id``; ``threshold`` is in that map's values
    (after its ``neuratlas:value_scale``, e.g. probabilities): a voxel is labelled only
    where its top value is above it (see :mod:`neuratlas.core.derived`).
    """

    from_id: str = Field(alias="from")
    method: Literal["maximum-probability"] = "maximum-probability"
    threshold: float = 0.0


class MapSpec(_Concept):
    type: Literal["siibra/map/v0.0.1"] = Field(alias="@type")
    space: Reference
    parcellation: Reference
    maptype: Literal["labelled", "statistical"] | None = None
    sparse: bool = Field(default=False, alias="represented_as_sparsemap")
    volumes: list[VolumeSpec] = []
    indices: dict[str, list[MapIndexSpec]]
    value_scale: float = Field(default=1.0, alias="neuratlas:value_scale")
    derived: DerivedSpec | None = Field(default=None, alias="neuratlas:derived")

    @property
    def resolved_maptype(self) -> str:
        """``labelled`` when every index has a label, else ``statistical`` (or as given)."""
        return self.maptype or "statistical"


class AtlasSpec(_Concept):
    type: Literal["juelich/iav/atlas/v1.0.0"] = Field(alias="@type")
    spaces: list[Reference] = []
    parcellations: list[Reference] = []


class SpecHeader(_Named):
    """What the catalogue needs of a spec before its objects are used.

    Names and links only (no regions, volumes or map indices), so that a catalogue
    of many large specs is indexed quickly and the rest of a spec is validated when
    its object is first used (:class:`neuratlas.configuration.loader.LoadedSpec`).
    """

    # parcellations
    version: VersionSpec | None = Field(default=None, alias="@version")
    # maps
    space: Reference | None = None
    parcellation: Reference | None = None
    maptype: Literal["labelled", "statistical"] | None = None
    sparse: bool = Field(default=False, alias="represented_as_sparsemap")
    derived: DerivedSpec | None = Field(default=None, alias="neuratlas:derived")


SPEC_MODELS: dict[str, type[_Concept]] = {
    SPACE_TYPE: SpaceSpec,
    PARCELLATION_TYPE: ParcellationSpec,
    MAP_TYPE: MapSpec,
    ATLAS_TYPE: AtlasSpec,
}
