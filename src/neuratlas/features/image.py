"""Image features: a volume in a reference space (volumes of interest, sections)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

import nibabel as nib

from neuratlas.errors import ArgumentError
from neuratlas.features import export as exporting
from neuratlas.features import plotting
from neuratlas.features.feature import Feature

if TYPE_CHECKING:
    from matplotlib.axes import Axes


class Image(Feature):
    """A feature whose data is a nibabel image in the anchor's space.

    The loader returns a nibabel image (or a path to a NIfTI file). Give the
    anchor a ``location`` (e.g. the image's BoundingBox) so that location queries
    and region queries can tell where it lies without loading it.
    """

    modality: ClassVar[str] = "image"
    aliases: ClassVar[tuple[str, ...]] = ("images", "volume", "nifti")
    category: ClassVar[str] = "image"

    @property
    def space(self) -> str | None:
        """The space the image is in (from the anchor)."""
        return self.anchor.space

    def _prepare(self, raw: Any) -> nib.spatialimages.SpatialImage:
        if isinstance(raw, str | Path):
            return nib.load(str(raw))
        if not isinstance(raw, nib.spatialimages.SpatialImage):
            raise ArgumentError(
                f"feature {self.id!r}: its loader gave {type(raw).__name__}, not an image",
                hint="an image feature's loader returns a nibabel image or a NIfTI path",
            )
        return raw

    def _summary_lines(self) -> list[str]:
        if not self.loaded:
            return ["image: not loaded yet (.data loads it)"]
        return [f"image: shape {tuple(self.data.shape)}"]

    def _export_files(self) -> dict[str, bytes]:
        return {"data.nii.gz": exporting.nifti_bytes(self.data)}

    def _plot(self, ax: Axes | None, **kwargs: Any) -> Axes:
        return plotting.image_slice(self.data, ax, self.name, **kwargs)


class VolumeOfInterest(Image):
    """A high-resolution volume of part of the brain (siibra's ``images/vois``)."""

    modality: ClassVar[str] = "volume of interest"
    aliases: ClassVar[tuple[str, ...]] = ("voi", "volumes of interest")


class Section(Image):
    """A histological section placed in a reference space (siibra's ``images/sections``)."""

    modality: ClassVar[str] = "section"
    aliases: ClassVar[tuple[str, ...]] = ("sections", "histological section")
