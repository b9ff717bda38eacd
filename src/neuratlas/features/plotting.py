"""Pictures of features with matplotlib: one function per kind of data.

matplotlib is imported by each function on first use, so that querying features
never pays for it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    import nibabel as nib
    import pandas as pd
    from matplotlib.axes import Axes


def _axes(ax: Axes | None, size: tuple[float, float] = (6, 5)) -> Axes:
    if ax is not None:
        return ax
    # heavy: matplotlib only when plotting
    import matplotlib.pyplot as plt

    _, ax = plt.subplots(figsize=size)
    return ax


def matrix(frame: pd.DataFrame, ax: Axes | None = None, title: str = "", **kwargs: Any) -> Axes:
    """A connectivity matrix as a heat map, region labels on both axes when few."""
    ax = _axes(ax, (7, 6))
    kwargs.setdefault("cmap", "viridis")
    image = ax.imshow(frame.to_numpy(dtype=float), interpolation="nearest", **kwargs)
    ax.figure.colorbar(image, ax=ax, shrink=0.8)
    n = len(frame)
    if n <= 40:  # more labels than that are unreadable
        ax.set_xticks(range(n), [str(c) for c in frame.columns], rotation=90, fontsize=6)
        ax.set_yticks(range(n), [str(i) for i in frame.index], fontsize=6)
    else:
        ax.set_xlabel(f"{n} regions")
        ax.set_ylabel(f"{n} regions")
    ax.set_title(title, fontsize=9)
    return ax


def bars(
    values: pd.Series,
    ax: Axes | None = None,
    title: str = "",
    errors: pd.Series | None = None,
    ylabel: str = "",
    **kwargs: Any,
) -> Axes:
    """Values per label as bars (a receptor fingerprint), with error bars if given."""
    ax = _axes(ax, (max(4.0, 0.35 * len(values)), 4))
    positions = np.arange(len(values))
    yerr = None if errors is None else errors.to_numpy(dtype=float)
    ax.bar(positions, values.to_numpy(dtype=float), yerr=yerr, capsize=2, **kwargs)
    ax.set_xticks(positions, [str(i) for i in values.index], rotation=60, ha="right", fontsize=7)
    ax.set_ylabel(ylabel)
    ax.set_title(title, fontsize=9)
    return ax


def profile(
    values: pd.Series,
    ax: Axes | None = None,
    title: str = "",
    ylabel: str = "",
    **kwargs: Any,
) -> Axes:
    """A cortical profile: value against relative depth (pial surface 0, white matter 1)."""
    ax = _axes(ax, (5, 4))
    ax.plot(values.index.to_numpy(dtype=float), values.to_numpy(dtype=float), **kwargs)
    ax.set_xlabel("relative cortical depth (0 pial, 1 white matter)")
    ax.set_ylabel(ylabel)
    ax.set_title(title, fontsize=9)
    return ax


def lines(frame: pd.DataFrame, ax: Axes | None = None, title: str = "", **kwargs: Any) -> Axes:
    """Each column of ``frame`` as a line over its index (a time series)."""
    ax = _axes(ax, (7, 4))
    shown = frame.iloc[:, :20]  # beyond 20 lines the picture says nothing
    ax.plot(shown.index.to_numpy(), shown.to_numpy(dtype=float), **kwargs)
    ax.set_xlabel(str(frame.index.name or ""))
    ax.set_title(title, fontsize=9)
    return ax


def image_slice(
    img: nib.Nifti1Image, ax: Axes | None = None, title: str = "", **kwargs: Any
) -> Axes:
    """The middle slice of the largest non-empty extent of a 3D image (axial)."""
    ax = _axes(ax, (5, 5))
    data = np.asanyarray(img.dataobj)
    while data.ndim > 3:
        data = data[..., 0]
    if data.ndim == 2:
        plane = data
    else:
        nonzero = np.argwhere(data != 0)
        k = int(np.median(nonzero[:, 2])) if len(nonzero) else data.shape[2] // 2
        plane = data[:, :, k]
    kwargs.setdefault("cmap", "gray")
    ax.imshow(np.rot90(plane), **kwargs)
    ax.set_axis_off()
    ax.set_title(title, fontsize=9)
    return ax


def points_over_template(
    coords: np.ndarray,
    template: nib.Nifti1Image | None,
    ax: Axes | None = None,
    title: str = "",
    **kwargs: Any,
) -> Axes:
    """Points (mm) projected onto the axial plane, over the template's middle slice."""
    ax = _axes(ax, (5, 6))
    if template is not None:
        data = np.asanyarray(template.dataobj)
        while data.ndim > 3:
            data = data[..., 0]
        # the axial slice through the points' median height, shown in mm
        z_mm = float(np.median(coords[:, 2])) if len(coords) else 0.0
        k = round(float((np.linalg.inv(template.affine) @ [0, 0, z_mm, 1])[2]))
        k = min(max(k, 0), data.shape[2] - 1)
        corners = (
            template.affine
            @ np.array([[0, 0, k, 1], [data.shape[0] - 1, data.shape[1] - 1, k, 1]]).T
        )
        x0, x1 = sorted(corners[0])
        y0, y1 = sorted(corners[1])
        plane = data[:, :, k]
        if template.affine[0, 0] < 0:
            plane = plane[::-1]
        if template.affine[1, 1] < 0:
            plane = plane[:, ::-1]
        ax.imshow(plane.T, origin="lower", extent=(x0, x1, y0, y1), cmap="gray")
    kwargs.setdefault("s", 4)
    kwargs.setdefault("c", "tab:red")
    ax.scatter(coords[:, 0], coords[:, 1], **kwargs)
    ax.set_xlabel("x (mm)")
    ax.set_ylabel("y (mm)")
    ax.set_aspect("equal")
    ax.set_title(title, fontsize=9)
    return ax
