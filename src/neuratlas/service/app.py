"""The HTTP atlas service: a FastAPI app over :mod:`neuratlas.service.handlers`.

Routes sit under ``/v3_0`` as siibra-api names them and answer with the same JSON
shapes; lists are paged (:mod:`.paging`); every error has one JSON body and a status
that means something (:mod:`.http_errors`); every GET has an ETag and a
Cache-Control (:mod:`.caching`); ``/metrics`` counts requests per route (:mod:`.metrics`).

Catalogue answers are encoded once and then served from memory. Work that reads
images (maps, resampling, assignments, bundles) runs off the event loop, so one slow
map never stalls the catalogue routes.

Run it with ``neuratlas serve`` or ``uvicorn --factory neuratlas.service.app:create_app``.
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import AsyncIterator, Callable, Hashable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, FastAPI, Query, Request
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

import neuratlas
from neuratlas import catalogue, parallel
from neuratlas.__about__ import __version__
from neuratlas.core.map_index import MapType
from neuratlas.errors import ArgumentError, Error
from neuratlas.service import (
    answers,
    bundle,
    explorer,
    handlers,
    http_errors,
    jobs_routes,
    memory,
    meshes,
)
from neuratlas.service.caching import (
    Encoded,
    Memo,
    StaticFiles,
    encode,
    encode_bytes,
    file_response,
    json_response,
)
from neuratlas.service.metrics import MetricsMiddleware, Registry
from neuratlas.service.paging import DEFAULT_SIZE, MAX_SIZE, paginate

log = logging.getLogger("neuratlas.service")

PREFIX = "/v3_0"
#: Where the package's static files (vendored scripts of /docs) are served, and from.
STATIC = "/static"
STATIC_FOLDER = Path(__file__).parent / "static"
SWAGGER_UI = f"{STATIC}/vendor/swagger-ui"
# /map/assign: enough for the 1,000-point benchmark and well beyond, bounded all the same
MAX_POINTS = 100_000
# fewer points are assigned in a thread of the pool: a Dask round trip costs about
# 11 ms on the reference machine (parallel's local cluster), more than assigning 100
# points on a loaded map (about 1 ms per 1,000 points) and encoding their rows
DASK_MIN_POINTS = 100
_NUMBER = re.compile(r"^\s*([-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)\s*(?:mm)?\s*$")

Page = Annotated[int, Query(ge=1, description="Page, from 1.")]
Size = Annotated[int, Query(ge=1, le=MAX_SIZE, description="Items per page (1 to 100).")]


def create_app() -> FastAPI:
    """The service as a FastAPI app (an app factory: each call builds a fresh one).

    Returns
    -------
    FastAPI
        The app; its catalogue warms up in a thread at start-up, and ``/ready``
        answers 200 once that is done.
    """
    # a service runs for days, its work in many threads: bound malloc's arenas
    memory.limit_arenas()
    registry = Registry()
    app = FastAPI(
        title="neuratlas",
        version=__version__,
        description="Multilevel brain atlases over HTTP (siibra-api v3 routes).",
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
        lifespan=_lifespan,
    )
    app.state.memo = Memo()
    app.state.ready = threading.Event()
    app.state.warm_error = None
    http_errors.install(app)
    app.add_middleware(MetricsMiddleware, registry=registry)
    app.include_router(_service_routes(registry))
    app.include_router(explorer.router)
    app.include_router(_catalogue_routes())
    app.include_router(_map_routes())
    app.include_router(_download_routes())
    app.include_router(jobs_routes.router)
    app.include_router(meshes.router)
    app.mount(STATIC, StaticFiles(directory=STATIC_FOLDER), name="static")
    return app


@asynccontextmanager
async def _lifespan(app: FastAPI) -> AsyncIterator[None]:
    # warm in a thread: /health answers at once, /ready once the catalogue is built
    threading.Thread(target=_warm, args=(app,), name="neuratlas-warm", daemon=True).start()
    trimmer = memory.Trimmer().start()
    yield
    trimmer.stop()
    parallel.close()  # the Dask client of the heavy work


def _warm(app: FastAPI) -> None:
    """Get ready for fast answers: the catalogue, the Dask workers, the sparse indexes.

    The indexes of the statistical maps are built once per cache (about 0.8 s for the
    three embedded ones on the reference machine), then loaded memory-mapped; built
    here, the first request for a region's map does not wait for them.
    """
    step = "the catalogue failed to load"
    try:
        handlers.all_atlases()
        handlers.all_spaces()
        handlers.all_parcellations()
        step = "the Dask workers could not be reached"
        parallel.get_client()
        step = "a statistical map could not be indexed"
        for the_map in catalogue.active().maps:
            if the_map.maptype is MapType.STATISTICAL and not the_map.is_surface:
                the_map.sparse_index  # noqa: B018 - built and cached on first access
    except Exception as exc:  # reported by /ready, which is where an operator looks
        if isinstance(exc, Error):  # says what to do already: one line, no traceback
            log.error("%s: %s", step, exc)
        else:
            log.exception(step)
        app.state.warm_error = f"{step}: {type(exc).__name__}: {exc}"
    finally:
        app.state.ready.set()


async def _page(
    request: Request, key: Hashable, compute: Callable[[], list[Any]], page: int, size: int
) -> Response:
    return await answers.catalogue_answer(
        request, (*key, page, size), lambda: paginate(compute(), page, size)
    )


# --- /health, /ready, /metrics, /docs, /openapi.json ---------------------------------
def _service_routes(registry: Registry) -> APIRouter:
    router = APIRouter()

    @router.get("/health", tags=["service"])
    async def health(request: Request) -> Response:
        """Always 200 while the process answers."""
        return json_response(request, encode({"status": "ok"}), max_age=0)

    @router.get("/ready", tags=["service"])
    async def ready(request: Request) -> Response:
        """200 once the catalogue, the workers and the map indexes are ready; else 503."""
        state = request.app.state
        if not state.ready.is_set():
            return http_errors.error_response(503, "NotReady", "the service is still warming up")
        if state.warm_error:
            return http_errors.error_response(503, "NotReady", state.warm_error)
        return json_response(request, encode({"status": "ready"}), max_age=0)

    @router.get("/metrics", tags=["service"])
    async def metrics(request: Request) -> Response:
        """Request counts and latency histograms per route, in Prometheus text format."""
        body = encode_bytes(registry.render().encode())
        return json_response(
            request, body, max_age=0, media_type="text/plain; version=0.0.4; charset=utf-8"
        )

    @router.get("/openapi.json", include_in_schema=False)
    async def openapi(request: Request) -> Response:
        return await answers.catalogue_answer(request, ("openapi",), request.app.openapi)

    @router.get("/docs", include_in_schema=False)
    async def docs(request: Request) -> Response:
        # the page's scripts come from the package (static/vendor), not from a CDN:
        # the docs work offline like the rest of the service
        page = get_swagger_ui_html(
            openapi_url="/openapi.json",
            title="neuratlas: API",
            swagger_js_url=f"{SWAGGER_UI}/swagger-ui-bundle.js",
            swagger_css_url=f"{SWAGGER_UI}/swagger-ui.css",
            swagger_favicon_url=f"{SWAGGER_UI}/favicon-32x32.png",
        )
        return json_response(request, encode_bytes(bytes(page.body)), media_type="text/html")

    return router


# --- the catalogue ----------------------------------------------------------------------
def _catalogue_routes() -> APIRouter:
    router = APIRouter(prefix=PREFIX)

    @router.get("/atlases", tags=["atlases"])
    async def atlases(request: Request, page: Page = 1, size: Size = DEFAULT_SIZE) -> Response:
        """All atlases, paged."""
        return await _page(request, ("atlases",), handlers.all_atlases, page, size)

    @router.get("/atlases/{atlas_id:path}", tags=["atlases"])
    async def atlas(request: Request, atlas_id: str) -> Response:
        """One atlas, by any of its names or its ``@id`` (URL-encode a ``/``)."""
        return await answers.catalogue_answer(
            request, ("atlas", atlas_id), lambda: handlers.single_atlas(atlas_id)
        )

    @router.get("/spaces", tags=["spaces"])
    async def spaces(request: Request, page: Page = 1, size: Size = DEFAULT_SIZE) -> Response:
        """All reference spaces, paged."""
        return await _page(request, ("spaces",), handlers.all_spaces, page, size)

    @router.get("/spaces/{space_id:path}", tags=["spaces"])
    async def space(request: Request, space_id: str) -> Response:
        """One reference space."""
        return await answers.catalogue_answer(
            request, ("space", space_id), lambda: handlers.single_space(space_id)
        )

    @router.get("/parcellations", tags=["parcellations"])
    async def parcellations(
        request: Request, page: Page = 1, size: Size = DEFAULT_SIZE
    ) -> Response:
        """All parcellations, paged."""
        return await _page(request, ("parcellations",), handlers.all_parcellations, page, size)

    @router.get("/parcellations/{parcellation_id:path}", tags=["parcellations"])
    async def parcellation(request: Request, parcellation_id: str) -> Response:
        """One parcellation."""
        return await answers.catalogue_answer(
            request,
            ("parcellation", parcellation_id),
            lambda: handlers.single_parcellation(parcellation_id),
        )

    @router.get("/regions", tags=["regions"])
    async def regions(
        request: Request,
        parcellation_id: str,
        find: str | None = None,
        page: Page = 1,
        size: Size = DEFAULT_SIZE,
    ) -> Response:
        """The regions of a parcellation, optionally those matching ``find``, paged."""
        return await _page(
            request,
            ("regions", parcellation_id, find),
            lambda: handlers.all_regions(parcellation_id, find),
            page,
            size,
        )

    # declared before /regions/{region_id:path}, whose path would swallow "/related"
    @router.get("/regions/{region_id:path}/related", tags=["regions"])
    async def related(
        request: Request,
        region_id: str,
        parcellation_id: str,
        page: Page = 1,
        size: Size = DEFAULT_SIZE,
    ) -> Response:
        """Regions of other parcellations related to this one, with the relation, paged."""
        return await _page(
            request,
            ("related", parcellation_id, region_id),
            lambda: handlers.get_related_regions(parcellation_id, region_id),
            page,
            size,
        )

    @router.get("/regions/{region_id:path}", tags=["regions"])
    async def region(
        request: Request, region_id: str, parcellation_id: str, space_id: str | None = None
    ) -> Response:
        """One region; with ``space_id``, also its spatial properties and best view point."""
        return await answers.catalogue_answer(
            request,
            ("region", parcellation_id, region_id, space_id),
            lambda: handlers.single_region(parcellation_id, region_id, space_id),
        )

    @router.get("/feature/_types", tags=["features"])
    async def feature_types(
        request: Request, page: Page = 1, size: Size = DEFAULT_SIZE
    ) -> Response:
        """The feature types, paged."""
        return await _page(request, ("feature_types",), handlers.all_feature_types, page, size)

    return router


# --- maps -------------------------------------------------------------------------------
def _map_routes() -> APIRouter:
    router = APIRouter(prefix=f"{PREFIX}/map", tags=["maps"])

    @router.get("")
    async def get_map(
        request: Request, parcellation_id: str, space_id: str, map_type: str = "labelled"
    ) -> Response:
        """A map's description: its volumes and which label stands for which region."""
        return await answers.catalogue_answer(
            request,
            ("map", parcellation_id, space_id, map_type),
            lambda: handlers.get_map(parcellation_id, space_id, map_type),
        )

    @router.get("/labelled_map.nii.gz")
    async def labelled_map(
        request: Request, parcellation_id: str, space_id: str, region_id: str | None = None
    ) -> Response:
        """The labelled map as NIfTI (gzipped), or one region's mask with ``region_id``."""
        return await answers.map_file(
            request, handlers.labelled_map_file, parcellation_id, space_id, region_id
        )

    @router.get("/statistical_map.nii.gz")
    async def statistical_map(
        request: Request, parcellation_id: str, region_id: str, space_id: str
    ) -> Response:
        """A region's statistical (e.g. probability) map as NIfTI (gzipped)."""
        return await answers.map_file(
            request, handlers.statistical_map_file, parcellation_id, region_id, space_id
        )

    @router.get("/statistical_map.info.json")
    async def statistical_map_info(
        request: Request, parcellation_id: str, region_id: str, space_id: str
    ) -> Response:
        """The minimum and maximum of a region's statistical map."""
        return await answers.catalogue_answer(
            request,
            ("statistical_info", parcellation_id, region_id, space_id),
            lambda: handlers.get_region_statistic_map_info(parcellation_id, region_id, space_id),
        )

    @router.get("/resampled_template")
    async def resampled_template(
        request: Request, parcellation_id: str, space_id: str
    ) -> Response:
        """The labelled map resampled to the space's template grid, as NIfTI (gzipped)."""
        return await answers.map_file(
            request, handlers.resampled_map_file, parcellation_id, space_id
        )

    @router.get("/assign")
    async def assign(
        request: Request,
        parcellation_id: str,
        space_id: str,
        point: Annotated[str, Query(description="x,y,z in mm; several points separated by ';'.")],
        sigma_mm: Annotated[float, Query(ge=0, le=100)] = 0.0,
        map_type: str = "statistical",
    ) -> Response:
        """The regions at one or more points: the assignment table, one record a row."""
        coordinates = parse_points(point)
        arguments = (parcellation_id, space_id, map_type, coordinates, sigma_mm)
        if len(coordinates) < DASK_MIN_POINTS:
            encoded = await run_in_threadpool(assign_points, *arguments)
        else:
            encoded = await answers.on_workers(assign_points, *arguments)
        return json_response(request, encoded)

    return router


