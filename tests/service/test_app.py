"""The HTTP app in-process (FastAPI's TestClient) on the embedded catalogue."""

from __future__ import annotations

import gzip
import io
import re
import socket
import zipfile
from urllib.parse import quote

import nibabel as nib
import numpy as np
import pytest
from fastapi.testclient import TestClient

import neuratlas
from neuratlas import parallel
from neuratlas.errors import DataUnavailableError
from neuratlas.service import app as app_module
from neuratlas.service import handlers, memory
from neuratlas.service.app import create_app, parse_points
from neuratlas.service.caching import accepts_gzip, to_jsonable
from neuratlas.service.metrics import Registry
from neuratlas.service.paging import paginate
from tests.service.error_body import error_body

SPACE = "MNI152 NLin6"
HIP1 = "hIP1 left"


@pytest.fixture(scope="module")
def client():
    with TestClient(create_app()) as test_client:
        yield test_client


# --- the catalogue ----------------------------------------------------------------------
def test_atlases_are_paged_and_match_the_catalogue(client) -> None:
    body = client.get("/v3_0/atlases").json()
    assert body["total"] == len(neuratlas.atlases) == len(body["items"])
    assert (body["page"], body["size"], body["pages"]) == (1, 50, 1)
    assert body["items"][0]["@type"] == "siibra-0.4/atlas"
    assert {a["@id"] for a in body["items"]} == {a.id for a in neuratlas.atlases}


def test_an_atlas_id_with_slashes_url_encoded(client) -> None:
    atlas = next(iter(neuratlas.atlases))
    body = client.get(f"/v3_0/atlases/{quote(atlas.id, safe='')}").json()
    assert body["@id"] == atlas.id
    assert body["name"] == atlas.name


def test_spaces_and_one_space_by_fuzzy_name(client) -> None:
    body = client.get("/v3_0/spaces").json()
    assert {s["@id"] for s in body["items"]} == {s.id for s in neuratlas.spaces}
    one = client.get(f"/v3_0/spaces/{quote(SPACE)}").json()
    assert one["@id"] == neuratlas.get_space(SPACE).id
    assert one["@type"] == "siibra-0.4/space"


