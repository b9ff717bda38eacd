"""Data features linked to regions, parcellations, spaces and locations.

One call finds them all: :func:`get_features` (also :func:`get`) takes a
concept and a modality and returns features that say how they relate to the
query (their :class:`Anchor` and an :class:`AnchorMatch`). Features load their
data on first access to ``.data``, print a summary, ``.plot()`` and
``.export(path)``. Sources of features are registered with
:func:`register_source` (static lists) and :func:`register_live_query`
(computed on demand); importing this package registers the built-in ones: the
``features/`` folders of the configuration (siibra's layout) and the embedded
data.

>>> import neuratlas
>>> fc = neuratlas.get_features("schaefer 400 7", "functional connectivity")  # doctest: +SKIP
"""

# importing siibra and embedded registers the built-in sources
from neuratlas.features import embedded, modalities, siibra
from neuratlas.features.anchor import Anchor, AnchorMatch, Qualification
from neuratlas.features.connectivity import (
    AnatomoFunctionalConnectivity,
    FunctionalConnectivity,
    RegionalConnectivity,
    StreamlineCounts,
    StreamlineLengths,
    TracingConnectivity,
)
from neuratlas.features.feature import Feature
from neuratlas.features.image import Image, Section, VolumeOfInterest
from neuratlas.features.points import SampleLocations
from neuratlas.features.query import get, get_features, get_instance_by_id
from neuratlas.features.sources import register_live_query, register_source
from neuratlas.features.tabular import (
    CellDensityProfile,
    CorticalProfile,
    GeneExpressions,
    LayerwiseCellDensity,
    ReceptorDensityFingerprint,
    ReceptorDensityProfile,
    RegionalTimeseriesActivity,
    Tabular,
)

__all__ = [
    "AnatomoFunctionalConnectivity",
    "Anchor",
    "AnchorMatch",
    "CellDensityProfile",
    "CorticalProfile",
    "Feature",
    "FunctionalConnectivity",
    "GeneExpressions",
    "Image",
    "LayerwiseCellDensity",
    "Qualification",
    "ReceptorDensityFingerprint",
    "ReceptorDensityProfile",
    "RegionalConnectivity",
    "RegionalTimeseriesActivity",
    "SampleLocations",
    "Section",
    "StreamlineCounts",
    "StreamlineLengths",
    "Tabular",
    "TracingConnectivity",
    "VolumeOfInterest",
    "embedded",
    "get",
    "get_features",
    "get_instance_by_id",
    "modalities",
    "register_live_query",
    "register_source",
    "siibra",
]
