"""The explorer's mesh route (``/explorer/mesh``) on a tiny app, and its binary format."""

from __future__ import annotations

import gzip
import json
import struct
from typing import Any

import numpy as np
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

import neuratlas
from neuratlas.core.label_table import surface_label_table
from neuratlas.service import http_errors, meshes
from neuratlas.service.meshes import encode_mesh, mesh_answer
from neuratlas.volumes.surfaces import Mesh
from tests.service.error_body import error_body

SURFACE = "fsaverage5"
DK = "Desikan-Killiany atlas"
ROUTE = "/explorer/mesh"


@pytest.fixture(scope="module")
def client():
    app = FastAPI()
    http_errors.install(app)
    app.include_router(meshes.router)
    with TestClient(app) as test_client:
        yield test_client


@pytest.fixture(scope="module")
def dk_map():
    return neuratlas.get_map(DK, SURFACE, "labelled")


def decode(body: bytes) -> tuple[dict[str, Any], np.ndarray, np.ndarray, np.ndarray]:
    """The header, vertices (V, 3), faces (F, 3) and labels (V,) of the mesh format."""
    assert body[:4] == b"NAMS"
    version, length = struct.unpack_from("<II", body, 4)
    assert version == 1
    assert length % 4 == 0
    header = json.loads(body[12 : 12 + length])
    n_vertices, n_faces = header["vertexCount"], header["faceCount"]
    offset = 12 + length
    vertices = np.frombuffer(body, "<f4", n_vertices * 3, offset).reshape(-1, 3)
    offset += vertices.nbytes
    faces = np.frombuffer(body, "<u4", n_faces * 3, offset).reshape(-1, 3)
    offset += faces.nbytes
    labels = np.frombuffer(body, "<i4", n_vertices, offset)
    assert offset + labels.nbytes == len(body), "bytes after the labels"
    return header, vertices, faces, labels


def _params(space: str = SURFACE, parcellation: str = DK) -> dict[str, str]:
    return {"space_id": space, "parcellation_id": parcellation}


# --- the answer ----------------------------------------------------------------------
def test_the_bytes_decode_to_the_mesh_and_labels_of_fetch(client, dk_map) -> None:
    response = client.get(ROUTE, params=_params())
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/octet-stream"
    header, vertices, faces, labels = decode(response.content)
    mesh = dk_map.fetch()
    assert (header["vertexCount"], header["faceCount"]) == (20484, 40960)
    np.testing.assert_array_equal(vertices, mesh.vertices.astype(np.float32))
    np.testing.assert_array_equal(faces, mesh.faces)
    np.testing.assert_array_equal(labels, mesh.labels)
    np.testing.assert_allclose(header["bounds"], [vertices.min(0), vertices.max(0)])
    # the runs give back each vertex's hemisphere
    hemispheres = np.empty(len(vertices), dtype=object)
    for run in header["hemispheres"]:
        hemispheres[run["vertexStart"] : run["vertexStart"] + run["vertexCount"]] = run["name"]
    assert [run["name"] for run in header["hemispheres"]] == ["left", "right"]
    assert (hemispheres == mesh.hemispheres).all()
    assert header["space"] == {"@id": dk_map.space.id, "name": "fsaverage5"}
    assert header["parcellation"] == {"@id": dk_map.parcellation.id, "name": DK}
    assert header["map"] == dk_map.name


def test_the_label_tables_are_those_of_the_label_files(client, dk_map) -> None:
    header, _, _, labels = decode(client.get(ROUTE, params=_params()).content)
    for run in header["hemispheres"]:
        names, colours = surface_label_table(dk_map, run["name"])
        table = run["labels"]
        assert {int(k): v["name"] for k, v in table.items()} == names
        assert {int(k): tuple(v["rgb"]) for k, v in table.items() if v["rgb"]} == colours
        # every label on the hemisphere but 0 is named (the Desikan-Killiany map has all)
        start, count = run["vertexStart"], run["vertexCount"]
        shown = set(np.unique(labels[start : start + count]).tolist()) - {0}
        assert shown == {int(k) for k in table}
        assert len(shown) == 34
    left = header["hemispheres"][0]["labels"]
    assert left["1"] == {
        "name": "Banks of the superior temporal sulcus - left hemisphere",
        "rgb": list(dk_map.parcellation.get_region(left["1"]["name"]).rgb),
    }


def test_encoded_once_and_shared_by_aliases(dk_map) -> None:
    first = mesh_answer(SURFACE, DK)
    assert mesh_answer(dk_map.space.id, dk_map.parcellation.id) is first


