"""Exporting datasets and images into folders, against the fake Allen API."""

from __future__ import annotations

import json
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest
from PIL import Image

from neuratlas.allen.client import AllenClient
from neuratlas.allen.displacement import DisplacementField
from neuratlas.allen.export import MANIFEST, VOLUME_FILES, export_dataset, export_image
from neuratlas.allen.sync import DatasetDownloader
from neuratlas.allen.transforms import get_oblique_transform
from neuratlas.allen.volume import assemble_volume
from neuratlas.errors import (
    ArgumentError,
    DatasetNotFoundError,
    DataUnavailableError,
    ImageError,
    TransformError,
)
from tests.allen.fake_allen_api import CORONAL_ID, SAGITTAL_ID, FakeAllenAPI, Reply

MANIFEST_KEYS = [
    "dataset_id",
    "plane",
    "axis",
    "section_thickness_um",
    "downsample_ref",
    "downsample_img",
    "sampling",
    "affine_tvr",
    "affine_trv",
    "sections",
    "volumes",
    "failures",
]


def _downloader(client: AllenClient, dataset_id: int, **kw: object) -> DatasetDownloader:
    options: dict[str, object] = {"downsample_ref": 100, "downsample_img": 5, **kw}
    return DatasetDownloader(dataset_id, client=client, **options)  # type: ignore[arg-type]


def _png(path: Path) -> np.ndarray:
    with Image.open(path) as img:
        assert img.format == "PNG"
        return np.asarray(img)


def _volume(path: Path) -> np.ndarray:
    return np.asarray(nib.load(path).dataobj)


