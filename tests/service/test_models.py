"""The service models: JSON with siibra-api's keys, one serialiser per concept."""

from __future__ import annotations

import json

import pytest
from pydantic import ValidationError

import neuratlas
from neuratlas.service.models import (
    AnnotationModel,
    AtIdModel,
    AtlasModel,
    MapModel,
    ParcellationModel,
    RegionModel,
    SpaceModel,
    StatisticInfoModel,
    VolumeModel,
)
from tests.toy_atlas import PARC_ID, SPACE_ID


def test_atlas_json_has_siibra_api_keys_and_links() -> None:
    atlas = neuratlas.atlases[0]
    data = AtlasModel.of(atlas).as_json()
    assert data["@id"] == atlas.id
    assert data["@type"] == "siibra-0.4/atlas"
    assert {"name", "shortName", "spaces", "parcellations"} <= set(data)
    assert data["spaces"] == [{"@id": s.id} for s in atlas.spaces]
    assert data["parcellations"] == [{"@id": p.id} for p in atlas.parcellations]


def test_space_json_lists_its_template_volumes_and_formats() -> None:
    space = neuratlas.get_space("fsaverage5")
    data = SpaceModel.of(space).as_json()
    assert (data["@id"], data["@type"], data["shortName"]) == (
        space.id,
        "siibra-0.4/space",
        space.short_name,
    )
    images = data["defaultImage"]
    assert [i["formats"] for i in images] == [v.formats for v in space.volumes]
    assert all(i["providesMesh"] and not i["providesImage"] for i in images)
    assert all(i["space"] == {"@id": space.id} for i in images)
    volume = VolumeModel.of(neuratlas.get_space("MNI152 NLin6").volumes[0]).as_json()
    assert (volume["providesImage"], volume["providesMesh"]) == (True, False)


def test_parcellation_json_has_version_links() -> None:
    data = ParcellationModel.of(neuratlas.get_parcellation("aal1")).as_json()
    assert data["@type"] == "siibra-0.4/parcellation"
    assert data["shortName"] == "AAL1"
    assert data["version"] == {
        "name": "1",
        "prev": None,
        "next": {"@id": "neuratlas/parcellation/aal2"},
    }
    unversioned = ParcellationModel.of(neuratlas.get_parcellation("aicha")).as_json()
    assert unversioned["version"] is None


def test_region_json_has_parent_rgb_and_parcellation() -> None:
    region = neuratlas.get_region("juelich", "hIP1 left")
    data = RegionModel.of(region).as_json()
    assert data == {
        "@id": region.id,
        "@type": "siibra-0.4/region",
        "name": region.name,
        "hasParent": region.parent.id,
        "rgb": list(region.rgb),
        "parcellation": {"@id": "neuratlas/parcellation/juelich-histological"},
        "hasAnnotation": None,
    }
    assert data["@id"] == f"{data['parcellation']['@id']}#{region.name}"


def test_a_top_level_region_s_parent_is_the_parcellation_which_has_none() -> None:
    parc = neuratlas.get_parcellation("juelich")
    top = parc.children[0]
    assert RegionModel.of(top).as_json()["hasParent"] == parc.id
    assert RegionModel.of(parc).as_json()["hasParent"] is None


def test_region_annotation_json(toy_active) -> None:
    region = neuratlas.get_region(PARC_ID, "Area A left")
    space = neuratlas.get_space(SPACE_ID)
    props = region.spatial_props(space)
    data = RegionModel.of(region, AnnotationModel.of(props, space)).as_json()
    point = data["hasAnnotation"]["bestViewPoint"]
    assert point["@type"] == "https://openminds.ebrains.eu/sands/CoordinatePoint"
    assert point["coordinateSpace"] == {"@id": SPACE_ID}
    assert [c["value"] for c in point["coordinates"]] == pytest.approx(props.centroid_mm)
    assert all(c["unit"] == {"@id": "id.link/mm"} for c in point["coordinates"])
    spatial = data["hasAnnotation"]["spatialProps"]
    assert (spatial["measure"], spatial["unit"]) == ("volume", "mm³")
    assert spatial["size"] == pytest.approx(props.volume_mm3)
    json.dumps(data)  # JSON-ready as it is


def test_map_json_has_indices_by_region_name() -> None:
    the_map = neuratlas.get_map("aal3", "MNI152 NLin6", "labelled")
    data = MapModel.of(the_map).as_json()
    assert (data["@id"], data["@type"], data["maptype"]) == (
        the_map.id,
        "siibra-0.4/map",
        "labelled",
    )
    assert data["space"] == {"@id": the_map.space.id}
    assert data["parcellation"] == {"@id": the_map.parcellation.id}
    name = the_map.regions[0]
    index = the_map.indices[name][0]
    assert data["indices"][name] == [
        {"volume": index.volume, "label": index.label, "fragment": None, "z": None}
    ]
    assert set(data["indices"]) == set(the_map.indices)


def test_statistical_map_indices_carry_the_4d_index(toy_active) -> None:
    data = MapModel.of(neuratlas.get_map(PARC_ID, SPACE_ID, "statistical")).as_json()
    zs = [entries[0]["z"] for entries in data["indices"].values()]
    assert zs == list(range(len(zs)))
    assert all(entries[0]["label"] is None for entries in data["indices"].values())


def test_models_accept_field_names_and_aliases_and_are_frozen() -> None:
    assert AtIdModel(id="x") == AtIdModel.model_validate({"@id": "x"})
    info = StatisticInfoModel(min=0.0, max=1.0)
    assert info.as_json() == {"min": 0.0, "max": 1.0}
    with pytest.raises(ValidationError):
        info.min = 2.0  # type: ignore[misc]
