"""The fs_LR 32k space and its surface parcellations (tools/fslr_specs.py), against brainspace."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from neuratlas.catalogue import Catalogue
from neuratlas.retrieval import packages
from neuratlas.volumes import providers

ROOT = Path(__file__).resolve().parents[2]
BUILTIN = ROOT / "src" / "neuratlas" / "configuration" / "builtin"
FSLR = "neuratlas/space/fs-lr-32k"


def load(kind: str, name: str) -> dict:
    return json.loads((BUILTIN / kind / f"{name}.json").read_text(encoding="utf-8"))


def fslr_maps() -> list[dict]:
    return [load("maps", p.stem) for p in sorted((BUILTIN / "maps").glob("*__fs-lr-32k__*.json"))]


def tool_module():
    spec = importlib.util.spec_from_file_location("fslr_specs", ROOT / "tools" / "fslr_specs.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_space_has_midthickness_and_spheres_of_32492_vertices() -> None:
    space = load("spaces", "fs-lr-32k")
    assert space["name"] == "fs_LR 32k"
    assert {"fsLR", "fs_LR_32k", "conte69"} <= set(space["aliases"])
    assert [v["variant"] for v in space["volumes"]] == ["midthickness", "sphere"]
    for volume in space["volumes"]:
        meshes = volume["providers"]["gii-mesh"]
        assert set(meshes) == {"left", "right"}
        for url in meshes.values():
            mesh = providers.load_mesh(packages.resolve(url))
            assert mesh.n_vertices == 32492 and len(mesh.faces) == 64980


def test_the_maps_cover_ten_parcellations_with_labels_of_their_files() -> None:
    maps = fslr_maps()
    assert len(maps) == 10
    for m in maps:
        urls = m["volumes"][0]["providers"][providers.CSV_LABEL]
        assert urls["left"] == urls["right"]
        source = np.loadtxt(packages.resolve(urls["left"]), dtype=np.int64)
        for k, side in enumerate(("left", "right")):
            half = source[k * 32492 : (k + 1) * 32492]
            labels = {
                i["label"] for es in m["indices"].values() for i in es if i["fragment"] == side
            }
            assert labels == set(np.unique(half).tolist()) - {0}, (m["@id"], side)


def test_schaefer_surface_labels_are_the_volume_labels() -> None:
    surface = load("maps", "schaefer2018-100-7__fs-lr-32k__labelled")
    volume = load("maps", "schaefer2018-100-7__mni152-nlin6-asym__labelled")
    assert {n: i[0]["label"] for n, i in surface["indices"].items()} == {
        n: i[0]["label"] for n, i in volume["indices"].items()
    }
    assert all(
        i[0]["fragment"] == ("left" if n.startswith("LH ") else "right")
        for n, i in surface["indices"].items()
    )
    assert "median" in surface["description"]
    # Schaefer 1000: one parcel has no vertex on the surface
    thousand = load("maps", "schaefer2018-1000-7__fs-lr-32k__labelled")
    assert len(thousand["indices"]) == 999 and "RH Vis 33" not in thousand["indices"]


def test_numbered_and_mesulam_parcellations() -> None:
    vdw = load("parcellations", "vosdewael-300")
    (cortex,) = vdw["regions"]
    left, right = cortex["children"]
    assert left["name"] == "Cerebral cortex - left hemisphere"
    assert [c["name"] for c in left["children"]][:2] == ["Parcel 1", "Parcel 2"]
    assert len(left["children"]) == len(right["children"]) == 150
    assert (
        "no names" in vdw["neuratlas:source"]["note"]
        or "numbers" in vdw["neuratlas:source"]["note"]
    )
    mesulam = load("maps", "mesulam__fs-lr-32k__labelled")
    assert mesulam["indices"]["Idiotypic - right hemisphere"] == [
        {"fragment": "right", "label": 4, "volume": 0}
    ]


def test_the_checks_of_the_tool_reject_wrong_files() -> None:
    fslr = tool_module()

    class BuildError(RuntimeError):
        pass

    tool = SimpleNamespace(BuildError=BuildError)
    labels = np.zeros(64984, dtype=np.int64)
    labels[0], labels[40000] = 1, 1
    with pytest.raises(BuildError, match="both hemispheres"):
        fslr.sides_of(tool, "x.csv", labels)
    order = [(False, 1), (False, 2), (False, 1), (False, 3), (True, 1)]
    assert fslr.descents(order) == pytest.approx(1 / 3)
    networks = np.zeros(64984, dtype=np.int64)  # every class "covered" by nothing
    mesulam = np.ones(64984, dtype=np.int64)
    with pytest.raises(BuildError, match="mesulam label 1"):
        fslr.check_mesulam(tool, mesulam, networks + 7)


def test_the_catalogue_fetches_a_surface_region() -> None:
    catalogue = Catalogue([BUILTIN], strict=True)
    space = catalogue.spaces["conte69"]
    assert space.is_surface
    assert space.get_template("sphere").fetch(fragment="right").n_vertices == 32492
    the_map = catalogue.get_map("mesulam", "fsLR")
    region = the_map.parcellation.get_region("Paralimbic left")
    assert region.name == "Paralimbic - left hemisphere"
    mesh = the_map.fetch(region="Paralimbic left")
    source = np.loadtxt(
        packages.resolve("pkg://brainspace/datasets/parcellations/mesulam_conte69.csv"),
        dtype=np.int64,
    )
    np.testing.assert_array_equal(mesh.labels[:32492] == 1, source[:32492] == 1)
    assert not mesh.labels[32492:].any()
