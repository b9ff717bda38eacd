"""Tests of neuratlas.catalogue: building, switching and extending catalogues."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import warnings
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest

import neuratlas
from neuratlas import catalogue as catalogue_module
from neuratlas.catalogue import ENV_VAR, Catalogue
from neuratlas.configuration.loader import BUILTIN, SpecWarning
from neuratlas.core.map_index import MapType
from neuratlas.errors import (
    ArgumentError,
    ArgumentTypeError,
    DataUnavailableError,
    NotFoundError,
    SpecError,
)
from neuratlas.retrieval import http
from tests.toy_atlas import PARC_ID, SPACE_ID


def edit(file: Path, change) -> None:
    data = json.loads(file.read_text())
    change(data)
    file.write_text(json.dumps(data))


@pytest.fixture
def restore_active():
    previous = catalogue_module._active
    yield
    catalogue_module._active = previous


@pytest.fixture
def fast_offline(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """A private cache and an HTTP client that does not sleep between retries."""
    cache = tmp_path / "cache"
    monkeypatch.setenv("NEURATLAS_CACHE", str(cache))
    monkeypatch.setattr(http, "_default_client", http.HttpClient(sleep=lambda _: None))
    return cache


# --- the toy catalogue ---------------------------------------------------------------------
def test_toy_tables(toy) -> None:
    assert [s.id for s in toy.spaces] == [SPACE_ID]
    assert {p.id for p in toy.parcellations} == {PARC_ID, "toy/parcellation/toy-v1"}
    assert {m.id for m in toy.maps} == {
        "toy/map/labelled",
        "toy/map/statistical",
        "toy/map/remote",
    }
    assert [a.name for a in toy.atlases] == ["Toy atlas"]
    assert toy.strict is True
    assert toy.folders[0].is_dir()


def test_maps_link_to_catalogue_objects(toy) -> None:
    labelled = toy.maps["toy/map/labelled"]
    assert labelled.space is toy.spaces[SPACE_ID]
    assert labelled.parcellation is toy.parcellations[PARC_ID]
    remote = toy.maps["toy/map/remote"]
    assert remote.parcellation is toy.parcellations["toy v1"]


def test_get_map(toy) -> None:
    assert toy.get_map("toy", "toy").id == "toy/map/labelled"
    assert toy.get_map("toy", "toy", "statistical").id == "toy/map/statistical"
    assert toy.get_map("toy", None, "STATISTICAL").id == "toy/map/statistical"
    assert toy.get_map("toy v1").id == "toy/map/remote"


def test_get_map_lists_what_is_available(toy) -> None:
    with pytest.raises(NotFoundError) as info:
        toy.get_map("toy v1", "toy", "statistical")
    assert info.value.message == "'Toy parcellation v1' has no statistical map in 'Toy space'"
    assert info.value.hint == (
        "it has no statistical map in any space; available: labelled in toy"
    )


def test_get_map_without_a_type_prefers_the_labelled_map(toy) -> None:
    assert toy.get_map("toy", "toy", None).id == "toy/map/labelled"
    assert toy.get_map("toy v1", None, None).id == "toy/map/remote"


# --- get_map on the embedded catalogue: thresholded maps, and the spaces in its errors --------
NLIN6 = "MNI 152 Nonlinear 6th Generation Asymmetric (FSL)"
ICBM_2009C = "MNI 152 ICBM 2009c Nonlinear Asymmetric"


@pytest.fixture(scope="module")
def builtin() -> Catalogue:
    return Catalogue([BUILTIN], strict=True)


@pytest.mark.parametrize("parcellation", ["juelich", "ho cortical", "ho subcortical"])
def test_get_map_picks_a_thresholded_maximum_probability_map(builtin, parcellation) -> None:
    parc = builtin.parcellations[parcellation]
    base = f"neuratlas/map/{parc.id.rsplit('/', 1)[1]}/mni152-nlin6-asym/"
    mpm = base + "maximum-probability"
    # the thresholded maps come first in catalogue order: the default must not depend on it
    labelled = [m.id for m in parc.maps if m.maptype is MapType.LABELLED]
    assert labelled == [f"{mpm}-thr25", f"{mpm}-thr50", mpm]
    for default in (
        builtin.get_map(parcellation),
        builtin.get_map(parcellation, "MNI152 NLin6"),
        builtin.get_map(parcellation, "MNI152 NLin6", "labelled"),
        builtin.get_map(parcellation, None, None),
        builtin.get_map(parcellation, "MNI152 NLin6", "labelled", threshold=0),
    ):
        assert default.id == mpm
    for threshold, suffix in ((0.25, "-thr25"), (np.float32(0.25), "-thr25"), (0.5, "-thr50")):
        the_map = builtin.get_map(parcellation, "MNI152 NLin6", "labelled", threshold=threshold)
        assert the_map.id == mpm + suffix
        assert the_map.name.endswith(f"(maximum probability map thresholded at {suffix[4:]} %)")
    # a threshold implies the labelled map
    assert builtin.get_map(parcellation, None, None, threshold=0.5).id == mpm + "-thr50"
    assert builtin.get_map(parcellation, maptype="statistical").id == base + "statistical"


def test_get_map_threshold_errors(builtin) -> None:
    with pytest.raises(ArgumentError, match="statistical maps have no threshold") as info:
        builtin.get_map("juelich", "MNI152 NLin6", "statistical", threshold=0.25)
    assert "lower_threshold" in info.value.hint
    for wrong_type in ("0.25", True, [0.25]):
        with pytest.raises(ArgumentTypeError, match="threshold must be a number, got") as info:
            builtin.get_map("juelich", threshold=wrong_type)
        assert info.value.hint.startswith("e.g. threshold=0.25")
    for bad in (-0.1, float("nan"), float("inf")):
        with pytest.raises(ArgumentError, match="threshold must be a probability of 0 or more"):
            builtin.get_map("juelich", threshold=bad)
    available = (
        "available: labelled in MNI152 NLin6 asym (also thresholded at 0.25, 0.5), "
        "statistical in MNI152 NLin6 asym"
    )
    with pytest.raises(NotFoundError) as info:
        builtin.get_map("juelich", "MNI152 NLin6 asym", threshold=0.3)
    name = builtin.parcellations["juelich"].name
    assert info.value.message == f"{name!r} has no labelled map thresholded at 0.3 in {NLIN6!r}"
    assert info.value.hint == (
        f"it has no labelled map thresholded at 0.3 in any space; {available}"
    )
    with pytest.raises(NotFoundError) as info:
        builtin.get_map("juelich", threshold=25)
    assert info.value.message == f"{name!r} has no labelled map thresholded at 25"
    assert info.value.hint == f"thresholds are probabilities: 25 % is 0.25; {available}"
    with pytest.raises(NotFoundError) as info:
        builtin.get_map("aal", threshold=0.25)
    assert info.value.hint == "available: labelled in MNI152 NLin6 asym"


def test_describe_maps_lists_each_type_and_space_once(builtin, toy) -> None:
    from neuratlas.catalogue import describe_maps

    assert describe_maps(builtin.parcellations["juelich"].maps) == (
        "labelled in MNI152 NLin6 asym (also thresholded at 0.25, 0.5), "
        "statistical in MNI152 NLin6 asym"
    )
    assert describe_maps(builtin.parcellations["desikan-killiany"].maps) == (
        "labelled in fsaverage5, labelled in MNI152 2009c nonl asym"
    )
    assert describe_maps(toy.parcellations["toy v2"].maps) == "labelled in toy, statistical in toy"
    only_thresholded = [builtin.get_map("juelich", threshold=0.5)]
    assert describe_maps(only_thresholded) == "labelled in MNI152 NLin6 asym (thresholded at 0.5)"
    assert describe_maps([]) == "none"


def test_mni152_stays_icbm_2009c_as_in_siibra(builtin) -> None:
    assert builtin.spaces["mni152"].name == ICBM_2009C
    assert builtin.spaces["MNI152 NLin6"].name == NLIN6


@pytest.mark.parametrize(
    ("parcellation", "maptype", "what"),
    [
        ("juelich", "labelled", "labelled map"),
        ("juelich", "statistical", "statistical map"),
        ("juelich", None, "map"),
        ("ho subcortical", "labelled", "labelled map"),
        ("harvard oxford cortical", "statistical", "statistical map"),
        ("aal", "labelled", "labelled map"),
        ("aal", None, "map"),
        ("talairach gyri", "labelled", "labelled map"),
    ],
)
def test_a_map_asked_for_in_mni152_names_its_type_and_the_space_to_use(
    builtin, parcellation: str, maptype: str | None, what: str
) -> None:
    parc = builtin.parcellations[parcellation]
    with pytest.raises(NotFoundError) as info:
        builtin.get_map(parcellation, "mni152", maptype)
    assert info.value.message == (
        f"{parc.name!r} has no {what} in {ICBM_2009C!r} (the space that 'mni152' names)"
    )
    assert info.value.hint.startswith("use a space where it has one: MNI152 NLin6 asym; ")
    # and the space it names has it
    assert builtin.get_map(parcellation, "MNI152 NLin6", maptype).space.name == NLIN6


def test_a_type_the_parcellation_has_in_no_space(builtin) -> None:
    with pytest.raises(NotFoundError) as info:
        builtin.get_map("aal", "mni152", "statistical")
    assert info.value.message.startswith("'Automated Anatomical Labelling atlas 3' has no ")
    assert "statistical map in" in info.value.message
    assert info.value.hint == (
        "it has no statistical map in any space; available: labelled in MNI152 NLin6 asym"
    )


def test_a_space_asked_for_by_its_own_names_needs_no_explanation(builtin) -> None:
    for own in ("MNI152 2009c nonl asym", ICBM_2009C, "neuratlas/space/mni152-2009c-nonl-asym"):
        with pytest.raises(NotFoundError) as info:
            builtin.get_map("juelich", own)
        assert info.value.message.endswith(f"has no labelled map in {ICBM_2009C!r}")


def test_get_map_bad_type(toy) -> None:
    with pytest.raises(NotFoundError, match="unknown map type 'probabilistic'") as info:
        toy.get_map("toy", "toy", "probabilistic")
    assert info.value.suggestions == ["labelled", "statistical"]


def test_get_map_unknown_parcellation_and_space(toy) -> None:
    with pytest.raises(NotFoundError, match="no parcellation matches 'julich'"):
        toy.get_map("julich", "toy")
    with pytest.raises(NotFoundError, match="no space matches 'colin'"):
        toy.get_map("toy", "colin")


def test_later_folders_replace_same_id(toy_folder: Path, tmp_path: Path) -> None:
    extra = tmp_path / "extra"
    (extra / "spaces").mkdir(parents=True)
    data = json.loads((toy_folder / "spaces" / "toy.json").read_text())
    data["name"] = "Toy space, revised"
    data["volumes"][0]["providers"]["nii"] = str(toy_folder / "data" / "template.nii.gz")
    (extra / "spaces" / "toy.json").write_text(json.dumps(data))
    both = Catalogue([toy_folder, extra], strict=True)
    assert len(both.spaces) == 1
    assert both.spaces[0].name == "Toy space, revised"
    # maps of the first folder now link to the replacement
    assert both.maps["toy/map/labelled"].space.name == "Toy space, revised"


# --- malformed and dangling specs ----------------------------------------------------------
def test_map_with_unknown_space_is_skipped_with_warning(toy_copy: Path) -> None:
    edit(toy_copy / "maps" / "toy-labelled.json", lambda d: d["space"].update({"@id": "nowhere"}))
    cat = Catalogue([toy_copy])
    with pytest.warns(SpecWarning, match="refers to unknown space 'nowhere'") as record:
        ids = {m.id for m in cat.maps}
    assert "toy-labelled.json:$.space" in str(record[0].message)
    assert ids == {"toy/map/statistical", "toy/map/remote"}


def test_map_with_unknown_parcellation_strict_raises(toy_copy: Path) -> None:
    edit(
        toy_copy / "maps" / "toy-statistical.json",
        lambda d: d["parcellation"].update({"@id": "nothing"}),
    )
    cat = Catalogue([toy_copy], strict=True)
    with pytest.raises(SpecError, match="refers to unknown parcellation 'nothing'") as info:
        cat.maps  # noqa: B018
    assert info.value.path == "$.parcellation"
    assert info.value.file.endswith("toy-statistical.json")


def test_non_strict_catalogue_keeps_good_files(toy_copy: Path) -> None:
    (toy_copy / "spaces" / "broken.json").write_text("[")
    cat = Catalogue([toy_copy])
    with pytest.warns(SpecWarning, match=r"broken\.json"):
        assert len(cat.spaces) == 1
    assert len(cat.maps) == 3


def test_strict_catalogue_raises(toy_copy: Path) -> None:
    (toy_copy / "spaces" / "broken.json").write_text("[")
    with pytest.raises(SpecError, match=r"broken\.json"):
        Catalogue([toy_copy], strict=True).spaces  # noqa: B018


def test_atlas_ignores_unknown_references(toy_copy: Path) -> None:
    edit(
        toy_copy / "atlases" / "toy.json",
        lambda d: d["parcellations"].append({"@id": "somewhere/else"}),
    )
    atlas = Catalogue([toy_copy], strict=True).atlases[0]
    assert len(atlas.parcellations) == 2


# --- loading never reads images ------------------------------------------------------------
def test_loading_reads_no_image_data(toy_copy: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    edit(
        toy_copy / "maps" / "toy-labelled.json",
        lambda d: d["volumes"][0]["providers"].update({"nii": "../data/does-not-exist.nii.gz"}),
    )

    def forbidden(*args, **kwargs):
        raise AssertionError("image data read while loading the catalogue")

    cat = Catalogue([toy_copy], strict=True)
    with monkeypatch.context() as patch:
        patch.setattr(nib, "load", forbidden)
        for table in (cat.spaces, cat.parcellations, cat.maps, cat.atlases):
            for entry in table:
                repr(entry)
        region = cat.parcellations["toy"].get_region("Area A left")
        assert region.supported_spaces == [cat.spaces[0]]
    the_map = cat.maps["toy/map/labelled"]
    with pytest.raises(DataUnavailableError) as info:
        the_map.fetch()
    assert "does-not-exist.nii.gz" in str(info.value)
    assert "does not exist" in str(info.value)


def test_remote_provider_fails_offline(toy, fast_offline: Path) -> None:
    url = "http://127.0.0.1:9/toy/labels.nii.gz"
    remote = toy.maps["toy/map/remote"]
    for _ in range(2):  # a second try does not find a half-written file either
        with pytest.raises(DataUnavailableError) as info:
            remote.fetch()
        assert url in str(info.value)
        assert info.value.source == url
        assert "download" in info.value.hint
    written = [p for p in fast_offline.rglob("*") if p.is_file()]
    assert [p for p in written if p.stat().st_size > 0] == []
    assert not [p for p in written if p.name.endswith(".nii.gz")]


# --- the active catalogue -----------------------------------------------------------------
def test_use_configuration(toy_folder: Path, restore_active) -> None:
    cat = neuratlas.use_configuration(toy_folder)
    assert catalogue_module.active() is cat
    assert cat.folders == [toy_folder]
    assert [s.id for s in neuratlas.spaces] == [SPACE_ID]
    assert neuratlas.parcellations["toy"].id == PARC_ID
    assert neuratlas.get_region("toy", "Nucleus C").name == "Nucleus C"
    assert neuratlas.get_space("toy").id == SPACE_ID
    assert neuratlas.get_map("toy", "toy", "statistical").id == "toy/map/statistical"
    assert neuratlas.get_template("toy") is neuratlas.spaces[0].volumes[0]
    img = neuratlas.fetch_template("toy")
    assert img.shape == (20, 24, 16)
    assert neuratlas.find_regions("Area A left")[0].name == ("Area A - left hemisphere")


def test_use_configuration_validates_at_once(toy_copy: Path, restore_active) -> None:
    previous = catalogue_module._active
    (toy_copy / "maps" / "broken.json").write_text("{")
    with pytest.raises(SpecError, match=r"broken\.json"):
        neuratlas.use_configuration(toy_copy, strict=True)
    assert catalogue_module._active is previous
    with pytest.warns(SpecWarning):
        neuratlas.use_configuration(toy_copy)
    with pytest.raises(SpecError, match="does not exist"):
        neuratlas.use_configuration(toy_copy / "missing")


def test_extend_configuration(toy_folder: Path, tmp_path: Path, restore_active) -> None:
    catalogue_module._active = Catalogue([toy_folder], strict=True)
    extra = tmp_path / "extra"
    (extra / "spaces").mkdir(parents=True)
    data = json.loads((toy_folder / "spaces" / "toy.json").read_text())
    data.update({"@id": "toy/space/other", "name": "Other toy space", "shortName": "other"})
    data["volumes"][0]["providers"]["nii"] = str(toy_folder / "data" / "template.nii.gz")
    (extra / "spaces" / "other.json").write_text(json.dumps(data))
    cat = neuratlas.extend_configuration(extra, strict=True)
    assert catalogue_module.active() is cat
    assert cat.folders == [toy_folder, extra]
    assert {s.id for s in neuratlas.spaces} == {SPACE_ID, "toy/space/other"}
    assert neuratlas.spaces["other"].get_template().fetch().shape == (20, 24, 16)


def test_env_var_in_subprocess(toy_folder: Path, tmp_path: Path) -> None:
    script = (
        "import json, warnings\n"
        "warnings.simplefilter('ignore')\n"
        "import neuratlas\n"
        "from neuratlas.catalogue import active\n"
        "p = neuratlas.parcellations['toy/parcellation/toy-v2']\n"
        "print(json.dumps({'folders': [str(f) for f in active().folders],"
        " 'name': p.name, 'space': neuratlas.spaces['toy/space/toy'].name}))\n"
    )
    env = {**os.environ, ENV_VAR: str(toy_folder), "NEURATLAS_CACHE": str(tmp_path)}
    done = subprocess.run(
        [sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout.strip().splitlines()[-1])
    assert out["folders"][-1] == str(toy_folder)
    assert out["folders"][0].endswith("builtin")
    assert out["name"] == "Toy parcellation v2"
    assert out["space"] == "Toy space"


def test_initial_folders_split_on_pathsep(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(ENV_VAR, os.pathsep.join(["/a", "", "/b"]))
    folders = catalogue_module._initial_folders()
    assert folders[1:] == [Path("/a"), Path("/b")]
    monkeypatch.delenv(ENV_VAR)
    assert len(catalogue_module._initial_folders()) == 1


def test_facade_unknown_attribute() -> None:
    with pytest.raises(AttributeError, match="has no attribute 'nonsense'"):
        neuratlas.nonsense  # noqa: B018
    assert "parcellations" in dir(neuratlas)


def test_catalogue_is_lazy(toy_copy: Path) -> None:
    # building the object reads nothing: a folder broken later fails on first access
    cat = Catalogue([toy_copy], strict=True)
    (toy_copy / "spaces" / "toy.json").write_text("{")
    with warnings.catch_warnings(), pytest.raises(SpecError):
        cat.spaces  # noqa: B018


# --- References: what the core objects ask -------------------------------------------------
def test_maps_of_a_parcellation_or_space_cost_no_scan_of_every_map(
    toy_copy: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    catalogue = Catalogue([toy_copy], strict=True)
    parc = catalogue.parcellations[PARC_ID]
    space = catalogue.spaces[SPACE_ID]
    expected = [m for m in catalogue.maps if m.parcellation is parc]
    assert expected and parc.maps == expected
    scans = []
    table_type = type(catalogue.maps)
    original = table_type.__iter__
    monkeypatch.setattr(
        table_type, "__iter__", lambda self: scans.append(self.kind) or original(self)
    )
    for _ in range(50):
        assert parc.maps == expected
        assert parc in space.parcellations
        assert parc.get_region("Nucleus C").supported_spaces == [space]
    assert "map" not in scans  # answered from the catalogue's index, built once


def test_by_id_resolves_exact_ids_only(toy) -> None:
    assert toy.by_id(PARC_ID) is toy.parcellations[PARC_ID]
    assert toy.by_id(SPACE_ID) is toy.spaces[SPACE_ID]
    the_map = toy.get_map("toy", "toy", "labelled")
    assert toy.by_id(the_map.id) is the_map
    with pytest.raises(NotFoundError, match="no space, parcellation or map has the @id 'toy'"):
        toy.by_id("toy")  # a name, not an @id: no fuzzy match here


def test_core_objects_reach_their_catalogue_through_references(toy) -> None:
    parc = toy.parcellations[PARC_ID]
    assert parc.references is toy
    assert all(m.references is toy for m in parc.maps)


# --- siibra's public configuration: version chains and plain @id links ---------------------
def _siibra_style_versions(root: Path) -> Path:
    """Three linked versions without a collection name, as siibra's public specs have."""
    regions = [{"name": "Area hOc1", "children": []}]
    chain = [("v1", "2.9"), ("v2", "3.0.3"), ("v3", "3.1")]
    for place, (tag, version) in enumerate(chain):
        spec = {
            "@id": f"minds/core/parcellationatlas/v1.0.0/julich-{tag}",
            "@type": "siibra/parcellation/v0.0.1",
            "name": f"Julich-Brain Cytoarchitectonic Atlas (v{version})",
            "shortName": f"Julich-Brain v{version}",
            "@version": {
                "name": version,
                "@prev": (
                    {"@id": f"minds/core/parcellationatlas/v1.0.0/julich-{chain[place - 1][0]}"}
                    if place
                    else None
                ),
                "@next": (
                    f"minds/core/parcellationatlas/v1.0.0/julich-{chain[place + 1][0]}"
                    if place + 1 < len(chain)
                    else None
                ),
            },
            "regions": regions,
        }
        (root / "parcellations" / f"julich-{tag}.json").write_text(json.dumps(spec))
    return root


