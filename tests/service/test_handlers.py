"""The siibra-api data handlers on the embedded catalogue and on the toy atlas."""

from __future__ import annotations

import os
import zipfile
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest

import neuratlas
from neuratlas.errors import (
    AmbiguousError,
    ArgumentError,
    ArgumentTypeError,
    DataUnavailableError,
    NotFoundError,
)
from neuratlas.retrieval.cache import cache_dir
from neuratlas.service import handlers
from neuratlas.service.models import (
    AtlasModel,
    MapModel,
    ParcellationModel,
    RegionModel,
    SpaceModel,
)
from tests.toy_atlas import LEAVES, PARC_ID, SPACE_ID

JUELICH_HIP1 = ("juelich", "hIP1 left")
NLIN6 = "MNI152 NLin6"


@pytest.fixture
def fresh_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty cache for one test, so that the first call of a file handler makes the file."""
    monkeypatch.setenv("NEURATLAS_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache"


def _data(path: str) -> np.ndarray:
    return np.asanyarray(nib.load(path).dataobj)


# --- atlases, spaces, parcellations ------------------------------------------------
def test_all_atlases_lists_the_catalogue_s_atlases_as_models() -> None:
    models = handlers.all_atlases()
    assert all(isinstance(m, AtlasModel) for m in models)
    assert [m.id for m in models] == [a.id for a in neuratlas.atlases]


def test_single_atlas_by_name_key_and_id_gives_the_same_model() -> None:
    atlas = neuratlas.atlases[0]
    by_id = handlers.single_atlas(atlas.id)
    assert by_id == handlers.single_atlas(atlas.name) == handlers.single_atlas(atlas.key)
    assert [s.id for s in by_id.spaces] == [s.id for s in atlas.spaces]


def test_all_parcellations_and_spaces_follow_the_catalogue() -> None:
    parcs = handlers.all_parcellations()
    spaces = handlers.all_spaces()
    assert all(isinstance(m, ParcellationModel) for m in parcs)
    assert all(isinstance(m, SpaceModel) for m in spaces)
    assert [m.id for m in parcs] == [p.id for p in neuratlas.parcellations]
    assert [m.id for m in spaces] == [s.id for s in neuratlas.spaces]


def test_single_parcellation_and_space_use_the_fuzzy_lookup() -> None:
    assert handlers.single_parcellation("juelich").id == neuratlas.get_parcellation("juelich").id
    parc_id = "neuratlas/parcellation/aal2"
    model = handlers.single_parcellation(parc_id)
    assert model.version is not None
    assert (model.version.prev.id, model.version.next.id) == (
        "neuratlas/parcellation/aal1",
        "neuratlas/parcellation/aal3",
    )
    space = handlers.single_space(NLIN6)
    assert space.id == neuratlas.get_space(NLIN6).id
    assert space.default_image[0].formats == neuratlas.get_space(NLIN6).volumes[0].formats


@pytest.mark.parametrize(
    "call",
    [
        lambda: handlers.single_atlas("no such atlas"),
        lambda: handlers.single_parcellation("no such parcellation"),
        lambda: handlers.single_space("no such space"),
        lambda: handlers.all_regions("no such parcellation"),
    ],
)
def test_unknown_ids_raise_not_found(call) -> None:
    with pytest.raises(NotFoundError):
        call()


def test_a_misspelt_region_raises_not_found_with_suggestions() -> None:
    with pytest.raises(NotFoundError) as caught:
        handlers.single_region("juelich", "hIP9 left")
    assert caught.value.suggestions
    assert all(isinstance(s, str) for s in caught.value.suggestions)


def test_an_ambiguous_id_raises_ambiguous_with_candidates() -> None:
    with pytest.raises(AmbiguousError) as caught:
        handlers.single_parcellation("harvard")
    assert len(caught.value.candidates) == 2
    with pytest.raises(AmbiguousError) as caught:
        handlers.single_region("juelich", "hIP left")
    assert len(caught.value.candidates) >= 2


# --- regions -----------------------------------------------------------------------
def test_all_regions_lists_every_region_but_the_parcellation() -> None:
    parc = neuratlas.get_parcellation("juelich")
    models = handlers.all_regions("juelich")
    assert [m.id for m in models] == [r.id for r in parc if r is not parc]
    assert parc.id not in {m.id for m in models}


def test_all_regions_with_find_gives_the_matches_best_first() -> None:
    models = handlers.all_regions("juelich", find="hIP1")
    parc = neuratlas.get_parcellation("juelich")
    assert [m.id for m in models] == [r.id for r in parc.find("hIP1")]
    assert models[0].name == "Anterior intra-parietal sulcus hIP1"
    assert handlers.all_regions("juelich", find="no such words at all") == []


def test_single_region_without_space_has_no_annotation() -> None:
    region = neuratlas.get_region(*JUELICH_HIP1)
    model = handlers.single_region(*JUELICH_HIP1)
    assert isinstance(model, RegionModel)
    assert (model.id, model.name, model.rgb) == (region.id, region.name, region.rgb)
    assert model.has_parent == region.parent.id
    assert model.has_annotation is None
    # the @id is a lookup id too
    assert handlers.single_region("juelich", region.id) == model


def _assert_annotation_is(model: RegionModel, region, space_id: str) -> None:
    props = region.spatial_props(space_id)
    annotation = model.has_annotation
    assert annotation is not None
    point = annotation.best_view_point
    assert point.coordinate_space.id == neuratlas.get_space(space_id).id
    assert [c.value for c in point.coordinates] == pytest.approx(props.centroid_mm)
    spatial = annotation.spatial_props
    assert (spatial.measure, spatial.size) == ("volume", pytest.approx(props.volume_mm3))
    assert spatial.bbox_mm == props.bbox_mm
    assert [c.centroid_mm for c in spatial.components] == [c.centroid_mm for c in props.components]
    assert [c.size for c in spatial.components] == [c.volume_mm3 for c in props.components]


def test_single_region_in_a_space_carries_the_region_s_spatial_properties(toy_active) -> None:
    region = neuratlas.get_region(PARC_ID, "Area B left")
    model = handlers.single_region(PARC_ID, "Area B left", SPACE_ID)
    _assert_annotation_is(model, region, SPACE_ID)
    assert len(model.has_annotation.spatial_props.components) == 2  # two separate blocks


@pytest.mark.slow  # the Juelich labelled map is computed from its 121 probability maps
def test_single_region_juelich_hip1_left_in_mni152_nlin6() -> None:
    model = handlers.single_region(*JUELICH_HIP1, space_id=NLIN6)
    _assert_annotation_is(model, neuratlas.get_region(*JUELICH_HIP1), NLIN6)


def test_single_region_in_a_surface_space_gives_its_area() -> None:
    region = neuratlas.get_parcellation("desikan").leaves[3]
    props = region.spatial_props("fsaverage5")
    model = handlers.single_region("desikan", region.name, "fsaverage5")
    spatial = model.has_annotation.spatial_props
    assert (spatial.measure, spatial.unit) == ("area", "mm²")
    assert spatial.size == pytest.approx(props.area_mm2)
    point = model.has_annotation.best_view_point
    assert [c.value for c in point.coordinates] == pytest.approx(props.centroid_mm)


def test_single_region_in_a_space_without_a_map_raises_not_found() -> None:
    with pytest.raises(NotFoundError):
        handlers.single_region(*JUELICH_HIP1, space_id="fsaverage5")


@pytest.fixture
def toy_versions_alike(toy_copy: Path):
    """The toy configuration with version 1's map made local: the same labels as version 2."""
    from neuratlas import catalogue

    spec = toy_copy / "maps" / "toy-v1-remote.json"
    spec.write_text(
        spec.read_text().replace("http://127.0.0.1:9/toy/labels.nii.gz", "../data/labels.nii.gz")
    )
    previous = catalogue._active
    try:
        yield neuratlas.use_configuration(toy_copy, strict=True)
    finally:
        catalogue._active = previous


