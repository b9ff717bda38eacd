"""The lesion atlases of the embedded catalogue, against their shipped files.

Schaefer 2018, Tian S1-S3, Schaefer + Tian and HCP1065 (tools/lesion_atlas_specs.py,
files in src/neuratlas/data/lesion_atlases): every map loads, region counts and label
numbers follow the label tables, masks equal a direct NumPy reading of the files,
hemispheres lie on their side, original names resolve, and the recorded header facts
are the headers'.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import sys
import types
from functools import cache
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest

import neuratlas
from neuratlas.catalogue import Catalogue
from neuratlas.configuration.loader import BUILTIN
from neuratlas.core.map_index import MapType
from neuratlas.errors import NotFoundError
from neuratlas.retrieval.packages import resolve

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT / "src" / "neuratlas" / "data" / "lesion_atlases"
NLIN6 = "neuratlas/space/mni152-nlin6-asym"
ICBM_2009C = "neuratlas/space/mni152-2009c-nonl-asym"
SCHAEFER = "tpl-MNI152NLin6Asym_res-01_atlas-Schaefer2018_desc-{p}Parcels{n}Networks_dseg"
TIAN = "tpl-MNI152NLin6Asym_res-01_atlas-TianSubcortex_desc-3TS{s}_dseg"
COMBINED = "tpl-MNI152NLin6Asym_res-01_atlas-Schaefer2018TianS{s}_desc-400Parcels17Networks_dseg"
HCP = "tpl-MNI152NLin2009aAsym_res-01_atlas-HCP1065_desc-thr0p1_probseg"

# parcellation key -> (file stem, number of labels, space)
ATLASES = {
    **{
        f"schaefer {p} {n}": (SCHAEFER.format(p=p, n=n), p, NLIN6)
        for n in (7, 17)
        for p in (100, 200, 400, 1000)
    },
    **{f"tian s{s}": (TIAN.format(s=s), {1: 16, 2: 32, 3: 50}[s], ICBM_2009C) for s in (1, 2, 3)},
    **{
        f"schaefer 400 17 tian s{s}": (COMBINED.format(s=s), 400 + {1: 16, 2: 32, 3: 50}[s], NLIN6)
        for s in (1, 2, 3)
    },
    "hcp1065": (HCP, 64, ICBM_2009C),
}
LABELLED = [key for key in ATLASES if key != "hcp1065"]


@pytest.fixture(scope="module")
def builtin() -> Catalogue:
    return Catalogue([BUILTIN], strict=True)


@cache
def table(stem: str) -> list[str]:
    return [ln.strip() for ln in (DATA / f"{stem}.txt").read_text().splitlines() if ln.strip()]


@cache
def labels(stem: str) -> tuple[np.ndarray, np.ndarray]:
    img = nib.load(DATA / f"{stem}.nii.gz")
    return np.asanyarray(img.dataobj).astype(np.int32), img.affine


def world_x_centroid(mask: np.ndarray, affine: np.ndarray) -> float:
    return float(nib.affines.apply_affine(affine, np.argwhere(mask).mean(0))[0])


def labelled_map(builtin: Catalogue, key: str):
    stem, _, space = ATLASES[key]
    the_map = builtin.parcellations[key].get_map(space)
    assert the_map.volumes[0].path().name == f"{stem}.nii.gz"
    return the_map


@cache
def generator() -> tuple[types.ModuleType, types.ModuleType]:
    """tools/build_builtin_specs.py and tools/lesion_atlas_specs.py, as the build loads them."""
    modules = []
    for name in ("build_builtin_specs", "lesion_atlas_specs"):
        spec = importlib.util.spec_from_file_location(
            f"{name}_under_lesion_test", ROOT / "tools" / f"{name}.py"
        )
        module = importlib.util.module_from_spec(spec)
        sys.modules[spec.name] = module
        spec.loader.exec_module(module)
        modules.append(module)
    return modules[0], modules[1]


# --------------------------------------------------------------------------- files


def test_shipped_files_match_their_checksums() -> None:
    lines = (DATA / "SHA256SUMS").read_text().split("\n")
    sums = dict(reversed(line.split()) for line in lines if line.strip())
    assert len(sums) == 30
    for name, digest in sums.items():
        assert hashlib.sha256((DATA / name).read_bytes()).hexdigest() == digest, name


def test_licences_and_readme_are_shipped_beside_the_files() -> None:
    assert "MIT License" in (DATA / "LICENSE-Schaefer2018.txt").read_text()
    assert "CC BY-SA 4.0" in (DATA / "LICENSE-HCP1065.txt").read_text()
    assert "10.1038/s41593-020-00711-6" in (DATA / "NOTICE-Tian2020.txt").read_text()
    readme = (DATA / "README.md").read_text()
    assert "134a88f" in readme and "97x115x97" in readme


def test_pkg_urls_resolve_inside_neuratlas_itself() -> None:
    path = resolve(f"pkg://neuratlas/data/lesion_atlases/{HCP}.txt")
    assert path == DATA / f"{HCP}.txt"
    # the folder lies inside the package, so the wheel (packages = src/neuratlas) has it
    assert Path(neuratlas.__file__).parent in path.parents


# --------------------------------------------------------------------------- catalogue


def test_every_atlas_loads_in_its_space_and_in_the_human_atlas(builtin: Catalogue) -> None:
    human = builtin.atlases["human"]
    for key, (_, _, space) in ATLASES.items():
        parc = builtin.parcellations[key]
        assert parc in human.parcellations, key
        # the Schaefer 7-network atlases have a map on fs_LR 32k too (test_fslr_specs.py)
        assert [s.id for s in parc.spaces if not s.is_surface] == [space], key
        (the_map,) = [m for m in parc.maps if not m.is_surface]
        kind = MapType.STATISTICAL if key == "hcp1065" else MapType.LABELLED
        assert the_map.maptype is kind, key
        assert parc.publications and parc.publications[0].url.startswith("https://doi.org/")
        assert parc.source.package == "neuratlas" and parc.source.licence, key


def test_parcellation_keys_resolve_through_the_facade() -> None:
    region = neuratlas.get_region("schaefer 400 17", "17Networks_LH_DorsAttnA_ParOcc_1")
    assert region.name == "LH DorsAttnA ParOcc 1"
    assert region.parcellation.id == "neuratlas/parcellation/schaefer2018-400-17"


@pytest.mark.parametrize(
    "key",
    # a thousand lookups each: over 5 s on a busy machine
    [pytest.param(k, marks=pytest.mark.slow) if "1000" in k else k for k in ATLASES],
)
def test_leaves_are_the_label_table(builtin: Catalogue, key: str) -> None:
    stem, count, _ = ATLASES[key]
    parc = builtin.parcellations[key]
    (the_map,) = [m for m in parc.maps if not m.is_surface]
    names = table(stem)
    assert len(names) == count == len(parc.leaves)
    # label i (frame i - 1 of HCP1065) is the leaf found by line i of the table
    for number, original in enumerate(names, start=1):
        leaf = parc.get_region(original)
        assert leaf.is_leaf and original in leaf.aliases, original
        (index,) = the_map.get_indices(leaf)
        assert (index.z + 1 if the_map.maptype is MapType.STATISTICAL else index.label) == number


def test_combined_numbering_starts_with_the_cortex(builtin: Catalogue) -> None:
    the_map = labelled_map(builtin, "schaefer 400 17 tian s2")
    assert the_map.get_region(1).name == "LH VisCent ExStr 1"
    assert the_map.get_region(400).aliases == [table(SCHAEFER.format(p=400, n=17))[-1]]
    first_tian = the_map.get_region(401)
    assert first_tian.aliases == [table(TIAN.format(s=2))[0]] == ["aHIP-rh"]
    assert [a.name for a in first_tian.ancestors][:3] == [
        "Anterior hippocampus",
        "Hippocampus",
        "subcortical structures",
    ]


# --------------------------------------------------------------------------- hierarchies


def depth(region) -> int:
    return len(region.ancestors) - 1  # the parcellation itself does not count


def test_schaefer_hierarchy_network_area_hemisphere_parcel(builtin: Catalogue) -> None:
    parc = builtin.parcellations["schaefer 1000 17"]
    parcel = parc.get_region("17Networks_RH_DorsAttnA_ParOcc_1")
    assert [a.name for a in parcel.ancestors][:-1] == [
        "DorsAttnA ParOcc - right hemisphere",
        "DorsAttnA ParOcc",
        "Dorsal Attention A",
    ]
    assert parcel.hemisphere == "right" and depth(parcel) == 3
    # networks without areas: network -> hemisphere part -> parcels
    temppar = parc.get_region("17Networks_LH_TempPar_1")
    assert [a.name for a in temppar.ancestors][:-1] == [
        "Temporal Parietal - left hemisphere",
        "Temporal Parietal",
    ]
    assert {depth(leaf) for leaf in parc.leaves} == {2, 3}
    assert len(parc.children) == 17
    # names a user types: full network name, abbreviation, area and hemisphere
    assert parc.get_region("DorsAttnA").name == "Dorsal Attention A"
    assert parc.get_region("Dorsal Attention A ParOcc").name == "DorsAttnA ParOcc"
    assert parc.get_region("DorsAttnA ParOcc left").name == "DorsAttnA ParOcc - left hemisphere"
    assert parc.get_region("DorsAttnA ParOcc 1 left").name == "LH DorsAttnA ParOcc 1"


def test_tian_hierarchy_structure_subdivision_hemisphere(builtin: Catalogue) -> None:
    s1 = builtin.parcellations["tian s1"]
    assert [c.name for c in s1.children] == [
        "Hippocampus",
        "Amygdala",
        "Thalamus",
        "Nucleus accumbens",
        "Globus pallidus",
        "Putamen",
        "Caudate nucleus",
    ]
    assert s1.get_region("HIP-rh").name == "Hippocampus - right hemisphere"
    assert s1.get_region("pTHA-lh").parent.name == "Posterior thalamus"
    s3 = builtin.parcellations["tian s3"]
    leaf = s3.get_region("THA-VPm-lh")
    assert [a.name for a in leaf.ancestors][:-1] == [
        "Medial ventroposterior thalamus",
        "Ventroposterior thalamus",
        "Thalamus",
    ]
    assert s3.get_region("THA-VP").name == "Ventroposterior thalamus"
    assert s3.get_region("NAc shell right").name == "Nucleus accumbens shell - right hemisphere"
    assert max(depth(leaf) for leaf in s3.leaves) == 3


def test_hcp1065_hierarchy_family_tract_hemisphere(builtin: Catalogue) -> None:
    parc = builtin.parcellations["hcp1065"]
    assert [c.name for c in parc.children] == [
        "Association pathways",
        "Commissural pathways",
        "Projection pathways",
    ]
    cst = parc.get_region("CST left")
    assert [a.name for a in cst.ancestors][:-1] == [
        "Corticospinal tract",
        "Brainstem pathways",
        "Projection pathways",
    ]
    assert parc.get_region("Corpus_Callosum_Body").hemisphere is None
    assert parc.get_region("Cingulum_Rarolfactory_L").name == (
        "Parolfactory cingulum - left hemisphere"
    )
    lateral = [leaf for leaf in parc.leaves if leaf.hemisphere]
    assert len(lateral) == 60 and len(parc.leaves) == 64


# --------------------------------------------------------------------------- masks


@pytest.mark.parametrize(
    ("key", "query"),
    [
        ("schaefer 100 7", "7Networks_RH_Default_pCunPCC_1"),
        ("schaefer 400 17", "DorsAttnA ParOcc left"),
        ("schaefer 200 7", "Visual"),
        ("tian s1", "Thalamus"),
        ("tian s3", "HIP-head-m-lh"),
        ("schaefer 400 17 tian s3", "subcortical structures"),
        ("schaefer 400 17 tian s1", "Control B"),
    ],
)
def test_region_masks_equal_the_files_voxels(builtin: Catalogue, key: str, query: str) -> None:
    stem, _, _ = ATLASES[key]
    region = builtin.parcellations[key].get_region(query)
    the_map = labelled_map(builtin, key)
    data, affine = labels(stem)
    wanted = [the_map.get_index(leaf).label for leaf in region.leaves]
    mask = the_map.fetch(region=region)
    assert np.array_equal(np.asanyarray(mask.dataobj).astype(bool), np.isin(data, wanted))
    np.testing.assert_allclose(mask.affine, affine)


@pytest.mark.parametrize("key", ["schaefer 400 7", "tian s2", "schaefer 400 17 tian s3"])
def test_hemisphere_leaves_lie_on_their_side(builtin: Catalogue, key: str) -> None:
    stem, _, _ = ATLASES[key]
    data, affine = labels(stem)
    # centroid x of every label at once: sum of world x per label / voxel count
    i = np.arange(data.shape[0], dtype=np.float64)
    x = affine[0, 0] * i + affine[0, 3]  # axis-aligned affines: x depends on i only
    per_label = np.bincount(
        data.ravel(), weights=np.broadcast_to(x[:, None, None], data.shape).ravel()
    )
    centres = per_label / np.bincount(data.ravel())
    the_map = labelled_map(builtin, key)
    sides = {leaf.hemisphere for leaf in builtin.parcellations[key].leaves}
    assert sides == {"left", "right"}
    for leaf in builtin.parcellations[key].leaves:
        centre = centres[the_map.get_index(leaf).label]
        assert (centre < 0) if leaf.hemisphere == "left" else (centre > 0), leaf.name


# --------------------------------------------------------------------------- HCP1065


@pytest.fixture(scope="module")
def hcp_frames() -> np.ndarray:
    return np.asanyarray(nib.load(DATA / f"{HCP}.nii.gz").dataobj)


def test_hcp1065_is_a_probabilistic_map_of_the_files_frames(
    builtin: Catalogue, hcp_frames: np.ndarray
) -> None:
    parc = builtin.parcellations["hcp1065"]
    the_map = parc.get_map("MNI152NLin2009aAsym", "statistical")
    assert the_map.space.id == ICBM_2009C and the_map.value_scale == 1.0
    for query, z in (
        ("Corticospinal_Tract_L", 24),
        ("Arcuate fasciculus right", 1),
        ("tapetum", 15),
    ):
        img = the_map.fetch(region=query)
        assert img.shape == hcp_frames.shape[:3]
        assert np.array_equal(np.asanyarray(img.dataobj), hcp_frames[..., z].astype(np.float32))
    # lateralised tracts on their side
    affine = nib.load(DATA / f"{HCP}.nii.gz").affine
    for leaf in parc.leaves:
        if leaf.hemisphere:
            centre = world_x_centroid(hcp_frames[..., the_map.get_index(leaf).z] > 0, affine)
            assert (centre < 0) if leaf.hemisphere == "left" else (centre > 0), leaf.name


def test_hcp1065_has_no_labelled_map(builtin: Catalogue) -> None:
    with pytest.raises(NotFoundError, match="no labelled map") as info:
        builtin.parcellations["hcp1065"].get_map()
    assert "statistical in MNI152 2009c nonl asym" in info.value.hint


def test_mni152nlin2009aasym_names_the_2009c_space(builtin: Catalogue) -> None:
    assert builtin.spaces["MNI152NLin2009aAsym"].id == ICBM_2009C
    assert builtin.spaces["MNI152NLin2009aSym"].id != ICBM_2009C


# --------------------------------------------------------------------------- recorded facts


def test_recorded_header_facts_are_the_headers(builtin: Catalogue) -> None:
    spec_files = {p.stem: p for p in (BUILTIN / "maps").glob("*.json")}
    for key, (stem, count, _) in ATLASES.items():
        parc = builtin.parcellations[key]
        slug = parc.id.rsplit("/", 1)[1]
        (path,) = [
            p
            for name, p in spec_files.items()
            if name.startswith(f"{slug}__") and "__fs-lr-32k__" not in name
        ]
        record = json.loads(path.read_text())["neuratlas:file"]
        img = nib.load(DATA / f"{stem}.nii.gz")
        assert record["name"] == f"{stem}.nii.gz"
        assert record["header"]["shape"] == list(img.shape)
        assert record["header"]["voxel_size_mm"] == [float(z) for z in img.header.get_zooms()[:3]]
        assert record["header"]["orientation"] == "".join(nib.aff2axcodes(img.affine))
        assert record["labels_in_txt"] == count
        assert record["name_claims"]["resolution_mm"] == 1.0
        tian = key.startswith("tian")
        # the Tian files are named res-01 but are 2 mm
        assert record["resolution_as_named"] is (not tian), key
    tian_map = labelled_map(builtin, "tian s1")
    assert tian_map.fetch().header.get_zooms()[:3] == (2.0, 2.0, 2.0)
    assert tian_map.fetch().shape == (97, 115, 97)


# --------------------------------------------------------------------------- the generator


def test_parse_schaefer_names_and_bad_labels() -> None:
    _, lesion = generator()
    p = lesion.parse_schaefer("17Networks_LH_DorsAttnA_ParOcc_1", 17)
    assert (p.side, p.network, p.area, p.number) == ("left", "DorsAttnA", "ParOcc", 1)
    assert (p.network_name, p.area_name, p.parcel_name) == (
        "Dorsal Attention A",
        "DorsAttnA ParOcc",
        "LH DorsAttnA ParOcc 1",
    )
    q = lesion.parse_schaefer("7Networks_RH_Vis_12", 7)
    assert (q.area, q.half_name, q.parcel_name) == ("", "Visual - right hemisphere", "RH Vis 12")
    with pytest.raises(ValueError, match="not 7Networks_"):
        lesion.parse_schaefer("17Networks_LH_DorsAttnA_ParOcc_1", 7)
    with pytest.raises(ValueError, match="neither LH nor RH"):
        lesion.parse_schaefer("7Networks_XH_Vis_1", 7)
    with pytest.raises(ValueError, match="unknown network 'Visual'"):
        lesion.parse_schaefer("7Networks_LH_Visual_1", 7)


def test_parse_tian_codes_and_bad_labels() -> None:
    _, lesion = generator()
    assert lesion.parse_tian("THA-VPm-rh") == ("THA-VPm", "right")
    assert lesion.parse_tian("NAc-shell-lh") == ("NAc-shell", "left")
    for bad in ("HIP", "HIP-xh", "XYZ-lh"):
        with pytest.raises(ValueError, match=r"not <Tian region code>-<lh\|rh>"):
            lesion.parse_tian(bad)


def test_name_claims_and_distinct_aliases() -> None:
    _, lesion = generator()
    assert lesion.name_claims(f"{TIAN.format(s=1)}") == {
        "space": "MNI152NLin6Asym",
        "resolution_mm": 1.0,
    }
    with pytest.raises(ValueError, match="tpl-<space>_res-<nn>"):
        lesion.name_claims("atlas.nii.gz")
    assert lesion.distinct_aliases(
        {"Arcuate fasciculus": ["AF", "Arcuate_Fasciculus", "af"], "Fornix": ["fornix"]}
    ) == {"Arcuate fasciculus": ["AF"]}


def test_read_labels_takes_names_or_numbered_lines(tmp_path: Path) -> None:
    tool, lesion = generator()
    fake = types.SimpleNamespace(
        pkg_path=lambda url: tmp_path / url.rsplit("/", 1)[1], BuildError=tool.BuildError
    )
    (tmp_path / "plain.txt").write_text("A_1\n\nB_2")
    (tmp_path / "numbered.txt").write_text("1 Left thing\n2 Right thing\n")
    (tmp_path / "gap.txt").write_text("1 A\n3 B\n")
    assert lesion.read_labels(fake, "plain") == ["A_1", "B_2"]
    assert lesion.read_labels(fake, "numbered") == ["Left thing", "Right thing"]
    with pytest.raises(tool.BuildError, match="line 2 has the id 3"):
        lesion.read_labels(fake, "gap")


def test_file_record_refuses_a_header_that_is_not_the_recorded_one() -> None:
    tool, lesion = generator()
    record = lesion.file_record(tool, TIAN.format(s=2), "tian-2mm", 32, "notes")
    assert record["header"]["voxel_size_mm"] == [2.0, 2.0, 2.0]
    assert record["resolution_as_named"] is False
    with pytest.raises(tool.BuildError, match="differs from the recorded"):
        lesion.file_record(tool, TIAN.format(s=2), "fsl-1mm", 32, "notes")


def test_hcp_entries_reject_an_unknown_tract() -> None:
    tool, lesion = generator()
    entries, aliases = lesion.hcp_entries(tool, ["Fornix_L", "Corpus_Callosum_Body"])
    assert [(e.area, e.hemi, e.value) for e in entries] == [
        ("Fornix", "left", 0),
        ("Body of the corpus callosum", None, 1),
    ]
    assert aliases["Fornix - left hemisphere"] == ["Fornix_L"]
    with pytest.raises(ValueError, match="'Optic_Chiasm_L' is not a known HCP1065 tract"):
        lesion.hcp_entries(tool, ["Optic_Chiasm_L"])
