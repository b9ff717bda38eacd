"""brainspace's data as features: connectivity matrices, conte69 surface maps, regional tables.

brainspace (PyPI) ships group-mean resting-state functional connectivity of HCP
subjects (Vos de Wael et al. 2020: a discovery "main" group and a "holdout" group)
for the Schaefer and Vos de Wael parcellations at 100-400 parcels, and per-vertex
maps on fs_LR 32k: cortical thickness, T1w/T2w ratio, curvature, the first two
functional connectivity gradients and microstructural profile covariance gradients.
The files are read in place (``pkg://brainspace/...``); brainspace is never imported.

Importing this module registers the static source ``"brainspace"``.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import numpy as np
import pandas as pd

from neuratlas import catalogue
from neuratlas.errors import DataUnavailableError, ImageError
from neuratlas.features.anchor import Anchor
from neuratlas.features.connectivity import FunctionalConnectivity
from neuratlas.features.embedded.surface import (
    CorticalThicknessMap,
    CurvatureMap,
    FunctionalGradientMap,
    MicrostructuralGradientMap,
    RegionalSurfaceStatistics,
    SurfaceMap,
    T1wT2wRatioMap,
    regional_statistics,
)
from neuratlas.features.feature import Feature
from neuratlas.features.sources import register_source
from neuratlas.retrieval import packages
from neuratlas.volumes import providers

__all__ = ["FSLR", "SOURCE", "features", "read_matrix", "read_vertex_values"]

SOURCE = "brainspace"
HUMAN = "Homo sapiens"
FSLR = "neuratlas/space/fs-lr-32k"
VERTICES = 32492  # per hemisphere of fs_LR 32k
HEMISPHERES = (("left", VERTICES), ("right", VERTICES))
DATA = "pkg://brainspace/datasets/"

BRAINSPACE_2020 = {
    "citation": "Vos de Wael R, Benkarim O, Paquola C, Lariviere S, Royer J, Tavakol S, Xu T, "
    "Hong SJ, Langs G, Valk S, Misic B, Milham M, Margulies D, Smallwood J, Bernhardt BC "
    "(2020). BrainSpace: a toolbox for the analysis of macroscale gradients in neuroimaging "
    "and connectomics datasets. Communications Biology 3:103.",
    "url": "https://doi.org/10.1038/s42003-020-0794-7",
}
PAQUOLA_2019 = {
    "citation": "Paquola C, Vos de Wael R, Wagstyl K, et al. (2019). Microstructural and "
    "functional gradients are increasingly dissociated in transmodal cortices. PLoS Biology "
    "17(5):e3000284.",
    "url": "https://doi.org/10.1371/journal.pbio.3000284",
}

#: brainspace's name of a parcellation -> the catalogue's parcellation ``@id``.
PARCELLATIONS = {
    **{
        ("schaefer", n): f"neuratlas/parcellation/schaefer2018-{n}-7" for n in (100, 200, 300, 400)
    },
    **{("vosdewael", n): f"neuratlas/parcellation/vosdewael-{n}" for n in (100, 200, 300, 400)},
}
#: The cohorts of the connectivity matrices (brainspace's ``group``).
COHORTS = {
    "main": "HCP discovery group (brainspace 'main_group')",
    "holdout": "HCP validation group (brainspace 'holdout_group')",
}
#: The per-vertex maps: file stem -> (class, title, metadata).
SURFACE_MAPS: dict[str, tuple[type[SurfaceMap], str, dict[str, object]]] = {
    "thickness": (CorticalThicknessMap, "Cortical thickness", {"unit": "mm"}),
    "t1wt2w": (T1wT2wRatioMap, "T1w/T2w ratio", {}),
    "curvature": (CurvatureMap, "Curvature", {}),
    "fc_gradient0": (FunctionalGradientMap, "Functional connectivity gradient 1", {"gradient": 1}),
    "fc_gradient1": (FunctionalGradientMap, "Functional connectivity gradient 2", {"gradient": 2}),
    "mpc_gradient0": (
        MicrostructuralGradientMap,
        "Microstructural profile covariance gradient 1",
        {"gradient": 1},
    ),
    "mpc_gradient1": (
        MicrostructuralGradientMap,
        "Microstructural profile covariance gradient 2",
        {"gradient": 2},
    ),
}


# --------------------------------------------------------------------------- files


def _path(url: str) -> Path:
    try:
        return packages.resolve(url)
    except DataUnavailableError as exc:
        raise DataUnavailableError(
            f"brainspace's file {url} is not available: {exc}",
            hint="install brainspace (pip install brainspace), a dependency of neuratlas",
        ) from None


@lru_cache(maxsize=16)
def _numbers(path: Path) -> np.ndarray:
    try:
        text = path.read_text(encoding="ascii")
        # one split and one conversion: ~20 times numpy.loadtxt on 65k lines
        values = np.array(text.replace(",", " ").split(), dtype=np.float64)
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise ImageError(
            f"cannot read the numbers of {str(path)!r}: {exc}",
            hint="the file is damaged: reinstall brainspace",
        ) from None
    values.setflags(write=False)
    return values


def read_vertex_values(url: str, vertices: int = 2 * VERTICES) -> np.ndarray:
    """The per-vertex values of a text file of one number per line (read-only).

    Raises
    ------
    DataUnavailableError
        The file is not installed.
    ImageError
        The file holds other than ``vertices`` numbers.
    """
    values = _numbers(_path(url))
    if values.shape != (vertices,):
        raise ImageError(
            f"{url} holds {values.size} values, not one for each of {vertices} vertices",
            hint="the file is damaged or not an fs_LR 32k map: reinstall brainspace",
        )
    return values


def read_matrix(url: str) -> np.ndarray:
    """A square matrix from a comma-separated text file (read-only).

    Raises
    ------
    DataUnavailableError
        The file is not installed.
    ImageError
        The file is not a square matrix of numbers.
    """
    path = _path(url)
    values = _numbers(path)
    with path.open(encoding="ascii") as handle:
        rows = sum(1 for line in handle if line.strip())
    if rows == 0 or values.size != rows * rows:
        raise ImageError(
            f"{url} is not a square matrix: {values.size} values in {rows} rows",
            hint="the file is damaged: reinstall brainspace",
        )
    return values.reshape(rows, rows)


# --------------------------------------------------------------------------- regions


def surface_map_of(parcellation_id: str) -> object:
    """The labelled fs_LR 32k map of a parcellation, from the active catalogue."""
    return catalogue.active().get_map(parcellation_id, FSLR, "labelled")


def region_codes(the_map: object) -> tuple[np.ndarray, dict[int, str]]:
    """One code per vertex of both hemispheres, and the region name of each code.

    A label may name a different region on each hemisphere (Mesulam's classes), so a
    code is the label plus an offset per hemisphere; codes follow label order, left
    hemisphere first.
    """
    volume = the_map.volumes[0]
    halves = [
        providers.surface_labels(volume.providers, side, volume.base) for side, _ in HEMISPHERES
    ]
    stride = int(max(int(h.max(initial=0)) for h in halves)) + 1
    codes = np.concatenate([h + k * stride * (h > 0) for k, h in enumerate(halves)])
    sides = [side for side, _ in HEMISPHERES]
    names: dict[int, str] = {}
    for name, entries in the_map.indices.items():
        for index in entries:
            fragments = [index.fragment] if index.fragment else sides
            for fragment in fragments:
                names[index.label + sides.index(fragment) * stride] = name
    return codes, dict(sorted(names.items()))


def region_names(parcellation_id: str) -> list[str]:
    """The regions of a parcellation's fs_LR 32k map in label order (a matrix's rows)."""
    the_map = surface_map_of(parcellation_id)
    labels = {index.label: name for name, entries in the_map.indices.items() for index in entries}
    return [labels[k] for k in sorted(labels)]


# --------------------------------------------------------------------------- features


def connectivity(parcellation: str, parcels: int, cohort: str) -> FunctionalConnectivity:
    """The group-mean FC matrix of a brainspace parcellation and cohort."""
    pid = PARCELLATIONS[(parcellation, parcels)]
    url = f"{DATA}matrices/{cohort}_group/{parcellation}_{parcels}_mean_connectivity_matrix.csv"

    def load() -> pd.DataFrame:
        matrix = read_matrix(url)
        names = region_names(pid)
        if len(names) != len(matrix):
            raise ImageError(
                f"{url}: a {len(matrix)} x {len(matrix)} matrix for the {len(names)} regions "
                f"of {pid}",
                hint="the matrix does not belong to this parcellation",
            )
        return pd.DataFrame(np.array(matrix), index=names, columns=names)

    title = "Schaefer" if parcellation == "schaefer" else "Vos de Wael"
    return FunctionalConnectivity(
        id=f"neuratlas/brainspace/fc/{pid.rsplit('/', 1)[1]}/{cohort}",
        name=f"Functional connectivity, {title} {parcels} ({cohort} group)",
        anchor=Anchor(species=HUMAN, parcellation=pid),
        loader=load,
        cohort=COHORTS[cohort],
        subject="average",
        paradigm="resting state",
        description="Group-mean resting-state functional connectivity (correlation) of HCP "
        f"subjects between the {parcels} regions of the parcellation, as shipped by brainspace "
        "(Vos de Wael et al. 2020); rows and columns are the regions in label order.",
        publications=[BRAINSPACE_2020],
        metadata={"group": cohort, "parcels": parcels},
        source=SOURCE,
    )


def surface_map(stem: str) -> SurfaceMap:
    """The fs_LR 32k per-vertex map ``conte69_32k_<stem>.csv`` of brainspace."""
    cls, title, metadata = SURFACE_MAPS[stem]
    url = f"{DATA}matrices/main_group/conte69_32k_{stem}.csv"
    return cls(
        id=f"neuratlas/brainspace/surface/{stem}",
        name=f"{title} on fs_LR 32k",
        anchor=Anchor(species=HUMAN, space=FSLR),
        loader=lambda: read_vertex_values(url),
        hemispheres=HEMISPHERES,
        description=f"{title} per vertex of fs_LR 32k (left hemisphere, then right), the "
        "HCP group data shipped by brainspace (conte69_32k maps).",
        publications=[BRAINSPACE_2020, PAQUOLA_2019] if "mpc" in stem else [BRAINSPACE_2020],
        metadata={"measure": cls.modality, **metadata},
        source=SOURCE,
    )


def regional_table(the_map: object, stem: str) -> RegionalSurfaceStatistics:
    """The statistics of one surface map over the regions of one fs_LR 32k map (lazy)."""
    source = surface_map(stem)
    parcellation = the_map.parcellation

    def load() -> pd.DataFrame:
        codes, names = region_codes(the_map)
        return regional_statistics(source.data, codes, names)

    return RegionalSurfaceStatistics(
        id=f"neuratlas/brainspace/regional/{parcellation.id.rsplit('/', 1)[1]}/{stem}",
        name=f"{source.name.removesuffix(' on fs_LR 32k')} per region of "
        f"{parcellation.short_name or parcellation.name}",
        anchor=Anchor(species=HUMAN, parcellation=parcellation.id),
        loader=load,
        description=f"Mean, standard deviation and vertex count of '{source.name}' over the "
        f"vertices of each region of {parcellation.name} on fs_LR 32k.",
        publications=source.publications,
        metadata=dict(source.metadata),
        source=SOURCE,
    )


def features() -> list[Feature]:
    """Every brainspace feature: FC matrices, surface maps, regional tables.

    Regional tables are made for every labelled map on fs_LR 32k of the active
    catalogue (its surface parcellations, those of added configurations too).
    """
    out: list[Feature] = [
        connectivity(name, parcels, cohort)
        for (name, parcels) in PARCELLATIONS
        for cohort in COHORTS
    ]
    out += [surface_map(stem) for stem in SURFACE_MAPS]
    maps = [
        m for m in catalogue.active().maps if m.space.id == FSLR and m.maptype.value == "labelled"
    ]
    out += [regional_table(m, stem) for m in maps for stem in SURFACE_MAPS]
    return out


register_source(SOURCE, features)
