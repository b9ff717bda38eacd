"""Section datasets and section images as described by the Allen Brain API.

The API spreads an affine over named fields (``tvr_00`` ... ``tvr_11`` in a
dataset's ``alignment3d``, ``tsv_00`` ... ``tsv_05`` in an image's
``alignment2d``); these classes gather them into matrices with the layout used
by :mod:`neuratlas.allen.transforms`.
"""

from __future__ import annotations

import dataclasses
import enum
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from numpy.typing import NDArray

from neuratlas.allen.transforms import REFERENCE_SHAPE_UM
from neuratlas.errors import DataUnavailableError, RMAError, TransformError

#: Field names of each affine, laid out as the matrix they form.
AFFINE_FIELDS: dict[str, list[list[str]]] = {
    "tsv": [["tsv_00", "tsv_01", "tsv_04"], ["tsv_02", "tsv_03", "tsv_05"]],
    "tvs": [["tvs_00", "tvs_01", "tvs_04"], ["tvs_02", "tvs_03", "tvs_05"]],
    "tvr": [
        ["tvr_00", "tvr_01", "tvr_02", "tvr_09"],
        ["tvr_03", "tvr_04", "tvr_05", "tvr_10"],
        ["tvr_06", "tvr_07", "tvr_08", "tvr_11"],
    ],
    "trv": [
        ["trv_00", "trv_01", "trv_02", "trv_09"],
        ["trv_03", "trv_04", "trv_05", "trv_10"],
        ["trv_06", "trv_07", "trv_08", "trv_11"],
    ],
}


class PlaneOfSection(enum.Enum):
    """The plane of section of a section dataset, valued by the Allen API's ids.

    ``str()`` gives the API's name of the plane; the ids and names are those of
    ``http://api.brain-map.org/api/v2/data/PlaneOfSection/query.json``.

    Examples
    --------
    >>> PlaneOfSection(1), str(PlaneOfSection.SAGITTAL)
    (<PlaneOfSection.CORONAL: 1>, 'sagittal')
    """

    CORONAL = 1
    SAGITTAL = 2
    VARIABLE = 4
    NA = 5
    TRANSVERSE = 6
    LATERAL_TO_MEDIAL = 7
    MEDIAL_TO_LATERAL = 8
    VENTRAL_TO_DORSAL = 9
    DORSAL_TO_VENTRAL = 10
    CORONAL_CAUDAL_TO_ROSTRAL = 11
    CORONAL_ROSTRAL_TO_CAUDAL = 531107579
    TANGENTIAL = 1082279372

    def __str__(self) -> str:
        return _PLANE_NAMES[self.value]


_PLANE_NAMES: dict[int, str] = {
    1: "coronal",
    2: "sagittal",
    4: "variable",
    5: "n/a",
    6: "transverse",
    7: "Lateral to Medial",
    8: "Medial to Lateral",
    9: "Ventral to Dorsal",
    10: "Dorsal to Ventral",
    11: "Coronal (Caudal to Rostral)",
    531107579: "Coronal (Rostral to Caudal)",
    1082279372: "Tangential",
}


class ReferenceSpace(enum.Enum):
    """The reference space a dataset is aligned to, valued by the Allen API's ids.

    Only the two spaces of the adult mouse atlas are listed: 9, the P56 brain
    (the CCF), and 10, the same brain flipped left/right. ``str()`` gives the
    API's name (``http://api.brain-map.org/api/v2/data/ReferenceSpace/query.json``).

    The Allen API registers every coronal dataset to space 9 (axes PIR) and every
    sagittal one to space 10, whose third axis points left (PIL), so that the
    sagittal series, cut from the left hemisphere, lie over the right hemisphere of
    the coronal reference atlas. A dataset's ``alignment3d`` maps into its own space;
    :attr:`affine_to_ccf` takes such positions to the CCF (space 9):
    ``r_ccf = 11400 - r`` in space 10, the mirror image across the midline. atldld
    ignores the distinction (it places every dataset as if in space 9, so its
    sagittal sections land in the mirrored hemisphere); neuratlas does the same unless
    asked for CCF positions (``DatasetDownloader(..., to_ccf=True)``, as
    :func:`~neuratlas.allen.expression.gene_expression` does).
    """

    P56 = 9
    P56_LR_FLIPPED = 10

    def __str__(self) -> str:
        return {9: "P56 Brain", 10: "P56 Brain, L/R Flipped"}[self.value]

    @property
    def affine_to_ccf(self) -> NDArray[np.float64]:
        """The 4 x 4 affine from this space's ``(p, i, r)`` (µm) to the CCF's (space 9)."""
        affine = np.eye(4)
        if self is ReferenceSpace.P56_LR_FLIPPED:
            affine[2, 2] = -1.0
            affine[2, 3] = REFERENCE_SHAPE_UM[2]
        return affine

    def to_ccf(self, pir: NDArray[np.floating[Any]]) -> NDArray[np.float64]:
        """Points ``(3, N)`` of this space, in micrometres, as CCF positions."""
        points = np.asarray(pir, dtype=np.float64)
        if points.ndim != 2 or points.shape[0] != 3:
            raise TransformError(f"expected points of shape (3, N), got {points.shape}")
        affine = self.affine_to_ccf
        return affine[:3, :3] @ points + affine[:3, 3:4]


