"""Dataverse's file listing and its API key."""

from __future__ import annotations

import dataclasses
import hashlib

import pytest

from neuratlas.errors import AuthenticationError, DownloadError
from neuratlas.lesion.connectomes import dataverse
from neuratlas.lesion.connectomes.sources import get_source

PID = "doi:10.7910/DVN/ILXIKS"


def test_the_listing_gives_names_urls_sizes_and_checksums(server):
    paths = server.add_dataverse(PID, [("a.tar", b"aaaa"), ("m.nii.gz", b"mm")], "k")
    source = get_source("gsp1000")
    with dataverse.client(source, "k") as http:
        files = dataverse.list_files(http, source)
    assert [(f.name, f.size, f.algorithm) for f in files] == [
        ("a.tar", 4, "md5"),
        ("m.nii.gz", 2, "md5"),
    ]
    assert files[0].checksum == hashlib.md5(b"aaaa").hexdigest()
    assert files[0].url == server.base_url + paths["a.tar"]
    listing = "/api/datasets/:persistentId/versions/:latest/files"
    assert server.hits(listing)[0]["X-Dataverse-key"] == "k"


def test_other_checksum_types_are_kept(server):
    server.add_dataverse(PID, [("a.tar", b"aaaa")], "k", checksum_type="SHA-256")
    source = get_source("gsp1000")
    with dataverse.client(source, "k") as http:
        (remote,) = dataverse.list_files(http, source)
    assert remote.algorithm == "sha-256" and remote.checksum == hashlib.sha256(b"aaaa").hexdigest()


def test_no_key_anywhere_is_an_authentication_error():
    with pytest.raises(AuthenticationError, match="Dataverse API key is needed") as info:
        dataverse.client(get_source("gsp1000"))
    assert "DATAVERSE_API_KEY" in info.value.hint and "apiTokenTab" in info.value.hint


def test_a_wrong_key_and_an_unknown_dataset(server):
    server.add_dataverse(PID, [("a.tar", b"a")], "k")
    source = get_source("gsp1000")
    with dataverse.client(source, "bad") as http, pytest.raises(AuthenticationError):
        dataverse.list_files(http, source)
    other = dataclasses.replace(source, persistent_id="doi:10.0/NOPE")
    with dataverse.client(other, "k") as http, pytest.raises(DownloadError, match="HTTP 404"):
        dataverse.list_files(http, other)
    nameless = dataclasses.replace(source, persistent_id=None)
    with (
        dataverse.client(nameless, "k") as http,
        pytest.raises(DownloadError, match="persistent_id"),
    ):
        dataverse.list_files(http, nameless)


@pytest.mark.parametrize(
    ("answer", "message"),
    [
        ({"status": "ERROR", "message": "Dataset is deaccessioned"}, "deaccessioned"),
        ({"status": "OK", "data": []}, "lists no files"),
        ({"status": "OK", "data": [{"label": "x"}]}, "without a dataFile id"),
        ([1, 2], "no status OK"),
    ],
)
def test_unusable_answers_are_download_errors(server, answer, message):
    listing = "/api/datasets/:persistentId/versions/:latest/files"
    server.json[listing] = lambda query: (200, answer)
    source = get_source("gsp1000")
    with dataverse.client(source, "k") as http, pytest.raises(DownloadError, match=message):
        dataverse.list_files(http, source)


def test_files_of_the_same_name_in_different_folders_are_told_apart(server):
    server.add_dataverse(PID, [("part.tar", b"a"), ("part.tar", b"b")], "k")
    listing = "/api/datasets/:persistentId/versions/:latest/files"
    answer = server.json[listing]({"persistentId": [PID]})[1]
    answer["data"][0]["directoryLabel"] = "batch/one"
    answer["data"][1]["directoryLabel"] = "batch/two"
    server.json[listing] = lambda query: (200, answer)
    source = get_source("gsp1000")
    with dataverse.client(source, "k") as http:
        files = dataverse.list_files(http, source)
    assert [f.name for f in files] == ["batch_one_part.tar", "batch_two_part.tar"]
