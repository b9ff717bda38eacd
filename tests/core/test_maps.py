"""Tests of neuratlas.core.maps: labelled, statistical and surface maps on generated atlases."""

from __future__ import annotations

import json
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest

import neuratlas
from neuratlas.catalogue import Catalogue
from neuratlas.core.map_index import MapIndex, MapType
from neuratlas.errors import (
    ArgumentError,
    ArgumentTypeError,
    ImageError,
    NotFoundError,
)
from neuratlas.volumes.nifti import VolumeStack
from neuratlas.volumes.properties import SurfaceProperties
from neuratlas.volumes.surfaces import Mesh
from tests.toy_atlas import AFFINE, LEAVES, SHAPE, label_volume, probability_volumes


@pytest.fixture
def labelled(toy):
    return toy.maps["toy/map/labelled"]


@pytest.fixture
def statistical(toy):
    return toy.maps["toy/map/statistical"]


def data(img: nib.Nifti1Image) -> np.ndarray:
    return np.asanyarray(img.dataobj)


# --- MapType -------------------------------------------------------------------------------
def test_maptype_parse() -> None:
    assert MapType.parse("Labelled") is MapType.LABELLED
    assert MapType.parse(MapType.STATISTICAL) is MapType.STATISTICAL
    with pytest.raises(NotFoundError, match="unknown map type 'prob'") as info:
        MapType.parse("prob")
    assert info.value.suggestions == ["labelled", "statistical"]


# --- identity ------------------------------------------------------------------------------
def test_identity(labelled, statistical, toy) -> None:
    assert labelled.maptype is MapType.LABELLED
    assert statistical.maptype is MapType.STATISTICAL
    assert labelled.key == "TOY_V2_TOY_LABELLED"
    assert labelled.space is toy.spaces[0]
    assert labelled.regions == LEAVES
    assert not labelled.is_surface
    assert repr(labelled) == "<Map labelled 'toy v2' in 'toy': 5 regions>"
    assert statistical.value_scale == pytest.approx(0.01)


# --- labelled fetch ------------------------------------------------------------------------
def test_labelled_whole_map(labelled) -> None:
    img = labelled.fetch()
    np.testing.assert_array_equal(data(img), label_volume())
    np.testing.assert_allclose(img.affine, AFFINE)


@pytest.mark.parametrize("name", LEAVES)
def test_labelled_region_mask(labelled, name: str) -> None:
    img = labelled.fetch(region=name)
    assert data(img).dtype == np.uint8
    np.testing.assert_array_equal(data(img), label_volume() == LEAVES.index(name) + 1)


def test_labelled_region_positional_and_object(labelled) -> None:
    region = labelled.parcellation.get_region("Area A")
    a = data(labelled.fetch(region))
    b = data(labelled.fetch("Area A"))
    np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(a, np.isin(label_volume(), [1, 2]))


def test_labelled_fetch_by_index(labelled) -> None:
    img = labelled.fetch(MapIndex(volume=0, label=3))
    np.testing.assert_array_equal(data(img), label_volume() == 3)
    whole = labelled.fetch(index=MapIndex(volume=0))
    np.testing.assert_array_equal(data(whole), label_volume())
    with pytest.raises(NotFoundError, match="has no volume 1"):
        labelled.fetch(index=MapIndex(volume=1, label=1))


def test_label_lut(labelled) -> None:
    assert labelled.label_lut == {i + 1: name for i, name in enumerate(LEAVES)}


# --- statistical fetch --------------------------------------------------------------------------
@pytest.mark.parametrize("z", range(len(LEAVES)))
def test_statistical_region_equals_source_times_scale(statistical, z: int) -> None:
    img = statistical.fetch(region=LEAVES[z])
    values = data(img)
    assert values.dtype == np.float32
    expected = probability_volumes()[..., z].astype(np.float32) * np.float32(0.01)
    np.testing.assert_array_equal(values, expected)
    np.testing.assert_allclose(img.affine, AFFINE)


def test_statistical_fetch_by_index(statistical) -> None:
    img = statistical.fetch(index=MapIndex(volume=0, z=2))
    expected = probability_volumes()[..., 2].astype(np.float32) * np.float32(0.01)
    np.testing.assert_array_equal(data(img), expected)


