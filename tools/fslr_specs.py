"""The fs_LR 32k surface space and its parcellations, from brainspace's data files.

brainspace (PyPI) ships group-average midthickness meshes and the standard spheres
of fs_LR 32k (the "conte69" files), and per-vertex parcellations as text files of
64984 integers: the 32492 vertices of the left hemisphere, then those of the right
(0 = medial wall). They are read in place (``pkg://brainspace/datasets/...``) with
the provider ``neuratlas:csv-label`` (:mod:`neuratlas.volumes.providers`).

Driven by ``tools/build_builtin_specs.py``, which hands itself in as ``tool`` (as
for ``tools/lesion_atlas_specs.py``). Before a spec is written, every file is
checked: vertex counts, labels on one hemisphere each, and for the Schaefer maps
that each surface parcel lies where the volumetric parcel of the same label lies.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from types import ModuleType

import nibabel as nib
import numpy as np

BS = "pkg://brainspace/datasets/"
S_FSLR = "neuratlas/space/fs-lr-32k"
VERTICES = 32492  # per hemisphere
CSV_LABEL = "neuratlas:csv-label"
SIDES = ("left", "right")

BRAINSPACE_LICENCE = (
    "BSD-3-Clause (brainspace); the surfaces and maps derive from Human Connectome Project "
    "data (WU-Minn HCP Open Access Data Use Terms, https://www.humanconnectome.org/study/"
    "hcp-young-adult/document/wu-minn-hcp-consortium-open-access-data-use-terms)"
)
BRAINSPACE_URL = (
    "https://brainspace.readthedocs.io/en/latest/python_doc/api_doc/brainspace.datasets.html"
)
BRAINSPACE_2020 = (
    "Vos de Wael R, Benkarim O, Paquola C, Lariviere S, Royer J, Tavakol S, Xu T, Hong SJ, "
    "Langs G, Valk S, Misic B, Milham M, Margulies D, Smallwood J, Bernhardt BC (2020). "
    "BrainSpace: a toolbox for the analysis of macroscale gradients in neuroimaging and "
    "connectomics datasets. Communications Biology 3:103.",
    "10.1038/s42003-020-0794-7",
)
VAN_ESSEN_2012 = (
    "Van Essen DC, Glasser MF, Dierker DL, Harwell J, Coalson T (2012). Parcellations and "
    "hemispheric asymmetries of human cerebral cortex analyzed on surface-based atlases. "
    "Cerebral Cortex 22(10):2241-2262.",
    "10.1093/cercor/bhr291",
)
VOS_DE_WAEL_2018 = (
    "Vos de Wael R, Lariviere S, Caldairou B, Hong SJ, Margulies DS, Jefferies E, "
    "Bernasconi A, Smallwood J, Bernasconi N, Bernhardt BC (2018). Anatomical and "
    "microstructural determinants of hippocampal subfield functional connectome embedding. "
    "PNAS 115(40):10154-10159.",
    "10.1073/pnas.1803667115",
)
MESULAM_1998 = (
    "Mesulam MM (1998). From sensation to cognition. Brain 121(6):1013-1052.",
    "10.1093/brain/121.6.1013",
)
PAQUOLA_2019 = (
    "Paquola C, Vos de Wael R, Wagstyl K, Bethlehem RAI, Hong SJ, Seidlitz J, Bullmore ET, "
    "Evans AC, Misic B, Margulies DS, Smallwood J, Bernhardt BC (2019). Microstructural and "
    "functional gradients are increasingly dissociated in transmodal cortices. PLoS Biology "
    "17(5):e3000284.",
    "10.1371/journal.pbio.3000284",
)
SPACE_NOTE = (
    "fs_LR 32k (brainspace's conte69 files): 32492 vertices per hemisphere; labels of "
    "brainspace's per-vertex files, left hemisphere first, read in place."
)

#: Mesulam's four levels of cortical differentiation, by their label in brainspace's file.
#: brainspace names none of them: each label was identified by the Schaefer 400 (7
#: networks) parcels it covers (build-time check :func:`check_mesulam`).
MESULAM_CLASSES = {
    1: "Paralimbic",
    2: "Heteromodal association",
    3: "Unimodal association",
    4: "Idiotypic",
}
#: What :func:`check_mesulam` requires: the network covering the largest share of a class.
MESULAM_NETWORKS = {1: "Limbic", 2: "Default", 3: "Vis", 4: "SomMot"}


# --------------------------------------------------------------------------- files


def mesh_vertices(tool: ModuleType, url: str) -> np.ndarray:
    """The vertex coordinates (mm) of a GIfTI mesh of one fs_LR 32k hemisphere."""
    coords = nib.load(tool.pkg_path(url)).agg_data("NIFTI_INTENT_POINTSET")
    if coords.shape != (VERTICES, 3):
        raise tool.BuildError(f"{url}: {coords.shape} vertices, not ({VERTICES}, 3)")
    return np.asarray(coords, dtype=np.float64)


def vertex_labels(tool: ModuleType, url: str) -> np.ndarray:
    """The 64984 labels of a brainspace parcellation file (left hemisphere, then right)."""
    labels = np.array(tool.pkg_path(url).read_text(encoding="ascii").split(), dtype=np.int64)
    if labels.shape != (2 * VERTICES,):
        raise tool.BuildError(f"{url}: {labels.size} labels, not {2 * VERTICES}")
    return labels


def sides_of(tool: ModuleType, url: str, labels: np.ndarray) -> dict[int, str]:
    """The hemisphere of each label; a label on both hemispheres stops the build."""
    left = set(np.unique(labels[:VERTICES]).tolist()) - {0}
    right = set(np.unique(labels[VERTICES:]).tolist()) - {0}
    if left & right:
        raise tool.BuildError(f"{url}: labels on both hemispheres: {sorted(left & right)[:10]}")
    return {**dict.fromkeys(left, "left"), **dict.fromkeys(right, "right")}


def csv_providers(url: str) -> dict:
    # one file for both hemispheres: left is its first half (providers.CSV_LABEL)
    return {CSV_LABEL: {"left": url, "right": url}}


def parcellation_url(name: str) -> str:
    return f"{BS}parcellations/{name}_conte69.csv"


# --------------------------------------------------------------------------- space


def space(tool: ModuleType) -> dict:
    """The fs_LR 32k space: midthickness meshes and spheres of both hemispheres."""
    surfaces = f"{BS}surfaces/conte69_32k_"
    mid = {side: f"{surfaces}{h}.gii" for side, h in zip(SIDES, ("lh", "rh"), strict=True)}
    sphere = {
        side: f"{surfaces}{h}_sphere.gii" for side, h in zip(SIDES, ("lh", "rh"), strict=True)
    }
    for side in SIDES:
        coords = mesh_vertices(tool, mid[side])
        # the left midthickness lies at x < 0, the right one at x > 0
        if (coords[:, 0].mean() < 0) != (side == "left"):
            raise tool.BuildError(f"{mid[side]} is not the {side} hemisphere")
    left, right = (mesh_vertices(tool, sphere[s]) for s in SIDES)
    # fs_LR's spheres are mirror images: the right one is the left one with x negated
    if not np.allclose(right, left * [-1.0, 1.0, 1.0], atol=1e-3):
        raise tool.BuildError("the fs_LR spheres are not mirror images of each other")
    return {
        "@type": tool.SPACE_T,
        "species": tool.HUMAN,
        "@id": S_FSLR,
        "name": "fs_LR 32k",
        "shortName": "fs_LR 32k",
        "aliases": ["fsLR", "fs_LR_32k", "conte69", "fsLR 32k", "fs LR", "32k fs LR"],
        "modality": "cortical surface mesh",
        "description": "The fs_LR surface space of the Human Connectome Project at 32492 "
        "vertices per hemisphere (about 2 mm spacing), where a vertex index is the same "
        "location on every subject's registered surface and on both hemispheres' spheres. "
        "Meshes as shipped by brainspace ('conte69_32k'): the group-average midthickness "
        "surfaces of HCP subjects (the files' metadata: AnatomicalStructureSecondary "
        "MidThickness, Conte69 32k_fs_LR topology) and the standard fs_LR spheres (the right "
        "sphere is the left one mirrored in x, checked at build time).",
        "publications": [tool.pub(*VAN_ESSEN_2012), tool.pub(*BRAINSPACE_2020)],
        "neuratlas:source": {
            "package": "brainspace",
            "licence": BRAINSPACE_LICENCE,
            "url": BRAINSPACE_URL,
        },
        "volumes": [
            tool.vol({"gii-mesh": mid}, "midthickness surface", "midthickness"),
            tool.vol({"gii-mesh": sphere}, "sphere surface", "sphere"),
        ],
    }


# --------------------------------------------------------------------------- Schaefer maps


def volume_centroids(tool: ModuleType, url: str, n: int) -> np.ndarray:
    """The centroid (mm) of labels 0..n of a labelled volume."""
    data, affine = tool.label_image(url)
    where = np.nonzero(data)
    xyz = nib.affines.apply_affine(affine, np.stack(where, axis=1))
    values = data[where]
    counts = np.maximum(np.bincount(values, minlength=n + 1), 1)
    return (
        np.stack([np.bincount(values, xyz[:, k], minlength=n + 1) for k in range(3)], 1)
        / (counts[:, None])
    )


def surface_centroids(midthickness: np.ndarray, labels: np.ndarray, n: int) -> np.ndarray:
    counts = np.maximum(np.bincount(labels, minlength=n + 1), 1)
    return (
        np.stack([np.bincount(labels, midthickness[:, k], minlength=n + 1) for k in range(3)], 1)
        / (counts[:, None])
    )


def schaefer_surface_map(tool: ModuleType, parc: object, midthickness: np.ndarray) -> dict:
    """The fs_LR 32k map of a Schaefer 2018 7-network parcellation (labels as the volume's).

    Checks that brainspace's label ``v`` is the volumetric map's label ``v``: the
    centroid of its vertices on the midthickness lies within a few mm of the centroid
    of its voxels (median 3 mm; the 17-network numbering would be ~55 mm off), and on
    the hemisphere its name says.
    """
    (volume_map,) = parc.maps
    parcels = len(volume_map["indices"])
    url = parcellation_url(f"schaefer_{parcels}")
    labels = vertex_labels(tool, url)
    sides = sides_of(tool, url, labels)
    name_of = {i[0]["label"]: name for name, i in volume_map["indices"].items()}
    volume_url = volume_map["volumes"][0]["providers"]["nii"]
    on_volume = volume_centroids(tool, volume_url, parcels)
    on_surface = surface_centroids(midthickness, labels, parcels)
    present = sorted(sides)
    if set(present) - set(name_of):
        raise tool.BuildError(
            f"{url}: labels without a region: {sorted(set(present) - set(name_of))}"
        )
    distance = np.linalg.norm(on_surface[present] - on_volume[present], axis=1)
    median, worst = float(np.median(distance)), float(distance.max())
    if median > 5.0 or worst > 15.0:
        raise tool.BuildError(
            f"{url}: surface parcels lie {median:.1f} mm (median, max {worst:.1f}) from the "
            "volumetric parcels of the same label: not the same numbering"
        )
    indices = {}
    for value in present:
        name = name_of[value]
        expected = "left" if name.startswith("LH ") else "right"
        if sides[value] != expected:
            raise tool.BuildError(f"{url}: label {value} ({name}) lies on the {sides[value]} side")
        indices[name] = [{"volume": 0, "label": value, "fragment": sides[value]}]
    missing = sorted(set(name_of) - set(present))
    for value in missing:
        tool.REPORT.append(
            f"{parc.spec['@id']}: label {value} ({name_of[value]}) has no vertex in {url}"
        )
    spec = tool.map_spec(parc.spec["@id"], S_FSLR, "labelled", csv_providers(url), indices)
    gone = (
        f" Label {', '.join(map(str, missing))} has no vertex on the surface." if missing else ""
    )
    spec["description"] = (
        f"The Schaefer 2018 {parcels}-parcel, 7-network labels on fs_LR 32k as shipped by "
        f"brainspace ({url.rsplit('/', 1)[1]}: 64984 labels, the left hemisphere's 32492 "
        f"vertices first, 0 = medial wall). The numbering is the volumetric map's (line i "
        f"of the 7-network label table): labels 1-{parcels // 2} lie on the left "
        f"hemisphere, {parcels // 2 + 1}-{parcels} on the right, and each surface parcel's "
        f"centroid on the midthickness lies {median:.1f} mm (median; at most {worst:.1f} mm) "
        f"from the centroid of the volumetric parcel of the same label (checked at build "
        f"time).{gone}"
    )
    return spec


# --------------------------------------------------------------------------- numbered


def numbered_parcellation(
    tool: ModuleType,
    slug: str,
    file: str,
    name: str,
    short: str,
    aliases: list[str],
    modality: str,
    description: str,
    publications: list[dict],
    note: str,
) -> object:
    """A parcellation whose file ships no names: parcels named by their label number."""
    url = parcellation_url(file)
    labels = vertex_labels(tool, url)
    sides = sides_of(tool, url, labels)
    entries = [
        tool.Entry(
            ("Cerebral cortex", f"Cerebral cortex - {side} hemisphere"),
            f"Parcel {value}",
            None,
            value,
        )
        for value, side in sorted(sides.items())
    ]
    pid = f"neuratlas/parcellation/{slug}"
    indices = {
        f"Parcel {value}": [{"volume": 0, "label": value, "fragment": side}]
        for value, side in sorted(sides.items())
    }
    left = [v for v, s in sides.items() if s == "left"]
    surface = tool.map_spec(pid, S_FSLR, "labelled", csv_providers(url), indices)
    surface["description"] = (
        f"{file}_conte69.csv of brainspace: 64984 labels, the left hemisphere's 32492 "
        f"vertices first, 0 = medial wall; labels {min(left)}-{max(left)} lie on the left "
        f"hemisphere, {max(left) + 1}-{max(sides)} on the right."
    )
    spec = tool.parc_spec(
        slug,
        name,
        short,
        aliases,
        modality,
        description
        + " Regions: 'Cerebral cortex' -> its part in each hemisphere -> the parcels, named "
        "'Parcel <label>' (the source ships no names).",
        publications,
        {
            "package": "brainspace",
            "licence": BRAINSPACE_LICENCE,
            "url": BRAINSPACE_URL,
            "space": SPACE_NOTE,
            "colours": "palette (the source ships no colours)",
            "note": note,
        },
        entries,
    )
    return tool.Parc(spec, [surface])


def schaefer_300(tool: ModuleType, networks: np.ndarray) -> object:
    """Schaefer 2018 at 300 parcels: numbered (no label table ships with brainspace).

    ``networks`` is the Schaefer 400 network of each vertex (:func:`schaefer_400_networks`).
    """
    labels = vertex_labels(tool, parcellation_url("schaefer_300"))
    share = descents(network_order(labels, networks, 300))
    # brainspace's Schaefer 100 and 200 (7-network order, verified by their volumes)
    # step back at 4-7 % of steps (parcels at network borders); Vos de Wael 300 at 34 %
    if share > 0.1:
        raise tool.BuildError(
            f"schaefer_300: {share:.0%} of consecutive parcels step back in the 7-network "
            "order: not numbered like brainspace's other Schaefer files"
        )
    tool.REPORT.append(f"schaefer_300: {share:.1%} of consecutive parcels step back a network")
    return numbered_parcellation(
        tool,
        "schaefer2018-300-7",
        "schaefer_300",
        "Schaefer 2018 cortical parcellation (300 parcels, 7 networks)",
        "Schaefer 300 (7 networks)",
        [
            "schaefer 300 7",
            "schaefer2018 300 7",
            "Schaefer2018_300Parcels7Networks",
            "schaefer 300",
            "schaefer 300 parcels 7 networks",
        ],
        "resting-state fMRI",
        "Local-global parcellation of the cerebral cortex into 300 parcels from the "
        "resting-state fMRI of 1,489 subjects, on fs_LR 32k as shipped by brainspace.",
        [tool.pub(*SCHAEFER_2018), tool.pub(*BRAINSPACE_2020)],
        "brainspace ships the labels without a label table, so parcels have numbers, not "
        "names. The numbering follows the 7-network order, as in brainspace's other Schaefer "
        "files (checked at build time: taking for each parcel the network that covers most "
        "of it in the Schaefer 400 7-network map, consecutive parcels of a hemisphere run "
        "through Vis, SomMot, DorsAttn, SalVentAttn, Limbic, Cont, Default in that order, "
        "stepping back at fewer than 10 % of steps, as brainspace's Schaefer 100 and 200 "
        "do at network borders). Labels 1-150 lie on the left hemisphere.",
    )


SCHAEFER_2018 = (
    "Schaefer A, Kong R, Gordon EM, Laumann TO, Zuo XN, Holmes AJ, Eickhoff SB, Yeo BTT "
    "(2018). Local-global parcellation of the human cerebral cortex from intrinsic "
    "functional connectivity MRI. Cerebral Cortex 28(9):3095-3114.",
    "10.1093/cercor/bhx179",
)


def schaefer_400_networks(tool: ModuleType, parc: object) -> np.ndarray:
    """Network number (1-7, in label order) of each vertex, from Schaefer 400/7; 0 = none."""
    (volume_map,) = parc.maps
    names = sorted(volume_map["indices"], key=lambda n: volume_map["indices"][n][0]["label"])
    order: dict[str, int] = {}
    network_of = np.zeros(401, dtype=np.int64)
    for value, name in enumerate(names, start=1):
        network = name.split()[1]  # "LH Vis 1" -> "Vis"
        network_of[value] = order.setdefault(network, len(order) + 1)
    labels = vertex_labels(tool, parcellation_url("schaefer_400"))
    return network_of[labels]


def network_order(labels: np.ndarray, networks: np.ndarray, parcels: int) -> list[tuple]:
    """(hemisphere, majority network) of each parcel, in label order."""
    out = []
    for value in range(1, parcels + 1):
        hit = networks[labels == value]
        hit = hit[hit > 0]
        majority = int(np.bincount(hit).argmax()) if hit.size else 0
        out.append((value > parcels // 2, majority))
    return out


def descents(order: Sequence[tuple[bool, int]]) -> float:
    """The share of consecutive parcels of a hemisphere whose network comes earlier."""
    steps = [(a, b) for a, b in itertools.pairwise(order) if a[0] == b[0]]
    return sum(b[1] < a[1] for a, b in steps) / max(len(steps), 1)


def vos_de_wael(tool: ModuleType, parcels: int) -> object:
    return numbered_parcellation(
        tool,
        f"vosdewael-{parcels}",
        f"vosdewael_{parcels}",
        f"Vos de Wael cortical subparcellation ({parcels} parcels)",
        f"Vos de Wael {parcels}",
        [f"vosdewael {parcels}", f"vos de wael {parcels}", f"vosdewael_{parcels}"],
        "anatomy (subdivided gyral parcellation)",
        f"The Desikan-Killiany cortical regions subdivided into {parcels} parcels of about "
        "equal size (Vos de Wael et al. 2018), on fs_LR 32k as shipped by brainspace.",
        [tool.pub(*VOS_DE_WAEL_2018), tool.pub(*BRAINSPACE_2020)],
        "brainspace ships the labels without a label table, so parcels have numbers, not "
        "names; the hemisphere of each is the side of its vertices.",
    )


def check_mesulam(tool: ModuleType, labels: np.ndarray, networks: np.ndarray) -> None:
    """Each Mesulam label is the class whose typical network covers most of it."""
    names = ("Vis", "SomMot", "DorsAttn", "SalVentAttn", "Limbic", "Cont", "Default")
    for value, expected in MESULAM_NETWORKS.items():
        hit = networks[labels == value]
        share = np.bincount(hit[hit > 0], minlength=8)[1:] / max(hit.size, 1)
        if names[int(share.argmax())] != expected:
            raise tool.BuildError(
                f"mesulam label {value}: mostly {names[int(share.argmax())]}, not {expected}"
            )


def mesulam(tool: ModuleType, networks: np.ndarray) -> object:
    url = parcellation_url("mesulam")
    labels = vertex_labels(tool, url)
    present = {
        side: set(np.unique(half).tolist()) - {0}
        for side, half in zip(SIDES, (labels[:VERTICES], labels[VERTICES:]), strict=True)
    }
    if present["left"] != set(MESULAM_CLASSES) or present["right"] != set(MESULAM_CLASSES):
        raise tool.BuildError(f"{url}: labels {present}, not 1-4 on each hemisphere")
    check_mesulam(tool, labels, networks)
    entries = [
        tool.Entry(("Cerebral cortex",), area, side, value)
        for value, area in MESULAM_CLASSES.items()
        for side in SIDES
    ]
    pid = "neuratlas/parcellation/mesulam"
    indices = {
        tool.leaf_name(e): [{"volume": 0, "label": e.value, "fragment": e.hemi}] for e in entries
    }
    surface = tool.map_spec(pid, S_FSLR, "labelled", csv_providers(url), indices)
    surface["description"] = (
        "mesulam_conte69.csv of brainspace: 64984 labels, the left hemisphere's 32492 vertices "
        "first; labels 1-4 on both hemispheres, 0 = medial wall."
    )
    spec = tool.parc_spec(
        "mesulam",
        "Mesulam levels of cortical differentiation",
        "Mesulam",
        ["mesulam", "mesulam 1998", "mesulam classes", "laminar differentiation"],
        "cytoarchitecture (cortical types)",
        "Mesulam's (1998) four levels of cortical differentiation (idiotypic, unimodal "
        "association, heteromodal association, paralimbic) on fs_LR 32k, as mapped by "
        "Paquola et al. (2019) and shipped by brainspace. Regions: 'Cerebral cortex' -> "
        "the four classes -> each class's part in each hemisphere.",
        [tool.pub(*MESULAM_1998), tool.pub(*PAQUOLA_2019), tool.pub(*BRAINSPACE_2020)],
        {
            "package": "brainspace",
            "licence": BRAINSPACE_LICENCE,
            "url": BRAINSPACE_URL,
            "space": SPACE_NOTE,
            "colours": "palette (the source ships no colours)",
            "note": "brainspace names none of the labels. Their classes were identified by "
            "the Schaefer 400 (7-network) parcels they cover, and checked at build time: "
            "label 1 mostly Limbic (paralimbic), 2 Default (heteromodal), 3 Visual "
            "(unimodal), 4 Somatomotor (idiotypic: primary sensory and motor cortex). "
            "The order runs from paralimbic to idiotypic, Mesulam's hierarchy.",
        },
        entries,
    )
    return tool.Parc(spec, [surface])


# --------------------------------------------------------------------------- all


def parcellations(tool: ModuleType, existing: Sequence[object]) -> list:
    """Add fs_LR 32k maps to the Schaefer 7-network parcellations; make the new ones.

    Parameters
    ----------
    tool : module
        ``tools/build_builtin_specs.py``.
    existing : sequence of tool.Parc
        The catalogue's parcellations so far; the Schaefer 2018 ones (100, 200, 400,
        1000 parcels, 7 networks) get a surface map appended.

    Returns
    -------
    list of tool.Parc
        The new parcellations: Schaefer 300, Vos de Wael 100-400, Mesulam.
    """
    midthickness = np.vstack(
        [mesh_vertices(tool, f"{BS}surfaces/conte69_32k_{h}.gii") for h in ("lh", "rh")]
    )
    by_id = {p.spec["@id"]: p for p in existing}
    schaefer = {
        n: by_id[f"neuratlas/parcellation/schaefer2018-{n}-7"] for n in (100, 200, 400, 1000)
    }
    networks = schaefer_400_networks(tool, schaefer[400])
    for parc in schaefer.values():
        parc.maps.append(schaefer_surface_map(tool, parc, midthickness))
    out = [schaefer_300(tool, networks)]
    out += [vos_de_wael(tool, parcels) for parcels in (100, 200, 300, 400)]
    out.append(mesulam(tool, networks))
    return out