def test_get_related_regions_serialises_each_relation(toy_versions_alike) -> None:
    region = neuratlas.get_region(PARC_ID, "Area A left")
    relations = region.get_related_regions()
    models = handlers.get_related_regions(PARC_ID, "Area A left")
    assert len(models) == len(relations) > 0
    for model, rel in zip(models, relations, strict=True):
        assert model.query_structure.id == region.id
        assert model.assigned_structure.id == rel.region.id
        assert model.assigned_structure_parcellation.id == rel.region.parcellation.id
        assert model.space.id == rel.space.id
        assert model.qualification == rel.qualification
        assert model.intersection_over_union == rel.intersection_over_union
    # version 1 draws Area A left with the same labels: an exact match comes first
    best = models[0]
    assert best.assigned_structure.id == "toy/parcellation/toy-v1#Area A - left hemisphere"
    assert best.qualification == "EXACT"


def test_all_feature_types_lists_the_class_hierarchy_as_siibra_api() -> None:
    types = {t.name: t.category for t in handlers.all_feature_types()}
    assert types["Feature.Tabular.CorticalProfile.CellDensityProfile"] == "tabular"
    assert types["Feature.RegionalConnectivity.FunctionalConnectivity"] == "connectivity"
    assert types["Feature.Image.VolumeOfInterest"] == "image"
    assert types["Feature.SampleLocations"] == "location"
    assert "Feature" not in types  # the subclasses, as siibra-api lists them
    assert all(name.startswith("Feature.") for name in types)
    modality = {t.name: t.modality for t in handlers.all_feature_types()}
    assert modality["Feature.RegionalConnectivity.FunctionalConnectivity"] == (
        "functional connectivity"
    )
    assert modality["Feature.Tabular.GeneExpressions"] == "gene expression"


