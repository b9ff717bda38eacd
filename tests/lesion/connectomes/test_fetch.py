"""End to end against fake servers: fetch -> verify -> convert -> register -> read back."""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest

from neuratlas.errors import (
    ArgumentError,
    AuthenticationError,
    DownloadError,
    NotFoundError,
    ProcessingError,
)
from neuratlas.lesion.connectomes import (
    CONNECTOME_SOURCES,
    FetchProgress,
    fetch_connectome,
    fetch_dtor985,
    fetch_gsp1000,
    fetch_hcp1065,
    get_connectome,
    get_connectome_path,
    get_fetch_status,
    open_connectome,
)
from tests.lesion.connectomes.fake_servers import FakeServer
from tests.lesion.connectomes.synthetic import (
    gsp_dataset,
    streamlines,
    tar_of_folder,
    trk_bytes,
    zip_bytes,
)

PID = "doi:10.7910/DVN/ILXIKS"
KEY = "dataverse-key-123"
TOKEN = "figshare-token-456"


# -- GSP1000 from Dataverse ---------------------------------------------------------------------


@pytest.fixture
def gsp(tmp_path: Path, server: FakeServer):
    """Seven subjects in two tarballs, a mask and a README on the fake Dataverse."""
    data = gsp_dataset(tmp_path / "GSP", n_subjects=7, n_timepoints=10)
    first, second = tmp_path / "part1", tmp_path / "part2"
    for index, path in enumerate(data.files):
        target = (first if index < 4 else second) / path.relative_to(data.root)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(path.read_bytes())
    files = [
        ("README.txt", b"GSP1000 preprocessed connectome\n"),
        ("MNI152_T1_2mm_brain_mask.nii.gz", data.mask_path.read_bytes()),
        ("GSP_part1.tar", tar_of_folder(first, "GSP1000")),
        ("GSP_part2.tar", tar_of_folder(second)),
    ]
    paths = server.add_dataverse(PID, files, KEY)
    return data, files, paths


def _expected(data) -> np.ndarray:
    return np.stack([data.series[s] for s in sorted(data.series)])


def test_gsp1000_is_downloaded_converted_registered_and_readable(tmp_path, gsp, server):
    data = gsp[0]
    seen: list[FetchProgress] = []
    result = fetch_gsp1000(tmp_path / "out", api_key=KEY, batches=3, progress_callback=seen.append)
    assert result.success and result.registered and result.register_name == "GSP1000"
    assert result.output_dir == (tmp_path / "out" / "processed").resolve()
    assert [f.name for f in result.output_files] == [f"gsp1000_chunk_{i:03d}.h5" for i in range(3)]
    # every request carried the key in the header Dataverse reads
    assert all(h.get("X-Dataverse-key") == KEY for _, h in server.requests)
    reader = open_connectome("gsp1000")  # the registered name, any case
    assert reader.shape == (7, 10, int(data.mask.sum()))
    assert reader.subject_ids == sorted(data.series)
    np.testing.assert_array_equal(reader.read_subjects(0, 7), _expected(data))
    np.testing.assert_array_equal(reader.mask(), data.mask)
    assert {p.phase for p in seen} == {"download", "processing", "registration"}
    raw = tmp_path / "out" / "raw"  # the archives stay, what was extracted from them does not
    assert sorted(p.name for p in raw.iterdir() if not p.name.startswith(".")) == [
        "GSP_part1.tar",
        "GSP_part2.tar",
        "MNI152_T1_2mm_brain_mask.nii.gz",
        "README.txt",
    ]
    assert any(p.bytes_total and p.download_percent == 100.0 for p in seen)
    entry = get_connectome("GSP1000")
    assert entry.kind == "functional" and entry.space == "MNI152NLin6Asym"
    assert entry.n_subjects == 7 and entry.source == "gsp1000" and entry.resolution == 2.0
    status = get_fetch_status("GSP1000")
    assert status["downloaded"] and status["processed"] and status["registered"]
    assert status["location"] == result.output_dir and status["size_bytes"] > 0
    assert "registered as: GSP1000" in result.summary()


def test_a_second_fetch_reuses_everything_and_force_redoes_it(tmp_path, gsp, server):
    paths = gsp[2]
    fetch_gsp1000(tmp_path / "out", api_key=KEY, batches=2)
    before = len(server.requests)
    again = fetch_gsp1000(tmp_path / "out", api_key=KEY, batches=2)
    assert len(server.requests) == before  # nothing asked of the server
    assert again.registered and again.download_time_seconds == 0.0
    assert any("finished conversion" in w for w in again.warnings)
    forced = fetch_gsp1000(tmp_path / "out", api_key=KEY, batches=2, force=True)
    assert forced.registered and len(forced.output_files) == 2
    # force lists again but the verified tarballs are not downloaded again
    assert not any(p in paths.values() for p, _ in server.requests[before:])


