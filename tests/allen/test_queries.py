"""atldld's common queries (``atldld.utils``) against the fake Allen API.

Ported in spirit from atldld 0.3.4's tests/test_utils.py: the same calls and
expectations, but answered by the local fake API instead of mocked ``requests``.
"""

from __future__ import annotations

import numpy as np
import pytest

from neuratlas.allen import queries
from neuratlas.allen.client import AllenClient
from neuratlas.allen.queries import (
    CommonQueries,
    get_2d,
    get_2d_bulk,
    get_3d,
    get_corners_in_ref_space,
    get_experiment_list_from_gene,
    pir_to_xy_API_single,
    xy_to_pir_API_single,
)
from neuratlas.allen.transforms import pir_to_xy, xy_to_pir
from neuratlas.errors import (
    ArgumentError,
    ArgumentTypeError,
    DatasetNotFoundError,
    DataUnavailableError,
    RMAError,
    TransformError,
)
from tests.allen.fake_allen_api import (
    CORONAL_ID,
    SAGITTAL_ID,
    FakeAllenAPI,
    Reply,
    make_dataset,
)


class TestExperimentList:
    def test_by_gene_and_plane(self, client: AllenClient, fake_api: FakeAllenAPI) -> None:
        fake_api.datasets[1357] = make_dataset(1357, "sagittal", n_images=2, gene="Gfap")
        failed = make_dataset(1358, "sagittal", n_images=2, gene="Gfap")
        failed.failed = True
        fake_api.datasets[1358] = failed
        assert get_experiment_list_from_gene("Gad1", "sagittal", client=client) == [SAGITTAL_ID]
        assert get_experiment_list_from_gene("Gad1", "coronal", client=client) == [CORONAL_ID]
        assert get_experiment_list_from_gene("Gfap", client=client) == [1357]  # sagittal default
        assert get_experiment_list_from_gene("Gfap", "coronal", client=client) == []
        query = fake_api.paths("query.json")[0].params["criteria"]
        assert "genes[acronym$eq'Gad1']" in query and "[failed$eqfalse]" in query
        assert "products[abbreviation$eq'Mouse']" in query

    @pytest.mark.parametrize("axis", ["oblique", "", 1])
    def test_bad_axis(self, client: AllenClient, axis: object) -> None:
        with pytest.raises(ArgumentError, match="unknown plane of section") as caught:
            get_experiment_list_from_gene("Gad1", axis, client=client)  # type: ignore[arg-type]
        assert "'coronal' or 'sagittal'" in str(caught.value.hint)

    def test_bad_gene(self, client: AllenClient) -> None:
        with pytest.raises(ArgumentError, match="gene acronym"):
            get_experiment_list_from_gene("  ", client=client)


