"""The ``neuratlas`` command: one typer app with a sub-app per area.

Errors from the :class:`neuratlas.Error` hierarchy print as one line
(``error: <message>``) plus a hint, and exit with the status :func:`exit_status`
gives (2 for usage and lookups, 1 otherwise); ``--debug`` shows the traceback instead.
"""

from __future__ import annotations

import sys

import typer

from neuratlas.cli import allen as allen_cli
from neuratlas.cli import assign, catalogue, lesion, maps, serve, tour
from neuratlas.errors import (
    AmbiguousError,
    ArgumentError,
    ArgumentTypeError,
    Error,
    NotFoundError,
)

cli = typer.Typer(
    name="neuratlas",
    help="Offline-first toolkit for multilevel brain atlases.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

_state: dict[str, bool] = {"debug": False}


@cli.callback()
def _main(
    debug: bool = typer.Option(False, "--debug", help="Show tracebacks on errors."),
) -> None:
    _state["debug"] = debug


# every area adds its commands here, so that `neuratlas --help` lists them all
catalogue.register(cli)
assign.register(cli)
maps.register(cli)
tour.register(cli)
serve.register(cli)
cli.add_typer(allen_cli.app, name="allen")
lesion.register(cli)

# what the user asked for was wrong (usage) or names nothing (lookup): exit 2
USAGE_OR_LOOKUP = (ArgumentError, ArgumentTypeError, NotFoundError, AmbiguousError)


def exit_status(error: Error) -> int:
    """The exit status for an error: 2 for usage and lookups, 1 for everything else."""
    return 2 if isinstance(error, USAGE_OR_LOOKUP) else 1


def app() -> None:
    """Entry point of the ``neuratlas`` console script."""
    try:
        # without standalone mode, click returns the code of a typer.Exit rather than exiting
        code = cli(standalone_mode=False)
    except Error as exc:
        if _state["debug"] or "--debug" in sys.argv:
            raise
        typer.echo(f"error: {exc.message}", err=True)
        if exc.hint:
            typer.echo(f"hint: {exc.hint}", err=True)
        sys.exit(exit_status(exc))
    except typer.Abort:
        sys.exit(1)
    except Exception as exc:  # click usage errors carry their own exit code
        # recent typer releases vendor click (typer._click), so its usage errors are not
        # click.ClickException instances: recognise them by what they carry instead
        code = getattr(exc, "exit_code", None)
        if not isinstance(code, int):
            raise
        show = getattr(exc, "show", None)
        if callable(show):
            show()
        sys.exit(code)
    if isinstance(code, int) and code:
        sys.exit(code)
