"""SparseMap: a statistical map whose region maps live in one :class:`SparseIndex`."""

from __future__ import annotations

from pathlib import Path

import nibabel as nib
import numpy as np

from neuratlas.core.map_index import MapIndex
from neuratlas.core.maps import Map
from neuratlas.core.sparse_sources import index_key
from neuratlas.errors import ImageError, NotFoundError
from neuratlas.retrieval.packages import resolve
from neuratlas.volumes.sparse import SparseIndex, load_zip, save_zip, store_index


class SparseMap(Map):
    """A statistical map whose region maps live in one :class:`SparseIndex`.

    The index is built from the source images on first use and cached on disk
    (memory-mapped on later loads), so fetching one region never decodes the
    whole 4D source again.
    """

    @property
    def affine(self) -> np.ndarray:
        """The affine of the map's voxel grid."""
        return self.sparse_index.affine

    @property
    def shape(self) -> tuple[int, int, int]:
        """The shape of the map's voxel grid."""
        return self.sparse_index.shape

    def _statistical_volume(self, index: MapIndex) -> nib.Nifti1Image:
        try:
            k = self.sparse_sources.index((index.volume, index.z))
        except ValueError:
            raise NotFoundError(f"{self.name!r} has no map at {index}") from None
        data = self.scaled(self.sparse_index.fetch(k))
        return nib.Nifti1Image(data, self.affine)

    def load_zipped_sparseindex(self, zipfname: str) -> SparseIndex:
        """Load a precomputed index from a zip (path or URL) and cache it for this map.

        Parameters
        ----------
        zipfname : str
            A path or URL of a zip written by :meth:`save_sparseindex`.

        Raises
        ------
        ImageError
            The index does not fit this map (number of volumes or grid).
        """
        loaded = load_zip(resolve(str(zipfname)))
        if loaded.num_volumes != len(self.sparse_sources):
            raise ImageError(
                f"{zipfname!r} holds {loaded.num_volumes} volumes, "
                f"but {self.name!r} has {len(self.sparse_sources)} region maps",
                hint="the index was computed for another map",
            )
        self.__dict__["sparse_index"] = store_index(index_key(self), loaded)
        return self.sparse_index

    def save_sparseindex(self, destination: str | Path, filename: str | None = None) -> Path:
        """Save this map's index as ``<destination>/<filename>.zip`` (built first if needed).

        Parameters
        ----------
        destination : path-like
            The folder to write to.
        filename : str, optional
            Name of the zip (without ``.zip``); defaults to the map's key.
        """
        name = filename or self.key.lower()
        return save_zip(self.sparse_index, Path(destination) / f"{name}.zip")
