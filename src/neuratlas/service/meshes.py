"""The surface meshes of the atlas explorer: ``GET /explorer/mesh``, in a binary format for WebGL.

``/explorer/mesh?space_id=&parcellation_id=`` answers with the mesh of a surface
space (both hemispheres, as ``neuratlas.get_map(parcellation, space,
"labelled").fetch()`` gives it) with the parcellation's label on each vertex and
the name and colour of each label. The page (``static/explorer/surface.js``)
hands the arrays to WebGL as they come, without parsing text.

The format (all numbers little-endian; every array starts at a multiple of 4 bytes)::

    offset  size     content
    0       4        magic b"NAMS"
    4       4        uint32 format version (1)
    8       4        uint32 J, the length of the JSON header (a multiple of 4)
    12      J        the JSON header, UTF-8, padded with spaces
    12+J    12 V     float32 vertices, (V, 3): x, y, z in mm
    ...     12 F     uint32 faces, (F, 3): vertex indices of each triangle
    ...     4 V      int32 labels, (V,): the label of each vertex (0 = unlabelled)

The JSON header::

    {"space": {"@id", "name"}, "parcellation": {"@id", "name"}, "map": name,
     "vertexCount": V, "faceCount": F,
     "bounds": [[xmin, ymin, zmin], [xmax, ymax, zmax]],
     "hemispheres": [{"name": "left", "vertexStart": 0, "vertexCount": 10242,
                      "labels": {"1": {"name": region name, "rgb": [r, g, b] or null}}},
                     {"name": "right", ...}]}

``hemispheres`` lists runs of consecutive vertices (a mesh not split by
hemisphere has one run named ``""``); each run carries the label table of its
hemisphere, the one that GIfTI label files of the map carry
(:func:`~neuratlas.core.label_table.surface_label_table`): the same label may name
different regions on the left and on the right. Colours are 0..255.

The answer is encoded once per surface map and kept in memory (fsaverage5: 20,484
vertices, about 0.8 MB, 0.5 MB gzipped), with an ETag (304 on ``If-None-Match``),
a Cache-Control, and gzip for clients that accept it. A volume space is a 422
(ArgumentError) that names the surface spaces; unknown ids are 404s.
"""

from __future__ import annotations

import json
import struct
import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import TYPE_CHECKING, Any

import numpy as np
from fastapi import APIRouter, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

import neuratlas
from neuratlas import catalogue
from neuratlas.core.label_table import surface_label_table
from neuratlas.errors import ArgumentError
from neuratlas.service.caching import CATALOGUE_MAX_AGE, Encoded, encode_bytes, json_response
from neuratlas.volumes.surfaces import Mesh

if TYPE_CHECKING:
    from neuratlas.core.maps import Map

__all__ = ["MAGIC", "MEDIA_TYPE", "VERSION", "encode_mesh", "label_table", "mesh_answer", "router"]

MAGIC = b"NAMS"
VERSION = 1
MEDIA_TYPE = "application/octet-stream"
# surface maps are few (one per surface space and parcellation): a handful covers them
ENTRIES = 8

router = APIRouter(prefix="/explorer", tags=["explorer"])

_answers: OrderedDict[Hashable, Encoded] = OrderedDict()
_lock = threading.Lock()


@router.get("/mesh")
async def mesh(request: Request, space_id: str, parcellation_id: str) -> Response:
    """A surface space's mesh with the parcellation's labels, in the binary format of
    :mod:`neuratlas.service.meshes` (for WebGL)."""
    encoded = await run_in_threadpool(mesh_answer, space_id, parcellation_id)
    return json_response(request, encoded, max_age=CATALOGUE_MAX_AGE, media_type=MEDIA_TYPE)


