"""``neuratlas allen ...`` against the fake Allen API."""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from neuratlas.cli.main import cli
from neuratlas.errors import ArgumentError, DatasetNotFoundError, DataUnavailableError
from tests.allen.fake_allen_api import (
    CORONAL_ID,
    SAGITTAL_ID,
    FakeAllenAPI,
    Reply,
    make_dataset,
    structure_rows,
)

runner = CliRunner()


@pytest.fixture
def api(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeAllenAPI]:
    server = FakeAllenAPI(
        [
            make_dataset(CORONAL_ID, "coronal", n_images=4, gene="Gad1", seed=1),
            make_dataset(SAGITTAL_ID, "sagittal", n_images=3, gene="Pvalb", seed=2),
        ]
    ).start()
    monkeypatch.setenv("NEURATLAS_ALLEN_API", server.base_url)
    monkeypatch.setenv("NEURATLAS_CACHE", str(tmp_path / "cache"))
    try:
        yield server
    finally:
        server.stop()


def _run(*args: str) -> object:
    return runner.invoke(cli, ["allen", *args], catch_exceptions=True)


def test_help_lists_the_verbs() -> None:
    result = runner.invoke(cli, ["allen", "--help"])
    assert result.exit_code == 0
    for verb in ("dataset", "search", "download", "cache", "expression", "ontology"):
        assert verb in result.output


class TestDataset:
    def test_info_table(self, api: FakeAllenAPI) -> None:
        result = _run("dataset", "info", str(CORONAL_ID))
        assert result.exit_code == 0, result.output  # type: ignore[attr-defined]
        assert "coronal" in result.output and "Gad1" in result.output  # type: ignore[attr-defined]

    def test_info_json(self, api: FakeAllenAPI) -> None:
        result = _run("dataset", "info", str(SAGITTAL_ID), "--json")
        info = json.loads(result.output)  # type: ignore[attr-defined]
        assert info["id"] == SAGITTAL_ID and info["plane"] == "sagittal"
        assert info["images"] == 3 and len(info["sections"]) == 3
        np.testing.assert_allclose(info["affine_tvr"], api.datasets[SAGITTAL_ID].tvr)

    def test_info_json_fields(self, api: FakeAllenAPI) -> None:
        info = json.loads(_run("dataset", "info", str(CORONAL_ID), "--json").output)  # type: ignore[attr-defined]
        assert list(info) == [
            "id",
            "plane",
            "section_thickness_um",
            "reference_space_id",
            "genes",
            "failed",
            "aligned",
            "images",
            "section_numbers",
            "image_sizes",
            "affine_tvr",
            "sections",
        ]
        assert info["section_numbers"] == [20, 44] and info["genes"] == ["Gad1"]
        assert list(info["sections"][0]) == ["id", "section_number", "width", "height"]

    def test_info_missing(self, api: FakeAllenAPI) -> None:
        result = _run("dataset", "info", "42")
        assert isinstance(result.exception, DatasetNotFoundError)  # type: ignore[attr-defined]

    def test_preview(self, api: FakeAllenAPI, tmp_path: Path) -> None:
        out = tmp_path / "preview.png"
        result = _run("dataset", "preview", str(CORONAL_ID), "-o", str(out), "--downsample", "6")
        assert result.exit_code == 0, result.output  # type: ignore[attr-defined]
        with Image.open(out) as img:
            assert img.format == "PNG" and img.width > 100

    def test_preview_registered_subset(self, api: FakeAllenAPI, tmp_path: Path) -> None:
        out = tmp_path / "preview.png"
        result = _run(
            "dataset",
            "preview",
            str(SAGITTAL_ID),
            "-o",
            str(out),
            "--registered",
            "--max-images",
            "2",
            "--downsample",
            "6",
        )
        assert result.exit_code == 0, result.output  # type: ignore[attr-defined]
        assert len(api.paths("section_image_download")) == 2
        assert out.exists()

    def test_preview_without_aligned_images(self, api: FakeAllenAPI, tmp_path: Path) -> None:
        for image in api.datasets[CORONAL_ID].images:
            image["alignment2d"] = None
        out = tmp_path / "preview.png"
        result = _run("dataset", "preview", str(CORONAL_ID), "-o", str(out))
        assert isinstance(result.exception, DataUnavailableError)  # type: ignore[attr-defined]
        assert "has no aligned section images" in str(result.exception)  # type: ignore[attr-defined]
        assert not out.exists()

    @pytest.mark.parametrize(
        ("where", "reason"),
        [
            ("missing/p.png", "the folder {t}/missing does not exist"),
            ("taken/p.png", "{t}/taken is a file, not a folder"),
            ("folder", "it is a folder"),
        ],
    )
    def test_preview_output_that_cannot_be_written(
        self, api: FakeAllenAPI, tmp_path: Path, where: str, reason: str
    ) -> None:
        # a missing folder used to be created silently; the others ended in tracebacks
        (tmp_path / "taken").write_text("keep me")
        (tmp_path / "folder").mkdir()
        out = tmp_path / where
        result = _run("dataset", "preview", str(CORONAL_ID), "-o", str(out))
        error = result.exception  # type: ignore[attr-defined]
        assert isinstance(error, ArgumentError)
        assert error.message == f"cannot write {out}: {reason.format(t=tmp_path)}"
        assert api.requests == []
        assert not (tmp_path / "missing").exists()

    def test_preview_bad_downsample(self, api: FakeAllenAPI, tmp_path: Path) -> None:
        result = _run("dataset", "preview", str(CORONAL_ID), "-o", "p.png", "--downsample", "-1")
        assert result.exit_code == 2  # type: ignore[attr-defined]
        assert api.requests == []

    def test_preview_bad_max_images(self, api: FakeAllenAPI, tmp_path: Path) -> None:
        result = _run("dataset", "preview", str(CORONAL_ID), "-o", "x.png", "--max-images", "0")
        assert result.exit_code == 2 and "must be at least 1" in result.output  # type: ignore[attr-defined]


