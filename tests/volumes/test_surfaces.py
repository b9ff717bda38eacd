"""Tests of neuratlas.volumes.surfaces.Mesh on small meshes and the embedded fsaverage5."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import neuratlas
from neuratlas.errors import Error, ImageError
from neuratlas.volumes import providers
from neuratlas.volumes.surfaces import (
    Mesh,
    gifti_labels,
    gifti_mesh,
    gifti_stem,
    save_gifti_labels,
)


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


# --- vertex areas ------------------------------------------------------------------------------
def test_vertex_areas_of_an_octahedron() -> None:
    mesh = octahedron()
    # eight equilateral faces with sides 10 * sqrt(2); each vertex is a corner of four
    face = np.sqrt(3) / 4 * 200
    np.testing.assert_allclose(mesh.vertex_areas(), 4 * face / 3)
    assert mesh.vertex_areas().sum() == pytest.approx(8 * face)


def test_vertex_areas_of_a_right_triangle_and_a_lone_vertex() -> None:
    vertices = np.array([[0, 0, 0], [3, 0, 0], [0, 4, 0], [9, 9, 9]], float)
    mesh = Mesh(vertices, np.array([[0, 1, 2]]))
    np.testing.assert_allclose(mesh.vertex_areas(), [2, 2, 2, 0])  # 6 mm², a third each


def test_vertex_areas_of_fsaverage5_add_up_to_its_area(fsaverage5: dict[str, Mesh]) -> None:
    left = fsaverage5["left"]
    corners = left.vertices[left.faces]
    faces = (
        np.linalg.norm(
            np.cross(corners[:, 1] - corners[:, 0], corners[:, 2] - corners[:, 0]), axis=1
        )
        / 2
    )
    areas = left.vertex_areas()
    assert areas.shape == (10242,) and (areas > 0).all()
    assert areas.sum() == pytest.approx(faces.sum())
    assert 50_000 < areas.sum() < 100_000  # a decimated pial hemisphere, in mm²


# --- split -------------------------------------------------------------------------------------
def test_split_undoes_merge() -> None:
    left = octahedron(-40).with_labels([1, 1, 2, 2, 2, 0])
    right = octahedron(40).with_labels([5, 5, 5, 6, 6, 6])
    parts = Mesh.merge({"left": left, "right": right}).split()
    assert list(parts) == ["left", "right"]
    for part, original in ((parts["left"], left), (parts["right"], right)):
        np.testing.assert_array_equal(part.vertices, original.vertices)
        np.testing.assert_array_equal(part.faces, original.faces)
        np.testing.assert_array_equal(part.labels, original.labels)
        assert part.hemispheres is None


def test_split_of_the_embedded_surface_map() -> None:
    whole = neuratlas.get_map("desikan", "fsaverage5", "labelled").fetch()
    parts = whole.split()
    assert [p.n_vertices for p in parts.values()] == [10242, 10242]
    np.testing.assert_array_equal(np.concatenate([p.labels for p in parts.values()]), whole.labels)
    assert sum(len(p.faces) for p in parts.values()) == len(whole.faces)


def test_split_of_a_mesh_without_hemispheres() -> None:
    mesh = octahedron()
    assert mesh.split() == {"": mesh}


# --- GIfTI meshes -------------------------------------------------------------------------------
def round_trip(gii: nib.gifti.GiftiImage) -> nib.gifti.GiftiImage:
    """``gii`` as a reader gets it: serialised to the bytes of a file and parsed again."""
    return nib.GiftiImage.from_bytes(gii.to_bytes())


def test_a_mesh_round_trips_through_gifti_bytes() -> None:
    mesh = octahedron(-40)
    gii = round_trip(gifti_mesh(mesh, "left"))
    points, triangles = gii.darrays
    assert points.intent == nib.nifti1.intent_codes["NIFTI_INTENT_POINTSET"]
    assert triangles.intent == nib.nifti1.intent_codes["NIFTI_INTENT_TRIANGLE"]
    assert points.data.dtype == np.float32 and triangles.data.dtype == np.int32
    np.testing.assert_array_equal(gii.agg_data("NIFTI_INTENT_POINTSET"), mesh.vertices)
    np.testing.assert_array_equal(gii.agg_data("NIFTI_INTENT_TRIANGLE"), mesh.faces)
    # FreeSurfer and Workbench name the structure on the point set
    assert dict(points.meta) == {"AnatomicalStructurePrimary": "CortexLeft"}
    assert not gii.labeltable.labels  # labels go to a label file


def test_a_mesh_file_loads_as_the_same_mesh(tmp_path: Path, fsaverage5: dict[str, Mesh]) -> None:
    right = fsaverage5["right"]
    path = tmp_path / "fsaverage5_right.surf.gii"
    path.write_bytes(gifti_mesh(right, "right").to_bytes())
    loaded = providers.load_mesh(path)  # as neuratlas reads the meshes of its spaces
    # the source coordinates are float32: nothing is lost on the way
    np.testing.assert_array_equal(loaded.vertices, right.vertices)
    np.testing.assert_array_equal(loaded.faces, right.faces)
    assert dict(nib.load(path).darrays[0].meta) == {"AnatomicalStructurePrimary": "CortexRight"}


@pytest.mark.parametrize("hemisphere", [None, "", "both", "LEFT"])
def test_a_mesh_of_no_known_hemisphere_names_no_structure(hemisphere: str | None) -> None:
    gii = round_trip(gifti_mesh(octahedron(), hemisphere))
    assert not dict(gii.darrays[0].meta) and not dict(gii.meta)


def test_a_mesh_without_faces() -> None:
    mesh = Mesh(octahedron().vertices, np.zeros((0, 3), int))
    gii = round_trip(gifti_mesh(mesh))
    np.testing.assert_array_equal(gii.darrays[0].data, mesh.vertices)
    assert gii.darrays[1].data.shape == (0, 3)


@settings(max_examples=30, deadline=None)
@given(
    st.integers(3, 40).flatmap(
        lambda n: st.tuples(
            st.lists(st.tuples(*[st.floats(-150, 150, width=32)] * 3), min_size=n, max_size=n),
            st.lists(st.tuples(*[st.integers(0, n - 1)] * 3), min_size=1, max_size=60),
        )
    )
)
def test_any_mesh_round_trips_through_gifti_bytes(mesh: tuple[list, list]) -> None:
    vertices, faces = np.array(mesh[0], np.float64), np.array(mesh[1], np.int64)
    gii = round_trip(gifti_mesh(Mesh(vertices, faces)))
    np.testing.assert_array_equal(gii.agg_data("NIFTI_INTENT_POINTSET"), vertices)
    np.testing.assert_array_equal(gii.agg_data("NIFTI_INTENT_TRIANGLE"), faces)


@pytest.mark.parametrize(
    ("vertices", "faces", "message"),
    [
        (np.zeros((6, 2)), np.zeros((1, 3), int), r"vertices must be an \(N, 3\) array"),
        (np.zeros(18), np.zeros((1, 3), int), r"vertices must be an \(N, 3\) array"),
        (np.zeros((6, 3)), np.zeros((1, 3)), r"faces must be an \(N, 3\) array"),
        (np.zeros((6, 3)), np.zeros((1, 4), int), r"faces must be an \(N, 3\) array"),
        (np.zeros((6, 3)), np.array([[0, 1, 6]]), "faces name vertices 0..6, but the mesh has 6"),
        (np.zeros((6, 3)), np.array([[0, -1, 2]]), "faces name vertices -1..2"),
    ],
)
def test_a_malformed_mesh_raises_image_error(
    vertices: np.ndarray, faces: np.ndarray, message: str
) -> None:
    with pytest.raises(ImageError, match=message) as info:
        gifti_mesh(Mesh(vertices, faces))
    assert info.value.hint


# --- GIfTI label files -------------------------------------------------------------------------
def test_labels_round_trip_through_gifti_bytes() -> None:
    labels = np.array([0, 3, 3, 7, 0, 12], dtype=np.uint8)
    gii = round_trip(gifti_labels(labels, {3: "Area 3", 7: "Area 7"}, {7: (0, 128, 255)}, "right"))
    (array,) = gii.darrays
    assert array.intent == nib.nifti1.intent_codes["NIFTI_INTENT_LABEL"]
    assert array.data.dtype == np.int32
    np.testing.assert_array_equal(array.data, labels)
    assert gii.labeltable.get_labels_as_dict() == {
        0: "unknown",
        3: "Area 3",
        7: "Area 7",
        12: "12",
    }
    colours = {lab.key: (lab.red, lab.green, lab.blue, lab.alpha) for lab in gii.labeltable.labels}
    assert colours[7] == pytest.approx((0.0, 128 / 255, 1.0, 1.0))
    assert colours[3] == colours[12] == (1.0, 1.0, 1.0, 1.0)  # no colour given: white
    assert colours[0][3] == 0.0  # unlabelled vertices are transparent
    # Workbench names the structure of a data file in the file's metadata
    assert dict(gii.meta) == {"AnatomicalStructurePrimary": "CortexRight"}


def test_a_label_named_zero_keeps_its_name() -> None:
    gii = round_trip(gifti_labels(np.array([0, 1]), {0: "background", 1: "region"}))
    assert gii.labeltable.get_labels_as_dict() == {0: "background", 1: "region"}
    assert not dict(gii.meta)


def test_save_gifti_labels_writes_the_image_of_gifti_labels(tmp_path: Path) -> None:
    labels = np.array([0, 1, 1, 2])
    names, colours = {1: "a", 2: "b"}, {1: (10, 20, 30)}
    target = save_gifti_labels(labels, tmp_path / "x.label.gii", names, colours, "left")
    assert target.read_bytes() == gifti_labels(labels, names, colours, "left").to_bytes()


@pytest.mark.parametrize(
    "labels", [np.array([0.5, 1.0]), np.zeros((2, 3), int), np.array(["a", "b"])]
)
def test_gifti_labels_of_labels_that_are_not_one_integer_per_vertex(labels: np.ndarray) -> None:
    with pytest.raises(ImageError, match="GIfTI labels must be one integer per vertex"):
        gifti_labels(labels)


def test_labels_round_trip_through_a_gifti_file(tmp_path: Path) -> None:
    labels = np.array([0, 3, 3, 7, 0, 12])
    target = save_gifti_labels(
        labels, tmp_path / "x.label.gii", {3: "Area 3", 7: "Area 7"}, {3: (255, 0, 0)}
    )
    assert target == tmp_path / "x.label.gii"
    gii = nib.load(target)
    assert gii.darrays[0].intent == nib.nifti1.intent_codes["NIFTI_INTENT_LABEL"]
    np.testing.assert_array_equal(gii.darrays[0].data, labels)
    table = gii.labeltable.get_labels_as_dict()
    assert table == {0: "unknown", 3: "Area 3", 7: "Area 7", 12: "12"}
    red = next(lab for lab in gii.labeltable.labels if lab.key == 3)
    assert (red.red, red.green, red.blue, red.alpha) == (1.0, 0.0, 0.0, 1.0)
    np.testing.assert_array_equal(providers.load_labels(target), labels)  # as maps read them
    assert sorted(p.name for p in tmp_path.iterdir()) == ["x.label.gii"]


def test_the_labels_of_an_embedded_hemisphere_round_trip(tmp_path: Path) -> None:
    left = neuratlas.get_map("desikan", "fsaverage5", "labelled").fetch(fragment="left")
    target = save_gifti_labels(left.labels, tmp_path / "lh.label.gii")
    np.testing.assert_array_equal(nib.load(target).darrays[0].data, left.labels)


@pytest.mark.parametrize(
    "labels", [np.array([0.5, 1.0]), np.zeros((2, 3), int), np.array(["a", "b"])]
)
def test_labels_that_are_not_one_integer_per_vertex(labels: np.ndarray, tmp_path: Path) -> None:
    with pytest.raises(ImageError, match="GIfTI labels must be one integer per vertex"):
        save_gifti_labels(labels, tmp_path / "x.label.gii")
    assert not any(tmp_path.iterdir())


@pytest.mark.parametrize(
    ("name", "stem"),
    [
        ("dk.label.gii", "dk"),
        ("dk.gii", "dk"),
        ("DK.LABEL.GII", "DK"),
        ("a.b.label.gii", "a.b"),
        ("dk.nii.gz", None),
        ("dk.func.gii.gz", None),
        (".gii", None),
    ],
)
def test_gifti_stem(name: str, stem: str | None) -> None:
    assert gifti_stem(Path("/some/folder") / name) == stem


# --- repr ----------------------------------------------------------------------------------------
def test_repr() -> None:
    mesh = octahedron()
    assert repr(mesh) == "<Mesh 6 vertices, 8 faces>"
    assert repr(mesh.with_labels([7, 7, 8, 8, 9, 9])) == "<Mesh 6 vertices, 8 faces, 3 labels>"
    merged = Mesh.merge({"left": mesh, "right": octahedron(40)})
    assert repr(merged) == "<Mesh 12 vertices, 16 faces>"


def test_repr_of_fsaverage5(fsaverage5: dict[str, Mesh]) -> None:
    assert repr(fsaverage5["left"]) == "<Mesh 10242 vertices, 20480 faces>"
