"""Pydantic models of siibra's feature spec kinds, as siibra 1.0 reads them.

Each model accepts the JSON files of a siibra configuration's ``features/``
folder unchanged (unknown keys are ignored) and keeps only what a neuratlas
feature needs: the anchor (region or parcellation, species, space, location),
the names and facets (modality, cohort, subject, receptor, paradigm) and where
the data is (files, a repository, a decoder, providers). Nothing is fetched.

The kinds, by ``@type``:

- ``siibra/feature/connectivitymatrix/v0.3`` (and ``v1.0.0``): one matrix per
  file of ``files`` (per subject, or per feature), rows and columns in the order
  of ``regions``; data at ``base_url + file`` or in a ``repository``.
- ``siibra/feature/fingerprint/receptor/v0.1``: a receptor fingerprint (``file``, a tsv).
- ``siibra/feature/profile/receptor/v0.1``: a receptor density profile (``receptor``, ``file``).
- ``siibra/feature/profile/celldensity/v0.1``: a cell density profile
  (``section``, ``patch``, ``file`` = the ``segments.txt`` of a patch).
- ``siibra/feature/fingerprint/celldensity/v0.1``: layerwise cell densities
  (``segmentfiles``, ``layerfiles``).
- ``siibra/feature/timeseries/activity/v0.1``: regional BOLD signals per subject.
- ``siibra/feature/tabular/v0.1``: a generic table (``file``, ``decoder``).
- ``siibra/feature/voi/v0.1`` and ``siibra/feature/section/v0.1``: images in a
  space (``providers`` by format, ``boundingbox``).
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator
from pydantic_core import PydanticCustomError

CONNECTIVITY_TYPES = (
    "siibra/feature/connectivitymatrix/v0.3",
    "siibra/feature/connectivitymatrix/v1.0.0",
)
#: The connectivity classes a connectivity spec's ``modality`` names (siibra's class names).
CONNECTIVITY_MODALITIES = (
    "StreamlineCounts",
    "StreamlineLengths",
    "FunctionalConnectivity",
    "AnatomoFunctionalConnectivity",
    "TracingConnectivity",
)
#: The species siibra decodes from openMINDS and MINDS identifiers (siibra.commons.Species).
SPECIES_IDS = {
    "0ea4e6ba-2681-4f7d-9fa9-49b915caaac9": "Homo sapiens",
    "97c070c6-8e1f-4ee8-9d28-18c7945921dd": "Homo sapiens",
    "f3490d7f-8f7f-4b40-b238-963dcac84412": "Rattus norvegicus",
    "ab532423-1fd7-4255-8c6f-f99dc6df814f": "Rattus norvegicus",
    "cfc1656c-67d1-4d2c-a17e-efd7ce0df88c": "Mus musculus",
    "d9875ebd-260e-4337-a637-b62fed4aa91d": "Mus musculus",
    "c541401b-69f4-4809-b6eb-82594fc90551": "Macaca fascicularis",
    "0b6df2b3-5297-40cf-adde-9443d3d8214a": "Macaca fascicularis",
    "745712aa-fad1-47c4-8ab6-088063f78f64": "Macaca mulatta",
    "3ad33ec1-5152-497d-9352-1cf4497e0edd": "Macaca mulatta",
    "ed8254b1-519c-4356-b1c9-7ead5aa1e3e1": "Macaca fuscata",
    "2ab3ecf5-76cc-46fa-98ab-309e3fd50f57": "Macaca fuscata",
    "e578d886-c55d-4174-976b-3cf43b142203": "Chlorocebus aethiops sabaeus",
    "b8bf99e7-0914-4b65-a386-d785249725f1": "Chlorocebus aethiops sabaeus",
}
_SPECIES_NAMES = {name.lower(): name for name in SPECIES_IDS.values()} | {
    "callithrix jacchus": "Callithrix jacchus"
}


def decode_species(value: Any) -> str | None:
    """The species a spec's ``species`` or ``ebrains`` field names, as siibra decodes it.

    A name (``"Homo sapiens"``, any case, ``_`` for spaces), a (MINDS or
    openMINDS) identifier, or a list or mapping holding one.

    Examples
    --------
    >>> decode_species({"openminds/Species": "97c070c6-8e1f-4ee8-9d28-18c7945921dd"})
    'Homo sapiens'
    >>> decode_species("homo_sapiens")
    'Homo sapiens'
    """
    if isinstance(value, str):
        tail = value.rstrip("/").rsplit("/", 1)[-1]
        if tail in SPECIES_IDS:
            return SPECIES_IDS[tail]
        return _SPECIES_NAMES.get(" ".join(value.replace("_", " ").split()).lower())
    if isinstance(value, dict):
        value = list(value.values())
    if isinstance(value, list | tuple):
        for item in value:
            found = decode_species(item)
            if found:
                return found
    return None


class _Spec(BaseModel):
    model_config = ConfigDict(extra="ignore", populate_by_name=True, frozen=True)


class Reference(_Spec):
    """A link to a concept by ``@id`` (and/or ``name``)."""

    id: str | None = Field(default=None, alias="@id")
    name: str | None = None


class CsvDecoder(_Spec):
    """``{"@type": "siibra/decoder/csv", ...}``: ``pandas.read_csv`` options."""

    model_config = ConfigDict(extra="allow", populate_by_name=True, frozen=True)
    type: str = Field(alias="@type")

    @field_validator("type")
    @classmethod
    def _csv(cls, value: str) -> str:
        if not value.endswith("csv"):
            raise PydanticCustomError(
                "value_error", f"only csv decoders are known (siibra/decoder/csv), not {value!r}"
            )
        return value

    @property
    def options(self) -> dict[str, Any]:
        """The ``read_csv`` options (every key but ``@type``)."""
        return dict(self.model_extra or {})


class Repository(_Spec):
    """Where the files of a spec are: a zip, a local folder, a GitLab project."""

    model_config = ConfigDict(extra="allow", populate_by_name=True, frozen=True)
    type: str = Field(alias="@type")

    @property
    def fields(self) -> dict[str, Any]:
        return {"@type": self.type, **(self.model_extra or {})}


class BoundingBoxSpec(_Spec):
    """``siibra/location/boundingbox/v0.1``: two corners (mm) in a space."""

    space: Reference | None = None
    coordinates: tuple[tuple[float, float, float], tuple[float, float, float]]


class FeatureSpec(_Spec):
    """What every feature spec may carry: identity, anchor, descriptions."""

    id: str | None = Field(default=None, alias="@id")
    type: str = Field(alias="@type")
    name: str | None = None
    region: str | None = None
    parcellation: Reference | None = None
    species: Any = None
    ebrains: dict[str, Any] = {}
    description: str | None = None
    modality: str | None = None
    publications: list[dict[str, Any]] = []
    prerelease: bool = False

    @property
    def species_name(self) -> str | None:
        """The species, from ``species`` or else from ``ebrains`` (as siibra looks)."""
        if self.species is not None:
            return decode_species(self.species)
        return decode_species(self.ebrains) if self.ebrains else None

    @property
    def parcellation_spec(self) -> str | None:
        """The parcellation by ``@id``, else by name."""
        if self.parcellation is None:
            return None
        return self.parcellation.id or self.parcellation.name


class ConnectivitySpec(FeatureSpec):
    """``siibra/feature/connectivitymatrix/v0.3``: matrices on a parcellation."""

    type: Literal[CONNECTIVITY_TYPES] = Field(alias="@type")  # type: ignore[valid-type]
    modality: Literal[CONNECTIVITY_MODALITIES]  # type: ignore[valid-type]
    cohort: str = ""
    paradigm: str | None = None
    regions: list[str]
    files: dict[str, str]
    files_indexed_by: Literal["subject", "feature"] = "subject"
    repository: Repository | None = None
    base_url: str = ""
    decoder: CsvDecoder | None = None


class TimeseriesSpec(FeatureSpec):
    """``siibra/feature/timeseries/activity/v0.1``: regional signals per subject."""

    type: Literal["siibra/feature/timeseries/activity/v0.1"] = Field(alias="@type")
    modality: Literal["RegionalBOLD"] = "RegionalBOLD"
    cohort: str = ""
    paradigm: str | None = None
    regions: list[str]
    files: dict[str, str]
    repository: Repository | None = None
    base_url: str = ""
    decoder: CsvDecoder | None = None
    timestep: str

    @field_validator("timestep")
    @classmethod
    def _timestep(cls, value: str) -> str:
        number, _, unit = value.strip().partition(" ")
        try:
            float(number)
        except ValueError:
            raise PydanticCustomError(
                "value_error", f"expected '<number> <unit>', e.g. '0.72 s', got {value!r}"
            ) from None
        if not unit.strip():
            raise PydanticCustomError(
                "value_error", f"expected '<number> <unit>', e.g. '0.72 s', got {value!r}"
            )
        return value


class ReceptorFingerprintSpec(FeatureSpec):
    """``siibra/feature/fingerprint/receptor/v0.1``: receptor densities of one region."""

    type: Literal["siibra/feature/fingerprint/receptor/v0.1"] = Field(alias="@type")
    file: str


class ReceptorProfileSpec(FeatureSpec):
    """``siibra/feature/profile/receptor/v0.1``: one receptor's density across the cortex."""

    type: Literal["siibra/feature/profile/receptor/v0.1"] = Field(alias="@type")
    receptor: str
    file: str


