"""Downloading into a folder: verified, resumed, never twice."""

from __future__ import annotations

import hashlib
import json

import pytest

from neuratlas.errors import AuthenticationError, DataUnavailableError, DownloadError
from neuratlas.lesion.connectomes.transfer import (
    LEDGER,
    RemoteFile,
    download_files,
    http_status,
    make_client,
    refused,
    safe_name,
)
from tests.lesion.connectomes.synthetic import tar_bytes

DATA = tar_bytes({"a.txt": b"a" * 20_000, "b.txt": b"b" * 5_000})


def _remote(server, name="d.tar", data=DATA, **kw) -> RemoteFile:
    path = f"/files/{name}"
    server.blobs[path] = data
    kw.setdefault("size", len(data))
    kw.setdefault("checksum", hashlib.md5(data).hexdigest())
    return RemoteFile(name=name, url=server.base_url + path, **kw)


def test_files_are_downloaded_verified_and_then_left_alone(tmp_path, server):
    remote = _remote(server)
    seen = []
    with make_client() as http:
        (path,) = download_files(http, [remote], tmp_path, progress_callback=seen.append)
        assert path.read_bytes() == DATA
        ledger = json.loads((tmp_path / LEDGER).read_text())
        assert ledger["d.tar"]["verified"] and ledger["d.tar"]["size"] == len(DATA)
        download_files(http, [remote], tmp_path, progress_callback=seen.append)
    assert len(server.hits("/files/d.tar")) == 1
    assert [p.message for p in seen] == [
        "downloading d.tar",
        "downloaded d.tar",
        "already downloaded: d.tar",
    ]
    assert seen[1].percent_complete == 100.0 and seen[1].bytes_transferred == len(DATA)


def test_a_present_file_is_checked_even_without_a_ledger(tmp_path, server):
    remote = _remote(server)
    (tmp_path / "d.tar").write_bytes(DATA)
    with make_client() as http:
        download_files(http, [remote], tmp_path)
        assert server.requests == []
        (tmp_path / "d.tar").write_bytes(DATA[:-1] + b"!")  # changed since: fetched again
        download_files(http, [remote], tmp_path, recheck=True)
    assert (tmp_path / "d.tar").read_bytes() == DATA and len(server.requests) == 1


def test_a_dropped_connection_resumes_where_it_stopped(tmp_path, server):
    remote = _remote(server)
    server.drop_once.add("/files/d.tar")
    with make_client() as http:
        download_files(http, [remote], tmp_path)
    first, second = server.hits("/files/d.tar")
    assert "Range" not in first and second["Range"] == f"bytes={len(DATA) // 2}-"
    assert (tmp_path / "d.tar").read_bytes() == DATA
    assert not (tmp_path / "d.tar.part").exists()


def test_a_corrupt_download_is_deleted_and_reported(tmp_path, server):
    remote = _remote(server, checksum="f" * 32)
    with make_client() as http, pytest.raises(DownloadError, match=r"announced f{32}"):
        download_files(http, [remote], tmp_path)
    assert not (tmp_path / "d.tar").exists() and not (tmp_path / LEDGER).exists()
    # without verification the size and checksum are not looked at, the type still is
    with make_client() as http:
        download_files(http, [remote], tmp_path, verify=False)
        html = _remote(server, "e.zip", b"<html>gone</html>", checksum=None)
        with pytest.raises(DownloadError, match="HTML page"):
            download_files(http, [html], tmp_path, verify=False)


def test_a_refusal_is_an_authentication_error_naming_the_variable(tmp_path, server):
    server.blobs["/files/k.tar"] = DATA
    server.auth["/files/k.tar"] = ("X-Key", "right")
    remote = RemoteFile("k.tar", server.base_url + "/files/k.tar")
    with (
        make_client() as http,
        pytest.raises(AuthenticationError, match="Example refused") as info,
    ):
        download_files(http, [remote], tmp_path, refusal=("Example", "EXAMPLE_KEY", "its site"))
    assert (
        info.value.hint == "set a valid API key in EXAMPLE_KEY (or pass api_key=...); "
        "get one at its site"
    )
    missing = RemoteFile("m.tar", server.base_url + "/files/missing.tar")
    with make_client() as http, pytest.raises(DownloadError, match="HTTP 404") as info:
        download_files(http, [missing], tmp_path)
    assert not isinstance(info.value, AuthenticationError)


def test_http_status_and_refused_read_httpclients_message():
    error = DataUnavailableError(
        "could not fetch http://x/y: the server answered HTTP 403 Forbidden", source="http://x/y"
    )
    assert http_status(error) == 403
    assert http_status(DataUnavailableError("could not fetch: cannot connect")) is None
    auth = refused(error, "Dataverse", "DATAVERSE_API_KEY", "the site")
    assert isinstance(auth, AuthenticationError)
    assert auth.message == "Dataverse refused access (the server answered HTTP 403 Forbidden)"
    assert auth.source == "http://x/y"


@pytest.mark.parametrize("name", ["", ".", "..", "a/b", "..\\x", "x\0y"])
def test_names_from_a_server_must_be_plain_file_names(name):
    with pytest.raises(DownloadError, match="not a plain file name"):
        safe_name(name, "http://x")
    assert safe_name("GSP_part1.tar", "http://x") == "GSP_part1.tar"


def test_a_listed_name_with_a_path_downloads_nothing(tmp_path, server):
    remote = RemoteFile("../evil.zip", server.base_url + "/files/x", size=1)
    with make_client() as http, pytest.raises(DownloadError, match="not a plain file name"):
        download_files(http, [remote], tmp_path / "dl")
    assert server.requests == [] and not (tmp_path / "evil.zip").exists()