# --- an int as the index -----------------------------------------------------------------
@pytest.mark.parametrize("label", [1, 3, 5])
def test_an_int_index_of_a_labelled_map_is_a_label(labelled, label: int) -> None:
    expected = label_volume() == label
    for img in (
        labelled.fetch(index=label),
        labelled.fetch(label),  # positional, as siibra's region_or_index
        labelled.fetch(index=np.uint8(label)),  # a label read from an image
    ):
        np.testing.assert_array_equal(data(img), expected)
    region = labelled.get_region(label)
    np.testing.assert_array_equal(data(labelled.fetch(index=label)), data(labelled.fetch(region)))


@pytest.mark.parametrize("k", range(len(LEAVES)))
def test_an_int_index_of_a_statistical_map_is_its_kth_region_map(statistical, k: int) -> None:
    expected = probability_volumes()[..., k].astype(np.float32) * np.float32(0.01)
    np.testing.assert_array_equal(data(statistical.fetch(index=k)), expected)
    np.testing.assert_array_equal(data(statistical.fetch(np.int64(k))), expected)


def test_an_int_index_of_the_embedded_juelich_map(juelich_statistical) -> None:
    whole = juelich_statistical.fetch()
    assert whole.shape == (149, 169, 154, 121)
    for k in (0, 57, 120):
        one = data(juelich_statistical.fetch(index=k))
        name, _ = juelich_statistical.sparse_entries[k]
        np.testing.assert_array_equal(one, data(juelich_statistical.fetch(region=name)))
        np.testing.assert_array_equal(whole.dataobj[..., k], one)
        assert one.dtype == np.float32 and 0 < one.max() <= 1


def test_the_whole_juelich_map_is_probabilities_not_labels(juelich_statistical) -> None:
    # it used to be the maximum-probability labels, drawn as if they were probabilities
    img = juelich_statistical.fetch()
    assert img.ndim == 4 and img.get_data_dtype() == np.float32
    peak = np.max([np.asanyarray(img.dataobj[..., k]).max() for k in range(0, 121, 10)])
    assert 0.5 < peak <= 1.0


@pytest.mark.parametrize(
    ("label", "pattern"),
    [(0, "has the label 0"), (6, "has the label 6"), (-1, "has the label -1")],
)
def test_an_int_index_that_is_no_label(labelled, label: int, pattern: str) -> None:
    with pytest.raises(NotFoundError, match=f"no region of 'Toy labelled map' {pattern}") as info:
        labelled.fetch(index=label)
    assert "label_lut" in info.value.hint


def test_label_0_of_an_embedded_map_is_not_a_region() -> None:
    aal = neuratlas.get_map("aal3", "MNI152 NLin6", "labelled")
    with pytest.raises(NotFoundError, match="has the label 0"):
        aal.fetch(index=0)
    left_precentral = aal.get_index("Precentral - left hemisphere").label
    np.testing.assert_array_equal(
        data(aal.fetch(index=left_precentral)),
        data(aal.fetch(region="Precentral - left hemisphere")),
    )


@pytest.mark.parametrize("k", [5, 99, -1])
def test_an_int_index_beyond_the_statistical_maps(statistical, k: int) -> None:
    with pytest.raises(NotFoundError, match=f"has 5 region maps: there is no map {k}") as info:
        statistical.fetch(index=k)
    assert "pass 0 to 4" in info.value.hint


@pytest.mark.parametrize("bad", ["1", 1.0, True, [1], (0, 1)])
def test_an_index_of_another_type(labelled, bad) -> None:
    with pytest.raises(ArgumentTypeError, match="index must be a MapIndex or an int") as info:
        labelled.fetch(index=bad)
    assert "region=" in info.value.hint


@pytest.mark.parametrize("bad", [1.5, b"Nucleus C", ["Nucleus C"]])
def test_a_region_of_another_type(labelled, bad) -> None:
    with pytest.raises(ArgumentTypeError, match="region must be a name or a Region"):
        labelled.fetch(region=bad)


def test_a_region_and_an_index(labelled) -> None:
    with pytest.raises(ArgumentError, match="got both a region and an index"):
        labelled.fetch("Nucleus C", index=5)


