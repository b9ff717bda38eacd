"""Pictures: each kind draws on the axes it is given (Agg, no window)."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest
from matplotlib.figure import Figure

from neuratlas.errors import ArgumentError
from neuratlas.features import (
    Anchor,
    Feature,
    GeneExpressions,
    RegionalTimeseriesActivity,
    Tabular,
    plotting,
)
from tests.features.toy_features import NLIN6, toy_features


@pytest.fixture
def ax():
    return Figure().subplots()


def features() -> dict[str, Feature]:
    return {f.id: f for f in toy_features()}


def test_a_matrix_is_a_heat_map(ax) -> None:
    f = features()["toy/sc/juelich"]
    assert f.plot(ax=ax) is ax
    assert len(ax.images) == 1
    np.testing.assert_allclose(ax.images[0].get_array(), f.data.to_numpy())
    assert [t.get_text() for t in ax.get_xticklabels()] == ["a", "b", "c"]


def test_a_large_matrix_has_no_tick_labels(ax) -> None:
    features()["toy/fc/schaefer-100-7"].plot(ax=ax)
    assert ax.get_xlabel() == "100 regions"


def test_a_fingerprint_is_bars_with_errors(ax) -> None:
    f = features()["toy/fingerprint/hoc1"]
    f.plot(ax=ax)
    heights = [p.get_height() for p in ax.patches]
    np.testing.assert_allclose(heights, f.data["mean"])
    assert [t.get_text() for t in ax.get_xticklabels()] == list(f.data.index)
    assert ax.get_title() == f.name


def test_a_profile_is_a_line_over_depth(ax) -> None:
    f = features()["toy/profile/hoc1-right"]
    f.plot(ax=ax)
    x, y = ax.lines[0].get_data()
    np.testing.assert_allclose(x, np.linspace(0, 1, 11))
    np.testing.assert_allclose(y, f.data["density"])
    assert ax.get_ylabel() == "cells/mm3"


def test_sample_locations_are_points_over_the_template(ax) -> None:
    f = features()["toy/samples"]
    f.plot(ax=ax)
    offsets = ax.collections[0].get_offsets()
    np.testing.assert_allclose(offsets, f.data[["x", "y"]].to_numpy())
    assert len(ax.images) == 1  # the template slice under them


def test_points_without_a_template_still_draw(ax) -> None:
    plotting.points_over_template(np.zeros((2, 3)), None, ax)
    assert len(ax.collections) == 1 and not ax.images


def test_an_image_is_a_slice(ax) -> None:
    features()["toy/image/occipital-box"].plot(ax=ax)
    assert ax.images[0].get_array().shape == (10, 10)


def test_a_time_series_is_lines(ax) -> None:
    frame = pd.DataFrame(np.arange(12.0).reshape(4, 3), columns=["a", "b", "c"])
    RegionalTimeseriesActivity(id="t", name="t", anchor=Anchor(), data=frame).plot(ax=ax)
    assert len(ax.lines) == 3


def test_gene_expressions_are_mean_bars_per_gene(ax) -> None:
    frame = pd.DataFrame({"gene": ["A", "A", "B"], "expression": [1.0, 3.0, 5.0]})
    GeneExpressions(id="g", name="g", anchor=Anchor(space=NLIN6), data=frame).plot(ax=ax)
    assert [p.get_height() for p in ax.patches] == [2.0, 5.0]


def test_without_axes_a_new_figure_is_made() -> None:
    drawn = features()["toy/fingerprint/hoc1"].plot()
    assert drawn.figure is not None
    plt.close(drawn.figure)


def test_a_table_without_numbers_cannot_be_plotted(ax) -> None:
    f = Tabular(id="t", name="t", anchor=Anchor(), data=pd.DataFrame({"a": ["x"]}))
    with pytest.raises(ArgumentError, match="no numeric column"):
        f.plot(ax=ax)


def test_a_plain_feature_cannot_be_plotted(ax) -> None:
    with pytest.raises(ArgumentError, match="cannot be plotted"):
        Feature(id="f", name="f", anchor=Anchor(), data=1).plot(ax=ax)
