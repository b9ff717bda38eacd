"""The catalogue: every atlas, space, parcellation and map of the active configuration.

Built lazily from one or more configuration folders (the embedded ``builtin``
folder first, then any extensions); later folders replace entries with the same
``@id``. Building reads JSON only: no network, no image data.
"""

from __future__ import annotations

import os
import threading
from functools import cached_property
from pathlib import Path

from neuratlas.configuration.loader import BUILTIN, LoadedSpec, load_folder
from neuratlas.configuration.specs import AtlasSpec, MapSpec, ParcellationSpec, SpaceSpec
from neuratlas.errors import NotFoundError, SpecError
from neuratlas.registry import InstanceTable

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
        self._lock = threading.Lock()

    @cached_property
    def _specs(self) -> list[LoadedSpec]:
        specs: dict[str, LoadedSpec] = {}
        for folder in self.folders:
            for loaded in load_folder(folder, strict=self.strict):
                specs[loaded.spec.id] = loaded
        return list(specs.values())

    def _of(self, kind: type) -> list[LoadedSpec]:
        return [s for s in self._specs if isinstance(s.spec, kind)]

    @cached_property
    def spaces(self):  # -> InstanceTable[Space]
        from neuratlas.core.space import Space

        return InstanceTable("space", [Space(s, self) for s in self._of(SpaceSpec)])

    @cached_property
    def parcellations(self):  # -> InstanceTable[Parcellation]
        from neuratlas.core.parcellation import Parcellation

        return InstanceTable(
            "parcellation", [Parcellation(s, self) for s in self._of(ParcellationSpec)]
        )

    @cached_property
    def maps(self):  # -> InstanceTable[Map]

        table = InstanceTable("map")
        for loaded in self._of(MapSpec):
            spec = loaded.spec
            for ref, kind in ((spec.space, "space"), (spec.parcellation, "parcellation")):
                known = self.spaces if kind == "space" else self.parcellations
                if ref.id not in {e.id for e in known}:
                    self._reject(loaded, f"refers to unknown {kind} {ref.id!r}", f"$.{kind}")
                    break
            else:
                table.add(_map_class(spec)(loaded, self))
        return table

    @cached_property
    def atlases(self):  # -> InstanceTable[Atlas]
        from neuratlas.core.atlas import Atlas

        return InstanceTable("atlas", [Atlas(s, self) for s in self._of(AtlasSpec)])

    def _reject(self, loaded: LoadedSpec, message: str, path: str) -> None:
        error = SpecError(message, file=str(loaded.file), path=path)
        if self.strict:
            raise error
        import warnings

        from neuratlas.configuration.loader import SpecWarning

        warnings.warn(f"skipped {error}", SpecWarning, stacklevel=3)

    def get_map(self, parcellation, space=None, maptype="labelled"):
        """The map of ``parcellation`` in ``space`` of type ``maptype``.

        Raises
        ------
        NotFoundError
            No such map; the message lists the maps the parcellation has.
        """
        from neuratlas.volumes.maps import MapType

        parc = self.parcellations.get(parcellation)
        kind = MapType.parse(maptype)
        candidates = [m for m in self.maps if m.parcellation is parc]
        if space is not None:
            wanted = self.spaces.get(space)
            in_space = [m for m in candidates if m.space is wanted]
        else:
            in_space = candidates
        hits = [m for m in in_space if m.maptype is kind]
        if hits:
            return hits[0]
        available = ", ".join(f"{m.maptype.value} in {m.space.short_name}" for m in candidates)
        raise NotFoundError(
            f"{parc.name!r} has no {kind.value} map"
            + (f" in {self.spaces.get(space).name!r}" if space is not None else ""),
            hint=f"available: {available or 'none'}",
        )


def _map_class(spec: MapSpec) -> type:
    if spec.sparse:
        from neuratlas.volumes.sparse import SparseMap

        return SparseMap
    from neuratlas.volumes.maps import Map

    return Map


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
