"""Surface meshes with optional per-vertex labels, and their GIfTI images.

:func:`gifti_mesh` and :func:`gifti_labels` make the GIfTI images of one
hemisphere (a ``.surf.gii`` mesh and a ``.label.gii`` label file) the way
FreeSurfer's ``mris_convert`` and Connectome Workbench write them, so that a
viewer pairs a label file with its mesh; :func:`save_gifti_labels` writes labels
to a file.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import nibabel as nib
import numpy as np

from neuratlas.errors import ImageError
from neuratlas.retrieval.cache import atomic_write

#: The file name endings of a GIfTI label file (``.label.gii`` is what viewers expect).
GIFTI_SUFFIXES = (".label.gii", ".gii")
#: The GIfTI ``AnatomicalStructurePrimary`` of each hemisphere name that meshes use
#: (:meth:`Mesh.split`): Workbench shows a file on the surface of its structure only.
GIFTI_STRUCTURES = {"left": "CortexLeft", "right": "CortexRight"}


@dataclass(frozen=True)
class Mesh:
    """A triangle mesh in a surface space.

    Attributes
    ----------
    vertices : ndarray, shape (V, 3)
        Vertex coordinates in mm.
    faces : ndarray, shape (F, 3)
        Vertex indices of each triangle.
    labels : ndarray, shape (V,), optional
        One integer label per vertex (0 = unlabelled).
    hemispheres : ndarray of str, shape (V,), optional
        ``"left"``/``"right"`` per vertex when hemispheres were merged.
    """

    vertices: np.ndarray
    faces: np.ndarray
    labels: np.ndarray | None = None
    hemispheres: np.ndarray | None = None

    def __post_init__(self) -> None:
        if self.labels is not None and len(self.labels) != len(self.vertices):
            raise ImageError(
                f"{len(self.labels)} labels for a mesh of {len(self.vertices)} vertices",
                hint="the label file does not belong to this mesh (check the surface space)",
            )

    @property
    def n_vertices(self) -> int:
        return len(self.vertices)

    def with_labels(self, labels: np.ndarray) -> Mesh:
        """The same mesh carrying ``labels``."""
        return Mesh(self.vertices, self.faces, np.asarray(labels), self.hemispheres)

    def vertex_areas(self) -> np.ndarray:
        """The area (mm²) each vertex stands for: a third of each triangle it is a corner of.

        The areas of all vertices add up to the area of the mesh, so the areas of
        disjoint vertex masks add up too.
        """
        corners = self.vertices[self.faces]  # (F, 3 corners, 3 coordinates)
        cross = np.cross(corners[:, 1] - corners[:, 0], corners[:, 2] - corners[:, 0])
        third = np.linalg.norm(cross, axis=1) / 6.0  # a triangle's area is |cross| / 2
        return np.bincount(self.faces.ravel(), np.repeat(third, 3), minlength=self.n_vertices)

    def split(self) -> dict[str, Mesh]:
        """The hemispheres of a merged mesh as separate meshes (the inverse of :meth:`merge`).

        A mesh without hemispheres comes back whole, under the name ``""``.
        """
        if self.hemispheres is None:
            return {"": self}
        parts = {}
        for name in dict.fromkeys(self.hemispheres.tolist()):
            keep = self.hemispheres == name
            renumber = np.cumsum(keep) - 1  # old vertex index -> index within the part
            faces = self.faces[keep[self.faces].all(axis=1)]
            labels = None if self.labels is None else self.labels[keep]
            parts[str(name)] = Mesh(self.vertices[keep], renumber[faces], labels)
        return parts

    @staticmethod
    def merge(parts: dict[str, Mesh]) -> Mesh:
        """Join meshes (e.g. left and right hemisphere) into one, offsetting faces."""
        vertices, faces, labels, hemis = [], [], [], []
        offset = 0
        for name, mesh in parts.items():
            vertices.append(mesh.vertices)
            faces.append(mesh.faces + offset)
            offset += mesh.n_vertices
            hemis.append(np.full(mesh.n_vertices, name))
            if mesh.labels is not None:
                labels.append(mesh.labels)
        merged_labels = np.concatenate(labels) if len(labels) == len(parts) else None
        return Mesh(np.vstack(vertices), np.vstack(faces), merged_labels, np.concatenate(hemis))

    def __repr__(self) -> str:
        extra = "" if self.labels is None else f", {len(np.unique(self.labels))} labels"
        return f"<Mesh {self.n_vertices} vertices, {len(self.faces)} faces{extra}>"


def gifti_stem(path: str | Path) -> str | None:
    """The name of ``path`` without its GIfTI suffix, or None if it is not a GIfTI name."""
    name = Path(path).name
    suffix = next((s for s in GIFTI_SUFFIXES if name.lower().endswith(s)), None)
    return None if suffix is None or len(name) == len(suffix) else name[: -len(suffix)]


def gifti_mesh(mesh: Mesh, hemisphere: str | None = None) -> nib.gifti.GiftiImage:
    """The GIfTI image of a mesh: its vertices (mm) and its triangles.

    Parameters
    ----------
    mesh : Mesh
        One hemisphere's mesh (see :meth:`Mesh.split`); its labels are not written
        (they go to a label file, :func:`gifti_labels`).
    hemisphere : str, optional
        ``"left"`` or ``"right"``: recorded as the anatomical structure
        (``CortexLeft``, ``CortexRight``), as FreeSurfer and Workbench do. Other
        names, and None, record none.

    Returns
    -------
    nibabel.gifti.GiftiImage
        A ``NIFTI_INTENT_POINTSET`` array of float32 coordinates, shape (V, 3), and
        a ``NIFTI_INTENT_TRIANGLE`` array of int32 vertex indices, shape (F, 3);
        ``to_bytes()`` gives the ``.surf.gii`` file.

    Raises
    ------
    ImageError
        Vertices or faces that are not (N, 3) arrays, faces that are not integers,
        or faces naming a vertex the mesh does not have.
    """
    vertices = np.asarray(mesh.vertices)
    faces = np.asarray(mesh.faces)
    for what, values, kinds in (("vertices", vertices, "biuf"), ("faces", faces, "biu")):
        if values.ndim != 2 or values.shape[1] != 3 or values.dtype.kind not in kinds:
            raise ImageError(
                f"mesh {what} must be an (N, 3) array of numbers, got {values.dtype} of "
                f"shape {values.shape}",
                hint="pass the mesh of one hemisphere, as Mesh.split() gives it",
            )
    if faces.size and (faces.min() < 0 or faces.max() >= len(vertices)):
        raise ImageError(
            f"mesh faces name vertices {faces.min()}..{faces.max()}, but the mesh has "
            f"{len(vertices)} vertices",
            hint="the faces do not belong to these vertices",
        )
    structure = _structure(hemisphere)
    # float32 and int32 are the types every GIfTI reader (Workbench, FreeSurfer) takes
    points = nib.gifti.GiftiDataArray(
        vertices.astype(np.float32),
        intent="NIFTI_INTENT_POINTSET",
        datatype="NIFTI_TYPE_FLOAT32",
        meta=structure,
    )
    triangles = nib.gifti.GiftiDataArray(
        faces.astype(np.int32), intent="NIFTI_INTENT_TRIANGLE", datatype="NIFTI_TYPE_INT32"
    )
    # FreeSurfer and Workbench name the structure of a mesh on its point set
    return nib.gifti.GiftiImage(darrays=[points, triangles])


def gifti_labels(
    labels: np.ndarray,
    names: Mapping[int, str] | None = None,
    colours: Mapping[int, tuple[int, int, int]] | None = None,
    hemisphere: str | None = None,
) -> nib.gifti.GiftiImage:
    """The GIfTI label image of per-vertex integer labels, with a label table.

    Parameters
    ----------
    labels : ndarray, shape (V,)
        One integer label per vertex of one mesh (one hemisphere).
    names : mapping of int to str, optional
        The name of each label, for the label table (label 0 is ``"unknown"``
        unless named); labels without a name are called by their number.
    colours : mapping of int to (r, g, b), optional
        Colours (0..255) of the labels in the table; unnamed colours are white, and
        label 0 is transparent.
    hemisphere : str, optional
        ``"left"`` or ``"right"``: recorded as the anatomical structure, as in
        :func:`gifti_mesh`.

    Returns
    -------
    nibabel.gifti.GiftiImage
        One ``NIFTI_INTENT_LABEL`` array of int32; ``to_bytes()`` gives the
        ``.label.gii`` file.

    Raises
    ------
    ImageError
        Labels that are not one integer per vertex.
    """
    values = np.asarray(labels)
    if values.ndim != 1 or values.dtype.kind not in "biu":
        raise ImageError(
            f"GIfTI labels must be one integer per vertex, got {values.dtype} of shape "
            f"{values.shape}",
            hint="pass the labels of one hemisphere's mesh",
        )
    table = nib.gifti.GiftiLabelTable()
    named = {0: "unknown", **dict(names or {})}
    for key in sorted(set(np.unique(values).tolist()) | set(named)):
        label = nib.gifti.GiftiLabel(int(key))
        label.label = named.get(key, str(key))
        r, g, b = (colours or {}).get(key, (0, 0, 0) if key == 0 else (255, 255, 255))
        label.red, label.green, label.blue = r / 255, g / 255, b / 255
        label.alpha = 0.0 if key == 0 else 1.0
        table.labels.append(label)
    # Workbench names the structure of a data file (labels, values) in the file's metadata
    return nib.gifti.GiftiImage(
        meta=_structure(hemisphere),
        labeltable=table,
        darrays=[
            nib.gifti.GiftiDataArray(
                values.astype(np.int32), intent="NIFTI_INTENT_LABEL", datatype="NIFTI_TYPE_INT32"
            )
        ],
    )


def _structure(hemisphere: str | None) -> nib.gifti.GiftiMetaData:
    """The GIfTI metadata naming the anatomical structure of a hemisphere, if it has one."""
    structure = GIFTI_STRUCTURES.get(hemisphere or "")
    return nib.gifti.GiftiMetaData({"AnatomicalStructurePrimary": structure} if structure else {})


def save_gifti_labels(
    labels: np.ndarray,
    path: str | Path,
    names: Mapping[int, str] | None = None,
    colours: Mapping[int, tuple[int, int, int]] | None = None,
    hemisphere: str | None = None,
) -> Path:
    """Write per-vertex integer labels as a GIfTI label file, atomically.

    Parameters
    ----------
    labels : ndarray, shape (V,)
        One integer label per vertex of one mesh (one hemisphere).
    path : path-like
        The file to write (``.label.gii``, see :data:`GIFTI_SUFFIXES`).
    names, colours, hemisphere
        The label table and the structure, as for :func:`gifti_labels`.

    Returns
    -------
    pathlib.Path

    Raises
    ------
    ImageError
        Labels that are not one integer per vertex; nothing is written.
    """
    gii = gifti_labels(labels, names, colours, hemisphere)
    target = Path(path)
    with atomic_write(target) as handle:
        handle.write(gii.to_bytes())
    return target
