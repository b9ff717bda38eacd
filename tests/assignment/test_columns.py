"""Tests of neuratlas.assignment.columns: each column against its definition."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from neuratlas.assignment import overlap_columns
from tests.assignment.reference import dense_columns, sums_of


@settings(max_examples=60, deadline=None)
@given(st.integers(0, 2**31 - 1), st.floats(0.05, 0.9), st.booleans())
def test_overlap_columns_match_their_definitions(seed: int, density: float, binary: bool) -> None:
    rng = np.random.default_rng(seed)
    i_map = rng.random((6, 5, 4)) * (rng.random((6, 5, 4)) < density)
    m_map = rng.random((6, 5, 4)) * (rng.random((6, 5, 4)) < density)
    if binary:
        i_map, m_map = (i_map > 0).astype(float), (m_map > 0).astype(float)
    if not i_map.any() or not m_map.any():
        return
    got = overlap_columns(sums_of(i_map, m_map))
    for name, expected in dense_columns(i_map, m_map).items():
        np.testing.assert_allclose(got[name][0], expected, rtol=1e-9, atol=1e-12, err_msg=name)


def test_binary_columns_are_plain_set_ratios() -> None:
    i_map = np.zeros((4, 4, 4))
    m_map = np.zeros((4, 4, 4))
    i_map[:2] = 1  # 32 voxels
    m_map[1:] = 1  # 48 voxels, 16 shared
    got = {k: v[0] for k, v in overlap_columns(sums_of(i_map, m_map)).items()}
    assert got["intersection over union"] == pytest.approx(16 / 64)
    assert got["input containedness"] == pytest.approx(16 / 32)
    assert got["map containedness"] == pytest.approx(16 / 48)
