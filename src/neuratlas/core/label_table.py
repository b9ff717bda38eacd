"""The label table of a surface map's GIfTI label files: which label is which region."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from neuratlas.core.maps import Map
    from neuratlas.core.region import Region

__all__ = ["surface_label_table"]


def surface_label_table(
    the_map: Map, hemisphere: str, region: Region | None = None
) -> tuple[dict[int, str], dict[int, tuple[int, int, int]]]:
    """The label table of one hemisphere's GIfTI label file of a surface map.

    The same table goes into download bundles and into the files of
    ``neuratlas map``, so that a label file means the same wherever it comes from.

    Parameters
    ----------
    the_map : Map
        A labelled surface map.
    hemisphere : str
        The hemisphere of the file (``"left"``, ``"right"``, as :meth:`Mesh.split`
        names them; ``""`` for a mesh not split by hemisphere). The table names the
        labels whose map index lies on this hemisphere (its fragment) or on no
        particular one.
    region : Region, optional
        For a region's 0/1 mask (``Map.fetch_mask``): label 1 is the region.

    Returns
    -------
    names : dict of int to str
        The region name of each label.
    colours : dict of int to (r, g, b)
        The colour (0..255) of each label whose region has one.
    """
    if region is not None:
        names = {1: region.name}
    else:
        names = {
            index.label: name
            for name, entries in the_map.indices.items()
            for index in entries
            if index.label is not None and index.fragment in (None, hemisphere or None)
        }
    colours = {}
    for label, name in names.items():
        rgb = the_map.parcellation.get_region(name).rgb
        if rgb is not None:
            colours[label] = rgb
    return names, colours
