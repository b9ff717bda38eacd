"""Fetching and decoding feature data through the retrieval layer, with provider remapping."""

from __future__ import annotations

import gzip
import json
import socket
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from neuratlas.errors import ArgumentError, DataUnavailableError, ResponseError, SpecError
from neuratlas.features import remote
from tests.features.siibra import layout
from tests.volumes.fake_download_server import FakeDownloadServer


@pytest.fixture(scope="module")
def server() -> Iterator[FakeDownloadServer]:
    files = layout.served_files()
    files["/plain/a.csv"] = b"x,y\n1,2\n3,4\n"
    files["/plain/a.json"] = b'{"k": [1, 2]}'
    files["/plain/a.json.gz"] = gzip.compress(b'{"k": 3}')
    files["/plain/a.txt"] = b"1 2 3\n4 5 6\n"
    files["/plain/a.tsv"] = b"a\tb\n1\t2\n\t\n3\t4\n"
    files["/plain/a.xyz"] = b"?"
    srv = FakeDownloadServer(files).start()
    try:
        yield srv
    finally:
        srv.stop()


@pytest.fixture
def no_remap(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(remote.REMAP_ENV, raising=False)


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# -- remapping ---------------------------------------------------------------------------------


def test_remap_rewrites_the_first_matching_prefix(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(
        remote.REMAP_ENV, "https://a.org/data/::http://m1/, https://a.org/::http://m2/"
    )
    assert remote.remap_rules() == (
        ("https://a.org/data/", "http://m1/"),
        ("https://a.org/", "http://m2/"),
    )
    assert remote.remap("https://a.org/data/x.csv") == "http://m1/x.csv"
    assert remote.remap("https://a.org/other/y.csv") == "http://m2/other/y.csv"
    assert remote.remap("https://b.org/z.csv") == "https://b.org/z.csv"


def test_no_setting_no_remap(no_remap: None) -> None:
    assert remote.remap_rules() == ()
    assert remote.remap("https://a.org/x") == "https://a.org/x"


@pytest.mark.parametrize("value", ["https://a.org/", "::http://m/", "https://a.org/::"])
def test_a_malformed_rule_is_an_argument_error(
    monkeypatch: pytest.MonkeyPatch, value: str
) -> None:
    monkeypatch.setenv(remote.REMAP_ENV, value)
    with pytest.raises(
        ArgumentError, match=r"NEURATLAS_REMAP_PROVIDERS entry .* is not 'from::to'"
    ):
        remote.remap("https://a.org/x")


def test_fetch_from_a_mirror(monkeypatch: pytest.MonkeyPatch, server: FakeDownloadServer) -> None:
    monkeypatch.setenv(remote.REMAP_ENV, f"https://data.example.org/bucket/::{server.base_url}/")
    table = remote.fetch_decoded("https://data.example.org/bucket/plain/a.csv")
    assert table.to_numpy().tolist() == [[1, 2], [3, 4]]


# -- fetching ----------------------------------------------------------------------------------


def test_fetch_downloads_once_then_reads_the_cache(
    no_remap: None, server: FakeDownloadServer
) -> None:
    url = f"{server.base_url}/receptors/fp.tsv"
    first = remote.fetch(url)
    second = remote.fetch(url)
    assert first == second and first.read_bytes() == layout.served_files()["/receptors/fp.tsv"]
    assert server.requests["/receptors/fp.tsv"] == 1


def test_fetch_a_zip_member(no_remap: None, server: FakeDownloadServer) -> None:
    path = remote.fetch(f"{server.base_url}/conn/hcp-sc.zip 001/sc.csv")
    values = np.loadtxt(path, delimiter=",")
    np.testing.assert_array_equal(values, layout.EXPECTED["sc/001"])


def test_a_missing_zip_member(no_remap: None, server: FakeDownloadServer) -> None:
    with pytest.raises(DataUnavailableError, match=r"no member '002/sc.csv'"):
        remote.fetch_member(f"{server.base_url}/conn/hcp-sc.zip", "002/sc.csv")


def test_a_local_relative_path(tmp_path: Path) -> None:
    (tmp_path / "t.csv").write_text("a\n1\n", encoding="utf-8")
    assert remote.fetch_decoded("t.csv", base=tmp_path)["a"].tolist() == [1]


def test_unreachable_data_names_url_and_remedies(no_remap: None, no_retry_waits: None) -> None:
    url = f"http://127.0.0.1:{_closed_port()}/data/m.csv"
    with pytest.raises(DataUnavailableError) as info:
        remote.fetch(url)
    text = str(info.value)
    assert url in text
    assert 'NEURATLAS_REMAP_PROVIDERS="http://127.0.0.1:' in text  # a mirror
    assert "place it at" in text and "$NEURATLAS_CACHE" in text  # or the file by hand
    assert info.value.source == url


def test_a_404_says_which_url_and_the_remap(
    monkeypatch: pytest.MonkeyPatch, server: FakeDownloadServer
) -> None:
    monkeypatch.setenv(remote.REMAP_ENV, f"https://x.org/::{server.base_url}/")
    with pytest.raises(DataUnavailableError, match=r"https://x.org/nope.csv \(remapped to "):
        remote.fetch("https://x.org/nope.csv")


def test_a_missing_local_file() -> None:
    with pytest.raises(DataUnavailableError, match=r"does not exist.*check the path"):
        remote.fetch("/nonexistent/file.csv")


# -- decoding ----------------------------------------------------------------------------------


def test_decode_by_suffix_like_siibra(no_remap: None, server: FakeDownloadServer) -> None:
    base = server.base_url
    assert remote.fetch_decoded(f"{base}/plain/a.json") == {"k": [1, 2]}
    assert remote.fetch_decoded(f"{base}/plain/a.json.gz") == {"k": 3}
    assert remote.fetch_decoded(f"{base}/plain/a.txt").to_numpy().tolist() == [
        [1, 2, 3],
        [4, 5, 6],
    ]
    tsv = remote.fetch_decoded(f"{base}/plain/a.tsv")
    assert tsv.to_numpy().tolist() == [[1, 2], [3, 4]]  # the empty row is dropped
    voi = remote.fetch_decoded(f"{base}/images/voi.nii.gz")
    np.testing.assert_array_equal(np.asanyarray(voi.dataobj), layout.EXPECTED["voi"])


def test_csv_decoder_options(no_remap: None, server: FakeDownloadServer) -> None:
    table = remote.fetch_decoded(
        f"{server.base_url}/tables/t.csv", csv={"delimiter": ";", "header": None}
    )
    np.testing.assert_array_equal(table.to_numpy(), layout.EXPECTED["table"])


def test_unknown_csv_option_is_a_spec_error(tmp_path: Path) -> None:
    (tmp_path / "t.csv").write_text("a\n1\n", encoding="utf-8")
    with pytest.raises(SpecError, match=r"unsupported csv decoder option.*engine"):
        remote.read_csv(tmp_path / "t.csv", engine="python")


def test_no_decoder_for_the_suffix(no_remap: None, server: FakeDownloadServer) -> None:
    with pytest.raises(DataUnavailableError, match=r"no decoder for the file .*a\.xyz"):
        remote.fetch_decoded(f"{server.base_url}/plain/a.xyz")


def test_a_broken_table(tmp_path: Path) -> None:
    (tmp_path / "b.csv").write_bytes(b"\xff\xfe\x00garbage")
    with pytest.raises(DataUnavailableError, match=r"cannot read .* as a table"):
        remote.decode(tmp_path / "b.csv")


def test_a_broken_json(tmp_path: Path) -> None:
    (tmp_path / "b.json").write_text("{", encoding="utf-8")
    with pytest.raises(DataUnavailableError, match="is not valid JSON"):
        remote.decode(tmp_path / "b.json")


def test_npy(tmp_path: Path) -> None:
    np.save(tmp_path / "a.npy", np.arange(3))
    assert remote.decode(tmp_path / "a.npy").tolist() == [0, 1, 2]


# -- repositories ------------------------------------------------------------------------------


def test_repository_urls() -> None:
    zipped = {"@type": "siibra/repository/zippedfile/v1.0.0", "url": "https://h/a.zip"}
    assert remote.repository_url(zipped, "s/m.csv") == "https://h/a.zip s/m.csv"
    folder = {"@type": "siibra/repository/localfolder/v1.0.0", "folder": "/data"}
    assert remote.repository_url(folder, "m.csv") == "/data/m.csv"
    gitlab = {
        "@type": "siibra/repository/gitlab/v1.0.0",
        "server": "https://gitlab.example.org/",
        "project": 3009,
        "branch": "v1",
    }
    assert remote.repository_url(gitlab, "a b/m.csv") == (
        "https://gitlab.example.org/api/v4/projects/3009/repository/files/a%20b%2Fm.csv/raw?ref=v1"
    )


def test_bad_repositories() -> None:
    with pytest.raises(SpecError, match="unknown repository type 'x'"):
        remote.repository_url({"@type": "x"}, "m.csv")
    with pytest.raises(SpecError, match="has no 'url'"):
        remote.repository_url({"@type": "siibra/repository/zippedfile/v1.0.0"}, "m.csv")


# -- neuroglancer precomputed ------------------------------------------------------------------


def _precomputed(
    server: FakeDownloadServer, root: str, info: dict, volume: np.ndarray, scale: int = 0
) -> str:
    server.files.update(layout.precomputed_files(root, volume, info, scale))
    return server.base_url + root


def test_precomputed_without_transform_uses_resolution_and_offset(
    no_remap: None, server: FakeDownloadServer
) -> None:
    info = json.loads(json.dumps(layout.PRECOMPUTED_INFO))
    info["scales"][0]["voxel_offset"] = [1, 2, 3]
    volume = np.arange(5 * 3 * 4, dtype=np.uint8).reshape(5, 3, 4)
    url = _precomputed(server, "/ng/offset", info, volume)
    img = remote.read_precomputed("precomputed://" + url)
    np.testing.assert_array_equal(np.asanyarray(img.dataobj), volume)
    np.testing.assert_allclose(img.affine[:3, 3], [2, 4, 6])
    np.testing.assert_allclose(np.diag(img.affine)[:3], [2, 2, 2])


def test_precomputed_two_scales(no_remap: None, server: FakeDownloadServer) -> None:
    fine = dict(layout.PRECOMPUTED_INFO["scales"][0], key="1mm", resolution=[1e6] * 3)
    coarse = dict(layout.PRECOMPUTED_INFO["scales"][0], key="2mm")
    volume = np.ones((5, 3, 4), dtype=np.uint8)
    info = dict(layout.PRECOMPUTED_INFO, scales=[fine, coarse])
    url = _precomputed(server, "/ng/two", info, volume, scale=1)
    # only the coarse scale's chunks are served: the default reads the coarsest
    np.testing.assert_array_equal(np.asanyarray(remote.read_precomputed(url).dataobj), volume)
    with pytest.raises(ArgumentError, match=r"has no scale '5mm'.*'1mm', '2mm'"):
        remote.read_precomputed(url, scale="5mm")


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"encoding": "jpeg"}, "uses the 'jpeg' encoding"),
        ({"sharding": {"@type": "neuroglancer_uint64_sharded_v1"}}, "uses sharded chunks"),
        ({"size": [100_000, 100_000, 100_000]}, "too many to hold in memory"),
    ],
)
def test_precomputed_unsupported(
    no_remap: None, server: FakeDownloadServer, change: dict, message: str
) -> None:
    info = dict(
        layout.PRECOMPUTED_INFO, scales=[dict(layout.PRECOMPUTED_INFO["scales"][0], **change)]
    )
    root = f"/ng/bad{abs(hash(message))}"
    server.files[f"{root}/info"] = json.dumps(info).encode()
    with pytest.raises(DataUnavailableError, match=message):
        remote.read_precomputed(server.base_url + root)


def test_precomputed_truncated_chunk(no_remap: None, server: FakeDownloadServer) -> None:
    volume = np.zeros((5, 3, 4), dtype=np.uint8)
    url = _precomputed(server, "/ng/short", layout.PRECOMPUTED_INFO, volume)
    server.files["/ng/short/2mm/0-2_0-2_0-2"] = b"\x00"
    with pytest.raises(DataUnavailableError, match="has 1 bytes, expected 8"):
        remote.read_precomputed(url)


def test_precomputed_without_info(no_remap: None, server: FakeDownloadServer) -> None:
    with pytest.raises(DataUnavailableError, match=r"/ng/none/info"):
        remote.read_precomputed(server.base_url + "/ng/none")


def test_response_error_is_data_unavailable() -> None:
    # the decoders' "unusable answer" errors are caught by `except DataUnavailableError`
    assert issubclass(ResponseError, DataUnavailableError)