# --- masks with a threshold ----------------------------------------------------------------
@pytest.mark.parametrize("threshold", [0.0, 0.2, 0.5, 0.9])
def test_a_statistical_mask_is_where_the_map_is_above_the_threshold(
    statistical, threshold: float
) -> None:
    mask = statistical.fetch_mask("Area A", threshold=threshold)
    probs = probability_volumes().astype(np.float32) * np.float32(0.01)
    area_a = np.maximum(probs[..., 0], probs[..., 1])
    assert data(mask).dtype == np.uint8
    np.testing.assert_array_equal(data(mask), area_a > threshold)


def test_a_threshold_on_the_embedded_juelich_map(juelich_statistical) -> None:
    region = "hIP1 left"
    values = data(juelich_statistical.fetch(region=region))
    all_of_it = data(juelich_statistical.fetch_mask(region))
    half = data(juelich_statistical.fetch_mask(region, threshold=0.5))
    np.testing.assert_array_equal(all_of_it, values > 0)
    np.testing.assert_array_equal(half, values > 0.5)
    assert 0 < half.sum() < all_of_it.sum() / 4  # a 50 % core is much smaller
    whole = juelich_statistical.spatial_props(region).volume_mm3
    core = juelich_statistical.spatial_props(region, threshold=0.5).volume_mm3
    assert core == half.sum() and whole == all_of_it.sum()  # 1 mm voxels


def test_a_threshold_above_every_value(juelich_statistical) -> None:
    with pytest.raises(
        ArgumentError,
        match=r"no voxel of .*hIP1 - left hemisphere.* above the "
        r"threshold 0\.99",
    ) as info:
        juelich_statistical.fetch_mask("hIP1 left", threshold=0.99)
    assert info.value.hint == "its highest value is 0.69: use a lower threshold"


@pytest.mark.parametrize("bad", [-0.1, float("nan"), float("inf")])
def test_a_threshold_out_of_range(statistical, bad: float) -> None:
    with pytest.raises(ArgumentError, match="threshold must be a finite number >= 0"):
        statistical.fetch_mask("Nucleus C", threshold=bad)


@pytest.mark.parametrize("bad", ["0.5", None, True])
def test_a_threshold_that_is_no_number(statistical, bad) -> None:
    with pytest.raises(ArgumentTypeError, match="threshold must be a number"):
        statistical.fetch_mask("Nucleus C", threshold=bad)


def test_a_threshold_for_a_labelled_map(labelled) -> None:
    with pytest.raises(ArgumentError, match="is a labelled map: a threshold needs a statistical"):
        labelled.fetch_mask("Nucleus C", threshold=0.5)
    np.testing.assert_array_equal(
        data(labelled.fetch_mask("Nucleus C", threshold=0)), label_volume() == 5
    )


def test_statistical_non_leaf_is_voxelwise_maximum(statistical) -> None:
    img = statistical.fetch(region="Area B")
    probs = probability_volumes().astype(np.float32) * np.float32(0.01)
    np.testing.assert_array_equal(data(img), np.maximum(probs[..., 2], probs[..., 3]))


def test_statistical_whole_map_is_the_4d_image_of_probabilities(statistical) -> None:
    img = statistical.fetch()
    assert isinstance(img.dataobj, VolumeStack)  # nothing is made before it is read
    assert img.shape == (*SHAPE, len(LEAVES))
    assert img.get_data_dtype() == np.float32
    np.testing.assert_allclose(img.affine, AFFINE)
    expected = probability_volumes().astype(np.float32) * np.float32(0.01)
    for k, name in enumerate(LEAVES):
        assert statistical.sparse_entries[k] == (name, None)
        np.testing.assert_array_equal(img.dataobj[..., k], expected[..., k])
        np.testing.assert_array_equal(img.dataobj[..., k], data(statistical.fetch(region=name)))
    np.testing.assert_array_equal(np.asarray(img.dataobj), expected)
    np.testing.assert_array_equal(img.get_fdata(), expected)


def test_statistical_whole_map_at_a_resolution_is_linear_and_lazy(statistical) -> None:
    img = statistical.fetch(resolution_mm=4.0)
    assert isinstance(img.dataobj, VolumeStack)
    assert img.shape == (10, 12, 8, len(LEAVES))
    one = statistical.fetch(region=LEAVES[2], resolution_mm=4.0)
    np.testing.assert_array_equal(img.dataobj[..., 2], data(one))


