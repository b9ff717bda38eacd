"""Synchronise Allen section datasets with the reference space.

:class:`DatasetDownloader` fetches a dataset's metadata and images and pairs
every image with the displacement field that puts it on the reference grid of
its slice. The coordinate maths lives in :mod:`neuratlas.allen.transforms`
and is re-exported here.
"""

from __future__ import annotations

import collections
import functools
import logging
from collections.abc import Callable, Collection, Generator, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from neuratlas.allen.client import (
    AllenClient,
    FetchedImage,
    RmaAll,
    parse_dataset_records,
    query_dataset_records,
)
from neuratlas.allen.displacement import DisplacementField
from neuratlas.allen.metadata import ReferenceSpace, SectionDataSet, SectionImage, plane_axis
from neuratlas.allen.transforms import (
    AXIS_INDEX,
    check_downsampling,
    get_oblique_transform,
    get_parallel_transform,
    pir_to_xy,
    xy_to_pir,
)
from neuratlas.errors import (
    ArgumentTypeError,
    DatasetNotFoundError,
    DataUnavailableError,
    Error,
    ImageError,
    NotFoundError,
    TransformError,
)

__all__ = [
    "DatasetDownloader",
    "DatasetNotFoundError",
    "get_oblique_transform",
    "get_parallel_transform",
    "pir_to_xy",
    "xy_to_pir",
]

logger = logging.getLogger(__name__)

# a section image and its expression view (None unless asked for)
_ImagePair = tuple[NDArray[np.uint8], NDArray[np.uint8] | None]
# a section image and its expression view as downloaded (either None when not asked for)
_FetchedPair = tuple[FetchedImage | None, FetchedImage | None]
#: Sections decoded ahead of the one being used (enough to keep a core busy; more would
#: only hold more images in memory).
_DECODED_AHEAD = 2

#: Fetches one image instead of the client (atldld's ``get_image`` signature).
GetImage = Callable[..., NDArray[np.uint8] | None]
#: What :meth:`DatasetDownloader.run` yields for every image.
SyncResult = tuple[int, float, NDArray[np.uint8], NDArray[np.uint8] | None, DisplacementField]


