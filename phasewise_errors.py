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


def read_config_file(path: object, what: str = "", hint: str = "") -> object:
    """The parsed content of a YAML (or, by suffix, JSON) configuration file.

    ``ConfigError`` names the file when it cannot be read (``what`` says what it should hold,
    ``hint`` how to fix it) or parsed.
    """
    import json
    from pathlib import Path

    import yaml

    file = Path(str(path))
    try:
        text = file.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"{file}: cannot read{' ' + what if what else ''} ({exc.strerror}){hint}") from None
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{file}: not a UTF-8 text file (byte {exc.start}: {exc.reason}){hint}") from None
    is_json = file.suffix == ".json"
    try:
        return json.loads(text) if is_json else yaml.safe_load(text)
    except (json.JSONDecodeError, yaml.YAMLError) as exc:
        raise ConfigError(f"{file}: not valid {'JSON' if is_json else 'YAML'} ({exc})") from None


def validation_error(path: object, exc: Exception, fix: str = "") -> ConfigError:
    """A pydantic ``ValidationError`` as one ``ConfigError`` naming the file and the first bad field."""
    err = exc.errors()[0]  # type: ignore[attr-defined]
    field = ".".join(str(x) for x in err["loc"]) or "(top level)"
    return ConfigError(f"{path}: {field}: {err['msg']}{fix}")