def test_parcellations_paged(client) -> None:
    every = [p.id for p in neuratlas.parcellations]
    first = client.get("/v3_0/parcellations", params={"size": 5}).json()
    second = client.get("/v3_0/parcellations", params={"size": 5, "page": 2}).json()
    assert first["total"] == len(every)
    assert first["pages"] == -(-len(every) // 5)
    assert [p["@id"] for p in first["items"] + second["items"]] == every[:10]
    past = client.get("/v3_0/parcellations", params={"page": 99}).json()
    assert past["items"] == []


def test_one_parcellation_by_id_with_slashes(client) -> None:
    parc = neuratlas.get_parcellation("juelich")
    body = client.get(f"/v3_0/parcellations/{quote(parc.id, safe='')}").json()
    assert body["@id"] == parc.id
    assert body["@type"] == "siibra-0.4/parcellation"
    assert set(body["version"]) >= {"name", "prev", "next"}


def test_regions_found_by_words(client) -> None:
    body = client.get("/v3_0/regions", params={"parcellation_id": "juelich", "find": "hIP1"})
    names = {r["name"] for r in body.json()["items"]}
    assert neuratlas.get_region("juelich", HIP1).name in names
    assert all("hIP1" in name for name in names)


@pytest.mark.slow  # the region's mask from the Juelich maps: about 6 s
def test_a_region_in_a_space_agrees_with_spatial_props(client) -> None:
    region = neuratlas.get_region("juelich", HIP1)
    props = region.spatial_props(SPACE)
    body = client.get(
        f"/v3_0/regions/{quote(HIP1)}", params={"parcellation_id": "juelich", "space_id": SPACE}
    ).json()
    assert body["@id"] == region.id
    assert body["hasParent"] == region.parent.id
    spatial = body["hasAnnotation"]["spatialProps"]
    assert spatial["size"] == pytest.approx(props.volume_mm3)
    assert spatial["bbox_mm"] == [list(corner) for corner in props.bbox_mm]
    sizes = [c["size"] for c in spatial["components"]]
    assert sizes == [pytest.approx(c.volume_mm3) for c in props.components]
    view = [c["value"] for c in body["hasAnnotation"]["bestViewPoint"]["coordinates"]]
    assert view == pytest.approx(spatial["centroid_mm"])


def test_a_region_by_its_full_id_url_encoded(client) -> None:
    region = neuratlas.get_region("juelich", HIP1)
    url = f"/v3_0/regions/{quote(region.id, safe='')}"
    body = client.get(url, params={"parcellation_id": region.parcellation.id}).json()
    assert body["@id"] == region.id


@pytest.mark.slow  # overlaps with every other parcellation: about 15 s
def test_related_regions(client) -> None:
    expected = handlers.get_related_regions("juelich", HIP1)
    body = client.get(
        f"/v3_0/regions/{quote(HIP1)}/related", params={"parcellation_id": "juelich"}
    ).json()
    assert body["total"] == len(expected) > 0
    assert body["items"][0] == to_jsonable(expected[0])


def test_feature_types_are_a_page(client) -> None:
    body = client.get("/v3_0/feature/_types").json()
    assert body["total"] == len(handlers.all_feature_types())


# --- maps ---------------------------------------------------------------------------------
def test_map_description(client) -> None:
    body = client.get(
        "/v3_0/map", params={"parcellation_id": "aal1", "space_id": SPACE, "map_type": "labelled"}
    ).json()
    assert body["@id"] == neuratlas.get_map("aal1", SPACE, "labelled").id
    some_region = next(iter(body["indices"]))
    assert set(body["indices"][some_region][0]) >= {"volume", "label"}


def test_the_labelled_map_decodes_as_the_fetched_map(client, tmp_path) -> None:
    params = {"parcellation_id": "aal1", "space_id": SPACE}
    response = client.get("/v3_0/map/labelled_map.nii.gz", params=params)
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/gzip"
    assert "content-encoding" not in response.headers  # a .nii.gz is not gzipped twice
    path = tmp_path / "map.nii.gz"
    path.write_bytes(response.content)
    served = nib.load(path)
    fetched = neuratlas.get_map("aal1", SPACE, "labelled").fetch()
    np.testing.assert_array_equal(np.asarray(served.dataobj), np.asarray(fetched.dataobj))
    np.testing.assert_allclose(served.affine, fetched.affine)
    again = client.get("/v3_0/map/labelled_map.nii.gz", params=params)
    assert again.headers["x-neuratlas-cached"] == "true"
    assert again.headers["etag"] == response.headers["etag"]


def test_a_file_etag_answers_304_without_a_body(client) -> None:
    params = {"parcellation_id": "aal1", "space_id": SPACE}
    first = client.get("/v3_0/map/labelled_map.nii.gz", params=params)
    second = client.get(
        "/v3_0/map/labelled_map.nii.gz",
        params=params,
        headers={"If-None-Match": first.headers["etag"]},
    )
    assert second.status_code == 304
    assert second.content == b""


def test_resampled_template_is_nifti(client, tmp_path) -> None:
    response = client.get(
        "/v3_0/map/resampled_template", params={"parcellation_id": "aal1", "space_id": SPACE}
    )
    assert response.status_code == 200, response.text
    path = tmp_path / "resampled.nii.gz"
    path.write_bytes(response.content)
    assert len(nib.load(path).shape) == 3


def test_assign_a_known_point(client) -> None:
    params = {
        "parcellation_id": "aal1",
        "space_id": SPACE,
        "point": "-30,-50,40;10mm,10mm,10mm",
        "map_type": "labelled",
    }
    body = client.get("/v3_0/map/assign", params=params).json()
    the_map = neuratlas.get_map("aal1", SPACE, "labelled")
    assert body["map"] == the_map.name
    cloud = neuratlas.PointCloud([(-30, -50, 40), (10, 10, 10)], space=SPACE)
    expected = the_map.assign(cloud)
    assert [row["region"] for row in body["assignments"]] == list(expected["region"])
    assert body["assignments"][0]["centroid"] == [-30.0, -50.0, 40.0]
    # NaN correlations become null: the body is strict JSON
    assert body["assignments"][0]["correlation"] is None


def test_parse_points() -> None:
    assert parse_points("1,2,3") == [(1.0, 2.0, 3.0)]
    assert parse_points(" -1.5e1 , 2mm,3 ; 4,5,6;") == [(-15.0, 2.0, 3.0), (4.0, 5.0, 6.0)]
    for bad in ("", "1,2", "1,2,x", "1,2,3,4", ";"):
        with pytest.raises(neuratlas.ArgumentError):
            parse_points(bad)


# --- download bundles -------------------------------------------------------------------
def test_atlas_download_zip_decodes(client) -> None:
    params = {"space_id": SPACE, "parcellation_id": "aal1"}
    response = client.get("/v3_0/atlas_download", params=params)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/zip"
    with zipfile.ZipFile(io.BytesIO(response.content)) as bundle:
        names = set(bundle.namelist())
        assert {"README.md", "LICENCE.txt"} <= names
        images = [n for n in names if n.endswith(".nii.gz")]
        assert images
        for name in images:
            raw = gzip.decompress(bundle.read(name))
            image = nib.Nifti1Image.from_bytes(raw)
            assert image.shape


# --- errors -------------------------------------------------------------------------------
def test_unknown_region_is_404_with_suggestions(client) -> None:
    response = client.get("/v3_0/regions/hIP11", params={"parcellation_id": "juelich"})
    body = error_body(response, 404, "NotFoundError")
    assert body["suggestions"] and all(isinstance(s, str) for s in body["suggestions"])


def test_a_404_without_suggestions_has_no_suggestions_key(client) -> None:
    response = client.get("/v3_0/atlases/qqqqqqqqqqqqqqqqqqqqqqqq")
    body = error_body(response, 404, "NotFoundError")
    assert "suggestions" not in body


def test_unknown_atlas_is_404(client) -> None:
    error_body(client.get("/v3_0/atlases/no-such-atlas"), 404, "NotFoundError")


def test_ambiguous_parcellation_is_409_with_candidates(client) -> None:
    response = client.get("/v3_0/regions", params={"parcellation_id": "harvard"})
    body = error_body(response, 409, "AmbiguousError")
    assert len(body["candidates"]) == 2


@pytest.mark.parametrize(
    ("url", "params"),
    [
        ("/v3_0/atlases", {"size": 101}),
        ("/v3_0/atlases", {"page": 0}),
        ("/v3_0/regions", {}),  # parcellation_id missing
        ("/v3_0/map/assign", {"parcellation_id": "aal1", "space_id": SPACE, "point": "1,2"}),
        (
            "/v3_0/map/assign",
            {"parcellation_id": "aal1", "space_id": SPACE, "point": "1,2,3", "sigma_mm": -1},
        ),
        ("/v3_0/map", {"parcellation_id": "aal1", "space_id": SPACE, "map_type": "bogus"}),
    ],
)
def test_bad_parameters_are_422(client, url, params) -> None:
    response = client.get(url, params=params)
    assert response.status_code == 422, response.text
    assert response.json()["status_code"] == 422
    assert response.json()["error"] in ("ValidationError", "ArgumentError")


def test_data_unavailable_is_503_naming_what_is_missing(client, monkeypatch, tmp_path) -> None:
    def unavailable():
        raise DataUnavailableError("cannot fetch pkg://nowhere/map.nii.gz: offline")

    def plan(parcellation_id, space_id, region_id=None):
        return handlers.MapFile(tmp_path / "never-made.nii.gz", unavailable)

    # the file is made on the Dask workers: the error comes back from there
    monkeypatch.setattr(handlers, "labelled_map_file", plan)
    response = client.get(
        "/v3_0/map/labelled_map.nii.gz", params={"parcellation_id": "aal1", "space_id": SPACE}
    )
    body = error_body(response, 503, "DataUnavailableError")
    assert "pkg://nowhere/map.nii.gz" in body["message"]
    assert not (tmp_path / "never-made.nii.gz").exists()


def test_a_bug_is_500_with_the_same_body(monkeypatch) -> None:
    def broken(*_args):
        raise RuntimeError("oops")

    monkeypatch.setattr(handlers, "resampled_map_file", broken)
    with TestClient(create_app(), raise_server_exceptions=False) as fresh:
        response = fresh.get(
            "/v3_0/map/resampled_template", params={"parcellation_id": "aal1", "space_id": SPACE}
        )
    body = error_body(response, 500, "InternalServerError")
    assert "oops" not in body["message"]  # no internals in the answer


def test_framework_404_and_405_share_the_body(client) -> None:
    error_body(client.get("/v3_0/nothing-here"), 404, "NotFound")
    response = client.post("/v3_0/atlases")
    error_body(response, 405, "MethodNotAllowed")
    assert "GET" in response.headers["allow"]


# --- caching, gzip ----------------------------------------------------------------------------
def test_json_etag_and_304(client) -> None:
    first = client.get("/v3_0/parcellations")
    assert first.headers["cache-control"].startswith("public, max-age=")
    etag = first.headers["etag"]
    second = client.get("/v3_0/parcellations", headers={"If-None-Match": f'"other", {etag}'})
    assert second.status_code == 304
    assert second.content == b""
    assert second.headers["etag"] == etag
    other = client.get("/v3_0/parcellations", headers={"If-None-Match": '"other"'})
    assert other.status_code == 200


def test_json_is_gzipped_when_accepted(client) -> None:
    plain = client.get("/v3_0/parcellations", headers={"Accept-Encoding": "identity"})
    zipped = client.get("/v3_0/parcellations", headers={"Accept-Encoding": "gzip"})
    assert "content-encoding" not in plain.headers
    assert zipped.headers["content-encoding"] == "gzip"
    assert zipped.json() == plain.json()  # httpx decodes the gzip
    assert int(zipped.headers["content-length"]) < len(plain.content)


def test_accepts_gzip_honours_q0() -> None:
    class Fake:
        def __init__(self, value: str) -> None:
            self.headers = {"accept-encoding": value}

    assert accepts_gzip(Fake("gzip, deflate"))  # type: ignore[arg-type]
    assert not accepts_gzip(Fake("gzip;q=0"))  # type: ignore[arg-type]
    assert not accepts_gzip(Fake("br"))  # type: ignore[arg-type]


def test_every_get_has_etag_and_cache_control(client) -> None:
    for url in ("/health", "/metrics", "/openapi.json", "/docs", "/v3_0/spaces"):
        response = client.get(url)
        assert response.status_code == 200, url
        assert response.headers["etag"].startswith('"'), url
        assert "cache-control" in response.headers, url


# --- service routes -------------------------------------------------------------------------
def test_health_and_ready(client) -> None:
    assert client.get("/health").json() == {"status": "ok"}
    client.app.state.ready.wait(30)
    assert client.get("/ready").json() == {"status": "ready"}


def test_ready_is_503_while_warming_or_failed(monkeypatch) -> None:
    def failing():
        raise DataUnavailableError("no specs")

    monkeypatch.setattr(handlers, "all_atlases", failing)
    with TestClient(create_app()) as fresh:
        fresh.app.state.ready.wait(30)
        body = error_body(fresh.get("/ready"), 503, "NotReady")
        assert "no specs" in body["message"]
        assert fresh.get("/health").status_code == 200


def test_docs_page_loads_its_scripts_from_the_service_not_a_cdn(client) -> None:
    page = client.get("/docs")
    assert page.status_code == 200
    sources = re.findall(r'(?:src|href)="([^"]+)"', page.text)
    assert sources and all(url.startswith("/static/") for url in sources), sources
    for url in sources:
        served = client.get(url)
        assert served.status_code == 200, url
        assert served.content
        assert "max-age" in served.headers["cache-control"]
        again = client.get(url, headers={"If-None-Match": served.headers["etag"]})
        assert again.status_code == 304


def test_vendored_static_files_are_kept_a_day(client) -> None:
    vendored = client.get("/static/vendor/swagger-ui/swagger-ui.css")
    assert vendored.headers["cache-control"] == "public, max-age=86400"


def test_static_files_outside_the_folder_or_missing_are_404(client) -> None:
    for path in ("/static/nothing.js", "/static/../app.py", "/static/%2E%2E/app.py"):
        error_body(client.get(path), 404, "NotFound")


def test_openapi_lists_the_routes(client) -> None:
    paths = client.get("/openapi.json").json()["paths"]
    for path in ("/v3_0/atlases", "/v3_0/regions/{region_id}", "/v3_0/map/assign"):
        assert path in paths or path.replace("}", ":path}") in paths


def test_metrics_count_requests_per_route_template() -> None:
    with TestClient(create_app()) as fresh:
        for name in ("hIP1 left", "hIP2 left"):
            fresh.get(f"/v3_0/regions/{quote(name)}", params={"parcellation_id": "juelich"})
        fresh.get("/v3_0/atlases/unknown")
        text = fresh.get("/metrics").text
    assert (
        'neuratlas_http_requests_total{method="GET",route="/v3_0/regions/{region_id:path}",'
        'status="200"} 2'
    ) in text
    assert 'route="/v3_0/atlases/{atlas_id:path}",status="404"} 1' in text
    assert "neuratlas_http_request_duration_seconds_bucket{" in text


def test_registry_histogram_is_cumulative() -> None:
    registry = Registry()
    registry.observe("GET", "/x", 200, 0.0001)
    registry.observe("GET", "/x", 200, 0.3)
    text = registry.render()
    assert 'route="/x",status="200",le="0.001"} 1' in text
    assert 'route="/x",status="200",le="0.5"} 2' in text
    assert 'route="/x",status="200",le="+Inf"} 2' in text
    assert 'neuratlas_http_request_duration_seconds_count{method="GET",route="/x"' in text


def test_paginate() -> None:
    page = paginate(list(range(7)), page=2, size=3)
    assert page == {"items": [3, 4, 5], "total": 7, "page": 2, "size": 3, "pages": 3}
    assert paginate([], 1, 10)["pages"] == 0
    with pytest.raises(neuratlas.ArgumentError):
        paginate([1], 1, 101)


def test_answers_follow_the_active_catalogue(client, toy_active) -> None:
    # the memo is keyed by the catalogue: switching configuration changes the answers
    body = client.get("/v3_0/atlases").json()
    assert {a["@id"] for a in body["items"]} == {a.id for a in toy_active.atlases}


def test_assign_route_module_limit() -> None:
    assert app_module.MAX_POINTS >= 1000


def test_async_download_answers_202_with_a_task_id(client, monkeypatch) -> None:
    from neuratlas.service import jobs_routes

    def submit(space_id, parcellation_id, region_id, feature_id):
        assert (space_id, parcellation_id, region_id) == (SPACE, "aal1", None)
        return {"task_id": "t1", "status": "pending"}

    # the job machinery has its own tests: here only the route's hand-over is checked
    monkeypatch.setattr(jobs_routes, "submit_download", submit)
    response = client.get(
        "/v3_0/atlas_download", params={"space_id": SPACE, "parcellation_id": "aal1", "async": 1}
    )
    assert response.status_code == 202
    assert response.json() == {"task_id": "t1", "status": "pending"}
    assert "/v3_0/atlas_download/{task_id}" in client.get("/openapi.json").json()["paths"]


# --- heavy work on Dask, cached answers without it -------------------------------------------
@pytest.fixture
def dask_calls(monkeypatch) -> list[str]:
    """The names of the functions the app sends to the Dask workers during a test."""
    calls: list[str] = []
    real = parallel.run

    async def recording(fn, *args, **kwargs):
        # the app sends memory.trimmed(task, *arguments): record the task
        calls.append(args[0].__name__ if fn is memory.trimmed else fn.__name__)
        return await real(fn, *args, **kwargs)

    monkeypatch.setattr(parallel, "run", recording)
    return calls


def test_a_missing_map_is_made_on_dask_and_a_cached_one_is_not(
    client, dask_calls, tmp_path
) -> None:
    params = {"parcellation_id": "juelich", "region_id": "hIP2 left", "space_id": SPACE}
    first = client.get("/v3_0/map/statistical_map.nii.gz", params=params)
    assert first.status_code == 200, first.text
    assert (first.headers["x-neuratlas-cached"], dask_calls) == ("false", ["make_map_file"])
    path = tmp_path / "hip2.nii.gz"
    path.write_bytes(first.content)
    the_map = neuratlas.get_map("juelich", SPACE, "statistical")
    expected = the_map.fetch(region=the_map.parcellation.get_region("hIP2 left"))
    np.testing.assert_array_equal(np.asarray(nib.load(path).dataobj), expected.get_fdata())
    again = client.get("/v3_0/map/statistical_map.nii.gz", params=params)
    assert (again.headers["x-neuratlas-cached"], dask_calls) == ("true", ["make_map_file"])
    assert again.content == first.content


def test_many_points_are_assigned_on_dask_few_in_a_thread(client, dask_calls) -> None:
    the_map = neuratlas.get_map("aal1", SPACE, "labelled")
    rng = np.random.default_rng(7)
    many = rng.uniform(-60, 60, size=(app_module.DASK_MIN_POINTS, 3)).round(1)
    for points, sent in ((many[:2], []), (many, ["assign_points"])):
        dask_calls.clear()
        text = ";".join(",".join(str(v) for v in p) for p in points)
        params = {"parcellation_id": "aal1", "space_id": SPACE, "point": text}
        body = client.get("/v3_0/map/assign", params={**params, "map_type": "labelled"}).json()
        expected = the_map.assign(neuratlas.PointCloud(points, space=SPACE))
        assert [row["region"] for row in body["assignments"]] == list(expected["region"])
        assert dask_calls == sent


def test_a_new_bundle_is_built_on_dask_a_cached_one_served_at_once(client, dask_calls) -> None:
    params = {"space_id": SPACE, "parcellation_id": "juelich", "region_id": "hIP3 left"}
    first = client.get("/v3_0/atlas_download", params=params)
    assert first.status_code == 200, first.text
    assert dask_calls == ["download_all"]
    # another alias of the same region: the same bundle, from the cache
    again = client.get("/v3_0/atlas_download", params={**params, "region_id": "hIP3 LEFT"})
    assert again.status_code == 200
    assert dask_calls == ["download_all"]
    assert again.content == first.content


def test_warm_up_starts_the_workers_and_indexes_the_statistical_maps(client) -> None:
    from neuratlas.core.sparse_sources import index_key
    from neuratlas.retrieval.cache import cache_path
    from neuratlas.volumes.sparse.cache import CACHE_AREA
    from neuratlas.volumes.sparse.header import HEADER_NAME

    assert client.app.state.ready.wait(60)
    assert client.get("/ready").status_code == 200
    statistical = [m for m in neuratlas.catalogue.active().maps if m.maptype.name == "STATISTICAL"]
    assert statistical
    for the_map in statistical:
        if not the_map.is_surface:
            assert (cache_path(CACHE_AREA, index_key(the_map)) / HEADER_NAME).is_file()


def test_ready_names_an_unreachable_scheduler(monkeypatch) -> None:
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        address = f"tcp://127.0.0.1:{probe.getsockname()[1]}"
    monkeypatch.setenv(parallel.SCHEDULER_ENV, address)
    monkeypatch.setattr(parallel, "CONNECT_TIMEOUT", 1.0)
    parallel.close()
    try:
        with TestClient(create_app()) as fresh:
            assert fresh.app.state.ready.wait(60)
            body = error_body(fresh.get("/ready"), 503, "NotReady")
            assert address in body["message"]
            assert fresh.get("/v3_0/atlases").status_code == 200  # the catalogue still answers
    finally:
        monkeypatch.delenv(parallel.SCHEDULER_ENV)
        parallel.close()
