"""The ``neuratlas`` command: one typer app with a sub-app per area.

Errors from the :class:`neuratlas.Error` hierarchy print as one line
(``error: <message>``) plus a hint, and exit with the status :func:`exit_status`
gives (2 for usage and lookups, 1 otherwise); ``--debug`` shows the traceback instead
(:func:`neuratlas.cli.running.run`, shared with the console script's fast paths).
"""

from __future__ import annotations

import typer

from neuratlas.cli import allen as allen_cli
from neuratlas.cli import assign, catalogue, lesion, maps, serve, tour
from neuratlas.cli import features as features_cli
from neuratlas.cli.running import USAGE_OR_LOOKUP, exit_status, run

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
features_cli.register(cli)


def app() -> None:
    """Entry point of the ``neuratlas`` console script."""
    run(cli, debug=lambda: _state["debug"])


# exit_status and USAGE_OR_LOOKUP live in neuratlas.cli.running; kept importable from here
__all__ = ["USAGE_OR_LOOKUP", "app", "cli", "exit_status"]
