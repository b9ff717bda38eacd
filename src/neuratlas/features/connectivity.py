"""Regional connectivity: square matrices over the regions of a parcellation."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np
import pandas as pd

from neuratlas import matching
from neuratlas.errors import ArgumentError, NotFoundError
from neuratlas.features import export as exporting
from neuratlas.features import plotting
from neuratlas.features.feature import Feature

if TYPE_CHECKING:
    from matplotlib.axes import Axes


class RegionalConnectivity(Feature):
    """A connectivity matrix; ``.data`` is a square DataFrame labelled by region names.

    Parameters
    ----------
    regions : sequence of str, optional
        Row and column labels, when the loader returns a bare array.
    cohort, subject, paradigm : str
        Who and how; also in :attr:`metadata`, so queries filter on them.
    **kwargs
        Those of :class:`Feature`.
    """

    modality: ClassVar[str] = "regional connectivity"
    aliases: ClassVar[tuple[str, ...]] = ("connectivity", "connectivity matrix", "connectome")
    category: ClassVar[str] = "connectivity"

    def __init__(
        self,
        *,
        regions: Sequence[str] | None = None,
        cohort: str = "",
        subject: str = "average",
        paradigm: str = "",
        **kwargs: Any,
    ) -> None:
        metadata = {"cohort": cohort, "subject": subject, "paradigm": paradigm}
        metadata.update(kwargs.pop("metadata", None) or {})
        super().__init__(metadata=metadata, **kwargs)
        self._regions = None if regions is None else [str(r) for r in regions]
        self.cohort = cohort
        self.subject = subject
        self.paradigm = paradigm

    @property
    def regions(self) -> list[str]:
        """The row/column labels (from the constructor, else from the data)."""
        if self._regions is not None:
            return list(self._regions)
        return [str(r) for r in self.data.index]

    def _prepare(self, raw: Any) -> pd.DataFrame:
        if isinstance(raw, pd.DataFrame):
            frame = raw
            if self._regions is not None and len(self._regions) == len(frame):
                frame = frame.set_axis(self._regions, axis=0).set_axis(self._regions, axis=1)
        else:
            array = np.asarray(raw, dtype=float)
            labels = self._regions or [str(i) for i in range(len(array))]
            if array.ndim != 2 or array.shape[0] != array.shape[1]:
                raise ArgumentError(
                    f"feature {self.id!r}: a connectivity matrix must be square, "
                    f"got shape {array.shape}",
                    hint="the loader returns an N x N array or DataFrame",
                )
            if len(labels) != len(array):
                raise ArgumentError(
                    f"feature {self.id!r}: {len(labels)} region labels for a "
                    f"{len(array)} x {len(array)} matrix",
                    hint="pass one label per row (regions=...)",
                )
            frame = pd.DataFrame(array, index=labels, columns=labels)
        if frame.shape[0] != frame.shape[1]:
            raise ArgumentError(
                f"feature {self.id!r}: a connectivity matrix must be square, got {frame.shape}",
                hint="rows and columns are the same regions",
            )
        return frame

    def get_profile(self, region: str) -> pd.Series:
        """The row of ``region``: its connectivity to every region.

        ``region`` is a label or words of one (the rules of :mod:`neuratlas.matching`).

        Raises
        ------
        NotFoundError
            No label matches; suggests the closest.
        """
        frame = self.data
        labels = [str(i) for i in frame.index]
        if region in labels:
            return frame.iloc[labels.index(region)]
        ranked = [(matching.rank(region, label), i) for i, label in enumerate(labels)]
        ranked = [(r, i) for r, i in ranked if r is not None]
        if not ranked:
            raise NotFoundError(
                f"no region of {self.name!r} matches {region!r}",
                suggestions=matching.closest(region, labels),
            )
        best = max(r for r, _ in ranked)
        return frame.iloc[next(i for r, i in ranked if r == best)]

    def _summary_lines(self) -> list[str]:
        if self._regions is not None:
            return [f"matrix: {len(self._regions)} x {len(self._regions)} regions"]
        if self.loaded:
            return [f"matrix: {len(self.data)} x {len(self.data)} regions"]
        return ["matrix: not loaded yet (.data loads it)"]

    def _export_files(self) -> dict[str, bytes]:
        return {"matrix.csv": exporting.dataframe_bytes(self.data)}

    def _plot(self, ax: Axes | None, **kwargs: Any) -> Axes:
        return plotting.matrix(self.data, ax, self.name, **kwargs)


class FunctionalConnectivity(RegionalConnectivity):
    """Correlation of regional BOLD signals (resting state unless ``paradigm`` says)."""

    modality: ClassVar[str] = "functional connectivity"
    aliases: ClassVar[tuple[str, ...]] = ("fc", "resting state connectivity")


class StreamlineCounts(RegionalConnectivity):
    """Number of tractography streamlines between regions."""

    modality: ClassVar[str] = "streamline counts"
    aliases: ClassVar[tuple[str, ...]] = ("structural connectivity", "streamline count", "sc")


class StreamlineLengths(RegionalConnectivity):
    """Mean length of the tractography streamlines between regions."""

    modality: ClassVar[str] = "streamline lengths"
    aliases: ClassVar[tuple[str, ...]] = ("streamline length", "fiber lengths")


class AnatomoFunctionalConnectivity(RegionalConnectivity):
    """Connectivity measured by cortico-cortical evoked potentials (intracranial stimulation)."""

    modality: ClassVar[str] = "anatomo-functional connectivity"
    aliases: ClassVar[tuple[str, ...]] = ("afc", "evoked potential connectivity")


class TracingConnectivity(RegionalConnectivity):
    """Connection strength from tract tracing (e.g. injections in the mouse brain)."""

    modality: ClassVar[str] = "tracing connectivity"
    aliases: ClassVar[tuple[str, ...]] = ("tract tracing", "tracer connectivity")
