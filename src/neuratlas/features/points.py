"""Sample locations: a point cloud feature (e.g. the tissue samples of a brain bank)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

import pandas as pd

from neuratlas.catalogue import active
from neuratlas.errors import ArgumentError, Error
from neuratlas.features import export as exporting
from neuratlas.features import plotting
from neuratlas.features.feature import Feature
from neuratlas.locations.pointcloud import PointCloud

if TYPE_CHECKING:
    from matplotlib.axes import Axes

COORDINATES = ("x", "y", "z")


class SampleLocations(Feature):
    """Points in ``anchor.space``: ``.data`` is a DataFrame with columns x, y, z (mm).

    Other columns carry per-sample metadata (donor, structure, well id ...).
    """

    modality: ClassVar[str] = "sample locations"
    aliases: ClassVar[tuple[str, ...]] = ("samples", "tissue samples", "point cloud")
    category: ClassVar[str] = "location"

    def _prepare(self, raw: Any) -> pd.DataFrame:
        frame = raw if isinstance(raw, pd.DataFrame) else pd.DataFrame(raw)
        missing = [c for c in COORDINATES if c not in frame.columns]
        if missing:
            raise ArgumentError(
                f"feature {self.id!r}: sample locations lack the column(s) {', '.join(missing)}",
                hint="the loader returns a DataFrame with columns x, y, z in mm",
            )
        return frame

    @property
    def location(self) -> PointCloud:
        """The samples as a PointCloud in the anchor's space (loads the data)."""
        return PointCloud(self.data[list(COORDINATES)].to_numpy(dtype=float), self.anchor.space)

    def _summary_lines(self) -> list[str]:
        if not self.loaded:
            return ["samples: not loaded yet (.data loads them)"]
        return [f"samples: {len(self.data)} points in {self.anchor.space}"]

    def _export_files(self) -> dict[str, bytes]:
        return {"points.tsv": exporting.dataframe_bytes(self.data, sep="\t")}

    def _plot(self, ax: Axes | None, **kwargs: Any) -> Axes:
        template = None
        if self.anchor.space is not None:
            try:
                template = active().spaces.get(self.anchor.space).get_template().fetch()
            except Error:
                template = None  # the points alone still say where the samples are
        coords = self.data[list(COORDINATES)].to_numpy(dtype=float)
        return plotting.points_over_template(coords, template, ax, self.name, **kwargs)
