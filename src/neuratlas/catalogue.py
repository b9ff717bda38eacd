"""The catalogue: every atlas, space, parcellation and map of the active configuration.

Built lazily from one or more configuration folders (the embedded ``builtin``
folder first, then any extensions); later folders replace entries with the same
``@id``. Building reads JSON only: no network, no image data.

The catalogue is the layer that builds the core objects and answers their
questions about one another (it implements :class:`neuratlas.core.references.References`);
the objects themselves never import it.
"""

from __future__ import annotations

import os
import warnings
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

from neuratlas.configuration.loader import BUILTIN, LoadedSpec, SpecWarning, load_folder
from neuratlas.configuration.specs import AtlasSpec, MapSpec, ParcellationSpec, SpaceSpec
from neuratlas.core import references
from neuratlas.core.atlas import Atlas
from neuratlas.core.map_index import MapType
from neuratlas.core.parcellation import Parcellation
from neuratlas.errors import NotFoundError, SpecError
from neuratlas.registry import InstanceTable

if TYPE_CHECKING:
    import pandas as pd

    from neuratlas.assignment.related import RegionRelation
    from neuratlas.core.maps import Map
    from neuratlas.core.region import Region
    from neuratlas.core.space import Space

ENV_VAR = "NEURATLAS_CONFIGURATION"


class Catalogue:
    """The objects defined by a list of configuration folders.

    Parameters
    ----------
    folders : list of path-like
        Configuration folders in the siibra-configurations layout, in order.
    strict : bool
        Raise on malformed specs instead of warning and skipping them.
    """

    def __init__(self, folders: list[str | Path], *, strict: bool = False) -> None:
        self.folders = [Path(f) for f in folders]
        self.strict = strict
        self._ids: dict[str, dict[str, Any]] = {}  # table name -> @id -> object

    @cached_property
    def _specs(self) -> list[LoadedSpec]:
        specs: dict[str, LoadedSpec] = {}
        for folder in self.folders:
            for loaded in load_folder(folder, strict=self.strict):
                specs[loaded.spec.id] = loaded
        return list(specs.values())

    def _of(self, kind: type) -> list[LoadedSpec]:
        return [s for s in self._specs if isinstance(s.spec, kind)]

    # --- the tables ------------------------------------------------------------
    # Spaces and maps carry the numeric stack (NumPy, nibabel); a parcellation
    # lookup needs neither, so their modules are imported on first use and a cold
    # `get_region` stays at about 0.2 s (benchmarks/bench_core.py).
    @cached_property
    def spaces(self) -> InstanceTable[Space]:
        """Every space of the configuration."""
        # heavy: NumPy and nibabel, see above
        from neuratlas.core.space import Space

        return InstanceTable("space", [Space(s, self) for s in self._of(SpaceSpec)])

    @cached_property
    def parcellations(self) -> InstanceTable[Parcellation]:
        """Every parcellation of the configuration."""
        return InstanceTable(
            "parcellation", [Parcellation(s, self) for s in self._of(ParcellationSpec)]
        )

    @cached_property
    def maps(self) -> InstanceTable[Map]:
        """Every map whose space and parcellation the configuration has."""
        # heavy: NumPy and nibabel, see above
        from neuratlas.core.maps import Map
        from neuratlas.core.sparse_map import SparseMap

        table = InstanceTable("map")
        for loaded in self._of(MapSpec):
            spec = loaded.spec
            for ref, kind in ((spec.space, "space"), (spec.parcellation, "parcellation")):
                known = self.spaces if kind == "space" else self.parcellations
                if ref.id not in {e.id for e in known}:
                    self._reject(loaded, f"refers to unknown {kind} {ref.id!r}", f"$.{kind}")
                    break
            else:
                table.add((SparseMap if spec.sparse else Map)(loaded, self))
        return table

    @cached_property
    def atlases(self) -> InstanceTable[Atlas]:
        """Every atlas of the configuration."""
        return InstanceTable("atlas", [Atlas(s, self) for s in self._of(AtlasSpec)])

    def _reject(self, loaded: LoadedSpec, message: str, path: str) -> None:
        error = SpecError(message, file=str(loaded.file), path=path)
        if self.strict:
            raise error
        warnings.warn(f"skipped {error}", SpecWarning, stacklevel=3)

    # --- References: what the core objects ask ---------------------------------
    def space(self, spec: str | Space) -> Space:
        """The space that ``spec`` names (see :class:`InstanceTable` for the rules)."""
        return self.spaces.get(spec)

    def parcellation(self, spec: str | Parcellation) -> Parcellation:
        """The parcellation that ``spec`` names."""
        return self.parcellations.get(spec)

    def by_id(self, id: str) -> Space | Parcellation | Map:
        """The space, parcellation or map with exactly this ``@id``.

        Raises
        ------
        NotFoundError
            No space, parcellation or map of the configuration has that ``@id``.
        """
        # table by table, cheapest first: resolving a map's parcellation or space
        # must not build the maps table (it may be under construction)
        for kind in ("parcellations", "spaces", "maps"):
            if kind not in self._ids:
                self._ids[kind] = {e.id: e for e in getattr(self, kind)}
            found = self._ids[kind].get(id)
            if found is not None:
                return found
        raise NotFoundError(f"no space, parcellation or map has the @id {id!r}")

    @cached_property
    def _maps_by(self) -> dict[tuple[str, str], list[Map]]:
        # one pass over the maps, so that Parcellation.maps and Space.parcellations
        # cost a dictionary lookup instead of a scan of every map
        index: dict[tuple[str, str], list[Map]] = {}
        for m in self.maps:
            index.setdefault(("parcellation", m.parcellation.id), []).append(m)
            index.setdefault(("space", m.space.id), []).append(m)
        return index

    def maps_of(
        self, *, parcellation: Parcellation | None = None, space: Space | None = None
    ) -> list[Map]:
        """The maps of ``parcellation`` and/or in ``space``, in catalogue order."""
        if parcellation is None and space is None:
            return list(self.maps)
        if parcellation is not None:
            found = self._maps_by.get(("parcellation", parcellation.id), [])
            return [m for m in found if space is None or m.space is space]
        return list(self._maps_by.get(("space", space.id), []))

    def get_map(
        self,
        parcellation: str | Parcellation,
        space: str | Space | None = None,
        maptype: str | MapType = "labelled",
    ) -> Map:
        """The map of ``parcellation`` in ``space`` of type ``maptype``.

        Raises
        ------
        NotFoundError
            No such map; the message lists the maps the parcellation has.
        """
        parc = self.parcellations.get(parcellation)
        kind = MapType.parse(maptype)
        candidates = self.maps_of(parcellation=parc)
        wanted = self.spaces.get(space) if space is not None else None
        in_space = [m for m in candidates if wanted is None or m.space is wanted]
        hits = [m for m in in_space if m.maptype is kind]
        if hits:
            return hits[0]
        available = ", ".join(f"{m.maptype.value} in {m.space.short_name}" for m in candidates)
        raise NotFoundError(
            f"{parc.name!r} has no {kind.value} map"
            + (f" in {wanted.name!r}" if wanted is not None else ""),
            hint=f"available: {available or 'none'}",
        )

    def assign(self, the_map: Map, item: Any, lower_threshold: float = 0.0) -> pd.DataFrame:
        """Assign a Point, PointCloud or image to the regions of ``the_map``."""
        # heavy: pandas and SciPy; assignment is imported on its first use
        from neuratlas.assignment.assign import assign_to_map

        return assign_to_map(the_map, item, lower_threshold)

    def related_regions(self, region: Region) -> list[RegionRelation]:
        """Regions of other parcellations of this catalogue that overlap ``region``."""
        # heavy: pandas and SciPy; assignment is imported on its first use
        from neuratlas.assignment.related import related_regions

        return related_regions(region, self.maps_of)


