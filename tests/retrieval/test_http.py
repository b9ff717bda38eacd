"""Tests of neuratlas.retrieval.http against a real local server."""

from __future__ import annotations

import email.utils
import hashlib
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import numpy as np
import pytest

from neuratlas.errors import ArgumentError, DataUnavailableError
from neuratlas.retrieval import cache
from neuratlas.retrieval.http import (
    OFFLINE_HINT,
    UNREACHABLE_RETRIES,
    ChecksumError,
    HttpClient,
    ResponseError,
    download,
    parse_retry_after,
    short_url,
    url_suffix,
)


def payload(size: int, seed: int = 0) -> bytes:
    """Incompressible bytes, so a resumed file cannot match by accident."""
    return np.random.default_rng(seed).integers(0, 256, size, dtype=np.uint8).tobytes()


@pytest.fixture
def sleeps() -> list[float]:
    return []


@pytest.fixture
def client(server, sleeps):
    with HttpClient(
        server.base, timeout=2, connect_timeout=2, retries=3, sleep=sleeps.append
    ) as c:
        yield c


# -- get / get_json / get_bytes ---------------------------------------------------------------


def test_get_json_relative_url_joins_base(server, client):
    server.route("/api/items", server.send(b'{"a": [1, 2]}', "application/json"))
    assert client.get_json("/api/items", params={"q": "x"}) == {"a": [1, 2]}
    assert server.log[0][0] == "/api/items?q=x"


def test_get_bytes_returns_body(server, client):
    data = payload(5000)
    url = server.route("/blob", server.send(data))
    assert client.get_bytes(url) == data


def test_malformed_json_raises_response_error(server, client):
    url = server.route("/broken.json", server.send(b'{"a": [1, 2', "application/json"))
    with pytest.raises(ResponseError, match="did not answer valid JSON") as info:
        client.get_json(url)
    assert info.value.source == url
    assert "'{\"a\": [1, 2'" in str(info.value)
    assert isinstance(info.value, DataUnavailableError)


def test_503_then_200_is_retried(server, client, sleeps):
    url = server.route("/flaky", server.status(503), server.status(503), server.send(b"fine"))
    assert client.get_bytes(url) == b"fine"
    assert server.hits["/flaky"] == 3
    assert len(sleeps) == 2


def test_persistent_503_gives_up_with_url_and_status(server, sleeps):
    url = server.route("/down", server.status(503))
    with (
        HttpClient(retries=2, sleep=sleeps.append) as c,
        pytest.raises(DataUnavailableError) as info,
    ):
        c.get(url)
    message = str(info.value)
    assert url in message
    assert "HTTP 503" in message
    assert "3 attempts" in message
    assert info.value.source == url
    assert server.hits["/down"] == 3


def test_backoff_doubles_with_jitter_and_cap(server):
    sleeps: list[float] = []
    url = server.route("/down", server.status(500))
    with (
        HttpClient(retries=5, backoff=1.0, max_backoff=5.0, sleep=sleeps.append) as c,
        pytest.raises(DataUnavailableError),
    ):
        c.get(url)
    caps = [1.0, 2.0, 4.0, 5.0, 5.0]
    assert len(sleeps) == len(caps)
    for delay, cap in zip(sleeps, caps, strict=True):
        assert cap / 2 <= delay <= cap


def test_zero_backoff_never_sleeps(server):
    sleeps: list[float] = []
    url = server.route("/flaky", server.status(502), server.send(b"ok"))
    with HttpClient(backoff=0, sleep=sleeps.append) as c:
        assert c.get_bytes(url) == b"ok"
    assert sleeps == []


def test_429_retry_after_seconds_is_honoured(server, client, sleeps):
    url = server.route("/limited", server.status(429, {"Retry-After": "7"}), server.send(b"ok"))
    assert client.get_bytes(url) == b"ok"
    assert sleeps == [7.0]


def test_retry_after_is_capped(server, sleeps):
    url = server.route("/limited", server.status(429, {"Retry-After": "3600"}), server.send(b"ok"))
    with HttpClient(max_backoff=4.0, sleep=sleeps.append) as c:
        assert c.get_bytes(url) == b"ok"
    assert sleeps == [4.0]


