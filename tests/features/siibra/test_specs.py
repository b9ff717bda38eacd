"""The feature spec models: what they accept and what they refuse."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from neuratlas.features.siibra.specs import (
    FEATURE_SPEC_MODELS,
    ConnectivitySpec,
    CsvDecoder,
    ImageSpec,
    ReceptorProfileSpec,
    decode_species,
)
from tests.features.siibra import layout


@pytest.mark.parametrize(
    ("value", "species"),
    [
        ("Homo sapiens", "Homo sapiens"),
        ("homo_sapiens", "Homo sapiens"),
        ("  MUS   musculus ", "Mus musculus"),
        (
            "https://openminds.ebrains.eu/instances/species/97c070c6-8e1f-4ee8-9d28-18c7945921dd",
            "Homo sapiens",
        ),
        (
            {"minds/core/species/v1.0.0": "f3490d7f-8f7f-4b40-b238-963dcac84412"},
            "Rattus norvegicus",
        ),
        (
            {"openminds/Dataset": "0f1ccc4a-9a11-4697-b43f-9c9c8ac543e6", **layout.HUMAN},
            "Homo sapiens",
        ),
        (["nothing", "Callithrix jacchus"], "Callithrix jacchus"),
        ("Felis catus", None),
        ({"openminds/Dataset": "0f1ccc4a-9a11-4697-b43f-9c9c8ac543e6"}, None),
        (42, None),
    ],
)
def test_decode_species(value: object, species: str | None) -> None:
    assert decode_species(value) == species


def test_every_spec_of_the_layout_validates() -> None:
    for spec in layout.specs("http://x").values():
        model = FEATURE_SPEC_MODELS[spec["@type"]]
        model.model_validate(spec)


def test_connectivity_defaults_and_extras_ignored() -> None:
    spec = ConnectivitySpec.model_validate(
        {
            "@type": "siibra/feature/connectivitymatrix/v1.0.0",
            "modality": "StreamlineCounts",
            "regions": ["a", "b"],
            "files": {"0": "0.csv"},
            "something": "new",
        }
    )
    assert spec.files_indexed_by == "subject" and spec.base_url == "" and spec.cohort == ""
    assert spec.species_name is None and spec.parcellation_spec is None


def test_parcellation_by_name() -> None:
    spec = ReceptorProfileSpec.model_validate(
        {
            "@type": "siibra/feature/profile/receptor/v0.1",
            "parcellation": {"name": "Julich-Brain 3.1"},
            "receptor": "AMPA",
            "file": "x.tsv",
        }
    )
    assert spec.parcellation_spec == "Julich-Brain 3.1"


def test_csv_decoder_keeps_its_options() -> None:
    decoder = CsvDecoder.model_validate(
        {"@type": "siibra/decoder/csv", "delimiter": " ", "header": None}
    )
    assert decoder.options == {"delimiter": " ", "header": None}
    with pytest.raises(ValidationError, match="only csv decoders"):
        CsvDecoder.model_validate({"@type": "siibra/decoder/h5"})


def test_files_indexed_by_is_subject_or_feature() -> None:
    with pytest.raises(ValidationError, match="files_indexed_by"):
        ConnectivitySpec.model_validate(
            {
                "@type": "siibra/feature/connectivitymatrix/v0.3",
                "modality": "StreamlineCounts",
                "regions": [],
                "files": {},
                "files_indexed_by": "region",
            }
        )


def test_image_needs_a_space_and_providers() -> None:
    with pytest.raises(ValidationError, match="space"):
        ImageSpec.model_validate({"@type": "siibra/feature/voi/v0.1", "providers": {}})
    spec = ImageSpec.model_validate(
        {
            "@type": "siibra/feature/section/v0.1",
            "space": {"@id": "s"},
            "providers": {"nii": "x.nii"},
        }
    )
    assert spec.is_section and spec.boundingbox is None