class DatasetDownloader:
    """Download an entire section dataset, synced to the reference space.

    Parameters
    ----------
    dataset_id : int
        Id of the section dataset.
    downsample_ref : int
        Step of the reference grid in micrometres (1 keeps the 1 µm grid, 25
        gives the 25 µm CCF grid).
    detection_xy : (float, float)
        The full-resolution image point whose reference position decides the
        slice coordinate: p for coronal, r for sagittal, i for horizontal data.
    include_expression : bool
        Also download the expression view of every image.
    downsample_img : int
        Images are downloaded shrunk by ``2 ** downsample_img``.
    client : AllenClient, optional
        The API client; the default one otherwise.
    rma_all : callable, optional
        Answers the metadata queries instead of the client: takes an
        :class:`~neuratlas.allen.rma.RMAQuery` and returns its rows, e.g. from
        recorded API answers (atldld's tests patch ``atldld.sync.rma_all`` the same way).
    get_image : callable, optional
        Fetches the images instead of the client, called as
        ``get_image(image_id, expression=bool, downsample=int)`` (the signature of
        atldld's ``get_image``); it returns a uint8 array, or ``None`` for an image
        that cannot be had (skipped and kept in :attr:`failures`). Called one image
        at a time.
    expression_only : bool
        Download only the expression view (it implies ``include_expression``):
        :meth:`run` then yields it as both ``img`` and ``img_expr``, and the plain
        section images, which a per-region expression summary never looks at, are
        not fetched at all.
    to_ccf : bool
        Give every position in the CCF (reference space 9), also for datasets
        registered to the left/right flipped space 10 (the sagittal ones): their
        affines are mirrored across the midline when the metadata are fetched (see
        :class:`~neuratlas.allen.metadata.ReferenceSpace`). Off by default, as in
        atldld, whose positions are in each dataset's own space.

    Attributes
    ----------
    metadata : dict
        Filled by :meth:`fetch_metadata`: ``"dataset"`` (id, affines
        ``affine_tvr``/``affine_trv``, ``plane_of_section_id``,
        ``section_thickness``, ...) and ``"images"`` (one dict per image, with
        ``id``, ``affine_tsv``/``affine_tvs``, ``section_number``, sizes),
        highest section number first.
    failures : dict
        Image id -> the exception that stopped it, after :meth:`run`.

    Raises
    ------
    neuratlas.errors.TransformError
        ``downsample_ref`` or ``downsample_img`` out of range (before any download).
    """

    def __init__(
        self,
        dataset_id: int,
        downsample_ref: int = 25,
        detection_xy: tuple[float, float] = (0, 0),
        include_expression: bool = False,
        downsample_img: int = 0,
        *,
        client: AllenClient | None = None,
        rma_all: RmaAll | None = None,
        get_image: GetImage | None = None,
        expression_only: bool = False,
        to_ccf: bool = False,
    ) -> None:
        check_downsampling(downsample_ref, downsample_img)
        for name, value in (("rma_all", rma_all), ("get_image", get_image)):
            if value is not None and not callable(value):
                raise ArgumentTypeError(
                    f"{name} must be a callable, not a {type(value).__name__}",
                    hint=f"pass a function like atldld's {name}, or a client",
                )
        self.dataset_id = dataset_id
        self.downsample_ref = downsample_ref
        self.detection_xy = detection_xy
        self.expression_only = bool(expression_only)
        self.to_ccf = bool(to_ccf)
        self.include_expression = bool(include_expression) or self.expression_only
        self.downsample_img = downsample_img
        self._client = client
        self._rma_all = rma_all
        self._get_image = get_image
        self.metadata: dict[str, Any] = {}
        self.dataset: SectionDataSet | None = None
        self.images: list[SectionImage] = []
        self.failures: dict[int, BaseException] = {}

    @property
    def client(self) -> AllenClient:
        """The API client: the one given, else the default one (made when first needed)."""
        if self._client is None:
            self._client = AllenClient.default()
        return self._client

    def __repr__(self) -> str:
        size = f", {len(self.images)} images" if self.metadata else ""
        return f"DatasetDownloader({self.dataset_id}{size})"

    def __len__(self) -> int:
        """The number of aligned images in the dataset."""
        self._require_metadata()
        return len(self.metadata["images"])

    def _require_metadata(self) -> None:
        if not self.metadata:
            # the metadata are a missing thing (nothing wrong with any argument)
            raise NotFoundError(
                f"the metadata of dataset {self.dataset_id} has not been fetched",
                hint="call fetch_metadata() first",
            )

    def fetch_metadata(self, force_redownload: bool = False) -> None:
        """Fetch the metadata of the dataset and of all its images.

        Parameters
        ----------
        force_redownload : bool
            Ask the API again even if the metadata were fetched (or cached) before.

        Raises
        ------
        DatasetNotFoundError
            If the API knows no dataset with this id.
        neuratlas.errors.DataUnavailableError
            If the dataset has no 3D alignment or cannot be fetched.
        """
        if self.metadata and not force_redownload:
            return
        if self._rma_all is not None:
            records = query_dataset_records(
                self._rma_all, self.dataset_id, where="in the answers of the given rma_all"
            )
            dataset, images = parse_dataset_records(records)
        else:
            dataset, images = self.client.fetch_metadata(
                self.dataset_id, force_redownload=force_redownload
            )
        tvr, trv = dataset.require_alignment()
        space = dataset.reference_space_id
        if self.to_ccf and space is not None and space != ReferenceSpace.P56.value:
            tvr, trv = self._affines_to_ccf(tvr, trv, space)
            space_of_affines = ReferenceSpace.P56.value
        else:
            space_of_affines = space
        aligned = [image for image in images if image.aligned]
        if len(aligned) < len(images):
            logger.warning(
                "dataset %s: %d images without 2D alignment are skipped",
                self.dataset_id,
                len(images) - len(aligned),
            )
        self.dataset = dataset
        self.images = aligned
        self.metadata = {
            "dataset": {
                "id": dataset.id,
                "affine_tvr": tvr,
                "affine_trv": trv,
                "plane_of_section_id": dataset.plane_of_section_id,
                "plane": dataset.plane,
                "section_thickness": dataset.section_thickness,
                "reference_space_id": dataset.reference_space_id,
                "affine_reference_space_id": space_of_affines,
                "genes": list(dataset.genes),
            },
            "images": [
                {
                    "id": image.id,
                    "affine_tsv": image.affine_tsv,
                    "affine_tvs": image.affine_tvs,
                    "section_number": image.section_number,
                    "image_width": image.width,
                    "image_height": image.height,
                }
                for image in aligned
            ],
        }

    def _affines_to_ccf(
        self, tvr: NDArray[np.float64], trv: NDArray[np.float64], space: int
    ) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
        """``(tvr, trv)`` of a dataset registered to ``space``, made to map to and from the CCF."""
        try:
            to_ccf = ReferenceSpace(space).affine_to_ccf
        except ValueError:
            raise TransformError(
                f"dataset {self.dataset_id} is registered to reference space {space}, "
                "which neuratlas cannot place in the CCF",
                hint="spaces 9 (P56) and 10 (P56, left/right flipped) are supported",
            ) from None
        last = np.array([[0.0, 0.0, 0.0, 1.0]])
        tvr_ccf = (to_ccf @ np.vstack([tvr, last]))[:3]
        trv_ccf = (np.vstack([trv, last]) @ np.linalg.inv(to_ccf))[:3]
        return tvr_ccf, trv_ccf

    @property
    def axis(self) -> str:
        """The reference axis fixed by the dataset's plane of section."""
        self._require_metadata()
        record = self.metadata["dataset"]
        plane = record.get("plane") or record.get("plane_of_section_id")
        return plane_axis(plane, f"dataset {self.dataset_id}")

    def section_z(self, image: dict[str, Any]) -> float:
        """``section_number * section_thickness`` of one image record."""
        return float(image["section_number"]) * float(
            self.metadata["dataset"]["section_thickness"]
        )

    def slice_coordinate(self, image: dict[str, Any]) -> float:
        """Reference coordinate (µm) of one image along the dataset's axis."""
        point = np.array([[self.detection_xy[0]], [self.detection_xy[1]], [self.section_z(image)]])
        pir = xy_to_pir(point, image["affine_tsv"], self.metadata["dataset"]["affine_tvr"])
        return float(pir[AXIS_INDEX[self.axis], 0])

    def failures_error(self, tried: int, listed_in: Path | None = None) -> DataUnavailableError:
        """One error about :attr:`failures`: how many of ``tried`` images failed, and why.

        The message names the first failed image and its reason; the hint is that
        failure's own hint when it has one (how to reach the API, say), else to
        run again, since images that did arrive are cached.

        Parameters
        ----------
        tried : int
            How many images were attempted.
        listed_in : pathlib.Path, optional
            A file that lists every failure (an export's manifest), named in the message.
        """
        if not self.failures:
            raise AssertionError("failures_error() needs failures")
        # the first in section order (downloads and decodings fail in their own order)
        order = {
            record["id"]: k for k, record in enumerate((self.metadata or {}).get("images", []))
        }
        first_id = min(self.failures, key=lambda image_id: order.get(image_id, len(order)))
        first = self.failures[first_id]
        reason = first.message if isinstance(first, Error) else str(first) or type(first).__name__
        count = len(self.failures)
        if count >= tried:
            message = f"none of the {tried} images of dataset {self.dataset_id} could be used"
        else:
            message = f"{count} of {tried} images of dataset {self.dataset_id} failed"
        message += f" (the first, image {first_id}: {reason})"
        if listed_in is not None:
            message += f"; every failure is listed in {listed_in}"
        hint = first.hint if isinstance(first, Error) and first.hint else None
        return DataUnavailableError(
            message,
            source=getattr(first, "source", None),
            hint=hint or "run again: the images that arrived are cached and not fetched again",
        )

    def _download(self, image_id: int, check: bool) -> _FetchedPair:
        plain = None
        if not self.expression_only:
            plain = self.client.fetch_image(image_id, downsample=self.downsample_img)
        expression = None
        if self.include_expression:
            expression = self.client.fetch_image(
                image_id, downsample=self.downsample_img, expression=True
            )
        if check:
            for image in (plain, expression):
                if image is not None and not image.checked:
                    image.load()  # the check (see AllenClient.image_path)
        return plain, expression

    def iter_downloads(
        self, image_ids: Collection[int] | None = None
    ) -> Iterator[tuple[dict[str, Any], tuple[Path | None, Path | None] | None]]:
        """Download the images concurrently; yield ``(record, paths or None)`` in order.

        ``paths`` is ``(section image, expression view)``, either ``None`` when not
        asked for (see ``include_expression`` and ``expression_only``); the files are
        checked cache entries. A failed image yields ``None`` and is recorded in
        :attr:`failures`.

        Parameters
        ----------
        image_ids : collection of int, optional
            Only these images (ids unknown to the dataset are ignored); all by default.
        """
        for record, fetched in self._fetch_all(image_ids, check=True):
            if fetched is None:
                yield record, None
            else:
                plain, expression = fetched
                yield (
                    record,
                    (
                        None if plain is None else plain.cached,
                        None if expression is None else expression.cached,
                    ),
                )

    def _fetch_all(
        self, image_ids: Collection[int] | None, *, check: bool
    ) -> Iterator[tuple[dict[str, Any], _FetchedPair | None]]:
        """Download the images concurrently; yield ``(record, fetched or None)`` in order.

        With ``check``, each download is checked (decoded) in its worker thread;
        without, whoever decodes it checks it
        (:meth:`~neuratlas.allen.client.FetchedImage.load`). A failed
        download yields ``None`` and is recorded in :attr:`failures`.
        """
        self._require_metadata()
        self.failures = {}
        records = self.metadata["images"]
        if image_ids is not None:
            wanted = set(image_ids)
            records = [record for record in records if record["id"] in wanted]
        workers = max(1, min(self.client.http.max_concurrency, len(records)))
        executor = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="allen-download")
        try:
            futures: list[Future[_FetchedPair]] = [
                executor.submit(self._download, record["id"], check) for record in records
            ]
            for record, future in zip(records, futures, strict=True):
                try:
                    fetched = future.result()
                except Exception as exc:
                    logger.warning("image %s could not be downloaded: %s", record["id"], exc)
                    self.failures[record["id"]] = exc
                    yield record, None
                    continue
                yield record, fetched
        finally:
            executor.shutdown(wait=True, cancel_futures=True)

    def run(self, image_ids: Collection[int] | None = None) -> Generator[SyncResult, None, None]:
        """Download the entire dataset (or some of its images).

        For every image, highest section number first: find the reference
        position of ``detection_xy``; take its coordinate along the dataset's
        axis as the slice coordinate (the section is assumed parallel to that
        plane); build the displacement field with :func:`get_parallel_transform`;
        and download the image (and its expression view). Downloads run
        concurrently, bounded by the client's ``max_concurrency``.

        Parameters
        ----------
        image_ids : collection of int, optional
            Only these images, still in section order; all by default.

        Yields
        ------
        image_id : int
        constant_ref_coordinate : float
            The slice coordinate along the axis, in micrometres.
        img : numpy.ndarray
            The section image (uint8, RGB); the expression view with ``expression_only``.
        img_expr : numpy.ndarray or None
            The expression view, or ``None`` unless ``include_expression``.
        df : DisplacementField
            Maps the slice's reference grid into ``img``.

        Notes
        -----
        An image that cannot be downloaded or decoded is skipped (logged and
        kept in :attr:`failures`); the others are still yielded.

        Raises
        ------
        neuratlas.errors.NotFoundError
            If :meth:`fetch_metadata` was not called.
        """
        self._require_metadata()
        axis = self.axis
        trv = self.metadata["dataset"]["affine_trv"]
        for record, img, img_expr in self._iter_images(image_ids):
            image_id = record["id"]
            coordinate = self.slice_coordinate(record)
            df = get_parallel_transform(
                coordinate,
                record["affine_tvs"],
                trv,
                axis=axis,  # type: ignore[arg-type]
                downsample_ref=self.downsample_ref,
                downsample_img=self.downsample_img,
            )
            yield image_id, coordinate, img, img_expr, df

    def _iter_images(
        self, image_ids: Collection[int] | None
    ) -> Iterator[tuple[dict[str, Any], NDArray[np.uint8], NDArray[np.uint8] | None]]:
        """Yield ``(record, img, img_expr)`` of the usable images, in section order.

        An image that cannot be had is logged and kept in :attr:`failures`.
        """
        for record, load in self._image_sources(image_ids):
            try:
                img, img_expr = load()
            except Error as exc:
                logger.warning("image %s is unusable: %s", record["id"], exc)
                self.failures[record["id"]] = exc
                continue
            yield record, img, img_expr

    def _image_sources(
        self, image_ids: Collection[int] | None
    ) -> Iterator[tuple[dict[str, Any], Callable[[], _ImagePair]]]:
        """Each wanted image's record, and how to get its images: injected or downloaded."""
        if self._get_image is not None:
            # called in order, one image at a time: a user's callable need not be thread-safe
            self.failures = {}
            wanted = None if image_ids is None else set(image_ids)
            for record in self.metadata["images"]:
                if wanted is None or record["id"] in wanted:
                    yield record, functools.partial(self._injected_images, record["id"])
            return
        yield from self._decoded_ahead(image_ids)

    def _decoded_ahead(
        self, image_ids: Collection[int] | None
    ) -> Iterator[tuple[dict[str, Any], Callable[[], _ImagePair]]]:
        """The downloaded images, decoded in worker threads a few sections ahead.

        Decoding a JPEG releases the GIL: done here, it overlaps with the caller's work
        on the previous sections instead of adding to it. At most
        :data:`_DECODED_AHEAD` decoded sections wait, so memory stays bounded however
        large the images are.
        """
        pending: collections.deque[tuple[dict[str, Any], Future[_ImagePair]]] = collections.deque()
        decoder = ThreadPoolExecutor(max_workers=_DECODED_AHEAD, thread_name_prefix="allen-decode")
        try:
            for record, fetched in self._fetch_all(image_ids, check=False):
                if fetched is None:
                    continue  # a failed download, already in self.failures
                pending.append((record, decoder.submit(_read_images, fetched)))
                if len(pending) > _DECODED_AHEAD:
                    done, future = pending.popleft()
                    yield done, future.result
            while pending:
                done, future = pending.popleft()
                yield done, future.result
        finally:
            decoder.shutdown(wait=True, cancel_futures=True)

    def _injected_images(self, image_id: int) -> _ImagePair:
        if self.expression_only:
            expr = self._injected_image(image_id, expression=True)
            return expr, expr
        img = self._injected_image(image_id, expression=False)
        expr = self._injected_image(image_id, expression=True) if self.include_expression else None
        return img, expr

    def _injected_image(self, image_id: int, *, expression: bool) -> NDArray[np.uint8]:
        assert self._get_image is not None
        what = f"{'expression' if expression else 'section'} image {image_id}"
        img = self._get_image(image_id, expression=expression, downsample=self.downsample_img)
        if img is None:
            raise ImageError(f"get_image gave no {what}", hint="the image may be corrupt")
        array = np.asarray(img)
        if array.ndim not in (2, 3) or array.size == 0:
            raise ImageError(f"get_image gave {what} of shape {array.shape}, not an image")
        return array


def _read_images(fetched: _FetchedPair) -> _ImagePair:
    """Decode (and so check) a section image and its expression view, if any.

    Without a section image (``expression_only``) the expression view stands in for it.
    """
    plain, expression = fetched
    expr = expression.load() if expression is not None else None
    img = plain.load() if plain is not None else expr
    assert img is not None, "a download gives the section image, the expression view or both"
    return img, expr
