"""The Allen mouse CCFv3 atlas of the embedded catalogue.

The ontology ships in the parcellation spec and is tested offline; the volumes,
which come from the Allen download server, are served by a local fake
(tests/volumes/fake_download_server.py) in the released files' format.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import nibabel as nib
import nrrd
import numpy as np
import pytest

import neuratlas
from neuratlas import catalogue
from neuratlas.errors import AmbiguousError, DataUnavailableError, ImageError
from neuratlas.volumes.nrrd import read_nrrd
from tests.volumes.fake_download_server import (
    CCF_PATH,
    FakeDownloadServer,
    ccf_nrrd,
    served_mouse_specs,
)

PARC = "allen mouse"
SPACE = "Allen Mouse CCF v3"
# Allen structure ids
CA1, CA2, CP, ROOT = 382, 423, 672, 997
SHAPE = (16, 12, 20)  # PIR voxels of 25 um


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


# --------------------------------------------------------------------------- volumes


def _annotation() -> np.ndarray:
    data = np.zeros(SHAPE, dtype=np.uint32)
    data[2:14, 1:10, 2:18] = ROOT  # brain tissue without finer annotation
    data[4:8, 2:5, 3:9] = CA1  # left hemisphere (low LR index)
    data[8:10, 2:5, 3:9] = CA2
    data[4:12, 5:9, 11:17] = CP  # right hemisphere
    return data


def _template() -> np.ndarray:
    return (np.arange(np.prod(SHAPE)) % 500).astype(np.uint16).reshape(SHAPE)


@pytest.fixture
def server() -> Iterator[FakeDownloadServer]:
    files = {
        f"{CCF_PATH}annotation/ccf_2017/annotation_25.nrrd": ccf_nrrd(_annotation(), 25),
        f"{CCF_PATH}average_template/average_template_25.nrrd": ccf_nrrd(_template(), 25),
    }
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
    nrrd.write(str(path), _annotation(), {"encoding": "gzip"}, index_order="F")
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