# --- get_map -----------------------------------------------------------------------
@pytest.mark.parametrize("maptype", ["labelled", "LABELLED", neuratlas.MapType.LABELLED])
def test_get_map_serialises_the_map_and_its_indices(maptype) -> None:
    the_map = neuratlas.get_map("aal3", NLIN6, "labelled")
    model = handlers.get_map("aal3", NLIN6, maptype)
    assert isinstance(model, MapModel)
    assert (model.id, model.maptype) == (the_map.id, "labelled")
    assert set(model.indices) == set(the_map.indices)
    name = the_map.regions[0]
    assert [i.label for i in model.indices[name]] == [i.label for i in the_map.indices[name]]


def test_get_map_with_an_unknown_map_type_is_an_argument_error() -> None:
    with pytest.raises(ArgumentError, match="map type"):
        handlers.get_map("aal3", NLIN6, "probabilistic")
    with pytest.raises(ArgumentTypeError):
        handlers.get_map("aal3", NLIN6, 3)


def test_get_map_where_there_is_none_raises_not_found() -> None:
    with pytest.raises(NotFoundError):
        handlers.get_map("aal3", "fsaverage5", "labelled")


# --- map files ---------------------------------------------------------------------
def test_labelled_map_file_equals_the_fetched_map_and_is_reused(fresh_cache: Path) -> None:
    path, cached = handlers.get_parcellation_labelled_map("aal3", NLIN6)
    assert not cached
    assert Path(path).parent == cache_dir(handlers.SERVICE_AREA)
    assert Path(path).is_relative_to(fresh_cache)
    expected = neuratlas.get_map("aal3", NLIN6, "labelled").fetch()
    np.testing.assert_array_equal(_data(path), np.asanyarray(expected.dataobj))
    np.testing.assert_allclose(nib.load(path).affine, expected.affine)
    # the same request through other names reuses the file
    again = handlers.get_parcellation_labelled_map(
        "neuratlas/parcellation/aal3", "neuratlas/space/mni152-nlin6-asym"
    )
    assert again == (path, True)


def test_reusing_a_file_marks_it_as_recently_used(fresh_cache: Path) -> None:
    path, _ = handlers.get_parcellation_labelled_map("aal3", NLIN6)
    os.utime(path, (1_000_000, 1_000_000))
    handlers.get_parcellation_labelled_map("aal3", NLIN6)
    assert os.stat(path).st_mtime > 1_000_000


