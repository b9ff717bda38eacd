"""Template spaces: names, known grids, BIDS labels."""

from __future__ import annotations

import numpy as np
import pytest

from neuratlas.errors import NotFoundError
from neuratlas.lesion.spaces import (
    bids_space_label,
    grid_resolution,
    matching_grids,
    resolve_space,
    same_space,
)
from tests.lesion.masks import GRIDS


def test_fsl_and_templateflow_copies_of_a_grid_match():
    shape, fsl = GRIDS["nlin6_1mm"]
    ras = np.diag([1.0, 1, 1, 1])
    ras[:3, 3] = (-91, -126, -72)
    assert matching_grids(shape, fsl)[0].spaces[0] == "MNI152NLin6Asym"
    assert matching_grids(shape, ras) == matching_grids(shape, fsl)


def test_no_match_for_shifted_oblique_or_other_shapes():
    shape, affine = GRIDS["nlin6_2mm"]
    shifted = affine.copy()
    shifted[0, 3] += 4
    assert matching_grids(shape, shifted) == []
    oblique = affine.copy()
    oblique[0, 1] = 0.3
    assert matching_grids(shape, oblique) == []
    assert matching_grids((90, 109, 91), affine) == []


def test_resolution_of_anisotropic_grids_is_none():
    assert grid_resolution(np.diag([1.0, 1, 3, 1])) is None
    assert grid_resolution(np.diag([-2.0, 2, 2, 1])) == 2.0


def test_names():
    assert bids_space_label(resolve_space("fsl mni152")) == "MNI152NLin6Asym"
    assert bids_space_label("MNI152NLin2009cAsym") == "MNI152NLin2009cAsym"
    assert same_space("nlin6", "MNI152NLin6Asym")
    assert not same_space("nlin6", "MNI152NLin2009cAsym")
    assert not same_space("nowhere", "MNI152NLin6Asym")
    with pytest.raises(NotFoundError):
        resolve_space("nowhere")
