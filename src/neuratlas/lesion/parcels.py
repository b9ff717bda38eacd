"""A parcellation's regions on a lesion's voxel grid, as one sparse membership matrix.

Every lesion analysis that reports per region needs the same thing: which voxels
of the lesion's grid belong to which region, and how much. For a labelled map a
voxel belongs wholly to the region of its label; for a statistical map
(Juelich, Harvard-Oxford, HCP1065 tracts) it belongs to each region with that
region's probability. Both are one sparse matrix ``membership`` of shape
(voxels of the grid, regions), so that per-region sums of any voxel values are
one sparse product, for one lesion or a hundred at once:

    overlap = membership.T @ lesions      # (regions, lesions)

Parcellations come from the catalogue (any parcellation with a volumetric map in
the lesion's space) or from a user's NIfTI + labels file. A map on another grid
of the same space is brought to the lesion's grid by nearest neighbour (labels
and probabilities keep their values); a map in another space is refused.
"""

from __future__ import annotations

import csv
import os
import threading
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import nibabel as nib
import numpy as np
from scipy import sparse

from neuratlas.catalogue import active
from neuratlas.core.map_index import MapType
from neuratlas.errors import ArgumentError, ImageError, NotFoundError, SpaceMismatchError
from neuratlas.lesion.results import bids_label
from neuratlas.lesion.spaces import bids_space_label, resolve_space
from neuratlas.volumes import gz
from neuratlas.volumes.nifti import open_image
from neuratlas.volumes.resampling import resample_to_grid

if TYPE_CHECKING:
    from neuratlas.core.maps import Map
    from neuratlas.core.parcellation import Parcellation

__all__ = ["Parcels", "parcels_on_grid", "read_label_file"]


@dataclass(frozen=True)
class Parcels:
    """The regions of a parcellation on one voxel grid.

    Attributes
    ----------
    name : str
        A BIDS label for the parcellation (``Schaefer2018400Parcels7Networks``),
        for result keys and file names.
    title : str
        Its full name.
    region_names : list of str
        The regions, in the map's order.
    region_labels : list of int
        Each region's label in a labelled map; its position + 1 in a statistical map.
    membership : scipy.sparse.csc_matrix, shape (voxels, regions)
        How much each voxel of the grid (C order) belongs to each region: 1 or a probability.
    shape : tuple of int
    affine : numpy.ndarray
    probabilistic : bool
        Whether ``membership`` holds probabilities (a statistical map).
    """

    name: str
    title: str
    region_names: list[str]
    region_labels: list[int]
    membership: sparse.csc_matrix
    shape: tuple[int, int, int]
    affine: np.ndarray
    probabilistic: bool

    @property
    def sizes(self) -> np.ndarray:
        """Each region's size on the grid: voxels, or summed probability."""
        return np.asarray(self.membership.sum(axis=0)).ravel()

    def region_sums(self, values: np.ndarray | sparse.spmatrix) -> np.ndarray:
        """Per-region sums of voxel values, weighted by membership.

        Parameters
        ----------
        values : array or sparse matrix
            A volume on the grid (3D), or several as columns of a (voxels, n) matrix.

        Returns
        -------
        numpy.ndarray
            (regions,) for one volume, (regions, n) for several.
        """
        if not sparse.issparse(values) and np.ndim(values) == 3:
            values = np.asarray(values).reshape(-1)
        out = self.membership.T @ values
        return out.toarray() if sparse.issparse(out) else np.asarray(out)

    def labels_volume(self) -> np.ndarray:
        """A labelled map's labels on the grid (0 = background); labelled maps only."""
        if self.probabilistic:
            raise ArgumentError(f"{self.title} is a probabilistic map: it has no label volume")
        coo = self.membership.tocoo()
        out = np.zeros(int(np.prod(self.shape)), dtype=np.int32)
        out[coo.row] = np.asarray(self.region_labels, dtype=np.int32)[coo.col]
        return out.reshape(self.shape)


