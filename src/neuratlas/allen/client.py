"""Client of the Allen Brain Map API: dataset metadata, section images, searches.

All requests go through one :class:`neuratlas.retrieval.http.HttpClient`
(timeouts, retries with backoff, a bound on concurrent requests). Answers are
cached under ``cache_dir("allen")``, keyed by the API base URL and the request,
and written atomically, so an interrupted run never leaves a half-written
entry behind.

The base URL is, in order: the ``base_url`` argument, ``$NEURATLAS_ALLEN_API``,
then the public API, ``https://api.brain-map.org/api/v2/`` (see
:mod:`neuratlas.allen.api`).
"""

from __future__ import annotations

import contextlib
import json
import os
import threading
import warnings
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
from numpy.typing import NDArray

from neuratlas.allen.api import (
    API_ENV,
    BACKOFF,
    DEFAULT_API,
    MAX_CONCURRENCY,
    RETRIES,
    TIMEOUT,
    connect,
    resolve_base_url,
    shared_http,
)
from neuratlas.allen.metadata import SectionDataSet, SectionImage
from neuratlas.allen.rma import Filter, RMAPage, RMAQuery, rma, rma_all
from neuratlas.errors import (
    ArgumentError,
    ArgumentTypeError,
    DatasetNotFoundError,
    ImageError,
    RMAError,
)
from neuratlas.retrieval.cache import atomic_write, cache_dir, cache_key, cache_root, clear, touch
from neuratlas.retrieval.http import HttpClient

CACHE_AREA = "allen"
IMAGE_PATH = "section_image_download/{image_id}"
# Bumped when the layout of cached metadata changes.
_METADATA_VERSION = 1


