"""The catalogue: every atlas, space, parcellation and map of the active configuration.

Built lazily from one or more configuration folders (the embedded ``builtin``
folder first, then any extensions); later folders replace entries with the same
``@id``. Building reads JSON only: no network, no image data.

The catalogue is the layer that builds the core objects and answers their
questions about one another (it implements :class:`neuratlas.references.References`);
the objects themselves never import it.
"""

from __future__ import annotations

import contextlib
import math
import numbers
import os
import sys
import threading
import warnings
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

from neuratlas import matching, references
from neuratlas.configuration.loader import BUILTIN, LoadedSpec, SpecWarning, load_folder
from neuratlas.configuration.specs import ATLAS_TYPE, MAP_TYPE, PARCELLATION_TYPE, SPACE_TYPE
from neuratlas.core.atlas import Atlas
from neuratlas.core.map_index import MapType
from neuratlas.core.parcellation import Parcellation
from neuratlas.errors import ArgumentError, ArgumentTypeError, NotFoundError, SpecError
from neuratlas.registry import InstanceTable

if TYPE_CHECKING:
    import pandas as pd

    from neuratlas.assignment.related import RegionRelation
    from neuratlas.core.maps import Map
    from neuratlas.core.region import Region
    from neuratlas.core.space import Space

ENV_VAR = "NEURATLAS_CONFIGURATION"
#: Set to 0 to keep the numeric stack from being imported in the background.
WARM_UP_VAR = "NEURATLAS_PREIMPORT"


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
            # headers only (from the folder's index when it has one): each object
            # validates the rest of its spec when it is first used
            for loaded in load_folder(folder, strict=self.strict, lazy=True):
                specs[loaded.header.id] = loaded
        start_warm_up()
        return list(specs.values())

    def _of(self, kind: str) -> list[LoadedSpec]:
        return [s for s in self._specs if s.header.type == kind]

    # --- the tables ------------------------------------------------------------
    # Spaces and maps carry the numeric stack (NumPy, nibabel); a parcellation
    # lookup needs neither, so their modules are imported on first use and a cold
    # `get_region` stays at about 0.2 s (benchmarks/bench_core.py).
    @cached_property
    def spaces(self) -> InstanceTable[Space]:
        """Every space of the configuration."""
        # heavy: NumPy and nibabel, see above
        from neuratlas.core.space import Space

        return InstanceTable("space", [Space(s, self) for s in self._of(SPACE_TYPE)])

    @cached_property
    def parcellations(self) -> InstanceTable[Parcellation]:
        """Every parcellation of the configuration."""
        return InstanceTable(
            "parcellation", [Parcellation(s, self) for s in self._of(PARCELLATION_TYPE)]
        )

    @cached_property
    def maps(self) -> InstanceTable[Map]:
        """Every map whose space and parcellation the configuration has."""
        # heavy: NumPy and nibabel, see above
        from neuratlas.core.maps import Map
        from neuratlas.core.sparse_map import SparseMap

        table = InstanceTable("map")
        known = {
            "space": {e.id for e in self.spaces},
            "parcellation": {e.id for e in self.parcellations},
        }
        for loaded in self._of(MAP_TYPE):
            header = loaded.header
            for ref, kind in ((header.space, "space"), (header.parcellation, "parcellation")):
                if ref is None:
                    self._reject(loaded, f"has no {kind}", f"$.{kind}")
                    break
                if ref.id not in known[kind]:
                    self._reject(loaded, f"refers to unknown {kind} {ref.id!r}", f"$.{kind}")
                    break
            else:
                table.add((SparseMap if header.sparse else Map)(loaded, self))
        return table

    @cached_property
    def atlases(self) -> InstanceTable[Atlas]:
        """Every atlas of the configuration."""
        return InstanceTable("atlas", [Atlas(s, self) for s in self._of(ATLAS_TYPE)])

    @cached_property
    def _version_chains(self) -> dict[str, tuple[str, int]]:
        """Parcellation ``@id`` -> (its collection, its place along the ``@version`` chain).

        siibra links the versions of a parcellation by ``@prev``/``@next`` without
        naming a collection: the linked versions form one collection (named by the
        oldest one's ``@id``), so that an unversioned query finds the newest version,
        the one at the end of the chain.
        """
        links: dict[str, set[str]] = {}
        for loaded in self._of(PARCELLATION_TYPE):
            pid = loaded.header.id
            links.setdefault(pid, set())
            version = loaded.header.version
            for other in (version.prev, version.next) if version else ():
                other_id = getattr(other, "id", other)
                if isinstance(other_id, str) and other_id:
                    links[pid].add(other_id)
                    links.setdefault(other_id, set()).add(pid)
        nexts = {
            s.header.id: _link_id(s.header.version.next)
            for s in self._of(PARCELLATION_TYPE)
            if s.header.version is not None
        }
        chains: dict[str, tuple[str, int]] = {}
        for start in links:
            if start in chains:
                continue
            members = _connected(start, links)
            ordered = _chain_order(members, nexts)
            for place, pid in enumerate(ordered):
                chains[pid] = (ordered[0], place)
        return chains

    def version_chain(self, parcellation: Parcellation) -> tuple[str, int]:
        """The collection of ``parcellation``'s versions and its place in their chain."""
        return self._version_chains.get(parcellation.id, (parcellation.id, 0))

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
        maptype: str | MapType | None = "labelled",
        threshold: float | None = None,
    ) -> Map:
        """The map of ``parcellation`` in ``space`` of type ``maptype``.

        Parameters
        ----------
        parcellation : str or Parcellation
        space : str or Space, optional
            Defaults to the first space where the parcellation has such a map.
        maptype : {"labelled", "statistical"} or None
            None: the labelled map if there is one, else the statistical map.
        threshold : float, optional
            Labelled maps derived from probabilities come unthresholded and
            thresholded: a voxel is labelled only where its top probability is above
            ``threshold`` (0.25 and 0.5 for Juelich and Harvard-Oxford, as FSL's
            ``maxprob-thr25``/``thr50``). Without it, the unthresholded map.

        Raises
        ------
        NotFoundError
            No such map; the message names the map type asked for and the hint
            lists the spaces where the parcellation has one.
        ArgumentError
            A ``threshold`` for a statistical map, or one that is not a number.
        """
        parc = self.parcellations.get(parcellation)
        kind = None if maptype is None else MapType.parse(maptype)
        wanted = self.spaces.get(space) if space is not None else None
        limit = _threshold_argument(threshold, kind)
        if limit is not None:
            kind = MapType.LABELLED  # only labelled maps are thresholded
        candidates = self.maps_of(parcellation=parc)
        thresholds = _thresholds(candidates)

        hits = [
            m
            for m in candidates
            if (kind is None or m.maptype is kind) and (wanted is None or m.space is wanted)
        ]
        if limit is not None:
            hits = [m for m in hits if math.isclose(thresholds[m.id], limit, abs_tol=1e-9)]
        if not hits:
            raise _no_map(parc, kind, (space, wanted), limit, candidates, thresholds)
        # the labelled map before the statistical one, the unthresholded before the
        # thresholded ones, else catalogue order (min keeps the first of equals)
        return min(hits, key=lambda m: (m.maptype is not MapType.LABELLED, thresholds[m.id]))

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


