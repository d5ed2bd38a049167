"""Controller names as the CLI and benchmarks know them -> picklable factories."""

from __future__ import annotations

from functools import partial

from controllers.actuated import ActuatedController
from controllers.adaptive import AdaptiveConfig, AdaptiveController
from controllers.maxpressure import MaxPressureController
from controllers.static import StaticController
from phasewise_errors import ConfigError
from sumo_scenarios.runner import ControllerFactory

CONTROLLERS: dict[str, ControllerFactory] = {
    "static": StaticController,
    "actuated": ActuatedController,
    "maxpressure": MaxPressureController,
    "adaptive": AdaptiveController,
    # adaptive that also keeps the corridor plan's offsets (yield points, offset seeking)
    "adaptive-coordinated": partial(AdaptiveController, AdaptiveConfig(coordinate=True)),
}


def _adaptive_over_ntcip(*args: object, **options: object) -> object:
    """``adaptive`` driving emulated NTCIP controllers over SNMP (imported on use: pysnmp)."""
    from controllers.sil import NtcipLoopController

    return NtcipLoopController(*args, **options)  # type: ignore[arg-type]


# Software in the loop: not compared in the demo (the SNMP round trips make it slower), but
# run like any other controller: ``phasewise sim --controller adaptive-ntcip``.
SOFTWARE_IN_THE_LOOP: dict[str, ControllerFactory] = {
    "adaptive-ntcip": _adaptive_over_ntcip,  # type: ignore[dict-item]
}
ALL_CONTROLLERS: dict[str, ControllerFactory] = {**CONTROLLERS, **SOFTWARE_IN_THE_LOOP}


def controller_factory(name: str, **options: object) -> ControllerFactory:
    """A zero-argument factory for the named controller (options go to its constructor)."""
    try:
        factory = ALL_CONTROLLERS[name]
    except KeyError:
        raise ConfigError(f"unknown controller '{name}'; choose one of: {', '.join(ALL_CONTROLLERS)}") from None
    return partial(factory, **options)