class TestExportDataset:
    def test_everything(self, client: AllenClient, fake_api: FakeAllenAPI, tmp_path: Path) -> None:
        out = tmp_path / "out"
        downloader = _downloader(client, CORONAL_ID, include_expression=True)
        manifest = export_dataset(downloader, out, volume=True, gaps="linear", fields=True)
        assert json.loads((out / MANIFEST).read_text()) == manifest
        assert list(manifest) == MANIFEST_KEYS
        dataset = fake_api.datasets[CORONAL_ID]
        assert manifest["dataset_id"] == CORONAL_ID
        assert (manifest["plane"], manifest["axis"], manifest["sampling"]) == (
            "coronal",
            "coronal",
            "parallel",
        )
        assert (manifest["downsample_ref"], manifest["downsample_img"]) == (100, 5)
        assert manifest["section_thickness_um"] == dataset.thickness
        np.testing.assert_allclose(manifest["affine_tvr"], dataset.tvr)
        np.testing.assert_allclose(manifest["affine_trv"], dataset.trv)
        assert manifest["failures"] == {}
        assert manifest["volumes"] == VOLUME_FILES

        by_section = sorted(dataset.images, key=lambda r: -r["section_number"])
        assert [s["image_id"] for s in manifest["sections"]] == [r["id"] for r in by_section]
        first = manifest["sections"][0]
        stem = f"sections/{first['section_number']:04d}_{first['image_id']}"
        assert first == {
            "image_id": by_section[0]["id"],
            "section_number": by_section[0]["section_number"],
            "slice_coordinate_um": first["slice_coordinate_um"],
            "image": f"{stem}.png",
            "expression": f"{stem}_expression.png",
            "field": f"{stem}_field.npz",
        }
        # each file holds the section warped by its own field, as run() gives it
        runs = {r[0]: r for r in downloader.run()}
        for entry in manifest["sections"]:
            _, coordinate, img, img_expr, df = runs[entry["image_id"]]
            assert entry["slice_coordinate_um"] == coordinate
            np.testing.assert_array_equal(_png(out / entry["image"]), df.warp(img))
            np.testing.assert_array_equal(_png(out / entry["expression"]), df.warp(img_expr))
            assert DisplacementField.load(out / entry["field"]) == df
        assert _png(out / first["image"]).shape[:2] == (80, 114)  # coronal grid at 100 µm

    def test_volumes_are_the_assembled_ones(self, client: AllenClient, tmp_path: Path) -> None:
        downloader = _downloader(client, CORONAL_ID, include_expression=True)
        export_dataset(downloader, tmp_path, volume=True, gaps="nearest")
        plain = assemble_volume(downloader, gaps="nearest")
        expression = assemble_volume(downloader, gaps="nearest", expression=True)
        written = nib.load(tmp_path / VOLUME_FILES["image"])
        np.testing.assert_array_equal(np.asarray(written.dataobj), np.asarray(plain.dataobj))
        np.testing.assert_allclose(written.affine, plain.affine)
        assert written.header["descrip"].tobytes().rstrip(b"\0") == (
            f"Allen section dataset {CORONAL_ID}".encode()
        )
        np.testing.assert_array_equal(
            _volume(tmp_path / VOLUME_FILES["expression"]), np.asarray(expression.dataobj)
        )

    def test_no_volume_no_expression_no_fields(self, client: AllenClient, tmp_path: Path) -> None:
        manifest = export_dataset(_downloader(client, CORONAL_ID), tmp_path)
        assert manifest["volumes"] == {}
        assert all(
            set(s) == {"image_id", "section_number", "slice_coordinate_um", "image"}
            for s in manifest["sections"]
        )
        names = sorted(p.name for p in (tmp_path / "sections").iterdir())
        assert len(names) == 6 and all(n.endswith(".png") and "_" in n for n in names)
        assert not list(tmp_path.glob("*.nii.gz"))
        assert not list(tmp_path.rglob("*.part"))  # no temporary file left behind

    def test_oblique(self, client: AllenClient, tmp_path: Path) -> None:
        downloader = _downloader(client, SAGITTAL_ID, downsample_ref=200, downsample_img=6)
        manifest = export_dataset(
            downloader, tmp_path, sampling="oblique", volume=True, fields=True
        )
        assert manifest["sampling"] == "oblique" and len(manifest["sections"]) == 5
        entry = manifest["sections"][0]
        record = next(r for r in downloader.metadata["images"] if r["id"] == entry["image_id"])
        expected = get_oblique_transform(
            downloader.section_z(record),
            record["affine_tvs"],
            downloader.metadata["dataset"]["affine_trv"],
            axis="sagittal",
            downsample_ref=200,
            downsample_img=6,
        )
        assert DisplacementField.load(tmp_path / entry["field"]) == expected.df
        img = next(r[2] for r in downloader.run() if r[0] == entry["image_id"])
        np.testing.assert_array_equal(_png(tmp_path / entry["image"]), expected.df.warp(img))
        np.testing.assert_array_equal(
            _volume(tmp_path / VOLUME_FILES["image"]),
            np.asarray(assemble_volume(downloader, sampling="oblique").dataobj),
        )

    def test_progress(self, client: AllenClient, fake_api: FakeAllenAPI, tmp_path: Path) -> None:
        seen: list[tuple[int, float]] = []
        manifest = export_dataset(
            _downloader(client, CORONAL_ID),
            tmp_path,
            on_section=lambda image_id, coordinate: seen.append((image_id, coordinate)),
        )
        assert seen == [(s["image_id"], s["slice_coordinate_um"]) for s in manifest["sections"]]
        assert len(seen) == 6

    def test_a_failed_image_is_listed(
        self, client: AllenClient, fake_api: FakeAllenAPI, tmp_path: Path
    ) -> None:
        bad = fake_api.datasets[CORONAL_ID].images[1]["id"]
        fake_api.add_fault(
            lambda r: Reply(status=404, body=b"gone") if r.path.endswith(str(bad)) else None
        )
        manifest = export_dataset(_downloader(client, CORONAL_ID), tmp_path, volume=True)
        assert list(manifest["failures"]) == [str(bad)]
        assert "404" in manifest["failures"][str(bad)]
        assert len(manifest["sections"]) == 5
        assert bad not in {s["image_id"] for s in manifest["sections"]}
        assert not list((tmp_path / "sections").glob(f"*_{bad}*"))
        assert json.loads((tmp_path / MANIFEST).read_text())["failures"] == manifest["failures"]

    @pytest.mark.parametrize(
        ("options", "message"),
        [
            ({"gaps": "spline"}, "unknown gap handling 'spline'"),
            ({"sampling": "tilted"}, "unknown sampling 'tilted'"),
        ],
    )
    def test_bad_options_fail_before_any_work(
        self,
        client: AllenClient,
        fake_api: FakeAllenAPI,
        tmp_path: Path,
        options: dict[str, str],
        message: str,
    ) -> None:
        out = tmp_path / "out"
        with pytest.raises(TransformError, match=message):
            export_dataset(_downloader(client, CORONAL_ID), out, **options)  # type: ignore[arg-type]
        assert not out.exists()
        assert fake_api.requests == []

    def test_out_is_a_file(
        self, client: AllenClient, fake_api: FakeAllenAPI, tmp_path: Path
    ) -> None:
        target = tmp_path / "taken"
        target.write_text("keep me")
        with pytest.raises(ArgumentError, match="taken: it is a file") as caught:
            export_dataset(_downloader(client, CORONAL_ID), target)
        assert caught.value.hint == "give the path of a folder; it is created if missing"
        assert target.read_text() == "keep me"
        assert fake_api.requests == []

    def test_out_below_a_file(
        self, client: AllenClient, fake_api: FakeAllenAPI, tmp_path: Path
    ) -> None:
        # used to download the first section, then fail on mkdir with a NotADirectoryError
        blocker = tmp_path / "taken"
        blocker.write_text("keep me")
        with pytest.raises(ArgumentError) as caught:
            export_dataset(_downloader(client, CORONAL_ID), blocker / "out")
        assert caught.value.message == (
            f"cannot write {blocker / 'out'}: {blocker} is a file, not a folder"
        )
        assert fake_api.requests == []

    def test_new_folders_above_out_are_made(self, client: AllenClient, tmp_path: Path) -> None:
        manifest = export_dataset(_downloader(client, SAGITTAL_ID), tmp_path / "a" / "b")
        assert (tmp_path / "a" / "b" / MANIFEST).is_file() and manifest["sections"]

    def test_no_image_arrives(
        self, client: AllenClient, fake_api: FakeAllenAPI, tmp_path: Path
    ) -> None:
        # used to write an empty volume and a manifest of 0 sections, without an error
        for _ in range(6):
            fake_api.add_fault(
                lambda r: (
                    Reply(status=404, body=b"gone") if "section_image_download" in r.path else None
                )
            )
        out = tmp_path / "out"
        downloader = _downloader(client, CORONAL_ID)
        with pytest.raises(DataUnavailableError) as caught:
            export_dataset(downloader, out, volume=True)
        first = next(iter(downloader.failures))
        assert caught.value.message.startswith(
            f"none of the 6 images of dataset {CORONAL_ID} could be used (the first, image "
            f"{first}: could not fetch "
        )
        assert "HTTP 404 Not Found" in caught.value.message
        assert not out.exists()

    def test_unknown_dataset_writes_nothing(self, client: AllenClient, tmp_path: Path) -> None:
        out = tmp_path / "out"
        with pytest.raises(DatasetNotFoundError, match="no section dataset with id 999"):
            export_dataset(_downloader(client, 999), out)
        assert not out.exists()


