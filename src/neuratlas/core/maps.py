"""Map: a parcellation's regions drawn in one space, labelled or statistical.

A labelled map holds integer labels, one per region (a voxel or vertex belongs to
at most one region). A statistical map holds one value per region and voxel, e.g.
a probability. For a non-leaf region, fetching returns the union of its
descendants: the mask of all their labels, or the voxel-wise maximum of their maps.
"""

from __future__ import annotations

from functools import cached_property
from typing import TYPE_CHECKING, Any

import nibabel as nib
import numpy as np

from neuratlas.core import sparse_sources
from neuratlas.core.concept import Concept
from neuratlas.core.derived import maximum_probability_map
from neuratlas.core.map_index import MapIndex, MapType
from neuratlas.errors import NotFoundError
from neuratlas.registry import make_key
from neuratlas.volumes import providers
from neuratlas.volumes.masks import binary_mask
from neuratlas.volumes.properties import SpatialProperties, spatial_properties
from neuratlas.volumes.resampling import resample_to_resolution
from neuratlas.volumes.surfaces import Mesh
from neuratlas.volumes.volume import Volume, select_volume

if TYPE_CHECKING:
    import pandas as pd

    from neuratlas.configuration.loader import LoadedSpec
    from neuratlas.core.parcellation import Parcellation
    from neuratlas.core.references import References
    from neuratlas.core.region import Region
    from neuratlas.core.space import Space
    from neuratlas.volumes.sparse import SparseIndex

__all__ = ["Map", "MapIndex", "MapType"]

RECENT_REGIONS = 8  # region images kept in memory per map


