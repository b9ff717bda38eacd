"""Label tables of surface maps' GIfTI label files (core/label_table.py)."""

from __future__ import annotations

import neuratlas
from neuratlas.core.label_table import surface_label_table


def test_surface_label_tables_name_the_regions_of_their_hemisphere() -> None:
    the_map = neuratlas.get_map("desikan", "fsaverage5", "labelled")
    left, left_colours = surface_label_table(the_map, "left")
    right, _ = surface_label_table(the_map, "right")
    assert len(left) == len(right) == 34 and not set(left) & set(right)
    assert all(name.endswith("left hemisphere") for name in left.values())
    assert all(name.endswith("right hemisphere") for name in right.values())
    assert set(left_colours) == set(left)
    # a mesh not split by hemisphere: every index of this map lies on a hemisphere
    assert surface_label_table(the_map, "") == ({}, {})
    region = the_map.parcellation.get_region("precentral right")
    assert surface_label_table(the_map, "left", region) == ({1: region.name}, {1: region.rgb})