def test_fetch_unmapped_or_unknown_region(labelled) -> None:
    with pytest.raises(
        NotFoundError, match="no region of 'Toy parcellation v2' matches 'Nucleus D'"
    ):
        labelled.fetch(region="Nucleus D")


def test_fetch_region_not_mapped(toy_copy: Path) -> None:
    file = toy_copy / "maps" / "toy-labelled.json"
    spec = json.loads(file.read_text())
    del spec["indices"]["Nucleus C"]
    file.write_text(json.dumps(spec))
    the_map = Catalogue([toy_copy], strict=True).maps["toy/map/labelled"]
    with pytest.raises(NotFoundError) as info:
        the_map.fetch(region="Nucleus C")
    assert "region 'Nucleus C' is not mapped in 'Toy labelled map'" in str(info.value)
    assert "Toy space" in info.value.hint  # mapped in the statistical map there


# --- MapIndex lookups both ways ------------------------------------------------------------
def test_index_lookups_both_ways_labelled(labelled) -> None:
    for i, name in enumerate(LEAVES):
        index = labelled.get_index(name)
        assert index == MapIndex(volume=0, label=i + 1)
        assert labelled.get_region(index.label).name == name
        assert labelled.get_region(index=index).name == name
        assert labelled.get_region(np.uint8(i + 1)).name == name


def test_index_lookups_both_ways_statistical(statistical) -> None:
    for z, name in enumerate(LEAVES):
        index = statistical.get_index(name)
        assert index == MapIndex(volume=0, z=z)
        assert statistical.get_region(z).name == name
        assert statistical.get_region(index=index).name == name


def test_indices_of_non_leaf(labelled) -> None:
    assert [i.label for i in labelled.get_indices("cortex")] == [1, 2, 3, 4]
    assert labelled.get_index("Area B").label == 3


def test_unknown_label(labelled) -> None:
    with pytest.raises(NotFoundError, match=r"no region of 'Toy labelled map' has index \(0, 9"):
        labelled.get_region(9)
    with pytest.raises(NotFoundError):
        labelled.get_region(1, volume=1)


# --- resampling through fetch ---------------------------------------------------------------
def test_labelled_resolution_keeps_labels(labelled) -> None:
    img = labelled.fetch(resolution_mm=1.0)
    assert img.shape == tuple(2 * n for n in SHAPE)
    assert set(np.unique(data(img))) == set(np.unique(label_volume()))
    assert data(img).dtype == label_volume().dtype
    # every 1 mm voxel carries the label of the 2 mm voxel that contains its centre
    ijk = np.indices(img.shape).reshape(3, -1).T
    world = nib.affines.apply_affine(img.affine, ijk)
    source = np.rint(nib.affines.apply_affine(np.linalg.inv(AFFINE), world)).astype(int)
    inside = np.all((source >= 0) & (source < SHAPE), axis=1)
    # the 0.5 mm rim outside the first/last source voxel centre is left out here
    expected = label_volume()[tuple(source[inside].T)]
    np.testing.assert_array_equal(data(img).reshape(-1)[inside], expected)


def test_statistical_resolution_is_linear(statistical) -> None:
    img = statistical.fetch(region=LEAVES[0], resolution_mm=4.0)
    values = data(img)
    assert values.dtype == np.float32
    assert img.shape == (10, 12, 8)
    # 4 mm voxels sit between 2 mm voxel centres: interpolated values are not all on the
    # uint8 percent lattice of the source
    lattice = np.isclose(values * 100, np.round(values * 100), atol=1e-3)
    assert not lattice.all()
    assert values.max() <= 1.0 + 1e-6


def test_mask_resolution_is_nearest(labelled) -> None:
    img = labelled.fetch(region="Nucleus C", resolution_mm=1.0)
    assert set(np.unique(data(img))) == {0, 1}
    assert data(img).sum() == 8 * (label_volume() == 5).sum()


# --- surfaces -----------------------------------------------------------------------------
def _mesh_gifti(vertices: np.ndarray, faces: np.ndarray) -> nib.gifti.GiftiImage:
    return nib.gifti.GiftiImage(
        darrays=[
            nib.gifti.GiftiDataArray(vertices.astype(np.float32), intent="NIFTI_INTENT_POINTSET"),
            nib.gifti.GiftiDataArray(faces.astype(np.int32), intent="NIFTI_INTENT_TRIANGLE"),
        ]
    )


