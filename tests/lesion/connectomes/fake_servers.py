"""Dataverse, Figshare and a GitHub release on 127.0.0.1, answering in the real formats.

One threaded HTTP server holds all three:

- Dataverse's native API: ``GET /api/datasets/:persistentId/versions/:latest/files
  ?persistentId=<doi>`` (``{"status": "OK", "data": [{"label", "dataFile": {...}}]}``)
  and ``GET /api/access/datafile/<id>``, both wanting ``X-Dataverse-key``;
- Figshare's API: ``GET /v2/articles/<id>`` (``files: [{id, name, size,
  download_url, computed_md5, ...}]``) and the download host's
  ``/ndownloader/files/<id>``, both wanting ``Authorization: token <key>``;
- GitHub: ``GET /api/repos/<o>/<r>/releases/tags/<tag>`` (``assets: [{name,
  size, browser_download_url, digest}]``) and the asset at
  ``/<o>/<r>/releases/download/<tag>/<name>``.

Downloads honour ``Range: bytes=N-`` (206, or 416 past the end). A path in
``drop_once`` is cut off halfway the first time it is asked for, as a dropped
connection would; ``requests`` records every request's path and headers.
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

JsonRoute = Callable[[dict[str, list[str]]], tuple[int, Any]]


def md5(data: bytes) -> str:
    return hashlib.md5(data).hexdigest()


class FakeServer:
    """The three servers on one port; start with ``with FakeServer() as server:``."""

    def __init__(self) -> None:
        self.blobs: dict[str, bytes] = {}
        self.json: dict[str, JsonRoute] = {}
        #: path -> (header, value) the request must carry
        self.auth: dict[str, tuple[str, str]] = {}
        self.drop_once: set[str] = set()
        self.requests: list[tuple[str, dict[str, str]]] = []
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._next_id = 100

    @property
    def base_url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def __enter__(self) -> FakeServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()

    def hits(self, path: str) -> list[dict[str, str]]:
        """The headers of every request made for ``path``."""
        return [headers for p, headers in self.requests if p == path]

    # -- the three services -------------------------------------------------------------------

    def add_dataverse(
        self,
        persistent_id: str,
        files: list[tuple[str, bytes]],
        key: str,
        *,
        announced_md5: dict[str, str] | None = None,
        checksum_type: str = "MD5",
    ) -> dict[str, str]:
        """Serve a dataset; returns name -> download path."""
        entries, paths = [], {}
        for name, data in files:
            self._next_id += 1
            path = f"/api/access/datafile/{self._next_id}"
            self.blobs[path] = data
            self.auth[path] = ("X-Dataverse-key", key)
            paths[name] = path
            digest = (announced_md5 or {}).get(name) or (
                md5(data) if checksum_type == "MD5" else hashlib.sha256(data).hexdigest()
            )
            entries.append(
                {
                    "label": name,
                    "restricted": False,
                    "version": 1,
                    "datasetVersionId": 7,
                    "dataFile": {
                        "id": self._next_id,
                        "persistentId": "",
                        "filename": name,
                        "contentType": "application/octet-stream",
                        "filesize": len(data),
                        "storageIdentifier": f"s3://bucket:{self._next_id}",
                        "rootDataFileId": -1,
                        "checksum": {"type": checksum_type, "value": digest},
                        "creationDate": "2020-06-01",
                    },
                }
            )
        listing = "/api/datasets/:persistentId/versions/:latest/files"

        def answer(query: dict[str, list[str]]) -> tuple[int, Any]:
            if query.get("persistentId") != [persistent_id]:
                return 404, {"status": "ERROR", "message": "Dataset not found"}
            return 200, {"status": "OK", "data": entries}

        self.json[listing] = answer
        self.auth[listing] = ("X-Dataverse-key", key)
        return paths

    def add_figshare(
        self,
        article_id: int,
        files: list[tuple[str, bytes]],
        token: str,
        *,
        announced_md5: dict[str, str] | None = None,
        link_only: tuple[str, ...] = (),
    ) -> dict[str, str]:
        """Serve an article; returns name -> download path."""
        entries, paths = [], {}
        for name, data in files:
            self._next_id += 1
            path = f"/ndownloader/files/{self._next_id}"
            self.blobs[path] = data
            self.auth[path] = ("Authorization", f"token {token}")
            paths[name] = path
            entries.append(
                {
                    "id": self._next_id,
                    "name": name,
                    "size": len(data),
                    "is_link_only": name in link_only,
                    "download_url": self.base_url + path,
                    "supplied_md5": "",
                    "computed_md5": (announced_md5 or {}).get(name) or md5(data),
                    "mimetype": "application/octet-stream",
                }
            )
        article = {"id": article_id, "title": "Normative tractogram", "files": entries}
        route = f"/v2/articles/{article_id}"
        self.json[route] = lambda query: (200, article)
        self.auth[route] = ("Authorization", f"token {token}")
        return paths

    def add_github(
        self,
        owner: str,
        repo: str,
        tag: str,
        assets: dict[str, bytes],
        *,
        digests: dict[str, str | None] | None = None,
    ) -> dict[str, str]:
        """Serve a release; returns asset name -> download path."""
        entries, paths = [], {}
        for name, data in assets.items():
            path = f"/{owner}/{repo}/releases/download/{tag}/{name}"
            self.blobs[path] = data
            paths[name] = path
            digest = (digests or {}).get(name, "sha256:" + hashlib.sha256(data).hexdigest())
            entries.append(
                {
                    "name": name,
                    "size": len(data),
                    "content_type": "application/zip",
                    "state": "uploaded",
                    "digest": digest,
                    "browser_download_url": self.base_url + path,
                }
            )
        release = {"tag_name": tag, "name": tag, "draft": False, "assets": entries}
        self.json[f"/api/repos/{owner}/{repo}/releases/tags/{tag}"] = lambda query: (200, release)
        return paths

    # -- HTTP ---------------------------------------------------------------------------------

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def _send(self, status: int, body: bytes, headers: dict[str, str]) -> None:
                self.send_response(status)
                for key, value in headers.items():
                    self.send_header(key, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def _json(self, status: int, payload: Any) -> None:
                body = json.dumps(payload).encode()
                self._send(status, body, {"Content-Type": "application/json"})

            def do_GET(self) -> None:
                parts = urlsplit(self.path)
                path = parts.path
                server.requests.append((path, dict(self.headers)))
                need = server.auth.get(path)
                if need is not None and self.headers.get(need[0]) != need[1]:
                    status = 401 if self.headers.get(need[0]) is None else 403
                    self._json(status, {"status": "ERROR", "message": "Bad API key"})
                    return
                if path in server.json:
                    status, payload = server.json[path](parse_qs(parts.query))
                    self._json(status, payload)
                    return
                data = server.blobs.get(path)
                if data is None:
                    self._json(404, {"message": "Not Found"})
                    return
                self._blob(path, data)

            def _blob(self, path: str, data: bytes) -> None:
                start = 0
                status = 200
                headers = {"Content-Type": "application/octet-stream", "Accept-Ranges": "bytes"}
                wanted = self.headers.get("Range", "")
                if wanted.startswith("bytes=") and wanted.endswith("-"):
                    start = int(wanted[6:-1])
                    if start >= len(data):
                        self._send(416, b"", {"Content-Range": f"bytes */{len(data)}"})
                        return
                    status = 206
                    headers["Content-Range"] = f"bytes {start}-{len(data) - 1}/{len(data)}"
                body = data[start:]
                if path in server.drop_once:
                    server.drop_once.discard(path)
                    self.send_response(status)
                    for key, value in headers.items():
                        self.send_header(key, value)
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body[: len(body) // 2])
                    self.wfile.flush()
                    self.close_connection = True
                    return
                self._send(status, body, headers)

        return Handler