class TestSearch:
    def test_dataset_by_gene_and_plane(self, api: FakeAllenAPI) -> None:
        result = _run("search", "dataset", "--gene", "Pvalb", "--plane", "sagittal", "--json")
        assert [row["id"] for row in json.loads(result.output)] == [SAGITTAL_ID]  # type: ignore[attr-defined]
        result = _run("search", "dataset", "--gene", "Pvalb", "--plane", "coronal")
        assert result.exit_code == 0 and "0 section datasets" in result.output  # type: ignore[attr-defined]

    def test_dataset_json_fields_and_empty_table(self, api: FakeAllenAPI) -> None:
        rows = json.loads(_run("search", "dataset", "--gene", "Gad1", "--json").output)  # type: ignore[attr-defined]
        assert rows == [{"id": CORONAL_ID, "plane": "coronal", "genes": ["Gad1"], "failed": False}]
        empty = _run("search", "dataset", "--gene", "Nope").output  # type: ignore[attr-defined]
        assert "0 section datasets" in empty
        assert all(column in empty for column in ("id", "plane", "genes", "failed"))

    def test_dataset_needs_a_filter(self, api: FakeAllenAPI) -> None:
        result = _run("search", "dataset")
        assert result.exit_code == 2 and "give --gene, --plane or both" in result.output  # type: ignore[attr-defined]

    def test_bad_plane(self, api: FakeAllenAPI) -> None:
        result = _run("search", "dataset", "--gene", "Gad1", "--plane", "axial")
        assert result.exit_code == 2 and "coronal or sagittal" in result.output  # type: ignore[attr-defined]

    def test_images(self, api: FakeAllenAPI) -> None:
        result = _run("search", "image", "--dataset", str(CORONAL_ID), "--json")
        rows = json.loads(result.output)  # type: ignore[attr-defined]
        assert [r["section_number"] for r in rows] == [44, 36, 28, 20]
        assert list(rows[0]) == ["id", "section_number", "width", "height", "aligned"]
        assert all(r["aligned"] is True for r in rows)
        table = _run("search", "image", "--dataset", str(CORONAL_ID))
        assert str(rows[0]["id"]) in table.output  # type: ignore[attr-defined]


