"""Volume: one image of a space or map, available through one or more providers."""

from __future__ import annotations

from pathlib import Path

import nibabel as nib
import numpy as np

from neuratlas.errors import DataUnavailableError, NotFoundError
from neuratlas.volumes import providers
from neuratlas.volumes.nrrd import NRRD_FORMATS, NrrdSlabs
from neuratlas.volumes.resampling import resample_to_resolution
from neuratlas.volumes.slabs import ArraySlabs, SlabSource
from neuratlas.volumes.surfaces import Mesh

VOLUME_FORMATS = ("nii", "zip/nii", "nrrd", "nrrd/ccf")
SURFACE_FORMATS = ("gii-mesh", "gii-label")


class Volume:
    """An image named by provider URLs, fetched lazily.

    Parameters
    ----------
    providers : dict
        Format -> URL, or format -> {fragment: URL} for surfaces split by hemisphere.
    space_id : str
        The ``@id`` of the space the volume lives in.
    variant : str, optional
        E.g. ``"grey matter"`` or ``"pial"``.
    name : str, optional
    base : Path, optional
        The folder relative URLs resolve against (the spec's folder).
    """

    def __init__(
        self,
        providers: dict[str, str | dict[str, str]],
        *,
        space_id: str,
        variant: str | None = None,
        name: str | None = None,
        base: Path | None = None,
    ) -> None:
        self.providers = dict(providers)
        self.space_id = space_id
        self.variant = variant
        self.name = name
        self.base = base

    @property
    def formats(self) -> list[str]:
        return list(self.providers)

    @property
    def is_surface(self) -> bool:
        return any(f in SURFACE_FORMATS for f in self.providers)

    def __repr__(self) -> str:
        what = self.variant or self.name or "volume"
        return f"<Volume {what!r} ({', '.join(self.formats)})>"

    def _url(self, fmt: str, fragment: str | None = None) -> str:
        url = self.providers[fmt]
        if isinstance(url, dict):
            if fragment is None:
                raise NotFoundError(f"choose a fragment of {self!r}", suggestions=list(url))
            if fragment not in url:
                raise NotFoundError(
                    f"{self!r} has no fragment {fragment!r}", suggestions=list(url)
                )
            return url[fragment]
        return url

    def fragments(self, fmt: str) -> list[str | None]:
        url = self.providers[fmt]
        return list(url) if isinstance(url, dict) else [None]

    def path(self, fmt: str | None = None, fragment: str | None = None) -> Path:
        """The local file behind this volume (fetched and cached on first use)."""
        fmt = fmt or self.formats[0]
        return providers.resolve(self._url(fmt, fragment), self.base)

    def fetch(
        self,
        *,
        z: int | None = None,
        resolution_mm: float | None = None,
        fragment: str | None = None,
    ) -> nib.Nifti1Image | Mesh:
        """Load the volume.

        Parameters
        ----------
        z : int, optional
            For a 4D image, the index along the fourth axis.
        resolution_mm : float, optional
            Resample a NIfTI volume to this isotropic voxel size (linear interpolation).
        fragment : str, optional
            For surfaces, ``"left"`` or ``"right"``; both hemispheres merged if omitted.

        Returns
        -------
        nibabel.Nifti1Image or Mesh
        """
        if self.is_surface:
            fmt = "gii-mesh" if "gii-mesh" in self.providers else "gii-label"
            return self._fetch_mesh(fmt, fragment)
        fmt = self.volume_format
        img = providers.load_volume(self.path(fmt), fmt)
        if z is not None:
            img = select_volume(img, z)
        if resolution_mm is not None:
            img = resample_to_resolution(img, resolution_mm, order=1)
        return img

    @property
    def volume_format(self) -> str:
        """The provider format :meth:`fetch` reads a 3D or 4D image from.

        Raises
        ------
        DataUnavailableError
            No provider in a format neuratlas reads as a volume.
        """
        fmt = next((f for f in VOLUME_FORMATS if f in self.providers), None)
        if fmt is None:
            raise DataUnavailableError(
                f"{self!r} has no provider neuratlas can read ({', '.join(self.formats)})",
                hint="supported formats: " + ", ".join(VOLUME_FORMATS + SURFACE_FORMATS),
            )
        return fmt

    def slabs(self) -> SlabSource:
        """The 3D volume as a source of slabs, never whole in memory where its file allows.

        A NRRD file of raw or gzip data is decoded a few slabs at a time as they are
        asked for (:class:`~neuratlas.volumes.nrrd.NrrdSlabs`); any other volume is
        fetched (and kept in the in-memory cache) and handed over in slabs.

        Raises
        ------
        DataUnavailableError
            No provider neuratlas reads, or the file cannot be fetched.
        ImageError
            The file is not a readable 3D volume.
        """
        fmt = self.volume_format
        if fmt in NRRD_FORMATS:
            return NrrdSlabs(self.path(fmt), fmt)
        return ArraySlabs(self.fetch())

    def _fetch_mesh(self, fmt: str, fragment: str | None) -> Mesh:
        frags = [fragment] if fragment else self.fragments(fmt)
        meshes = {str(f): providers.load_mesh(self.path(fmt, f)) for f in frags}
        if len(meshes) == 1:
            return next(iter(meshes.values()))
        return Mesh.merge(meshes)


def select_volume(img: nib.Nifti1Image, z: int) -> nib.Nifti1Image:
    """The ``z``-th 3D volume of a 4D image, with the same affine."""
    if img.ndim != 4:
        if z == 0:
            return img
        raise NotFoundError(f"volume index z={z} given for a 3D image")
    if not 0 <= z < img.shape[3]:
        raise NotFoundError(f"volume index z={z} outside 0..{img.shape[3] - 1}")
    data = np.asanyarray(img.dataobj)[..., z]
    return nib.Nifti1Image(data, img.affine)
