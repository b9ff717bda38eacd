"""PNG pictures of maps: three orthogonal slices over the space's template."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import nibabel as nib
import numpy as np

from neuratlas.errors import ImageError
from neuratlas.retrieval.cache import atomic_write
from neuratlas.volumes.resampling import resample_to_grid


def render_png(
    img: nib.Nifti1Image,
    path: str | Path,
    *,
    template: nib.Nifti1Image | None = None,
    title: str | None = None,
    labelled: bool = False,
) -> Path:
    """Draw sagittal, coronal and axial slices through the centre of ``img``'s content.

    Parameters
    ----------
    img : nibabel.Nifti1Image
        A 3D map, mask or label image.
    path : path-like
        Where to write the PNG (atomically).
    template : nibabel.Nifti1Image, optional
        Drawn in grey underneath, on its own grid (``img`` is resampled onto it).
    title : str, optional
    labelled : bool
        Colour labels with a qualitative colour map instead of a heat map.
    """
    # heavy: matplotlib costs ~0.3 s to import; only pictures need it
    import matplotlib

    matplotlib.use("Agg")  # no display: draw into files only
    # heavy: as above (pyplot must come after the backend is chosen)
    import matplotlib.pyplot as plt

    if len(img.shape) != 3:
        raise ImageError(
            f"can only draw 3D images, got shape {img.shape}",
            hint="pick one volume of a 4D image first (e.g. with nibabel's slicer)",
        )
    # RAS+ voxel order: after rot90 the subject's left is on the left (neurological view)
    img = nib.as_closest_canonical(img)
    if template is not None:
        template = nib.as_closest_canonical(template)
        overlay = resample_to_grid(
            img, template.affine, template.shape, order=0 if labelled else 1
        )
        background = np.asanyarray(template.dataobj).astype(np.float32)
    else:
        overlay, background = img, None
    # NaN (the background of many SPM/FSL maps) draws like 0, not as a NaN colour scale
    data = np.nan_to_num(np.asanyarray(overlay.dataobj).astype(np.float32), nan=0.0)
    nonzero = np.argwhere(data > 0)
    centre = nonzero.mean(0).round().astype(int) if len(nonzero) else np.array(data.shape) // 2
    fig, axes = plt.subplots(1, 3, figsize=(10, 3.6), facecolor="black")
    try:
        _draw(fig, axes, data, background, centre, labelled, title)
        target = Path(path)
        with atomic_write(target) as handle:
            fig.savefig(handle, format="png", dpi=100, facecolor="black")
    finally:
        plt.close(fig)  # pyplot keeps every open figure alive: close it even on failure
    return target


def _draw(
    fig: Any,
    axes: Any,
    data: np.ndarray,
    background: np.ndarray | None,
    centre: np.ndarray,
    labelled: bool,
    title: str | None,
) -> None:
    cmap = "tab20" if labelled else "hot"
    vmax = float(data.max()) or 1.0
    for axis, ax in enumerate(axes):
        index = [slice(None)] * 3
        index[axis] = int(centre[axis])
        if background is not None:
            ax.imshow(np.rot90(background[tuple(index)]), cmap="gray")
        layer = np.ma.masked_less_equal(np.rot90(data[tuple(index)]), 0)
        ax.imshow(layer, cmap=cmap, vmin=0, vmax=vmax, alpha=0.85, interpolation="nearest")
        ax.set_axis_off()
        if axis != 0:
            ax.text(0.02, 0.02, "L", color="white", transform=ax.transAxes, fontsize=9)
            ax.text(0.95, 0.02, "R", color="white", transform=ax.transAxes, fontsize=9)
        ax.set_title(("sagittal", "coronal", "axial")[axis], color="white", fontsize=9)
    if title:
        fig.suptitle(title, color="white", fontsize=11)