class Map(Concept):
    """The map of one parcellation in one space.

    Use :meth:`fetch` for images, :meth:`get_index` / :meth:`get_region` to go
    between regions and labels.
    """

    def __init__(self, loaded: LoadedSpec, references: References) -> None:
        super().__init__(loaded, references)
        spec = loaded.spec
        self.maptype = MapType(spec.resolved_maptype)
        self.value_scale = float(spec.value_scale)
        self.volumes = [
            Volume(
                v.providers,
                space_id=spec.space.id,
                variant=v.variant,
                name=v.name,
                base=loaded.folder,
            )
            for v in spec.volumes
        ]
        self.indices: dict[str, list[MapIndex]] = {
            name: [MapIndex(i.volume, i.label, i.z, i.fragment) for i in entries]
            for name, entries in spec.indices.items()
        }
        self._derived = spec.derived

    # --- identity and links ----------------------------------------------------
    @cached_property
    def space(self) -> Space:
        """The space this map is drawn in."""
        return self._references.by_id(self._loaded.spec.space.id)

    @cached_property
    def parcellation(self) -> Parcellation:
        """The parcellation whose regions this map draws."""
        return self._references.by_id(self._loaded.spec.parcellation.id)

    @cached_property
    def key(self) -> str:
        return make_key(
            f"{self.parcellation.short_name} {self.space.short_name} {self.maptype.value}"
        )

    @property
    def lookup_names(self) -> tuple[str, ...]:
        return (
            self.name,
            f"{self.parcellation.short_name} {self.space.short_name} {self.maptype.value}",
        )

    @property
    def is_surface(self) -> bool:
        return self.space.is_surface

    @property
    def regions(self) -> list[str]:
        """Names of the regions this map indexes, in map order."""
        return list(self.indices)

    def __repr__(self) -> str:
        return (
            f"<Map {self.maptype.value} {self.parcellation.short_name!r} in "
            f"{self.space.short_name!r}: {len(self.indices)} regions>"
        )

    # --- regions <-> indices --------------------------------------------------
    def _resolve_region(self, region: str | Region) -> Region:
        return self.parcellation.get_region(region)

    def _mapped_names(self, region: Region) -> list[str]:
        """Names of the regions at or below ``region`` that this map indexes."""
        names = [r.name for r in region if r.name in self.indices]
        if not names:
            spaces = ", ".join(s.name for s in region.supported_spaces) or "no space"
            raise NotFoundError(
                f"region {region.name!r} is not mapped in {self.name!r}",
                hint=f"it is mapped in: {spaces}",
            )
        return names

    def get_index(self, region: str | Region) -> MapIndex:
        """The index of a region mapped directly in this map (the first, if several)."""
        return self.get_indices(region)[0]

    def get_indices(self, region: str | Region) -> list[MapIndex]:
        """All indices of the region and its mapped descendants."""
        resolved = self._resolve_region(region)
        return [i for name in self._mapped_names(resolved) for i in self.indices[name]]

    @cached_property
    def _by_index(self) -> dict[tuple[int, int | None, int | None], str]:
        out = {}
        for name, entries in self.indices.items():
            for i in entries:
                out[(i.volume, i.label, i.z)] = name
        return out

    def get_region(
        self, label: int | None = None, volume: int = 0, index: MapIndex | None = None
    ) -> Region:
        """The region that a label (labelled maps) or a 4D index (statistical maps) stands for.

        Raises
        ------
        NotFoundError
            No region has that label or index.
        """
        if index is not None:
            key = (index.volume, index.label, index.z)
        elif self.maptype is MapType.LABELLED:
            key = (volume, None if label is None else int(label), None)
        else:
            key = (volume, None, None if label is None else int(label))
        name = self._by_index.get(key)
        if name is None:
            raise NotFoundError(f"no region of {self.name!r} has index {key}")
        return self.parcellation.get_region(name)

    @cached_property
    def label_lut(self) -> dict[int, str]:
        """Label -> region name, for labelled maps with one volume."""
        return {
            i.label: name
            for name, entries in self.indices.items()
            for i in entries
            if i.label is not None
        }

    # --- assignment -------------------------------------------------------------
    def assign(self, item: Any, lower_threshold: float = 0.0) -> pd.DataFrame:
        """Assign a Point, PointCloud or image to this map's regions.

        Returns one row per (input structure, region) pair; the columns are
        defined once in :mod:`neuratlas.assignment.columns`.
        """
        return self._references.assign(self, item, lower_threshold)

    # --- statistical maps as a sparse index --------------------------------------
    @cached_property
    def sparse_sources(self) -> list[tuple[int, int | None]]:
        """The distinct (volume, z) images of a statistical map, sorted.

        Position ``k`` in this list is volume ``k`` of the map's sparse index.
        """
        return sorted(
            {(i.volume, i.z) for e in self.indices.values() for i in e},
            key=lambda vz: (vz[0], -1 if vz[1] is None else vz[1]),
        )

    @cached_property
    def sparse_entries(self) -> list[tuple[str, str | None]]:
        """(region name, fragment) of each volume of the sparse index, in order."""
        owner = {
            (i.volume, i.z): (name, i.fragment)
            for name, entries in self.indices.items()
            for i in entries
        }
        return [owner[source] for source in self.sparse_sources]

    @cached_property
    def sparse_index(self) -> SparseIndex:
        """All region maps of a statistical map in one sparse index (values unscaled).

        Built from the source images on first use and cached on disk (see
        :mod:`neuratlas.core.sparse_sources`); apply :meth:`scaled` to its values.
        """
        return sparse_sources.sparse_index_of(self)

    def scaled(self, values: np.ndarray) -> np.ndarray:
        """Stored values as this map's values (see :func:`sparse_sources.scaled`)."""
        return sparse_sources.scaled(values, self.value_scale)

    # --- fetching -------------------------------------------------------------
    def fetch(
        self,
        region_or_index: str | Region | MapIndex | None = None,
        *,
        index: MapIndex | None = None,
        region: str | Region | None = None,
        resolution_mm: float | None = None,
        fragment: str | None = None,
        variant: str | None = None,
    ) -> nib.Nifti1Image | Mesh:
        """Fetch the whole map, or one region's mask or probability map.

        Parameters
        ----------
        region_or_index : str, Region or MapIndex, optional
            Interpreted as ``index`` if it is a MapIndex, else as ``region``.
        index : MapIndex, optional
        region : str or Region, optional
        resolution_mm : float, optional
            Resample to isotropic voxels (nearest neighbour for labelled maps and
            masks, linear for statistical maps).
        fragment : str, optional
            For surface maps, ``"left"`` or ``"right"``.
        variant : str, optional
            For surface maps, the mesh to carry the labels (default: the space's
            first template, e.g. ``"pial"``).

        Returns
        -------
        nibabel.Nifti1Image or Mesh
            Labelled map: the label image, or a uint8 mask of the region.
            Statistical map: the region's float32 map (values scaled to
            probabilities), or the maximum-probability labelled map when no region
            is given. Surface maps: a :class:`Mesh` with per-vertex labels.
        """
        if isinstance(region_or_index, MapIndex):
            index = region_or_index
        elif region_or_index is not None:
            region = region_or_index
        if self.is_surface:
            return self._fetch_surface(region, fragment, variant)
        if region is not None:
            img = self._fetch_region(self._resolve_region(region))
        elif index is not None:
            img = self._fetch_index(index)
        else:
            img = self._fetch_whole()
        if resolution_mm is not None:
            linear = self.maptype is MapType.STATISTICAL and region is not None
            img = resample_to_resolution(img, resolution_mm, order=1 if linear else 0)
        return img

    def fetch_mask(self, region: str | Region) -> nib.Nifti1Image:
        """A binary (uint8) mask of ``region``: its labels, or where its map is above 0.

        For a non-leaf region the mask is the union of its descendants.
        """
        img = self.fetch(region=region)
        if self.maptype is MapType.LABELLED and not self.is_surface:
            return img  # already a uint8 0/1 mask
        return binary_mask(img)

    def spatial_props(self, region: str | Region) -> SpatialProperties:
        """Volume (mm³), connected components and bounding box of ``region``'s mask."""
        return spatial_properties(self.fetch_mask(region))

    # labelled ------------------------------------------------------------------
    def _label_image(self, volume: int = 0) -> nib.Nifti1Image:
        if self._derived is not None:
            source = self._references.by_id(self._derived.from_id)
            return maximum_probability_map(self, source, self._derived.threshold)
        if not 0 <= volume < len(self.volumes):
            raise NotFoundError(f"{self.name!r} has no volume {volume}")
        return self.volumes[volume].fetch()

    def _fetch_whole(self) -> nib.Nifti1Image:
        if self.maptype is MapType.LABELLED:
            return self._label_image(0)
        return self._statistical_whole()

    def _fetch_index(self, index: MapIndex) -> nib.Nifti1Image:
        if self.maptype is MapType.LABELLED:
            img = self._label_image(index.volume)
            if index.label is None:
                return img
            return _mask_of_labels(img, [index.label])
        return self._statistical_volume(index)

    def _fetch_region(self, region: Region) -> nib.Nifti1Image:
        # a few recent region images stay in memory: repeated fetches cost nothing
        recent = self.__dict__.setdefault("_recent", {})
        if region.name in recent:
            return recent[region.name]
        img = self._compute_region(region)
        if isinstance(img.dataobj, np.ndarray):
            img.dataobj.setflags(write=False)  # shared between callers: nobody edits it
        recent[region.name] = img
        while len(recent) > RECENT_REGIONS:
            recent.pop(next(iter(recent)))
        return img

    def _compute_region(self, region: Region) -> nib.Nifti1Image:
        indices = self.get_indices(region)
        if self.maptype is MapType.LABELLED:
            by_volume: dict[int, list[int]] = {}
            for i in indices:
                by_volume.setdefault(i.volume, []).append(int(i.label))
            masks = [
                _mask_of_labels(self._label_image(v), labels) for v, labels in by_volume.items()
            ]
            return _combine(masks, np.maximum)
        return _combine([self._statistical_volume(i) for i in indices], np.maximum)

    # statistical ---------------------------------------------------------------
    def _statistical_volume(self, index: MapIndex) -> nib.Nifti1Image:
        img = self.volumes[index.volume].fetch()
        if index.z is not None:
            img = select_volume(img, index.z)
        return nib.Nifti1Image(self.scaled(img.dataobj), img.affine)

    def _statistical_whole(self) -> nib.Nifti1Image:
        if len(self.volumes) == 1 and not any(
            i.z is not None for e in self.indices.values() for i in e
        ):
            return self.volumes[0].fetch()
        raise NotFoundError(
            f"{self.name!r} has one map per region: name a region",
            hint="fetch(region=...) for one region, or use the labelled "
            "maximum-probability map: get_map(parcellation, space, 'labelled')",
        )

    # surfaces ------------------------------------------------------------------
    def _fetch_surface(
        self, region: str | Region | None, fragment: str | None, variant: str | None
    ) -> Mesh:
        template = self.space.get_template(variant)
        volume = self.volumes[0]
        fragments = [fragment] if fragment else volume.fragments("gii-label")
        parts = {}
        for frag in fragments:
            mesh = template.fetch(fragment=frag)
            labels = providers.load_labels(volume.path("gii-label", frag))
            parts[str(frag)] = mesh.with_labels(labels)
        mesh = parts[str(fragments[0])] if len(parts) == 1 else Mesh.merge(parts)
        if region is None:
            return mesh
        resolved = self._resolve_region(region)
        wanted = [
            i
            for i in self.get_indices(resolved)
            if fragment is None or i.fragment in (None, fragment)
        ]
        mask = np.zeros(mesh.n_vertices, dtype=np.int64)
        for i in wanted:
            hit = mesh.labels == i.label
            if i.fragment is not None and mesh.hemispheres is not None:
                hit &= mesh.hemispheres == i.fragment
            mask[hit] = 1
        return mesh.with_labels(mask)


def _mask_of_labels(img: nib.Nifti1Image, labels: list[int]) -> nib.Nifti1Image:
    data = np.asanyarray(img.dataobj)
    mask = data == labels[0] if len(labels) == 1 else np.isin(data, labels)
    return nib.Nifti1Image(mask.view(np.uint8), img.affine)


def _combine(images: list[nib.Nifti1Image], op: np.ufunc) -> nib.Nifti1Image:
    if len(images) == 1:
        return images[0]
    data = np.asanyarray(images[0].dataobj).copy()
    for img in images[1:]:
        op(data, np.asanyarray(img.dataobj), out=data)
    return nib.Nifti1Image(data, images[0].affine)