class TestDownload:
    def test_dataset_with_volume(self, api: FakeAllenAPI, tmp_path: Path) -> None:
        out = tmp_path / "out"
        result = _run(
            "download",
            "dataset",
            str(CORONAL_ID),
            str(out),
            "--downsample-ref",
            "100",
            "--downsample-img",
            "5",
            "--expression",
            "--volume",
            "--gaps",
            "linear",
            "--fields",
        )
        assert result.exit_code == 0, result.output  # type: ignore[attr-defined]
        manifest = json.loads((out / "metadata.json").read_text())
        assert manifest["dataset_id"] == CORONAL_ID and len(manifest["sections"]) == 4
        section = manifest["sections"][0]
        with Image.open(out / section["image"]) as img:
            assert img.size == (114, 80)  # the coronal reference grid at 100 µm
        assert (out / section["expression"]).exists() and (out / section["field"]).exists()
        volume = nib.load(out / "volume.nii.gz")
        assert volume.shape == (132, 80, 114)
        assert nib.aff2axcodes(volume.affine) == ("P", "I", "R")
        assert (out / "volume_expression.nii.gz").exists()
        assert manifest["volumes"] == {
            "image": "volume.nii.gz",
            "expression": "volume_expression.nii.gz",
        }

    def test_dataset_oblique(self, api: FakeAllenAPI, tmp_path: Path) -> None:
        out = tmp_path / "out"
        result = _run(
            "download",
            "dataset",
            str(SAGITTAL_ID),
            str(out),
            "--downsample-ref",
            "200",
            "--downsample-img",
            "6",
            "--oblique",
            "--volume",
        )
        assert result.exit_code == 0, result.output  # type: ignore[attr-defined]
        assert json.loads((out / "metadata.json").read_text())["sampling"] == "oblique"

    def test_dataset_with_a_failed_image(self, api: FakeAllenAPI, tmp_path: Path) -> None:
        bad = api.datasets[CORONAL_ID].images[1]["id"]
        api.add_fault(
            lambda r: Reply(status=404, body=b"gone") if r.path.endswith(str(bad)) else None
        )
        out = tmp_path / "out"
        result = _run(
            "download",
            "dataset",
            str(CORONAL_ID),
            str(out),
            "--downsample-ref",
            "200",
            "--downsample-img",
            "6",
        )
        # what worked is written; the command ends with one error about the rest, status 1
        assert result.exit_code == 1  # type: ignore[attr-defined]
        manifest = json.loads((out / "metadata.json").read_text())
        assert len(manifest["sections"]) == 3 and list(manifest["failures"]) == [str(bad)]
        error = result.exception  # type: ignore[attr-defined]
        assert isinstance(error, DataUnavailableError)
        assert error.message.startswith(
            f"1 of 4 images of dataset {CORONAL_ID} failed (the first, image {bad}: "
        )
        assert error.message.endswith(f"; every failure is listed in {out / 'metadata.json'}")
        assert "wrote 3 sections to" in result.output  # type: ignore[attr-defined]

    def test_dataset_of_which_no_image_arrives(self, api: FakeAllenAPI, tmp_path: Path) -> None:
        # used to print "wrote 0 sections", exit 0 and leave an empty volume behind
        for _ in range(4):
            api.add_fault(
                lambda r: (
                    Reply(status=404, body=b"gone") if "section_image_download" in r.path else None
                )
            )
        out = tmp_path / "out"
        result = _run(
            "download",
            "dataset",
            str(CORONAL_ID),
            str(out),
            "--downsample-ref",
            "200",
            "--downsample-img",
            "6",
            "--volume",
        )
        assert result.exit_code == 1  # type: ignore[attr-defined]
        error = result.exception  # type: ignore[attr-defined]
        assert isinstance(error, DataUnavailableError)
        assert error.message.startswith(
            f"none of the 4 images of dataset {CORONAL_ID} could be used (the first, image "
        )
        assert "wrote" not in result.output  # type: ignore[attr-defined]
        assert not out.exists()

    def test_bad_gaps(self, api: FakeAllenAPI, tmp_path: Path) -> None:
        result = _run("download", "dataset", str(CORONAL_ID), str(tmp_path), "--gaps", "x")
        assert result.exit_code == 2  # type: ignore[attr-defined]

    @pytest.mark.parametrize(
        ("option", "value", "message"),
        [
            ("--downsample-img", "-3", "greater than or equal to 0"),
            ("--downsample-ref", "0", "greater than or equal to 1"),
            ("--downsample-ref", "100000", "less than or equal to 8000"),
        ],
    )
    def test_bad_downsampling_is_a_usage_error(
        self, api: FakeAllenAPI, tmp_path: Path, option: str, value: str, message: str
    ) -> None:
        # -3 used to fail every image and exit 0; 100000 ended in a PIL traceback
        result = _run("download", "dataset", str(CORONAL_ID), str(tmp_path / "o"), option, value)
        assert result.exit_code == 2  # type: ignore[attr-defined]
        # the usage error is drawn in a box: read its words, not its layout
        words = " ".join(re.sub(r"[│╭╮╰╯─]", " ", result.output).split())  # type: ignore[attr-defined]
        assert f"Invalid value for '{option}'" in words and message in words
        assert api.requests == []

    @pytest.mark.parametrize(
        ("where", "reason"),
        [
            ("taken/out", "{t}/taken is a file, not a folder"),
            ("missing/out", "the folder {t}/missing does not exist"),
        ],
    )
    def test_dataset_into_a_place_that_cannot_be(
        self, api: FakeAllenAPI, tmp_path: Path, where: str, reason: str
    ) -> None:
        (tmp_path / "taken").write_text("keep me")
        result = _run("download", "dataset", str(CORONAL_ID), str(tmp_path / where))
        error = result.exception  # type: ignore[attr-defined]
        assert isinstance(error, ArgumentError)
        assert error.message == f"cannot write {tmp_path / where}: {reason.format(t=tmp_path)}"
        assert api.requests == []
        assert not (tmp_path / "missing").exists()

    def test_dataset_into_a_file(self, api: FakeAllenAPI, tmp_path: Path) -> None:
        target = tmp_path / "taken"
        target.write_text("keep me")
        result = _run("download", "dataset", str(CORONAL_ID), str(target))
        assert isinstance(result.exception, ArgumentError)  # type: ignore[attr-defined]
        assert "it is a file" in str(result.exception)  # type: ignore[attr-defined]
        assert target.read_text() == "keep me"

    def test_image(self, api: FakeAllenAPI, tmp_path: Path) -> None:
        image_id = api.datasets[CORONAL_ID].images[0]["id"]
        result = _run(
            "download", "image", str(image_id), str(tmp_path), "--downsample", "6", "--expression"
        )
        assert result.exit_code == 0, result.output  # type: ignore[attr-defined]
        with Image.open(tmp_path / f"{image_id}_expression.jpg") as img:
            assert img.format == "JPEG"
        target = tmp_path / "named.jpg"
        result = _run("download", "image", str(image_id), str(target), "--downsample", "5")
        assert result.exit_code == 0  # type: ignore[attr-defined]
        assert target.stat().st_size > 0

    @pytest.mark.parametrize(
        ("where", "reason"),
        [
            ("taken/x.jpg", "{t}/taken is a file, not a folder"),
            ("missing/x.jpg", "the folder {t}/missing does not exist"),
        ],
    )
    def test_image_into_a_place_that_cannot_be(
        self, api: FakeAllenAPI, tmp_path: Path, where: str, reason: str
    ) -> None:
        (tmp_path / "taken").write_text("keep me")
        image_id = api.datasets[CORONAL_ID].images[0]["id"]
        result = _run("download", "image", str(image_id), str(tmp_path / where))
        error = result.exception  # type: ignore[attr-defined]
        assert isinstance(error, ArgumentError)
        assert error.message == f"cannot write {tmp_path / where}: {reason.format(t=tmp_path)}"
        assert api.requests == []
        assert not (tmp_path / "missing").exists()

    def test_unknown_image(self, api: FakeAllenAPI, tmp_path: Path) -> None:
        result = _run("download", "image", "17", str(tmp_path / "x.jpg"))
        assert isinstance(result.exception, DatasetNotFoundError)  # type: ignore[attr-defined]
        assert not (tmp_path / "x.jpg").exists()


