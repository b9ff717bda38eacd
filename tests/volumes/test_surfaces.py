"""Tests of neuratlas.volumes.surfaces.Mesh on small meshes and the embedded fsaverage5."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

import neuratlas
from neuratlas.errors import Error, ImageError
from neuratlas.volumes.surfaces import Mesh


def octahedron(centre_x: float = 0.0) -> Mesh:
    """A closed 6-vertex, 8-face mesh (radius 10 mm) centred at ``(centre_x, 0, 0)``."""
    vertices = np.array(
        [[10, 0, 0], [-10, 0, 0], [0, 10, 0], [0, -10, 0], [0, 0, 10], [0, 0, -10]], float
    )
    vertices[:, 0] += centre_x
    faces = np.array(
        [[0, 2, 4], [2, 1, 4], [1, 3, 4], [3, 0, 4], [2, 0, 5], [1, 2, 5], [3, 1, 5], [0, 3, 5]]
    )
    return Mesh(vertices, faces)


@pytest.fixture(scope="module")
def fsaverage5() -> dict[str, Mesh]:
    space = neuratlas.get_map("desikan", "fsaverage5", "labelled").space
    template = space.get_template("pial")
    return {side: template.fetch(fragment=side) for side in ("left", "right")}


# --- construction and labels -------------------------------------------------------------------
def test_a_mesh_without_labels() -> None:
    mesh = octahedron()
    assert mesh.n_vertices == 6 and len(mesh.faces) == 8
    assert mesh.labels is None and mesh.hemispheres is None
    # closed surface: every edge belongs to two faces (V - E + F = 2)
    edges = {
        tuple(sorted(e)) for f in mesh.faces for e in ((f[0], f[1]), (f[1], f[2]), (f[2], f[0]))
    }
    assert mesh.n_vertices - len(edges) + len(mesh.faces) == 2


def test_the_mesh_is_frozen() -> None:
    mesh = octahedron()
    with pytest.raises(dataclasses.FrozenInstanceError):
        mesh.labels = np.zeros(6)  # type: ignore[misc]


def test_one_label_per_vertex() -> None:
    mesh = octahedron()
    labels = np.array([1, 1, 2, 2, 0, 0])
    labelled = Mesh(mesh.vertices, mesh.faces, labels)
    np.testing.assert_array_equal(labelled.labels, labels)


@pytest.mark.parametrize("count", [0, 5, 7, 12])
def test_a_wrong_number_of_labels_raises_image_error(count: int) -> None:
    mesh = octahedron()
    with pytest.raises(ImageError, match=f"^{count} labels for a mesh of 6 vertices") as info:
        Mesh(mesh.vertices, mesh.faces, np.ones(count, int))
    assert isinstance(info.value, Error) and isinstance(info.value, ValueError)
    assert "surface space" in info.value.hint


def test_with_labels_returns_a_new_mesh() -> None:
    mesh = octahedron()
    labelled = mesh.with_labels([3, 3, 3, 4, 4, 4])  # a list is turned into an array
    assert labelled is not mesh and mesh.labels is None
    assert isinstance(labelled.labels, np.ndarray)
    np.testing.assert_array_equal(labelled.labels, [3, 3, 3, 4, 4, 4])
    assert labelled.vertices is mesh.vertices and labelled.faces is mesh.faces
    relabelled = labelled.with_labels(np.zeros(6, int))
    np.testing.assert_array_equal(relabelled.labels, 0)
    np.testing.assert_array_equal(labelled.labels, [3, 3, 3, 4, 4, 4])  # untouched


def test_with_labels_keeps_the_hemispheres() -> None:
    merged = Mesh.merge({"left": octahedron(-40), "right": octahedron(40)})
    labelled = merged.with_labels(np.arange(12))
    np.testing.assert_array_equal(labelled.hemispheres, merged.hemispheres)


def test_with_labels_of_the_wrong_length_raises() -> None:
    with pytest.raises(ImageError, match="5 labels for a mesh of 6 vertices"):
        octahedron().with_labels(np.ones(5))


# --- merge ---------------------------------------------------------------------------------------
def test_merge_offsets_faces_and_records_hemispheres() -> None:
    left = octahedron(-40).with_labels([1, 1, 2, 2, 2, 0])
    right = octahedron(40).with_labels([5, 5, 5, 6, 6, 6])
    merged = Mesh.merge({"left": left, "right": right})
    assert merged.n_vertices == 12 and len(merged.faces) == 16
    np.testing.assert_array_equal(merged.vertices[:6], left.vertices)
    np.testing.assert_array_equal(merged.vertices[6:], right.vertices)
    np.testing.assert_array_equal(merged.faces[:8], left.faces)
    np.testing.assert_array_equal(merged.faces[8:], right.faces + 6)
    np.testing.assert_array_equal(merged.labels, [1, 1, 2, 2, 2, 0, 5, 5, 5, 6, 6, 6])
    assert merged.hemispheres.tolist() == ["left"] * 6 + ["right"] * 6
    # every face stays within one hemisphere, and its triangles are the same ones
    sides = merged.hemispheres[merged.faces]
    assert (sides == sides[:, :1]).all()
    np.testing.assert_array_equal(merged.vertices[merged.faces[8:]], right.vertices[right.faces])


def test_merge_follows_the_order_of_the_parts() -> None:
    merged = Mesh.merge({"right": octahedron(40), "left": octahedron(-40)})
    assert merged.hemispheres.tolist() == ["right"] * 6 + ["left"] * 6
    assert (merged.vertices[:6, 0] > 0).all() and (merged.vertices[6:, 0] < 0).all()


def test_merge_drops_labels_unless_every_part_has_them() -> None:
    merged = Mesh.merge({"left": octahedron(-40).with_labels(np.ones(6)), "right": octahedron(40)})
    assert merged.labels is None
    assert merged.hemispheres is not None and len(merged.hemispheres) == 12


def test_merge_of_one_part() -> None:
    part = octahedron().with_labels(np.arange(6))
    merged = Mesh.merge({"left": part})
    np.testing.assert_array_equal(merged.faces, part.faces)
    np.testing.assert_array_equal(merged.labels, part.labels)
    assert set(merged.hemispheres) == {"left"}


def test_merge_of_nothing_raises() -> None:
    with pytest.raises(ValueError, match="at least one array"):
        Mesh.merge({})


def test_merge_the_fsaverage5_hemispheres(fsaverage5: dict[str, Mesh]) -> None:
    left, right = fsaverage5["left"], fsaverage5["right"]
    assert left.n_vertices == right.n_vertices == 10242
    merged = Mesh.merge(fsaverage5)
    assert merged.n_vertices == 20484 and len(merged.faces) == 40960
    assert merged.faces.min() == 0 and merged.faces.max() == 20483
    np.testing.assert_array_equal(merged.faces[len(left.faces) :], right.faces + 10242)
    # the left pial surface lies (almost entirely) at x < 0
    x = merged.vertices[:, 0]
    assert np.mean(x[merged.hemispheres == "left"] < 0) > 0.99
    assert np.mean(x[merged.hemispheres == "right"] > 0) > 0.99
    assert merged.labels is None


def test_the_embedded_surface_map_is_a_merged_labelled_mesh() -> None:
    the_map = neuratlas.get_map("desikan", "fsaverage5", "labelled")
    mesh = the_map.fetch()
    assert isinstance(mesh, Mesh) and mesh.n_vertices == 20484
    assert mesh.labels is not None and len(mesh.labels) == mesh.n_vertices
    assert set(np.unique(mesh.hemispheres)) == {"left", "right"}


# --- repr ----------------------------------------------------------------------------------------
def test_repr() -> None:
    mesh = octahedron()
    assert repr(mesh) == "<Mesh 6 vertices, 8 faces>"
    assert repr(mesh.with_labels([7, 7, 8, 8, 9, 9])) == "<Mesh 6 vertices, 8 faces, 3 labels>"
    merged = Mesh.merge({"left": mesh, "right": octahedron(40)})
    assert repr(merged) == "<Mesh 12 vertices, 16 faces>"


def test_repr_of_fsaverage5(fsaverage5: dict[str, Mesh]) -> None:
    assert repr(fsaverage5["left"]) == "<Mesh 10242 vertices, 20480 faces>"
