"""A GitHub release asset, its size and its SHA-256 from the releases API."""

from __future__ import annotations

import dataclasses
import hashlib

import pytest

from neuratlas.errors import DownloadError
from neuratlas.lesion.connectomes import github
from neuratlas.lesion.connectomes.sources import get_source
from neuratlas.lesion.connectomes.transfer import make_client


def test_release_urls_are_parsed_on_any_host():
    url = "https://github.com/data-others/atlas/releases/download/hcp1065/hcp%201065.zip"
    assert github.release_of(url) == ("data-others", "atlas", "hcp1065", "hcp 1065.zip")
    assert github.release_of("http://127.0.0.1:9/o/r/releases/download/t/a.zip") == (
        "o",
        "r",
        "t",
        "a.zip",
    )
    assert github.release_of("https://example.org/files/a.zip") is None


def test_the_api_gives_the_assets_size_digest_and_url(server):
    paths = server.add_github(
        "data-others",
        "atlas",
        "hcp1065",
        {"hcp1065_avg_tracts_trk.zip": b"PK\x03\x04zip", "other.zip": b"x"},
    )
    warnings: list[str] = []
    with make_client() as http:
        remote = github.asset(http, get_source("hcp1065"), warnings)
    assert remote.name == "hcp1065_avg_tracts_trk.zip" and remote.size == 7
    assert remote.algorithm == "sha256"
    assert remote.checksum == hashlib.sha256(b"PK\x03\x04zip").hexdigest()
    assert remote.url == server.base_url + paths["hcp1065_avg_tracts_trk.zip"]
    assert warnings == []


def test_an_asset_without_a_digest_is_checked_by_size(server):
    server.add_github(
        "data-others",
        "atlas",
        "hcp1065",
        {"hcp1065_avg_tracts_trk.zip": b"PK"},
        digests={"hcp1065_avg_tracts_trk.zip": None},
    )
    with make_client() as http:
        remote = github.asset(http, get_source("hcp1065"), [])
    assert remote.checksum is None and remote.size == 2


def test_a_release_without_the_asset_lists_what_it_has(server):
    server.add_github("data-others", "atlas", "hcp1065", {"other.zip": b"x"})
    with (
        make_client() as http,
        pytest.raises(DownloadError, match=r"no asset .* \(it has other\.zip\)"),
    ):
        github.asset(http, get_source("hcp1065"), [])


def test_without_the_api_the_url_is_used_with_a_warning(server):
    warnings: list[str] = []
    with make_client() as http:
        remote = github.asset(http, get_source("hcp1065"), warnings)
    assert remote.url == get_source("hcp1065").download_url and remote.checksum is None
    assert "could not ask the GitHub API" in warnings[0]
    plain = dataclasses.replace(get_source("hcp1065"), download_url="http://127.0.0.1:9/f/a.zip")
    with make_client() as http:
        assert github.asset(http, plain, warnings).url == "http://127.0.0.1:9/f/a.zip"
    nothing = dataclasses.replace(plain, download_url=None)
    with make_client() as http, pytest.raises(DownloadError, match="no download_url"):
        github.asset(http, nothing, warnings)