def parse_points(text: str) -> list[tuple[float, float, float]]:
    """Points from ``x,y,z[;x,y,z...]`` (millimetres; a ``mm`` suffix is allowed).

    Raises
    ------
    ArgumentError
        When a point does not have three numbers, or there are too many points.
    """
    points = []
    for index, part in enumerate(p for p in text.split(";") if p.strip()):
        values = [_NUMBER.match(v) for v in part.split(",")]
        if len(values) != 3 or not all(values):
            raise ArgumentError(
                f"point {index + 1} ({part.strip()!r}) is not three numbers x,y,z",
                hint="give points in mm as x,y,z, several separated by ';', e.g. -30,-50,40",
            )
        points.append(tuple(float(m.group(1)) for m in values if m))
    if not points:
        raise ArgumentError("no point given", hint="give a point in mm as x,y,z")
    if len(points) > MAX_POINTS:
        raise ArgumentError(f"{len(points)} points given; at most {MAX_POINTS} per request")
    return points  # type: ignore[return-value]


def assign_points(
    parcellation_id: str,
    space_id: str,
    map_type: str,
    coordinates: list[tuple[float, float, float]],
    sigma_mm: float,
) -> Encoded:
    """The assignment table of the points as encoded JSON: the work of ``/map/assign``."""
    the_map = neuratlas.get_map(parcellation_id, space_id, map_type)
    space = neuratlas.get_space(space_id)
    if len(coordinates) == 1:
        item: Any = neuratlas.Point(coordinates[0], space=space, sigma_mm=sigma_mm)
    else:
        item = neuratlas.PointCloud(coordinates, space=space, sigma_mm=sigma_mm)
    table = the_map.assign(item)
    # encoded here, in the worker thread: a table of thousands of rows takes a while
    return encode({"map": the_map.name, "assignments": table.to_dict(orient="records")})


