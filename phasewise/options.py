"""Checks shared by numeric CLI options that ``min=``/``max=`` cannot express.

Click's range checks let NaN through (every comparison with NaN is false) and have no open
bounds; these callbacks turn both into the usual usage error (exit 2)::

    end: Annotated[Optional[float], typer.Option(callback=positive)] = None
"""

from __future__ import annotations

import math

import typer


def finite(value: float | None) -> float | None:
    """Reject NaN and infinities; ``None`` (option not given) passes."""
    if value is not None and not math.isfinite(value):
        raise typer.BadParameter(f"{value} is not a finite number")
    return value


def positive(value: float | None) -> float | None:
    """A finite number above zero; ``None`` (option not given) passes."""
    if finite(value) is not None and value <= 0:  # type: ignore[operator]
        raise typer.BadParameter(f"{value:g} must be above 0")
    return value


def simulation_time(value: float | None) -> float | None:
    """A simulation time in s: finite, above 0 and at most ten days (SUMO's clock cannot show
    1e308 s and no scenario runs longer); ``None`` passes."""
    from sumo_scenarios.scenario import LATEST_TIME_S

    if positive(value) is not None and value > LATEST_TIME_S:  # type: ignore[operator]
        raise typer.BadParameter(f"{value:g} s is past the latest simulation time, {LATEST_TIME_S:g} s (ten days)")
    return value
