"""Template spaces of lesion masks: names, known grids, and what a header says.

Lesion masks name their space the TemplateFlow way (``space-MNI152NLin6Asym`` in a
BIDS file name); the catalogue knows the same spaces under those names as
aliases, so a name resolves to a catalogue :class:`~neuratlas.core.space.Space`.

A header cannot name its space, but the standard grids of the MNI templates are
well known: a mask whose grid is one of them was almost certainly made in that
template's space. Different spaces sharing a grid (the ICBM 2009 a/b/c
asymmetric templates) are all candidates; a declared space that is none of them
contradicts the header.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
from numpy.typing import ArrayLike

from neuratlas.catalogue import active
from neuratlas.errors import NotFoundError
from neuratlas.volumes.grid import voxel_sizes

if TYPE_CHECKING:
    from neuratlas.core.space import Space

__all__ = [
    "KNOWN_GRIDS",
    "Grid",
    "bids_space_label",
    "grid_resolution",
    "matching_grids",
    "resolve_space",
    "same_space",
]

# TemplateFlow identifiers are the names users write; this pattern tells them
# apart from the other aliases of a catalogue space.
_TEMPLATEFLOW_NAME = re.compile(r"^MNI152\w+$|^MNI305$|^fsaverage\d*$|^fsLR$")


@dataclass(frozen=True)
class Grid:
    """A standard voxel grid of a template: its spaces, shape and world bounds."""

    spaces: tuple[str, ...]
    resolution_mm: float
    shape: tuple[int, int, int]
    #: world coordinates (mm) of the centres of the first and last voxels along
    #: x, y, z, sorted, so that LAS and RAS copies of a grid are the same grid
    bounds: tuple[tuple[float, float], tuple[float, float], tuple[float, float]]


def _grid(
    spaces: Sequence[str], mm: float, shape: tuple[int, int, int], lo: Sequence[float]
) -> Grid:
    bounds = tuple((lo[i], lo[i] + mm * (shape[i] - 1)) for i in range(3))
    return Grid(tuple(spaces), mm, shape, bounds)  # type: ignore[arg-type]


_NLIN6 = ("MNI152NLin6Asym", "MNI152NLin6Sym")
# fMRIPrep's default first: the one a mask on this grid most often comes from
_ICBM2009_ASYM = ("MNI152NLin2009cAsym", "MNI152NLin2009aAsym", "MNI152NLin2009bAsym")

#: The grids of TemplateFlow's and FSL's MNI templates. FSL's are LAS; at 1 mm
#: TemplateFlow's RAS copy covers the same box, at 2 mm a box 1 mm to the left.
KNOWN_GRIDS: tuple[Grid, ...] = (
    _grid(_NLIN6, 1.0, (182, 218, 182), (-91.0, -126.0, -72.0)),
    _grid(_NLIN6, 2.0, (91, 109, 91), (-90.0, -126.0, -72.0)),
    _grid(_NLIN6, 2.0, (91, 109, 91), (-91.0, -126.0, -72.0)),
    _grid(_ICBM2009_ASYM, 1.0, (193, 229, 193), (-96.0, -132.0, -78.0)),
    _grid(_ICBM2009_ASYM, 2.0, (97, 115, 97), (-96.0, -132.0, -78.0)),
)


def _bounds(shape: Sequence[int], affine: np.ndarray) -> np.ndarray:
    corners = np.array([[0, 0, 0], [s - 1 for s in shape[:3]]], dtype=float)
    world = corners @ affine[:3, :3].T + affine[:3, 3]
    return np.sort(world, axis=0).T  # (3, 2): low and high per axis


def matching_grids(shape: Sequence[int], affine: ArrayLike, *, tol_mm: float = 0.5) -> list[Grid]:
    """The known template grids that an image of ``shape`` and ``affine`` lies on.

    Parameters
    ----------
    shape : sequence of int
        The image's shape (only the first three axes count).
    affine : array_like, shape (4, 4)
        The image's voxel-to-world affine.
    tol_mm : float
        How far (mm) the grid's corners may lie from a known grid's.

    Returns
    -------
    list of Grid
        Empty when the grid is none of the standard ones.
    """
    affine = np.asarray(affine, dtype=float)
    if not np.allclose(affine[:3, :3], np.diag(np.diag(affine[:3, :3])), atol=1e-4):
        return []  # oblique or permuted: not a template's grid
    found = _bounds(shape, affine)
    mm = voxel_sizes(affine)
    return [
        g
        for g in KNOWN_GRIDS
        if tuple(shape[:3]) == g.shape
        and np.allclose(mm, g.resolution_mm, atol=1e-3)
        and np.allclose(found, np.array(g.bounds), atol=tol_mm)
    ]


def grid_resolution(affine: ArrayLike) -> float | None:
    """The voxel size (mm) of an isotropic grid, or None when the voxels are not cubes."""
    sizes = voxel_sizes(affine)
    if np.allclose(sizes, sizes[0], rtol=1e-3):
        return float(round(float(sizes[0]), 4))
    return None


def resolve_space(name: str) -> Space:
    """The catalogue space that ``name`` names (TemplateFlow identifier, alias or name).

    Raises
    ------
    NotFoundError
        No space of the catalogue is called so; the error suggests near names.
    """
    return active().spaces.get(name)


def bids_space_label(space: Space | str) -> str:
    """The identifier of ``space`` in BIDS file names (``MNI152NLin6Asym``).

    The TemplateFlow identifier among the space's aliases; failing that, its key
    with the characters BIDS forbids in a label removed.
    """
    if isinstance(space, str):
        if _TEMPLATEFLOW_NAME.match(space):
            return space
        space = resolve_space(space)
    for alias in space.aliases:
        if _TEMPLATEFLOW_NAME.match(alias):
            return alias
    return re.sub(r"[^A-Za-z0-9]", "", space.key)


def same_space(a: str, b: str) -> bool:
    """Whether two space names mean the same catalogue space."""
    if a == b:
        return True
    try:
        return resolve_space(a).id == resolve_space(b).id
    except NotFoundError:
        return False
