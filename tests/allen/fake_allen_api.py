"""A local stand-in for the Allen Brain Map API, for tests.

It answers ``data/query.json`` RMA queries in the real API's JSON envelope
(``success``, ``id``, ``start_row``, ``num_rows``, ``total_rows``, ``msg``) and
serves JPEG section images from ``section_image_download/<id>`` (with
``downsample``, ``view=expression`` and byte ranges) and the structure ontology
from ``structure_graph_download/<graph id>.json``: by default the Allen structure
graph 1 as the iblatlas package ships it (a source independent of neuratlas's
embedded spec), in the real answer's nested format.

The datasets are generated: realistic 3D/2D affines (a few degrees of
obliqueness, ~1 µm pixels, sections every 200 µm), full-resolution sizes of
the order of 13000 x 9000 pixels, and images rendered from a smooth phantom
defined in reference space, so that a test can check that syncing an image
back to the reference grid reproduces the phantom.

Faults are injected with :meth:`FakeAllenAPI.add_fault`: a callable that gets
the request and returns a :class:`Reply` to send instead (once), or ``None``.
"""

from __future__ import annotations

import csv
import io
import json
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import numpy as np
from PIL import Image

from neuratlas.retrieval.packages import resolve

REFERENCE_UM = (13200.0, 8000.0, 11400.0)
#: Ids of the two datasets served by the ``fake_api`` fixture.
CORONAL_ID = 74881161
SAGITTAL_ID = 75457579
PAGE_CAP = 2000  # the fake's own row cap, to exercise paging
#: Mouse genes the fake's ``Gene`` model knows besides the datasets' own.
MOUSE_GENES = (
    "Gad1",
    "Gad2",
    "Gabra1",
    "Gabbr1",
    "Gal",
    "Gap43",
    "Gata3",
    "Slc17a7",
    "Pvalb",
    "Sst",
    "Vip",
    "Calb1",
    "Drd1",
    "Penk",
    "Tac1",
    "Th",
    "Chat",
)
#: The Allen structure graph 1 as the International Brain Laboratory ships it.
STRUCTURE_CSV = "pkg://iblatlas/allen_structure_tree.csv"
# the fields of a node of ``structure_graph_download/<id>.json``, in the real answer's order
STRUCTURE_FIELDS = (
    "id",
    "atlas_id",
    "ontology_id",
    "acronym",
    "name",
    "color_hex_triplet",
    "graph_order",
    "st_level",
    "hemisphere_id",
    "parent_structure_id",
)


@dataclass
class Request:
    """What a fault sees of a request."""

    path: str
    params: dict[str, str]
    headers: dict[str, str]
    count: int  # 1-based number of this request to the server


@dataclass
class Reply:
    """An answer to send instead of the normal one."""

    status: int = 200
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0
    truncate_to: int | None = None  # send only the first bytes, then drop the connection
    envelope: dict[str, Any] | None = None  # merged into a normal RMA answer


def _rotation(angles: tuple[float, float, float]) -> np.ndarray:
    ax, ay, az = np.deg2rad(angles)
    rx = np.array([[1, 0, 0], [0, np.cos(ax), -np.sin(ax)], [0, np.sin(ax), np.cos(ax)]])
    ry = np.array([[np.cos(ay), 0, np.sin(ay)], [0, 1, 0], [-np.sin(ay), 0, np.cos(ay)]])
    rz = np.array([[np.cos(az), -np.sin(az), 0], [np.sin(az), np.cos(az), 0], [0, 0, 1]])
    return rx @ ry @ rz


def _invert(affine: np.ndarray) -> np.ndarray:
    n = affine.shape[0]
    full = np.eye(n + 1)
    full[:n] = affine
    return np.linalg.inv(full)[:n]


def affine_fields(prefix: str, matrix: np.ndarray) -> dict[str, float]:
    """Spread an affine over the API's named fields (the inverse of the client's parsing)."""
    if matrix.shape == (2, 3):
        order = [(0, 0), (0, 1), (1, 0), (1, 1), (0, 2), (1, 2)]
    else:
        order = [(r, c) for r in range(3) for c in range(3)] + [(0, 3), (1, 3), (2, 3)]
    return {f"{prefix}_{k:02d}": float(matrix[rc]) for k, rc in enumerate(order)}


