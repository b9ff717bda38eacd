"""A local stand-in for the Allen download server (download.alleninstitute.org), for tests.

It serves files from memory at their paths on the real server
(``/informatics-archive/current-release/mouse_ccf/...``) and counts requests, so
that a test can check a volume is fetched once and then read from the cache.
:func:`ccf_nrrd` writes small volumes in the released files' format: gzip-encoded
NRRD with the header the Allen files carry (``left-posterior-superior``, although
the data axes are PIR). :func:`rasterise` draws a phantom given in micrometres on
the grid of any resolution, so that the files of one annotation at 10, 25, 50 and
100 µm show the same brain; :func:`annotation_path` is where the server keeps each
release (``ccf_2015``, ``ccf_2017``) at each resolution.
"""

from __future__ import annotations

import tempfile
import threading
from collections import Counter
from collections.abc import Sequence
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import nrrd
import numpy as np

from neuratlas.configuration.loader import BUILTIN

CCF_PATH = "/informatics-archive/current-release/mouse_ccf/"
REAL_BASE = "http://download.alleninstitute.org"
#: The embedded specs of the mouse atlas, whose volumes are on the download server.
MOUSE_SPECS = (
    "atlases/mouse.json",
    "spaces/allen-mouse-ccfv3.json",
    "parcellations/allen-mouse-ccfv3-2017.json",
    "parcellations/allen-mouse-ccfv3-2015.json",
    "maps/allen-mouse-ccfv3-2017__allen-mouse-ccfv3__labelled.json",
    "maps/allen-mouse-ccfv3-2015__allen-mouse-ccfv3__labelled.json",
)
#: The voxel sizes (µm) at which the server has each CCF volume.
CCF_RESOLUTIONS_UM = (10, 25, 50, 100)
#: A box of a phantom: its label, then its (start, stop) in µm along P, I and R.
Box = tuple[int, tuple[float, float], tuple[float, float], tuple[float, float]]


def annotation_path(release: str, voxel_um: int) -> str:
    """The server path of an annotation volume, e.g. ``annotation_path("2015", 25)``."""
    return f"{CCF_PATH}annotation/ccf_{release}/annotation_{voxel_um}.nrrd"


def rasterise(
    boxes: Sequence[Box], field_um: tuple[float, float, float], voxel_um: float
) -> np.ndarray:
    """A uint32 label volume (PIR axes) of ``field_um`` with voxels of ``voxel_um``.

    A voxel takes the label of the last box that holds its centre (0 if none), as
    the Allen volumes at different resolutions sample one annotation.
    """
    shape = tuple(round(f / voxel_um) for f in field_um)
    centres = [(np.arange(n) + 0.5) * voxel_um for n in shape]
    out = np.zeros(shape, dtype=np.uint32)
    for label, *extent in boxes:
        inside = [(c >= lo) & (c < hi) for c, (lo, hi) in zip(centres, extent, strict=True)]
        out[np.ix_(*inside)] = label
    return out


def served_mouse_specs(folder: Path, base: str) -> Path:
    """Copy the mouse atlas's specs into ``folder`` with their URLs on a server at ``base``.

    ``folder`` then is a configuration folder (``use_configuration``) whose volumes
    come from that server (a :class:`FakeDownloadServer`'s ``base_url``).
    """
    for rel in MOUSE_SPECS:
        text = (BUILTIN / rel).read_text(encoding="utf-8")
        (folder / rel).parent.mkdir(parents=True, exist_ok=True)
        (folder / rel).write_text(text.replace(REAL_BASE, base), encoding="utf-8")
    return folder


def ccf_nrrd(data: np.ndarray, voxel_um: float) -> bytes:
    """``data`` (PIR axes) as the bytes of a CCF-style NRRD file."""
    header = {
        "space": "left-posterior-superior",  # what the released files say
        "space directions": np.diag([float(voxel_um)] * 3),
        "space origin": np.zeros(3),
        "kinds": ["domain"] * 3,
        "encoding": "gzip",
    }
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "volume.nrrd"
        nrrd.write(str(path), data, header, index_order="F")
        return path.read_bytes()


class FakeDownloadServer:
    """Serve ``files`` (path -> bytes) on 127.0.0.1; 404 for anything else."""

    def __init__(self, files: dict[str, bytes]) -> None:
        self.files = dict(files)
        self.requests: Counter[str] = Counter()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        # a short poll: stop() returns within it (the default half second adds up over tests)
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )

    @property
    def base_url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> FakeDownloadServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            # no 40 ms wait for a delayed ACK between headers and body (see FakeAllenAPI)
            disable_nagle_algorithm = True

            def log_message(self, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                server.requests[self.path] += 1
                body = server.files.get(self.path)
                if body is None:
                    self.send_response(404)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                self.send_response(200)
                self.send_header("Content-Type", "application/octet-stream")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        return Handler