class TestCache:
    def test_info_and_clear(self, api: FakeAllenAPI) -> None:
        _run("dataset", "info", str(CORONAL_ID))
        info = json.loads(_run("cache", "info", "--json").output)  # type: ignore[attr-defined]
        assert list(info) == ["folder", "files", "bytes"]
        assert info["files"] == 1 and info["bytes"] > 0
        assert info["folder"] == str(Path(os.environ["NEURATLAS_CACHE"]) / "allen")
        table = _run("cache", "info").output  # type: ignore[attr-defined]
        assert table.startswith(f"{info['folder']}: 1 files, ") and table.endswith(" MB\n")
        assert _run("cache", "clear", "--yes").exit_code == 0  # type: ignore[attr-defined]
        info = json.loads(_run("cache", "info", "--json").output)  # type: ignore[attr-defined]
        assert info["files"] == 0


def test_console_script_prints_one_line_errors(api: FakeAllenAPI, tmp_path: Path) -> None:
    env = {**os.environ, "NEURATLAS_ALLEN_API": api.base_url}
    script = Path(sys.executable).parent / "neuratlas"
    done = subprocess.run(
        [str(script), "allen", "dataset", "info", "42"],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )
    assert done.returncode == 2
    assert done.stderr.startswith("error: there is no section dataset with id 42")
    assert "Traceback" not in done.stderr


