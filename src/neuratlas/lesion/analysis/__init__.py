"""Lesion analyses: regional damage, parcel aggregation, functional and structural mapping."""

from __future__ import annotations

from neuratlas.lesion.analysis.base import Analysis
from neuratlas.lesion.analysis.functional import METHODS, FunctionalNetworkMapping
from neuratlas.lesion.analysis.regional import AGGREGATIONS, ParcelAggregation, RegionalDamage
from neuratlas.lesion.analysis.structural import StructuralNetworkMapping

__all__ = [
    "AGGREGATIONS",
    "METHODS",
    "Analysis",
    "FunctionalNetworkMapping",
    "ParcelAggregation",
    "RegionalDamage",
    "StructuralNetworkMapping",
]
