"""Spatial properties of a region mask: its size, connected components, bounding box.

A volume mask (:class:`SpatialProperties`) has a volume in mm³; a surface mask
(:class:`SurfaceProperties`) has an area in mm². Both answer ``measure`` ("volume"
or "area"), ``unit`` ("mm³" or "mm²") and ``size`` (in that unit), so that one
display shows either; their components answer ``size`` the same way.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import nibabel as nib
import numpy as np

from neuratlas.errors import ImageError
from neuratlas.volumes.grid import voxel_to_world, voxel_volume_mm3
from neuratlas.volumes.surfaces import Mesh

Corners = tuple[tuple[float, float, float], tuple[float, float, float]]


def _empty_mask() -> ImageError:
    return ImageError(
        "the region mask is empty",
        hint="the region is not mapped on this grid; check the space and map type",
    )


@dataclass(frozen=True)
class Component:
    """One connected component (26-connectivity) of a volume mask."""

    centroid_mm: tuple[float, float, float]
    volume_mm3: float
    voxels: int

    @property
    def size(self) -> float:
        """The volume (mm³)."""
        return self.volume_mm3


@dataclass(frozen=True)
class SpatialProperties:
    """Volume (mm³), connected components largest first, and bounding box (mm).

    The bounding box spans the centres of the outermost voxels, in physical
    coordinates: ``bbox_mm = ((xmin, ymin, zmin), (xmax, ymax, zmax))``.
    """

    measure: ClassVar[str] = "volume"
    unit: ClassVar[str] = "mm³"

    volume_mm3: float
    components: tuple[Component, ...]
    bbox_mm: Corners

    @property
    def size(self) -> float:
        """The volume (mm³)."""
        return self.volume_mm3

    @property
    def centroid_mm(self) -> tuple[float, float, float]:
        """The centroid of the whole mask (volume-weighted over components)."""
        weights = np.array([c.voxels for c in self.components], dtype=float)
        points = np.array([c.centroid_mm for c in self.components])
        return tuple(float(v) for v in (weights @ points) / weights.sum())

    def as_dict(self) -> dict:
        return {
            "volume_mm3": self.volume_mm3,
            "centroid_mm": list(self.centroid_mm),
            "bbox_mm": [list(self.bbox_mm[0]), list(self.bbox_mm[1])],
            "components": [
                {
                    "centroid_mm": list(c.centroid_mm),
                    "volume_mm3": c.volume_mm3,
                    "voxels": c.voxels,
                }
                for c in self.components
            ],
        }


def spatial_properties(mask: nib.Nifti1Image) -> SpatialProperties:
    """Compute the spatial properties of a binary mask.

    Parameters
    ----------
    mask : nibabel.Nifti1Image
        Non-zero voxels belong to the region.

    Raises
    ------
    ImageError
        The mask is empty: the region is not mapped in this image.
    """
    # heavy: SciPy adds ~0.15 s to the import of every module that fetches maps
    from scipy import ndimage

    data = np.asanyarray(mask.dataobj) > 0
    if not data.any():
        raise _empty_mask()
    labels, n = ndimage.label(data, structure=np.ones((3, 3, 3), dtype=bool))
    index = np.arange(1, n + 1)
    counts = np.bincount(labels.ravel(), minlength=n + 1)[1:]
    centres = np.array(ndimage.center_of_mass(data, labels, index)).reshape(n, 3)
    centres_mm = voxel_to_world(mask.affine, centres)
    unit = voxel_volume_mm3(mask.affine)
    order = np.argsort(-counts, kind="stable")
    components = tuple(
        Component(tuple(float(v) for v in centres_mm[i]), float(counts[i] * unit), int(counts[i]))
        for i in order
    )
    ijk = np.argwhere(data)
    corners = voxel_to_world(mask.affine, np.array([ijk.min(0), ijk.max(0)]))
    lo, hi = corners.min(0), corners.max(0)
    return SpatialProperties(
        volume_mm3=float(data.sum() * unit),
        components=components,
        bbox_mm=(tuple(float(v) for v in lo), tuple(float(v) for v in hi)),
    )


@dataclass(frozen=True)
class SurfaceComponent:
    """One connected component of a surface mask (vertices joined by mesh edges)."""

    centroid_mm: tuple[float, float, float]
    area_mm2: float
    vertices: int

    @property
    def size(self) -> float:
        """The area (mm²)."""
        return self.area_mm2


@dataclass(frozen=True)
class SurfaceProperties:
    """Area (mm²), connected components largest first, centroid and bounding box (mm).

    The area of a vertex is a third of the area of each triangle it is a corner of
    (:meth:`Mesh.vertex_areas`), so the areas of the regions of a parcellation add
    up to the area of the mesh. A centroid is the vertex of the mask (or component)
    nearest to the area-weighted mean of its vertices: a point on the surface, unlike
    the mean itself, which lies inside the folded cortex. The bounding box spans the
    vertices of the mask.
    """

    measure: ClassVar[str] = "area"
    unit: ClassVar[str] = "mm²"

    area_mm2: float
    components: tuple[SurfaceComponent, ...]
    bbox_mm: Corners
    centroid_mm: tuple[float, float, float]

    @property
    def size(self) -> float:
        """The area (mm²)."""
        return self.area_mm2

    def as_dict(self) -> dict:
        return {
            "area_mm2": self.area_mm2,
            "centroid_mm": list(self.centroid_mm),
            "bbox_mm": [list(self.bbox_mm[0]), list(self.bbox_mm[1])],
            "components": [
                {
                    "centroid_mm": list(c.centroid_mm),
                    "area_mm2": c.area_mm2,
                    "vertices": c.vertices,
                }
                for c in self.components
            ],
        }


def surface_properties(mesh: Mesh) -> SurfaceProperties:
    """Compute the spatial properties of a per-vertex mask on a mesh.

    Parameters
    ----------
    mesh : Mesh
        Vertices whose label is non-zero belong to the region.

    Raises
    ------
    ImageError
        The mesh carries no labels, or none is non-zero.
    """
    # heavy: SciPy adds ~0.15 s to the import of every module that fetches maps
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    if mesh.labels is None:
        raise ImageError(
            "the mesh carries no mask", hint="fetch the region's mask (Map.fetch_mask) first"
        )
    inside = np.asarray(mesh.labels) > 0
    if not inside.any():
        raise _empty_mask()
    areas = mesh.vertex_areas()
    # the graph of mesh edges between vertices of the mask
    a, b = mesh.faces, np.roll(mesh.faces, 1, axis=1)
    keep = inside[a] & inside[b]
    graph = coo_matrix(
        (np.ones(int(keep.sum()), np.int8), (a[keep], b[keep])),
        shape=(mesh.n_vertices, mesh.n_vertices),
    )
    _, labels = connected_components(graph, directed=False)
    members = np.flatnonzero(inside)
    found = labels[members]
    parts = [members[found == c] for c in np.unique(found)]
    parts.sort(key=lambda part: (-areas[part].sum(), part[0]))
    components = tuple(
        SurfaceComponent(_centroid(mesh, areas, part), float(areas[part].sum()), len(part))
        for part in parts
    )
    points = mesh.vertices[members]
    return SurfaceProperties(
        area_mm2=float(areas[members].sum()),
        components=components,
        bbox_mm=(
            tuple(float(v) for v in points.min(0)),
            tuple(float(v) for v in points.max(0)),
        ),
        centroid_mm=_centroid(mesh, areas, members),
    )


def _centroid(mesh: Mesh, areas: np.ndarray, vertices: np.ndarray) -> tuple[float, float, float]:
    """The vertex of ``vertices`` nearest to their area-weighted mean."""
    points = mesh.vertices[vertices]
    weights = areas[vertices]
    # a component of isolated vertices has no area: then every vertex counts the same
    mean = np.average(points, axis=0, weights=weights if weights.sum() > 0 else None)
    nearest = points[np.argmin(((points - mean) ** 2).sum(1))]
    return tuple(float(v) for v in nearest)