def _link_id(link: object) -> str | None:
    """The ``@id`` of an ``@prev``/``@next`` link (a string or ``{"@id": ...}``)."""
    value = getattr(link, "id", link)
    return value if isinstance(value, str) and value else None


def _connected(start: str, links: dict[str, set[str]]) -> set[str]:
    seen = {start}
    stack = [start]
    while stack:
        for other in links.get(stack.pop(), ()):
            if other not in seen:
                seen.add(other)
                stack.append(other)
    return seen


def _chain_order(members: set[str], nexts: dict[str, str | None]) -> list[str]:
    """The members oldest first: follow ``@next`` from those that no member points to.

    Links may be incomplete or even cyclic in hand-written configurations: members
    not reached by following ``@next`` keep their sorted order at the end.
    """
    pointed = {nexts.get(m) for m in members}
    ordered: list[str] = []
    for head in sorted(m for m in members if m not in pointed) or sorted(members)[:1]:
        node: str | None = head
        while node is not None and node in members and node not in ordered:
            ordered.append(node)
            node = nexts.get(node)
    ordered += sorted(members.difference(ordered))
    return ordered


def _threshold_argument(threshold: object, kind: MapType | None) -> float | None:
    """``threshold`` of :meth:`Catalogue.get_map` as a float, checked."""
    if threshold is None:
        return None
    if isinstance(threshold, bool) or not isinstance(threshold, numbers.Real):
        raise ArgumentTypeError(
            f"threshold must be a number, got {threshold!r}",
            hint="e.g. threshold=0.25 for the maximum-probability map thresholded at 25 %",
        )
    value = float(threshold)
    if not math.isfinite(value) or value < 0:
        raise ArgumentError(
            f"threshold must be a probability of 0 or more, got {threshold!r}",
            hint="e.g. threshold=0.25 for the maximum-probability map thresholded at 25 %",
        )
    if kind is MapType.STATISTICAL:
        raise ArgumentError(
            "a threshold selects a thresholded maximum-probability map, which is a labelled "
            "map: statistical maps have no threshold",
            hint="ask for the labelled map with this threshold, or keep the statistical map "
            "and pass lower_threshold when assigning to it",
        )
    return value