def test_unversioned_query_finds_the_newest_along_the_chain(toy_copy: Path) -> None:
    cat = Catalogue([_siibra_style_versions(toy_copy)])
    newest = cat.parcellations["julich"]
    assert newest.version == "3.1"
    assert cat.parcellations["julich brain"] is newest
    assert cat.parcellations["julich 2.9"].version == "2.9"
    assert [p.version for p in cat.parcellations.find("julich")][:1] == ["3.1"]
    collections = {cat.parcellations[f"julich {v}"].collection for v in ("2.9", "3.0.3", "3.1")}
    assert len(collections) == 1
    assert newest.is_newest_version


def test_chain_order_wins_over_version_names(toy_copy: Path) -> None:
    # the newest version is the end of the @next chain even when its name sorts lower
    root = _siibra_style_versions(toy_copy)
    edit(root / "parcellations" / "julich-v3.json", lambda d: d["@version"].update(name="2024"))
    edit(root / "parcellations" / "julich-v1.json", lambda d: d["@version"].update(name="9.9"))
    assert Catalogue([root]).parcellations["julich"].version == "2024"


def test_atlas_lists_spaces_and_parcellations_as_plain_ids(toy_copy: Path) -> None:
    edit(
        toy_copy / "atlases" / "toy.json",
        lambda d: d.update(spaces=[SPACE_ID], parcellations=[PARC_ID, "not/in/this/catalogue"]),
    )
    cat = Catalogue([toy_copy], strict=True)
    atlas = cat.atlases[0]
    assert [s.id for s in atlas.spaces] == [SPACE_ID]
    assert [p.id for p in atlas.parcellations] == [PARC_ID]
