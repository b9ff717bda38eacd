"""RMA query building, and rma/rma_all against the fake Allen API."""

from __future__ import annotations

import json
import re
from urllib.parse import parse_qs, urlsplit

import httpx
import numpy as np
import pytest

from neuratlas.allen.client import AllenClient
from neuratlas.allen.rma import Filter, RMAQuery, format_value, rma, rma_all
from neuratlas.errors import DataUnavailableError, RMAError, RMAQueryError
from neuratlas.retrieval.http import HttpClient, ResponseError
from tests.allen.fake_allen_api import CORONAL_ID, FakeAllenAPI, Reply, Request, make_dataset


class TestQueryText:
    def test_model_only(self) -> None:
        assert str(RMAQuery("Gene")) == "model::Gene"

    def test_fields_associations_include_options(self) -> None:
        query = RMAQuery(
            "SectionDataSet",
            {"failed": False, "products": {"abbreviation": "Mouse"}, "genes": {"acronym": "Gad1"}},
            include=["genes", "plane_of_section"],
            start_row=50,
            num_rows=25,
        )
        assert str(query) == (
            "model::SectionDataSet,rma::criteria,[failed$eqfalse],"
            "products[abbreviation$eq'Mouse'],genes[acronym$eq'Gad1'],"
            "rma::include,genes,plane_of_section,"
            "rma::options[start_row$eq50][num_rows$eq25]"
        )

    def test_nested_associations(self) -> None:
        query = RMAQuery(
            "SectionImage",
            {"data_set": {"specimen_id": 123, "genes": {"acronym": "Gad1", "organism_id": 2}}},
        )
        assert str(query) == (
            "model::SectionImage,rma::criteria,"
            "data_set[specimen_id$eq123](genes[acronym$eq'Gad1'][organism_id$eq2])"
        )

    def test_operators_and_lists(self) -> None:
        query = RMAQuery(
            "SectionImage",
            {
                "id": [1, 2, 3],
                "section_number": Filter("ge", 40),
                "path": Filter("li", "*prod3*"),
                "annotated": None,
            },
            order=["section_number$desc"],
        )
        assert str(query) == (
            "model::SectionImage,rma::criteria,[id$in1,2,3][section_number$ge40]"
            "[path$li'*prod3*'][annotated$eqnull],"
            "rma::options[order$eq'section_number$desc']"
        )

    @pytest.mark.parametrize(
        ("value", "text"),
        [
            (True, "true"),
            (0, "0"),
            (-12, "-12"),
            (25.5, "25.5"),
            (np.int64(7), "7"),
            (np.float64(0.25), "0.25"),
            ("with space, comma [and] brackets", "'with space, comma [and] brackets'"),
            ("", "''"),
        ],
    )
    def test_values(self, value: object, text: str) -> None:
        assert format_value(value) == text

    def test_values_survive_url_encoding(self) -> None:
        query = RMAQuery("Gene", {"name": "glutamate decarboxylase 1 & co"})
        url = httpx.URL("https://api.brain-map.org/api/v2/data/query.json", params=query.params)
        decoded = parse_qs(urlsplit(str(url)).query)["criteria"][0]
        assert decoded == str(query)
        assert "&" not in urlsplit(str(url)).query.split("=", 1)[1].replace("%26", "")

    @pytest.mark.parametrize(
        ("value", "message"),
        [
            ("O'Brien", "contains a single quote"),
            (float("nan"), "cannot use nan"),
            (b"bytes", "cannot use a bytes"),
        ],
    )
    def test_bad_values(self, value: object, message: str) -> None:
        with pytest.raises(RMAQueryError, match=message):
            str(RMAQuery("Gene", {"name": value}))

    def test_bad_names(self) -> None:
        with pytest.raises(RMAQueryError, match="invalid RMA model name 'gene'"):
            RMAQuery("gene")
        with pytest.raises(RMAQueryError, match="invalid RMA attribute name 'id]'"):
            str(RMAQuery("Gene", {"id]": 1}))
        with pytest.raises(RMAQueryError, match="invalid RMA association name"):
            str(RMAQuery("Gene", {"bad name": {"id": 1}}))
        with pytest.raises(RMAQueryError, match="invalid RMA include"):
            str(RMAQuery("Gene", include=["genes(organism"]))
        with pytest.raises(RMAQueryError, match="invalid RMA order key"):
            str(RMAQuery("Gene", order=["id desc"]))

    def test_bad_filters_and_paging(self) -> None:
        with pytest.raises(RMAQueryError, match="unknown RMA operator 'like'"):
            Filter("like", "x")
        with pytest.raises(RMAQueryError, match="empty list"):
            str(RMAQuery("Gene", {"id": []}))
        with pytest.raises(RMAQueryError, match="needs a list"):
            str(RMAQuery("Gene", {"id": Filter("in", "abc")}))
        with pytest.raises(RMAQueryError, match="start_row must be a non-negative integer"):
            RMAQuery("Gene", start_row=-1)
        with pytest.raises(RMAQueryError, match="lists of names"):
            RMAQuery("Gene", include="genes")  # type: ignore[arg-type]

    def test_query_errors_are_rma_and_value_errors(self) -> None:
        with pytest.raises(ValueError):
            RMAQuery("gene")
        with pytest.raises(RMAError):
            RMAQuery("gene")


