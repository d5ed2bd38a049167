"""The one exception hierarchy shared by every stage.

It lives outside the ``phasewise`` application package because the stages
(``vision``, ``counting``, ``optimizer``, ``controllers``, ``sumo_scenarios``,
``calibration``) must never import the application; they all import this.
The CLI turns any ``PhasewiseError`` into one line on stderr and a non-zero
exit code; the daemon logs it and falls back.
"""

from __future__ import annotations


class PhasewiseError(Exception):
    """Base of every error phasewise raises on purpose (bad input, unreachable device...)."""


class ConfigError(PhasewiseError):
    """A configuration or input file is missing or malformed. The message names file and fix."""


class ScenarioError(PhasewiseError):
    """A SUMO scenario (sumocfg, net, routes) is missing, malformed or unusable."""


class SimulationError(PhasewiseError):
    """SUMO failed or timed out while running."""


class PlanError(PhasewiseError):
    """A timing plan is infeasible or unsafe (names the intersection and phase)."""


class VideoError(PhasewiseError):
    """A video file or camera stream cannot be read."""


class ModelError(PhasewiseError):
    """Detector weights are missing or cannot be loaded."""


class ControllerError(PhasewiseError):
    """A signal controller backend is unreachable or refused a command."""
