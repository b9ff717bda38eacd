"""DatasetDownloader against the fake Allen API, checked against the generating phantom."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from unittest.mock import Mock

import numpy as np
import pytest

from neuratlas.allen import sync
from neuratlas.allen.client import AllenClient
from neuratlas.allen.displacement import DisplacementField
from neuratlas.allen.rma import RMAQuery
from neuratlas.allen.sync import DatasetDownloader, DatasetNotFoundError
from neuratlas.allen.transforms import get_oblique_transform, xy_to_pir
from neuratlas.errors import (
    ArgumentTypeError,
    DataUnavailableError,
    Error,
    ImageError,
    NotFoundError,
    TransformError,
)
from tests.allen.fake_allen_api import CORONAL_ID, SAGITTAL_ID, FakeAllenAPI, Reply, phantom


def test_seed_names_are_in_sync_module() -> None:
    for name in ("DatasetDownloader", "DatasetNotFoundError", "get_parallel_transform"):
        assert hasattr(sync, name)
    assert callable(sync.pir_to_xy) and callable(sync.xy_to_pir)
    assert issubclass(DatasetNotFoundError, Error)


class TestMetadata:
    def test_fetch(self, client: AllenClient, fake_api: FakeAllenAPI) -> None:
        downloader = DatasetDownloader(CORONAL_ID, client=client)
        downloader.fetch_metadata()
        meta = downloader.metadata
        assert set(meta) == {"dataset", "images"}
        assert meta["dataset"]["id"] == CORONAL_ID
        assert meta["dataset"]["plane_of_section_id"] == 1
        assert meta["dataset"]["affine_tvr"].shape == (3, 4)
        assert meta["dataset"]["affine_trv"].shape == (3, 4)
        assert meta["dataset"]["section_thickness"] == 25.0
        numbers = [image["section_number"] for image in meta["images"]]
        assert numbers == sorted(numbers, reverse=True)
        assert meta["images"][0]["affine_tsv"].shape == (2, 3)
        assert len(downloader) == 6
        count = len(fake_api.requests)
        downloader.fetch_metadata()  # already there: no request
        downloader.fetch_metadata(force_redownload=True)
        assert len(fake_api.requests) == count + 2

    def test_missing_dataset(self, client: AllenClient) -> None:
        downloader = DatasetDownloader(999, client=client)
        with pytest.raises(DatasetNotFoundError, match="no section dataset with id 999"):
            downloader.fetch_metadata()

    def test_before_fetch(self, client: AllenClient) -> None:
        downloader = DatasetDownloader(CORONAL_ID, client=client)
        with pytest.raises(Error, match="has not been fetched"):
            len(downloader)
        with pytest.raises(Error, match="call fetch_metadata"):
            next(downloader.run())

    def test_before_fetch_is_a_missing_thing(self, client: AllenClient) -> None:
        downloader = DatasetDownloader(CORONAL_ID, client=client)
        with pytest.raises(NotFoundError, match=f"metadata of dataset {CORONAL_ID}") as caught:
            _ = downloader.axis
        assert caught.value.hint == "call fetch_metadata() first"
        with pytest.raises(NotFoundError):
            next(downloader.iter_downloads())

    def test_images_without_alignment_are_skipped(
        self, client: AllenClient, fake_api: FakeAllenAPI
    ) -> None:
        fake_api.datasets[CORONAL_ID].images[0]["alignment2d"] = None
        downloader = DatasetDownloader(CORONAL_ID, client=client)
        downloader.fetch_metadata()
        assert len(downloader) == 5

    def test_unsupported_plane(self, client: AllenClient, fake_api: FakeAllenAPI) -> None:
        row = fake_api.datasets[CORONAL_ID].row()
        row["plane_of_section"] = {"id": 7, "name": "oblique"}
        fake_api.add_fault(
            lambda r: (
                Reply(envelope={"msg": [row], "num_rows": 1, "total_rows": 1})
                if "SectionDataSet" in r.params.get("criteria", "")
                else None
            )
        )
        downloader = DatasetDownloader(CORONAL_ID, client=client)
        downloader.fetch_metadata()
        with pytest.raises(TransformError, match="unsupported plane of section 'oblique'"):
            next(downloader.run())


class TestRun:
    @pytest.mark.parametrize(
        ("dataset_id", "axis", "shape"),
        [(CORONAL_ID, 0, (80, 114)), (SAGITTAL_ID, 2, (132, 80))],
    )
    def test_yields_in_section_order(
        self, client: AllenClient, dataset_id: int, axis: int, shape: tuple[int, int]
    ) -> None:
        downloader = DatasetDownloader(
            dataset_id,
            downsample_ref=100,
            detection_xy=(500, 300),
            downsample_img=5,
            client=client,
        )
        downloader.fetch_metadata()
        results = list(downloader.run())
        records = downloader.metadata["images"]
        assert [r[0] for r in results] == [image["id"] for image in records]
        for (_, coordinate, img, img_expr, df), record in zip(results, records, strict=True):
            z = record["section_number"] * 25.0
            pir = xy_to_pir(
                [[500], [300], [z]],
                record["affine_tsv"],
                downloader.metadata["dataset"]["affine_tvr"],
            )
            assert coordinate == pytest.approx(pir[axis, 0])
            assert img.dtype == np.uint8 and img.ndim == 3
            assert img_expr is None
            assert isinstance(df, DisplacementField) and df.shape == shape
        assert downloader.failures == {}

    def test_expression_images(self, client: AllenClient) -> None:
        downloader = DatasetDownloader(
            CORONAL_ID,
            downsample_ref=200,
            include_expression=True,
            downsample_img=6,
            client=client,
        )
        downloader.fetch_metadata()
        for _, _, img, img_expr, _ in downloader.run():
            assert img_expr is not None and img_expr.shape == img.shape

    def test_sections_land_on_the_phantom(
        self, client: AllenClient, fake_api: FakeAllenAPI
    ) -> None:
        downloader = DatasetDownloader(
            CORONAL_ID,
            downsample_ref=50,
            detection_xy=(6000, 4500),
            downsample_img=4,
            client=client,
        )
        downloader.fetch_metadata()
        errors_parallel, errors_oblique = [], []
        trv = downloader.metadata["dataset"]["affine_trv"]
        records = {r["id"]: r for r in downloader.metadata["images"]}
        for image_id, coordinate, img, _, df in downloader.run():
            red = img[..., 0].astype(np.float64)
            rows, cols = np.indices(df.shape)
            # compare only well inside the brain, away from the phantom's sharp rim
            pir = np.stack(
                [np.full(rows.size, coordinate), rows.ravel() * 50.0, cols.ravel() * 50.0]
            )
            core = (((pir[1] - 4000) / 3000) ** 2 + ((pir[2] - 5700) / 4500) ** 2 <= 1).reshape(
                df.shape
            )
            warped = df.warp(red)
            truth = phantom(pir).reshape(df.shape)
            errors_parallel.append(np.abs(warped - truth)[core])
            sampling = get_oblique_transform(
                downloader.section_z(records[image_id]),
                records[image_id]["affine_tvs"],
                trv,
                "coronal",
                50,
                4,
            )
            pir_true = np.stack([sampling.depth.ravel(), pir[1], pir[2]])
            truth_true = phantom(pir_true).reshape(df.shape)
            errors_oblique.append(np.abs(sampling.df.warp(red) - truth_true)[core])
        oblique = np.concatenate(errors_oblique)
        parallel = np.concatenate(errors_parallel)
        # JPEG and bilinear interpolation of a 16x smaller picture: a few grey levels
        assert np.median(oblique) < 0.8 and np.percentile(oblique, 99) < 3
        # the parallel assumption ignores the 2-degree tilt of the cut
        assert np.median(parallel) > np.median(oblique)

    def test_failed_image_does_not_lose_the_others(
        self, client: AllenClient, fake_api: FakeAllenAPI
    ) -> None:
        bad = fake_api.datasets[CORONAL_ID].images[2]["id"]
        corrupt = fake_api.datasets[CORONAL_ID].images[4]["id"]
        fake_api.add_fault(
            lambda r: Reply(status=404, body=b"missing") if r.path.endswith(str(bad)) else None
        )
        fake_api.add_fault(
            lambda r: Reply(body=b"<html>oops</html>") if r.path.endswith(str(corrupt)) else None
        )
        downloader = DatasetDownloader(
            CORONAL_ID, downsample_ref=200, downsample_img=6, client=client
        )
        downloader.fetch_metadata()
        ids = [result[0] for result in downloader.run()]
        assert len(ids) == 4 and bad not in ids and corrupt not in ids
        assert set(downloader.failures) == {bad, corrupt}
        assert isinstance(downloader.failures[bad], DataUnavailableError)
        # one line for all of them: the count, and the first in section order with its reason
        error = downloader.failures_error(6)
        assert error.message.startswith(
            f"2 of 6 images of dataset {CORONAL_ID} failed (the first, image {corrupt}: "
            f"section image {corrupt} is not a readable image"
        )
        assert error.hint == downloader.failures[corrupt].hint

    def test_failures_error_without_a_hint_says_to_run_again(self, client: AllenClient) -> None:
        downloader = DatasetDownloader(CORONAL_ID, client=client)
        downloader.failures = {7: OSError("disk full")}
        error = downloader.failures_error(1)
        assert error.message == (
            f"none of the 1 images of dataset {CORONAL_ID} could be used (the first, image 7: "
            "disk full)"
        )
        assert error.hint.startswith("run again: the images that arrived are cached")

    @pytest.mark.parametrize(
        ("options", "message"),
        [
            ({"downsample_ref": 0}, "downsample_ref must be a positive integer"),
            ({"downsample_ref": 100_000}, "no larger than 8000 (um), got 100000"),
            ({"downsample_ref": 2.5}, "got 2.5"),
            ({"downsample_img": -1}, "downsample_img must be a non-negative integer, got -1"),
            ({"downsample_img": "2"}, "got '2'"),
        ],
    )
    def test_bad_downsampling_fails_before_any_request(
        self, client: AllenClient, fake_api: FakeAllenAPI, options: dict, message: str
    ) -> None:
        # used to download every image and then fail (or write an empty image) per section
        with pytest.raises(TransformError) as info:
            DatasetDownloader(CORONAL_ID, client=client, **options)
        assert message in info.value.message
        assert fake_api.requests == []

    def test_downloads_are_concurrent_and_bounded(self, fake_api: FakeAllenAPI) -> None:
        fake_api.image_delay = 0.2
        with AllenClient(fake_api.base_url, max_concurrency=3, backoff=0.0) as client:
            downloader = DatasetDownloader(
                CORONAL_ID,
                downsample_ref=200,
                include_expression=True,
                downsample_img=6,
                client=client,
            )
            downloader.fetch_metadata()
            assert len(list(downloader.run())) == 6
        assert 2 <= fake_api.max_in_flight <= 3

    def test_second_run_uses_the_cache(self, client: AllenClient, fake_api: FakeAllenAPI) -> None:
        downloader = DatasetDownloader(
            CORONAL_ID, downsample_ref=200, downsample_img=6, client=client
        )
        downloader.fetch_metadata()
        first = [r[2] for r in downloader.run()]
        count = len(fake_api.requests)
        second = [r[2] for r in downloader.run()]
        assert len(fake_api.requests) == count
        for a, b in zip(first, second, strict=True):
            np.testing.assert_array_equal(a, b)

    def test_some_images_only(self, client: AllenClient, fake_api: FakeAllenAPI) -> None:
        downloader = DatasetDownloader(
            CORONAL_ID, downsample_ref=200, downsample_img=6, client=client
        )
        downloader.fetch_metadata()
        records = downloader.metadata["images"]
        wanted = [records[4]["id"], records[1]["id"], 123]  # any order; unknown ids ignored
        ids = [r[0] for r in downloader.run(image_ids=wanted)]
        assert ids == [records[1]["id"], records[4]["id"]]  # still in section order
        downloaded = {int(r.path.rsplit("/", 1)[1]) for r in fake_api.paths("section_image")}
        assert downloaded == set(ids)
        assert len(downloader) == 6  # the dataset itself is unchanged
        assert list(downloader.run(image_ids=[])) == []

    def test_stopping_early_is_clean(self, client: AllenClient) -> None:
        downloader = DatasetDownloader(
            CORONAL_ID, downsample_ref=200, downsample_img=6, client=client
        )
        downloader.fetch_metadata()
        run = downloader.run()
        first = next(run)
        run.close()
        assert first[0] == downloader.metadata["images"][0]["id"]

    def test_images_are_decoded_a_few_sections_ahead_only(
        self, client: AllenClient, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        # decoding overlaps with the caller's work, but large images must not pile up
        decoded: list[int] = []
        read = sync._read_images

        def counting(fetched: Any) -> Any:
            images = read(fetched)
            named = next(image for image in fetched if image is not None)
            decoded.append(int(named.what.rsplit(" ", 1)[1]))  # "section image <id>"
            return images

        monkeypatch.setattr(sync, "_read_images", counting)
        downloader = DatasetDownloader(
            CORONAL_ID, downsample_ref=200, downsample_img=6, client=client
        )
        downloader.fetch_metadata()
        seen = []
        for image_id, *_ in downloader.run():
            seen.append(image_id)
            # the yielded one, and at most _DECODED_AHEAD behind it
            assert len(decoded) - len(seen) <= sync._DECODED_AHEAD
        assert seen == [r["id"] for r in downloader.metadata["images"]]
        assert sorted(decoded) == sorted(seen)

    def test_iter_downloads_yields_checked_cache_entries(
        self, client: AllenClient, fake_api: FakeAllenAPI, decodings: list
    ) -> None:
        corrupt = fake_api.datasets[CORONAL_ID].images[1]["id"]
        fake_api.add_fault(
            lambda r: Reply(body=b"<html>oops</html>") if r.path.endswith(str(corrupt)) else None
        )
        downloader = DatasetDownloader(CORONAL_ID, downsample_img=6, client=client)
        downloader.fetch_metadata()
        got = {record["id"]: paths for record, paths in downloader.iter_downloads()}
        assert len(got) == 6 and got[corrupt] is None and set(downloader.failures) == {corrupt}
        files = [paths[0] for paths in got.values() if paths is not None]
        assert len(files) == 5 and all(f.exists() and f.suffix == ".jpg" for f in files)
        assert len(decodings) == 6  # each checked once, in the download threads

    def test_each_image_is_decoded_once(self, client: AllenClient, decodings: list) -> None:
        # a downloaded image is checked by the decoding the sync needs anyway
        downloader = DatasetDownloader(
            CORONAL_ID,
            downsample_ref=200,
            downsample_img=6,
            include_expression=True,
            client=client,
        )
        downloader.fetch_metadata()
        assert len(list(downloader.run())) == 6
        named = [what for _, what in decodings]
        assert len(named) == len(set(named)) == 12  # both views of 6 sections
        decodings.clear()
        assert len(list(downloader.run())) == 6  # from the cache: decoded once again
        assert len(decodings) == 12


class TestReferenceSpace10:
    """Sagittal datasets are registered to space 10 (L/R flipped): to_ccf mirrors them."""

    def _pir(self, downloader: DatasetDownloader, x: float, y: float) -> np.ndarray:
        record = downloader.metadata["images"][0]
        point = np.array([[x], [y], [downloader.section_z(record)]])
        return xy_to_pir(point, record["affine_tsv"], downloader.metadata["dataset"]["affine_tvr"])

    def test_a_point_maps_to_the_mirrored_ccf_position(
        self, client: AllenClient, fake_api: FakeAllenAPI
    ) -> None:
        native = DatasetDownloader(SAGITTAL_ID, client=client)
        ccf = DatasetDownloader(SAGITTAL_ID, client=client, to_ccf=True)
        native.fetch_metadata()
        ccf.fetch_metadata()
        assert native.metadata["dataset"]["reference_space_id"] == 10
        assert native.metadata["dataset"]["affine_reference_space_id"] == 10
        assert ccf.metadata["dataset"]["affine_reference_space_id"] == 9
        p, i, r = self._pir(native, 3000.0, 2000.0)[:, 0]
        mirrored = self._pir(ccf, 3000.0, 2000.0)[:, 0]
        np.testing.assert_allclose(mirrored, [p, i, 11400.0 - r], atol=1e-6)
        # the API agrees: asked in space 9 for the mirrored point, it names the same pixel
        record = ccf.metadata["images"][0]
        found = client.reference_to_image(*mirrored, SAGITTAL_ID, reference_space=9)
        assert found.section_image_id == record["id"]
        assert (found.x, found.y) == pytest.approx((3000.0, 2000.0), abs=1e-3)
        # the slice coordinate (r, for sagittal data) is mirrored too
        assert ccf.slice_coordinate(record) == pytest.approx(
            11400.0 - native.slice_coordinate(record)
        )

    def test_trv_still_inverts_tvr(self, client: AllenClient) -> None:
        ccf = DatasetDownloader(SAGITTAL_ID, client=client, to_ccf=True)
        ccf.fetch_metadata()
        meta = ccf.metadata["dataset"]
        last = np.array([[0.0, 0.0, 0.0, 1.0]])
        product = np.vstack([meta["affine_trv"], last]) @ np.vstack([meta["affine_tvr"], last])
        np.testing.assert_allclose(product, np.eye(4), atol=1e-9)

    def test_coronal_data_are_already_in_the_ccf(self, client: AllenClient) -> None:
        native = DatasetDownloader(CORONAL_ID, client=client)
        ccf = DatasetDownloader(CORONAL_ID, client=client, to_ccf=True)
        native.fetch_metadata()
        ccf.fetch_metadata()
        for key in ("affine_tvr", "affine_trv"):
            assert np.array_equal(native.metadata["dataset"][key], ccf.metadata["dataset"][key])

    def test_an_unknown_reference_space_is_refused(self, fake_api: FakeAllenAPI) -> None:
        dataset = fake_api.datasets[SAGITTAL_ID]
        row = {**dataset.row(), "reference_space_id": 11}
        answers = {"SectionDataSet": [row], "SectionImage": dataset.images}
        downloader = DatasetDownloader(
            SAGITTAL_ID, rma_all=lambda query: answers[query.model], to_ccf=True
        )
        with pytest.raises(TransformError, match="reference space 11") as caught:
            downloader.fetch_metadata()
        assert "10" in (caught.value.hint or "")
        # without to_ccf the affines are used as they are
        DatasetDownloader(SAGITTAL_ID, rma_all=lambda query: answers[query.model]).fetch_metadata()


class TestExpressionOnly:
    def test_only_the_expression_view_is_fetched(
        self, client: AllenClient, fake_api: FakeAllenAPI
    ) -> None:
        downloader = DatasetDownloader(
            CORONAL_ID, downsample_img=6, client=client, expression_only=True
        )
        assert downloader.include_expression
        downloader.fetch_metadata()
        results = list(downloader.run())
        assert len(results) == len(downloader)
        for _, _, img, img_expr, _ in results:
            assert img is img_expr and img.ndim == 3
        views = [r.params.get("view") for r in fake_api.paths("section_image_download")]
        assert views == ["expression"] * len(downloader)

    def test_injected_images(self, fake_api: FakeAllenAPI) -> None:
        answers = TestInjected.recorded(fake_api, CORONAL_ID)
        get_image = Mock(return_value=np.full((40, 60, 3), 7, dtype=np.uint8))
        downloader = DatasetDownloader(
            CORONAL_ID, rma_all=answers, get_image=get_image, expression_only=True
        )
        downloader.fetch_metadata()
        (_, _, img, img_expr, _), *_ = list(downloader.run())
        assert img is img_expr
        assert {call.kwargs["expression"] for call in get_image.call_args_list} == {True}


class TestInjected:
    """atldld's tests/test_sync.py, which patch rma_all and get_image, with injection."""

    @staticmethod
    def recorded(fake_api: FakeAllenAPI, dataset_id: int) -> Callable[[RMAQuery], list[Any]]:
        """Recorded answers, keyed by model, with atldld's ``[row, None]`` oddity kept."""
        dataset = fake_api.datasets[dataset_id]
        row = {k: v for k, v in dataset.row().items() if k not in ("plane_of_section", "genes")}
        answers = {"SectionDataSet": [row, None], "SectionImage": dataset.images[:1]}
        return Mock(side_effect=lambda query: answers[query.model])

    def test_invalid_dataset(self) -> None:
        rma_all = Mock(return_value=[])
        downloader = DatasetDownloader(434324132413241, rma_all=rma_all)
        with pytest.raises(
            DatasetNotFoundError, match="no section dataset with id 434324132413241"
        ):
            downloader.fetch_metadata()

    @pytest.mark.parametrize("include_expression", [True, False])
    def test_patched(self, fake_api: FakeAllenAPI, include_expression: bool) -> None:
        grid_shape = (13200 // 25, 8000 // 25)
        rma_all = self.recorded(fake_api, SAGITTAL_ID)
        get_image = Mock(return_value=np.zeros(grid_shape, dtype=np.uint8))
        count = len(fake_api.requests)
        downloader = DatasetDownloader(
            SAGITTAL_ID,
            include_expression=include_expression,
            downsample_ref=25,
            rma_all=rma_all,
            get_image=get_image,
        )
        downloader.fetch_metadata()
        assert {q.args[0].model for q in rma_all.call_args_list} == {
            "SectionDataSet",
            "SectionImage",
        }
        gen = downloader.run()
        image_id, coordinate, img, img_expr, df = next(gen)
        assert image_id == fake_api.datasets[SAGITTAL_ID].images[0]["id"]
        assert np.isfinite(coordinate) and img.shape == grid_shape
        if include_expression:
            assert isinstance(img_expr, np.ndarray)
        else:
            assert img_expr is None
        assert df.delta_x.shape == df.delta_y.shape == grid_shape
        with pytest.raises(StopIteration):
            next(gen)
        get_image.assert_any_call(image_id, expression=False, downsample=0)
        assert get_image.call_count == (2 if include_expression else 1)
        assert len(fake_api.requests) == count  # nothing went to the API

    def test_get_image_none_is_skipped(self, client: AllenClient, fake_api: FakeAllenAPI) -> None:
        records = fake_api.datasets[CORONAL_ID].images
        bad = records[-1]["id"]  # the highest section number: the first one run() tries

        def get_image(image_id: int, *, expression: bool, downsample: int) -> np.ndarray | None:
            return None if image_id == bad else np.full((8, 9, 3), 7, dtype=np.uint8)

        downloader = DatasetDownloader(
            CORONAL_ID, downsample_ref=100, client=client, get_image=get_image
        )
        downloader.fetch_metadata()  # through the client: the injected pieces are separate
        results = list(downloader.run())
        assert len(results) == len(records) - 1
        assert bad not in [r[0] for r in results]
        assert isinstance(downloader.failures[bad], ImageError)
        assert not fake_api.paths("section_image_download")

    def test_metadata_set_by_hand(self) -> None:
        downloader = DatasetDownloader(123, include_expression=True, rma_all=Mock())
        with pytest.raises(NotFoundError):
            len(downloader)
        with pytest.raises(NotFoundError):
            next(downloader.run())
        downloader.metadata = {"test": True}
        downloader.fetch_metadata()  # metadata exist: nothing is fetched
        assert downloader.metadata == {"test": True}
        downloader.metadata = {"images": list(range(10)), "dataset": {"plane_of_section_id": 3}}
        assert len(downloader) == 10
        with pytest.raises(ValueError, match="unsupported plane of section 'plane 3'"):
            next(downloader.run())
        downloader.metadata["dataset"]["plane_of_section_id"] = 1
        assert downloader.axis == "coronal"

    def test_not_callables(self) -> None:
        with pytest.raises(ArgumentTypeError, match="rma_all must be a callable"):
            DatasetDownloader(1, rma_all=[])  # type: ignore[arg-type]
        with pytest.raises(ArgumentTypeError, match="get_image must be a callable"):
            DatasetDownloader(1, get_image="x")  # type: ignore[arg-type]