@pytest.fixture
def many_images(cache: object) -> FakeAllenAPI:
    """A fake API whose dataset has more images than one page of the fake (2000)."""
    dataset = make_dataset(CORONAL_ID, n_images=2, seed=4)
    template = dataset.images[0]
    dataset.images = [{**template, "id": 90_000_000 + k, "section_number": k} for k in range(4321)]
    api = FakeAllenAPI([dataset]).start()
    yield api  # type: ignore[misc]
    api.stop()


def _http(api: FakeAllenAPI, **kwargs: object) -> HttpClient:
    options: dict[str, object] = {"timeout": 2.0, "retries": 2, "backoff": 0.0}
    options.update(kwargs)
    return HttpClient(api.base_url, **options)  # type: ignore[arg-type]


def _start_row(request: Request) -> int:
    match = re.search(r"\[start_row\$eq(\d+)\]", request.params["criteria"])
    assert match is not None
    return int(match.group(1))


IMAGES = RMAQuery("SectionImage", {"data_set_id": CORONAL_ID})


class TestRma:
    def test_one_page(self, fake_api: FakeAllenAPI) -> None:
        with _http(fake_api) as http:
            page = rma(IMAGES.page(2, 3), http=http)
        assert (page.start_row, page.num_rows, page.total_rows) == (2, 3, 6)
        assert [row["data_set_id"] for row in page.rows] == [CORONAL_ID] * 3
        assert "alignment2d" not in page.rows[0]  # only included associations come back

    def test_success_false_raises_with_the_api_message(self, fake_api: FakeAllenAPI) -> None:
        with _http(fake_api) as http, pytest.raises(RMAError, match="unknown model Nothing"):
            rma(RMAQuery("Nothing"), http=http)

    def test_success_false_from_the_envelope(self, fake_api: FakeAllenAPI) -> None:
        fake_api.add_fault(
            lambda r: Reply(
                body=json.dumps(
                    {
                        "success": False,
                        "id": -1,
                        "start_row": 0,
                        "num_rows": 0,
                        "total_rows": 0,
                        "msg": "Data Access error in query: Query failed. "
                        "PG::UndefinedColumn: ERROR: column section_images.foo does not exist",
                    }
                ).encode()
            )
        )
        with _http(fake_api) as http, pytest.raises(RMAError) as info:
            rma(IMAGES, http=http)
        assert "column section_images.foo does not exist" in info.value.message
        assert "query was model::SectionImage" in str(info.value)

    def test_malformed_json(self, fake_api: FakeAllenAPI) -> None:
        fake_api.add_fault(lambda r: Reply(body=b'{"success": true, "msg": [', headers={}))
        with _http(fake_api) as http, pytest.raises(ResponseError, match="did not answer valid"):
            rma(IMAGES, http=http)

    def test_not_an_envelope(self, fake_api: FakeAllenAPI) -> None:
        fake_api.add_fault(lambda r: Reply(body=b'[{"id": 1}]'))
        with _http(fake_api) as http, pytest.raises(RMAError, match="not an RMA envelope"):
            rma(IMAGES, http=http)

    def test_msg_not_a_list(self, fake_api: FakeAllenAPI) -> None:
        fake_api.add_fault(lambda r: Reply(envelope={"msg": {"id": 1}}))
        with _http(fake_api) as http, pytest.raises(RMAError, match="'msg' is a dict"):
            rma(IMAGES, http=http)

    def test_5xx_then_success(self, fake_api: FakeAllenAPI) -> None:
        for _ in range(2):
            fake_api.add_fault(lambda r: Reply(status=503, body=b"Service Unavailable"))
        with _http(fake_api) as http:
            page = rma(IMAGES, http=http)
        assert page.total_rows == 6
        assert len(fake_api.paths("query.json")) == 3

    def test_5xx_forever(self, fake_api: FakeAllenAPI) -> None:
        for _ in range(3):
            fake_api.add_fault(lambda r: Reply(status=502, body=b"Bad Gateway"))
        with (
            _http(fake_api) as http,
            pytest.raises(DataUnavailableError, match=r"502.*gave up after 3 attempts"),
        ):
            rma(IMAGES, http=http)

    def test_timeout_then_success(self, fake_api: FakeAllenAPI) -> None:
        fake_api.add_fault(lambda r: Reply(delay=1.0, envelope={}))
        with _http(fake_api, timeout=0.3) as http:
            page = rma(IMAGES, http=http)
        assert page.num_rows == 6
        assert len(fake_api.paths("query.json")) == 2

    def test_timeout_forever(self, fake_api: FakeAllenAPI) -> None:
        for _ in range(2):
            fake_api.add_fault(lambda r: Reply(delay=1.0, envelope={}))
        with (
            _http(fake_api, timeout=0.3, retries=1) as http,
            pytest.raises(DataUnavailableError, match="gave up after 2 attempts"),
        ):
            rma(IMAGES, http=http)

    def test_default_client_uses_environment(
        self, fake_api: FakeAllenAPI, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.setenv("NEURATLAS_ALLEN_API", fake_api.base_url)
        assert rma(IMAGES).total_rows == 6
        assert AllenClient.default().base_url == fake_api.base_url


class TestRmaAll:
    def test_pages_through_everything(self, many_images: FakeAllenAPI) -> None:
        with _http(many_images) as http:
            rows = rma_all(IMAGES, http=http, page_size=1500)
        assert [row["id"] for row in rows] == [90_000_000 + k for k in range(4321)]
        starts = [_start_row(r) for r in many_images.paths("query.json")]
        assert starts == [0, 1500, 3000]

    def test_server_cap_smaller_than_page(self, many_images: FakeAllenAPI) -> None:
        with _http(many_images) as http:
            rows = rma_all(IMAGES, http=http)  # asks for 25000, gets 2000 at a time
        assert len(rows) == 4321
        assert len({row["id"] for row in rows}) == 4321
        assert [_start_row(r) for r in many_images.paths("query.json")] == [0, 2000, 4000]

    def test_exact_multiple_of_the_page(self, fake_api: FakeAllenAPI) -> None:
        with _http(fake_api) as http:
            rows = rma_all(IMAGES, http=http, page_size=3)
        assert len(rows) == 6
        assert len(fake_api.paths("query.json")) == 2

    def test_no_rows(self, fake_api: FakeAllenAPI) -> None:
        with _http(fake_api) as http:
            assert rma_all(RMAQuery("SectionImage", {"data_set_id": 1}), http=http) == []
        assert len(fake_api.paths("query.json")) == 1

    def test_total_rows_changes(self, fake_api: FakeAllenAPI) -> None:
        fake_api.add_fault(lambda r: Reply(envelope={"total_rows": 7}) if r.count == 2 else None)
        with (
            _http(fake_api) as http,
            pytest.raises(RMAError, match="total_rows changed from 6 to 7"),
        ):
            rma_all(IMAGES, http=http, page_size=4)

    def test_empty_page_before_the_end(self, fake_api: FakeAllenAPI) -> None:
        fake_api.add_fault(
            lambda r: Reply(envelope={"msg": [], "num_rows": 0}) if r.count == 2 else None
        )
        with _http(fake_api) as http, pytest.raises(RMAError, match="empty page at row 4 of 6"):
            rma_all(IMAGES, http=http, page_size=4)

    def test_page_starting_elsewhere(self, fake_api: FakeAllenAPI) -> None:
        fake_api.add_fault(lambda r: Reply(envelope={"start_row": 0}) if r.count == 2 else None)
        with (
            _http(fake_api) as http,
            pytest.raises(RMAError, match="asked for rows from 4 but the page starts at 0"),
        ):
            rma_all(IMAGES, http=http, page_size=4)

    def test_num_rows_disagrees_with_rows(self, fake_api: FakeAllenAPI) -> None:
        fake_api.add_fault(lambda r: Reply(envelope={"num_rows": 5}))
        with _http(fake_api) as http, pytest.raises(RMAError, match="num_rows=5 but holds 4"):
            rma_all(IMAGES, http=http, page_size=4)

    def test_missing_envelope_field(self, fake_api: FakeAllenAPI) -> None:
        fake_api.add_fault(lambda r: Reply(envelope={"total_rows": None}))
        with _http(fake_api) as http, pytest.raises(RMAError, match="no valid 'total_rows'"):
            rma_all(IMAGES, http=http)

    def test_bad_page_size(self, fake_api: FakeAllenAPI) -> None:
        with pytest.raises(RMAQueryError, match="page_size must be positive"):
            rma_all(IMAGES, page_size=0)

    def test_retry_inside_paging(self, fake_api: FakeAllenAPI) -> None:
        def second_page_fails_once(request: Request) -> Reply | None:
            return Reply(status=500, body=b"oops") if request.count == 2 else None

        fake_api.add_fault(second_page_fails_once)
        with _http(fake_api) as http:
            rows = rma_all(IMAGES, http=http, page_size=4)
        assert len(rows) == 6
