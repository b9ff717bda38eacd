"""Every connectome test runs in its own data folder, without keys, against 127.0.0.1."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from neuratlas.lesion.connectomes import transfer
from tests.lesion.connectomes.fake_servers import FakeServer

_ENV = (
    "DATAVERSE_API_KEY",
    "FIGSHARE_API_KEY",
    "NEURATLAS_DATAVERSE_SERVER",
    "NEURATLAS_FIGSHARE_API",
    "NEURATLAS_GITHUB_API",
)


@pytest.fixture(autouse=True)
def isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A private data folder and config file, no API keys, no waiting between retries."""
    for name in _ENV:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("NEURATLAS_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("NEURATLAS_CONFIG", str(tmp_path / "config.toml"))
    monkeypatch.setitem(transfer.CLIENT_OPTIONS, "backoff", 0.0)
    monkeypatch.setitem(transfer.CLIENT_OPTIONS, "timeout", 10.0)
    return tmp_path / "data"


@pytest.fixture
def server(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeServer]:
    """The fake servers, with the sources pointed at them."""
    with FakeServer() as fake:
        monkeypatch.setenv("NEURATLAS_DATAVERSE_SERVER", fake.base_url)
        monkeypatch.setenv("NEURATLAS_FIGSHARE_API", fake.base_url + "/v2")
        monkeypatch.setenv("NEURATLAS_GITHUB_API", fake.base_url + "/api")
        yield fake
