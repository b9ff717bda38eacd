"""Spatial properties of a region mask: volume, connected components, bounding box."""

from __future__ import annotations

from dataclasses import dataclass

import nibabel as nib
import numpy as np

from neuratlas.errors import ImageError
from neuratlas.volumes.grid import voxel_to_world, voxel_volume_mm3


@dataclass(frozen=True)
class Component:
    """One connected component (26-connectivity) of a mask."""

    centroid_mm: tuple[float, float, float]
    volume_mm3: float
    voxels: int


@dataclass(frozen=True)
class SpatialProperties:
    """Volume (mm³), connected components largest first, and bounding box (mm).

    The bounding box spans the centres of the outermost voxels, in physical
    coordinates: ``bbox_mm = ((xmin, ymin, zmin), (xmax, ymax, zmax))``.
    """

    volume_mm3: float
    components: tuple[Component, ...]
    bbox_mm: tuple[tuple[float, float, float], tuple[float, float, float]]

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
        raise ImageError(
            "the region mask is empty",
            hint="the region is not mapped on this grid; check the space and map type",
        )
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