class TestAffines:
    @pytest.mark.parametrize("add_last", [True, False])
    @pytest.mark.parametrize("ref2inp", [True, False])
    def test_get_2d(
        self, client: AllenClient, fake_api: FakeAllenAPI, ref2inp: bool, add_last: bool
    ) -> None:
        record = fake_api.datasets[CORONAL_ID].images[2]
        a = get_2d(record["id"], ref2inp=ref2inp, add_last=add_last, client=client)
        assert a.shape == ((3, 3) if add_last else (2, 3))
        assert np.all(np.isfinite(a))
        key = "tvs" if ref2inp else "tsv"
        assert a[0, 2] == record["alignment2d"][f"{key}_04"]
        assert a[1, 0] == record["alignment2d"][f"{key}_02"]
        if add_last:
            np.testing.assert_array_equal(a[2], [0, 0, 1])

    def test_get_2d_inverse_pair(self, client: AllenClient, fake_api: FakeAllenAPI) -> None:
        image_id = fake_api.datasets[CORONAL_ID].images[0]["id"]
        tsv = get_2d(image_id, add_last=True, client=client)
        tvs = get_2d(image_id, ref2inp=True, add_last=True, client=client)
        np.testing.assert_allclose(tsv @ tvs, np.eye(3), atol=1e-9)

    @pytest.mark.parametrize("add_last", [True, False])
    @pytest.mark.parametrize("ref2inp", [True, False])
    def test_get_2d_bulk(
        self, client: AllenClient, fake_api: FakeAllenAPI, ref2inp: bool, add_last: bool
    ) -> None:
        res = get_2d_bulk(SAGITTAL_ID, ref2inp=ref2inp, add_last=add_last, client=client)
        records = fake_api.datasets[SAGITTAL_ID].images
        assert set(res) == {record["id"] for record in records}
        numbers = [number for _, number in res.values()]
        assert len(numbers) == len(set(numbers))  # no duplicates
        assert numbers == sorted(numbers, reverse=True)
        for a, number in res.values():
            assert a.shape == ((3, 3) if add_last else (2, 3))
            assert np.all(np.isfinite(a)) and np.isfinite(number)

    @pytest.mark.parametrize("return_meta", [True, False])
    @pytest.mark.parametrize("add_last", [True, False])
    @pytest.mark.parametrize("ref2inp", [True, False])
    def test_get_3d(
        self,
        client: AllenClient,
        fake_api: FakeAllenAPI,
        ref2inp: bool,
        add_last: bool,
        return_meta: bool,
    ) -> None:
        out = get_3d(
            CORONAL_ID, ref2inp=ref2inp, add_last=add_last, return_meta=return_meta, client=client
        )
        if return_meta:
            assert isinstance(out, tuple)
            a, space, thickness = out
            assert (space, thickness) == (9, 25.0)
        else:
            a = out  # type: ignore[assignment]
        assert isinstance(a, np.ndarray)
        assert a.shape == ((4, 4) if add_last else (3, 4))
        dataset = fake_api.datasets[CORONAL_ID]
        np.testing.assert_allclose(a[:3], dataset.trv if ref2inp else dataset.tvr)

    def test_missing(self, client: AllenClient) -> None:
        with pytest.raises(DatasetNotFoundError, match="no section dataset with id 12"):
            get_3d(12, client=client)
        with pytest.raises(DatasetNotFoundError, match="no section dataset with id 12"):
            get_2d_bulk(12, client=client)
        with pytest.raises(DatasetNotFoundError, match="no section image with id 12"):
            get_2d(12, client=client)

    def test_unaligned(self, client: AllenClient, fake_api: FakeAllenAPI) -> None:
        image = fake_api.datasets[CORONAL_ID].images[0]
        image["alignment2d"] = None
        with pytest.raises(DataUnavailableError, match="no 2D alignment"):
            get_2d(image["id"], client=client)
        assert image["id"] not in get_2d_bulk(CORONAL_ID, client=client)


class TestApiSync:
    """The API's own answers, checked against the local maths (atldld's test_sync)."""

    @pytest.mark.parametrize("dataset_id", [CORONAL_ID, SAGITTAL_ID])
    @pytest.mark.parametrize("pir", [(6000.0, 4000.0, 5000.0), (7050.5, 4600.0, 6300.25)])
    def test_pir_to_xy_api_equals_local(
        self,
        client: AllenClient,
        fake_api: FakeAllenAPI,
        dataset_id: int,
        pir: tuple[float, float, float],
    ) -> None:
        dataset = fake_api.datasets[dataset_id]
        # the point is in the dataset's own reference space (10, L/R flipped, for sagittal data)
        space = dataset.reference_space
        x, y, section_number, image_id = pir_to_xy_API_single(
            *pir, dataset_id, reference_space=space, client=client
        )
        assert isinstance(image_id, int)
        assert np.isfinite([x, y, section_number]).all()
        record = next(r for r in dataset.images if r["id"] == image_id)
        tvs = get_2d(image_id, ref2inp=True, client=client)
        local = pir_to_xy(np.array(pir)[:, None], tvs, dataset.trv)
        np.testing.assert_allclose(local[:2, 0], [x, y], atol=1e-3)
        # the closest image is the one whose section number is nearest
        numbers = [r["section_number"] for r in dataset.images]
        nearest = min(numbers, key=lambda n: abs(n - local[2, 0] / dataset.thickness))
        assert record["section_number"] == nearest
        request = fake_api.paths("reference_to_image")[-1]
        assert request.path.endswith(f"/reference_to_image/{space}.json")
        assert request.params["section_data_set_ids"] == str(dataset_id)

    @pytest.mark.parametrize("xy", [(624, 780), (62.5, 502.0)])
    def test_xy_to_pir_api_equals_local(
        self, client: AllenClient, fake_api: FakeAllenAPI, xy: tuple[float, float]
    ) -> None:
        dataset = fake_api.datasets[SAGITTAL_ID]
        record = dataset.images[1]
        p, i, r = xy_to_pir_API_single(*xy, image_id=record["id"], client=client)
        z = record["section_number"] * dataset.thickness
        tsv = get_2d(record["id"], client=client)
        local = xy_to_pir(np.array([[xy[0]], [xy[1]], [z]]), tsv, dataset.tvr)
        np.testing.assert_allclose(local[:, 0], [p, i, r], atol=1e-3)

    def test_xy_to_pir_is_cached(self, client: AllenClient, fake_api: FakeAllenAPI) -> None:
        image_id = fake_api.datasets[CORONAL_ID].images[0]["id"]
        first = xy_to_pir_API_single(5, 10, image_id, client=client)
        count = len(fake_api.paths("image_to_reference"))
        assert xy_to_pir_API_single(5, 10, image_id, client=client) == first
        assert len(fake_api.paths("image_to_reference")) == count == 1
        xy_to_pir_API_single(6, 10, image_id, client=client)
        assert len(fake_api.paths("image_to_reference")) == 2

    def test_refusals(self, client: AllenClient) -> None:
        with pytest.raises(RMAError, match="refused"):
            xy_to_pir_API_single(1, 2, image_id=4242, client=client)
        with pytest.raises(RMAError, match="refused"):
            pir_to_xy_API_single(1, 2, 3, dataset_id=4242, client=client)

    def test_malformed_answers(self, client: AllenClient, fake_api: FakeAllenAPI) -> None:
        image_id = fake_api.datasets[CORONAL_ID].images[0]["id"]
        fake_api.add_fault(lambda r: Reply(body=b'{"success": true, "msg": {}}'))
        with pytest.raises(RMAError, match="has no position"):
            xy_to_pir_API_single(1, 2, image_id, client=client)
        fake_api.add_fault(lambda r: Reply(body=b"[1, 2]"))
        with pytest.raises(RMAError, match="not an Allen API envelope"):
            pir_to_xy_API_single(1, 2, 3, CORONAL_ID, client=client)

    def test_bad_numbers(self, client: AllenClient) -> None:
        with pytest.raises(ArgumentTypeError, match="x must be a number"):
            xy_to_pir_API_single("1", 2, 5, client=client)  # type: ignore[arg-type]
        with pytest.raises(ArgumentError, match="r must be finite"):
            pir_to_xy_API_single(1, 2, float("nan"), CORONAL_ID, client=client)


