"""Fast gzip (zlib-ng) and the standard library's gzip read and write the same files."""

from __future__ import annotations

import gzip
import io

import numpy as np
import pytest

from neuratlas.volumes import gz

# what atlas images look like: mostly zeros, some labels
DATA = np.where(np.arange(2_000_000) % 97 < 5, np.arange(2_000_000) % 251, 0).astype(np.uint8)
RAW = DATA.tobytes()


@pytest.fixture(params=["zlib-ng", "standard library"])
def implementation(request, monkeypatch: pytest.MonkeyPatch) -> str:
    if request.param == "standard library":
        monkeypatch.setattr(gz, "_fast", None)
    elif gz._fast is None:
        pytest.skip("zlib-ng is not installed")
    return request.param


def test_compress_is_gzip_that_the_standard_library_reads(implementation: str) -> None:
    packed = gz.compress(RAW)
    assert gzip.decompress(packed) == RAW
    assert gz.decompress(gzip.compress(RAW)) == RAW
    assert len(packed) < len(RAW) / 10


def test_same_input_same_bytes(implementation: str) -> None:
    assert gz.compress(RAW) == gz.compress(RAW)  # no timestamp in the header


def test_writer_streams_into_an_open_handle(implementation: str) -> None:
    handle = io.BytesIO()
    with gz.writer(handle) as packed:
        for start in range(0, len(RAW), 300_000):
            packed.write(RAW[start : start + 300_000])
    assert not handle.closed  # the caller's handle stays theirs
    assert gzip.decompress(handle.getvalue()) == RAW


def test_open_gz_reads_and_seeks_forward(implementation: str, tmp_path) -> None:
    path = tmp_path / "data.gz"
    path.write_bytes(gzip.compress(RAW))
    with gz.open_gz(path) as handle:
        handle.seek(1_000_000)
        assert handle.read(10) == RAW[1_000_000:1_000_010]


@pytest.mark.parametrize("damage", ["truncated", "garbled"])
def test_a_damaged_file_raises_one_of_the_listed_errors(
    implementation: str, damage: str, tmp_path
) -> None:
    packed = gzip.compress(RAW)
    if damage == "truncated":
        packed = packed[: len(packed) // 2]
    else:
        packed = packed[:20] + bytes(200) + packed[220:]
    path = tmp_path / "data.gz"
    path.write_bytes(packed)
    with pytest.raises(gz.ERRORS), gz.open_gz(path) as handle:
        handle.read()
