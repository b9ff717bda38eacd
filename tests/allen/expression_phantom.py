"""A phantom whose expression per region is known, for the gene -> expression tests.

A small CCFv3-style annotation (25 µm, PIR) is served by the fake download server
as the mouse atlas's ``annotation_25.nrrd`` (as tests/core/test_mouse_atlas.py
serves it); the fake Allen API serves one coronal Gad1 dataset whose expression
view is :data:`LEVEL` inside a box around the caudoputamen (CP) and 0 everywhere
else, so that CP's mean is known and CA1/CA2, far from the box, have none.
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
from tests.allen.fake_allen_api import CORONAL_ID, FakeAllenAPI, make_dataset
from tests.core.test_mouse_atlas import _served_folder
from tests.volumes.fake_download_server import CCF_PATH, FakeDownloadServer, ccf_nrrd

# Allen structure ids
CA1, CA2, CP, ROOT = 382, 423, 672, 997
SHAPE = (320, 80, 80)  # PIR voxels of 25 um: p reaches the sections (~5.8 to 7.1 mm)
#: The expression level drawn inside the box.
LEVEL = 200.0
#: Grey level of LEVEL in the expression view's false colours (R, 0.6 R, 0.1 R), BT.601 luma.
LEVEL_GREY = 0.299 * LEVEL + 0.587 * 0.6 * LEVEL + 0.114 * 0.1 * LEVEL
#: The box (µm, along i and r) where the expression is LEVEL; CP lies well inside.
BOX_UM = (950.0, 1850.0)


def annotation() -> np.ndarray:
    """The labels (PIR, 25 µm): root, CP inside the box, CA1 and CA2 far from it."""
    data = np.zeros(SHAPE, dtype=np.uint32)
    data[180:320, 16:80, 0:80] = ROOT
    data[200:300, 48:64, 48:64] = CP  # i, r 1200-1575 um
    data[200:250, 24:32, 8:20] = CA1  # i 600-775 um, r 200-475 um
    data[250:300, 24:32, 8:20] = CA2
    return data


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
            _served_folder(tmp_path / "config", server.base_url), strict=True
        )
        yield api.base_url
    finally:
        catalogue._active = previous
        api.stop()
        server.stop()
