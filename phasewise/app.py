"""The Typer application object and the error boundary shared by every command.

Commands live in their own modules (``phasewise/cmd_*.py``) and register on ``app``;
``phasewise.cli`` imports them all. ``run_app`` is the one place that turns what a command
raised into what the user sees and the exit code:

===  ==================================================================================
0    success
1    internal error (a bug): one line naming it; ``--debug`` or ``PHASEWISE_DEBUG=1``
     shows the full traceback
2    usage error (Click/Typer's usage message), bad input (``PhasewiseError``) or a file
     system error (``OSError``: a full disk...): one line ``phasewise: error: ...``
130  interrupted (Ctrl-C): ``phasewise: interrupted``
===  ==================================================================================
"""

from __future__ import annotations

import logging
import os
import sys
import traceback
from collections.abc import Sequence
from typing import NoReturn

import typer

from phasewise_errors import PhasewiseError

try:  # Typer >= 0.22 bundles its own Click; its usage errors derive from TyperException
    from typer import TyperException as UsageProblem
except ImportError:  # older Typer runs on the click package
    from click import ClickException as UsageProblem  # type: ignore[assignment,no-redef]

EXIT_OK = 0
EXIT_INTERNAL = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130

DEBUG_FLAG = "--debug"

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    help="phasewise: adaptive traffic-signal optimization, measured in SUMO.",
)


@app.callback()
def _root(
    debug: bool = typer.Option(False, DEBUG_FLAG, help="show the full traceback of an unexpected error "
                               "(also PHASEWISE_DEBUG=1); accepted anywhere on the command line"),
) -> None:
    """phasewise: adaptive traffic-signal optimization, measured in SUMO."""


class _OneLineFormatter(logging.Formatter):
    """Stage warnings as ``phasewise: warning: ...``, one line each, like the errors."""

    def format(self, record: logging.LogRecord) -> str:
        return f"phasewise: {record.levelname.lower()}: {record.getMessage()}".replace("\n", " ")


def _configure_logging(debug: bool) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(name)s %(levelname)s: %(message)s") if debug else _OneLineFormatter())
    logging.basicConfig(level=logging.INFO if debug else logging.WARNING, handlers=[handler])


def _debug_from_env() -> bool:
    return os.environ.get("PHASEWISE_DEBUG", "").strip().lower() not in ("", "0", "false", "no")


# Simulation workers stopped by Ctrl-C cannot release their semaphores; multiprocessing's
# resource tracker (a process started later, which reads this variable) releases them and
# would print a warning about each one after "interrupted".
_QUIET_TRACKER = "ignore::UserWarning:multiprocessing.resource_tracker"


def run_app(argv: Sequence[str] | None = None) -> NoReturn:
    """Run the CLI on ``argv`` (default ``sys.argv[1:]``) and exit with the code above."""
    args = list(sys.argv[1:] if argv is None else argv)
    warning_filters = os.environ.get("PYTHONWARNINGS", "")
    if _QUIET_TRACKER not in warning_filters:
        os.environ["PYTHONWARNINGS"] = ",".join(f for f in (warning_filters, _QUIET_TRACKER) if f)
    # --debug is taken out before parsing so that it works after the command name as well.
    debug = DEBUG_FLAG in args or _debug_from_env()
    args = [a for a in args if a != DEBUG_FLAG]
    _configure_logging(debug)
    try:
        code = _run(args, debug)
    except KeyboardInterrupt:  # a second Ctrl-C while the first one is being handled
        code = _interrupted()
    sys.exit(code)


def _run(args: list[str], debug: bool) -> int:
    try:
        returned = app(args=args, prog_name="phasewise", standalone_mode=False)
    except PhasewiseError as exc:
        return _error(str(exc), EXIT_USAGE)
    except KeyboardInterrupt:
        return _interrupted()
    except typer.Exit as exc:
        return _exit_code(exc.exit_code)
    except typer.Abort as exc:
        # Click turns Ctrl-C into Abort (older versions) and so does end of input at a prompt.
        if isinstance(exc.__context__, KeyboardInterrupt):
            return _interrupted()
        return _error("aborted", EXIT_INTERNAL)
    except UsageProblem as exc:
        show = getattr(exc, "show", None)
        if show is not None:
            show()
        else:
            print(f"Error: {exc.format_message()}", file=sys.stderr)
        return int(getattr(exc, "exit_code", EXIT_USAGE))
    except OSError as exc:  # the machine, not the program: a full disk, a file gone, no permission
        if debug:
            traceback.print_exc()
        return _error(str(exc), EXIT_USAGE)
    except Exception as exc:
        if debug:
            traceback.print_exc()
        else:
            name = type(exc).__name__
            print(f"phasewise: internal error: {name}: {exc} (a bug; rerun with --debug for the traceback)"
                  .replace("\n", " "), file=sys.stderr)
        return EXIT_INTERNAL
    # Without standalone mode Typer reports Ctrl-C (and ``raise typer.Exit(n)``) as a returned code.
    return _exit_code(returned if isinstance(returned, int) else EXIT_OK)


def _exit_code(code: int) -> int:
    return _interrupted() if code == EXIT_INTERRUPTED else code


def _error(message: str, code: int) -> int:
    print(f"phasewise: error: {message}".replace("\n", " "), file=sys.stderr)
    return code


def _interrupted() -> int:
    print("phasewise: interrupted", file=sys.stderr)
    return EXIT_INTERRUPTED


def interrupted_exit() -> NoReturn:
    """Exit as an interrupted run (130); for Ctrl-C outside ``run_app``, e.g. while importing."""
    sys.exit(_interrupted())