class TestCorners:
    @pytest.mark.parametrize("dataset_id", [CORONAL_ID, SAGITTAL_ID])
    def test_local_equals_api(
        self, client: AllenClient, fake_api: FakeAllenAPI, dataset_id: int
    ) -> None:
        record = fake_api.datasets[dataset_id].images[3]
        width, height = record["image_width"], record["image_height"]
        corners = get_corners_in_ref_space(record["id"], width, height, client=client)
        assert isinstance(corners, np.ndarray) and corners.shape == (4, 3)
        expected = [
            xy_to_pir_API_single(x, y, record["id"], client=client)
            for x, y in ((0, 0), (width, 0), (width, height), (0, height))
        ]
        np.testing.assert_allclose(corners, expected, atol=1e-6)

    def test_no_per_corner_requests(self, client: AllenClient, fake_api: FakeAllenAPI) -> None:
        record = fake_api.datasets[CORONAL_ID].images[0]
        get_corners_in_ref_space(record["id"], 200, 100, client=client)
        assert not fake_api.paths("image_to_reference")

    def test_bad_size(self, client: AllenClient) -> None:
        with pytest.raises(TransformError, match="non-negative"):
            get_corners_in_ref_space(1, -1, 100, client=client)


class TestCommonQueries:
    def test_reference_space(self, client: AllenClient) -> None:
        assert CommonQueries.get_reference_space(CORONAL_ID, client=client) == 9
        assert CommonQueries.get_reference_space(SAGITTAL_ID, client=client) == 10

    def test_axis(self, client: AllenClient, fake_api: FakeAllenAPI) -> None:
        assert CommonQueries.get_axis(CORONAL_ID, client=client) == "coronal"
        assert CommonQueries.get_axis(SAGITTAL_ID, client=client) == "sagittal"
        with pytest.raises(DatasetNotFoundError):
            CommonQueries.get_axis(3, client=client)

    def test_unrecognised_plane(self, client: AllenClient, fake_api: FakeAllenAPI) -> None:
        row = fake_api.datasets[CORONAL_ID].row()
        row["plane_of_section"] = {"id": 1082279372, "name": "Tangential"}
        fake_api.add_fault(
            lambda r: (
                Reply(envelope={"msg": [row], "num_rows": 1, "total_rows": 1})
                if "SectionDataSet" in r.params.get("criteria", "")
                else None
            )
        )
        with pytest.raises(ValueError, match="unsupported plane of section 'tangential'"):
            CommonQueries.get_axis(CORONAL_ID, client=client)


def test_default_client(fake_api: FakeAllenAPI, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NEURATLAS_ALLEN_API", fake_api.base_url)
    assert get_experiment_list_from_gene("Gad1", "coronal") == [CORONAL_ID]
    assert queries.get_3d(CORONAL_ID).shape == (3, 4)  # type: ignore[union-attr]
