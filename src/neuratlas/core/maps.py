"""Map: a parcellation's regions drawn in one space, labelled or statistical.

A labelled map holds integer labels, one per region (a voxel or vertex belongs to
at most one region). A statistical map holds one value per region and voxel, e.g.
a probability. For a non-leaf region, fetching returns the union of its
descendants: the mask of all their labels, or the voxel-wise maximum of their maps.

The whole of a statistical map is a 4D image with one volume per region map, as
FSL ships its probabilistic atlases; its volumes are made when they are read, so
fetching it costs nothing until then (all 121 maps of Juelich take 1.9 GB). A
surface map is a :class:`~neuratlas.volumes.surfaces.Mesh` with one label per
vertex; a region's mask on it is a mesh whose labels are 0 and 1.

A map may hold its volume in several *variants*, e.g. the Allen annotation at
10, 25, 50 and 100 µm: volumes that all carry a ``variant``, the default first,
while the indices name volume 0 only. ``fetch(variant=...)`` reads one of them,
and ``fetch(resolution_mm=...)`` the one whose variant names that voxel size
(``"10 um"``, ``"0.5 mm"``) instead of resampling the default.
"""

from __future__ import annotations

import math
import re
from functools import cached_property
from typing import TYPE_CHECKING, Any

import nibabel as nib
import numpy as np

from neuratlas import matching
from neuratlas.core import sparse_sources
from neuratlas.core.concept import Concept
from neuratlas.core.derived import maximum_probability_map
from neuratlas.core.map_index import MapIndex, MapType
from neuratlas.core.region import Region
from neuratlas.errors import ArgumentError, ArgumentTypeError, ImageError, NotFoundError
from neuratlas.locations.pointcloud import PointCloud
from neuratlas.registry import make_key
from neuratlas.volumes import providers
from neuratlas.volumes.masks import binary_mask
from neuratlas.volumes.nifti import stack_image
from neuratlas.volumes.properties import (
    SpatialProperties,
    SurfaceProperties,
    spatial_properties,
    surface_properties,
)
from neuratlas.volumes.resampling import resample_to_resolution
from neuratlas.volumes.surfaces import Mesh
from neuratlas.volumes.volume import Volume, select_volume

if TYPE_CHECKING:
    import pandas as pd

    from neuratlas.configuration.loader import LoadedSpec
    from neuratlas.core.parcellation import Parcellation
    from neuratlas.core.space import Space
    from neuratlas.references import References
    from neuratlas.volumes.sparse import SparseIndex

__all__ = ["Map", "MapIndex", "MapType"]

RECENT_REGIONS = 8  # region images kept in memory per map
_VOXEL_SIZE = re.compile(r"(?<![\w.])(\d+(?:\.\d+)?)\s*(um|µm|mm)\b", re.IGNORECASE)


