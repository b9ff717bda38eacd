"""Request counts and latency histograms per route, in Prometheus text format.

A pure ASGI middleware (it never touches bodies, so streamed files stay streamed)
times each request and files it under the route *template* (``/v3_0/regions/{region_id}``,
not the concrete URL, so the number of series stays bounded), method and status.
Each worker process keeps its own numbers.
"""

from __future__ import annotations

import bisect
import time
from collections import defaultdict
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

# upper bounds in seconds, as Prometheus clients use by default
BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
UNMATCHED = "<unmatched>"


class Registry:
    """Counts and latency histograms keyed by (method, route, status)."""

    def __init__(self) -> None:
        self._counts: defaultdict[tuple[str, str, str], list[int]] = defaultdict(
            lambda: [0] * (len(BUCKETS) + 1)
        )
        self._sums: defaultdict[tuple[str, str, str], float] = defaultdict(float)

    def observe(self, method: str, route: str, status: int, seconds: float) -> None:
        """Record one request that took ``seconds``."""
        key = (method, route, str(status))
        # non-cumulative per bucket here; cumulated when rendered
        self._counts[key][bisect.bisect_left(BUCKETS, seconds)] += 1
        self._sums[key] += seconds

    def render(self) -> str:
        """The metrics in the Prometheus text exposition format (version 0.0.4)."""
        lines = [
            "# HELP neuratlas_http_requests_total HTTP requests answered.",
            "# TYPE neuratlas_http_requests_total counter",
        ]
        for key, counts in sorted(self._counts.items()):
            lines.append(f"neuratlas_http_requests_total{{{_labels(key)}}} {sum(counts)}")
        lines += [
            "# HELP neuratlas_http_request_duration_seconds Time to answer an HTTP request.",
            "# TYPE neuratlas_http_request_duration_seconds histogram",
        ]
        for key, counts in sorted(self._counts.items()):
            labels = _labels(key)
            running = 0
            for bound, count in zip((*BUCKETS, float("inf")), counts, strict=True):
                running += count
                le = "+Inf" if bound == float("inf") else repr(bound)
                lines.append(
                    f'neuratlas_http_request_duration_seconds_bucket{{{labels},le="{le}"}} '
                    f"{running}"
                )
            lines.append(
                f"neuratlas_http_request_duration_seconds_sum{{{labels}}} {self._sums[key]:.6f}"
            )
            lines.append(f"neuratlas_http_request_duration_seconds_count{{{labels}}} {running}")
        return "\n".join(lines) + "\n"


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _labels(key: tuple[str, str, str]) -> str:
    method, route, status = key
    return f'method="{_escape(method)}",route="{_escape(route)}",status="{status}"'


class MetricsMiddleware:
    """ASGI middleware that records every HTTP request in a :class:`Registry`."""

    def __init__(self, app: ASGIApp, registry: Registry) -> None:
        self.app = app
        self.registry = registry

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        status = {"code": 500}

        async def send_and_note(message: Message) -> None:
            if message["type"] == "http.response.start":
                status["code"] = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_and_note)
        finally:
            self.registry.observe(
                scope["method"], _route_of(scope), status["code"], time.perf_counter() - start
            )


def _route_of(scope: dict[str, Any]) -> str:
    # the router stores the matched route in the (shared) scope
    route = scope.get("route")
    return getattr(route, "path", None) or UNMATCHED
