"""PNG pictures of maps: three orthogonal slices over the space's template.

Each panel names the position of its slice in mm (``x = -42 mm``). Label images
are drawn opaque with one colour per label, from a palette of saturated colours
without greys (so that no label disappears into the grey template), in an order
where consecutive labels, often neighbouring regions, differ in hue; the template
is drawn dimmed so that the colours stand out.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import nibabel as nib
import numpy as np

from neuratlas.errors import ImageError
from neuratlas.retrieval.cache import atomic_write
from neuratlas.volumes.grid import voxel_to_world
from neuratlas.volumes.resampling import resample_to_grid

# saturated colours of matplotlib's qualitative palettes (tab10 without its grey, then
# ColorBrewer's Set1, Dark2 and Paired), ordered so that consecutive labels differ in hue
LABEL_COLOURS = np.array(
    [
        (31, 119, 180), (255, 127, 14), (44, 160, 44), (214, 39, 40), (148, 103, 189),
        (23, 190, 207), (227, 119, 194), (188, 189, 34), (140, 86, 75), (255, 255, 51),
        (27, 158, 119), (217, 95, 2), (117, 112, 179), (231, 41, 138), (102, 166, 30),
        (230, 171, 2), (106, 61, 154), (253, 191, 111),
    ],
    dtype=np.float32,
) / 255  # fmt: skip
TEMPLATE_BRIGHTNESS = 0.7  # the grey of the template's 99.5th percentile: the map stands out


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
        Colour each label (or a mask) with a colour of its own (see the module notes)
        instead of a heat map of the values.

    Returns
    -------
    pathlib.Path
        The picture; its panels name the positions of their slices in mm.
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
    centre_mm = voxel_to_world(overlay.affine, centre)
    fig, axes = plt.subplots(1, 3, figsize=(10, 3.6), facecolor="black")
    try:
        _draw(fig, axes, data, background, centre, centre_mm, labelled, title)
        target = Path(path)
        with atomic_write(target) as handle:
            fig.savefig(handle, format="png", dpi=100, facecolor="black")
    finally:
        plt.close(fig)  # pyplot keeps every open figure alive: close it even on failure
    return target


def label_colours(labels: np.ndarray) -> np.ndarray:
    """RGBA colours (0..1) of integer labels: label ``k > 0`` gets ``LABEL_COLOURS[k - 1]``
    (cycling), label 0 and below are transparent."""
    keys = np.rint(labels).astype(np.int64)
    rgba = np.zeros((*keys.shape, 4), np.float32)
    shown = keys > 0
    rgba[shown, :3] = LABEL_COLOURS[(keys[shown] - 1) % len(LABEL_COLOURS)]
    rgba[shown, 3] = 1.0
    return rgba


def _draw(
    fig: Any,
    axes: Any,
    data: np.ndarray,
    background: np.ndarray | None,
    centre: np.ndarray,
    centre_mm: np.ndarray,
    labelled: bool,
    title: str | None,
) -> None:
    vmax = float(data.max()) or 1.0
    # the template's grey stops below white (robust to a few very bright voxels)
    grey_max = (
        float(np.percentile(background[background > 0], 99.5)) / TEMPLATE_BRIGHTNESS
        if background is not None and (background > 0).any()
        else 1.0
    )
    for axis, ax in enumerate(axes):
        index = [slice(None)] * 3
        index[axis] = int(centre[axis])
        if background is not None:
            ax.imshow(np.rot90(background[tuple(index)]), cmap="gray", vmin=0, vmax=grey_max)
        plane = np.rot90(data[tuple(index)])
        if labelled:
            ax.imshow(label_colours(plane), interpolation="nearest")
        else:
            layer = np.ma.masked_less_equal(plane, 0)
            ax.imshow(layer, cmap="hot", vmin=0, vmax=vmax, alpha=0.85, interpolation="nearest")
        ax.set_axis_off()
        if axis != 0:
            ax.text(0.02, 0.02, "L", color="white", transform=ax.transAxes, fontsize=9)
            ax.text(0.95, 0.02, "R", color="white", transform=ax.transAxes, fontsize=9)
        name = ("sagittal", "coronal", "axial")[axis]
        where = f"{'xyz'[axis]} = {int(np.rint(centre_mm[axis]))} mm"  # no "-0 mm"
        ax.set_title(f"{name}, {where}", color="white", fontsize=9)
    if title:
        fig.suptitle(title, color="white", fontsize=11)
