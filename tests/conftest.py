"""Shared fixtures: an isolated cache for the whole run, and the toy atlas."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(scope="session", autouse=True)
def _isolated_cache(tmp_path_factory: pytest.TempPathFactory) -> None:
    # every test run gets its own cache: no test reads or pollutes the user's
    import os

    os.environ["NEURATLAS_CACHE"] = str(tmp_path_factory.mktemp("neuratlas-cache"))


@pytest.fixture(scope="session")
def toy_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from tests.toy_atlas import write_toy_atlas

    return write_toy_atlas(tmp_path_factory.mktemp("toy-config"))


@pytest.fixture(scope="session")
def toy(toy_folder: Path):
    """A Catalogue over the toy configuration only."""
    from neuratlas.catalogue import Catalogue

    return Catalogue([toy_folder], strict=True)


@pytest.fixture
def toy_active(toy_folder: Path):
    """Make the toy configuration the active one for one test, then restore the previous."""
    import neuratlas
    from neuratlas import catalogue

    previous = catalogue._active
    try:
        yield neuratlas.use_configuration(toy_folder, strict=True)
    finally:
        catalogue._active = previous


@pytest.fixture
def toy_copy(toy_folder: Path, tmp_path: Path) -> Path:
    """A private, writable copy of the toy configuration folder (for tests that edit it)."""
    import shutil

    return Path(shutil.copytree(toy_folder, tmp_path / "toy"))


@pytest.fixture(scope="session")
def juelich_statistical():
    """The embedded Juelich probability maps, with their sparse index built.

    The build decodes the 121-map source (about 10 s) once per run, here rather than
    in whichever test reads the index first; every test that asks for this fixture
    is marked slow (see ``pytest_collection_modifyitems``).
    """
    import neuratlas

    the_map = neuratlas.get_map("juelich", "MNI152 NLin6", "statistical")
    the_map.sparse_index  # noqa: B018 - build it now
    return the_map


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "juelich_statistical" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.slow)


@pytest.fixture
def no_retry_waits(monkeypatch: pytest.MonkeyPatch) -> None:
    """Downloads retry without sleeping between attempts (unreachable URLs fail fast)."""
    from neuratlas.retrieval import http

    monkeypatch.setattr(http, "_default_client", http.HttpClient(sleep=lambda _: None))