def test_an_interrupted_download_resumes_with_a_range_request(tmp_path, gsp, server):
    data, files, paths = gsp
    tar = paths["GSP_part2.tar"]
    server.drop_once.add(tar)
    result = fetch_gsp1000(tmp_path / "out", api_key=KEY, batches=1)
    hits = server.hits(tar)
    assert len(hits) == 2
    half = len(dict(files)["GSP_part2.tar"]) // 2
    assert "Range" not in hits[0] and hits[1]["Range"] == f"bytes={half}-"
    np.testing.assert_array_equal(
        open_connectome(result.output_dir).read_subjects(0, 7), _expected(data)
    )


def test_a_file_with_another_md5_is_detected_removed_and_reported(tmp_path, server):
    data = gsp_dataset(tmp_path / "GSP", n_subjects=2)
    tar = tar_of_folder(data.root)
    server.add_dataverse(
        PID,
        [("GSP.tar", tar), ("mask.nii.gz", data.mask_path.read_bytes())],
        KEY,
        announced_md5={"GSP.tar": "0" * 32},
    )
    with pytest.raises(DownloadError, match=r"GSP\.tar .* has MD5 .* announced 0{32}") as info:
        fetch_gsp1000(tmp_path / "out", api_key=KEY)
    assert "fetch again" in info.value.hint
    assert not (tmp_path / "out" / "raw" / "GSP.tar").exists()
    assert not (tmp_path / "out" / "processed" / "gsp1000_chunk_000.h5").exists()
    # skip_checksum accepts it (the server's metadata may be out of date)
    result = fetch_gsp1000(tmp_path / "out", api_key=KEY, skip_checksum=True, register=False)
    assert result.success and not result.registered and result.register_name is None


def test_a_missing_api_key_raises_before_asking_the_server(tmp_path, gsp, server):
    with pytest.raises(AuthenticationError, match="Dataverse API key is needed") as info:
        fetch_gsp1000(tmp_path / "out")
    assert "DATAVERSE_API_KEY" in info.value.hint
    assert server.requests == []


def test_the_api_key_comes_from_the_environment_and_a_wrong_one_is_refused(
    tmp_path, gsp, server, monkeypatch
):
    monkeypatch.setenv("DATAVERSE_API_KEY", "wrong")
    with pytest.raises(AuthenticationError, match="refused access") as info:
        fetch_gsp1000(tmp_path / "out")
    assert "DATAVERSE_API_KEY" in info.value.hint
    assert isinstance(info.value, DownloadError)
    monkeypatch.setenv("DATAVERSE_API_KEY", KEY)
    assert fetch_gsp1000(tmp_path / "out").success


def test_test_mode_takes_one_tarball_and_a_full_fetch_replaces_it(tmp_path, gsp, server):
    paths = gsp[2]
    small = fetch_gsp1000(tmp_path / "out", api_key=KEY, test_mode=True)
    assert not server.hits(paths["GSP_part2.tar"])
    assert len(small.output_files) == 1
    assert open_connectome(small.output_dir).n_subjects == 4
    assert any("test mode" in w for w in small.warnings)
    full = fetch_gsp1000(tmp_path / "out", api_key=KEY, batches=2)
    assert open_connectome(full.output_dir).n_subjects == 7
    assert len(list(full.output_dir.glob("*.h5"))) == 2


def test_a_dataset_without_a_brain_mask_is_a_processing_error(tmp_path, server):
    data = gsp_dataset(tmp_path / "GSP", n_subjects=2)
    server.add_dataverse(PID, [("GSP.tar", tar_of_folder(data.root))], KEY)
    with pytest.raises(ProcessingError, match="no brain mask") as info:
        fetch_gsp1000(tmp_path / "out", api_key=KEY)
    assert "downloads are kept" in info.value.hint
    assert (tmp_path / "out" / "raw" / "GSP.tar").is_file()


def test_a_dataset_whose_archives_hold_no_subjects_is_a_processing_error(tmp_path, server):
    data = gsp_dataset(tmp_path / "GSP", n_subjects=1)
    server.add_dataverse(
        PID,
        [
            ("x.tar", tar_of_folder(tmp_path / "GSP" / "sub-1000" / "func")),
            ("mask.nii.gz", data.mask_path.read_bytes()),
        ],
        KEY,
    )
    with pytest.raises(ProcessingError, match="hold no subject files"):
        fetch_gsp1000(tmp_path / "out", api_key=KEY)


def test_bad_batches_and_an_output_that_is_a_file_are_argument_errors(tmp_path):
    with pytest.raises(ArgumentError, match="batches must be at least 1"):
        fetch_gsp1000(tmp_path, api_key=KEY, batches=0)
    (tmp_path / "f").write_text("x")
    with pytest.raises(ArgumentError, match="is a file"):
        fetch_gsp1000(tmp_path / "f", api_key=KEY)