def read_label_file(path: str | os.PathLike[str]) -> dict[int, str]:
    """Label -> region name from a labels file.

    Understands a name per line (the line number is the label, from 1), ``ID name``
    lines, and BIDS ``dseg.tsv`` tables (columns ``index`` and ``name``).

    Raises
    ------
    ArgumentError
        The file is missing, empty, or has a line that fits none of the formats.
    """
    path = Path(path)
    if not path.is_file():
        raise ArgumentError(
            f"{path}: no such labels file", hint="give the labels file of the atlas image"
        )
    lines = [ln.strip() for ln in path.read_text(encoding="utf-8-sig").splitlines()]
    lines = [ln for ln in lines if ln and not ln.startswith("#")]
    if not lines:
        raise ArgumentError(f"{path}: the labels file is empty")
    if path.suffix == ".tsv" or ("\t" in lines[0] and lines[0].split("\t")[0].lower() == "index"):
        rows = list(csv.DictReader(lines, delimiter="\t"))
        if not rows or "index" not in rows[0] or "name" not in rows[0]:
            raise ArgumentError(f"{path}: a labels table needs the columns index and name")
        return {int(r["index"]): r["name"] for r in rows if int(r["index"]) != 0}
    first = lines[0].split(maxsplit=1)
    if len(first) == 2 and first[0].isdigit():
        table = {}
        for n, line in enumerate(lines, 1):
            parts = line.split(maxsplit=1)
            if len(parts) != 2 or not parts[0].isdigit():
                raise ArgumentError(f"{path}:{n}: expected 'ID name', got {line!r}")
            if int(parts[0]) != 0:
                table[int(parts[0])] = parts[1]
        return table
    return {n: name for n, name in enumerate(lines, 1)}


def _membership_from_labels(labels: np.ndarray, region_labels: list[int]) -> sparse.csc_matrix:
    flat = labels.reshape(-1)
    column_of = {lab: k for k, lab in enumerate(region_labels)}
    voxels = np.flatnonzero(flat)
    found = flat[voxels]
    lookup_keys = np.array(sorted(column_of), dtype=np.int64)
    lookup_cols = np.array([column_of[k] for k in lookup_keys], dtype=np.int64)
    pos = np.searchsorted(lookup_keys, found)
    pos = np.clip(pos, 0, len(lookup_keys) - 1)
    known = lookup_keys[pos] == found  # labels in the image but not in the table are background
    data = np.ones(int(known.sum()), dtype=np.float64)
    return sparse.csc_matrix(
        (data, (voxels[known], lookup_cols[pos[known]])), shape=(flat.size, len(region_labels))
    )


def _on_grid(img: nib.Nifti1Image, shape: tuple[int, int, int], affine: np.ndarray) -> np.ndarray:
    return np.asanyarray(resample_to_grid(img, affine, shape, order=0).dataobj)


def _labelled(
    name: str, title: str, img: nib.Nifti1Image, table: dict[int, str], shape, affine
) -> Parcels:
    labels = _on_grid(img, shape, affine)
    if not np.issubdtype(labels.dtype, np.integer):
        rounded = np.rint(labels)
        if not np.allclose(labels, rounded):
            raise ImageError(f"{title}: a labelled map holds whole numbers; this one does not")
        labels = rounded.astype(np.int64)
    region_labels = sorted(table)
    return Parcels(
        name,
        title,
        [table[k] for k in region_labels],
        region_labels,
        _membership_from_labels(labels, region_labels),
        shape,
        affine,
        probabilistic=False,
    )


def _statistical(m: Map, name: str, shape, affine) -> Parcels:
    index = m.sparse_index
    rows = _on_grid(nib.Nifti1Image(index.voxels, index.affine), shape, affine).reshape(-1)
    voxels = np.flatnonzero(rows >= 0)
    row_of_voxel = rows[voxels].astype(np.int64)
    starts, stops = index.indptr[row_of_voxel], index.indptr[row_of_voxel + 1]
    counts = (stops - starts).astype(np.int64)
    # the entries of each voxel's row, laid out voxel after voxel: a voxel's first
    # entry is its row's start, the next ones follow it
    first_of_voxel = np.repeat(np.cumsum(counts) - counts, counts)
    entry = np.repeat(starts, counts) + (np.arange(counts.sum()) - first_of_voxel)
    membership = sparse.csc_matrix(
        (
            m.scaled(index.values[entry]).astype(np.float64),
            (np.repeat(voxels, counts), index.volumes[entry]),
        ),
        shape=(rows.size, index.num_volumes),
    )
    names = [region for region, _fragment in m.sparse_entries]
    return Parcels(
        name,
        m.parcellation.name,
        names,
        list(range(1, len(names) + 1)),
        membership,
        shape,
        affine,
        probabilistic=True,
    )


def _catalogue_map(parcellation: Parcellation, space: str) -> Map:
    target = resolve_space(space)
    maps = [m for m in active().maps if m.parcellation.id == parcellation.id and not m.is_surface]
    if not maps:
        raise NotFoundError(
            f"{parcellation.name} has no volumetric map", hint="choose another parcellation"
        )
    here = [m for m in maps if m.space.id == target.id]
    if not here:
        have = ", ".join(sorted({bids_space_label(m.space) for m in maps}))
        raise SpaceMismatchError(
            f"{parcellation.name} has no map in {bids_space_label(target)}; it has maps in {have}",
            hint="register the lesion to one of those spaces, or use a parcellation in its space",
        )
    # a statistical map, where there is one, is the parcellation itself; the derived
    # maximum-probability maps are its summaries
    here.sort(key=lambda m: (m.maptype is not MapType.STATISTICAL, m.threshold or 0.0))
    return here[0]


