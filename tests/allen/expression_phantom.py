"""A phantom whose expression per region is known, for the gene -> expression tests.

A small CCFv3-style annotation (25 µm, PIR) is served by the fake download server
as the mouse atlas's ``annotation_25.nrrd`` (as tests/core/test_mouse_atlas.py
serves it); the fake Allen API serves one coronal Gad1 dataset whose expression
view is :data:`LEVEL` inside a box around the caudoputamen (CP) and 0 everywhere
else, so that CP's mean is known and CA1/CA2, far from the box, have none.

:func:`served_sagittal_atlas` serves a sagittal dataset instead, cut from one
hemisphere as the Allen atlas's are (registered to reference space 10, the left
hemisphere in the CCF), over an annotation of the whole CCF at 100 µm in which CP
lies in both hemispheres, CA1 only in the left one and CA2 only in the right one.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pytest

import neuratlas
from neuratlas import catalogue
from tests.allen import fake_allen_api
from tests.allen.fake_allen_api import CORONAL_ID, SAGITTAL_ID, FakeAllenAPI, make_dataset
from tests.volumes.fake_download_server import (
    CCF_PATH,
    FakeDownloadServer,
    ccf_nrrd,
    served_mouse_specs,
)

# Allen structure ids
CA1, CA2, CP, ROOT = 382, 423, 672, 997
SHAPE = (320, 80, 80)  # PIR voxels of 25 um: p reaches the sections (~5.8 to 7.1 mm)
#: The expression level drawn inside the box.
LEVEL = 200.0
#: Grey level of LEVEL in the expression view's false colours (R, 0.6 R, 0.1 R), BT.601 luma.
LEVEL_GREY = 0.299 * LEVEL + 0.587 * 0.6 * LEVEL + 0.114 * 0.1 * LEVEL
#: The box (µm, along i and r) where the expression is LEVEL; CP lies well inside.
BOX_UM = (950.0, 1850.0)
#: The whole CCF in voxels of 100 µm (PIR), for the sagittal phantom.
WHOLE_SHAPE = (132, 80, 114)
#: CP's voxels along r (100 µm) in the left hemisphere; the right ones are their mirror.
CP_LEFT_R = range(25, 40)


def annotation() -> np.ndarray:
    """The labels (PIR, 25 µm): root, CP inside the box, CA1 and CA2 far from it."""
    data = np.zeros(SHAPE, dtype=np.uint32)
    data[180:320, 16:80, 0:80] = ROOT
    data[200:300, 48:64, 48:64] = CP  # i, r 1200-1575 um
    data[200:250, 24:32, 8:20] = CA1  # i 600-775 um, r 200-475 um
    data[250:300, 24:32, 8:20] = CA2
    return data


def mirrored(r_voxels: range) -> range:
    """The mirror image across the CCF midline of voxels (100 µm) along r: k -> 114 - k."""
    return range(WHOLE_SHAPE[2] - r_voxels[-1], WHOLE_SHAPE[2] - r_voxels[0] + 1)


def bilateral_annotation() -> np.ndarray:
    """The whole CCF at 100 µm: CP on both sides, CA1 on the left only, CA2 on the right only."""
    data = np.zeros(WHOLE_SHAPE, dtype=np.uint32)
    data[20:112, 10:70, 10:104] = ROOT
    left, right = CP_LEFT_R, mirrored(CP_LEFT_R)
    data[50:80, 30:45, left.start : left.stop] = CP
    data[50:80, 30:45, right.start : right.stop] = CP
    data[50:80, 15:25, left.start : left.stop] = CA1
    data[50:80, 15:25, right.start : right.stop] = CA2
    return data


def uniform_expression(pir: np.ndarray) -> np.ndarray:
    """LEVEL everywhere: every sampled voxel has the same expression."""
    return np.full(pir.shape[1], LEVEL)


def box_expression(pir: np.ndarray) -> np.ndarray:
    """LEVEL inside the box, 0 elsewhere (replaces the fake API's expression phantom)."""
    _, i, r = pir
    low, high = BOX_UM
    inside = (i >= low) & (i <= high) & (r >= low) & (r <= high)
    return np.where(inside, LEVEL, 0.0)


@contextmanager
def served_mouse_atlas(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """The mouse atlas with :func:`annotation` as the active configuration; yields the API URL.

    Also starts the fake Allen API (one coronal Gad1 dataset drawn with
    :func:`box_expression`) and points ``NEURATLAS_ALLEN_API`` and the cache at them.
    """
    monkeypatch.setenv("NEURATLAS_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(fake_allen_api, "expression_phantom", box_expression)
    files = {f"{CCF_PATH}annotation/ccf_2017/annotation_25.nrrd": ccf_nrrd(annotation(), 25)}
    server = FakeDownloadServer(files).start()
    api = FakeAllenAPI([make_dataset(CORONAL_ID, "coronal", n_images=6, gene="Gad1", seed=1)])
    api.start()
    monkeypatch.setenv("NEURATLAS_ALLEN_API", api.base_url)
    previous = catalogue._active
    try:
        neuratlas.use_configuration(
            served_mouse_specs(tmp_path / "config", server.base_url), strict=True
        )
        yield api.base_url
    finally:
        catalogue._active = previous
        api.stop()
        server.stop()


@contextmanager
def served_sagittal_atlas(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """The mouse atlas with :func:`bilateral_annotation`, and one sagittal Gad1 dataset.

    The dataset's 8 sections lie in one hemisphere (the left one in the CCF) and
    show :func:`uniform_expression`; yields the fake API's URL.
    """
    monkeypatch.setenv("NEURATLAS_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(fake_allen_api, "expression_phantom", uniform_expression)
    # served where the 25 µm file is; its header says 100 µm voxels, which is what is read
    files = {
        f"{CCF_PATH}annotation/ccf_2017/annotation_25.nrrd": ccf_nrrd(bilateral_annotation(), 100)
    }
    server = FakeDownloadServer(files).start()
    dataset = make_dataset(
        SAGITTAL_ID, "sagittal", n_images=8, gene="Gad1", seed=2, one_hemisphere=True
    )
    api = FakeAllenAPI([dataset]).start()
    monkeypatch.setenv("NEURATLAS_ALLEN_API", api.base_url)
    previous = catalogue._active
    try:
        neuratlas.use_configuration(
            served_mouse_specs(tmp_path / "config", server.base_url), strict=True
        )
        yield api.base_url
    finally:
        catalogue._active = previous
        api.stop()
        server.stop()