def mesh_answer(space_id: str, parcellation_id: str) -> Encoded:
    """The encoded answer of ``/explorer/mesh``: from memory, or made once.

    Raises
    ------
    NotFoundError, AmbiguousError
        An id that names no object (or several), or no labelled map of the
        parcellation in the space.
    ArgumentError
        The space is a volume space.
    """
    parcellation = neuratlas.get_parcellation(parcellation_id)
    space = neuratlas.get_space(space_id)
    if not space.is_surface:
        mapped = [s.name for s in parcellation.spaces if s.is_surface]
        every = [s.name for s in neuratlas.spaces if s.is_surface]
        hint = (
            f"use a surface space: {', '.join(mapped)}"
            if mapped
            else f"{parcellation.name!r} has no surface map; the surface spaces are "
            + (", ".join(every) or "none")
        )
        raise ArgumentError(
            f"{space.name!r} is a volume space: the mesh view needs a surface space",
            hint=hint,
        )
    # resolved ids, so that aliases share one answer; the catalogue in use is part of it
    key = (catalogue.active(), space.id, parcellation.id)
    with _lock:
        found = _answers.get(key)
        if found is not None:
            _answers.move_to_end(key)
            return found
    # made outside the lock: two first requests may both make it, and get the same bytes
    the_map = neuratlas.get_map(parcellation.id, space.id, "labelled")
    info = {
        "space": {"@id": the_map.space.id, "name": the_map.space.name},
        "parcellation": {"@id": the_map.parcellation.id, "name": the_map.parcellation.name},
        "map": the_map.name,
    }
    body = encode_mesh(the_map.fetch(), info=info, label_table=lambda h: label_table(the_map, h))
    encoded = encode_bytes(body)
    with _lock:
        _answers[key] = encoded
        while len(_answers) > ENTRIES:
            _answers.popitem(last=False)
    return encoded


def label_table(the_map: Map, hemisphere: str) -> dict[str, dict[str, Any]]:
    """The label table of one hemisphere, as the header writes it: label -> name and rgb."""
    names, colours = surface_label_table(the_map, hemisphere)
    return {
        str(label): {"name": name, "rgb": list(colours[label]) if label in colours else None}
        for label, name in sorted(names.items())
    }


def encode_mesh(
    mesh: Mesh,
    *,
    info: dict[str, Any] | None = None,
    label_table: Callable[[str], dict[str, Any]] | None = None,
) -> bytes:
    """The bytes of a labelled mesh in the format of :mod:`neuratlas.service.meshes`.

    Parameters
    ----------
    mesh : Mesh
        Vertices, faces, and labels (all 0 when it has none); its ``hemispheres``
        become the runs of the header.
    info : dict, optional
        More keys for the JSON header (what the mesh is: space, parcellation, map).
    label_table : callable, optional
        The label table of a hemisphere, by name (see :func:`label_table`); without
        it, the tables are empty.

    Returns
    -------
    bytes
    """
    vertices = np.ascontiguousarray(mesh.vertices, dtype="<f4")
    faces = np.ascontiguousarray(mesh.faces, dtype="<u4")
    if mesh.labels is None:
        labels = np.zeros(len(vertices), dtype="<i4")
    else:
        labels = np.ascontiguousarray(mesh.labels, dtype="<i4")
    tables: dict[str, Any] = {}
    runs = []
    for name, start, count in _runs(mesh.hemispheres, len(vertices)):
        if name not in tables:
            tables[name] = label_table(name) if label_table is not None else {}
        runs.append(
            {"name": name, "vertexStart": start, "vertexCount": count, "labels": tables[name]}
        )
    bounds = (
        [vertices.min(axis=0).tolist(), vertices.max(axis=0).tolist()]
        if len(vertices)
        else [[0.0] * 3, [0.0] * 3]
    )
    described = {
        **(info or {}),
        "vertexCount": len(vertices),
        "faceCount": len(faces),
        "bounds": bounds,
        "hemispheres": runs,
    }
    text = json.dumps(described, separators=(",", ":"), allow_nan=False).encode()
    text += b" " * (-len(text) % 4)  # the arrays after it start at multiples of 4
    prefix = MAGIC + struct.pack("<II", VERSION, len(text))
    return b"".join((prefix, text, vertices.tobytes(), faces.tobytes(), labels.tobytes()))


def _runs(hemispheres: np.ndarray | None, n_vertices: int) -> list[tuple[str, int, int]]:
    """Runs of consecutive vertices of one hemisphere: (name, first vertex, count)."""
    if hemispheres is None or n_vertices == 0:
        return [("", 0, n_vertices)]
    names = np.asarray(hemispheres)
    starts = np.flatnonzero(np.r_[True, names[1:] != names[:-1]])
    ends = np.r_[starts[1:], n_vertices]
    return [(str(names[s]), int(s), int(e - s)) for s, e in zip(starts, ends, strict=True)]