def _label_gifti(labels: np.ndarray) -> nib.gifti.GiftiImage:
    return nib.gifti.GiftiImage(
        darrays=[nib.gifti.GiftiDataArray(labels.astype(np.int32), intent="NIFTI_INTENT_LABEL")]
    )


def _octahedron(shift: float) -> tuple[np.ndarray, np.ndarray]:
    vertices = np.array(
        [[1, 0, 0], [-1, 0, 0], [0, 1, 0], [0, -1, 0], [0, 0, 1], [0, 0, -1]], float
    )
    vertices[:, 0] += shift
    faces = np.array(
        [[0, 2, 4], [2, 1, 4], [1, 3, 4], [3, 0, 4], [2, 0, 5], [1, 2, 5], [3, 1, 5], [0, 3, 5]]
    )
    return vertices, faces


SURFACE_LABELS = {"left": np.array([1, 1, 2, 2, 0, 3]), "right": np.array([2, 0, 1, 1, 1, 3])}


@pytest.fixture
def surface_folder(tmp_path: Path) -> Path:
    root = tmp_path / "surf"
    for sub in ("spaces", "parcellations", "maps", "data"):
        (root / sub).mkdir(parents=True)
    for hemi, shift in (("left", -50.0), ("right", 50.0)):
        nib.save(_mesh_gifti(*_octahedron(shift)), root / "data" / f"{hemi}.pial.gii")
        nib.save(_label_gifti(SURFACE_LABELS[hemi]), root / "data" / f"{hemi}.label.gii")
    space = {
        "@id": "surf/space",
        "@type": "siibra/space/v0.0.1",
        "name": "Tiny surface",
        "shortName": "tiny",
        "volumes": [
            {
                "providers": {
                    "gii-mesh": {
                        "left": "../data/left.pial.gii",
                        "right": "../data/right.pial.gii",
                    }
                },
                "variant": "pial",
            }
        ],
    }
    parc = {
        "@id": "surf/parc",
        "@type": "siibra/parcellation/v0.0.1",
        "name": "Tiny surface parcellation",
        "regions": [
            {
                "name": "Area S",
                "children": [
                    {"name": "Area S - left hemisphere"},
                    {"name": "Area S - right hemisphere"},
                ],
            },
            {"name": "Area T"},
        ],
    }
    labels = {"left": "../data/left.label.gii", "right": "../data/right.label.gii"}
    smap = {
        "@id": "surf/map",
        "@type": "siibra/map/v0.0.1",
        "name": "Tiny surface map",
        "space": {"@id": "surf/space"},
        "parcellation": {"@id": "surf/parc"},
        "volumes": [{"providers": {"gii-label": labels}}],
        "indices": {
            "Area S - left hemisphere": [{"volume": 0, "label": 1, "fragment": "left"}],
            "Area S - right hemisphere": [{"volume": 0, "label": 1, "fragment": "right"}],
            "Area T": [{"volume": 0, "label": 2}],
        },
    }
    for sub, name, obj in (
        ("spaces", "s", space),
        ("parcellations", "p", parc),
        ("maps", "m", smap),
    ):
        (root / sub / f"{name}.json").write_text(json.dumps(obj))
    return root


@pytest.fixture
def surface_map(surface_folder: Path):
    return Catalogue([surface_folder], strict=True).maps[0]


def test_surface_space_and_map(surface_map) -> None:
    assert surface_map.space.is_surface
    assert surface_map.is_surface
    assert surface_map.maptype is MapType.LABELLED


def test_surface_whole_map_merges_hemispheres(surface_map) -> None:
    mesh = surface_map.fetch()
    assert isinstance(mesh, Mesh)
    assert mesh.n_vertices == 12
    assert len(mesh.faces) == 16
    np.testing.assert_array_equal(
        mesh.labels, np.concatenate([SURFACE_LABELS["left"], SURFACE_LABELS["right"]])
    )
    assert list(mesh.hemispheres) == ["left"] * 6 + ["right"] * 6
    # faces of the right hemisphere point at its own vertices
    assert mesh.faces[8:].min() == 6
    assert mesh.vertices[:6, 0].mean() == pytest.approx(-50)