# --- the active catalogue ------------------------------------------------------
_active: Catalogue | None = None


def _initial_folders() -> list[Path]:
    folders = [BUILTIN]
    extra = os.environ.get(ENV_VAR)
    if extra:
        folders += [Path(p) for p in extra.split(os.pathsep) if p]
    return folders


def active() -> Catalogue:
    """The catalogue in use (built-in specs plus ``$NEURATLAS_CONFIGURATION``)."""
    global _active
    if _active is None:
        _active = Catalogue(_initial_folders())
    return _active


# locations resolve space names through the active catalogue without importing it
references.install(active)


def use_configuration(folder: str | Path, *, strict: bool = False) -> Catalogue:
    """Replace the active configuration by the one in ``folder``.

    Parameters
    ----------
    folder : path-like
        A configuration folder in the siibra-configurations layout.
    strict : bool
        Raise on the first malformed spec instead of warning and skipping it.
    """
    global _active
    catalogue = Catalogue([folder], strict=strict)
    catalogue._specs  # noqa: B018 - validate now, so a bad folder fails here
    _active = catalogue
    return catalogue


def extend_configuration(folder: str | Path, *, strict: bool = False) -> Catalogue:
    """Add the specs in ``folder`` to the active configuration (same ``@id`` replaces)."""
    global _active
    catalogue = Catalogue([*active().folders, folder], strict=strict)
    catalogue._specs  # noqa: B018
    _active = catalogue
    return catalogue
