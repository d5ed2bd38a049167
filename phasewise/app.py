"""The Typer application object and the error boundary shared by every command.

Commands live in their own modules (``phasewise/cmd_*.py``) and register on ``app``;
``phasewise.cli`` imports them all. Any ``PhasewiseError`` becomes one line on stderr and
exit code 2; an interrupted run exits with 130.
"""

from __future__ import annotations

import sys

import typer

from phasewise_errors import PhasewiseError

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    help="phasewise: adaptive traffic-signal optimization, measured in SUMO.",
)


def run_app() -> None:
    try:
        app(standalone_mode=False)
    except PhasewiseError as exc:
        print(f"phasewise: error: {exc}", file=sys.stderr)
        sys.exit(2)
    except KeyboardInterrupt:
        print("phasewise: interrupted", file=sys.stderr)
        sys.exit(130)
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
    except typer.Abort:
        sys.exit(1)
    except Exception as exc:  # click usage errors arrive here in non-standalone mode
        import click

        if isinstance(exc, click.ClickException):
            exc.show()
            sys.exit(exc.exit_code)
        raise
