"""The atlas explorer's server side: the page at ``/``, the templates, which maps exist.

The explorer is a static page (``static/explorer/``: plain ES modules, no build
step) that draws slices from NIfTI volumes it decodes itself. Besides the routes
under ``/v3_0`` it needs three answers, which this module's router gives:

- ``GET /``: the page (``static/explorer/index.html``), with an ETag of its bytes
  and ``Cache-Control: no-cache``, so that a browser revalidates it (a 304 while
  it has not changed) and picks up a new release at once;
- ``GET /v3_0/spaces/{space_id}/template.nii.gz``: a volume space's template as
  NIfTI (:func:`neuratlas.service.handlers.template_file`), the grid that
  ``/map/resampled_template`` puts a labelled map on. It is a map file like the
  others: served from the cache at once, made on the Dask workers when missing,
  with an ETag and a day's Cache-Control; a surface space is a 422 that names the
  volume spaces;
- ``GET /explorer/maps``: which parcellation has which kinds of map in which space,
  ``[{"parcellation": "<@id>", "space": "<@id>", "maptypes": ["labelled",
  "statistical"]}, ...]``, one entry per pair that has a map, in catalogue order;
  encoded once per catalogue, like the other catalogue answers.

They answer as the app's other routes do (:mod:`.answers`); the app includes
:data:`router` before its catalogue routes, whose ``/spaces/{space_id:path}``
would otherwise take ``.../template.nii.gz`` for a space id.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from neuratlas import catalogue
from neuratlas.service import answers, handlers
from neuratlas.service.caching import Encoded, encode_bytes, json_response

__all__ = ["PAGE", "available_maps", "router"]

#: The explorer's page, answered at ``/``.
PAGE = Path(__file__).parent / "static" / "explorer" / "index.html"
HTML = "text/html; charset=utf-8"


router = APIRouter()


@router.get("/", include_in_schema=False)
async def page(request: Request) -> Response:
    """The atlas explorer."""
    return json_response(request, _page(), max_age=0, media_type=HTML)


@router.get("/v3_0/spaces/{space_id:path}/template.nii.gz", tags=["spaces"])
async def template(request: Request, space_id: str) -> Response:
    """A volume space's template as NIfTI (gzipped), on which resampled maps lie."""
    return await answers.map_file(request, handlers.template_file, space_id)


@router.get("/explorer/maps", tags=["explorer"])
async def maps(request: Request) -> Response:
    """Which parcellation has which kinds of map (labelled, statistical) in which space."""
    return await answers.catalogue_answer(request, ("explorer-maps",), available_maps)


def available_maps() -> list[dict[str, Any]]:
    """The answer of ``/explorer/maps``: one entry per parcellation and space with a map.

    Returns
    -------
    list of dict
        ``{"parcellation": @id, "space": @id, "maptypes": [...]}`` (map types
        sorted), in the order of the catalogue's maps.
    """
    found: dict[tuple[str, str], set[str]] = {}
    for the_map in catalogue.active().maps:
        pair = (the_map.parcellation.id, the_map.space.id)
        found.setdefault(pair, set()).add(the_map.maptype.value)
    return [
        {"parcellation": parcellation, "space": space, "maptypes": sorted(kinds)}
        for (parcellation, space), kinds in found.items()
    ]


_lock = threading.Lock()
_encoded: tuple[tuple[int, int, int], Encoded] | None = None


def _page() -> Encoded:
    """The page's bytes, encoded (ETag, gzip) once per version of the file.

    The file is checked on each request (one ``stat``, a few microseconds), so that
    an edited page is served without a restart.
    """
    global _encoded
    stat = os.stat(PAGE)
    signature = (stat.st_mtime_ns, stat.st_size, stat.st_ino)
    with _lock:
        if _encoded is not None and _encoded[0] == signature:
            return _encoded[1]
    encoded = encode_bytes(PAGE.read_bytes())
    with _lock:
        _encoded = (signature, encoded)
    return encoded