class AllenClient:
    """Access to the Allen Brain Map API.

    Parameters
    ----------
    base_url : str, optional
        API root (``.../api/v2/``); see the module documentation for the default.
    http : HttpClient, optional
        A ready client; when given, ``base_url`` only names the cache entries and
        the other parameters are ignored.
    timeout : float
        Read timeout in seconds.
    retries : int
        Retries of a failed request (connection errors, timeouts, 429, 5xx).
    backoff : float
        First retry delay in seconds, doubled at each retry.
    max_concurrency : int
        Most requests in flight at once (also the number of parallel image downloads).
    use_cache : bool
        Read and write the on-disk cache.
    """

    _default: AllenClient | None = None
    _default_lock = threading.Lock()

    def __init__(
        self,
        base_url: str | None = None,
        *,
        http: HttpClient | None = None,
        timeout: float = TIMEOUT,
        retries: int = RETRIES,
        backoff: float = BACKOFF,
        max_concurrency: int = MAX_CONCURRENCY,
        use_cache: bool = True,
    ) -> None:
        self.base_url = resolve_base_url(base_url)
        self.http = http or connect(
            self.base_url,
            timeout=timeout,
            retries=retries,
            backoff=backoff,
            max_concurrency=max_concurrency,
        )
        self.use_cache = use_cache

    def __repr__(self) -> str:
        return f"AllenClient({self.base_url!r})"

    @classmethod
    def default(cls) -> AllenClient:
        """A shared client for the current base URL (re-created when it changes).

        Its connection is :func:`neuratlas.allen.api.shared_http`, the one
        :func:`neuratlas.allen.rma.rma` uses when given no client.
        """
        url = resolve_base_url()
        with cls._default_lock:
            current = cls._default
            if current is None or current.base_url != url:
                cls._default = current = cls(url, http=shared_http(url))
            return current

    def close(self) -> None:
        """Close the connection pool."""
        self.http.close()

    def __enter__(self) -> AllenClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- RMA ------------------------------------------------------------------------------
    def rma(self, query: RMAQuery) -> RMAPage:
        """One page of an RMA query (see :func:`neuratlas.allen.rma.rma`)."""
        return rma(query, http=self.http)

    def rma_all(self, query: RMAQuery) -> list[dict[str, Any]]:
        """Every row of an RMA query (see :func:`neuratlas.allen.rma.rma_all`)."""
        return rma_all(query, http=self.http)

    # -- caching helpers --------------------------------------------------------------------
    def _cache_file(self, *parts: Any, suffix: str) -> Path:
        return cache_dir(CACHE_AREA) / f"{cache_key(self.base_url, *parts)}{suffix}"

    def _read_json(self, path: Path) -> Any | None:
        if not self.use_cache or not path.exists():
            return None
        try:
            data = json.loads(path.read_text())
        except (OSError, ValueError):
            return None  # a damaged entry is simply fetched again
        touch(path)
        return data

    def _write_json(self, path: Path, data: Any) -> None:
        if self.use_cache:
            with atomic_write(path, "w") as handle:
                json.dump(data, handle)

    # -- metadata ---------------------------------------------------------------------------
    def fetch_dataset_records(
        self, dataset_id: int, *, force_redownload: bool = False
    ) -> dict[str, Any]:
        """The raw API records of a dataset and its images (cached).

        Returns
        -------
        dict
            ``{"dataset": <SectionDataSet row>, "images": [<SectionImage rows>]}``.

        Raises
        ------
        DatasetNotFoundError
            If the API knows no dataset with this id.
        """
        dataset_id = _check_id(dataset_id, "dataset")
        path = self._cache_file("dataset", _METADATA_VERSION, dataset_id, suffix=".json")
        if not force_redownload:
            cached = self._read_json(path)
            if isinstance(cached, dict) and {"dataset", "images"} <= cached.keys():
                return cached
        records = query_dataset_records(self.rma_all, dataset_id, where=f"at {self.base_url}")
        self._write_json(path, records)
        return records

    def fetch_metadata(
        self, dataset_id: int, *, force_redownload: bool = False
    ) -> tuple[SectionDataSet, list[SectionImage]]:
        """A dataset and its section images, highest section number first.

        Parameters
        ----------
        dataset_id : int
            The ``SectionDataSet`` id.
        force_redownload : bool
            Ignore the cache and ask the API again.

        Raises
        ------
        DatasetNotFoundError
            If the API knows no dataset with this id.
        RMAError
            If the API rejects the query or its records are malformed.
        """
        records = self.fetch_dataset_records(dataset_id, force_redownload=force_redownload)
        return parse_dataset_records(records)

    def section_image(self, image_id: int) -> SectionImage:
        """The metadata of one section image.

        Raises
        ------
        DatasetNotFoundError
            If the API knows no section image with this id.
        """
        image_id = _check_id(image_id, "image")
        rows = self.rma_all(RMAQuery("SectionImage", {"id": image_id}, include=["alignment2d"]))
        if not rows:
            raise DatasetNotFoundError(
                f"there is no section image with id {image_id} at {self.base_url}",
                hint="list a dataset's images with `neuratlas allen search image --dataset <id>`",
            )
        return SectionImage.from_api(rows[0])

    def search_datasets(
        self,
        gene: str | None = None,
        plane: str | None = None,
        *,
        product: str | None = "Mouse",
        include_failed: bool = False,
    ) -> list[SectionDataSet]:
        """Section datasets by gene acronym and plane of section.

        Parameters
        ----------
        gene : str, optional
            Gene acronym, e.g. ``"Gad1"``.
        plane : {"coronal", "sagittal"}, optional
            Plane of section.
        product : str, optional
            Product abbreviation (``"Mouse"`` is the adult mouse ISH atlas).
        include_failed : bool
            Also list datasets that failed quality control.
        """
        criteria: dict[str, Any] = {}
        if not include_failed:
            criteria["failed"] = False
        if product:
            criteria["products"] = {"abbreviation": product}
        if plane:
            criteria["plane_of_section"] = {"name": plane}
        if gene:
            criteria["genes"] = {"acronym": gene}
        rows = self.rma_all(
            RMAQuery("SectionDataSet", criteria, include=["plane_of_section", "genes"])
        )
        return [SectionDataSet.from_api(row) for row in rows]

    # -- ontology ----------------------------------------------------------------------------
    def structure_graph(
        self, graph_id: int = 1, *, force_redownload: bool = False
    ) -> list[dict[str, Any]]:
        """The API's structure ontology ``graph_id``, as answered: the root node(s), nested.

        ``structure_graph_download/<graph_id>.json``; each node holds ``id``,
        ``acronym``, ``name``, ``color_hex_triplet``, ``parent_structure_id``,
        ``graph_order``, ... and ``children``. Cached like the metadata.

        Parameters
        ----------
        graph_id : int
            1 is the adult mouse brain ontology.
        force_redownload : bool
            Ignore the cache and ask the API again.

        Raises
        ------
        DatasetNotFoundError
            For an invalid graph id.
        RMAError
            If the API refuses the request or its answer holds no nodes.
        """
        graph_id = _check_id(graph_id, "structure graph")
        path = self._cache_file("structure_graph", graph_id, suffix=".json")
        if not force_redownload:
            cached = self._read_json(path)
            if isinstance(cached, list) and cached:
                return cached
        msg = self._service_msg(f"structure_graph_download/{graph_id}.json", {})
        if not isinstance(msg, list) or not msg or not all(isinstance(n, dict) for n in msg):
            raise RMAError(
                f"the structure graph {graph_id} answer holds no structures: {str(msg)[:200]!r}",
                url=f"structure_graph_download/{graph_id}.json",
            )
        self._write_json(path, msg)
        return msg

    def search_genes(self, pattern: str, *, organism: str | None = "Mus musculus") -> list[str]:
        """Acronyms of the genes that match ``pattern`` (case-insensitive, ``*`` a wildcard).

        Parameters
        ----------
        pattern : str
            E.g. ``"Gad*"``.
        organism : str, optional
            Only genes of this organism (the API's name, ``"Mus musculus"`` by default).

        Returns
        -------
        list of str
            Sorted, without repeats.
        """
        criteria: dict[str, Any] = {"acronym": Filter("il", pattern)}
        if organism:
            criteria["organism"] = {"name": organism}
        rows = self.rma_all(RMAQuery("Gene", criteria))
        return sorted({str(row["acronym"]) for row in rows if row and row.get("acronym")})

    # -- the API's own coordinate sync ------------------------------------------------------
    def _service_msg(self, path: str, params: dict[str, Any]) -> Any:
        """The ``msg`` of a non-RMA service answer (same envelope), after checking success."""
        answer = self.http.get_json(path, params=params)
        if not isinstance(answer, Mapping) or "msg" not in answer:
            raise RMAError(
                f"the answer of {path} is not an Allen API envelope (no 'msg' field)",
                url=path,
                hint="check that the API base URL points at .../api/v2/",
            )
        if answer.get("success") is not True and str(answer.get("success")).lower() != "true":
            raise RMAError(f"the Allen API refused {path}: {answer['msg']}", url=path)
        return answer["msg"]

    def image_to_reference(self, image_id: int, x: float, y: float) -> tuple[float, float, float]:
        """The API's reference position ``(p, i, r)`` (µm) of pixel ``(x, y)`` of an image.

        Answers are cached, one entry per image and point.

        Parameters
        ----------
        image_id : int
            The section image id.
        x, y : float
            Full-resolution column and row.

        Raises
        ------
        DatasetNotFoundError
            For an invalid image id.
        RMAError
            If the API refuses the request or answers without a position.
        """
        image_id = _check_id(image_id, "image")
        params = {"x": _number(x, "x"), "y": _number(y, "y")}
        path = self._cache_file("image_to_reference", image_id, params, suffix=".json")
        cached = self._read_json(path)
        if isinstance(cached, list) and len(cached) == 3:
            return (float(cached[0]), float(cached[1]), float(cached[2]))
        msg = self._service_msg(f"image_to_reference/{image_id}.json", params)
        try:
            found = msg["image_to_reference"]
            pir = (float(found["x"]), float(found["y"]), float(found["z"]))
        except (KeyError, TypeError, ValueError) as exc:
            raise RMAError(
                f"the image_to_reference answer for image {image_id} has no position: {msg!r}"
            ) from exc
        self._write_json(path, list(pir))
        return pir

    def reference_to_image(
        self, p: float, i: float, r: float, dataset_id: int, reference_space: int = 9
    ) -> ImageSync:
        """The API's image position of reference point ``(p, i, r)`` (µm) in a dataset.

        Parameters
        ----------
        p, i, r : float
            Reference coordinates in micrometres.
        dataset_id : int
            The section dataset.
        reference_space : int
            The reference space of ``(p, i, r)`` (9, the P56 brain, for the CCF).

        Returns
        -------
        ImageSync
            ``(x, y, section_number, section_image_id)``: the pixel in the closest image.

        Raises
        ------
        DatasetNotFoundError
            For an invalid id.
        RMAError
            If the API refuses the request or answers without a position.
        """
        dataset_id = _check_id(dataset_id, "dataset")
        space = _check_id(reference_space, "reference space")
        params = {
            "x": _number(p, "p"),
            "y": _number(i, "i"),
            "z": _number(r, "r"),
            "section_data_set_ids": dataset_id,
        }
        msg = self._service_msg(f"reference_to_image/{space}.json", params)
        try:
            found = msg[0]["image_sync"]
            return ImageSync(
                float(found["x"]),
                float(found["y"]),
                float(found["section_number"]),
                int(found["section_image_id"]),
            )
        except (KeyError, IndexError, TypeError, ValueError) as exc:
            raise RMAError(
                f"the reference_to_image answer for dataset {dataset_id} has no position: {msg!r}"
            ) from exc

    # -- images -----------------------------------------------------------------------------
    def image_path(
        self,
        image_id: int,
        *,
        downsample: int = 0,
        expression: bool = False,
        force_redownload: bool = False,
    ) -> Path:
        """Download a section image into the cache (once) and return its path.

        Parameters
        ----------
        image_id : int
            The section image id.
        downsample : int
            Both sides are shrunk by ``2 ** downsample`` on the server.
        expression : bool
            The expression view instead of the plain image.
        force_redownload : bool
            Fetch again even if cached.

        Raises
        ------
        ImageError
            If the server's answer is not a readable image; nothing is cached.
        neuratlas.errors.DataUnavailableError
            If the image cannot be fetched.
        """
        fetched = self.fetch_image(
            image_id,
            downsample=downsample,
            expression=expression,
            force_redownload=force_redownload,
        )
        if not fetched.checked:
            fetched.load()  # the check: decoded once, then moved into the cache
        return fetched.cached

    def fetch_image(
        self,
        image_id: int,
        *,
        downsample: int = 0,
        expression: bool = False,
        force_redownload: bool = False,
    ) -> FetchedImage:
        """Download a section image (unless cached), leaving its check to its first decoding.

        :meth:`image_path` decodes a downloaded image to check it before it enters
        the cache; whoever decodes the image anyway saves that second decoding with
        :meth:`FetchedImage.load`, which checks it while decoding it (a full-resolution
        section takes ~0.3 s to decode). The parameters and errors are those of
        :meth:`image_path`.
        """
        image_id = _check_id(image_id, "image")
        if int(downsample) != downsample or downsample < 0:
            raise ImageError(f"downsample must be a non-negative integer, got {downsample!r}")
        params: dict[str, Any] = {"downsample": int(downsample)}
        if expression:
            params["view"] = "expression"
        target = self._cache_file("image", image_id, params, suffix=".jpg")
        what = f"{'expression' if expression else 'section'} image {image_id}"
        if target.exists() and not force_redownload and self.use_cache:
            touch(target)
            return FetchedImage(target, target, what)
        # Downloaded under a temporary name, checked, and only then moved into place,
        # so that a corrupt answer never becomes a cache entry.
        staging = target.with_name(target.name + ".unverified")
        url = IMAGE_PATH.format(image_id=image_id)
        # a file fetched by hand goes where a verified download ends up, not to the staging name
        self.http.download(url, staging, params=params, place_at=target)
        return FetchedImage(staging, target, what)

    def image(
        self, image_id: int, *, downsample: int = 0, expression: bool = False
    ) -> NDArray[np.uint8]:
        """A section image as an array (RGB, uint8), downloaded once and cached.

        See :meth:`image_path` for the parameters and errors.
        """
        return self.fetch_image(image_id, downsample=downsample, expression=expression).load()


