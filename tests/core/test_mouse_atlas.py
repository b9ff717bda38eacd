"""The Allen mouse CCFv3 atlas of the embedded catalogue.

The ontology ships in the parcellation spec and is tested offline; the volumes,
which come from the Allen download server, are served by a local fake
(tests/volumes/fake_download_server.py) in the released files' format.

Two releases of the annotation are versions of one parcellation: 2017 (the
newest) and 2015, whose volume uses a subset of the structure ids. The phantom
served for them is drawn in micrometres (``LAYOUT_2015``, ``LAYOUT_2017``) at the
four resolutions of the server; the 2017 one carves the prosubiculum out of
2015's CA1 and redraws the primary visual area as layers, shifted.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import nibabel as nib
import nrrd
import numpy as np
import pytest

import neuratlas
from neuratlas import catalogue
from neuratlas.core.maps import variant_resolution_mm
from neuratlas.errors import (
    AmbiguousError,
    ArgumentError,
    ArgumentTypeError,
    DataUnavailableError,
    ImageError,
    NotFoundError,
)
from neuratlas.volumes.nrrd import read_nrrd
from tests.volumes.fake_download_server import (
    CCF_PATH,
    CCF_RESOLUTIONS_UM,
    FakeDownloadServer,
    annotation_path,
    ccf_nrrd,
    rasterise,
    served_mouse_specs,
)

PARC = "allen mouse"
PARC_2015 = "allen mouse 2015"
SPACE = "Allen Mouse CCF v3"
# Allen structure ids
CA1, CA2, CP, ROOT = 382, 423, 672, 997
PROS = 484682470  # prosubiculum: in the ontology, not in the 2015 annotation
VISP, VISP1, VISP23 = 385, 593, 821  # primary visual area, its layers 1 and 2/3
FIELD_UM = (400.0, 300.0, 500.0)  # P, I, R extent of the phantom
SHAPE = (16, 12, 20)  # PIR voxels of 25 um

_ROOT = (ROOT, (50, 350), (25, 250), (50, 450))
_CA2 = (CA2, (200, 250), (50, 125), (75, 225))
_CP = (CP, (100, 300), (125, 225), (275, 425))
LAYOUT_2015 = [
    _ROOT,
    (CA1, (100, 200), (50, 125), (75, 225)),
    _CA2,
    _CP,
    (VISP, (250, 350), (25, 75), (50, 250)),  # the area, unlayered
]
LAYOUT_2017 = [
    _ROOT,
    (PROS, (100, 125), (50, 125), (75, 225)),  # the anterior quarter of 2015's CA1
    (CA1, (125, 200), (50, 125), (75, 225)),
    _CA2,
    _CP,
    (VISP1, (275, 375), (25, 50), (50, 250)),  # redrawn 25 um further back, as layers
    (VISP23, (275, 375), (50, 75), (50, 250)),
]
LAYOUTS = {"2015": LAYOUT_2015, "2017": LAYOUT_2017}


# --------------------------------------------------------------------------- offline


def test_ontology_loads_offline_with_allen_names_acronyms_and_colours():
    parc = neuratlas.parcellations[PARC]
    assert parc.name == "Allen Mouse Brain Atlas (CCFv3 2017 annotation)"
    assert parc.species == "Mus musculus"
    regions = list(parc.descendants)
    assert len(regions) == 1327  # structure graph 1
    ca1 = neuratlas.get_region(PARC, "CA1")
    assert ca1.name == "Field CA1" and "CA1" in ca1.aliases
    assert ca1.parent.name == "Ammon's horn"
    assert [a.name for a in ca1.ancestors][:3] == [
        "Ammon's horn",
        "Hippocampal region",
        "Hippocampal formation",
    ]
    assert tuple(ca1.rgb) == (0x7E, 0xD0, 0x4B)
    (root,) = parc.children
    assert root.name == "root"
    assert [c.name for c in root.children][:2] == ["Basic cell groups and regions", "fiber tracts"]


@pytest.mark.parametrize(
    ("query", "name"),
    [
        ("CA1", "Field CA1"),
        ("ca1", "Field CA1"),
        ("Field CA1", "Field CA1"),
        ("VISp", "Primary visual area"),
        ("CP", "Caudoputamen"),
        ("HPF", "Hippocampal formation"),
        ("grey", "Basic cell groups and regions"),
        ("MOp", "Primary motor area"),
        ("Prosubiculum", "Prosubiculum"),  # a structure of the 2017 ontology
    ],
)
def test_regions_are_found_by_acronym_and_name(query: str, name: str):
    assert neuratlas.get_region(PARC, query).name == name


def test_acronyms_differing_only_in_case_are_told_apart_by_case():
    # "CM" (central medial nucleus of the thalamus) and "cm" (cranial nerves) differ
    # only in case: the acronym written exactly as asked wins; other spellings are ambiguous
    assert neuratlas.get_region(PARC, "CM").name == "Central medial nucleus of the thalamus"
    assert neuratlas.get_region(PARC, "cm").name == "cranial nerves"
    with pytest.raises(AmbiguousError, match="cranial nerves"):
        neuratlas.get_region(PARC, "Cm")
    assert neuratlas.get_region(PARC, "cranial nerves").aliases == ["cm"]


def test_space_and_map_are_in_the_catalogue_without_fetching():
    space = neuratlas.spaces[SPACE]
    assert space.species == "Mus musculus"
    assert space.get_template().name == "average template 25 um"
    assert space.get_template("nissl 25 um").formats == ["nrrd/ccf"]
    the_map = neuratlas.get_map(PARC, SPACE)
    assert the_map.get_index("CA1").label == CA1
    assert len(the_map.indices) == 1327
    assert neuratlas.atlases["mouse"].species == "Mus musculus"


def test_the_2015_and_2017_annotations_are_versions_of_one_parcellation():
    newest = neuratlas.parcellations[PARC]
    oldest = neuratlas.parcellations[PARC_2015]
    assert (newest.version, oldest.version) == ("2017", "2015")
    assert oldest.name == "Allen Mouse Brain Atlas (CCFv3 2015 annotation)"
    assert newest.collection == oldest.collection == "Allen Mouse Brain Atlas (CCFv3)"
    assert newest.version_spec.prev == oldest.id and newest.version_spec.next is None
    assert oldest.version_spec.next == newest.id and oldest.version_spec.prev is None
    assert newest.is_newest_version and not oldest.is_newest_version
    # words both versions share find the newest, as for every versioned family
    assert neuratlas.parcellations["allen ccfv3"] is newest
    assert [p.version for p in neuratlas.parcellations.find("allen ccfv3")] == ["2017", "2015"]
    assert neuratlas.parcellations["ccfv3 2015"] is oldest
    mouse = neuratlas.atlases["mouse"]
    assert mouse.get_parcellation() is newest
    assert oldest in mouse.parcellations


def test_both_versions_have_the_same_region_tree():
    newest = neuratlas.parcellations[PARC]
    oldest = neuratlas.parcellations[PARC_2015]
    assert [r.name for r in oldest.descendants] == [r.name for r in newest.descendants]
    assert [r.aliases for r in oldest.descendants] == [r.aliases for r in newest.descendants]
    assert [r.rgb for r in oldest.descendants] == [r.rgb for r in newest.descendants]


@pytest.mark.parametrize("release", ["2015", "2017"])
@pytest.mark.parametrize(
    ("query", "name"),
    [("CA1", "Field CA1"), ("VISp", "Primary visual area"), ("ProS", "Prosubiculum")],
)
def test_get_region_in_each_version(release: str, query: str, name: str):
    region = neuratlas.get_region(f"allen mouse {release}", query)
    assert region.name == name and query in region.aliases
    assert region.parcellation.version == release
    assert region.parcellation.get_map(SPACE).get_index(region).volume == 0


@pytest.mark.parametrize("release", ["2015", "2017"])
def test_each_version_maps_every_structure_at_every_resolution(release: str):
    the_map = neuratlas.get_map(f"allen mouse {release}", "ccfv3")
    assert the_map.parcellation.version == release
    assert the_map.variants == ["25 um", "10 um", "50 um", "100 um"]
    assert len(the_map.indices) == 1327
    assert the_map.get_index("Prosubiculum").label == PROS
    urls = [v.providers["nrrd/ccf"] for v in the_map.volumes]
    assert [u.rsplit("/", 2)[1:] for u in urls] == [
        [f"ccf_{release}", f"annotation_{um}.nrrd"] for um in (25, 10, 50, 100)
    ]


@pytest.mark.parametrize(
    ("variant", "size"),
    [("10 um", 0.01), ("25um", 0.025), ("100 µm", 0.1), ("0.5 mm", 0.5), ("pial", None)],
)
def test_a_variant_states_its_voxel_size(variant: str, size: float | None):
    assert variant_resolution_mm(variant) == (None if size is None else pytest.approx(size))


# --------------------------------------------------------------------------- volumes


def _annotation(release: str = "2017", voxel_um: int = 25) -> np.ndarray:
    """The phantom annotation as the server has it (CA1 and CA2 left, CP right)."""
    return rasterise(LAYOUTS[release], FIELD_UM, voxel_um)


def _template() -> np.ndarray:
    return (np.arange(np.prod(SHAPE)) % 500).astype(np.uint16).reshape(SHAPE)


@pytest.fixture
def server() -> Iterator[FakeDownloadServer]:
    files = {
        annotation_path(release, um): ccf_nrrd(_annotation(release, um), um)
        for release in LAYOUTS
        for um in CCF_RESOLUTIONS_UM
    }
    files[f"{CCF_PATH}average_template/average_template_25.nrrd"] = ccf_nrrd(_template(), 25)
    fake = FakeDownloadServer(files).start()
    yield fake
    fake.stop()


@pytest.fixture
def served(server: FakeDownloadServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """The mouse specs, their URLs on the fake server, as the active configuration."""
    monkeypatch.setenv("NEURATLAS_CACHE", str(tmp_path / "cache"))
    folder = served_mouse_specs(tmp_path / "config", server.base_url)
    previous = catalogue._active
    try:
        yield neuratlas.use_configuration(folder, strict=True)
    finally:
        catalogue._active = previous


def test_annotation_is_fetched_once_decoded_and_placed_in_pir(served, server):
    the_map = neuratlas.get_map(PARC, SPACE)
    img = the_map.fetch()
    assert isinstance(img, nib.Nifti1Image)
    assert np.array_equal(np.asanyarray(img.dataobj), _annotation())
    assert nib.aff2axcodes(img.affine) == ("P", "I", "R")
    assert np.allclose(nib.affines.voxel_sizes(img.affine), 0.025)
    the_map.fetch()
    assert list(server.requests.values()) == [1]  # then read from the cache


def test_masks_follow_the_ontology(served):
    the_map = neuratlas.get_map(PARC, SPACE)
    data = _annotation()
    ca1 = np.asanyarray(the_map.fetch_mask("CA1").dataobj).astype(bool)
    assert np.array_equal(ca1, data == CA1)
    # a structure's mask is its own label and those of its descendants
    horn = np.asanyarray(the_map.fetch_mask("Ammon's horn").dataobj).astype(bool)
    assert np.array_equal(horn, np.isin(data, [CA1, CA2]))
    root = np.asanyarray(the_map.fetch_mask("root").dataobj).astype(bool)
    assert np.array_equal(root, data > 0)


def test_spatial_properties(served):
    the_map = neuratlas.get_map(PARC, SPACE)
    props = the_map.spatial_props("CP")
    voxel_mm3 = 0.025**3
    assert props.volume_mm3 == pytest.approx((_annotation() == CP).sum() * voxel_mm3)


def test_assignment_of_a_point(served):
    the_map = neuratlas.get_map(PARC, SPACE)
    # the centre of voxel (6, 3, 5), inside CA1, in RAS mm: (LR, -AP, -DV) / 1000
    point = neuratlas.Point((5 * 0.025, -6 * 0.025, -3 * 0.025), space=SPACE)
    table = the_map.assign(point)
    # Allen ids reach 614,454,277: the lookup must not size a table by the largest label
    assert "Field CA1" in set(table["region"])
    assert the_map.assign(neuratlas.Point((10.0, 10.0, 10.0), space=SPACE)).empty


def test_template_is_fetched_from_the_server(served):
    img = neuratlas.spaces[SPACE].get_template().fetch()
    assert np.array_equal(np.asanyarray(img.dataobj), _template())
    assert nib.aff2axcodes(img.affine) == ("P", "I", "R")


def test_missing_resolution_on_the_server_is_data_unavailable(served):
    volume = neuratlas.spaces[SPACE].get_template("average template 100 um")
    with pytest.raises(DataUnavailableError, match=r"average_template_100\.nrrd"):
        volume.fetch()


def test_offline_fetch_names_the_url(tmp_path: Path, monkeypatch, no_retry_waits):
    monkeypatch.setenv("NEURATLAS_CACHE", str(tmp_path / "cache"))
    # nothing listens on port 9 (discard) of this host: as good as offline
    folder = served_mouse_specs(tmp_path / "config", "http://127.0.0.1:9")
    previous = catalogue._active
    try:
        neuratlas.use_configuration(folder, strict=True)
        the_map = neuratlas.get_map(PARC, SPACE)
        with pytest.raises(DataUnavailableError, match=r"annotation_25\.nrrd") as caught:
            the_map.fetch()
    finally:
        catalogue._active = previous
    assert "127.0.0.1:9" in str(caught.value)


# ------------------------------------------------------- annotations per resolution


@pytest.mark.parametrize("release", ["2015", "2017"])
@pytest.mark.parametrize("voxel_um", CCF_RESOLUTIONS_UM)
def test_a_resolution_of_the_server_fetches_that_file(served, server, release, voxel_um):
    the_map = neuratlas.get_map(f"allen mouse {release}", "ccfv3")
    img = the_map.fetch(resolution_mm=voxel_um / 1000)
    assert set(server.requests) == {annotation_path(release, voxel_um)}  # no resampling
    assert np.array_equal(np.asanyarray(img.dataobj), _annotation(release, voxel_um))
    assert np.allclose(nib.affines.voxel_sizes(img.affine), voxel_um / 1000)
    assert nib.aff2axcodes(img.affine) == ("P", "I", "R")
    by_name = the_map.fetch(variant=f"{voxel_um} um")
    assert np.array_equal(np.asanyarray(by_name.dataobj), _annotation(release, voxel_um))
    assert server.requests[annotation_path(release, voxel_um)] == 1  # cached since


def test_the_default_is_25_um(served, server):
    img = neuratlas.get_map(PARC_2015, SPACE).fetch()
    assert set(server.requests) == {annotation_path("2015", 25)}
    assert np.array_equal(np.asanyarray(img.dataobj), _annotation("2015", 25))


def test_a_region_mask_at_a_resolution_of_the_server(served, server):
    the_map = neuratlas.get_map(PARC, SPACE)
    mask = the_map.fetch(region="Ammon's horn", resolution_mm=0.01)
    assert set(server.requests) == {annotation_path("2017", 10)}
    expected = np.isin(_annotation("2017", 10), [CA1, CA2])
    assert np.array_equal(np.asanyarray(mask.dataobj).astype(bool), expected)
    # the 25 um mask, fetched next, is not the 10 um one kept in memory
    assert the_map.fetch_mask("Ammon's horn").shape == SHAPE


@pytest.mark.parametrize(
    ("resolution_mm", "read_um"),
    [(0.2, 100), (0.03, 25), (0.07, 50), (0.005, 10)],
)
def test_other_resolutions_resample_the_nearest_finer_file(
    served, server, resolution_mm: float, read_um: int
):
    img = neuratlas.get_map(PARC, SPACE).fetch(resolution_mm=resolution_mm)
    assert set(server.requests) == {annotation_path("2017", read_um)}
    assert np.allclose(nib.affines.voxel_sizes(img.affine), resolution_mm)
    field = np.asarray(img.shape) * resolution_mm * 1000
    assert np.all(field >= np.asarray(FIELD_UM) - 1e-6)  # the same field of view


def test_bad_variants_and_resolutions_fetch_nothing(served, server):
    the_map = neuratlas.get_map(PARC, SPACE)
    with pytest.raises(NotFoundError, match="no variant '7 um'") as caught:
        the_map.fetch(variant="7 um")
    assert "10 um" in caught.value.suggestions
    with pytest.raises(ArgumentError, match="must be positive, got 0"):
        the_map.fetch(resolution_mm=0)
    with pytest.raises(ArgumentError, match="must be positive"):
        the_map.fetch(resolution_mm=float("nan"))
    with pytest.raises(ArgumentTypeError, match="must be a number, got str"):
        the_map.fetch(resolution_mm="0.01")
    assert not server.requests


def _edit_map(folder: Path, release: str, edit) -> None:
    path = folder / f"maps/allen-mouse-ccfv3-{release}__allen-mouse-ccfv3__labelled.json"
    spec = json.loads(path.read_text(encoding="utf-8"))
    edit(spec)
    path.write_text(json.dumps(spec), encoding="utf-8")


def test_a_map_of_one_volume_has_no_variants_and_resamples(
    server, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.setenv("NEURATLAS_CACHE", str(tmp_path / "cache"))
    folder = served_mouse_specs(tmp_path / "config", server.base_url)
    _edit_map(folder, "2015", lambda spec: spec["volumes"].__delitem__(slice(1, None)))
    # volumes with variants whose indices name several volumes are not variants either
    _edit_map(folder, "2017", lambda spec: spec["indices"]["Field CA1"][0].update(volume=1))
    previous = catalogue._active
    try:
        neuratlas.use_configuration(folder, strict=True)
        assert neuratlas.get_map(PARC, SPACE).variants == []
        the_map = neuratlas.get_map(PARC_2015, SPACE)
        assert the_map.variants == []
        with pytest.raises(NotFoundError, match="has no variants"):
            the_map.fetch(variant="10 um")
        img = the_map.fetch(resolution_mm=0.05)
    finally:
        catalogue._active = previous
    assert set(server.requests) == {annotation_path("2015", 25)}
    assert np.allclose(nib.affines.voxel_sizes(img.affine), 0.05)


# ------------------------------------------------------------------ the 2015 annotation


def test_the_2015_volume_uses_a_subset_of_the_ontology(served):
    the_map = neuratlas.get_map(PARC_2015, SPACE)
    present = set(np.unique(np.asanyarray(the_map.fetch().dataobj)).tolist()) - {0}
    assert present <= set(the_map.label_lut)
    assert PROS not in present and {VISP1, VISP23}.isdisjoint(present)


def test_masks_of_the_2015_annotation(served):
    the_map = neuratlas.get_map(PARC_2015, SPACE)
    data = _annotation("2015")
    for name, labels in [("CA1", [CA1]), ("Ammon's horn", [CA1, CA2]), ("VISp", [VISP])]:
        mask = np.asanyarray(the_map.fetch_mask(name).dataobj).astype(bool)
        assert np.array_equal(mask, np.isin(data, labels)), name
    assert not np.asanyarray(the_map.fetch_mask("Prosubiculum").dataobj).any()
    region = neuratlas.get_region(PARC_2015, "CA1")
    mask = np.asanyarray(region.get_regional_mask(SPACE).dataobj).astype(bool)
    assert np.array_equal(mask, data == CA1)
    # the 2017 primary visual area is its layers
    newest = np.asanyarray(neuratlas.get_map(PARC, SPACE).fetch_mask("VISp").dataobj)
    assert np.array_equal(newest.astype(bool), np.isin(_annotation("2017"), [VISP1, VISP23]))


# --------------------------------------------------------- related regions, both ways


def _masks(name: str) -> tuple[np.ndarray, np.ndarray]:
    """The 2015 and 2017 masks of a region, from the phantom arrays."""
    out = []
    for release in ("2015", "2017"):
        region = neuratlas.get_region(f"allen mouse {release}", name)
        labels = [_label(r) for r in region]
        out.append(np.isin(_annotation(release), labels))
    return out[0], out[1]


def _label(region: neuratlas.Region) -> int:
    return region.parcellation.get_map(SPACE).get_index(region).label


def _figures(mine: np.ndarray, theirs: np.ndarray) -> tuple[float, float, float]:
    """(intersection over union, share of mine in theirs, share of theirs in mine)."""
    both = np.logical_and(mine, theirs).sum()
    return both / np.logical_or(mine, theirs).sum(), both / mine.sum(), both / theirs.sum()


def _related(release: str, name: str) -> dict[str, object]:
    relations = neuratlas.get_region(f"allen mouse {release}", name).get_related_regions()
    assert all(r.space.name == SPACE for r in relations)
    assert {r.region.parcellation.version for r in relations} <= {"2015", "2017"} - {release}
    names = [r.region.name for r in relations]
    assert len(names) == len(set(names)), names  # one relation per region
    return {r.region.name: r for r in relations}


@pytest.mark.parametrize(
    ("release", "name", "qualification"),
    [
        # 2017 carved the prosubiculum out of CA1: 2015's CA1 holds all of 2017's
        ("2015", "CA1", "CONTAINS"),
        ("2017", "CA1", "CONTAINED"),
        # found by name only: 2017's area is drawn through its layers' labels
        ("2015", "VISp", "OVERLAPS"),
        ("2017", "VISp", "OVERLAPS"),
        ("2015", "Ammon's horn", "CONTAINS"),
        ("2017", "Ammon's horn", "CONTAINED"),
        ("2015", "CA2", "EXACT"),
        ("2017", "CP", "EXACT"),
    ],
)
def test_a_region_relates_to_its_namesake_in_the_other_version(
    served, server, release: str, name: str, qualification: str
):
    relations = _related(release, name)
    region = neuratlas.get_region(f"allen mouse {release}", name)
    relation = relations[region.name]
    assert relation.region.parcellation.version != release
    assert relation.qualification == qualification
    mask_2015, mask_2017 = _masks(name)
    mine, theirs = (mask_2015, mask_2017) if release == "2015" else (mask_2017, mask_2015)
    iou, contained, contains = _figures(mine, theirs)
    assert relation.intersection_over_union == pytest.approx(iou)
    assert relation.contained == pytest.approx(contained)
    assert relation.contains == pytest.approx(contains)
    # every comparison reads the default (25 um) volumes
    assert set(server.requests) <= {annotation_path(r, 25) for r in LAYOUTS}


def test_the_overlap_names_the_regions_a_redrawn_region_took_its_voxels_from(served):
    ca1 = _related("2015", "CA1")
    assert set(ca1) == {"Field CA1", "Prosubiculum"}
    assert ca1["Prosubiculum"].qualification == "CONTAINS"  # all of it was 2015's CA1
    assert ca1["Prosubiculum"].contained == pytest.approx(0.25)
    prosubiculum = _related("2017", "Prosubiculum")
    # the 2015 annotation has no prosubiculum: its voxels were CA1's
    assert set(prosubiculum) == {"Field CA1"}
    assert prosubiculum["Field CA1"].qualification == "CONTAINED"
    visp = _related("2015", "VISp")
    assert {"Primary visual area layer 1", "Primary visual area layer 2/3"} <= set(visp)
    assert visp["Primary visual area"].intersection_over_union == pytest.approx(0.6)


def test_a_structure_without_voxels_relates_to_nothing(served):
    assert neuratlas.get_region(PARC_2015, "Prosubiculum").get_related_regions() == []


# ----------------------------------------------------------------- the files' decoding


@pytest.mark.parametrize(
    ("dtype", "endian"),
    [("uint32", "little"), ("uint16", "big"), ("uint8", "little"), ("float32", "big")],
)
def test_gzip_volumes_decode_as_pynrrd_does(tmp_path: Path, dtype: str, endian: str):
    # the Allen files are gzip NRRD: neuratlas decompresses them into the array directly
    data = np.asfortranarray(_annotation().astype(dtype))
    path = tmp_path / "volume.nrrd"
    header = {"space directions": np.diag([25.0] * 3), "encoding": "gzip", "endian": endian}
    nrrd.write(str(path), data, header, index_order="F")
    expected, _ = nrrd.read(str(path), index_order="F")
    decoded = np.asanyarray(read_nrrd(path, "nrrd/ccf").dataobj)
    assert decoded.dtype == expected.dtype and decoded.shape == data.shape
    assert np.array_equal(decoded, expected) and np.array_equal(decoded, data)


@pytest.mark.parametrize("encoding", ["raw", "bzip2"])
def test_other_encodings_are_read_too(tmp_path: Path, encoding: str):
    path = tmp_path / "volume.nrrd"
    header = {"space directions": np.diag([25.0] * 3), "encoding": encoding}
    nrrd.write(str(path), _annotation(), header, index_order="F")
    assert np.array_equal(np.asanyarray(read_nrrd(path, "nrrd/ccf").dataobj), _annotation())


def test_gzip_data_longer_or_shorter_than_the_header_says(tmp_path: Path):
    path = tmp_path / "volume.nrrd"
    nrrd.write(
        str(path),
        _annotation(),
        {"encoding": "gzip", "spacings": [25.0, 25.0, 25.0]},
        index_order="F",
    )
    header = nrrd.read_header(str(path))
    body = path.read_bytes()
    data_start = body.index(b"\n\n") + 2
    for sizes, words in [((16, 12, 19), "longer than"), ((16, 12, 21), "end after")]:
        text = (
            body[:data_start]
            .decode()
            .replace(
                "sizes: " + " ".join(str(n) for n in header["sizes"]),
                "sizes: " + " ".join(str(n) for n in sizes),
            )
        )
        (tmp_path / "bad.nrrd").write_bytes(text.encode() + body[data_start:])
        with pytest.raises(ImageError, match=words) as caught:
            read_nrrd(tmp_path / "bad.nrrd", "nrrd/ccf")
        assert "bad.nrrd" in str(caught.value) and "delete it" in (caught.value.hint or "")