#: ``plane_of_section_id`` values of the Allen API, when the name is not included.
PLANE_IDS: dict[int, str] = {plane.value: str(plane).lower() for plane in PlaneOfSection}
#: Plane names of the API mapped to the reference axis held fixed in that plane.
PLANE_AXES: dict[str, str] = {
    "coronal": "coronal",
    "sagittal": "sagittal",
    "horizontal": "transverse",
    "transverse": "transverse",
}


def plane_axis(plane: str | int, where: str = "the dataset") -> str:
    """The reference axis held fixed by a plane of section.

    Parameters
    ----------
    plane : str or int
        A plane name (``"coronal"``, ``"sagittal"``, ``"horizontal"``, ...) or a
        ``plane_of_section_id`` of the API.
    where : str
        What the plane belongs to, for the error message.

    Raises
    ------
    TransformError
        For a plane other than coronal, sagittal or horizontal (no section of
        it lies in a plane of the reference grid).
    """
    name = PLANE_IDS.get(plane, f"plane {plane}") if isinstance(plane, int) else plane
    if name not in PLANE_AXES:
        raise TransformError(
            f"{where} has an unsupported plane of section {name!r}",
            hint="only coronal, sagittal and horizontal (transverse) datasets can be synced",
        )
    return PLANE_AXES[name]


def extract_affine(alignment: Mapping[str, Any] | None, name: str) -> NDArray[np.float64] | None:
    """Build one affine from an ``alignment2d``/``alignment3d`` record.

    Parameters
    ----------
    alignment : mapping or None
        The record; ``None`` when the API has no alignment for the item.
    name : {"tsv", "tvs", "tvr", "trv"}
        Which affine.

    Returns
    -------
    numpy.ndarray or None
        Shape (2, 3) or (3, 4), or ``None`` if there is no alignment.

    Raises
    ------
    RMAError
        If the record lacks a field or holds a non-numeric value.
    """
    if alignment is None:
        return None
    fields = AFFINE_FIELDS[name]
    try:
        return np.array([[float(alignment[key]) for key in row] for row in fields])
    except KeyError as exc:
        raise RMAError(f"the alignment record has no field {exc.args[0]!r}") from exc
    except (TypeError, ValueError) as exc:
        raise RMAError(f"the alignment record holds a non-numeric {name} value ({exc})") from exc


def _field(row: Mapping[str, Any], key: str, kind: type, what: str) -> Any:
    try:
        value = row[key]
        return kind(value)
    except KeyError as exc:
        raise RMAError(f"{what} record has no {key!r} field") from exc
    except (TypeError, ValueError) as exc:
        raise RMAError(f"{what} record has an invalid {key!r}: {row.get(key)!r}") from exc


@dataclasses.dataclass(frozen=True, eq=False, repr=False)
class SectionDataSet:
    """One Allen section dataset (an ISH experiment or similar).

    Attributes
    ----------
    id : int
    plane : str
        ``"coronal"``, ``"sagittal"``, ... (the API's plane of section).
    plane_of_section_id : int
    section_thickness : float
        Micrometres.
    reference_space_id : int or None
    genes : tuple of str
        Gene acronyms, when the query included them.
    failed : bool
    affine_tvr, affine_trv : numpy.ndarray or None
        Volume -> reference and reference -> volume, shape (3, 4).
    raw : dict
        The API's record.
    """

    id: int
    plane: str
    plane_of_section_id: int
    section_thickness: float
    reference_space_id: int | None
    genes: tuple[str, ...]
    failed: bool
    affine_tvr: NDArray[np.float64] | None
    affine_trv: NDArray[np.float64] | None
    raw: dict[str, Any]

    def __repr__(self) -> str:
        genes = ", ".join(self.genes) or "no gene"
        state = "aligned" if self.affine_tvr is not None else "not aligned"
        failed = ", failed QC" if self.failed else ""
        return (
            f"SectionDataSet({self.id}, {self.plane}, {genes}, "
            f"{self.section_thickness:g} um sections, {state}{failed})"
        )

    @classmethod
    def from_api(cls, row: Mapping[str, Any]) -> SectionDataSet:
        """Parse a ``SectionDataSet`` row (with ``alignment3d`` included)."""
        what = "the SectionDataSet"
        plane_id = _field(row, "plane_of_section_id", int, what)
        plane_record = row.get("plane_of_section")
        plane = (
            str(plane_record["name"]).lower()
            if isinstance(plane_record, Mapping) and plane_record.get("name")
            else PLANE_IDS.get(plane_id, f"plane {plane_id}")
        )
        genes = tuple(
            str(g.get("acronym")) for g in row.get("genes") or () if isinstance(g, Mapping)
        )
        alignment = row.get("alignment3d")
        reference = row.get("reference_space_id")
        return cls(
            id=_field(row, "id", int, what),
            plane=plane,
            plane_of_section_id=plane_id,
            section_thickness=_field(row, "section_thickness", float, what),
            reference_space_id=int(reference) if reference is not None else None,
            genes=genes,
            failed=bool(row.get("failed", False)),
            affine_tvr=extract_affine(alignment, "tvr"),
            affine_trv=extract_affine(alignment, "trv"),
            raw=dict(row),
        )

    @property
    def axis(self) -> str:
        """The reference axis held fixed by the plane of section.

        Raises
        ------
        TransformError
            For a plane that is not coronal, sagittal or horizontal.
        """
        return plane_axis(self.plane, f"dataset {self.id}")

    def require_alignment(self) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
        """Return ``(tvr, trv)``, or raise if the dataset was never aligned."""
        if self.affine_tvr is None or self.affine_trv is None:
            raise DataUnavailableError(
                f"dataset {self.id} has no 3D alignment to the reference space",
                hint="pick another dataset; failed or unaligned experiments cannot be synced",
            )
        return self.affine_tvr, self.affine_trv