# --- the API's address ---------------------------------------------------------------------------
@pytest.mark.parametrize("url", ["not-a-url", "ftp://host/api/v2/", "http:///api/v2/"])
def test_bad_api_url_is_a_usage_error(
    url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # used to retry five times over seconds, then report "UnsupportedProtocol"
    monkeypatch.setenv("NEURATLAS_CACHE", str(tmp_path / "cache"))
    result = runner.invoke(cli, ["allen", "--api", url, "dataset", "info", "1"])
    error = result.exception
    assert isinstance(error, ArgumentError)
    assert error.message == f"the Allen API URL {url!r} is not an http(s) URL with a host name"
    assert "NEURATLAS_ALLEN_API" in error.hint and "--api" in error.hint


def test_unreachable_api_fails_fast_with_a_short_url(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        base = f"http://127.0.0.1:{sock.getsockname()[1]}/api/v2/"
    monkeypatch.setenv("NEURATLAS_CACHE", str(tmp_path / "cache"))
    result = runner.invoke(cli, ["allen", "--api", base, "search", "dataset", "--gene", "Gad1"])
    error = result.exception
    assert isinstance(error, DataUnavailableError)
    # one retry only (not four with backoff), and the query is elided from the message
    assert error.message.startswith(f"could not fetch {base}data/query.json?...: cannot connect")
    assert error.message.endswith("(gave up after 2 attempts)")
    assert "criteria" not in error.message and "criteria" in error.source
    assert error.hint == (
        "check the network connection, or point NEURATLAS_ALLEN_API (--api on the command "
        f"line) at a reachable Allen API; now {base}"
    )


def test_offline_image_hint_names_the_cache_file(api: FakeAllenAPI, tmp_path: Path) -> None:
    # the metadata are cached; then the API goes away before the images are fetched
    assert _run("dataset", "info", str(CORONAL_ID)).exit_code == 0  # type: ignore[attr-defined]
    api.stop()
    result = _run(
        "download", "dataset", str(CORONAL_ID), str(tmp_path / "out"), "--downsample-img", "6"
    )
    error = result.exception  # type: ignore[attr-defined]
    assert isinstance(error, DataUnavailableError)
    assert error.message.startswith(f"none of the 4 images of dataset {CORONAL_ID} could be used")
    match = re.search(r"download (\S+) elsewhere and place it at (\S+)$", error.hint)
    assert match is not None, error.hint
    assert "section_image_download/" in match.group(1)
    cached = Path(match.group(2))
    assert cached.parent == tmp_path / "cache" / "allen" and cached.suffix == ".jpg"
    assert not (tmp_path / "out").exists()


def test_console_script_offline_is_two_short_lines(tmp_path: Path) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        base = f"http://127.0.0.1:{sock.getsockname()[1]}/api/v2/"
    env = {**os.environ, "NEURATLAS_ALLEN_API": base, "NEURATLAS_CACHE": str(tmp_path / "c")}
    done = subprocess.run(
        [str(Path(sys.executable).parent / "neuratlas"), "allen", "dataset", "info", "42"],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )
    assert done.returncode == 1
    error, hint = done.stderr.splitlines()
    assert error.startswith(f"error: could not fetch {base}data/query.json?...: cannot connect")
    assert len(error) < 200  # the 400-character query URL is elided
    assert hint.startswith("hint: check the network connection, or point NEURATLAS_ALLEN_API")


def test_preview_refuses_a_name_that_is_not_png(tmp_path: Path) -> None:
    # the picture is PNG data: a .jpg name would mislabel it
    result = _run("dataset", "preview", str(CORONAL_ID), "-o", str(tmp_path / "p.jpg"))
    assert isinstance(result.exception, ArgumentError)  # type: ignore[attr-defined]
    assert result.exception.message.endswith("does not end in .png")  # type: ignore[attr-defined]
    assert not list(tmp_path.iterdir())


class TestOntology:
    def test_no_difference(self, api: FakeAllenAPI) -> None:
        result = _run("ontology")
        assert result.exit_code == 0, result.output  # type: ignore[attr-defined]
        assert "no difference" in result.output  # type: ignore[attr-defined]
        result = _run("ontology", "--json")
        assert json.loads(result.output) == []  # type: ignore[attr-defined]

    def test_differences_as_json(self, api: FakeAllenAPI) -> None:
        rows = structure_rows()
        ca1 = next(row for row in rows if row["acronym"] == "CA1")
        ca1["name"] = "Cornu ammonis 1"
        api.structures = rows
        result = _run("ontology", "--json")
        assert result.exit_code == 0, result.output  # type: ignore[attr-defined]
        assert json.loads(result.output) == [  # type: ignore[attr-defined]
            {
                "structure_id": 382,
                "acronym": "CA1",
                "kind": "name",
                "embedded": "Field CA1",
                "api": "Cornu ammonis 1",
            }
        ]
        assert "1 differences" in _run("ontology").output  # type: ignore[attr-defined]