#: Runs an RMA query to the end: :meth:`AllenClient.rma_all`, or recorded answers.
RmaAll = Callable[[RMAQuery], Sequence[Mapping[str, Any] | None]]


def query_dataset_records(rma_all: RmaAll, dataset_id: int, *, where: str = "") -> dict[str, Any]:
    """The raw records of a dataset and its images, from any ``rma_all``.

    Parameters
    ----------
    rma_all : callable
        Takes an :class:`~neuratlas.allen.rma.RMAQuery` and returns its rows
        (:meth:`AllenClient.rma_all`, or a function answering from recordings).
    dataset_id : int
        The ``SectionDataSet`` id.
    where : str
        Where the answers come from, for the error message (``"at <url>"``).

    Returns
    -------
    dict
        ``{"dataset": <SectionDataSet row>, "images": [<SectionImage rows>]}``.

    Raises
    ------
    DatasetNotFoundError
        If there is no dataset with this id.
    """
    datasets = list(
        rma_all(
            RMAQuery(
                "SectionDataSet",
                {"id": dataset_id},
                include=["alignment3d", "plane_of_section", "genes"],
            )
        )
    )
    if not datasets or not isinstance(datasets[0], Mapping):
        raise DatasetNotFoundError(
            f"there is no section dataset with id {dataset_id}" + (f" {where}" if where else ""),
            hint="find dataset ids with `neuratlas allen search dataset --gene <acronym>`",
        )
    images = rma_all(
        RMAQuery("SectionImage", {"data_set_id": dataset_id}, include=["alignment2d"])
    )
    return {"dataset": dict(datasets[0]), "images": [dict(row) for row in images if row]}