class Map(Concept):
    """The map of one parcellation in one space.

    Use :meth:`fetch` for images, :meth:`get_index` / :meth:`get_region` to go
    between regions and labels.
    """

    def __init__(self, loaded: LoadedSpec, references: References) -> None:
        super().__init__(loaded, references)
        # what finding a map needs comes from the header; volumes and indices from the
        # whole spec, validated on first use
        header = loaded.header
        self.maptype = MapType(header.maptype)
        self._derived = header.derived

    @cached_property
    def value_scale(self) -> float:
        """The factor that turns the files' values into the map's (e.g. % to probability)."""
        return float(self._loaded.spec.value_scale)

    @cached_property
    def volumes(self) -> list[Volume]:
        """The map's volumes (one per file or fragment), in the spec's order."""
        spec = self._loaded.spec
        folder = self._loaded.folder
        return [
            Volume(
                v.providers, space_id=spec.space.id, variant=v.variant, name=v.name, base=folder
            )
            for v in spec.volumes
        ]

    @cached_property
    def indices(self) -> dict[str, list[MapIndex]]:
        """Region name -> where the region is in the volumes (volume, label, z, fragment)."""
        return {
            name: [MapIndex(i.volume, i.label, i.z, i.fragment) for i in entries]
            for name, entries in self._loaded.spec.indices.items()
        }

    # --- identity and links ----------------------------------------------------
    @cached_property
    def space(self) -> Space:
        """The space this map is drawn in."""
        return self._references.by_id(self._loaded.header.space.id)

    @cached_property
    def parcellation(self) -> Parcellation:
        """The parcellation whose regions this map draws."""
        return self._references.by_id(self._loaded.header.parcellation.id)

    @property
    def derived_from(self) -> Map | None:
        """The statistical map this labelled map is computed from, or None for a map of files."""
        if self._derived is None:
            return None
        return self._references.by_id(self._derived.from_id)

    @property
    def threshold(self) -> float | None:
        """For a map derived from probabilities, the value above which it labels a voxel.

        ``0.0`` for the plain maximum-probability map, e.g. ``0.25`` for FSL's
        ``maxprob-thr25``; None for a map read from files.
        """
        return None if self._derived is None else float(self._derived.threshold)

    @cached_property
    def _short_description(self) -> str:
        # "<parcellation> <space> <type>", plus the threshold of thresholded maps, so
        # that the unthresholded and thresholded maximum-probability maps differ
        words = f"{self.parcellation.short_name} {self.space.short_name} {self.maptype.value}"
        if self.threshold:
            words += f" thr{round(self.threshold * 100):d}"
        return words

    @cached_property
    def key(self) -> str:
        return make_key(self._short_description)

    @property
    def lookup_names(self) -> tuple[str, ...]:
        return (self.name, self._short_description)

    @property
    def is_surface(self) -> bool:
        return self.space.is_surface

    @property
    def regions(self) -> list[str]:
        """Names of the regions this map indexes, in map order."""
        return list(self.indices)

    @cached_property
    def variants(self) -> list[str]:
        """The variants of this map's volume (e.g. ``"10 um"``), the default first.

        Empty unless the map has several volumes, each with a ``variant``, and its
        indices name volume 0 only (the other volumes draw the same labels).
        """
        if len(self.volumes) < 2 or not all(v.variant for v in self.volumes):
            return []
        if any(i.volume for entries in self.indices.values() for i in entries):
            return []
        return [str(v.variant) for v in self.volumes]

    def __repr__(self) -> str:
        return (
            f"<Map {self.maptype.value} {self.parcellation.short_name!r} in "
            f"{self.space.short_name!r}: {len(self.indices)} regions>"
        )

    # --- regions <-> indices --------------------------------------------------
    def _resolve_region(self, region: str | Region) -> Region:
        if not isinstance(region, str | Region):
            raise ArgumentTypeError(
                f"region must be a name or a Region, got {type(region).__name__}",
                hint="pass a region name such as 'hIP1 left', or index=... for a label",
            )
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
        region_or_index: str | Region | MapIndex | int | None = None,
        *,
        index: MapIndex | int | None = None,
        region: str | Region | None = None,
        resolution_mm: float | None = None,
        fragment: str | None = None,
        variant: str | None = None,
    ) -> nib.Nifti1Image | Mesh:
        """Fetch the whole map, or one region's mask or probability map.

        Parameters
        ----------
        region_or_index : str, Region, MapIndex or int, optional
            Interpreted as ``index`` if it is a MapIndex or an int, else as ``region``.
        index : MapIndex or int, optional
            An int is a label of a labelled map (in its first volume), or the position
            of a region map in a statistical map: ``fetch(index=k)`` is volume ``k`` of
            the 4D image ``fetch()`` gives, the map of ``sparse_entries[k]``.
        region : str or Region, optional
        resolution_mm : float, optional
            Isotropic voxel size. A map with variants (:attr:`variants`) reads the
            variant of that voxel size as it is; otherwise the coarsest variant
            at least as fine (else the finest), or the one volume, is resampled
            (nearest neighbour for labelled maps and masks, linear for statistical
            maps). Volumetric maps only.
        fragment : str, optional
            For surface maps, ``"left"`` or ``"right"``.
        variant : str, optional
            For surface maps, the mesh to carry the labels (default: the space's
            first template, e.g. ``"pial"``); for a map with variants, the volume
            to read (e.g. ``"10 um"``; default: the first).

        Returns
        -------
        nibabel.Nifti1Image or Mesh
            Labelled map: the label image, or a uint8 mask of the region.
            Statistical map: the region's float32 map (values scaled to
            probabilities), or, when no region is given, the 4D image of all region
            maps (volume ``k`` is the map of ``sparse_entries[k]``), whose volumes are
            made when they are read. Surface maps: a :class:`Mesh` with per-vertex
            labels, or with labels 0 and 1 for a region.

        Raises
        ------
        ArgumentError
            Both a region and an index, or ``resolution_mm`` for a surface map.
        ArgumentTypeError
            An index that is neither a MapIndex nor an int, or a region that is
            neither a name nor a Region.
        NotFoundError
            No region of the map matches, or has that index; or a volumetric map
            has no such variant.
        """
        if isinstance(region_or_index, MapIndex | int | np.integer) and not isinstance(
            region_or_index, bool
        ):
            index = region_or_index
        elif region_or_index is not None:
            region = region_or_index
        if region is not None and index is not None:
            raise ArgumentError(
                f"fetch from {self.name!r} got both a region and an index",
                hint="give one of them",
            )
        if region is not None:
            region = self._resolve_region(region)
        if index is not None:
            index = self._as_index(index)
        if self.is_surface:
            if resolution_mm is not None:
                raise ArgumentError(
                    f"{self.name!r} is a surface map: it has no voxels to resample",
                    hint="leave out resolution_mm (--resolution-mm) for surface maps",
                )
            return self._fetch_surface(region, index, fragment, variant)
        chosen, resolution_mm = self._variant_choice(variant, resolution_mm)
        source = self if chosen == 0 else self._variant_view(chosen)
        if region is not None:
            img = source._fetch_region(region)
        elif index is not None:
            img = source._fetch_index(index)
        else:
            img = source._fetch_whole()
        if resolution_mm is not None:
            linear = self.maptype is MapType.STATISTICAL
            img = resample_to_resolution(img, resolution_mm, order=1 if linear else 0)
        return img

    def fetch_mask(self, region: str | Region, threshold: float = 0.0) -> nib.Nifti1Image | Mesh:
        """A binary mask of ``region``: where it has its labels, or its map is above ``threshold``.

        For a non-leaf region the mask is the union of its descendants.

        Parameters
        ----------
        region : str or Region
        threshold : float
            For statistical maps: the mask is where the region's value (e.g. its
            probability) is strictly above it. Labelled maps take only 0.

        Returns
        -------
        nibabel.Nifti1Image or Mesh
            A uint8 0/1 image, or for a surface map a Mesh with labels 0 and 1.

        Raises
        ------
        ArgumentError
            A threshold that is negative or not finite, a threshold for a labelled
            map, or one that leaves no voxel of the region.
        ArgumentTypeError
            A threshold that is not a number.
        """
        if isinstance(threshold, bool) or not isinstance(
            threshold, int | float | np.integer | np.floating
        ):
            raise ArgumentTypeError(
                f"threshold must be a number, got {type(threshold).__name__}",
                hint="pass a probability such as 0.5",
            )
        threshold = float(threshold)
        if not (np.isfinite(threshold) and threshold >= 0):
            raise ArgumentError(
                f"threshold must be a finite number >= 0, got {threshold}",
                hint="pass a probability such as 0.5",
            )
        if self.maptype is MapType.LABELLED:
            if threshold != 0:
                raise ArgumentError(
                    f"{self.name!r} is a labelled map: a threshold needs a statistical map",
                    hint="use the parcellation's statistical map, e.g. "
                    "get_map(parcellation, space, 'statistical')",
                )
            return self.fetch(region=region)  # already a 0/1 mask
        img = self.fetch(region=region)
        mask = binary_mask(img, threshold)
        if threshold > 0 and not np.asanyarray(mask.dataobj).any():
            name = self._resolve_region(region).name
            peak = float(np.nanmax(np.asanyarray(img.dataobj)))
            raise ArgumentError(
                f"no voxel of {name!r} in {self.name!r} is above the threshold {threshold:g}",
                hint=f"its highest value is {peak:.3g}: use a lower threshold",
            )
        return mask

    def spatial_props(
        self, region: str | Region, threshold: float = 0.0
    ) -> SpatialProperties | SurfaceProperties:
        """The size, connected components, centroid and bounding box of ``region``'s mask.

        The mask is :meth:`fetch_mask` (with ``threshold``). A volumetric map gives
        :class:`SpatialProperties` (volume in mm³); a surface map gives
        :class:`SurfaceProperties` (area in mm², centroid on the mesh).
        """
        mask = self.fetch_mask(region, threshold)
        if isinstance(mask, Mesh):
            return surface_properties(mask)
        return spatial_properties(mask)

    def compute_centroids(self, region: str | Region, threshold: float = 0.0) -> PointCloud:
        """The centroids of ``region``'s connected components, largest first, in this space."""
        props = self.spatial_props(region, threshold)
        return PointCloud([c.centroid_mm for c in props.components], self.space)

    # variants ------------------------------------------------------------------
    def _variant_choice(
        self, variant: str | None, resolution_mm: float | None
    ) -> tuple[int, float | None]:
        """The volume to read in place of volume 0, and the resolution left to resample to."""
        names = self.variants
        if resolution_mm is not None and names:
            # checked before a variant is chosen: the files may be large downloads
            _check_resolution(resolution_mm)
        if variant is not None:
            if not names:
                raise NotFoundError(
                    f"{self.name!r} has no variants: its volume comes in one version",
                    hint="leave out variant (--variant)",
                )
            scored = [(matching.score(variant, name), k) for k, name in enumerate(names)]
            best, chosen = max(scored, key=lambda sk: sk[0])
            if best <= 0:
                raise NotFoundError(f"{self.name!r} has no variant {variant!r}", suggestions=names)
        elif resolution_mm is not None and names:
            chosen = _nearest_finer(names, resolution_mm)
        else:
            return 0, resolution_mm
        size = variant_resolution_mm(names[chosen])
        if resolution_mm is not None and size is not None and _same_size(size, resolution_mm):
            resolution_mm = None  # the variant is on that grid already
        return chosen, resolution_mm

    def _variant_view(self, chosen: int) -> Map:
        """This map reading variant ``chosen`` as its volume 0 (kept for the next fetch)."""
        views = self.__dict__.setdefault("_variant_views", {})
        if chosen not in views:
            # a map of its own (no cached image is shared), reading that volume
            view = type(self)(self._loaded, self._references)
            view.volumes = [self.volumes[chosen]]
            views[chosen] = view
        return views[chosen]

    def _as_index(self, index: MapIndex | int) -> MapIndex:
        """A MapIndex for what ``fetch(index=...)`` was given (see :meth:`fetch`)."""
        if isinstance(index, MapIndex):
            return index
        if isinstance(index, bool) or not isinstance(index, int | np.integer):
            raise ArgumentTypeError(
                f"index must be a MapIndex or an int, got {type(index).__name__}",
                hint="pass a label (labelled maps), the position of a region map "
                "(statistical maps), a MapIndex, or region=...",
            )
        k = int(index)
        if self.maptype is MapType.LABELLED:
            if k not in self.label_lut:
                raise NotFoundError(
                    f"no region of {self.name!r} has the label {k}",
                    hint="Map.label_lut lists the labels and their regions",
                )
            return MapIndex(volume=0, label=k)
        sources = self.sparse_sources
        if not 0 <= k < len(sources):
            raise NotFoundError(
                f"{self.name!r} has {len(sources)} region maps: there is no map {k}",
                hint=f"pass 0 to {len(sources) - 1}; Map.sparse_entries names them",
            )
        volume, z = sources[k]
        return MapIndex(volume=volume, z=z)

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
        return self._probability_stack()

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

    def _probability_stack(self) -> nib.Nifti1Image:
        """All region maps as one lazy 4D image, in the order of :attr:`sparse_sources`."""
        sources = [MapIndex(volume=v, z=z) for v, z in self.sparse_sources]
        first = self._statistical_volume(sources[0])

        def volume(k: int) -> np.ndarray:
            img = first if k == 0 else self._statistical_volume(sources[k])
            if img.shape != first.shape or not np.allclose(img.affine, first.affine):
                raise ImageError(
                    f"the region maps of {self.name!r} lie on different grids: "
                    f"map {k} has shape {img.shape}, map 0 {first.shape}",
                    hint="fetch one region at a time: fetch(region=...)",
                )
            return np.asanyarray(img.dataobj)

        return stack_image(first.shape, len(sources), np.float32, first.affine, volume)

    # surfaces ------------------------------------------------------------------
    def _fetch_surface(
        self,
        region: Region | None,
        index: MapIndex | None,
        fragment: str | None,
        variant: str | None,
    ) -> Mesh:
        template = self.space.get_template(variant)
        volume = self.volumes[0]
        label_format = providers.label_format(volume.formats)
        fragments = [fragment] if fragment else volume.fragments(label_format)
        parts = {}
        for frag in fragments:
            mesh = template.fetch(fragment=frag)
            labels = providers.surface_labels(volume.providers, frag, volume.base)
            parts[str(frag)] = mesh.with_labels(labels)
        mesh = parts[str(fragments[0])] if len(parts) == 1 else Mesh.merge(parts)
        if region is None and index is None:
            return mesh
        wanted = [
            i
            for i in (self.get_indices(region) if region is not None else [index])
            if fragment is None or i.fragment in (None, fragment)
        ]
        mask = np.zeros(mesh.n_vertices, dtype=np.uint8)
        for i in wanted:
            hit = mesh.labels == i.label
            if i.fragment is not None and mesh.hemispheres is not None:
                hit &= mesh.hemispheres == i.fragment
            mask[hit] = 1
        return mesh.with_labels(mask)


