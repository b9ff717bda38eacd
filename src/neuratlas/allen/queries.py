"""The common queries of atldld (``atldld.utils``), under their names and meaning.

Each is a thin layer over :class:`~neuratlas.allen.client.AllenClient` (which
caches, retries and checks the answers) and the local maths of
:mod:`neuratlas.allen.transforms`; each takes an optional ``client`` (the
default one otherwise). Differences from atldld: bad ids and unknown planes
raise neuratlas errors (``LookupError``/``ValueError`` subclasses) instead of
returning empty answers or ``KeyError``; :func:`get_corners_in_ref_space`
computes the corners from the affines instead of asking the API four times.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from neuratlas.allen.client import AllenClient
from neuratlas.allen.metadata import PlaneOfSection, plane_axis
from neuratlas.allen.transforms import xy_to_pir
from neuratlas.errors import ArgumentError, DataUnavailableError, TransformError

__all__ = [
    "CommonQueries",
    "get_2d",
    "get_2d_bulk",
    "get_3d",
    "get_corners_in_ref_space",
    "get_experiment_list_from_gene",
    "pir_to_xy_API_single",
    "xy_to_pir_API_single",
]

#: Plane names the API knows (``str(PlaneOfSection)``, lower case).
PLANE_NAMES: tuple[str, ...] = tuple(str(plane).lower() for plane in PlaneOfSection)


def _client(client: AllenClient | None) -> AllenClient:
    return client or AllenClient.default()


def _homogeneous(matrix: NDArray[np.float64], add_last: bool) -> NDArray[np.float64]:
    if not add_last:
        return matrix
    last = np.zeros((1, matrix.shape[1]))
    last[0, -1] = 1.0
    return np.vstack([matrix, last])


def get_experiment_list_from_gene(
    gene_acronym: str, axis: str = "sagittal", *, client: AllenClient | None = None
) -> list[int]:
    """The ids of the mouse ISH datasets of a gene, in one plane of section.

    Like atldld: datasets of the adult mouse atlas (product ``Mouse``) that
    passed quality control, in the API's order.

    Parameters
    ----------
    gene_acronym : str
        Gene acronym, e.g. ``"Gad1"`` (the API matches it case-insensitively).
    axis : str
        Plane of section: ``"coronal"`` or ``"sagittal"`` (any name of
        :class:`~neuratlas.allen.metadata.PlaneOfSection` is accepted).
    client : AllenClient, optional
        The API client.

    Returns
    -------
    list of int
        Dataset ids; empty if the gene has none in that plane.

    Raises
    ------
    ArgumentError
        For an empty acronym or an unknown plane.
    """
    if not isinstance(gene_acronym, str) or not gene_acronym.strip():
        raise ArgumentError(
            f"the gene acronym must be a non-empty string, got {gene_acronym!r}",
            hint="e.g. 'Gad1'",
        )
    if not isinstance(axis, str) or axis.lower() not in PLANE_NAMES:
        raise ArgumentError(
            f"unknown plane of section {axis!r}",
            hint="use 'coronal' or 'sagittal' (or one of " + ", ".join(PLANE_NAMES) + ")",
        )
    datasets = _client(client).search_datasets(gene_acronym.strip(), axis.lower())
    return [dataset.id for dataset in datasets]


def get_2d(
    image_id: int,
    ref2inp: bool = False,
    add_last: bool = False,
    *,
    client: AllenClient | None = None,
) -> NDArray[np.float64]:
    """The 2D affine of one section image.

    Parameters
    ----------
    image_id : int
        The section image id.
    ref2inp : bool
        The volume -> section affine (``tvs``) instead of section -> volume (``tsv``).
    add_last : bool
        Append the row ``[0, 0, 1]`` (homogeneous coordinates).
    client : AllenClient, optional
        The API client.

    Returns
    -------
    numpy.ndarray
        Shape (2, 3), or (3, 3) with ``add_last``.

    Raises
    ------
    neuratlas.errors.DatasetNotFoundError
        If there is no such image.
    DataUnavailableError
        If the image has no 2D alignment.
    """
    image = _client(client).section_image(image_id)
    matrix = image.affine_tvs if ref2inp else image.affine_tsv
    if matrix is None:
        raise DataUnavailableError(
            f"section image {image.id} has no 2D alignment",
            hint="pick another image of the dataset",
        )
    return _homogeneous(matrix, add_last)


def get_2d_bulk(
    dataset_id: int,
    ref2inp: bool = False,
    add_last: bool = False,
    *,
    client: AllenClient | None = None,
) -> dict[int, tuple[NDArray[np.float64], int]]:
    """The 2D affines of every aligned image of a dataset.

    Parameters
    ----------
    dataset_id : int
        The section dataset id.
    ref2inp, add_last : bool
        As in :func:`get_2d`.
    client : AllenClient, optional
        The API client.

    Returns
    -------
    dict
        Image id -> ``(affine, section_number)``, highest section number first.

    Raises
    ------
    neuratlas.errors.DatasetNotFoundError
        If there is no such dataset (atldld returns an empty dict).
    """
    _, images = _client(client).fetch_metadata(dataset_id)
    result: dict[int, tuple[NDArray[np.float64], int]] = {}
    for image in images:
        matrix = image.affine_tvs if ref2inp else image.affine_tsv
        if matrix is not None:
            result[image.id] = (_homogeneous(matrix, add_last), image.section_number)
    return result


def get_3d(
    dataset_id: int,
    ref2inp: bool = False,
    add_last: bool = False,
    return_meta: bool = False,
    *,
    client: AllenClient | None = None,
) -> NDArray[np.float64] | tuple[NDArray[np.float64], int | None, float]:
    """The 3D affine of a section dataset (atldld's ``get_3d``).

    Parameters
    ----------
    dataset_id : int
        The section dataset id.
    ref2inp : bool
        The reference -> volume affine (``trv``) instead of volume -> reference (``tvr``).
    add_last : bool
        Append the row ``[0, 0, 0, 1]``.
    return_meta : bool
        Also return the reference space id and the section thickness (µm).
    client : AllenClient, optional
        The API client.

    Returns
    -------
    numpy.ndarray or tuple
        The affine, shape (3, 4) or (4, 4) with ``add_last``; with
        ``return_meta``, ``(affine, reference_space_id, section_thickness)``.

    Raises
    ------
    neuratlas.errors.DatasetNotFoundError
        If there is no such dataset.
    DataUnavailableError
        If the dataset has no 3D alignment.
    """
    dataset, _ = _client(client).fetch_metadata(dataset_id)
    tvr, trv = dataset.require_alignment()
    matrix = _homogeneous(trv if ref2inp else tvr, add_last)
    if return_meta:
        return matrix, dataset.reference_space_id, dataset.section_thickness
    return matrix


def get_corners_in_ref_space(
    image_id: int,
    image_width: float,
    image_height: float,
    *,
    client: AllenClient | None = None,
) -> NDArray[np.float64]:
    """The reference positions (µm) of the four corners of a section image.

    Computed locally from the image's and its dataset's affines (atldld asks
    the API once per corner; :func:`xy_to_pir_API_single` gives the API's
    answer for comparison).

    Parameters
    ----------
    image_id : int
        The section image id.
    image_width, image_height : float
        The image's full-resolution size in pixels.
    client : AllenClient, optional
        The API client (for the two affines, fetched once and cached).

    Returns
    -------
    numpy.ndarray, shape (4, 3)
        ``(p, i, r)`` of the image points ``(0, 0)``, ``(width, 0)``,
        ``(width, height)`` and ``(0, height)``, in that order.

    Raises
    ------
    TransformError
        For a negative or non-finite size.
    neuratlas.errors.DatasetNotFoundError
        If there is no such image.
    DataUnavailableError
        If the image or its dataset has no alignment.
    """
    size = np.array([image_width, image_height], dtype=np.float64)
    if size.shape != (2,) or not np.all(np.isfinite(size)) or np.any(size < 0):
        raise TransformError(
            f"the image size must be two non-negative numbers, got {image_width!r} x "
            f"{image_height!r}"
        )
    api = _client(client)
    image = api.section_image(image_id)
    dataset, _ = api.fetch_metadata(image.data_set_id)
    tvr, _ = dataset.require_alignment()
    if image.affine_tsv is None:
        raise DataUnavailableError(
            f"section image {image.id} has no 2D alignment", hint="pick another image"
        )
    width, height = size
    z = image.section_number * dataset.section_thickness
    corners = np.array([[0.0, width, width, 0.0], [0.0, 0.0, height, height], [z] * 4])
    return xy_to_pir(corners, image.affine_tsv, tvr).T


def pir_to_xy_API_single(  # noqa: N802 - atldld's name
    p: float,
    i: float,
    r: float,
    dataset_id: int,
    reference_space: int = 9,
    *,
    client: AllenClient | None = None,
) -> tuple[float, float, float, int]:
    """The API's own image position of a reference point (``reference_to_image``).

    For checking the local maths of :func:`~neuratlas.allen.transforms.pir_to_xy`.

    Parameters
    ----------
    p, i, r : float
        Reference coordinates in micrometres.
    dataset_id : int
        The section dataset.
    reference_space : int
        The reference space of the point (9, the P56 brain).
    client : AllenClient, optional
        The API client.

    Returns
    -------
    tuple
        ``(x, y, section_number, closest_section_image_id)``.
    """
    sync = _client(client).reference_to_image(p, i, r, dataset_id, reference_space)
    return sync.x, sync.y, sync.section_number, sync.section_image_id


def xy_to_pir_API_single(  # noqa: N802 - atldld's name
    x: float, y: float, image_id: int, *, client: AllenClient | None = None
) -> tuple[float, float, float]:
    """The API's own reference position of an image pixel (``image_to_reference``).

    Answers are cached per image and point, as in atldld.

    Parameters
    ----------
    x, y : float
        Full-resolution column and row in the image.
    image_id : int
        The section image id.
    client : AllenClient, optional
        The API client.

    Returns
    -------
    tuple of float
        ``(p, i, r)`` in micrometres.
    """
    return _client(client).image_to_reference(image_id, x, y)


class CommonQueries:
    """Very common queries about a dataset (atldld's ``CommonQueries``)."""

    @staticmethod
    def get_reference_space(dataset_id: int, *, client: AllenClient | None = None) -> int | None:
        """The reference space id of a dataset (9 or 10 for the mouse atlas).

        Raises
        ------
        neuratlas.errors.DatasetNotFoundError
            If there is no such dataset.
        """
        dataset, _ = _client(client).fetch_metadata(dataset_id)
        return dataset.reference_space_id

    @staticmethod
    def get_axis(dataset_id: int, *, client: AllenClient | None = None) -> str:
        """The reference axis of a dataset: ``"coronal"``, ``"sagittal"`` or ``"transverse"``.

        Raises
        ------
        neuratlas.errors.DatasetNotFoundError
            If there is no such dataset.
        TransformError
            For another plane of section (atldld raises a ``ValueError`` too).
        """
        dataset, _ = _client(client).fetch_metadata(dataset_id)
        return plane_axis(dataset.plane, f"dataset {dataset.id}")