def parse_dataset_records(
    records: Mapping[str, Any],
) -> tuple[SectionDataSet, list[SectionImage]]:
    """Parse :func:`query_dataset_records` output: the dataset, images highest section first.

    Raises
    ------
    RMAError
        If a record is malformed.
    """
    dataset = SectionDataSet.from_api(records["dataset"])
    images = [SectionImage.from_api(row) for row in records["images"]]
    images.sort(key=lambda image: -image.section_number)
    return dataset, images


class FetchedImage(NamedTuple):
    """A section image file: in the cache, or downloaded and not yet checked.

    See :meth:`AllenClient.fetch_image`.
    """

    #: The file as it is now (the cache entry once checked).
    path: Path
    #: Where the image lives in the cache once checked.
    cached: Path
    #: How the image is named in error messages.
    what: str

    @property
    def checked(self) -> bool:
        """Whether the file is the (checked) cache entry."""
        return self.path == self.cached

    def load(self) -> NDArray[np.uint8]:
        """Decode the image; a downloaded one enters the cache once it decodes.

        Raises
        ------
        ImageError
            The file is not a readable image (a downloaded one is deleted).
        """
        if self.checked:
            return read_image(self.path, self.what)
        try:
            array = read_image(self.path, self.what)
        except ImageError:
            self.path.unlink(missing_ok=True)
            raise
        os.replace(self.path, self.cached)
        return array