def test_429_retry_after_http_date(server, client, sleeps):
    when = datetime.now(UTC) + timedelta(seconds=20)
    header = email.utils.format_datetime(when, usegmt=True)
    url = server.route("/limited", server.status(503, {"Retry-After": header}), server.send(b"ok"))
    assert client.get_bytes(url) == b"ok"
    assert len(sleeps) == 1
    assert 15 <= sleeps[0] <= 20


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("12", 12.0),
        (" 0 ", 0.0),
        ("Wed, 01 Jan 2025 00:01:00 GMT", 60.0),
        ("Tue, 31 Dec 2024 23:59:00 GMT", 0.0),  # in the past: no wait
        ("soon", None),
        ("-5", None),
        ("", None),
        (None, None),
    ],
)
def test_parse_retry_after(value, expected):
    now = datetime(2025, 1, 1, tzinfo=UTC)
    assert parse_retry_after(value, now=now) == expected


def test_404_is_not_retried(server, client, sleeps):
    url = server.url("/missing")
    with pytest.raises(DataUnavailableError, match="HTTP 404") as info:
        client.get(url)
    assert "check the URL" in info.value.hint
    assert server.hits["/missing"] == 1
    assert sleeps == []


def test_refused_connection_names_url_and_remedy(closed_port_url, sleeps):
    with (
        HttpClient(retries=1, sleep=sleeps.append) as c,
        pytest.raises(DataUnavailableError) as info,
    ):
        c.get(closed_port_url)
    assert closed_port_url in str(info.value)
    assert "cannot connect" in str(info.value)
    # a plain GET stores no file: the hint says what to check, and names no cache folder
    assert info.value.hint == OFFLINE_HINT
    assert len(sleeps) == 1


def test_refused_connection_is_retried_only_once(closed_port_url, sleeps):
    # offline, four retries with backoff cost seconds for nothing: one retry, then the error
    with (
        HttpClient(retries=4, backoff=0.5, sleep=sleeps.append) as c,
        pytest.raises(DataUnavailableError, match="gave up after 2 attempts"),
    ):
        c.get(closed_port_url)
    assert len(sleeps) == UNREACHABLE_RETRIES == 1


def _failing_transport(error: type[httpx.TransportError], calls: list[str]) -> httpx.MockTransport:
    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(str(request.url))
        raise error("[Errno -2] Name or service not known", request=request)

    return httpx.MockTransport(handler)


def test_unknown_host_is_retried_only_once(sleeps):
    calls: list[str] = []
    transport = _failing_transport(httpx.ConnectError, calls)
    with (
        HttpClient(retries=4, sleep=sleeps.append, transport=transport) as c,
        pytest.raises(DataUnavailableError, match="Name or service not known"),
    ):
        c.get("https://atlas.example.org/a.json")
    assert len(calls) == 2 and len(sleeps) == 1


def test_connect_timeouts_keep_every_retry(sleeps):
    # a slow network is worth waiting for, unlike one that refuses outright
    calls: list[str] = []
    transport = _failing_transport(httpx.ConnectTimeout, calls)
    with (
        HttpClient(retries=3, sleep=sleeps.append, transport=transport) as c,
        pytest.raises(DataUnavailableError, match=r"connection timed out.*4 attempts"),
    ):
        c.get("https://atlas.example.org/a.json")
    assert len(calls) == 4 and len(sleeps) == 3


def test_retries_zero_means_one_attempt_even_when_unreachable(closed_port_url, sleeps):
    with (
        HttpClient(retries=0, sleep=sleeps.append) as c,
        pytest.raises(DataUnavailableError, match="gave up after 1 attempt\\)"),
    ):
        c.get(closed_port_url)
    assert sleeps == []


def test_offline_hint_of_the_client(closed_port_url, tmp_path):
    hint = "point --api at a reachable server"
    with HttpClient(retries=0, offline_hint=hint) as c:
        with pytest.raises(DataUnavailableError) as info:
            c.get(closed_port_url)
        assert info.value.hint == hint
        with pytest.raises(DataUnavailableError) as info:
            c.download(closed_port_url, tmp_path / "f.bin", place_at=tmp_path / "g.bin")
    assert info.value.hint.startswith(hint + "; ")
    assert f"download {closed_port_url} elsewhere and place it at {tmp_path / 'g.bin'}" in (
        info.value.hint
    )


