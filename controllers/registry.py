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


def controller_factory(name: str, **options: object) -> ControllerFactory:
    """A zero-argument factory for the named controller (options go to its constructor)."""
    try:
        factory = CONTROLLERS[name]
    except KeyError:
        raise ConfigError(f"unknown controller '{name}'; choose one of: {', '.join(CONTROLLERS)}") from None
    return partial(factory, **options)