def test_the_registry_survives_a_new_process(tmp_path, gsp, isolated):
    result = fetch_gsp1000(tmp_path / "out", api_key=KEY, batches=2)
    code = (
        "from neuratlas.lesion.connectomes import get_connectome_path, open_connectome;"
        "print(get_connectome_path('GSP1000')); print(open_connectome('GSP1000').n_subjects)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout.split()
    assert out == [str(result.output_dir), "7"]


# -- dTOR985 from Figshare ------------------------------------------------------------------------


@pytest.fixture
def dtor(server: FakeServer):
    lines = streamlines(40, seed=3)
    files = [("readme.pdf", b"%PDF-1.4 readme"), ("dTOR_985_full.trk", trk_bytes(lines))]
    paths = server.add_figshare(25209947, files, TOKEN)
    return lines, paths


def _assert_same_streamlines(path: Path, lines: list[np.ndarray]) -> None:
    loaded = nib.streamlines.load(str(path)).streamlines
    assert len(loaded) == len(lines)
    for got, want in zip(loaded, lines, strict=True):
        np.testing.assert_allclose(got, want, atol=1e-4)


def test_dtor985_is_downloaded_converted_to_tck_and_registered(tmp_path, dtor, server):
    lines, paths = dtor
    result = fetch_dtor985(tmp_path / "out", api_key=TOKEN)
    tck = tmp_path / "out" / "dtor985.tck"
    assert result.output_files == [
        (tmp_path / "out" / "dTOR_985_full.trk").resolve(),
        tck.resolve(),
    ]
    _assert_same_streamlines(tck, lines)
    entry = get_connectome("dTOR985")
    assert entry.kind == "structural" and entry.space == "MNI152NLin2009bAsym"
    assert entry.n_subjects == 985 and get_connectome_path("dtor985") == tck.resolve()
    assert server.hits(paths["dTOR_985_full.trk"])[0]["Authorization"] == f"token {TOKEN}"
    assert not server.hits(paths["readme.pdf"])  # only the tractogram is fetched
    with pytest.raises(ArgumentError, match="is a tractogram"):
        open_connectome("dTOR985")


def test_dtor985_keep_original_false_leaves_only_the_tck(tmp_path, dtor, monkeypatch):
    monkeypatch.setenv("FIGSHARE_API_KEY", TOKEN)
    result = fetch_dtor985(tmp_path / "out", keep_original=False, register=False)
    assert [p.name for p in result.output_files] == ["dtor985.tck"]
    assert not (tmp_path / "out" / "dTOR_985_full.trk").exists()
    assert get_fetch_status("dtor985")["processed"]
    assert not get_fetch_status("dtor985")["downloaded"]


def test_dtor985_without_a_token_is_an_authentication_error(tmp_path, dtor, server):
    with pytest.raises(AuthenticationError, match="Figshare API token is needed") as info:
        fetch_dtor985(tmp_path / "out")
    assert "FIGSHARE_API_KEY" in info.value.hint
    with pytest.raises(AuthenticationError, match="Figshare refused access"):
        fetch_dtor985(tmp_path / "out", api_key="wrong")


def test_an_html_page_instead_of_the_tractogram_is_caught(tmp_path, server):
    page = b"<!DOCTYPE html><html><body>Please log in</body></html>"
    server.add_figshare(25209947, [("dTOR_985_full.trk", page)], TOKEN)
    with pytest.raises(DownloadError, match="HTML page"):
        fetch_dtor985(tmp_path / "out", api_key=TOKEN)
    assert not (tmp_path / "out" / "dTOR_985_full.trk").exists()


def test_an_article_without_a_trk_file_is_a_download_error(tmp_path, server):
    server.add_figshare(25209947, [("notes.txt", b"nothing here")], TOKEN)
    with pytest.raises(DownloadError, match=r"has no \.trk file \(it has notes\.txt\)"):
        fetch_dtor985(tmp_path / "out", api_key=TOKEN)


# -- HCP1065 from a GitHub release ---------------------------------------------------------------


def _hcp_zip() -> tuple[bytes, list[np.ndarray]]:
    kept = streamlines(6, seed=1) + streamlines(5, seed=2)
    nerves = streamlines(4, seed=9, offset=50.0)
    archive = zip_bytes(
        {
            "hcp1065_avg_tracts_trk/association/AF_L.trk": trk_bytes(kept[:6]),
            "hcp1065_avg_tracts_trk/projection/CST_R.trk": trk_bytes(kept[6:]),
            "hcp1065_avg_tracts_trk/cranial_nerve/CNII_L.trk": trk_bytes(nerves),
        }
    )
    return archive, kept


def test_hcp1065_is_merged_without_cranial_nerves_and_registered(tmp_path, server):
    archive, kept = _hcp_zip()
    paths = server.add_github(
        "data-others", "atlas", "hcp1065", {"hcp1065_avg_tracts_trk.zip": archive}
    )
    result = fetch_hcp1065(tmp_path / "out")
    tck = (tmp_path / "out" / "hcp1065.tck").resolve()
    assert result.output_files[-1] == tck and result.registered
    _assert_same_streamlines(tck, kept)
    assert get_connectome("HCP1065").space == "MNI152NLin2009cAsym"
    assert len(server.hits(paths["hcp1065_avg_tracts_trk.zip"])) == 1
    again = fetch_hcp1065(tmp_path / "out", keep_original=False)
    assert again.output_files == [tck] and again.download_time_seconds == 0.0


def test_hcp1065_with_another_sha256_is_a_download_error(tmp_path, server):
    archive, _ = _hcp_zip()
    server.add_github(
        "data-others",
        "atlas",
        "hcp1065",
        {"hcp1065_avg_tracts_trk.zip": archive},
        digests={"hcp1065_avg_tracts_trk.zip": "sha256:" + "1" * 64},
    )
    with pytest.raises(DownloadError, match=r"has SHA256 .* announced 1{64}"):
        fetch_hcp1065(tmp_path / "out")


def test_an_archive_with_path_traversal_is_refused(tmp_path, server):
    hostile = zip_bytes({"tracts/AF_L.trk": trk_bytes(streamlines(2)), "../../evil.trk": b"x"})
    server.add_github("data-others", "atlas", "hcp1065", {"hcp1065_avg_tracts_trk.zip": hostile})
    with pytest.raises(ProcessingError, match=r"member '\.\./\.\./evil\.trk' is unsafe"):
        fetch_hcp1065(tmp_path / "out" / "deep")
    assert not list(tmp_path.rglob("evil.trk"))
    assert not (tmp_path / "out" / "deep" / "hcp1065_tracts").exists()


def test_without_the_github_api_the_asset_is_fetched_from_its_url(tmp_path, server, monkeypatch):
    archive, kept = _hcp_zip()
    path = "/mirror/releases/hcp1065_avg_tracts_trk.zip"  # no release API on a mirror
    server.blobs[path] = archive
    source = CONNECTOME_SOURCES["hcp1065"]
    monkeypatch.setitem(
        CONNECTOME_SOURCES,
        "hcp1065",
        dataclasses.replace(source, download_url=server.base_url + path),
    )
    result = fetch_hcp1065(tmp_path / "out", register=False)
    _assert_same_streamlines(result.output_files[-1], kept)


def test_a_release_api_that_fails_leaves_a_warning(tmp_path, server, monkeypatch):
    archive, _ = _hcp_zip()
    path = "/data-others/atlas/releases/download/hcp1065/hcp1065_avg_tracts_trk.zip"
    server.blobs[path] = archive  # the asset is there, the API answers 404
    source = CONNECTOME_SOURCES["hcp1065"]
    monkeypatch.setitem(
        CONNECTOME_SOURCES,
        "hcp1065",
        dataclasses.replace(source, download_url=server.base_url + path),
    )
    result = fetch_hcp1065(tmp_path / "out", register=False)
    assert any("could not ask the GitHub API" in w for w in result.warnings)


# -- by name --------------------------------------------------------------------------------------


def test_fetch_connectome_dispatches_by_name(tmp_path, dtor):
    result = fetch_connectome("DTOR985", tmp_path / "out", api_key=TOKEN, register_name="tor")
    assert result.connectome_name == "dtor985" and result.register_name == "tor"


def test_fetch_connectome_rejects_unknown_names_and_arguments(tmp_path):
    with pytest.raises(NotFoundError, match="unknown connectome 'gsp100'") as info:
        fetch_connectome("gsp100", tmp_path)
    assert info.value.suggestions[0] == "gsp1000"
    with pytest.raises(ArgumentError, match="fetch_hcp1065 takes no argument api_key") as info:
        fetch_connectome("hcp1065", tmp_path, api_key="x")
    assert "keep_original" in info.value.hint


def test_a_registration_clash_is_a_warning_not_a_failure(tmp_path, dtor):
    fetch_dtor985(tmp_path / "a", api_key=TOKEN)
    second = fetch_dtor985(tmp_path / "b", api_key=TOKEN)
    assert second.success and not second.registered
    assert any("already registered" in w for w in second.warnings)
    forced = fetch_dtor985(tmp_path / "b", api_key=TOKEN, force=True)
    assert forced.registered
    assert get_connectome_path("dTOR985") == (tmp_path / "b" / "dtor985.tck").resolve()
    record = json.loads((tmp_path / "data" / "registry.json").read_text())
    assert record["fetches"]["dtor985"]["output_dir"] == str((tmp_path / "b").resolve())