def variant_resolution_mm(variant: str) -> float | None:
    """The voxel size (mm) that a variant's name states (``"10 um"`` -> 0.01), else None."""
    found = _VOXEL_SIZE.search(variant)
    if found is None:
        return None
    size = float(found.group(1))
    return size if found.group(2).lower() == "mm" else size / 1000.0


def _check_resolution(resolution_mm: object) -> None:
    if isinstance(resolution_mm, bool) or not isinstance(resolution_mm, int | float | np.number):
        raise ArgumentTypeError(
            f"resolution_mm must be a number, got {type(resolution_mm).__name__}",
            hint="give the voxel size in mm, e.g. 0.01",
        )
    if not (math.isfinite(resolution_mm) and resolution_mm > 0):
        raise ArgumentError(
            f"resolution_mm must be positive, got {resolution_mm}",
            hint="give the voxel size in mm, e.g. 0.01",
        )


def _same_size(a_mm: float, b_mm: float) -> bool:
    # "0.01" and 10 um / 1000 may differ in the last bits of a float
    return math.isclose(a_mm, b_mm, rel_tol=1e-6)


def _nearest_finer(names: list[str], resolution_mm: float) -> int:
    """The variant for ``resolution_mm``: the coarsest at least as fine, else the finest.

    Variants that state no voxel size are not candidates; with none stating one,
    the default (0).
    """
    sizes = [(variant_resolution_mm(n), k) for k, n in enumerate(names)]
    known = [(size, k) for size, k in sizes if size is not None]
    if not known:
        return 0
    fine_enough = [
        sk for sk in known if sk[0] <= resolution_mm or _same_size(sk[0], resolution_mm)
    ]
    if fine_enough:
        return max(fine_enough)[1]
    return min(known)[1]


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
