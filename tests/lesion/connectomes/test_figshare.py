"""Figshare's article API and its token."""

from __future__ import annotations

import dataclasses
import hashlib

import pytest

from neuratlas.errors import AuthenticationError, DownloadError
from neuratlas.lesion.connectomes import figshare
from neuratlas.lesion.connectomes.sources import get_source


def test_the_article_lists_downloadable_files_with_md5(server):
    server.add_figshare(
        25209947, [("t.trk", b"TRACK"), ("link.trk", b"")], "tok", link_only=("link.trk",)
    )
    source = get_source("dtor985")
    with figshare.client(source, "tok") as http:
        (remote,) = figshare.list_files(http, source)
    assert remote.name == "t.trk" and remote.size == 5
    assert remote.checksum == hashlib.md5(b"TRACK").hexdigest() and remote.algorithm == "md5"
    assert server.hits("/v2/articles/25209947")[0]["Authorization"] == "token tok"


def test_the_token_comes_from_the_environment(server, monkeypatch):
    server.add_figshare(25209947, [("t.trk", b"TRACK")], "tok")
    monkeypatch.setenv("FIGSHARE_API_KEY", "tok")
    source = get_source("dtor985")
    with figshare.client(source) as http:
        assert len(figshare.list_files(http, source)) == 1


def test_no_token_and_a_refused_token(server):
    source = get_source("dtor985")
    with pytest.raises(AuthenticationError, match="Figshare API token is needed") as info:
        figshare.client(source)
    assert "FIGSHARE_API_KEY" in info.value.hint
    server.add_figshare(25209947, [("t.trk", b"TRACK")], "tok")
    with figshare.client(source, "nope") as http, pytest.raises(AuthenticationError) as info:
        figshare.list_files(http, source)
    assert "FIGSHARE_API_KEY" in info.value.hint


@pytest.mark.parametrize(
    ("article", "message"),
    [
        ({"id": 1}, "has no list of files"),
        ({"id": 1, "files": []}, "no downloadable files"),
        ({"id": 1, "files": [{"name": "x", "is_link_only": True}]}, "no downloadable files"),
    ],
)
def test_unusable_articles_are_download_errors(server, article, message):
    server.json["/v2/articles/25209947"] = lambda query: (200, article)
    source = get_source("dtor985")
    with figshare.client(source, "t") as http, pytest.raises(DownloadError, match=message):
        figshare.list_files(http, source)


def test_a_source_without_an_article(server):
    source = dataclasses.replace(get_source("dtor985"), article_id=None)
    with figshare.client(source, "t") as http, pytest.raises(DownloadError, match="article_id"):
        figshare.list_files(http, source)