def parcels_on_grid(
    parcellation: object,
    space: str,
    shape: tuple[int, int, int],
    affine: np.ndarray,
    *,
    maptype: str | None = None,
) -> Parcels:
    """The regions of ``parcellation`` on the grid ``(shape, affine)`` of ``space``.

    Parameters
    ----------
    parcellation : str, Parcellation or (image path, labels path)
        A catalogue parcellation (any of its names), or a user's labelled NIfTI and
        its labels file (:func:`read_label_file`), taken to be in ``space``.
    space : str
        The grid's space; a catalogue parcellation must have a map in it.
    shape, affine
        The grid.
    maptype : {"labelled", "statistical"}, optional
        Which of the parcellation's maps; by default the statistical one where there
        is one (probability-weighted results), else the labelled one.

    Raises
    ------
    NotFoundError
        An unknown parcellation (with suggestions).
    SpaceMismatchError
        The parcellation has no map in ``space``.
    ArgumentError, ImageError
        A user atlas whose files are missing or unreadable.
    """
    shape = tuple(int(s) for s in shape[:3])
    affine = np.asarray(affine, dtype=np.float64)
    key = _cache_key(parcellation, space, shape, affine, maptype)
    with _RECENT_LOCK:
        if key in _RECENT:
            _RECENT.move_to_end(key)
            return _RECENT[key]
    parcels = _make_parcels(parcellation, space, shape, affine, maptype)
    with _RECENT_LOCK:
        _RECENT[key] = parcels
        while len(_RECENT) > _RECENT_KEPT:
            _RECENT.popitem(last=False)
    return parcels


#: Parcellations on grids kept in this process: a worker that runs one batch after
#: another (a long-lived Dask cluster, the service) builds each one once.
_RECENT_KEPT = 8
_RECENT: OrderedDict[tuple, Parcels] = OrderedDict()
_RECENT_LOCK = threading.Lock()


def _cache_key(
    parcellation: object,
    space: str,
    shape: tuple[int, ...],
    affine: np.ndarray,
    maptype: str | None,
) -> tuple:
    if isinstance(parcellation, tuple):
        # a user's files: their paths, sizes and times, so that an edited file is read again
        what: object = tuple(
            (str(Path(p).resolve()), Path(p).stat().st_size, Path(p).stat().st_mtime_ns)
            if Path(p).exists()
            else str(p)
            for p in parcellation
        )
    else:
        parc = (
            active().parcellations.get(parcellation)
            if isinstance(parcellation, str)
            else parcellation
        )
        what = (id(active()), parc.id)
    return (what, resolve_space(space).id, shape, affine.round(6).tobytes(), maptype)


def _make_parcels(
    parcellation: object,
    space: str,
    shape: tuple[int, int, int],
    affine: np.ndarray,
    maptype: str | None,
) -> Parcels:
    if isinstance(parcellation, tuple):
        image_path, labels_path = parcellation
        table = read_label_file(labels_path)
        try:
            with open_image(image_path) as img:
                loaded = nib.Nifti1Image(np.asanyarray(img.dataobj), img.affine)
        except (OSError, ValueError, nib.filebasedimages.ImageFileError, *gz.ERRORS) as exc:
            raise ImageError(f"{image_path}: not a readable NIfTI image ({exc})") from None
        if loaded.ndim != 3:
            raise ImageError(
                f"{image_path}: a labelled atlas is a 3D image, this one is {loaded.shape}"
            )
        title = Path(image_path).name.split(".")[0]
        return _labelled(bids_label(title), title, loaded, table, shape, affine)
    parc = (
        active().parcellations.get(parcellation) if isinstance(parcellation, str) else parcellation
    )
    m = _catalogue_map(parc, space)
    if maptype is not None and m.maptype.value != maptype:
        wanted = [
            x
            for x in active().maps
            if x.parcellation.id == parc.id
            and x.space.id == m.space.id
            and x.maptype.value == maptype
        ]
        if not wanted:
            raise NotFoundError(f"{parc.name} has no {maptype} map in {space}")
        m = min(wanted, key=lambda x: x.threshold or 0.0)
    name = bids_label(parc.short_name or parc.name)
    if m.maptype is MapType.STATISTICAL:
        return _statistical(m, name, shape, affine)
    table = {label: region for label, region in m.label_lut.items()}
    return _labelled(name, parc.name, m.fetch(), table, shape, affine)