def test_surface_one_hemisphere(surface_map) -> None:
    mesh = surface_map.fetch(fragment="right")
    assert mesh.n_vertices == 6
    np.testing.assert_array_equal(mesh.labels, SURFACE_LABELS["right"])


def test_surface_region_masks(surface_map) -> None:
    left = surface_map.fetch(region="Area S left")
    expected = np.concatenate([SURFACE_LABELS["left"] == 1, np.zeros(6, bool)])
    np.testing.assert_array_equal(left.labels, expected.astype(int))
    both = surface_map.fetch(region="Area S")
    labels = np.concatenate([SURFACE_LABELS["left"], SURFACE_LABELS["right"]])
    np.testing.assert_array_equal(both.labels, (labels == 1).astype(int))
    t = surface_map.fetch(region="Area T", fragment="left")
    np.testing.assert_array_equal(t.labels, (SURFACE_LABELS["left"] == 2).astype(int))


def test_surface_label_count_mismatch(surface_folder: Path) -> None:
    nib.save(_label_gifti(np.array([1, 2, 3])), surface_folder / "data" / "left.label.gii")
    fresh = Catalogue([surface_folder], strict=True).maps[0]
    with pytest.raises(ImageError, match="3 labels for a mesh of 6 vertices"):
        fresh.fetch(fragment="left")


def test_surface_bad_fragment(surface_map) -> None:
    with pytest.raises(NotFoundError, match="has no fragment 'middle'"):
        surface_map.fetch(fragment="middle")


def test_surface_masks_are_meshes_of_zeros_and_ones(surface_map) -> None:
    mask = surface_map.fetch_mask("Area S left")
    assert isinstance(mask, Mesh) and mask.labels.dtype == np.uint8
    expected = np.concatenate([SURFACE_LABELS["left"] == 1, np.zeros(6, bool)])
    np.testing.assert_array_equal(mask.labels, expected)
    np.testing.assert_array_equal(mask.hemispheres, ["left"] * 6 + ["right"] * 6)


def test_surface_spatial_properties(surface_map) -> None:
    props = surface_map.spatial_props("Area S")
    assert isinstance(props, SurfaceProperties)
    assert (props.measure, props.unit) == ("area", "mm²")
    # label 1: vertices 0, 1 of the left octahedron, 2, 3, 4 of the right one; each
    # vertex of these octahedra (radius 1) has 4 faces of area sqrt(3)/2 * ... / 3
    face = np.sqrt(3) / 4 * 2  # equilateral triangles with sides sqrt(2)
    assert props.area_mm2 == pytest.approx(5 * 4 * face / 3)
    assert [c.vertices for c in props.components] == [3, 1, 1]  # 0 and 1 are opposite
    assert props.bbox_mm[0][0] == pytest.approx(-51) and props.bbox_mm[1][0] == pytest.approx(50)


def test_surface_fetch_by_label(surface_map) -> None:
    mask = surface_map.fetch(index=2)
    labels = np.concatenate([SURFACE_LABELS["left"], SURFACE_LABELS["right"]])
    np.testing.assert_array_equal(mask.labels, labels == 2)


def test_surface_maps_have_no_resolution(surface_map) -> None:
    with pytest.raises(ArgumentError, match="is a surface map: it has no voxels to resample"):
        surface_map.fetch(resolution_mm=2.0)


def test_thresholded_maximum_probability_maps_have_their_own_key_and_threshold() -> None:
    import neuratlas

    plain = neuratlas.get_map("juelich", "MNI152 NLin6", "labelled")
    thr25 = neuratlas.get_map("juelich", "MNI152 NLin6", threshold=0.25)
    thr50 = neuratlas.parcellations["juelich"].get_map("MNI152 NLin6", threshold=0.5)
    assert (plain.threshold, thr25.threshold, thr50.threshold) == (0.0, 0.25, 0.5)
    assert thr25.derived_from is thr50.derived_from is plain.derived_from
    assert plain.derived_from.maptype.value == "statistical"
    assert plain.derived_from.derived_from is None and plain.derived_from.threshold is None
    assert len({plain.key, thr25.key, thr50.key}) == 3
    assert thr25.key.endswith("_THR25")
    # the plain map keeps the key users had: no ambiguity with the thresholded ones
    assert neuratlas.maps[plain.key] is plain
    assert neuratlas.maps[thr50.key] is thr50
