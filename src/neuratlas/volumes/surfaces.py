"""Surface meshes with optional per-vertex labels, and writing labels as GIfTI."""

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


def save_gifti_labels(
    labels: np.ndarray,
    path: str | Path,
    names: Mapping[int, str] | None = None,
    colours: Mapping[int, tuple[int, int, int]] | None = None,
) -> Path:
    """Write per-vertex integer labels as a GIfTI label file, atomically.

    Parameters
    ----------
    labels : ndarray, shape (V,)
        One integer label per vertex of one mesh (one hemisphere).
    path : path-like
        The file to write (``.label.gii``, see :data:`GIFTI_SUFFIXES`).
    names : mapping of int to str, optional
        The name of each label, for the file's label table (label 0 is ``"unknown"``
        unless named); labels without a name are called by their number.
    colours : mapping of int to (r, g, b), optional
        Colours (0..255) of the labels in the table.

    Returns
    -------
    pathlib.Path
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
    gii = nib.gifti.GiftiImage(
        labeltable=table,
        darrays=[
            nib.gifti.GiftiDataArray(
                values.astype(np.int32), intent="NIFTI_INTENT_LABEL", datatype="NIFTI_TYPE_INT32"
            )
        ],
    )
    target = Path(path)
    with atomic_write(target) as handle:
        handle.write(gii.to_bytes())
    return target
