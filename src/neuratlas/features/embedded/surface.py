"""Features on a cortical surface: per-vertex maps and their regional statistics.

A :class:`SurfaceMap` holds one value per vertex of a surface space, both
hemispheres (left first, as fs_LR 32k files list them); a
:class:`RegionalSurfaceStatistics` table sums such a map up over the regions of a
surface parcellation: mean, standard deviation and vertex count per region.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np
import pandas as pd

from neuratlas.errors import ArgumentError
from neuratlas.features.feature import Feature
from neuratlas.features.tabular import Tabular

if TYPE_CHECKING:
    from matplotlib.axes import Axes

__all__ = [
    "CorticalThicknessMap",
    "CurvatureMap",
    "FunctionalGradientMap",
    "MicrostructuralGradientMap",
    "RegionalSurfaceStatistics",
    "SurfaceMap",
    "T1wT2wRatioMap",
    "regional_statistics",
]

#: The columns of a regional statistics table, in order.
STATISTICS_COLUMNS = ("mean", "std", "vertices")


class SurfaceMap(Feature):
    """One value per vertex of a surface space; ``.data`` is a read-only float ndarray.

    Parameters
    ----------
    hemispheres : sequence of (str, int)
        The hemispheres in the order the values list them, with their vertex counts,
        e.g. ``(("left", 32492), ("right", 32492))``.
    **kwargs
        Those of :class:`~neuratlas.features.feature.Feature`.
    """

    modality: ClassVar[str] = "surface map"
    aliases: ClassVar[tuple[str, ...]] = ("cortical surface map", "vertex map", "surface data")
    category: ClassVar[str] = "surface"

    def __init__(self, *, hemispheres: Sequence[tuple[str, int]], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.hemispheres = [(str(name), int(count)) for name, count in hemispheres]
        if not self.hemispheres or any(count <= 0 for _, count in self.hemispheres):
            raise ArgumentError(
                f"feature {self.id!r}: hemispheres must name positive vertex counts, "
                f"got {hemispheres!r}",
                hint='e.g. hemispheres=(("left", 32492), ("right", 32492))',
            )

    @property
    def n_vertices(self) -> int:
        """The number of values: the vertices of all hemispheres."""
        return sum(count for _, count in self.hemispheres)

    def _prepare(self, raw: Any) -> np.ndarray:
        values = np.asarray(raw, dtype=np.float64)
        if values.shape != (self.n_vertices,):
            raise ArgumentError(
                f"feature {self.id!r}: {values.shape} values for a surface of "
                f"{self.n_vertices} vertices",
                hint="the loader returns one value per vertex, hemispheres in order",
            )
        values.setflags(write=False)
        return values

    def hemisphere(self, name: str) -> np.ndarray:
        """The values of one hemisphere (``"left"``, ``"right"``).

        Raises
        ------
        ArgumentError
            The surface has no such hemisphere.
        """
        start = 0
        for side, count in self.hemispheres:
            if side == name:
                return self.data[start : start + count]
            start += count
        raise ArgumentError(
            f"feature {self.name!r} has no hemisphere {name!r}",
            hint="choose one of " + ", ".join(side for side, _ in self.hemispheres),
        )

    def _summary_lines(self) -> list[str]:
        sides = ", ".join(f"{side} {count}" for side, count in self.hemispheres)
        line = f"vertices: {self.n_vertices} ({sides})"
        if self.loaded:
            line += f"; values {np.nanmin(self.data):.4g} .. {np.nanmax(self.data):.4g}"
        return [line]

    def _export_files(self) -> dict[str, bytes]:
        frame = pd.DataFrame(
            {
                "hemisphere": np.repeat(
                    [s for s, _ in self.hemispheres], [c for _, c in self.hemispheres]
                ),
                "vertex": np.concatenate([np.arange(c) for _, c in self.hemispheres]),
                "value": self.data,
            }
        )
        return {"values.csv": frame.to_csv(index=False).encode("utf-8")}

    def _plot(self, ax: Axes | None, **kwargs: Any) -> Axes:
        # a histogram per hemisphere: a mesh view needs the space's surfaces
        if ax is None:
            # heavy: matplotlib only when plotting
            import matplotlib.pyplot as plt

            _, ax = plt.subplots(figsize=(6, 4))
        kwargs.setdefault("bins", 60)
        kwargs.setdefault("alpha", 0.6)
        for side, _ in self.hemispheres:
            values = self.hemisphere(side)
            ax.hist(values[np.isfinite(values)], label=side, **kwargs)
        ax.set_xlabel(self.modality)
        ax.set_ylabel("vertices")
        ax.legend()
        ax.set_title(self.name, fontsize=9)
        return ax


class CorticalThicknessMap(SurfaceMap):
    """Cortical thickness (mm) per vertex."""

    modality: ClassVar[str] = "cortical thickness"
    aliases: ClassVar[tuple[str, ...]] = ("thickness", "cortical thickness map")


class T1wT2wRatioMap(SurfaceMap):
    """The T1-weighted / T2-weighted image intensity ratio (a myelin marker) per vertex."""

    modality: ClassVar[str] = "t1w/t2w ratio"
    aliases: ClassVar[tuple[str, ...]] = ("t1w t2w", "t1wt2w", "myelin map", "t1/t2 ratio")


class CurvatureMap(SurfaceMap):
    """Mean curvature of the cortical surface per vertex."""

    modality: ClassVar[str] = "curvature"
    aliases: ClassVar[tuple[str, ...]] = ("surface curvature", "mean curvature")


class FunctionalGradientMap(SurfaceMap):
    """A principal gradient of functional connectivity (diffusion map embedding) per vertex."""

    modality: ClassVar[str] = "functional gradient"
    aliases: ClassVar[tuple[str, ...]] = ("fc gradient", "connectivity gradient")


class MicrostructuralGradientMap(SurfaceMap):
    """A gradient of microstructural profile covariance (MPC) per vertex."""

    modality: ClassVar[str] = "microstructural profile covariance gradient"
    aliases: ClassVar[tuple[str, ...]] = ("mpc gradient", "microstructural gradient")


class RegionalSurfaceStatistics(Tabular):
    """A surface map summed up per region: ``mean``, ``std`` and ``vertices`` columns.

    The index holds region names, in label order. ``metadata["measure"]`` names the
    surface map's modality (``"cortical thickness"`` ...).
    """

    modality: ClassVar[str] = "regional surface statistics"
    aliases: ClassVar[tuple[str, ...]] = (
        "regional surface map",
        "surface statistics",
        "regional cortical measures",
    )


def regional_statistics(
    values: np.ndarray, labels: np.ndarray, names: Mapping[int, str]
) -> pd.DataFrame:
    """Mean, standard deviation (ddof 0) and vertex count of ``values`` per label.

    Parameters
    ----------
    values : ndarray, shape (V,)
        One value per vertex; vertices whose value is not finite are left out.
    labels : ndarray of int, shape (V,)
        One label per vertex (codes of ``names``; other labels are ignored).
    names : mapping of int to str
        The region of each label code; the rows follow its order.

    Returns
    -------
    pandas.DataFrame
        Index: region names; columns ``mean``, ``std`` (NaN for a region without
        vertices) and ``vertices`` (int).

    Raises
    ------
    ArgumentError
        ``values`` and ``labels`` differ in length, or labels are not integers.
    """
    values = np.asarray(values, dtype=np.float64)
    labels = np.asarray(labels)
    if values.shape != labels.shape or values.ndim != 1:
        raise ArgumentError(
            f"{values.shape} values for {labels.shape} labels",
            hint="the surface map and the parcellation's labels must be on one surface",
        )
    if labels.dtype.kind not in "iu":
        raise ArgumentError(f"labels must be integers, got {labels.dtype}")
    codes = np.asarray(list(names), dtype=np.int64)
    keep = np.isfinite(values) & (labels >= 0)
    kept, where = values[keep], labels[keep]
    size = max(int(where.max(initial=0)), int(codes.max(initial=0))) + 1
    count = np.bincount(where, minlength=size)
    total = np.bincount(where, kept, minlength=size)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = total / count
        # squared deviations from each region's own mean: no cancellation of large sums
        squares = np.bincount(where, (kept - mean[where]) ** 2, minlength=size)
        std = np.sqrt(squares / count)
    return pd.DataFrame(
        {"mean": mean[codes], "std": std[codes], "vertices": count[codes].astype(np.int64)},
        index=pd.Index([names[int(c)] for c in codes], name="region"),
    )