class ImageSync(NamedTuple):
    """Where the API puts a reference point in a dataset (:meth:`AllenClient.reference_to_image`).

    Attributes
    ----------
    x, y : float
        Full-resolution column and row in image ``section_image_id``.
    section_number : float
        The section number the 3D transform gives (no image need have it).
    section_image_id : int
        The dataset's image closest to that section.
    """

    x: float
    y: float
    section_number: float
    section_image_id: int


def _number(value: Any, name: str) -> float | int:
    if isinstance(value, bool) or not isinstance(value, int | float | np.number):
        raise ArgumentTypeError(f"{name} must be a number, got {value!r}")
    if not np.isfinite(value):
        raise ArgumentError(f"{name} must be finite, got {value!r}")
    return value.item() if isinstance(value, np.number) else value


class CacheUsage(NamedTuple):
    """What the Allen cache holds: its folder, number of files and total size in bytes."""

    folder: Path
    files: int
    size: int


def cache_folder() -> Path:
    """The folder of the cached Allen metadata and images (which may not exist yet)."""
    return cache_root() / CACHE_AREA


def cache_usage() -> CacheUsage:
    """Count the files and bytes in the Allen cache (creating its folder if needed).

    Returns
    -------
    CacheUsage
        ``(folder, files, size)``, the size in bytes.
    """
    folder = cache_dir(CACHE_AREA)
    files = [path for path in folder.rglob("*") if path.is_file()]
    return CacheUsage(folder, len(files), sum(path.stat().st_size for path in files))


