"""neuratlas: an offline-first toolkit for multilevel brain atlases.

The catalogue (``neuratlas.atlases``, ``.spaces``, ``.parcellations``, ``.maps``)
is built on first access from the embedded specs, without touching the network.

>>> import neuratlas
>>> region = neuratlas.get_region("juelich", "hIP1 left")          # doctest: +SKIP
>>> mask = region.get_regional_mask("MNI152 NLin6")                 # doctest: +SKIP
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from neuratlas.__about__ import __version__
from neuratlas.configuration.catalogue import extend_configuration, use_configuration
from neuratlas.errors import (
    AmbiguousError,
    DataUnavailableError,
    Error,
    ImageError,
    NotFoundError,
    SpaceMismatchError,
    SpecError,
)

if TYPE_CHECKING:
    import nibabel as nib

    from neuratlas.core.region import Region
    from neuratlas.volumes.maps import Map
    from neuratlas.volumes.volume import Volume

_TABLES = ("atlases", "spaces", "parcellations", "maps")
_LAZY = {
    "MapType": "neuratlas.volumes.maps",
    "MapIndex": "neuratlas.volumes.maps",
    "Point": "neuratlas.locations.point",
    "PointCloud": "neuratlas.locations.pointcloud",
    "BoundingBox": "neuratlas.locations.boundingbox",
    "Region": "neuratlas.core.region",
    "Map": "neuratlas.volumes.maps",
    "SparseMap": "neuratlas.volumes.sparse",
    "SparseIndex": "neuratlas.volumes.sparse",
    "assign": "neuratlas.assignment",
}


def __getattr__(name: str) -> Any:
    # the catalogue and heavy modules load on first use, keeping `import neuratlas` cheap
    if name in _TABLES:
        from neuratlas.configuration.catalogue import active

        return getattr(active(), name)
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'neuratlas' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted([*globals(), *_TABLES, *_LAZY])


def get_region(parcellation: str, region: str) -> Region:
    """The region of ``parcellation`` that ``region`` names (see ``Region.get_region``)."""
    from neuratlas.configuration.catalogue import active

    return active().parcellations.get(parcellation).get_region(region)


def find_regions(query: str) -> list[Region]:
    """Regions matching ``query`` in every parcellation, best first."""
    from neuratlas import matching
    from neuratlas.configuration.catalogue import active

    hits = [r for p in active().parcellations for r in p.find(query)]
    hits.sort(key=lambda r: -matching.score(query, r.name))
    return hits


def get_map(parcellation: str, space: str | None = None, maptype: str = "labelled") -> Map:
    """The map of ``parcellation`` in ``space`` (``"labelled"`` or ``"statistical"``)."""
    from neuratlas.configuration.catalogue import active

    return active().get_map(parcellation, space, maptype)


def get_template(space: str, variant: str | None = None) -> Volume:
    """The template volume of ``space`` (or one of its variants)."""
    from neuratlas.configuration.catalogue import active

    return active().spaces.get(space).get_template(variant)


def get_space(space: str):
    """The space that ``space`` names."""
    from neuratlas.configuration.catalogue import active

    return active().spaces.get(space)


def fetch_template(space: str, variant: str | None = None) -> nib.Nifti1Image:
    """Shortcut: ``get_template(space, variant).fetch()``."""
    return get_template(space, variant).fetch()


__all__ = [
    "AmbiguousError",
    "DataUnavailableError",
    "Error",
    "ImageError",
    "NotFoundError",
    "SpaceMismatchError",
    "SpecError",
    "__version__",
    "extend_configuration",
    "find_regions",
    "get_map",
    "get_region",
    "get_space",
    "get_template",
    "use_configuration",
    *_TABLES,
    *_LAZY,
]
