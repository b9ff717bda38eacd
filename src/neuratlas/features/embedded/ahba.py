"""The Allen Human Brain Atlas in the feature query: its samples and gene expression.

Its two modules register, when imported (here, or by the package):

- the static source ``"ahba"``: the tissue samples of the six donors as one
  :class:`~neuratlas.features.SampleLocations` feature in MNI 152 2009c
  (:mod:`~neuratlas.features.embedded.ahba_samples`), so that
  ``get_features(region, "sample locations")`` finds them where samples lie in
  the region;
- the live query of :class:`~neuratlas.features.GeneExpressions`:
  ``get_features(region, "gene expression", gene="MAOA")`` fetches the
  microarray data of the samples inside the region from the Allen API
  (:mod:`~neuratlas.features.embedded.ahba_expression`).
"""

from __future__ import annotations

from neuratlas.features.embedded.ahba_expression import (
    expression_table,
    gene_expressions,
    live_query,
    probes,
)
from neuratlas.features.embedded.ahba_samples import (
    SOURCE,
    SPACE,
    donor_table,
    restrict,
    sample_coordinates,
    sample_locations,
    samples_in,
)

__all__ = [
    "SOURCE",
    "SPACE",
    "donor_table",
    "expression_table",
    "gene_expressions",
    "live_query",
    "probes",
    "restrict",
    "sample_coordinates",
    "sample_locations",
    "samples_in",
]