@dataclasses.dataclass(frozen=True, eq=False, repr=False)
class SectionImage:
    """One section image of a dataset.

    Attributes
    ----------
    id : int
    data_set_id : int
    section_number : int
    width, height : int
        Full-resolution size in pixels.
    resolution : float or None
        Micrometres per pixel.
    affine_tsv, affine_tvs : numpy.ndarray or None
        Section -> volume and volume -> section, shape (2, 3).
    raw : dict
        The API's record.
    """

    id: int
    data_set_id: int
    section_number: int
    width: int
    height: int
    resolution: float | None
    affine_tsv: NDArray[np.float64] | None
    affine_tvs: NDArray[np.float64] | None
    raw: dict[str, Any]

    def __repr__(self) -> str:
        state = "aligned" if self.aligned else "not aligned"
        return (
            f"SectionImage({self.id}, dataset {self.data_set_id}, section {self.section_number}, "
            f"{self.width}x{self.height} px, {state})"
        )

    @classmethod
    def from_api(cls, row: Mapping[str, Any]) -> SectionImage:
        """Parse a ``SectionImage`` row (with ``alignment2d`` included)."""
        what = "the SectionImage"
        alignment = row.get("alignment2d")
        resolution = row.get("resolution")
        return cls(
            id=_field(row, "id", int, what),
            data_set_id=_field(row, "data_set_id", int, what),
            section_number=_field(row, "section_number", int, what),
            width=int(row.get("image_width") or row.get("width") or 0),
            height=int(row.get("image_height") or row.get("height") or 0),
            resolution=float(resolution) if resolution is not None else None,
            affine_tsv=extract_affine(alignment, "tsv"),
            affine_tvs=extract_affine(alignment, "tvs"),
            raw=dict(row),
        )

    @property
    def aligned(self) -> bool:
        """Whether the image has a 2D alignment."""
        return self.affine_tsv is not None and self.affine_tvs is not None


def dataset_row(dataset: SectionDataSet) -> dict[str, Any]:
    """A dataset as one row of search results: ``id``, ``plane``, ``genes``, ``failed``."""
    return {
        "id": dataset.id,
        "plane": dataset.plane,
        "genes": list(dataset.genes),
        "failed": dataset.failed,
    }


def image_row(image: SectionImage) -> dict[str, Any]:
    """A section image as one row: ``id``, ``section_number``, sizes, ``aligned``."""
    return {
        "id": image.id,
        "section_number": image.section_number,
        "width": image.width,
        "height": image.height,
        "aligned": image.aligned,
    }


def dataset_summary(
    dataset: SectionDataSet, images: Sequence[SectionImage], *, details: bool = False
) -> dict[str, Any]:
    """What a dataset holds, in JSON-ready values.

    Parameters
    ----------
    dataset : SectionDataSet
        The dataset.
    images : sequence of SectionImage
        Its section images.
    details : bool
        Also give the 3D affine (``affine_tvr``, a nested list or ``None``) and
        one entry per section (``id``, ``section_number``, ``width``, ``height``).

    Returns
    -------
    dict
        ``id``, ``plane``, ``section_thickness_um``, ``reference_space_id``,
        ``genes``, ``failed``, ``aligned`` (has a 3D alignment), ``images``
        (how many), ``section_numbers`` (``[lowest, highest]`` or ``None``),
        ``image_sizes`` (the distinct ``"<width>x<height>"``), then the details.
    """
    numbers = [image.section_number for image in images]
    summary: dict[str, Any] = {
        "id": dataset.id,
        "plane": dataset.plane,
        "section_thickness_um": dataset.section_thickness,
        "reference_space_id": dataset.reference_space_id,
        "genes": list(dataset.genes),
        "failed": dataset.failed,
        "aligned": dataset.affine_tvr is not None,
        "images": len(images),
        "section_numbers": [min(numbers), max(numbers)] if numbers else None,
        "image_sizes": sorted({f"{image.width}x{image.height}" for image in images}),
    }
    if details:
        tvr = dataset.affine_tvr
        summary["affine_tvr"] = None if tvr is None else tvr.tolist()
        summary["sections"] = [
            {"id": i.id, "section_number": i.section_number, "width": i.width, "height": i.height}
            for i in images
        ]
    return summary
