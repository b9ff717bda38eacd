"""Checks of downloaded files: digest, size, and the type their first bytes show."""

from __future__ import annotations

import gzip
import hashlib

import pytest

from neuratlas.errors import ArgumentError, DownloadError
from neuratlas.lesion.connectomes.integrity import check_file, file_digest, header_problem
from tests.lesion.connectomes.synthetic import streamlines, tar_bytes, trk_bytes, zip_bytes

URL = "http://127.0.0.1/x"


def test_digests_of_every_algorithm(tmp_path):
    path = tmp_path / "f.bin"
    path.write_bytes(b"connectome" * 1000)
    assert file_digest(path) == hashlib.md5(path.read_bytes()).hexdigest()
    assert file_digest(path, "SHA-256") == hashlib.sha256(path.read_bytes()).hexdigest()
    assert file_digest(path, "sha1") == hashlib.sha1(path.read_bytes()).hexdigest()
    with pytest.raises(ArgumentError, match="unknown checksum type 'crc32'"):
        file_digest(path, "crc32")


GOOD = {
    "t.trk": trk_bytes(streamlines(2)),
    "t.tck": b"mrtrix tracks\ncount: 0\nEND\n",
    "a.zip": zip_bytes({"a": b"1"}),
    "a.tar": tar_bytes({"a": b"1"}),
    "a.nii.gz": gzip.compress(b"x"),
    "a.h5": b"\x89HDF\r\n\x1a\n" + b"\0" * 8,
    "a.nii": (348).to_bytes(4, "little") + b"\0" * 344,
    "notes.txt": b"anything",
}


@pytest.mark.parametrize("name", sorted(GOOD))
def test_files_of_the_type_their_name_claims_pass(tmp_path, name):
    (tmp_path / name).write_bytes(GOOD[name])
    assert header_problem(tmp_path / name) is None


@pytest.mark.parametrize(
    ("name", "data", "problem"),
    [
        ("t.trk", b"NOTRACK" + b"\0" * 993, "magic 'TRACK'"),
        ("t.trk", b"TRACK" + b"\0" * 50, "shorter than a TrackVis header"),
        ("t.trk", b"TRACK" + b"\0" * 995, "header size field is 0"),
        ("t.tck", b"garbage", "not an MRtrix .tck file"),
        ("a.zip", b"garbage", "not a zip archive"),
        ("a.tar", b"garbage" * 100, "not a tar archive"),
        ("a.tar.gz", b"garbage", "not gzip-compressed"),
        ("a.h5", b"garbage", "not an HDF5 file"),
        ("a.nii", b"\0" * 400, "not a NIfTI file"),
        ("a.trk", b"  <!DOCTYPE html><html>login</html>", "HTML page"),
        ("data.bin", b"<html><body>403</body></html>", "HTML page"),
        ("empty.zip", b"", "empty"),
    ],
)
def test_files_that_are_not_what_their_name_claims_are_caught(tmp_path, name, data, problem):
    (tmp_path / name).write_bytes(data)
    assert problem in header_problem(tmp_path / name)


def test_check_file_names_what_differs(tmp_path):
    path = tmp_path / "a.zip"
    data = zip_bytes({"a": b"1"})
    path.write_bytes(data)
    check_file(path, url=URL, size=len(data), checksum=hashlib.md5(data).hexdigest().upper())
    with pytest.raises(DownloadError, match=f"has {len(data)} bytes, the server announced 3"):
        check_file(path, url=URL, size=3)
    with pytest.raises(DownloadError, match=r"has MD5 .*, the server announced abc") as info:
        check_file(path, url=URL, checksum="ABC")
    assert info.value.source == URL and "fetch again" in info.value.hint
    with pytest.raises(DownloadError, match="is not a valid file: it is not a tar archive"):
        path.rename(tmp_path / "a.tar")
        check_file(tmp_path / "a.tar", url=URL)
    assert (tmp_path / "a.tar").exists()  # the caller decides what to do with it
