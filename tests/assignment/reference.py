"""The assignment columns computed straight from their definitions, over whole arrays."""

from __future__ import annotations

import numpy as np

from neuratlas.assignment import Sums


def dense_columns(i_map: np.ndarray, m_map: np.ndarray) -> dict[str, float]:
    """Each column straight from its definition, over whole arrays."""
    union = (i_map > 0) | (m_map > 0)
    a, b = i_map[union], m_map[union]
    corr = np.corrcoef(a, b)[0, 1] if a.std() > 0 and b.std() > 0 else np.nan
    return {
        "intersection over union": np.minimum(i_map, m_map).sum() / np.maximum(i_map, m_map).sum(),
        "correlation": corr,
        "map weighted mean": (i_map * m_map).sum() / m_map.sum(),
        "map containedness": np.minimum(i_map, m_map).sum() / m_map.sum(),
        "input weighted mean": (i_map * m_map).sum() / i_map.sum(),
        "input containedness": np.minimum(i_map, m_map).sum() / i_map.sum(),
    }


def sums_of(i_map: np.ndarray, m_map: np.ndarray) -> Sums:
    one = lambda v: np.array([float(v)])  # noqa: E731
    return Sums(
        s_i=one(i_map.sum()),
        s_i2=one((i_map**2).sum()),
        n_i=one((i_map > 0).sum()),
        s_m=one(m_map.sum()),
        s_m2=one((m_map**2).sum()),
        n_m=one((m_map > 0).sum()),
        s_im=one((i_map * m_map).sum()),
        s_min=one(np.minimum(i_map, m_map).sum()),
        n_im=one(((i_map > 0) & (m_map > 0)).sum()),
    )
