"""``neuratlas serve``: run the HTTP atlas service (:mod:`neuratlas.service.app`).

Two ASGI servers can run it. granian is the default: on this app, at 16 and 64
connections, it measured 1.0-1.4x the requests/s of uvicorn with httptools and
uvloop on catalogue routes (1.5-2.1x uvicorn's pure-Python h11) and 1.9-2.5x on map
files, with a p99 of 15-21 ms at 64 connections where uvicorn with httptools reached
110-250 ms; at one connection, in cold start and in memory they are alike
(benchmarks/bench_service.py). Both get the same app factory, address, workers, log
level and access log, and both run the app's lifespan (the catalogue warms up in its
start-up; ``/ready`` answers 200 once that is done).
"""

from __future__ import annotations

import socket
import sys
from enum import StrEnum
from typing import Annotated

import typer

from neuratlas.errors import Error
from neuratlas.retrieval.cache import cache_root, check_writable

APP = "neuratlas.service.app:create_app"


class ServerName(StrEnum):
    """The ASGI servers that can run the service."""

    granian = "granian"
    uvicorn = "uvicorn"


class LogLevel(StrEnum):
    """The log levels both servers know."""

    critical = "critical"
    error = "error"
    warning = "warning"
    info = "info"
    debug = "debug"


DEFAULT_SERVER = ServerName.granian


def register(cli: typer.Typer) -> None:
    cli.command("serve")(serve)


def run_alone() -> None:
    """Run ``neuratlas serve ...`` as a command line of its own (see ``cli/entry.py``)."""
    alone = typer.Typer(add_completion=False, pretty_exceptions_enable=False)
    alone.command()(serve)
    alone(args=sys.argv[2:], prog_name="neuratlas serve")


def serve(
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=0, max=65535, help="Port to listen on.")] = 8000,
    workers: Annotated[int, typer.Option(min=1, help="Worker processes.")] = 1,
    server: Annotated[
        ServerName, typer.Option(help="The ASGI server that runs the app.")
    ] = DEFAULT_SERVER,
    log_level: Annotated[LogLevel, typer.Option(help="The server's log level.")] = LogLevel.info,
    access_log: Annotated[
        bool, typer.Option(help="Log every request (costs throughput under load).")
    ] = False,
) -> None:
    """Serve the atlases over HTTP (siibra-api v3 routes under /v3_0; docs at /docs)."""
    problem = port_problem(host, port)
    if problem:
        typer.echo(f"error: cannot listen on {host}:{port}: {problem}", err=True)
        typer.echo("hint: choose another --port, or stop the program that uses it", err=True)
        # a plain exit: the console script ignores the code of a typer.Exit
        sys.exit(1)
    try:
        # the service keeps map files, bundles and indexes there: a cache it cannot
        # use would fail every map request, so say so now, in one line
        check_writable(cache_root(), folder=True)
    except Error as exc:
        typer.echo(f"error: {exc.message}", err=True)
        if exc.hint:
            typer.echo(f"hint: {exc.hint}", err=True)
        sys.exit(1)
    run = run_granian if server is ServerName.granian else run_uvicorn
    run(host=host, port=port, workers=workers, log_level=log_level.value, access_log=access_log)


def run_granian(host: str, port: int, workers: int, log_level: str, access_log: bool) -> None:
    """Run the app factory under granian (ASGI with lifespan; one process per worker)."""
    # heavy: the server (and, through the app, FastAPI) only for this command
    from granian.constants import Interfaces, Loops
    from granian.log import LogLevels
    from granian.server import Server

    Server(
        APP,
        address=host,
        port=port,
        interface=Interfaces.ASGI,  # ASGI with lifespan: the app warms its catalogue there
        workers=workers,
        factory=True,
        loop=Loops.uvloop if _has_uvloop() else Loops.asyncio,
        log_level=LogLevels(log_level),
        log_access=access_log,
    ).serve()


def _has_uvloop() -> bool:
    """Whether uvloop can be used (a dependency, but not built for Windows).

    Named rather than left to granian's ``auto``, which would prefer rloop if it were
    installed: uvloop measured 8-15% faster than asyncio here, rloop slower on files.
    """
    try:
        # optional: granian's extra; the loop granian runs the app on
        import uvloop  # noqa: F401
    except ImportError:
        return False
    return True


def run_uvicorn(host: str, port: int, workers: int, log_level: str, access_log: bool) -> None:
    """Run the app factory under uvicorn (httptools and uvloop when installed)."""
    # heavy: the server (and, through the app, FastAPI) only for this command
    import uvicorn

    uvicorn.run(
        APP,
        factory=True,
        host=host,
        port=port,
        workers=workers,
        log_level=log_level,
        access_log=access_log,
    )


def port_problem(host: str, port: int) -> str | None:
    """Why ``host:port`` cannot be listened on (in use, bad address), or ``None``.

    Checked before the server starts, so that a busy port is one line of error rather
    than the server's log; the socket options (``SO_REUSEADDR``) are the ones both
    servers use, so the verdicts agree.
    """
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as exc:
            return exc.strerror or str(exc)
    return None
