"""Command-line entry point: ``phasewise <command>``. Each command lives in ``cmd_*.py``."""

from __future__ import annotations

from phasewise.app import app, interrupted_exit, run_app

try:  # loading the commands takes seconds (SUMO, OR-Tools, OpenCV); Ctrl-C then is no error either
    from phasewise import cmd_sim  # noqa: F401  (registers `sim` and `demo`)
    from phasewise import cmd_optimize  # noqa: F401
    from phasewise import cmd_calibrate  # noqa: F401
    from phasewise import cmd_replay  # noqa: F401
    from phasewise import cmd_site  # noqa: F401  (the `site` group: `site draw`)
    from phasewise import cmd_controller  # noqa: F401  (the `controller` group)
    from phasewise import cmd_emulate  # noqa: F401
    from phasewise import cmd_run  # noqa: F401  (`run`: the daemon)
    from phasewise import cmd_web  # noqa: F401  (`serve` and `token`: the dashboard)
    from phasewise import cmd_bench  # noqa: F401  (`bench`: suites for CI)
    from phasewise import cmd_measures  # noqa: F401  (`measures`: ATSPM measures of an event log)
except KeyboardInterrupt:
    interrupted_exit()

__all__ = ["app", "main"]


def main() -> None:
    run_app()


if __name__ == "__main__":
    main()
