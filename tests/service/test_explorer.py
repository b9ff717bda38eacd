"""The explorer's server side over HTTP (FastAPI's TestClient on the real app): the page at
``/``, the templates at ``/v3_0/spaces/{id}/template.nii.gz``, ``/explorer/maps``; and the
node tests of the page's JavaScript modules."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from urllib.parse import quote

import nibabel as nib
import numpy as np
import pytest
from fastapi.testclient import TestClient

import neuratlas
from neuratlas import parallel
from neuratlas.errors import NotFoundError
from neuratlas.service import explorer, handlers, memory
from neuratlas.service.app import create_app
from tests.service.error_body import error_body

NLIN6 = "neuratlas/space/mni152-nlin6-asym"
SURFACE = "fsaverage5"
NODE_TESTS = Path(__file__).parent / "static"


@pytest.fixture(scope="module")
def client():
    with TestClient(create_app()) as test_client:
        yield test_client


@pytest.fixture
def dask_calls(monkeypatch) -> list[str]:
    """The names of the tasks the app sends to the Dask workers during a test."""
    calls: list[str] = []
    real = parallel.run

    async def recording(fn, *args, **kwargs):
        # the app sends memory.trimmed(task, plan, *ids): record the task and its plan
        task, *rest = args if fn is memory.trimmed else (fn, *args)
        plan = rest[0].__name__ if rest and callable(rest[0]) else ""
        calls.append(f"{task.__name__}({plan})")
        return await real(fn, *args, **kwargs)

    monkeypatch.setattr(parallel, "run", recording)
    return calls


def template_url(space_id: str) -> str:
    return f"/v3_0/spaces/{quote(space_id, safe='')}/template.nii.gz"


# --- the page -----------------------------------------------------------------------------
def test_the_page_is_served_at_the_root_and_revalidated(client) -> None:
    response = client.get("/")
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "text/html; charset=utf-8"
    assert response.content == explorer.PAGE.read_bytes()
    assert 'id="region-tree"' in response.text
    # revalidated on every load (a new release shows at once), a 304 while unchanged
    assert response.headers["cache-control"] == "no-cache"
    etag = response.headers["etag"]
    again = client.get("/", headers={"If-None-Match": etag})
    assert (again.status_code, again.content) == (304, b"")
    assert again.headers["etag"] == etag


def test_the_page_is_gzipped_for_browsers_that_accept_it(client) -> None:
    response = client.get("/", headers={"Accept-Encoding": "gzip"})
    assert response.headers["content-encoding"] == "gzip"
    assert response.content == explorer.PAGE.read_bytes()  # httpx decodes it
    plain = client.get("/", headers={"Accept-Encoding": "identity"})
    assert "content-encoding" not in plain.headers
    assert plain.content == explorer.PAGE.read_bytes()


def test_the_page_s_scripts_and_styles_are_served(client) -> None:
    for name in ("app.js", "api.js", "style.css"):
        response = client.get(f"/static/explorer/{name}")
        assert response.status_code == 200, name
        assert response.headers["etag"]
        # revalidated on each load: a new release never runs old modules
        assert response.headers["cache-control"] == "no-cache"


def test_an_edited_page_is_served_without_a_restart(client, monkeypatch, tmp_path) -> None:
    page = tmp_path / "index.html"
    page.write_text("<!doctype html><title>one</title>")
    monkeypatch.setattr(explorer, "PAGE", page)
    first = client.get("/")
    assert first.text == "<!doctype html><title>one</title>"
    page.write_text("<!doctype html><title>two, longer</title>")
    second = client.get("/", headers={"If-None-Match": first.headers["etag"]})
    assert second.status_code == 200
    assert second.text == "<!doctype html><title>two, longer</title>"
    assert second.headers["etag"] != first.headers["etag"]


def test_the_page_is_not_in_the_api_description(client) -> None:
    paths = client.get("/openapi.json").json()["paths"]
    assert "/" not in paths
    assert "/v3_0/spaces/{space_id}/template.nii.gz" in paths
    assert "/explorer/maps" in paths


# --- the templates --------------------------------------------------------------------------
@pytest.mark.parametrize("space_id", [NLIN6, "MNI 152 ICBM 2009c Nonlinear Asymmetric"])
def test_the_template_decodes_to_the_space_s_template(client, space_id, tmp_path) -> None:
    response = client.get(template_url(space_id))
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/gzip"
    assert response.headers["content-disposition"].endswith('.nii.gz"')
    assert response.headers["cache-control"] == "public, max-age=86400"
    assert response.content[:2] == b"\x1f\x8b"  # gzip, as the browser's DecompressionStream wants
    path = tmp_path / "template.nii.gz"
    path.write_bytes(response.content)
    got = nib.load(path)
    expected = neuratlas.get_space(space_id).get_template().fetch()
    assert got.shape == expected.shape
    assert got.get_data_dtype() == expected.get_data_dtype()
    np.testing.assert_allclose(got.affine, expected.affine)
    np.testing.assert_array_equal(np.asarray(got.dataobj), np.asarray(expected.dataobj))


def test_the_template_is_the_grid_of_the_resampled_map(client, tmp_path) -> None:
    template = client.get(template_url(NLIN6))
    labels = client.get(
        "/v3_0/map/resampled_template", params={"parcellation_id": "aal1", "space_id": NLIN6}
    )
    images = []
    for name, response in (("template", template), ("labels", labels)):
        assert response.status_code == 200, response.text
        (tmp_path / f"{name}.nii.gz").write_bytes(response.content)
        images.append(nib.load(tmp_path / f"{name}.nii.gz"))
    assert images[0].shape == images[1].shape
    np.testing.assert_allclose(images[0].affine, images[1].affine)


def test_the_template_answers_304_to_its_etag(client) -> None:
    first = client.get(template_url(NLIN6))
    etag = first.headers["etag"]
    again = client.get(template_url(NLIN6), headers={"If-None-Match": etag})
    assert (again.status_code, again.content) == (304, b"")
    assert again.headers["etag"] == etag
    assert client.get(template_url(NLIN6), headers={"If-None-Match": '"other"'}).status_code == 200


def test_a_missing_template_is_made_on_dask_and_a_cached_one_is_not(client, dask_calls) -> None:
    space_id = "MNI 152 ICBM 2009a Nonlinear Symmetric"
    # the first request finds no file
    plan = handlers.template_file(space_id)
    plan.path.unlink(missing_ok=True)
    first = client.get(template_url(space_id))
    assert first.status_code == 200, first.text
    assert first.headers["x-neuratlas-cached"] == "false"
    assert dask_calls == ["make_map_file(template_file)"]
    again = client.get(template_url(space_id))
    assert again.headers["x-neuratlas-cached"] == "true"
    assert dask_calls == ["make_map_file(template_file)"], "a cached file went to Dask"
    assert again.content == first.content


def test_aliases_of_a_space_share_one_template_file(client) -> None:
    by_id = client.get(template_url(NLIN6))
    by_name = client.get(template_url("MNI152 NLin6"))
    assert by_name.status_code == 200
    assert by_name.headers["etag"] == by_id.headers["etag"]
    assert by_name.headers["x-neuratlas-cached"] == "true"


def test_the_space_route_is_not_taken_by_the_template_route(client) -> None:
    # /spaces/{id:path} and /spaces/{id:path}/template.nii.gz: each answers its own
    space = client.get(f"/v3_0/spaces/{quote(NLIN6, safe='')}")
    assert space.status_code == 200
    assert space.json()["@id"] == NLIN6
    assert client.get(template_url(NLIN6)).headers["content-type"] == "application/gzip"


def test_an_unknown_space_is_a_404_with_suggestions(client) -> None:
    body = error_body(client.get(template_url("nowhere")), 404, "NotFoundError")
    assert "nowhere" in body["message"]
    assert body["suggestions"]


def test_an_ambiguous_space_is_a_409_with_candidates(client) -> None:
    body = error_body(client.get(template_url("MNI 152 ICBM 2009")), 409, "AmbiguousError")
    assert set(body["candidates"]) == {
        "MNI 152 ICBM 2009a Nonlinear Symmetric",
        "MNI 152 ICBM 2009c Nonlinear Asymmetric",
    }


def test_a_surface_space_is_a_422_naming_the_volume_spaces(client) -> None:
    body = error_body(client.get(template_url(SURFACE)), 422, "ArgumentError")
    assert "surface" in body["message"]
    for space in neuratlas.spaces:
        assert (space.name in body["hint"]) is (not space.is_surface), space.name


def test_template_file_is_a_map_file_of_the_handlers() -> None:
    plan = handlers.template_file("MNI152 NLin6")
    assert isinstance(plan, handlers.MapFile)
    assert plan.path.name.endswith(".nii.gz")
    assert plan.path.parent.name == handlers.SERVICE_AREA
    # the same file whatever the space is called
    assert handlers.template_file(NLIN6).path == plan.path
    assert handlers.template_file("MNI 152 ICBM 2009c Nonlinear Asymmetric").path != plan.path


# --- which maps exist -----------------------------------------------------------------------
def test_the_maps_list_every_mapped_pair_and_nothing_else(client) -> None:
    response = client.get("/explorer/maps")
    assert response.status_code == 200, response.text
    listed = response.json()
    pairs = [(entry["parcellation"], entry["space"]) for entry in listed]
    assert len(pairs) == len(set(pairs)), "a pair listed twice"
    kinds = {(e["parcellation"], e["space"]): e["maptypes"] for e in listed}
    # every combination asked through the public API: listed exactly when it has a map
    for parcellation in neuratlas.parcellations:
        for space in neuratlas.spaces:
            expected = []
            for maptype in ("labelled", "statistical"):
                try:
                    neuratlas.get_map(parcellation.id, space.id, maptype)
                except NotFoundError:
                    continue
                expected.append(maptype)
            got = kinds.get((parcellation.id, space.id), [])
            assert got == expected, (parcellation.name, space.name)
    assert any("statistical" in e["maptypes"] for e in listed)


def test_the_maps_are_a_cached_catalogue_answer(client) -> None:
    first = client.get("/explorer/maps")
    assert first.headers["cache-control"] == "public, max-age=3600"
    again = client.get("/explorer/maps", headers={"If-None-Match": first.headers["etag"]})
    assert (again.status_code, again.content) == (304, b"")
    zipped = client.get("/explorer/maps", headers={"Accept-Encoding": "gzip"})
    assert zipped.headers["content-encoding"] == "gzip"
    assert zipped.json() == first.json()  # httpx decodes it


# --- the page's JavaScript modules -------------------------------------------------------
def test_the_page_s_javascript_modules_pass_their_node_tests() -> None:
    node = shutil.which("node")
    if node is None:
        pytest.skip("node is not on PATH: the explorer's JavaScript unit tests did not run")
    done = subprocess.run(
        [node, "--test", str(NODE_TESTS) + "/"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