def _no_map(
    parc: Parcellation,
    kind: MapType | None,
    space: tuple[str | Space | None, Space | None],
    limit: float | None,
    candidates: list[Map],
    thresholds: dict[str, float],
) -> NotFoundError:
    """The error of :meth:`Catalogue.get_map`: what was asked for, and where it exists."""
    asked, wanted = space
    if limit is not None:
        what = f"labelled map thresholded at {limit:g}"
    else:
        what = f"{kind.value} map" if kind is not None else "map"
    message = f"{parc.name!r} has no {what}"
    if wanted is not None:
        message += f" in {wanted.name!r}"
        names = (wanted.id, wanted.key, wanted.name, wanted.short_name)
        own = {matching.normalise(n) for n in names}
        if isinstance(asked, str) and matching.normalise(asked) not in own:
            # an alias, e.g. 'mni152': say which space it stands for
            message += f" (the space that {asked!r} names)"
    fitting = [
        m
        for m in candidates
        if (kind is None or m.maptype is kind)
        and (limit is None or math.isclose(thresholds[m.id], limit, abs_tol=1e-9))
    ]
    where = list(dict.fromkeys(m.space.short_name for m in fitting))
    hints = []
    if where:
        hints.append(f"use a space where it has one: {', '.join(where)}")
    elif wanted is not None:
        hints.append(f"it has no {what} in any space")
    if limit is not None and limit >= 1:
        hints.append(f"thresholds are probabilities: {limit:g} % is {limit / 100:g}")
    hints.append(f"available: {describe_maps(candidates)}")
    return NotFoundError(message, hint="; ".join(hints))


def describe_maps(maps: list[Map]) -> str:
    """Maps as one line, e.g. for listings and errors.

    Parameters
    ----------
    maps : list of Map

    Returns
    -------
    str
        ``"labelled in MNI152 NLin6 asym (also thresholded at 0.25, 0.5), statistical
        in MNI152 NLin6 asym"``: one item per map type and space, in the order given;
        ``"none"`` for no map.
    """
    thresholds = _thresholds(maps)
    groups: dict[tuple[str, str], list[float]] = {}
    for m in maps:
        groups.setdefault((m.maptype.value, m.space.short_name), []).append(thresholds[m.id])
    parts = []
    for (maptype, space), values in groups.items():
        above = ", ".join(f"{t:g}" for t in sorted(set(values)) if t > 0)
        also = "also " if 0 in values else ""
        extra = f" ({also}thresholded at {above})" if above else ""
        parts.append(f"{maptype} in {space}{extra}")
    return ", ".join(parts) or "none"


def _thresholds(maps: list[Map]) -> dict[str, float]:
    """``@id`` -> the threshold of each map (0 for maps that are not thresholded)."""
    return {m.id: m.threshold or 0.0 for m in maps}


# --- warming up -----------------------------------------------------------------
_warm_up: threading.Thread | None = None


def start_warm_up(*, force: bool = False) -> threading.Thread | None:
    """Import the numeric stack (NumPy, nibabel, the map classes) in the background.

    A loaded catalogue answers region lookups without NumPy, which keeps a cold
    ``get_region`` fast; but the first map fetched after it would pay ~0.2 s of
    imports. In an interactive session (a REPL, IPython, Jupyter) this thread pays
    them while the user is still reading the answers. A script or a command gains
    nothing from it (the imports take the same CPU, and it may import what the
    script never needs), so it starts there only when asked: ``force=True``, or
    ``$NEURATLAS_PREIMPORT=1``; ``$NEURATLAS_PREIMPORT=0`` turns it off everywhere.
    Started once per process, when a catalogue is first loaded.

    Two threads importing at once cannot deadlock here: module locks only wait
    on one another along import cycles, and neuratlas's modules have none (the
    import-linter contracts of pyproject.toml keep it so).

    Returns
    -------
    threading.Thread or None
        The (daemon) thread, e.g. to ``join``; None when it is not wanted.
    """
    global _warm_up
    setting = os.environ.get(WARM_UP_VAR, "").strip()
    wanted = setting != "0" and (force or setting == "1" or _interactive())
    if _warm_up is None and wanted:
        _warm_up = threading.Thread(target=_import_numeric_stack, name="neuratlas-warm-up")
        _warm_up.daemon = True  # never keeps a finished program waiting
        _warm_up.start()
    return _warm_up


def _interactive() -> bool:
    """True in a REPL, IPython or a Jupyter kernel."""
    return (
        hasattr(sys, "ps1")
        or bool(sys.flags.interactive)
        or "IPython" in sys.modules
        or "ipykernel" in sys.modules
    )


def _import_numeric_stack() -> None:
    # what fails to import here fails again, with its real error, where it is used
    with contextlib.suppress(Exception):
        # heavy: NumPy and nibabel, the whole point of this thread
        import neuratlas.core.maps
        import neuratlas.core.sparse_map  # noqa: F401


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