def phantom(pir: np.ndarray) -> np.ndarray:
    """Grey level (0-255) of a smooth synthetic brain at reference points (3, N)."""
    p, i, r = pir
    inside = (
        ((p - 6600) / 6000) ** 2 + ((i - 4000) / 3500) ** 2 + ((r - 5700) / 5200) ** 2
    ) <= 1.0
    tissue = 90 + 60 * np.sin(r / 900.0) * np.cos(i / 700.0) + 30 * np.cos(p / 1100.0)
    return np.where(inside, tissue, 235.0)


def expression_phantom(pir: np.ndarray) -> np.ndarray:
    """Expression level (0-255) at reference points: one blob per hemisphere."""
    p, i, r = pir
    blob = np.exp(-(((i - 3000) / 900) ** 2) - ((np.abs(r - 5700) - 2500) / 900) ** 2)
    return 255 * blob * (0.5 + 0.5 * np.cos(p / 1500.0))


@dataclass
class FakeDataset:
    """One generated section dataset."""

    id: int
    plane: str  # "coronal" or "sagittal"
    tvr: np.ndarray
    trv: np.ndarray
    thickness: float
    gene: str
    images: list[dict[str, Any]]
    failed: bool = False

    @property
    def reference_space(self) -> int:
        """The Allen API registers coronal datasets to space 9 and sagittal ones to space 10."""
        return 9 if self.plane == "coronal" else 10

    def row(self) -> dict[str, Any]:
        plane_id = {"coronal": 1, "sagittal": 2}[self.plane]
        return {
            "blue_channel": None,
            "delegate": False,
            "expression": True,
            "failed": self.failed,
            "failed_facet": 734881840,
            "green_channel": None,
            "id": self.id,
            "name": None,
            "plane_of_section_id": plane_id,
            "qc_date": "2007-08-22T02:48:41Z",
            "red_channel": None,
            "reference_space_id": self.reference_space,
            "rnaseq_design_id": None,
            "section_thickness": self.thickness,
            "specimen_id": self.id - 3517,
            "sphinx_id": 140000 + self.id % 1000,
            "storage_directory": f"/external/aibssan/production32/prod0/image_series_{self.id}/",
            "weight": 5270,
            "alignment3d": {
                "id": self.id + 7,
                "section_data_set_id": self.id,
                **affine_fields("trv", self.trv),
                **affine_fields("tvr", self.tvr),
            },
            "plane_of_section": {"id": plane_id, "name": self.plane},
            "genes": [{"id": 14000 + len(self.gene), "acronym": self.gene, "name": self.gene}],
            "products": [{"id": 1, "abbreviation": "Mouse", "name": "Mouse Brain"}],
        }