def clear_cache() -> Path:
    """Delete the cached Allen metadata and images.

    Returns
    -------
    pathlib.Path
        The folder that held them (see :func:`cache_folder`).
    """
    folder = cache_folder()
    clear(CACHE_AREA)
    return folder


def _check_id(value: Any, what: str) -> int:
    number = -1
    if not isinstance(value, bool | float):
        with contextlib.suppress(TypeError, ValueError):
            number = int(value)
    if number < 0:
        raise DatasetNotFoundError(
            f"{value!r} is not a valid {what} id", hint="ids are non-negative integers"
        )
    return number


def read_image(path: Path, what: str = "image") -> NDArray[np.uint8]:
    """Decode an 8-bit image file completely.

    Parameters
    ----------
    path : pathlib.Path
        The file (JPEG as served by the API, or any format Pillow reads).
    what : str
        How to name the image in error messages.

    Raises
    ------
    ImageError
        If the file is not a complete, decodable 8-bit image.
    """
    # heavy: Pillow adds ~40 ms to `import neuratlas.allen`; only image reads need it
    from PIL import Image, UnidentifiedImageError

    try:
        with warnings.catch_warnings():
            # Some Allen sections exceed Pillow's bomb warning threshold (~90 Mpx).
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(path) as handle:
                handle.load()
                array = np.asarray(handle)
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        head = b""
        with contextlib.suppress(OSError):
            head = path.read_bytes()[:60]
        raise ImageError(
            f"{what} is not a readable image ({exc}); the answer began with {head!r}",
            hint="the server may have answered an error page; try again later",
        ) from exc
    except Image.DecompressionBombError as exc:
        raise ImageError(
            f"{what} is too large to decode ({exc})", hint="ask for a downsampled image"
        ) from exc
    if array.dtype != np.uint8:
        raise ImageError(f"{what} has pixel type {array.dtype}, expected 8-bit")
    return array


__all__ = [
    "API_ENV",
    "CACHE_AREA",
    "DEFAULT_API",
    "AllenClient",
    "CacheUsage",
    "DatasetNotFoundError",
    "FetchedImage",
    "ImageSync",
    "RMAError",
    "cache_folder",
    "cache_usage",
    "clear_cache",
    "parse_dataset_records",
    "query_dataset_records",
    "read_image",
    "resolve_base_url",
]