# --- download bundles --------------------------------------------------------------------
def _download_routes() -> APIRouter:
    router = APIRouter(prefix=PREFIX, tags=["download"])

    @router.get("/atlas_download")
    async def atlas_download(
        request: Request,
        space_id: str,
        parcellation_id: str,
        region_id: str | None = None,
        feature_id: str | None = None,
        run_async: Annotated[
            bool, Query(alias="async", description="Answer at once with a task id (202).")
        ] = False,
    ) -> Response:
        """A zip with the template, the map (or the region's map), descriptions and licences.

        With ``async=true`` the answer is ``{task_id, status}`` at once (202); the status
        is at ``/atlas_download/{task_id}``, the zip at ``/atlas_download/{task_id}/download``.
        """
        if run_async:
            task = await run_in_threadpool(
                jobs_routes.submit_download, space_id, parcellation_id, region_id, feature_id
            )
            return json_response(request, encode(task), max_age=0, status_code=202)
        ids = (space_id, parcellation_id, region_id, feature_id)
        path = await run_in_threadpool(bundle.find_bundle, *ids)
        if path is None:
            # one task per resolved request: aliases of the same objects share it
            request_key = await run_in_threadpool(lambda: bundle.resolve_request(*ids).key)
            path = await answers.on_workers(
                handlers.download_all, *ids, key=f"bundle-{request_key}"
            )
        return file_response(
            request, path, media_type="application/zip", filename=Path(path).name, max_age=3600
        )

    return router
