"""Where the Allen API is, the shared connection, and the Allen cache helpers."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import neuratlas
from neuratlas.allen import api
from neuratlas.allen.client import (
    AllenClient,
    CacheUsage,
    cache_folder,
    cache_usage,
    clear_cache,
)
from neuratlas.allen.rma import RMAQuery, rma
from neuratlas.errors import ArgumentError
from tests.allen.fake_allen_api import CORONAL_ID, FakeAllenAPI

SOURCES = Path(neuratlas.__file__).parent


class TestConnection:
    def test_connect_uses_the_allen_settings(self) -> None:
        with api.connect("http://127.0.0.1:9/api/v2") as http:
            assert (http.max_concurrency, http.retries, http.backoff) == (6, 4, 0.5)
        with api.connect(max_concurrency=2, retries=0, backoff=0.0) as http:
            assert (http.max_concurrency, http.retries, http.backoff) == (2, 0, 0.0)

    def test_shared_until_the_base_url_changes(self, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setenv("NEURATLAS_ALLEN_API", "http://127.0.0.1:9/api/v2/")
        first = api.shared_http()
        assert api.shared_http() is first
        assert api.shared_http("http://127.0.0.1:9/api/v2") is first  # the same URL
        monkeypatch.setenv("NEURATLAS_ALLEN_API", "http://127.0.0.1:8/api/v2/")
        second = api.shared_http()
        assert second is not first and api.shared_http() is second

    def test_default_client_and_rma_share_the_connection(
        self, fake_api: FakeAllenAPI, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.setenv("NEURATLAS_ALLEN_API", fake_api.base_url)
        client = AllenClient.default()
        assert client.base_url == fake_api.base_url
        assert client.http is api.shared_http() and AllenClient.default() is client
        assert rma(RMAQuery("SectionImage", {"data_set_id": CORONAL_ID})).total_rows == 6
        assert len(fake_api.paths("query.json")) == 1  # through the shared client's server


class TestBaseUrl:
    @pytest.mark.parametrize(
        ("given", "expected"),
        [
            ("http://127.0.0.1:9/api/v2", "http://127.0.0.1:9/api/v2/"),
            (" https://api.brain-map.org/api/v2/ ", "https://api.brain-map.org/api/v2/"),
            ("HTTPS://mirror.example.org/allen/", "HTTPS://mirror.example.org/allen/"),
        ],
    )
    def test_good_urls(self, given: str, expected: str) -> None:
        assert api.resolve_base_url(given) == expected

    @pytest.mark.parametrize("given", ["not-a-url", "ftp://host/api/v2/", "http:///v2/", "//h/"])
    def test_bad_urls_say_where_to_fix_them(
        self, given: str, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.setenv("NEURATLAS_ALLEN_API", given)
        for call in (api.resolve_base_url, api.connect, AllenClient):
            with pytest.raises(ArgumentError) as info:
                call()
            assert info.value.message == (
                f"the Allen API URL {given.strip()!r} is not an http(s) URL with a host name"
            )
            assert "NEURATLAS_ALLEN_API" in info.value.hint and "--api" in info.value.hint

    def test_connection_hint_names_the_url_and_the_settings(self) -> None:
        with api.connect("http://127.0.0.1:9/api/v2") as http:
            assert http.offline_hint == api.offline_hint("http://127.0.0.1:9/api/v2/")
        assert api.offline_hint("http://h/api/v2/").endswith(
            "point NEURATLAS_ALLEN_API (--api on the command line) at a reachable Allen API; "
            "now http://h/api/v2/"
        )


class TestCache:
    def test_usage_and_clear(self, client: AllenClient, cache: Path) -> None:
        assert cache_folder() == cache / "allen"
        assert cache_usage() == CacheUsage(cache / "allen", 0, 0)
        client.fetch_metadata(CORONAL_ID)
        (entry,) = (cache / "allen").iterdir()
        usage = cache_usage()
        assert (usage.folder, usage.files, usage.size) == (
            cache / "allen",
            1,
            entry.stat().st_size,
        )
        assert usage.size > 0
        assert clear_cache() == cache / "allen"
        assert not (cache / "allen").exists()
        assert cache_usage().files == 0

    def test_folder_is_not_created_by_asking(self, cache: Path) -> None:
        assert not cache_folder().exists()
        assert clear_cache() == cache / "allen"  # nothing to clear is fine


def _nested_imports(path: Path) -> list[str]:
    """``module:line`` of every neuratlas import made inside a function."""
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            continue
        for inner in ast.walk(node):
            if isinstance(inner, ast.ImportFrom) and (inner.module or "").startswith("neuratlas"):
                found.append(f"{path.name}:{inner.lineno}")
            if isinstance(inner, ast.Import) and any(
                alias.name.startswith("neuratlas") for alias in inner.names
            ):
                found.append(f"{path.name}:{inner.lineno}")
    return found


@pytest.mark.parametrize(
    "path",
    [*sorted((SOURCES / "allen").glob("*.py")), SOURCES / "cli" / "allen.py"],
    ids=lambda p: f"{p.parent.name}/{p.name}",
)
def test_neuratlas_imports_are_at_the_top(path: Path) -> None:
    # an import hidden in a function is how an import cycle goes unnoticed
    assert _nested_imports(path) == []