# --- HTTP caching ----------------------------------------------------------------------
def test_etag_and_304(client) -> None:
    response = client.get(ROUTE, params=_params())
    etag = response.headers["etag"]
    assert response.headers["cache-control"] == "public, max-age=3600"
    again = client.get(ROUTE, params=_params(), headers={"If-None-Match": etag})
    assert again.status_code == 304
    assert again.content == b""
    assert again.headers["etag"] == etag
    # an alias of the space names the same bytes, hence the same ETag
    alias = client.get(ROUTE, params=_params(space="neuratlas/space/fsaverage5"))
    assert alias.headers["etag"] == etag


def test_gzip_when_accepted(client) -> None:
    plain = client.get(ROUTE, params=_params(), headers={"Accept-Encoding": "identity"})
    assert "content-encoding" not in plain.headers
    assert plain.headers["vary"] == "Accept-Encoding"
    with client.stream("GET", ROUTE, params=_params(), headers={"Accept-Encoding": "gzip"}) as r:
        assert r.headers["content-encoding"] == "gzip"
        raw = b"".join(r.iter_raw())
    assert len(raw) < len(plain.content) * 0.7
    assert gzip.decompress(raw) == plain.content


# --- errors ------------------------------------------------------------------------------
def test_a_volume_space_is_422_naming_the_surface_spaces(client) -> None:
    body = error_body(
        client.get(ROUTE, params=_params(space="MNI152 NLin6")), 422, "ArgumentError"
    )
    assert "volume space" in body["message"]
    assert "fsaverage5" in body["hint"]


def test_a_volume_space_for_a_parcellation_without_surface_map(client) -> None:
    params = _params(space="MNI152 NLin6", parcellation="julich")
    body = error_body(client.get(ROUTE, params=params), 422, "ArgumentError")
    assert "no surface map" in body["hint"]
    assert "fsaverage5" in body["hint"]


def test_unknown_ids_are_404(client) -> None:
    body = error_body(client.get(ROUTE, params=_params(space="fsaverage9")), 404, "NotFoundError")
    assert "fsaverage9" in body["message"]
    body = error_body(
        client.get(ROUTE, params=_params(parcellation="no such")), 404, "NotFoundError"
    )
    assert "no such" in body["message"]


def test_no_map_of_the_parcellation_on_the_surface_is_404(client) -> None:
    error_body(client.get(ROUTE, params=_params(parcellation="julich")), 404, "NotFoundError")


def test_a_missing_parameter_is_422(client) -> None:
    body = error_body(client.get(ROUTE, params={"space_id": SURFACE}), 422, "ValidationError")
    assert "parcellation_id" in body["message"]


# --- the format ----------------------------------------------------------------------------
def test_a_mesh_without_hemispheres_or_labels() -> None:
    vertices = np.array([[0, 0, 0], [1, 0, 0], [0, 1, 0], [0, 0, 1]], dtype=float)
    faces = np.array([[0, 1, 2], [0, 2, 3]])
    header, v, f, labels = decode(encode_mesh(Mesh(vertices, faces), info={"map": "toy"}))
    assert header["map"] == "toy"
    assert header["hemispheres"] == [
        {"name": "", "vertexStart": 0, "vertexCount": 4, "labels": {}}
    ]
    np.testing.assert_array_equal(v, vertices)
    np.testing.assert_array_equal(f, faces)
    assert (labels == 0).all()
    assert header["bounds"] == [[0, 0, 0], [1, 1, 1]]


def test_hemispheres_in_several_runs_share_their_table() -> None:
    vertices = np.zeros((5, 3))
    mesh = Mesh(
        vertices,
        np.array([[0, 1, 2]]),
        np.array([1, 1, 2, 2, 1]),
        np.array(["left", "left", "right", "right", "left"]),
    )
    asked = []

    def table(hemisphere: str) -> dict[str, Any]:
        asked.append(hemisphere)
        return {"1" if hemisphere == "left" else "2": {"name": hemisphere, "rgb": None}}

    header, _, _, labels = decode(encode_mesh(mesh, label_table=table))
    runs = [(r["name"], r["vertexStart"], r["vertexCount"]) for r in header["hemispheres"]]
    assert runs == [("left", 0, 2), ("right", 2, 2), ("left", 4, 1)]
    assert header["hemispheres"][2]["labels"] == {"1": {"name": "left", "rgb": None}}
    assert asked == ["left", "right"]
    np.testing.assert_array_equal(labels, [1, 1, 2, 2, 1])


def test_an_empty_mesh() -> None:
    mesh = Mesh(np.zeros((0, 3)), np.zeros((0, 3), dtype=int))
    header, v, f, labels = decode(encode_mesh(mesh))
    assert header["vertexCount"] == header["faceCount"] == 0
    assert len(v) == len(f) == len(labels) == 0
    assert header["hemispheres"] == [
        {"name": "", "vertexStart": 0, "vertexCount": 0, "labels": {}}
    ]
