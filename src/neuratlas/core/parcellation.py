"""Parcellation: the root of a region hierarchy, with its maps in several spaces."""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING

from neuratlas.configuration.specs import RegionSpec, VersionSpec
from neuratlas.core.concept import Concept
from neuratlas.core.region import Region
from neuratlas.registry import version_order

if TYPE_CHECKING:
    from neuratlas.configuration.loader import LoadedSpec
    from neuratlas.core.maps import Map
    from neuratlas.core.space import Space
    from neuratlas.references import References


def _build(spec: RegionSpec) -> Region:
    return Region(spec.name, spec.rgb, [_build(c) for c in spec.children], spec.aliases)


class Parcellation(Concept, Region):
    """A parcellation: a region tree whose root is the parcellation itself.

    Everything a :class:`Region` offers works on it (``find``, ``get_region``,
    ``leaves``...); in addition it knows its versions and its maps.
    """

    def __init__(self, loaded: LoadedSpec, references: References) -> None:
        Concept.__init__(self, loaded, references)
        # the parcellation's aliases (set by Concept) are its names as a region too
        Region.__init__(self, loaded.header.name, None, None, self.aliases)
        self._version = loaded.header.version
        # the region tree is built from the whole spec on first use: a catalogue of
        # many parcellations (the Allen ontology alone has ~1,300 structures) starts
        # without validating or building trees nobody asked for
        self._children = None
        self._tree_lock = threading.Lock()

    @property
    def children(self) -> tuple[Region, ...]:
        if self._children is None:
            with self._tree_lock:
                if self._children is None:
                    self._adopt([_build(r) for r in self._loaded.spec.regions])
        return self._children  # type: ignore[return-value]

    @property
    def version(self) -> str | None:
        return self._version.name if self._version else None

    @property
    def collection(self) -> str:
        """Parcellations of one collection are versions of one another.

        The spec's ``collectionName``, else the versions linked by ``@prev``/``@next``.
        """
        if self._version and self._version.collection:
            return self._version.collection
        return self._references.version_chain(self)[0]

    @property
    def version_order(self) -> tuple:
        """Sort key of the versions of a collection: the place along the ``@next``
        chain, then the version name ("3.10" after "3.9")."""
        return (self._references.version_chain(self)[1], *version_order(self.version))

    @property
    def version_spec(self) -> VersionSpec | None:
        """The spec's ``@version``: name, ``@prev``/``@next`` links, collection."""
        return self._version

    @property
    def is_newest_version(self) -> bool:
        return not (self._version and self._version.next)

    @property
    def maps(self) -> list[Map]:
        """All maps of this parcellation, in every space."""
        return self._references.maps_of(parcellation=self)

    @property
    def spaces(self) -> list[Space]:
        """The spaces in which this parcellation is mapped."""
        return list(dict.fromkeys(m.space for m in self.maps))

    def get_map(
        self,
        space: str | Space | None = None,
        maptype: str | None = "labelled",
        threshold: float | None = None,
    ) -> Map:
        """The map of this parcellation in ``space`` of the given type.

        Parameters
        ----------
        space : str or Space, optional
            Defaults to the first space the parcellation is mapped in.
        maptype : {"labelled", "statistical"} or None
            None: the labelled map if there is one, else the statistical map.
        threshold : float, optional
            For labelled maps derived from probabilities: the thresholded map that
            labels a voxel only where its top probability is above ``threshold``
            (0.25 and 0.5 for Juelich and Harvard-Oxford, as FSL ships them).

        Raises
        ------
        NotFoundError
            No such map; the message lists what is available.
        """
        return self._references.get_map(self, space, maptype, threshold)

    def __repr__(self) -> str:
        version = f" version {self.version}" if self.version else ""
        return (
            f"<Parcellation {self.name!r}{version}: {len(self.leaves)} leaf regions, "
            f"mapped in {', '.join(s.short_name for s in self.spaces) or 'no space'}>"
        )

    __str__ = Region.__str__