def test_long_queries_are_elided_in_messages(closed_port_url, server):
    params = {"criteria": "model::SectionDataSet,rma::criteria,[id$eq1]" * 8}
    with HttpClient(retries=0) as c:
        with pytest.raises(DataUnavailableError) as info:
            c.get(closed_port_url, params=params)
        assert info.value.message.startswith(f"could not fetch {closed_port_url}?...: ")
        assert "SectionDataSet" not in info.value.message
        assert "SectionDataSet" in info.value.source  # the whole URL stays available
        with pytest.raises(DataUnavailableError) as info:
            c.get(server.url("/missing"), params=params)
    assert info.value.message == (
        f"could not fetch {server.url('/missing')}?...: the server answered HTTP 404 Not Found"
    )


@pytest.mark.parametrize(
    ("url", "short"),
    [
        ("https://api.brain-map.org/api/v2/data/query.json?criteria=x", None),
        ("https://x.org/a/b.nii.gz", "https://x.org/a/b.nii.gz"),
        ("http://127.0.0.1:9/toy/labels.nii.gz", "http://127.0.0.1:9/toy/labels.nii.gz"),
        ("https://x.org/a?b=1#frag", "https://x.org/a?..."),
        ("data/query.json?criteria=x", "data/query.json?..."),
    ],
)
def test_short_url(url, short):
    expected = short or "https://api.brain-map.org/api/v2/data/query.json?..."
    assert short_url(url) == expected


@pytest.mark.parametrize("url", ["ftp://x.org/a.bin", "x.org/a.bin"])
def test_non_http_urls_are_argument_errors_without_retries(url, sleeps):
    with (
        HttpClient(retries=4, sleep=sleeps.append) as c,
        pytest.raises(ArgumentError, match="only http:// and https:// URLs can be fetched"),
    ):
        c.get(url)
    assert sleeps == []


def test_malformed_urls_are_argument_errors():
    with pytest.raises(ArgumentError, match="is not a valid base URL") as info:
        HttpClient("https://[::1/")
    assert info.value.hint == "write it as http(s)://<host>/<path>/"
    with HttpClient() as c, pytest.raises(ArgumentError, match="not a valid URL"):
        c.get("https://[::1/a.json")


def test_stalled_server_times_out(server, sleeps):
    url = server.route("/stall", server.stall())
    with (
        HttpClient(timeout=0.3, retries=1, sleep=sleeps.append) as c,
        pytest.raises(DataUnavailableError, match="read timeout"),
    ):
        c.get(url)
    assert server.hits["/stall"] == 2


def test_bad_constructor_arguments():
    with pytest.raises(ValueError, match="max_concurrency"):
        HttpClient(max_concurrency=0)
    with pytest.raises(ValueError, match="retries"):
        HttpClient(retries=-1)


# -- download ---------------------------------------------------------------------------------


def test_download_writes_file_and_no_part(server, client, tmp_path):
    data = payload(300_000)
    url = server.route("/f.bin", server.serve_ranges(data))
    dest = client.download(url, tmp_path / "sub" / "f.bin")
    assert dest == tmp_path / "sub" / "f.bin"
    assert dest.read_bytes() == data
    assert list(dest.parent.iterdir()) == [dest]
    assert server.requests_to("/f.bin")[0]["Accept-Encoding"] == "identity"


def test_cut_download_resumes_on_next_call(server, tmp_path):
    data = payload(400_000, seed=1)
    url = server.route("/f.bin", server.cut(data, 150_000), server.serve_ranges(data))
    dest = tmp_path / "f.bin"
    with HttpClient(retries=0) as c:
        with pytest.raises(DataUnavailableError) as info:
            c.download(url, dest)
        assert f"place it at {dest}" in info.value.hint
        assert not dest.exists()
        part = tmp_path / "f.bin.part"
        assert part.read_bytes() == data[:150_000]
        c.download(url, dest)
    assert dest.read_bytes() == data
    assert not part.exists()
    second = server.requests_to("/f.bin")[1]
    assert second["Range"] == "bytes=150000-"