class TestExportImage:
    def test_into_a_folder(
        self, client: AllenClient, fake_api: FakeAllenAPI, tmp_path: Path
    ) -> None:
        image_id = fake_api.datasets[CORONAL_ID].images[0]["id"]
        target = export_image(image_id, tmp_path, downsample=6, client=client)
        assert target == tmp_path / f"{image_id}.jpg"
        cached = client.image_path(image_id, downsample=6)
        assert target.read_bytes() == cached.read_bytes()
        expression = export_image(image_id, tmp_path, downsample=6, expression=True, client=client)
        assert expression == tmp_path / f"{image_id}_expression.jpg"
        with Image.open(expression) as img:
            assert img.format == "JPEG"
        assert expression.read_bytes() != target.read_bytes()

    def test_to_a_file_in_a_new_folder(
        self, client: AllenClient, fake_api: FakeAllenAPI, tmp_path: Path
    ) -> None:
        image_id = fake_api.datasets[SAGITTAL_ID].images[-1]["id"]
        target = tmp_path / "new" / "named.jpg"
        assert export_image(image_id, target, downsample=5, client=client) == target
        assert target.read_bytes() == client.image_path(image_id, downsample=5).read_bytes()

    def test_default_client(
        self, fake_api: FakeAllenAPI, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.setenv("NEURATLAS_ALLEN_API", fake_api.base_url)
        image_id = fake_api.datasets[CORONAL_ID].images[0]["id"]
        assert export_image(image_id, tmp_path, downsample=6).exists()

    def test_unknown_image(
        self, client: AllenClient, fake_api: FakeAllenAPI, tmp_path: Path
    ) -> None:
        target = tmp_path / "x.jpg"
        with pytest.raises(DatasetNotFoundError, match="no section image with id 17"):
            export_image(17, target, client=client)
        assert not target.exists()
        assert fake_api.paths("section_image_download") == []

    def test_out_below_a_file_fails_before_any_request(
        self, client: AllenClient, fake_api: FakeAllenAPI, tmp_path: Path
    ) -> None:
        blocker = tmp_path / "taken"
        blocker.write_text("keep me")
        image_id = fake_api.datasets[CORONAL_ID].images[0]["id"]
        with pytest.raises(ArgumentError, match="is a file, not a folder"):
            export_image(image_id, blocker / "x.jpg", client=client)
        assert fake_api.requests == []
        assert blocker.read_text() == "keep me"

    def test_bad_downsample(
        self, client: AllenClient, fake_api: FakeAllenAPI, tmp_path: Path
    ) -> None:
        image_id = fake_api.datasets[CORONAL_ID].images[0]["id"]
        with pytest.raises(ImageError, match="downsample must be a non-negative integer"):
            export_image(image_id, tmp_path / "x.jpg", downsample=-1, client=client)
        assert not (tmp_path / "x.jpg").exists()