def make_dataset(
    dataset_id: int,
    plane: str = "coronal",
    n_images: int = 6,
    gene: str = "Gad1",
    seed: int = 0,
    oblique_deg: float = 2.0,
    one_hemisphere: bool = False,
) -> FakeDataset:
    """Generate a dataset whose sections cover the brain along its cutting axis.

    With ``one_hemisphere`` (sagittal datasets, as the Allen atlas cuts them) the
    sections are centred on the far half of the cutting axis: in the dataset's own
    reference space 10 (PIL) that is the left hemisphere, r < 5700 µm in the CCF.
    """
    rng = np.random.default_rng(seed)
    thickness = 25.0
    step_sections = 8  # every 8th 25 µm section: 200 µm apart
    first_section = 20
    rotation = _rotation(tuple(rng.uniform(-oblique_deg, oblique_deg, 3)))
    scale = np.diag(rng.uniform(0.97, 1.03, 3))
    if plane == "coronal":  # volume (x, y, z) -> reference (r, i, p)
        permute = np.array([[0, 0, 1], [0, 1, 0], [1, 0, 0]], dtype=float)
        extent_z = REFERENCE_UM[0]
        span = (REFERENCE_UM[2], REFERENCE_UM[1])
    else:  # sagittal: volume (x, y, z) -> reference (p, i, r)
        permute = np.eye(3)
        extent_z = REFERENCE_UM[2]
        span = (REFERENCE_UM[0], REFERENCE_UM[1])
    linear = rotation @ permute @ scale
    z_first = first_section * thickness
    spacing = step_sections * thickness
    z_last = z_first + (n_images - 1) * spacing
    # Centre the sections on the brain along the cutting axis.
    mid = np.array([span[0] / 2 + 400, span[1] / 2 - 300, (z_first + z_last) / 2])
    target = np.array(REFERENCE_UM) / 2
    if one_hemisphere:
        target[2] = 0.75 * REFERENCE_UM[2]
    translation = target - linear @ mid
    tvr = np.hstack([linear, translation[:, None]])
    trv = _invert(tvr)
    images = []
    for k in range(n_images):
        number = first_section + k * step_sections
        angle = np.deg2rad(rng.uniform(-6, 6))
        resolution = 1.049
        width = int(span[0] / resolution) + int(rng.integers(600, 1400))
        height = int(span[1] / resolution) + int(rng.integers(600, 1400))
        a = resolution * np.array(
            [[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]]
        )
        # Place the picture so that its centre maps near the middle of the volume plane.
        centre_px = np.array([width / 2, height / 2])
        offset = np.array([span[0] / 2, span[1] / 2]) - a @ centre_px + rng.uniform(-150, 150, 2)
        tsv = np.hstack([a, offset[:, None]])
        tvs = _invert(tsv)
        image_id = dataset_id + 100 + k
        images.append(
            {
                "annotated": False,
                "axes": None,
                "bits_per_component": 8,
                "data_set_id": dataset_id,
                "expression_path": f"/external/ctyconvert/prod0/{image_id}-expr.aff",
                "failed": False,
                "height": height,
                "id": image_id,
                "image_height": height,
                "image_type": "Primary",
                "image_width": width,
                "isi_experiment_id": None,
                "lims1_id": image_id,
                "number_of_components": 3,
                "ophys_experiment_id": None,
                "path": f"/external/ctyconvert/prod0/{image_id}.aff",
                "projection_function": None,
                "resolution": resolution,
                "section_number": number,
                "specimen_id": None,
                "structure_id": None,
                "tier_count": 7,
                "width": width,
                "x": 0,
                "y": 0,
                "alignment2d": {
                    "id": image_id + 3,
                    "section_image_id": image_id,
                    **affine_fields("tsv", tsv),
                    **affine_fields("tvs", tvs),
                },
            }
        )
    assert z_last < extent_z * 2  # sanity: sections stay in a plausible range
    return FakeDataset(dataset_id, plane, tvr, trv, thickness, gene, images)