def test_cut_download_resumes_within_one_call(server, client, tmp_path, sleeps):
    data = payload(250_000, seed=2)
    url = server.route(
        "/f.bin", server.cut(data, 100_000), server.cut(data, 50_000), server.serve_ranges(data)
    )
    digest = hashlib.sha256(data).hexdigest()
    dest = client.download(url, tmp_path / "f.bin", sha256=digest)
    assert dest.read_bytes() == data
    ranges = [h.get("Range") for h in server.requests_to("/f.bin")]
    assert ranges == [None, "bytes=100000-", "bytes=150000-"]
    assert len(sleeps) == 2


def test_server_ignoring_range_restarts_cleanly(server, client, tmp_path):
    data = payload(120_000, seed=3)
    (tmp_path / "f.bin.part").write_bytes(b"stale bytes from another version")
    url = server.route("/f.bin", server.send(data))
    dest = client.download(url, tmp_path / "f.bin")
    assert dest.read_bytes() == data
    assert server.requests_to("/f.bin")[0]["Range"] == "bytes=32-"


def test_416_with_complete_part_is_accepted(server, client, tmp_path):
    data = payload(64_000, seed=4)
    (tmp_path / "f.bin.part").write_bytes(data)
    url = server.route("/f.bin", server.serve_ranges(data))
    dest = client.download(url, tmp_path / "f.bin")
    assert dest.read_bytes() == data
    assert server.hits["/f.bin"] == 1


def test_416_with_oversized_part_restarts(server, client, tmp_path):
    data = payload(64_000, seed=5)
    (tmp_path / "f.bin.part").write_bytes(data + b"trailing junk")
    url = server.route("/f.bin", server.serve_ranges(data))
    dest = client.download(url, tmp_path / "f.bin")
    assert dest.read_bytes() == data
    ranges = [h.get("Range") for h in server.requests_to("/f.bin")]
    assert ranges == [f"bytes={len(data) + 13}-", None]


def test_206_at_wrong_offset_restarts(server, client, tmp_path):
    data = payload(10_000, seed=6)
    (tmp_path / "f.bin.part").write_bytes(data[:4000])
    wrong = server.status(206, {"Content-Range": f"bytes 0-{len(data) - 1}/{len(data)}"}, data)
    url = server.route("/f.bin", wrong, server.send(data))
    dest = client.download(url, tmp_path / "f.bin")
    assert dest.read_bytes() == data
    assert server.hits["/f.bin"] == 2


def test_checksum_mismatch_leaves_nothing(server, client, tmp_path):
    url = server.route("/f.bin", server.send(b"not what you expected"))
    expected = hashlib.sha256(b"the real content").hexdigest()
    dest = tmp_path / "f.bin"
    with pytest.raises(ChecksumError) as info:
        client.download(url, dest, sha256=expected)
    assert expected in str(info.value)
    assert str(dest) in str(info.value)
    assert list(tmp_path.iterdir()) == []


def test_checksum_match_is_case_insensitive(server, client, tmp_path):
    data = payload(1000, seed=7)
    url = server.route("/f.bin", server.send(data))
    dest = client.download(
        url, tmp_path / "f.bin", sha256=hashlib.sha256(data).hexdigest().upper()
    )
    assert dest.read_bytes() == data


def test_download_404_is_data_unavailable(server, client, tmp_path):
    with pytest.raises(DataUnavailableError, match="HTTP 404"):
        client.download(server.url("/nothing"), tmp_path / "x")
    assert list(tmp_path.iterdir()) == []


def test_download_refused_hint_names_destination(closed_port_url, tmp_path):
    dest = tmp_path / "atlas.nii.gz"
    with HttpClient(retries=0) as c, pytest.raises(DataUnavailableError) as info:
        c.download(closed_port_url, dest)
    assert closed_port_url in str(info.value)
    assert f"download {closed_port_url} elsewhere and place it at {dest}" in info.value.hint


def test_download_with_progress_bar(server, client, tmp_path, capsys):
    data = payload(3 * 1024**2, seed=8)
    url = server.route("/big.bin", server.serve_ranges(data))
    dest = client.download(url, tmp_path / "big.bin", progress=True)
    assert dest.read_bytes() == data
    assert capsys.readouterr().out == ""  # never on stdout


