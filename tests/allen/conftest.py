"""Fixtures of the Allen tests: a fake Allen API on 127.0.0.1 and a client for it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from neuratlas.allen.client import AllenClient
from tests.allen.fake_allen_api import CORONAL_ID, SAGITTAL_ID, FakeAllenAPI, make_dataset


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh neuratlas cache for one test."""
    root = tmp_path / "cache"
    monkeypatch.setenv("NEURATLAS_CACHE", str(root))
    return root


@pytest.fixture
def fake_api(cache: Path) -> Iterator[FakeAllenAPI]:
    """A running fake API with one coronal and one sagittal dataset."""
    api = FakeAllenAPI(
        [
            make_dataset(CORONAL_ID, "coronal", n_images=6, gene="Gad1", seed=1),
            make_dataset(SAGITTAL_ID, "sagittal", n_images=5, gene="Gad1", seed=2),
        ]
    ).start()
    try:
        yield api
    finally:
        api.stop()


@pytest.fixture
def client(fake_api: FakeAllenAPI) -> Iterator[AllenClient]:
    """A client of the fake API with short timeouts and no waiting between retries."""
    with AllenClient(fake_api.base_url, timeout=2.0, retries=2, backoff=0.0) as c:
        yield c


@pytest.fixture
def decodings(monkeypatch: pytest.MonkeyPatch) -> list[tuple[Path, str]]:
    """Every section image decoded from now on: ``(file, what)``, in order."""
    from neuratlas.allen import client as client_module

    seen: list[tuple[Path, str]] = []
    real = client_module.read_image

    def recording(path: Path, what: str = "image") -> Any:
        seen.append((path, what))
        return real(path, what)

    monkeypatch.setattr(client_module, "read_image", recording)
    return seen