def render_image(
    dataset: FakeDataset, image: dict[str, Any], downsample: int, expression: bool
) -> np.ndarray:
    """The RGB picture of one section at ``2 ** downsample`` shrinking."""
    factor = 2**downsample
    height = max(1, image["image_height"] // factor)
    width = max(1, image["image_width"] // factor)
    rows, cols = np.indices((height, width), dtype=np.float64)
    tsv = np.array(
        [
            [image["alignment2d"][f"tsv_{k:02d}"] for k in (0, 1, 4)],
            [image["alignment2d"][f"tsv_{k:02d}"] for k in (2, 3, 5)],
        ]
    )
    x = cols.ravel() * factor
    y = rows.ravel() * factor
    v = tsv[:, :2] @ np.stack([x, y]) + tsv[:, 2:3]
    z = np.full(x.shape, image["section_number"] * dataset.thickness)
    pir = dataset.tvr[:, :3] @ np.vstack([v, z]) + dataset.tvr[:, 3:4]
    if expression:
        level = expression_phantom(pir).reshape(height, width)
        rgb = np.stack([level, level * 0.6, level * 0.1], axis=-1)
    else:
        level = phantom(pir).reshape(height, width)
        rgb = np.stack([level, level * 0.93, level * 0.85], axis=-1)
    return np.clip(np.rint(rgb), 0, 255).astype(np.uint8)


def _optional_int(text: str) -> int | None:
    return int(text) if text.strip() else None


def structure_rows(path: str = STRUCTURE_CSV) -> list[dict[str, Any]]:
    """The structures of Allen graph 1 (flat, in graph order) from the iblatlas CSV.

    Each row has the fields of :data:`STRUCTURE_FIELDS`; IBL's own "void" row
    (id 0, outside the brain) is left out, as the Allen graph has no such node.
    """
    rows = []
    with resolve(path).open(encoding="utf-8", newline="") as handle:
        for raw in csv.DictReader(handle):
            if raw["id"] == "0":
                continue
            rows.append(
                {
                    "id": int(raw["id"]),
                    "atlas_id": _optional_int(raw["atlas_id"]),
                    "ontology_id": int(raw["ontology_id"]),
                    "acronym": raw["acronym"],
                    "name": raw["name"],
                    "color_hex_triplet": raw["color_hex_triplet"].zfill(
                        6
                    ),  # the CSV drops leading zeros
                    "graph_order": int(raw["graph_order"]),
                    "st_level": _optional_int(raw["st_level"]),
                    "hemisphere_id": int(raw["hemisphere_id"]),
                    "parent_structure_id": _optional_int(raw["parent_structure_id"]),
                }
            )
    rows.sort(key=lambda row: row["graph_order"])
    return rows


def structure_graph(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Nest flat structure rows as ``structure_graph_download`` answers them.

    Returns the ``msg``: a list with the root node, each node holding its fields and
    ``children`` (in graph order).
    """
    nodes = {
        row["id"]: {**{k: row.get(k) for k in STRUCTURE_FIELDS}, "children": []} for row in rows
    }
    roots = []
    for row in sorted(rows, key=lambda row: row["graph_order"]):
        parent = row["parent_structure_id"]
        (nodes[parent]["children"] if parent is not None else roots).append(nodes[row["id"]])
    return roots


def _split_top(text: str) -> list[str]:
    """Split at commas that are outside brackets, parentheses and quotes."""
    parts, depth, quoted, start = [], 0, False, 0
    for k, char in enumerate(text):
        if char == "'":
            quoted = not quoted
        elif not quoted and char in "[(":
            depth += 1
        elif not quoted and char in "])":
            depth -= 1
        elif not quoted and char == "," and depth == 0:
            parts.append(text[start:k])
            start = k + 1
    parts.append(text[start:])
    return [p for p in parts if p]


_FILTER = re.compile(r"\[([A-Za-z_.]+)\$(eq|ne|nin|in|lt|gt|le|ge|li|il)([^\]]*)\]")


def _value(text: str) -> Any:
    if text.startswith("'") and text.endswith("'"):
        return text[1:-1]
    if text in ("true", "false"):
        return text == "true"
    if text == "null":
        return None
    try:
        return int(text)
    except ValueError:
        return float(text)


def _matches(record: dict[str, Any], filters: list[tuple[str, str, str]]) -> bool:
    for name, op, raw in filters:
        have = record.get(name)
        if op == "eq":
            want = _value(raw)
            if isinstance(have, bool) and isinstance(want, str):
                have = "true" if have else "false"  # the API reads 'false' as the boolean
            if isinstance(want, str) and isinstance(have, str):
                if have.lower() != want.lower():
                    return False
            elif have != want:
                return False
        elif op == "in":
            if have not in [_value(v) for v in _split_top(raw)]:
                return False
        elif op == "il":  # case-insensitive like, '*' a wildcard
            pattern = re.escape(str(_value(raw))).replace(r"\*", ".*")
            if not isinstance(have, str) or not re.fullmatch(pattern, have, re.IGNORECASE):
                return False
        else:
            raise ValueError(f"the fake API does not support ${op}")
    return True


def _envelope(success: bool, msg: Any, rows: int = 0) -> dict[str, Any]:
    """The API's answer envelope around ``msg``."""
    return {
        "success": success,
        "id": 0 if success else -1,
        "start_row": 0,
        "num_rows": rows,
        "total_rows": rows,
        "msg": msg,
    }


def _matrix(alignment: dict[str, Any], prefix: str) -> np.ndarray:
    """A 2 x 3 affine from its API fields (the inverse of :func:`affine_fields`)."""
    return np.array(
        [
            [alignment[f"{prefix}_{k:02d}"] for k in (0, 1, 4)],
            [alignment[f"{prefix}_{k:02d}"] for k in (2, 3, 5)],
        ]
    )


def rma_answer(
    criteria: str, records: list[dict[str, Any]], associated: set[str]
) -> dict[str, Any]:
    """One page of ``records`` that a ``model::`` query selects, as the real RMA answers it.

    Filters on the record and on its associations (``[key$op value]``), ``rma::include``
    (associations in ``associated`` are left out unless included) and ``rma::options``
    (``start_row``, ``num_rows``, at most :data:`PAGE_CAP`).
    """
    section = None
    filters: list[tuple[str, str, str]] = []
    associations: list[tuple[str, list[tuple[str, str, str]]]] = []
    include: list[str] = []
    start, rows = 0, 50
    for part in _split_top(criteria):
        if part.startswith("model::"):
            continue
        if part in ("rma::criteria", "rma::include"):
            section = part
        elif part.startswith("rma::options"):
            for name, _op, raw in _FILTER.findall(part):
                if name == "start_row":
                    start = int(raw)
                elif name == "num_rows":
                    rows = int(raw)
        elif section == "rma::criteria" and part.startswith("["):
            filters.extend(_FILTER.findall(part))
        elif section == "rma::criteria":
            name = re.match(r"[a-z_0-9]+", part).group(0)  # type: ignore[union-attr]
            associations.append((name, _FILTER.findall(part)))
        elif section == "rma::include":
            include.append(part)
    found = []
    for record in records:
        if not _matches(record, filters):
            continue
        linked_ok = True
        for name, inner in associations:
            linked = record.get(name)
            linked = linked if isinstance(linked, list) else [linked]
            if not any(isinstance(x, dict) and _matches(x, inner) for x in linked):
                linked_ok = False
        if linked_ok:
            found.append({k: v for k, v in record.items() if k not in associated or k in include})
    page = found[start : start + min(rows, PAGE_CAP)]
    return {
        "success": True,
        "id": 0,
        "start_row": start,
        "num_rows": len(page),
        "total_rows": len(found),
        "msg": page,
    }


# the fakes started and not yet stopped, by base URL
_RUNNING: dict[str, FakeAllenAPI] = {}


class FakeAllenAPI:
    """The fake API's data and its HTTP server on 127.0.0.1."""

    def __init__(
        self,
        datasets: list[FakeDataset],
        structures: list[dict[str, Any]] | None = None,
    ) -> None:
        self.datasets = {d.id: d for d in datasets}
        #: Graph 1's structures (flat rows, see :func:`structure_rows`); read when first asked.
        self.structures = structures
        self.faults: list[Callable[[Request], Reply | None]] = []
        self.requests: list[Request] = []
        self.in_flight = 0
        self.max_in_flight = 0
        self.image_delay = 0.0
        #: Seconds every answer waits (a remote API's round trip); 0 by default.
        self.latency = 0.0
        #: Keep rendered images (benchmarks: the fake's own rendering is not what is measured).
        self.keep_rendered = False
        self._rendered: dict[tuple[int, int, bool], bytes] = {}
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    @property
    def base_url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}/api/v2/"

    def start(self) -> FakeAllenAPI:
        self._thread.start()
        _RUNNING[self.base_url] = self
        return self

    def stop(self) -> None:
        _RUNNING.pop(self.base_url, None)
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    @staticmethod
    def serving(base_url: str) -> FakeAllenAPI:
        """The running fake at ``base_url`` (for tests given only its address)."""
        return _RUNNING[base_url]

    def add_fault(self, fault: Callable[[Request], Reply | None]) -> None:
        """Register a one-shot fault: the first request it answers consumes it."""
        with self._lock:
            self.faults.append(fault)

    def paths(self, fragment: str) -> list[Request]:
        """The requests whose path contains ``fragment``."""
        return [r for r in self.requests if fragment in r.path]

    # -- answers ---------------------------------------------------------------------------
    def query(self, criteria: str) -> dict[str, Any]:
        model = next(
            (p[len("model::") :] for p in _split_top(criteria) if p.startswith("model::")), None
        )
        if model == "SectionDataSet":
            records = [d.row() for d in self.datasets.values()]
            associated = {"alignment3d", "plane_of_section", "genes", "products"}
        elif model == "SectionImage":
            records = [img for d in self.datasets.values() for img in d.images]
            associated = {"alignment2d"}
        elif model == "Gene":
            records = self.gene_rows()
            associated = {"organism"}
        else:
            return {
                "success": False,
                "id": -1,
                "start_row": 0,
                "num_rows": 0,
                "total_rows": 0,
                "msg": f"Data Access error in query: unknown model {model}",
            }
        return rma_answer(criteria, records, associated)

    def gene_rows(self) -> list[dict[str, Any]]:
        """``Gene`` records: the datasets' genes and :data:`MOUSE_GENES`, plus a human one."""
        acronyms = dict.fromkeys([*(d.gene for d in self.datasets.values()), *MOUSE_GENES])
        rows = [
            {
                "id": 14000 + k,
                "acronym": acronym,
                "name": f"{acronym} (mouse gene)",
                "organism_id": 2,
                "organism": {"id": 2, "name": "Mus musculus"},
            }
            for k, acronym in enumerate(acronyms)
        ]
        human = {"id": 1, "name": "Homo sapiens"}
        rows.append(
            {"id": 1010, "acronym": "GAD1", "name": "GAD1", "organism_id": 1, "organism": human}
        )
        return rows

    def _image(self, image_id: int) -> tuple[FakeDataset, dict[str, Any]] | None:
        for dataset in self.datasets.values():
            for image in dataset.images:
                if image["id"] == image_id:
                    return dataset, image
        return None

    def image_to_reference(self, image_id: int, params: dict[str, str]) -> dict[str, Any]:
        """``image_to_reference/<id>.json?x=&y=``: the reference point of an image pixel."""
        found = self._image(image_id)
        if found is None:
            return _envelope(False, f"Section image {image_id} not found")
        dataset, image = found
        tsv = _matrix(image["alignment2d"], "tsv")
        xy = np.array([float(params["x"]), float(params["y"])])
        z = image["section_number"] * dataset.thickness
        volume = np.append(tsv[:, :2] @ xy + tsv[:, 2], z)
        p, i, r = dataset.tvr[:, :3] @ volume + dataset.tvr[:, 3]
        return _envelope(True, {"image_to_reference": {"x": p, "y": i, "z": r}}, rows=1)

    def reference_to_image(self, space: int, params: dict[str, str]) -> dict[str, Any]:
        """``reference_to_image/<space>.json``: the pixel of the closest image of a dataset."""
        dataset = self.datasets.get(int(params.get("section_data_set_ids", -1)))
        if dataset is None or space not in (9, 10):
            return _envelope(False, "Data Access error: no such data set or reference space")
        pir = np.array([float(params[k]) for k in ("x", "y", "z")])
        if space != dataset.reference_space:  # space 10 is space 9 mirrored across the midline
            pir[2] = REFERENCE_UM[2] - pir[2]
        volume = dataset.trv[:, :3] @ pir + dataset.trv[:, 3]
        number = volume[2] / dataset.thickness
        image = min(dataset.images, key=lambda img: abs(img["section_number"] - number))
        tvs = _matrix(image["alignment2d"], "tvs")
        x, y = tvs[:, :2] @ volume[:2] + tvs[:, 2]
        sync = {
            "section_data_set_id": str(dataset.id),
            "section_image_id": image["id"],
            "section_number": round(number),
            "x": x,
            "y": y,
        }
        return _envelope(True, [{"image_sync": sync}], rows=0)

    def image_pixels(self, image_id: int) -> int:
        """Full-resolution pixel count of an image (0 if unknown)."""
        for dataset in self.datasets.values():
            for image in dataset.images:
                if image["id"] == image_id:
                    return int(image["image_width"]) * int(image["image_height"])
        return 0

    def image_bytes(self, image_id: int, downsample: int, expression: bool) -> bytes | None:
        key = (image_id, downsample, expression)
        if key in self._rendered:
            return self._rendered[key]
        found = self._image(image_id)
        if found is None:
            return None
        pixels = render_image(*found, downsample, expression)
        buffer = io.BytesIO()
        Image.fromarray(pixels).save(buffer, format="JPEG", quality=95)
        if self.keep_rendered:
            self._rendered[key] = buffer.getvalue()
        return buffer.getvalue()

    def render_all(self, downsample: int, expression: bool | None = None) -> int:
        """Render every image now and keep it (``expression=None``: both views); total bytes."""
        self.keep_rendered = True
        views = (False, True) if expression is None else (expression,)
        total = 0
        for dataset in self.datasets.values():
            for image in dataset.images:
                for view in views:
                    total += len(self.image_bytes(image["id"], downsample, view) or b"")
        return total

    def structure_graph(self, graph_id: int) -> dict[str, Any]:
        """``structure_graph_download/<id>.json``: graph 1 nested from the root."""
        if graph_id != 1:
            return _envelope(False, f"Data Access error: no structure graph {graph_id}")
        if self.structures is None:
            self.structures = structure_rows()
        return _envelope(True, structure_graph(self.structures), rows=1)

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        api = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            # headers and body go out in two writes: with Nagle's algorithm the body
            # waits for the client's delayed ACK of the headers (40 ms on Linux) on
            # every request of a kept-alive connection; a real server answers at once
            disable_nagle_algorithm = True

            def log_message(self, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                split = urlsplit(self.path)
                params = {k: v[-1] for k, v in parse_qs(split.query).items()}
                with api._lock:
                    request = Request(
                        split.path, params, dict(self.headers), len(api.requests) + 1
                    )
                    api.requests.append(request)
                    reply = None
                    for fault in list(api.faults):
                        reply = fault(request)
                        if reply is not None:
                            api.faults.remove(fault)
                            break
                    api.in_flight += 1
                    api.max_in_flight = max(api.max_in_flight, api.in_flight)
                try:
                    self._answer(split.path, params, reply)
                finally:
                    with api._lock:
                        api.in_flight -= 1

            def _answer(self, path: str, params: dict[str, str], reply: Reply | None) -> None:
                if api.latency:
                    time.sleep(api.latency)
                if reply is not None and reply.delay:
                    time.sleep(reply.delay)
                if reply is not None and (reply.body or reply.status != 200):
                    self._send(reply.status, reply.body, reply.headers, reply.truncate_to)
                    return
                status, body, headers = self._normal(path, params, reply)
                truncate = reply.truncate_to if reply is not None else None
                self._send(status, body, headers, truncate)

            def _normal(
                self, path: str, params: dict[str, str], reply: Reply | None
            ) -> tuple[int, bytes, dict[str, str]]:
                if path == "/api/v2/data/query.json":
                    answer = api.query(params.get("criteria", ""))
                    if reply is not None and reply.envelope:
                        answer.update(reply.envelope)
                    return 200, json.dumps(answer).encode(), {"Content-Type": "application/json"}
                json_type = {"Content-Type": "application/json"}
                graph = re.fullmatch(r"/api/v2/structure_graph_download/(\d+)\.json", path)
                if graph:
                    answer = api.structure_graph(int(graph.group(1)))
                    return 200, json.dumps(answer).encode(), json_type
                sync = re.fullmatch(r"/api/v2/image_to_reference/(\d+)\.json", path)
                if sync:
                    answer = api.image_to_reference(int(sync.group(1)), params)
                    return 200, json.dumps(answer).encode(), json_type
                sync = re.fullmatch(r"/api/v2/reference_to_image/(\d+)\.json", path)
                if sync:
                    answer = api.reference_to_image(int(sync.group(1)), params)
                    return 200, json.dumps(answer).encode(), json_type
                match = re.fullmatch(r"/api/v2/section_image_download/(\d+)", path)
                if not match:
                    return 404, b"not found", {"Content-Type": "text/plain"}
                if api.image_delay:
                    time.sleep(api.image_delay)
                factor = 2 ** int(params.get("downsample", 0))
                pixels = api.image_pixels(int(match.group(1))) // factor**2
                if pixels > 20_000_000:  # keep tests fast: refuse to render huge pictures
                    return 413, b"the fake API renders downsample >= 2 only", {}
                data = api.image_bytes(
                    int(match.group(1)),
                    int(params.get("downsample", 0)),
                    params.get("view") == "expression",
                )
                if data is None:
                    return (
                        404,
                        b"<html><body>Not Found</body></html>",
                        {"Content-Type": "text/html"},
                    )
                wanted = re.fullmatch(r"bytes=(\d+)-", self.headers.get("Range", ""))
                if wanted and int(wanted.group(1)) < len(data):
                    start = int(wanted.group(1))
                    return (
                        206,
                        data[start:],
                        {
                            "Content-Type": "image/jpeg",
                            "Content-Range": f"bytes {start}-{len(data) - 1}/{len(data)}",
                        },
                    )
                return 200, data, {"Content-Type": "image/jpeg", "Accept-Ranges": "bytes"}

            def _send(
                self,
                status: int,
                body: bytes,
                headers: dict[str, str],
                truncate_to: int | None = None,
            ) -> None:
                self.send_response(status)
                for key, value in headers.items():
                    self.send_header(key, value)
                self.send_header("Content-Length", str(len(body)))
                if truncate_to is not None:
                    self.send_header("Connection", "close")
                self.end_headers()
                self.wfile.write(body if truncate_to is None else body[:truncate_to])
                self.wfile.flush()
                if truncate_to is not None:
                    self.close_connection = True

        return Handler
