"""Safe extraction: archives cannot write outside their folder, and half-done is never seen."""

from __future__ import annotations

import io
import tarfile
import zipfile
from pathlib import Path

import pytest

from neuratlas.errors import ProcessingError
from neuratlas.lesion.connectomes.archives import extract_archive, unsafe_member
from tests.lesion.connectomes.synthetic import tar_bytes, zip_bytes

FILES = {"top/a.txt": b"alpha", "top/sub/b.bin": b"\x00\x01beta"}


def _write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


@pytest.mark.parametrize(
    ("name", "data"),
    [
        ("a.zip", zip_bytes(FILES)),
        ("a.tar", tar_bytes(FILES)),
        ("a.tar.gz", tar_bytes(FILES, gz=True)),
        ("odd_name.bin", tar_bytes(FILES)),  # recognised by content, not by name
    ],
)
def test_zip_and_tar_archives_extract_their_files(tmp_path, name, data):
    files = extract_archive(_write(tmp_path / name, data), tmp_path / "out")
    assert [p.relative_to(tmp_path / "out").as_posix() for p in files] == sorted(FILES)
    assert (tmp_path / "out" / "top" / "sub" / "b.bin").read_bytes() == b"\x00\x01beta"


def test_an_existing_folder_is_replaced_as_a_whole(tmp_path):
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "old.txt").write_text("old")
    extract_archive(_write(tmp_path / "a.zip", zip_bytes(FILES)), tmp_path / "out")
    assert not (tmp_path / "out" / "old.txt").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.zip", "out"]  # no temporary left


@pytest.mark.parametrize(
    ("archive", "member", "reason"),
    [
        (zip_bytes({"ok.txt": b"1", "../evil.txt": b"x"}), "../evil.txt", "climbs out"),
        (zip_bytes({"a/../../evil.txt": b"x"}), "a/../../evil.txt", "climbs out"),
        (zip_bytes({"/etc/evil.txt": b"x"}), "/etc/evil.txt", "absolute path"),
        (zip_bytes({"C:/evil.txt": b"x"}), "C:/evil.txt", "absolute path"),
        (zip_bytes({"..\\evil.txt": b"x"}), "..\\evil.txt", "climbs out"),
        (tar_bytes({"ok.txt": b"1", "../evil.txt": b"x"}), "../evil.txt", "climbs out"),
        (tar_bytes({"/tmp/evil.txt": b"x"}), "/tmp/evil.txt", "absolute path"),
        (tar_bytes({}, links={"link": "../../etc/passwd"}), "link", "outside the target"),
        (tar_bytes({}, links={"d/link": "/etc/passwd"}), "d/link", "absolute path"),
    ],
)
def test_members_escaping_the_folder_are_refused_and_nothing_is_written(
    tmp_path, archive, member, reason
):
    path = _write(tmp_path / "bad.bin", archive)
    with pytest.raises(ProcessingError, match="refusing to extract") as info:
        extract_archive(path, tmp_path / "deep" / "out")
    assert repr(member) in str(info.value) and reason in str(info.value)
    assert "fetch" in info.value.hint
    assert sorted(p.name for p in tmp_path.rglob("*")) == ["bad.bin"]


def test_links_inside_the_folder_are_allowed(tmp_path):
    data = tar_bytes({"d/target.txt": b"t"}, links={"d/link.txt": "target.txt"})
    extract_archive(_write(tmp_path / "a.tar", data), tmp_path / "out")
    assert (tmp_path / "out" / "d" / "link.txt").read_bytes() == b"t"


def test_hard_links_and_devices_outside_are_refused(tmp_path):
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        info = tarfile.TarInfo("hard")
        info.type = tarfile.LNKTYPE
        info.linkname = "../outside"
        tar.addfile(info)
    with pytest.raises(ProcessingError, match="'hard' is unsafe"):
        extract_archive(_write(tmp_path / "h.tar", buffer.getvalue()), tmp_path / "out")
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        info = tarfile.TarInfo("pipe")
        info.type = tarfile.FIFOTYPE
        tar.addfile(info)
    with pytest.raises(ProcessingError, match="device or pipe"):
        extract_archive(_write(tmp_path / "p.tar", buffer.getvalue()), tmp_path / "out")


def test_zip_symbolic_links_are_refused(tmp_path):
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zf:
        info = zipfile.ZipInfo("link")
        info.external_attr = 0o120777 << 16
        zf.writestr(info, "target")
    with pytest.raises(ProcessingError, match="symbolic link"):
        extract_archive(_write(tmp_path / "l.zip", buffer.getvalue()), tmp_path / "out")


def test_files_that_are_no_archive_or_are_damaged_are_processing_errors(tmp_path):
    with pytest.raises(ProcessingError, match="neither a zip nor a tar archive"):
        extract_archive(_write(tmp_path / "x.zip", b"<html>not found</html>"), tmp_path / "o")
    damaged = zip_bytes({"a.txt": b"a" * 5000})
    damaged = damaged[:40] + b"\xff" * 60 + damaged[100:]  # the member's data is corrupt
    with pytest.raises(ProcessingError, match="not a readable zip archive"):
        extract_archive(_write(tmp_path / "d.zip", damaged), tmp_path / "o")
    assert not (tmp_path / "o").exists()


@pytest.mark.parametrize(
    ("name", "link", "hard", "problem"),
    [
        ("a/b.txt", None, False, None),
        ("./a.txt", None, False, None),
        ("", None, False, "absolute"),
        ("a/../b", None, False, "climbs"),
        ("d/l", "../x", False, None),  # d/../x = x: inside
        ("d/l", "../../x", False, "outside"),
        ("d/l", "../x", True, "outside"),  # hard links are relative to the root
    ],
)
def test_unsafe_member_explains_why(name, link, hard, problem):
    found = unsafe_member(name, link, hard=hard)
    assert (found is None) if problem is None else (problem in found)
