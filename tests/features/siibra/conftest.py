"""A siibra-layout features folder whose data a local server on 127.0.0.1 serves."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.features.siibra import layout
from tests.volumes.fake_download_server import FakeDownloadServer


@pytest.fixture(scope="module")
def server() -> Iterator[FakeDownloadServer]:
    srv = FakeDownloadServer(layout.served_files()).start()
    try:
        yield srv
    finally:
        srv.stop()


@pytest.fixture(scope="module")
def config_root(server: FakeDownloadServer, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A configuration folder: one embedded parcellation plus the ``features/`` folder."""
    from neuratlas.configuration.loader import BUILTIN

    root = tmp_path_factory.mktemp("siibra-config")
    (root / "parcellations").mkdir()
    name = "harvard-oxford-cortical.json"
    (root / "parcellations" / name).write_bytes((BUILTIN / "parcellations" / name).read_bytes())
    return layout.write_features(root, server.base_url)


@pytest.fixture(scope="module")
def features_folder(config_root: Path) -> Path:
    return config_root / "features"
