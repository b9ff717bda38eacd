"""Running a command line: errors as one line, exit statuses.

Both the full ``neuratlas`` command (:mod:`neuratlas.cli.main`) and the fast paths of
the console script (:mod:`neuratlas.cli.entry`, which import one area's commands
only) run their typer app through :func:`run`, so that every command reports
errors the same way: an error of the :class:`neuratlas.Error` hierarchy prints as
one line (``error: <message>``) plus a ``hint:`` line, and exits with the status
:func:`exit_status` gives (2 for usage and lookups, 1 otherwise); ``--debug``
shows the traceback instead.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence
from typing import Any

import typer

from neuratlas.errors import (
    AmbiguousError,
    ArgumentError,
    ArgumentTypeError,
    Error,
    NotFoundError,
)

__all__ = ["USAGE_OR_LOOKUP", "exit_status", "run"]

# what the user asked for was wrong (usage) or names nothing (lookup): exit 2
USAGE_OR_LOOKUP = (ArgumentError, ArgumentTypeError, NotFoundError, AmbiguousError)


def exit_status(error: Error) -> int:
    """The exit status for an error: 2 for usage and lookups, 1 for everything else."""
    return 2 if isinstance(error, USAGE_OR_LOOKUP) else 1


def run(
    app: Any,
    args: Sequence[str] | None = None,
    prog_name: str | None = None,
    *,
    debug: Callable[[], bool] | None = None,
) -> None:
    """Run a typer app (or click command) as a console script, and exit.

    Parameters
    ----------
    app : typer.Typer or click.Command
        The command line to run.
    args : sequence of str, optional
        Its arguments (default: ``sys.argv[1:]``).
    prog_name : str, optional
        The name shown in usage lines (default: from ``sys.argv[0]``).
    debug : callable, optional
        Whether ``--debug`` was given to the app (its callback's state); ``--debug``
        anywhere on the command line counts too. Then errors raise, with their traceback.

    Notes
    -----
    Returns normally after a successful command; otherwise calls :func:`sys.exit`
    with the command's status (a :class:`typer.Exit` code, a click usage error's
    code, or :func:`exit_status` of a neuratlas error).
    """
    try:
        # without standalone mode, click returns the code of a typer.Exit rather than exiting
        code = app(
            args=None if args is None else list(args),
            prog_name=prog_name,
            standalone_mode=False,
        )
    except Error as exc:
        if (debug is not None and debug()) or "--debug" in sys.argv:
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
