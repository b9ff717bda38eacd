"""A scriptable HTTP server on 127.0.0.1 for the retrieval tests.

Each route is a list of behaviours; the n-th request to a path gets the n-th
behaviour (the last one repeats). Behaviours are small functions writing to the
request handler, so a test reads as the conversation it expects::

    server.route("/a", server.status(503), server.send(b"ok"))
"""

from __future__ import annotations

import http.server
import re
import socket
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import pytest

Behaviour = Callable[[http.server.BaseHTTPRequestHandler], None]


@dataclass
class Server:
    """The running server: its address, routes and a log of what it received."""

    base: str
    routes: dict[str, list[Behaviour]] = field(default_factory=dict)
    hits: dict[str, int] = field(default_factory=dict)
    log: list[tuple[str, dict[str, str]]] = field(default_factory=list)
    release: threading.Event = field(default_factory=threading.Event)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def route(self, path: str, *behaviours: Behaviour) -> str:
        """Register the behaviours of ``path`` and return its full URL."""
        self.routes[path] = list(behaviours)
        return self.url(path)

    def url(self, path: str) -> str:
        return self.base + path

    def requests_to(self, path: str) -> list[dict[str, str]]:
        """The headers of every request received for ``path``, in order."""
        return [headers for p, headers in self.log if p == path]


def _handler_class(server: Server) -> type[http.server.BaseHTTPRequestHandler]:
    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            path = self.path.split("?", 1)[0]
            with server.lock:
                server.log.append((self.path, dict(self.headers.items())))
                n = server.hits.get(path, 0)
                server.hits[path] = n + 1
            behaviours = server.routes.get(path)
            if not behaviours:
                status(404)(self)
                return
            behaviours[min(n, len(behaviours) - 1)](self)

        def log_message(self, *args: object) -> None:
            pass

    return Handler


@pytest.fixture
def server() -> Iterator[Server]:
    """Serve on an ephemeral port for the duration of one test."""
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), http.server.BaseHTTPRequestHandler)
    httpd.daemon_threads = True
    state = Server(base=f"http://127.0.0.1:{httpd.server_address[1]}")
    httpd.RequestHandlerClass = _handler_class(state)
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    try:
        yield state
    finally:
        state.release.set()  # unblock stalled handlers
        httpd.shutdown()
        httpd.server_close()
        thread.join(5)


@pytest.fixture
def closed_port_url() -> str:
    """A URL on a port nobody listens on (connections are refused)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}/file.bin"


@pytest.fixture(autouse=True)
def _private_cache(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch):
    """Point the neuratlas cache at a fresh folder for every test."""
    monkeypatch.setenv("NEURATLAS_CACHE", str(tmp_path_factory.mktemp("cache")))
    monkeypatch.delenv("NEURATLAS_CACHE_MAX_GB", raising=False)


# -- behaviours -------------------------------------------------------------------------------


def status(code: int, headers: dict[str, str] | None = None, body: bytes = b"") -> Behaviour:
    """Answer ``code`` with optional headers and body."""

    def behave(h: http.server.BaseHTTPRequestHandler) -> None:
        h.send_response(code)
        for key, value in (headers or {}).items():
            h.send_header(key, value)
        h.send_header("Content-Length", str(len(body)))
        h.end_headers()
        h.wfile.write(body)

    return behave


def send(data: bytes, content_type: str = "application/octet-stream") -> Behaviour:
    """Answer 200 with ``data``, ignoring any Range header."""
    return status(200, {"Content-Type": content_type}, data)


def serve_ranges(data: bytes) -> Behaviour:
    """Serve ``data`` honouring ``Range: bytes=N-`` (206, or 416 past the end)."""

    def behave(h: http.server.BaseHTTPRequestHandler) -> None:
        match = re.fullmatch(r"bytes=(\d+)-", h.headers.get("Range", ""))
        if not match:
            send(data)(h)
            return
        start = int(match.group(1))
        if start >= len(data):
            status(416, {"Content-Range": f"bytes */{len(data)}"})(h)
            return
        status(206, {"Content-Range": f"bytes {start}-{len(data) - 1}/{len(data)}"}, data[start:])(
            h
        )

    return behave


def cut(data: bytes, after: int) -> Behaviour:
    """Announce all of ``data`` (honouring Range) but hang up after ``after`` bytes."""

    def behave(h: http.server.BaseHTTPRequestHandler) -> None:
        match = re.fullmatch(r"bytes=(\d+)-", h.headers.get("Range", ""))
        start = int(match.group(1)) if match else 0
        h.send_response(206 if match else 200)
        if match:
            h.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
        h.send_header("Content-Length", str(len(data) - start))
        h.end_headers()
        h.wfile.write(data[start : start + after])
        h.wfile.flush()
        h.connection.shutdown(socket.SHUT_RDWR)
        h.close_connection = True

    return behave


def stall(server: Server) -> Behaviour:
    """Accept the request and never answer (until the test ends)."""

    def behave(h: http.server.BaseHTTPRequestHandler) -> None:
        server.release.wait(10)

    return behave


# Test modules reach the behaviours through the fixture (``server.status(503)``):
# importing from ``conftest`` would be ambiguous with other folders' conftest files.
Server.status = staticmethod(status)  # type: ignore[attr-defined]
Server.send = staticmethod(send)  # type: ignore[attr-defined]
Server.serve_ranges = staticmethod(serve_ranges)  # type: ignore[attr-defined]
Server.cut = staticmethod(cut)  # type: ignore[attr-defined]
Server.stall = stall  # type: ignore[attr-defined]
