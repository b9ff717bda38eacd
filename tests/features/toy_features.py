"""Small feature sources on the embedded parcellations, and a registry that is put back.

The features are anchored like real ones: a receptor fingerprint on Juelich's
``hOc1`` (resolved in every human parcellation, as siibra anchors receptor data),
another on its left hemisphere, a profile on ``hOc1 right``, a functional
connectivity matrix on a whole Schaefer parcellation, one on Juelich, sample
locations in MNI152 NLin6, and an image in that space with its bounding box.
Data is generated here, with a fixed seed.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterable, Iterator

import nibabel as nib
import numpy as np
import pandas as pd

import neuratlas
from neuratlas.features import (
    Anchor,
    CellDensityProfile,
    Feature,
    FunctionalConnectivity,
    Image,
    ReceptorDensityFingerprint,
    SampleLocations,
    StreamlineCounts,
    sources,
)
from neuratlas.locations.boundingbox import BoundingBox

HUMAN = "Homo sapiens"
NLIN6 = "MNI 152 Nonlinear 6th Generation Asymmetric (FSL)"
SCHAEFER = "neuratlas/parcellation/schaefer2018-100-7"
JUELICH = "neuratlas/parcellation/juelich-histological"
RECEPTORS = ["AMPA", "NMDA", "GABAA", "M1", "5-HT1A"]
# left and right primary visual cortex, and a point in the right precentral gyrus
V1_LEFT = (-8.0, -90.0, 2.0)
V1_RIGHT = (10.0, -90.0, 0.0)
MOTOR_RIGHT = (40.0, -20.0, 55.0)


@contextlib.contextmanager
def only_sources(**named: Callable[[], Iterable[Feature]]) -> Iterator[None]:
    """Register just these sources (no built-in ones) for the block; put everything back."""
    saved = sources.snapshot()
    sources.restore(({}, []))
    try:
        for name, source in named.items():
            sources.register_source(name, source)
        yield
    finally:
        sources.restore(saved)


def fingerprint(seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    mean = rng.uniform(100, 2000, len(RECEPTORS))
    return pd.DataFrame(
        {"mean": mean, "std": mean * 0.1}, index=pd.Index(RECEPTORS, name="receptor")
    )


def profile(seed: int = 1) -> pd.DataFrame:
    depth = np.linspace(0, 1, 11)
    rng = np.random.default_rng(seed)
    values = 50 + 30 * np.sin(np.pi * depth) + rng.normal(0, 1, len(depth))
    return pd.DataFrame({"density": values}, index=pd.Index(depth, name="depth"))


def matrix(n: int, seed: int = 2) -> np.ndarray:
    rng = np.random.default_rng(seed)
    a = rng.uniform(-1, 1, (n, n))
    m = (a + a.T) / 2
    np.fill_diagonal(m, 1.0)
    return m


def schaefer_labels() -> list[str]:
    parc = neuratlas.get_parcellation(SCHAEFER)
    return [r.name for r in parc.leaves]


def samples() -> pd.DataFrame:
    coords = np.array([V1_LEFT, V1_RIGHT, (0.0, 0.0, 200.0)])
    frame = pd.DataFrame(coords, columns=["x", "y", "z"])
    frame["donor"] = ["d1", "d1", "d2"]
    return frame


def image() -> nib.Nifti1Image:
    data = np.zeros((10, 10, 10), dtype=np.float32)
    data[3:7, 3:7, 3:7] = 1.0
    affine = np.diag([2.0, 2.0, 2.0, 1.0])
    affine[:3, 3] = [0.0, -100.0, -10.0]  # spans x 0..18, y -100..-82, z -10..8 mm
    return nib.Nifti1Image(data, affine)


def toy_features() -> list[Feature]:
    """The features of the toy source (fresh objects: nothing is shared between tests)."""
    labels = schaefer_labels()
    return [
        ReceptorDensityFingerprint(
            id="toy/fingerprint/hoc1",
            name="Receptor fingerprint of hOc1",
            anchor=Anchor(species=HUMAN, regions=("hOc1",)),
            loader=fingerprint,
            metadata={"receptors": RECEPTORS, "unit": "fmol/mg"},
            publications=[{"citation": "Zilles et al.", "url": "https://doi.org/10/x"}],
        ),
        ReceptorDensityFingerprint(
            id="toy/fingerprint/hoc1-left",
            name="Receptor fingerprint of hOc1 left",
            anchor=Anchor(species=HUMAN, parcellation=JUELICH, regions=("hOc1 left",)),
            loader=lambda: fingerprint(3),
            metadata={"receptors": RECEPTORS, "unit": "fmol/mg"},
        ),
        CellDensityProfile(
            id="toy/profile/hoc1-right",
            name="Cell density profile of hOc1 right",
            anchor=Anchor(species=HUMAN, parcellation=JUELICH, regions=("hOc1 right",)),
            loader=profile,
            metadata={"unit": "cells/mm3"},
        ),
        FunctionalConnectivity(
            id="toy/fc/schaefer-100-7",
            name="Functional connectivity Schaefer 100 (7 networks)",
            anchor=Anchor(species=HUMAN, parcellation=SCHAEFER),
            loader=lambda: matrix(len(labels)),
            regions=labels,
            cohort="HCP",
            subject="average",
        ),
        FunctionalConnectivity(
            id="toy/fc/schaefer-100-7/subject-01",
            name="Functional connectivity Schaefer 100 (7 networks), subject 01",
            anchor=Anchor(species=HUMAN, parcellation=SCHAEFER),
            loader=lambda: matrix(len(labels), seed=5),
            regions=labels,
            cohort="HCP",
            subject="01",
        ),
        StreamlineCounts(
            id="toy/sc/juelich",
            name="Streamline counts Juelich",
            anchor=Anchor(species=HUMAN, parcellation=JUELICH),
            loader=lambda: matrix(3),
            regions=["a", "b", "c"],
            cohort="1000BRAINS",
        ),
        SampleLocations(
            id="toy/samples",
            name="Toy tissue samples",
            anchor=Anchor(species=HUMAN, space=NLIN6),
            loader=samples,
        ),
        Image(
            id="toy/image/occipital-box",
            name="Toy occipital volume",
            anchor=Anchor(
                species=HUMAN,
                space=NLIN6,
                location=BoundingBox((0, -100, -10), (18, -82, 8), NLIN6),
            ),
            loader=image,
        ),
    ]
