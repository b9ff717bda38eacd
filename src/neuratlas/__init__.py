"""neuratlas: an offline-first toolkit for multilevel brain atlases.

The catalogue (``neuratlas.atlases``, ``.spaces``, ``.parcellations``, ``.maps``)
is built on first access from the embedded specs, without touching the network.

>>> import neuratlas
>>> region = neuratlas.get_region("juelich", "hIP1 left")          # doctest: +SKIP
>>> mask = region.get_regional_mask("MNI152 NLin6")                 # doctest: +SKIP
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from neuratlas import matching
from neuratlas.__about__ import __version__
from neuratlas.catalogue import active, extend_configuration, use_configuration
from neuratlas.errors import (
    AmbiguousError,
    ArgumentError,
    ArgumentTypeError,
    DataUnavailableError,
    Error,
    ImageError,
    NotFoundError,
    SpaceMismatchError,
    SpecError,
)

if TYPE_CHECKING:
    import nibabel as nib
    import pandas as pd

    from neuratlas.core.maps import Map
    from neuratlas.core.parcellation import Parcellation
    from neuratlas.core.region import Region
    from neuratlas.core.space import Space
    from neuratlas.features.feature import Feature
    from neuratlas.volumes.volume import Volume

_TABLES = ("atlases", "spaces", "parcellations", "maps")
# heavy: these bring NumPy and nibabel along, so `import neuratlas` imports them on
# first use and stays at the cost of reading the specs
_LAZY = {
    "MapType": "neuratlas.core.map_index",
    "MapIndex": "neuratlas.core.map_index",
    "Point": "neuratlas.locations.point",
    "PointCloud": "neuratlas.locations.pointcloud",
    "BoundingBox": "neuratlas.locations.boundingbox",
    "Region": "neuratlas.core.region",
    "Map": "neuratlas.core.maps",
    "SparseMap": "neuratlas.core.sparse_map",
    "SparseIndex": "neuratlas.volumes.sparse",
}


def __getattr__(name: str) -> Any:
    if name in _TABLES:
        return getattr(active(), name)
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'neuratlas' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted([*globals(), *_TABLES, *_LAZY])


def get_parcellation(parcellation: str) -> Parcellation:
    """The parcellation that ``parcellation`` names (name, short name, alias, key or @id).

    Words that fit several parcellations equally raise AmbiguousError
    (``"harvard"``: the cortical or the subcortical Harvard-Oxford atlas?); the
    rules are those of :mod:`neuratlas.matching`.
    """
    return active().parcellations.get(parcellation)


def get_region(parcellation: str, region: str) -> Region:
    """The region of ``parcellation`` that ``region`` names (see ``Region.get_region``)."""
    return active().parcellations.get(parcellation).get_region(region)


def find_regions(query: str) -> list[Region]:
    """Regions matching ``query`` in every parcellation, best first."""
    hits = [r for p in active().parcellations for r in p.find(query)]
    # stable: each parcellation's own order, and the parcellations' order, on ties
    hits.sort(key=lambda r: matching.rank(query, r.name) or (), reverse=True)
    return hits


def get_map(
    parcellation: str,
    space: str | None = None,
    maptype: str | None = "labelled",
    threshold: float | None = None,
) -> Map:
    """The map of ``parcellation`` in ``space`` (``"labelled"`` or ``"statistical"``).

    ``threshold`` picks a thresholded maximum-probability map (e.g. 0.25 or 0.5, as
    FSL's ``maxprob-thr25``/``thr50``); see :meth:`Parcellation.get_map`.
    """
    return active().get_map(parcellation, space, maptype, threshold)


def get_template(space: str, variant: str | None = None) -> Volume:
    """The template volume of ``space`` (or one of its variants)."""
    return active().spaces.get(space).get_template(variant)


def get_space(space: str) -> Space:
    """The space that ``space`` names."""
    return active().spaces.get(space)


def fetch_template(space: str, variant: str | None = None) -> nib.Nifti1Image:
    """Shortcut: ``get_template(space, variant).fetch()``."""
    return get_template(space, variant).fetch()


def assign(
    item: Any,
    parcellation: str,
    space: str | None = None,
    maptype: str = "labelled",
    lower_threshold: float = 0.0,
) -> pd.DataFrame:
    """Assign ``item`` to the regions of the ``maptype`` map of ``parcellation``.

    Parameters
    ----------
    item : Point, PointCloud or nibabel.Nifti1Image
    parcellation : str
        Parcellation name, key or id.
    space : str, optional
        Defaults to the space of the points, or for images the first space the
        parcellation is mapped in.
    maptype : {"labelled", "statistical"}
    lower_threshold : float
        Map values at or below this count as 0.

    Returns
    -------
    pandas.DataFrame
        One row per (input structure, region) pair; see :mod:`neuratlas.assignment`.
    """
    if space is None:
        space = getattr(item, "space", None)
    return get_map(parcellation, space, maptype).assign(item, lower_threshold)


def get_features(concept: Any, modality: Any = None, **filters: Any) -> list[Feature]:
    """Data features linked to ``concept``: see :func:`neuratlas.features.get_features`.

    Parameters
    ----------
    concept : Region, Parcellation, Space, Point, PointCloud, BoundingBox or str
    modality : str or Feature subclass, optional
        E.g. ``"functional connectivity"``, ``"receptor density fingerprint"``.
    **filters
        Metadata the features must have, e.g. ``subject="average"``.

    Returns
    -------
    list of Feature
        Each with ``.match`` saying how it relates to ``concept``.
    """
    # heavy: the features bring pandas and the built-in sources; `import neuratlas`
    # stays free of them until the first query
    from neuratlas.features.query import get_features as query

    return query(concept, modality, **filters)


__all__ = [
    "AmbiguousError",
    "ArgumentError",
    "ArgumentTypeError",
    "DataUnavailableError",
    "Error",
    "ImageError",
    "NotFoundError",
    "SpaceMismatchError",
    "SpecError",
    "__version__",
    "assign",
    "extend_configuration",
    "find_regions",
    "get_features",
    "get_map",
    "get_parcellation",
    "get_region",
    "get_space",
    "get_template",
    "use_configuration",
    *_TABLES,
    *_LAZY,
]
