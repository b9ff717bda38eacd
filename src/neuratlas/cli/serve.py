"""``neuratlas serve``: run the HTTP atlas service (:mod:`neuratlas.service.app`) with uvicorn."""

from __future__ import annotations

import socket
import sys
from typing import Annotated

import typer

APP = "neuratlas.service.app:create_app"


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
    log_level: Annotated[
        str, typer.Option(help="uvicorn's log level (critical, error, warning, info, debug).")
    ] = "info",
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

    Checked before uvicorn starts, so that a busy port is one line of error rather than
    uvicorn's log; the socket options are uvicorn's, so the verdicts agree.
    """
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as exc:
            return exc.strerror or str(exc)
    return None