class CellDensityProfileSpec(FeatureSpec):
    """``siibra/feature/profile/celldensity/v0.1``: cells segmented in one BigBrain patch."""

    type: Literal["siibra/feature/profile/celldensity/v0.1"] = Field(alias="@type")
    section: str | int
    patch: str | int
    file: str


class LayerwiseCellDensitySpec(FeatureSpec):
    """``siibra/feature/fingerprint/celldensity/v0.1``: cell densities per cortical layer."""

    type: Literal["siibra/feature/fingerprint/celldensity/v0.1"] = Field(alias="@type")
    segmentfiles: list[str]
    layerfiles: list[str]

    @field_validator("layerfiles")
    @classmethod
    def _paired(cls, value: list[str], info: Any) -> list[str]:
        segments = info.data.get("segmentfiles")
        if segments is not None and len(segments) != len(value):
            raise PydanticCustomError(
                "value_error",
                f"{len(value)} layer files for {len(segments)} segment files; they come in pairs",
            )
        return value


class TabularSpec(FeatureSpec):
    """``siibra/feature/tabular/v0.1``: a generic table."""

    type: Literal["siibra/feature/tabular/v0.1"] = Field(alias="@type")
    file: str
    decoder: CsvDecoder | None = None


class ImageSpec(FeatureSpec):
    """``siibra/feature/voi/v0.1`` and ``siibra/feature/section/v0.1``: an image in a space."""

    type: Literal["siibra/feature/voi/v0.1", "siibra/feature/section/v0.1"] = Field(alias="@type")
    space: Reference
    providers: dict[str, str | dict[str, str]]
    boundingbox: BoundingBoxSpec | None = None
    time: list[float] | None = None

    @property
    def is_section(self) -> bool:
        return self.type == "siibra/feature/section/v0.1"


FEATURE_SPEC_MODELS: dict[str, type[FeatureSpec]] = {
    **dict.fromkeys(CONNECTIVITY_TYPES, ConnectivitySpec),
    "siibra/feature/timeseries/activity/v0.1": TimeseriesSpec,
    "siibra/feature/fingerprint/receptor/v0.1": ReceptorFingerprintSpec,
    "siibra/feature/profile/receptor/v0.1": ReceptorProfileSpec,
    "siibra/feature/profile/celldensity/v0.1": CellDensityProfileSpec,
    "siibra/feature/fingerprint/celldensity/v0.1": LayerwiseCellDensitySpec,
    "siibra/feature/tabular/v0.1": TabularSpec,
    "siibra/feature/voi/v0.1": ImageSpec,
    "siibra/feature/section/v0.1": ImageSpec,
}
