"""A map reduced to what assignment needs: values at voxels and per-region sums.

Each lookup lists the map's distinct (region, fragment) maps as its *entries*:
the labels of a labelled map, the volumes of a statistical one. Both kinds answer
the same two questions, so the assignment code never asks which kind it holds:
``values_at(ijk)`` and the per-entry sums ``s_m`` (Σ M), ``s_m2`` (Σ M²) and
``n_m`` (|supp M|), with map values at or below the threshold counted as 0.

A labelled map derived from a statistical one (:mod:`neuratlas.core.derived`) is
binary masks like any labelled map, but the ``map value`` it reports
(:meth:`MapLookup.map_values`) is the probability of the region in the
statistical map, so that a label chosen as the most probable one still shows how
probable it is.
"""

from __future__ import annotations

import abc
from functools import cached_property, lru_cache
from typing import TYPE_CHECKING

import numpy as np

from neuratlas.core.derived import maximum_probability_values
from neuratlas.core.map_index import MapType
from neuratlas.errors import ArgumentError

if TYPE_CHECKING:
    from neuratlas.core.maps import Map


class MapLookup(abc.ABC):
    """What both kinds of lookup provide (see the module notes).

    Attributes
    ----------
    map : Map
    threshold : float
    affine : ndarray, shape (4, 4)
    shape : tuple of int
        The map's voxel grid.
    entries : list of (str, str or None)
        (region name, fragment) of each entry.
    s_m, s_m2, n_m : ndarray
        Σ M, Σ M² and |supp M| of each entry.
    """

    map: Map
    threshold: float
    affine: np.ndarray
    shape: tuple[int, ...]
    entries: list[tuple[str, str | None]]
    s_m: np.ndarray
    s_m2: np.ndarray
    n_m: np.ndarray

    def values_at(self, ijk: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Map values at voxels: ``(row of ijk, entry, value)`` for every value above threshold.

        Voxels outside the grid give no rows.
        """
        ijk = np.asarray(ijk, dtype=np.int64).reshape(-1, 3)
        inside = np.all((ijk >= 0) & (ijk < np.array(self.shape[:3])), axis=1)
        rows = np.flatnonzero(inside)
        point, entry, value = self._values_inside(ijk[rows])
        keep = value > self.threshold
        return rows[point[keep]], entry[keep], value[keep]

    def map_values(
        self, ijk: np.ndarray, row: np.ndarray, entry: np.ndarray, value: np.ndarray
    ) -> np.ndarray:
        """The ``map value`` column: what the map says of each entry at a voxel.

        Parameters
        ----------
        ijk : ndarray, shape (M, 3)
            Voxels.
        row : ndarray, shape (N,)
            Which voxel of ``ijk`` each entry is asked about at.
        entry : ndarray, shape (N,)
            The entries.
        value : ndarray, shape (N,)
            ``M`` of each entry at its voxel (0 where it does not cover the voxel).

        Returns
        -------
        ndarray
            ``value`` itself, except for derived maps (:class:`DerivedLookup`).
        """
        return np.asarray(value, dtype=np.float64)

    @abc.abstractmethod
    def _values_inside(self, ijk: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(row of ijk, entry, value)`` for voxels known to lie on the grid."""


# labels below this are counted with one dense bincount (8 bytes a label value)
DENSE_LABELS = 1 << 22


class LabelledLookup(MapLookup):
    """A labelled map: each entry is a label, its map the binary mask of that label."""

    def __init__(self, the_map: Map, lower_threshold: float = 0.0) -> None:
        self.map = the_map
        self.threshold = float(lower_threshold)
        img = the_map.fetch()
        labels = np.asanyarray(img.dataobj)
        if labels.dtype.kind == "f":
            labels = labels.astype(np.int64)
        self.affine, self.shape = img.affine, labels.shape
        lut_items = sorted(the_map.label_lut.items())
        self.entries = [(name, _fragment(the_map, name, label)) for label, name in lut_items]
        # the labels in ascending order; entry k is the k-th label
        self._keys = np.array([label for label, _ in lut_items], dtype=np.int64)
        self._labels = labels
        n = self._voxel_counts(labels).astype(float)
        # binary masks: Σ M = Σ M² = |supp M| (a threshold >= 1 leaves nothing)
        n = n if self.threshold < 1 else np.zeros_like(n)
        self.s_m, self.s_m2, self.n_m = n, n, n

    def _entries(self, labels: np.ndarray) -> np.ndarray:
        """The entry of each label value, -1 where the map names no region."""
        flat = np.asarray(labels, dtype=np.int64).ravel()
        if not self._keys.size:
            return np.full(flat.shape, -1, dtype=np.int64)
        # a binary search, not a table indexed by label: label values may be large
        # (the Allen mouse annotation's reach 614,454,277)
        entry = np.minimum(np.searchsorted(self._keys, flat), len(self._keys) - 1)
        return np.where(self._keys[entry] == flat, entry, -1)

    def _voxel_counts(self, labels: np.ndarray) -> np.ndarray:
        """How many voxels each entry's label has."""
        top = int(labels.max(initial=0))
        if top < DENSE_LABELS and (not self._keys.size or self._keys[-1] < DENSE_LABELS):
            # small labels: one bincount over the voxels, read at the entries' labels
            counts = np.bincount(
                labels.ravel().astype(np.int64, copy=False).clip(0), minlength=top + 1
            )
            inside = self._keys[self._keys <= top]
            return np.concatenate(
                [counts[inside], np.zeros(len(self._keys) - len(inside), np.int64)]
            )
        entries = self._entries(labels)
        return np.bincount(entries[entries >= 0], minlength=len(self._keys))

    def _values_inside(self, ijk: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        entry = self._entries(self._labels[ijk[:, 0], ijk[:, 1], ijk[:, 2]])
        point = np.flatnonzero(entry >= 0)
        return point, entry[point], np.ones(len(point), dtype=np.float64)


class DerivedLookup(LabelledLookup):
    """A labelled map derived from a statistical one: map values are its probabilities.

    At a voxel that an entry labels, its probability is the voxel's top one
    (:func:`~neuratlas.core.derived.maximum_probability_values`, one array read);
    elsewhere (e.g. a region near, not at, a blob's centre) it is read from the
    statistical map's sparse index.
    """

    def __init__(self, the_map: Map, source: Map, lower_threshold: float = 0.0) -> None:
        super().__init__(the_map, lower_threshold)
        self.source = source
        self._source_threshold = the_map.threshold or 0.0

    @cached_property
    def _top(self) -> tuple[np.ndarray, tuple[int, ...], str]:
        # flat, to read it with one take (three-array fancy indexing costs three times more)
        img = maximum_probability_values(self.source, self._source_threshold)
        top = np.asanyarray(img.dataobj)
        order = "F" if top.flags.f_contiguous else "C"
        return np.ravel(top, order=order), top.shape, order

    @cached_property
    def _entry_of_volume(self) -> np.ndarray:
        # the derived map labels regions by name: one entry per region of the source
        by_name = {name: entry for entry, (name, _) in enumerate(self.entries)}
        return np.array([by_name.get(name, -1) for name, _ in self.source.sparse_entries])

    def map_values(
        self, ijk: np.ndarray, row: np.ndarray, entry: np.ndarray, value: np.ndarray
    ) -> np.ndarray:
        """The probability of each entry's region at its voxel, in the statistical map."""
        out = np.zeros(len(entry), dtype=np.float64)
        labelled = np.asarray(value) > 0
        top, shape, order = self._top
        if labelled.all():  # exact points: every row is the label at its voxel
            # voxels off the grid have no rows: clipping them changes no value read
            flat = np.ravel_multi_index(ijk.T, shape, mode="clip", order=order)
            out[:] = top.take(flat.take(row))
        elif labelled.any():
            flat = np.ravel_multi_index(ijk[row[labelled]].T, shape, order=order)
            out[labelled] = top.take(flat)
        others = np.flatnonzero(~labelled)
        if len(others):
            point, volume, found = self.source.sparse_index.values_at(ijk[row[others]])
            mine = self._entry_of_volume[volume] == entry[others][point]
            # a region with several source volumes has their maximum, as its map does
            np.maximum.at(out, others[point[mine]], self.source.scaled(found[mine]))
        return out


class StatisticalLookup(MapLookup):
    """A statistical map: each entry is one region map, read from the sparse index."""

    def __init__(self, the_map: Map, lower_threshold: float = 0.0) -> None:
        self.map = the_map
        self.threshold = float(lower_threshold)
        index = the_map.sparse_index
        self.affine, self.shape = index.affine, index.shape
        self._index = index
        self.entries = list(the_map.sparse_entries)
        values = the_map.scaled(index.values).astype(np.float64)
        volumes = np.asarray(index.volumes)
        keep = values > self.threshold
        size = len(self.entries)
        self.s_m = np.bincount(volumes[keep], weights=values[keep], minlength=size)
        self.s_m2 = np.bincount(volumes[keep], weights=values[keep] ** 2, minlength=size)
        self.n_m = np.bincount(volumes[keep], minlength=size).astype(float)

    def _values_inside(self, ijk: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        point, entry, value = self._index.values_at(ijk)
        return point, entry, self.map.scaled(value).astype(np.float64)


@lru_cache(maxsize=16)
def lookup_for(the_map: Map, lower_threshold: float = 0.0) -> MapLookup:
    """The lookup of a volumetric map, of the kind its map type calls for.

    Kept for the next call (a few recent maps and thresholds): building one sums the
    whole map (~100 ms and ~100 MB for Juelich's 2.9 M values), answering from it
    costs only the points asked about, which matters for a service assigning
    point after point. Lookups are read-only, so threads may share them.

    Raises
    ------
    ArgumentError
        ``the_map`` is a surface map.
    """
    if the_map.is_surface:
        raise ArgumentError(
            f"{the_map.name!r} is a surface map: assignment works on volumetric maps",
            hint="use a volumetric map of the same parcellation",
        )
    if the_map.maptype is MapType.STATISTICAL:
        return StatisticalLookup(the_map, lower_threshold)
    source = the_map.derived_from
    if source is None:
        return LabelledLookup(the_map, lower_threshold)
    return DerivedLookup(the_map, source, lower_threshold)


def _fragment(the_map: Map, name: str, label: int) -> str | None:
    for index in the_map.indices[name]:
        if index.label == label:
            return index.fragment
    return None
