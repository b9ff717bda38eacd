"""Surface meshes with optional per-vertex labels."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from neuratlas.errors import ImageError


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
