"""Tabular features: data that is a pandas DataFrame (profiles, fingerprints, genes).

The class names are siibra's, so that code written for siibra reads the same.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

import pandas as pd

from neuratlas.errors import ArgumentError
from neuratlas.features import export as exporting
from neuratlas.features import plotting
from neuratlas.features.feature import Feature

if TYPE_CHECKING:
    from matplotlib.axes import Axes


class Tabular(Feature):
    """A feature whose data is a :class:`pandas.DataFrame`."""

    modality: ClassVar[str] = "tabular"
    aliases: ClassVar[tuple[str, ...]] = ("table", "tabular data")
    category: ClassVar[str] = "tabular"

    def _prepare(self, raw: Any) -> pd.DataFrame:
        if isinstance(raw, pd.DataFrame):
            return raw
        if isinstance(raw, pd.Series):
            return raw.to_frame(name=raw.name or "value")
        try:
            return pd.DataFrame(raw)
        except (TypeError, ValueError) as exc:
            raise ArgumentError(
                f"feature {self.id!r}: its loader gave {type(raw).__name__}, not a table",
                hint=f"a tabular feature's loader returns a pandas DataFrame ({exc})",
            ) from None

    def _summary_lines(self) -> list[str]:
        if not self.loaded:
            return ["data: not loaded yet (.data loads it)"]
        frame = self.data
        return [f"data: {frame.shape[0]} rows x {frame.shape[1]} columns"]

    def _export_files(self) -> dict[str, bytes]:
        return {"data.csv": exporting.dataframe_bytes(self.data)}

    def _values(self) -> tuple[pd.Series, pd.Series | None]:
        """The column to draw (``mean`` or the first numeric one) and its errors (``std``)."""
        frame = self.data
        numeric = frame.select_dtypes("number")
        if numeric.empty:
            raise ArgumentError(
                f"feature {self.id!r} has no numeric column to plot",
                hint=f"its columns: {', '.join(map(str, frame.columns))}",
            )
        column = "mean" if "mean" in numeric else numeric.columns[0]
        errors = numeric["std"] if "std" in numeric and column != "std" else None
        return numeric[column], errors

    def _plot(self, ax: Axes | None, **kwargs: Any) -> Axes:
        values, errors = self._values()
        return plotting.bars(values, ax, self.name, errors, str(values.name), **kwargs)


class CorticalProfile(Tabular):
    """Values along cortical depth; the index is the relative depth, 0 (pial) to 1."""

    modality: ClassVar[str] = "cortical profile"
    aliases: ClassVar[tuple[str, ...]] = ("profile", "cortical depth profile")

    def _plot(self, ax: Axes | None, **kwargs: Any) -> Axes:
        values, _ = self._values()
        unit = self.metadata.get("unit", "")
        return plotting.profile(values, ax, self.name, str(unit or values.name), **kwargs)


class CellDensityProfile(CorticalProfile):
    """Cell body density along cortical depth (BigBrain-derived, as siibra's)."""

    modality: ClassVar[str] = "cell density profile"
    aliases: ClassVar[tuple[str, ...]] = ("cell density", "segmented cell body density")


class ReceptorDensityProfile(CorticalProfile):
    """Density of one neurotransmitter receptor along cortical depth."""

    modality: ClassVar[str] = "receptor density profile"
    aliases: ClassVar[tuple[str, ...]] = ("receptor profile",)


class ReceptorDensityFingerprint(Tabular):
    """Mean (and std) density of several receptors in a region; the index is the receptor."""

    modality: ClassVar[str] = "receptor density fingerprint"
    aliases: ClassVar[tuple[str, ...]] = ("receptor fingerprint", "fingerprint")


class LayerwiseCellDensity(Tabular):
    """Cell density per cortical layer (mean and std per layer)."""

    modality: ClassVar[str] = "layerwise cell density"
    aliases: ClassVar[tuple[str, ...]] = ("layer statistics", "layerwise cell densities")


class RegionalTimeseriesActivity(Tabular):
    """Signal over time per region (e.g. parcellated BOLD); rows are time points."""

    modality: ClassVar[str] = "regional timeseries activity"
    aliases: ClassVar[tuple[str, ...]] = ("regional bold", "bold", "timeseries", "activity")

    def _plot(self, ax: Axes | None, **kwargs: Any) -> Axes:
        return plotting.lines(self.data.select_dtypes("number"), ax, self.name, **kwargs)


class GeneExpressions(Tabular):
    """Gene expression samples: one row per sample and gene (AHBA microarray data).

    Columns: ``gene``, ``expression``, ``z-score``, ``donor`` and ``x``, ``y``,
    ``z`` (mm) of the sample. Queries pass ``gene=...`` (one name or several).
    """

    modality: ClassVar[str] = "gene expression"
    aliases: ClassVar[tuple[str, ...]] = ("gene expressions", "genes", "microarray")
    filter_keys: ClassVar[tuple[str, ...]] = ("gene",)

    def _plot(self, ax: Axes | None, **kwargs: Any) -> Axes:
        frame = self.data
        if "gene" in frame and "expression" in frame:
            grouped = frame.groupby("gene")["expression"]
            values, errors = grouped.mean(), grouped.std()
            return plotting.bars(values, ax, self.name, errors, "expression", **kwargs)
        return super()._plot(ax, **kwargs)
