"""The Allen API client: metadata, caching, images and searches, against the fake API."""

from __future__ import annotations

import io
import re
import socket
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from neuratlas.allen.client import DEFAULT_API, AllenClient, resolve_base_url
from neuratlas.errors import (
    DatasetNotFoundError,
    DataUnavailableError,
    Error,
    ImageError,
    RMAError,
)
from tests.allen.fake_allen_api import (
    CORONAL_ID,
    SAGITTAL_ID,
    FakeAllenAPI,
    Reply,
    Request,
    render_image,
)


class TestBaseUrl:
    def test_default(self, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.delenv("NEURATLAS_ALLEN_API", raising=False)
        assert resolve_base_url() == DEFAULT_API == "https://api.brain-map.org/api/v2/"

    def test_environment_then_argument(self, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setenv("NEURATLAS_ALLEN_API", "http://127.0.0.1:9/api/v2")
        assert resolve_base_url() == "http://127.0.0.1:9/api/v2/"
        assert resolve_base_url("http://127.0.0.1:8/x/") == "http://127.0.0.1:8/x/"


class TestMetadata:
    def test_dataset_and_images(self, client: AllenClient, fake_api: FakeAllenAPI) -> None:
        dataset, images = client.fetch_metadata(CORONAL_ID)
        truth = fake_api.datasets[CORONAL_ID]
        assert dataset.id == CORONAL_ID
        assert dataset.plane == "coronal" and dataset.axis == "coronal"
        assert dataset.plane_of_section_id == 1
        assert dataset.section_thickness == 25.0
        assert dataset.reference_space_id == 9
        assert dataset.genes == ("Gad1",)
        np.testing.assert_allclose(dataset.affine_tvr, truth.tvr)
        np.testing.assert_allclose(dataset.affine_trv, truth.trv)
        assert [i.section_number for i in images] == [60, 52, 44, 36, 28, 20]
        first = next(row for row in truth.images if row["id"] == images[0].id)
        assert images[0].width == first["image_width"]
        assert images[0].height == first["image_height"]
        assert images[0].resolution == pytest.approx(1.049)
        # tsv and tvs are inverse 2D affines
        tsv = np.vstack([images[0].affine_tsv, [0, 0, 1]])
        tvs = np.vstack([images[0].affine_tvs, [0, 0, 1]])
        np.testing.assert_allclose(tsv @ tvs, np.eye(3), atol=1e-10)

    def test_summaries(self, client: AllenClient) -> None:
        dataset, images = client.fetch_metadata(CORONAL_ID)
        assert repr(dataset) == (
            f"SectionDataSet({CORONAL_ID}, coronal, Gad1, 25 um sections, aligned)"
        )
        assert repr(images[0]).startswith(f"SectionImage({images[0].id}, dataset {CORONAL_ID}")
        assert "section 60" in repr(images[0]) and repr(images[0]).endswith("aligned)")

    def test_sagittal(self, client: AllenClient) -> None:
        dataset, images = client.fetch_metadata(SAGITTAL_ID)
        assert (dataset.plane, dataset.axis, len(images)) == ("sagittal", "sagittal", 5)

    def test_cached_after_first_fetch(self, client: AllenClient, fake_api: FakeAllenAPI) -> None:
        client.fetch_metadata(CORONAL_ID)
        count = len(fake_api.requests)
        again, _ = client.fetch_metadata(CORONAL_ID)
        assert len(fake_api.requests) == count and again.id == CORONAL_ID
        # a second client (a new process, say) reads the same cache entry
        with AllenClient(fake_api.base_url) as other:
            other.fetch_metadata(CORONAL_ID)
        assert len(fake_api.requests) == count
        client.fetch_metadata(CORONAL_ID, force_redownload=True)
        assert len(fake_api.requests) == count + 2

    def test_cache_files_are_complete_json(self, client: AllenClient, cache: Path) -> None:
        client.fetch_metadata(CORONAL_ID)
        files = list((cache / "allen").iterdir())
        assert len(files) == 1 and files[0].suffix == ".json"
        assert not any(".part" in f.name for f in files)

    def test_damaged_cache_entry_is_refetched(
        self, client: AllenClient, fake_api: FakeAllenAPI, cache: Path
    ) -> None:
        client.fetch_metadata(CORONAL_ID)
        (entry,) = (cache / "allen").iterdir()
        entry.write_text('{"dataset": ')
        count = len(fake_api.requests)
        dataset, _ = client.fetch_metadata(CORONAL_ID)
        assert dataset.id == CORONAL_ID and len(fake_api.requests) == count + 2

    def test_no_cache(self, fake_api: FakeAllenAPI, cache: Path) -> None:
        with AllenClient(fake_api.base_url, use_cache=False) as client:
            client.fetch_metadata(CORONAL_ID)
        assert not (cache / "allen").exists() or not list((cache / "allen").iterdir())

    def test_missing_dataset(self, client: AllenClient) -> None:
        with pytest.raises(DatasetNotFoundError, match="no section dataset with id 12345") as e:
            client.fetch_metadata(12345)
        assert isinstance(e.value, Error) and isinstance(e.value, LookupError)
        assert "search dataset" in (e.value.hint or "")

    @pytest.mark.parametrize("bad", [-3, "abc", 2.5, True])
    def test_invalid_ids(self, client: AllenClient, bad: object) -> None:
        with pytest.raises(DatasetNotFoundError, match="is not a valid dataset id"):
            client.fetch_metadata(bad)  # type: ignore[arg-type]

    def test_malformed_record(self, client: AllenClient, fake_api: FakeAllenAPI) -> None:
        row = fake_api.datasets[CORONAL_ID].row()
        del row["alignment3d"]["tvr_05"]

        def broken(request: Request) -> Reply | None:
            if "SectionDataSet" in request.params.get("criteria", ""):
                return Reply(envelope={"msg": [row], "num_rows": 1, "total_rows": 1})
            return None

        fake_api.add_fault(broken)
        with pytest.raises(RMAError, match="no field 'tvr_05'"):
            client.fetch_metadata(CORONAL_ID)

    def test_unaligned_dataset(self, client: AllenClient, fake_api: FakeAllenAPI) -> None:
        row = fake_api.datasets[CORONAL_ID].row()
        row["alignment3d"] = None
        fake_api.add_fault(
            lambda r: Reply(envelope={"msg": [row], "num_rows": 1, "total_rows": 1})
        )
        dataset, _ = client.fetch_metadata(CORONAL_ID)
        assert dataset.affine_tvr is None
        with pytest.raises(DataUnavailableError, match="has no 3D alignment"):
            dataset.require_alignment()

    def test_section_image(self, client: AllenClient, fake_api: FakeAllenAPI) -> None:
        image_id = fake_api.datasets[SAGITTAL_ID].images[2]["id"]
        image = client.section_image(image_id)
        assert image.id == image_id and image.data_set_id == SAGITTAL_ID and image.aligned
        with pytest.raises(DatasetNotFoundError, match="no section image with id 1"):
            client.section_image(1)


class TestSearch:
    def test_by_gene_and_plane(self, client: AllenClient) -> None:
        assert [d.id for d in client.search_datasets("Gad1", "coronal")] == [CORONAL_ID]
        assert [d.id for d in client.search_datasets("gad1", "sagittal")] == [SAGITTAL_ID]
        assert {d.id for d in client.search_datasets("Gad1")} == {CORONAL_ID, SAGITTAL_ID}
        assert client.search_datasets("Slc17a7", "coronal") == []

    def test_failed_datasets_hidden(self, client: AllenClient, fake_api: FakeAllenAPI) -> None:
        fake_api.datasets[SAGITTAL_ID].failed = True
        assert [d.id for d in client.search_datasets("Gad1")] == [CORONAL_ID]
        found = client.search_datasets("Gad1", include_failed=True)
        assert {d.id for d in found} == {CORONAL_ID, SAGITTAL_ID}


def _decode(path: Path) -> np.ndarray:
    with Image.open(path) as img:
        return np.asarray(img)


class TestImages:
    def test_download_and_cache(self, client: AllenClient, fake_api: FakeAllenAPI) -> None:
        dataset = fake_api.datasets[CORONAL_ID]
        record = dataset.images[0]
        img = client.image(record["id"], downsample=5)
        expected = render_image(dataset, record, 5, expression=False)
        assert img.shape == expected.shape and img.dtype == np.uint8
        assert np.abs(img.astype(int) - expected).mean() < 2  # JPEG at quality 95
        count = len(fake_api.requests)
        again = client.image(record["id"], downsample=5)
        np.testing.assert_array_equal(again, img)
        assert len(fake_api.requests) == count
        request = fake_api.paths("section_image_download")[0]
        assert request.params == {"downsample": "5"}

    def test_expression_view(self, client: AllenClient, fake_api: FakeAllenAPI) -> None:
        dataset = fake_api.datasets[CORONAL_ID]
        record = dataset.images[3]
        plain = client.image_path(record["id"], downsample=6)
        expr = client.image_path(record["id"], downsample=6, expression=True)
        assert plain != expr
        assert fake_api.paths("section_image_download")[-1].params["view"] == "expression"
        expected = render_image(dataset, record, 6, expression=True)
        assert np.abs(_decode(expr).astype(int) - expected).mean() < 2

    def test_non_image_answer(
        self, client: AllenClient, fake_api: FakeAllenAPI, cache: Path
    ) -> None:
        image_id = fake_api.datasets[CORONAL_ID].images[0]["id"]
        fake_api.add_fault(
            lambda r: (
                Reply(body=b"<html>Service temporarily unavailable</html>")
                if "section_image" in r.path
                else None
            )
        )
        with pytest.raises(ImageError, match=r"is not a readable image.*<html>Service"):
            client.image(image_id, downsample=6)
        assert not list((cache / "allen").iterdir())  # nothing cached
        assert client.image(image_id, downsample=6).ndim == 3  # the next try works

    def test_a_download_is_decoded_once(
        self, client: AllenClient, fake_api: FakeAllenAPI, decodings: list[tuple[Path, str]]
    ) -> None:
        image_id = fake_api.datasets[CORONAL_ID].images[0]["id"]
        fetched = client.fetch_image(image_id, downsample=6, expression=True)
        # downloaded, not yet checked: not in the cache until it decodes
        assert not fetched.checked and fetched.path.exists() and not fetched.cached.exists()
        assert "expression image" in fetched.what and decodings == []
        img = fetched.load()
        assert decodings == [(fetched.path, fetched.what)] and img.ndim == 3
        assert fetched.cached.exists() and not fetched.path.exists()
        again = client.fetch_image(image_id, downsample=6, expression=True)
        assert again.checked and again.path == fetched.cached
        np.testing.assert_array_equal(again.load(), img)
        decodings.clear()
        client.image(fake_api.datasets[CORONAL_ID].images[1]["id"], downsample=6)
        assert len(decodings) == 1  # the check is the decoding

    def test_a_fetched_image_that_does_not_decode_is_deleted(
        self, client: AllenClient, fake_api: FakeAllenAPI, cache: Path
    ) -> None:
        image_id = fake_api.datasets[CORONAL_ID].images[0]["id"]
        fake_api.add_fault(
            lambda r: Reply(body=b"<html>oops</html>") if "section_image" in r.path else None
        )
        fetched = client.fetch_image(image_id, downsample=6)
        with pytest.raises(ImageError, match=f"section image {image_id} is not a readable image"):
            fetched.load()
        assert not fetched.path.exists() and not fetched.cached.exists()

    def test_truncated_jpeg(self, client: AllenClient, fake_api: FakeAllenAPI) -> None:
        dataset = fake_api.datasets[CORONAL_ID]
        data = fake_api.image_bytes(dataset.images[0]["id"], 6, False)
        assert data is not None
        fake_api.add_fault(
            lambda r: Reply(body=data[: len(data) // 2]) if "section_image" in r.path else None
        )
        with pytest.raises(ImageError, match="not a readable image"):
            client.image(dataset.images[0]["id"], downsample=6)

    def test_interrupted_download_resumes(
        self, client: AllenClient, fake_api: FakeAllenAPI
    ) -> None:
        dataset = fake_api.datasets[CORONAL_ID]
        record = dataset.images[1]
        fake_api.add_fault(
            lambda r: Reply(truncate_to=3000) if "section_image" in r.path else None
        )
        img = client.image(record["id"], downsample=5)
        requests = fake_api.paths("section_image_download")
        assert len(requests) == 2
        assert requests[1].headers.get("Range") == "bytes=3000-"
        full = fake_api.image_bytes(record["id"], 5, False)
        with Image.open(io.BytesIO(full)) as reference:  # type: ignore[arg-type]
            np.testing.assert_array_equal(img, np.asarray(reference))

    def test_5xx_then_image(self, client: AllenClient, fake_api: FakeAllenAPI) -> None:
        record = fake_api.datasets[CORONAL_ID].images[2]
        fake_api.add_fault(
            lambda r: Reply(status=500, body=b"err") if "section_image" in r.path else None
        )
        assert client.image(record["id"], downsample=6).shape[2] == 3
        assert len(fake_api.paths("section_image_download")) == 2

    def test_unknown_image(self, client: AllenClient) -> None:
        with pytest.raises(DataUnavailableError, match="404"):
            client.image(123, downsample=6)

    def test_bad_downsample(self, client: AllenClient) -> None:
        with pytest.raises(ImageError, match="downsample must be a non-negative integer"):
            client.image(1, downsample=-1)

    def test_offline_hint_names_the_cache_file(self, cache: Path) -> None:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            base = f"http://127.0.0.1:{sock.getsockname()[1]}/api/v2/"
        with (
            AllenClient(base, retries=3, backoff=0.0) as offline,
            pytest.raises(DataUnavailableError) as info,
        ):
            offline.image_path(74881264, downsample=6)
        url = f"{base}section_image_download/74881264?downsample=6"
        # where a verified download ends up, not the staging file (".unverified")
        pattern = rf"download {re.escape(url)} elsewhere and place it at (\S+)$"
        (target,) = re.findall(pattern, info.value.hint)
        assert Path(target).parent == cache / "allen" and target.endswith(".jpg")
        assert info.value.hint.startswith("check the network connection, or point ")
        assert info.value.message.endswith("(gave up after 2 attempts)")

    def test_non_8bit_image(self, client: AllenClient, fake_api: FakeAllenAPI) -> None:
        buffer = io.BytesIO()
        Image.fromarray(np.zeros((4, 4), dtype=np.int32)).save(buffer, format="TIFF")
        fake_api.add_fault(lambda r: Reply(body=buffer.getvalue()))
        with pytest.raises(ImageError, match="expected 8-bit"):
            client.image(fake_api.datasets[CORONAL_ID].images[0]["id"], downsample=6)