def test_concurrent_downloads_to_same_destination(server, tmp_path):
    data = payload(500_000, seed=9)
    url = server.route("/f.bin", server.serve_ranges(data))
    dest = tmp_path / "f.bin"
    with HttpClient() as c:
        results = c.map(lambda _: c.download(url, dest), range(4))
    assert results == [dest] * 4
    assert dest.read_bytes() == data


# -- module-level download --------------------------------------------------------------------


def test_module_download_caches_by_url(server):
    data = payload(2000, seed=10)
    url = server.route("/atlas/labels.nii.gz", server.send(data))
    first = download(url)
    assert first.parent == cache.cache_dir("downloads")
    assert first.name.endswith(".nii.gz")
    assert first.read_bytes() == data
    assert download(url) == first
    assert server.hits["/atlas/labels.nii.gz"] == 1


def test_module_download_explicit_dest(server, tmp_path):
    url = server.route("/a.txt", server.send(b"abc"))
    assert download(url, tmp_path / "a.txt").read_bytes() == b"abc"


@pytest.mark.parametrize(
    ("url", "suffix"),
    [
        ("https://x.org/a/b/atlas.nii.gz", ".nii.gz"),
        ("https://x.org/a/b/table.csv?version=2", ".csv"),
        ("https://x.org/v1.2/file", ""),
        ("https://x.org/", ""),
        ("https://x.org/data.tar.xz", ".tar.xz"),
        ("https://x.org/name.with spaces.json", ".json"),
    ],
)
def test_url_suffix(url, suffix):
    assert url_suffix(url) == suffix


# -- map and the concurrency bound ------------------------------------------------------------


def test_map_preserves_order_and_returns_exceptions():
    def fn(x: int) -> int:
        if x == 2:
            raise KeyError(x)
        return x * 10

    with HttpClient(max_concurrency=3) as c:
        out = c.map(fn, range(5))
    assert out[:2] == [0, 10]
    assert isinstance(out[2], KeyError)
    assert out[3:] == [30, 40]
    assert HttpClient(max_concurrency=3).map(fn, []) == []


def test_map_runs_max_concurrency_workers():
    # each call waits for two others: only a pool of exactly 3 threads gets through
    barrier = threading.Barrier(3, timeout=5)
    active, peak, lock = [0], [0], threading.Lock()

    def fn(x: int) -> int:
        with lock:
            active[0] += 1
            peak[0] = max(peak[0], active[0])
        barrier.wait()
        with lock:
            active[0] -= 1
        return x

    with HttpClient(max_concurrency=3) as c:
        assert c.map(fn, range(6)) == list(range(6))
    assert peak[0] == 3


def test_semaphore_bounds_requests_across_threads(server):
    active, peak, lock = [0], [0], threading.Lock()

    def slow(h):
        with lock:
            active[0] += 1
            peak[0] = max(peak[0], active[0])
        time.sleep(0.05)
        with lock:
            active[0] -= 1
        server.send(b"ok")(h)

    url = server.route("/slow", slow)
    with HttpClient(max_concurrency=2) as c, ThreadPoolExecutor(6) as pool:
        bodies = list(pool.map(lambda _: c.get_bytes(url), range(8)))
    assert bodies == [b"ok"] * 8
    assert 1 <= peak[0] <= 2


def test_download_resume_of_real_part_path(server, tmp_path):
    data = payload(90_000, seed=11)
    dest = tmp_path / "x.bin"
    Path(str(dest) + ".part").write_bytes(data[:30_000])
    url = server.route("/x.bin", server.serve_ranges(data))
    with HttpClient() as c:
        c.download(url, dest)
    assert dest.read_bytes() == data
    assert server.requests_to("/x.bin")[0]["Range"] == "bytes=30000-"


def test_httpx_is_imported_without_its_command_line_client() -> None:
    # a fresh interpreter: in this one httpx is long imported
    code = (
        "import sys\n"
        "import neuratlas.retrieval.http as http\n"
        "assert http.httpx.Client is not None\n"
        "assert 'httpx._main' not in sys.modules, 'the client was imported'\n"
        "assert not any(m.startswith('pygments') for m in sys.modules)\n"
        "import httpx._main\n"  # still importable by whoever wants it
        "print(httpx._main.__name__)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "httpx._main"
