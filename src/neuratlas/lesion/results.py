"""Result containers of lesion analyses: voxel maps, regional values, matrices, scalars.

Each analysis stores its results in a :class:`~neuratlas.lesion.subject.SubjectData`
under its own name (``subject.RegionalDamage``), as a dict of result key ->
container. Keys are BIDS entity strings (``atlas-Schaefer2018400Parcels7Networks``,
``desc-rmap``), so that the exporter turns them into file names as they are
(:func:`result_key`).

Containers are frozen: an analysis makes new ones, it never changes old ones.
Their ``get_data()`` returns the raw data (image, dict, array, value), as lacuna's do.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import nibabel as nib
import numpy as np
import pandas as pd

from neuratlas.errors import ArgumentError

__all__ = [
    "ConnectivityMatrix",
    "ParcelData",
    "ScalarMetric",
    "VoxelMap",
    "bids_label",
    "parse_result_key",
    "result_key",
]


def bids_label(value: str) -> str:
    """``value`` as a BIDS label, letters and digits only.

    >>> bids_label("Schaefer 2018, 400/7")
    'Schaefer20184007'
    """
    label = re.sub(r"[^A-Za-z0-9]", "", value)
    if not label:
        raise ArgumentError(f"{value!r} has no letter or digit to make a BIDS label of")
    return label


def result_key(**entities: str | None) -> str:
    """A result key from BIDS entities, in the order given; None values are left out.

    >>> result_key(atlas="Schaefer 2018 400/7", desc="damage")
    'atlas-Schaefer20184007_desc-damage'
    """
    return "_".join(f"{k}-{bids_label(v)}" for k, v in entities.items() if v is not None)


def parse_result_key(key: str) -> dict[str, str]:
    """The entities of a result key (``atlas-X_desc-y`` -> ``{"atlas": "X", "desc": "y"}``)."""
    entities = {}
    for part in key.split("_"):
        name, sep, value = part.partition("-")
        if not sep or not name or not value:
            raise ArgumentError(f"result key {key!r}: {part!r} is not an entity-label pair")
        entities[name] = value
    return entities


@dataclass(frozen=True)
class VoxelMap:
    """A 3D map on a voxel grid (correlation, disconnection, damage...).

    Attributes
    ----------
    name : str
        What the map is (``rmap``, ``disconnection``).
    data : nibabel.Nifti1Image
        The map.
    space : str
        Its space (a TemplateFlow identifier, ``MNI152NLin6Asym``).
    resolution : float
        Its voxel size in mm.
    metadata : dict
        Anything else worth keeping (units, method), exported as the sidecar.
    """

    name: str
    data: nib.Nifti1Image
    space: str
    resolution: float
    metadata: dict[str, Any] = field(default_factory=dict)

    def get_data(self) -> nib.Nifti1Image:
        """The image."""
        return self.data

    def summary(self) -> str:
        """One line: name, shape, space, resolution."""
        return (
            f"{self.name}: {self.data.shape} voxels, space={self.space}, "
            f"resolution={self.resolution}mm"
        )

    def __repr__(self) -> str:
        return (
            f"VoxelMap(name={self.name!r}, shape={self.data.shape}, "
            f"space={self.space!r}, resolution={self.resolution})"
        )


@dataclass(frozen=True)
class ParcelData:
    """One value per region of a parcellation.

    Attributes
    ----------
    name : str
        What the values are (``damage``, ``mean``).
    data : dict of str to float
        Region name -> value, in the parcellation's order.
    region_labels : list of int, optional
        The label of each region in the parcellation's labelled map, in the order of ``data``.
    parcel_names : list of str, optional
        The parcellations the regions come from.
    aggregation_method : str, optional
        How the values were made (``percent``, ``mean``...).
    metadata : dict
        Anything else worth keeping, exported as the sidecar.
    """

    name: str
    data: dict[str, float]
    region_labels: list[int] | None = None
    parcel_names: list[str] | None = None
    aggregation_method: str | None = None
    metadata: dict[str, Any] = field(default_factory=dict)

    def get_data(self, atlas_filter: str | None = None) -> dict[str, float]:
        """Region -> value; with ``atlas_filter``, only regions whose name contains it."""
        if atlas_filter is None:
            return self.data
        needle = atlas_filter.lower()
        return {k: v for k, v in self.data.items() if needle in k.lower()}

    def get_top_regions(self, n: int = 10, ascending: bool = False) -> dict[str, float]:
        """The ``n`` regions with the highest values (lowest with ``ascending``)."""
        ordered = sorted(self.data.items(), key=lambda kv: kv[1], reverse=not ascending)
        return dict(ordered[:n])

    def to_frame(self) -> pd.DataFrame:
        """A table with a row per region: ``region``, ``label`` (if known), ``value``."""
        frame = pd.DataFrame({"region": list(self.data), "value": list(self.data.values())})
        if self.region_labels is not None:
            frame.insert(1, "label", self.region_labels)
        return frame

    def summary(self) -> str:
        """One line: name, number of regions, method."""
        method = f", method={self.aggregation_method}" if self.aggregation_method else ""
        return f"{self.name}: {len(self.data)} regions{method}"

    def __repr__(self) -> str:
        method = f", method={self.aggregation_method!r}" if self.aggregation_method else ""
        return f"ParcelData(name={self.name!r}, n_regions={len(self.data)}{method})"


@dataclass(frozen=True)
class ConnectivityMatrix:
    """A square matrix between regions (disconnection, connectivity).

    Attributes
    ----------
    name : str
        What the matrix is.
    matrix : numpy.ndarray, shape (n, n)
        The values.
    region_labels : list of str, optional
        The regions of its rows and columns.
    matrix_type : str, optional
        ``structural`` or ``functional``.
    metadata : dict
        Anything else worth keeping.
    """

    name: str
    matrix: np.ndarray
    region_labels: list[str] | None = None
    matrix_type: str | None = None
    metadata: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        m = self.matrix
        if m.ndim != 2 or m.shape[0] != m.shape[1]:
            raise ArgumentError(f"connectivity matrix {self.name!r} is {m.shape}, not square")
        if self.region_labels is not None and len(self.region_labels) != m.shape[0]:
            raise ArgumentError(
                f"connectivity matrix {self.name!r}: "
                f"{len(self.region_labels)} labels for {m.shape[0]} rows"
            )

    def get_data(self) -> np.ndarray:
        """The matrix."""
        return self.matrix

    def to_frame(self) -> pd.DataFrame:
        """The matrix as a table, rows and columns named by region."""
        return pd.DataFrame(self.matrix, index=self.region_labels, columns=self.region_labels)

    def summary(self) -> str:
        """One line: name, size, type."""
        n = self.matrix.shape[0]
        kind = f", type={self.matrix_type}" if self.matrix_type else ""
        return f"{self.name}: {n}x{n}{kind}"

    def __repr__(self) -> str:
        return f"ConnectivityMatrix(name={self.name!r}, shape={self.matrix.shape})"


@dataclass(frozen=True)
class ScalarMetric:
    """A value or a small set of named values (summary statistics, counts).

    Attributes
    ----------
    name : str
        What the value is.
    data : float, int, str, dict or list
        The value(s), JSON-ready.
    metadata : dict
        Anything else worth keeping.
    """

    name: str
    data: Any
    metadata: dict[str, Any] = field(default_factory=dict)

    @property
    def data_type(self) -> str:
        """``scalar``, ``dictionary`` or ``sequence``."""
        if isinstance(self.data, Mapping):
            return "dictionary"
        if isinstance(self.data, list | tuple):
            return "sequence"
        return "scalar"

    def get_data(self) -> Any:
        """The value(s)."""
        return self.data

    def summary(self) -> str:
        """One line: name and value (or number of values)."""
        if self.data_type == "scalar":
            return f"{self.name}: {self.data}"
        return f"{self.name}: {len(self.data)} values"

    def __repr__(self) -> str:
        return f"ScalarMetric(name={self.name!r}, type={self.data_type})"


#: Any of the result containers.
Result = VoxelMap | ParcelData | ConnectivityMatrix | ScalarMetric