def test_labelled_map_of_a_region_is_its_mask(toy_active, fresh_cache: Path) -> None:
    the_map = neuratlas.get_map(PARC_ID, SPACE_ID, "labelled")
    path, cached = handlers.get_parcellation_labelled_map(PARC_ID, SPACE_ID, "Area A left")
    assert not cached
    expected = the_map.fetch_mask("Area A - left hemisphere")
    np.testing.assert_array_equal(_data(path), np.asanyarray(expected.dataobj))
    whole, _ = handlers.get_parcellation_labelled_map(PARC_ID, SPACE_ID)
    assert whole != path  # the whole map and a region's mask are different files


def test_a_surface_map_has_no_nifti_file() -> None:
    with pytest.raises(ArgumentError, match="surface"):
        handlers.get_parcellation_labelled_map("desikan", "fsaverage5")


def test_statistical_map_file_equals_the_region_s_map(toy_active, fresh_cache: Path) -> None:
    the_map = neuratlas.get_map(PARC_ID, SPACE_ID, "statistical")
    path, cached = handlers.get_region_statistic_map(PARC_ID, "Area B left", SPACE_ID)
    assert not cached
    expected = np.asanyarray(the_map.fetch(region="Area B - left hemisphere").dataobj)
    np.testing.assert_allclose(_data(path), expected)
    assert handlers.cache_region_statistic_map(PARC_ID, "Area B left", SPACE_ID) == (path, True)


def test_statistical_map_info_is_the_map_s_range(toy_active, fresh_cache: Path) -> None:
    the_map = neuratlas.get_map(PARC_ID, SPACE_ID, "statistical")
    for leaf in LEAVES:
        values = np.asanyarray(the_map.fetch(region=leaf).dataobj)
        info = handlers.get_region_statistic_map_info(PARC_ID, leaf, SPACE_ID)
        assert (info.min, info.max) == pytest.approx((values.min(), values.max()))
        assert info.max > info.min


def test_statistical_map_of_the_embedded_juelich_atlas(juelich_statistical) -> None:
    path, _ = handlers.get_region_statistic_map("juelich", "hIP1 left", NLIN6)
    expected = np.asanyarray(juelich_statistical.fetch(region="hIP1 left").dataobj)
    np.testing.assert_allclose(_data(path), expected)
    info = handlers.get_region_statistic_map_info("juelich", "hIP1 left", NLIN6)
    assert (info.min, info.max) == pytest.approx((expected.min(), expected.max()))


def test_statistical_map_where_there_is_none_raises_not_found() -> None:
    with pytest.raises(NotFoundError):
        handlers.get_region_statistic_map("aal3", "Precentral left", NLIN6)


def test_resampled_map_lies_on_the_template_grid(fresh_cache: Path) -> None:
    the_map = neuratlas.get_map("aal3", NLIN6, "labelled")
    template = neuratlas.get_space(NLIN6).get_template().fetch()
    path, cached = handlers.get_resampled_map("aal3", NLIN6)
    assert not cached
    img = nib.load(path)
    assert img.shape == template.shape
    np.testing.assert_allclose(img.affine, template.affine)
    # nearest neighbour: only the map's own labels appear
    labels = set(np.unique(_data(path)).tolist())
    assert labels <= {0, *np.unique(np.asanyarray(the_map.fetch().dataobj)).tolist()}
    assert len(labels) > 100
    assert handlers.get_resampled_map("aal3", NLIN6) == (path, True)


def test_data_that_cannot_be_fetched_raises_data_unavailable(
    toy_active, fresh_cache: Path, no_retry_waits
) -> None:
    with pytest.raises(DataUnavailableError):
        handlers.get_parcellation_labelled_map("toy/parcellation/toy-v1", SPACE_ID)
    assert not any(cache_dir(handlers.SERVICE_AREA).iterdir())  # nothing half-written


# --- download_all ------------------------------------------------------------------
def test_download_all_returns_the_bundle_s_path(toy_active, fresh_cache: Path) -> None:
    path = handlers.download_all(SPACE_ID, PARC_ID, "Area A left")
    assert isinstance(path, str)
    with zipfile.ZipFile(path) as bundle:
        names = bundle.namelist()
    assert "README.md" in names
    assert any(n.endswith(".nii.gz") for n in names)
    assert handlers.download_all(SPACE_ID, PARC_ID, "Area A left") == path
