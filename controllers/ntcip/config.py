"""The NTCIP section of a site configuration: which controller drives which intersection.

Declared once here (pydantic), validated at load with messages naming the file and field.
It holds no secret: credentials are named by environment variable or key file
(:class:`~controllers.ntcip.credentials.CredentialsConfig`) and read by :meth:`NtcipConfig.backend`.

Example (``site/ntcip.yaml``)::

    controllers:
      J1: {host: 10.0.0.21}                       # port 161, NEMA map: one ring, phase k -> k + 1
      J2: {host: 10.0.0.22, port: 1161, mapping: site/J2-nema.yaml}
    snmp:
      user: phasewise
      auth_key_env: PHASEWISE_SNMP_AUTH_KEY
      priv_key_env: PHASEWISE_SNMP_PRIV_KEY
    patterns: [15, 16]        # the two patterns plans alternate between (not used by the own schedule)
    release_pattern: 0        # systemPatternControl on close: 0 = standby (own schedule)

    backend = load_ntcip_config("site/ntcip.yaml").backend(models)
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from controllers.ntcip import oids
from controllers.ntcip.backend import AgentAddress, NtcipBackend, NtcipSettings
from controllers.ntcip.client import RetryPolicy
from controllers.ntcip.credentials import CredentialsConfig
from optimizer.intersection import IntersectionModel
from phasewise_errors import ConfigError, read_config_file, validation_error


class ControllerConfig(BaseModel):
    """One intersection's controller: address and, optionally, its NEMA mapping file."""

    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False)

    host: str
    port: int = Field(161, ge=1, le=65535)
    mapping: Path | None = None


class NtcipConfig(BaseModel):
    """Controllers, credentials and the backend's settings (see :class:`NtcipSettings`)."""

    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False)

    controllers: dict[str, ControllerConfig] = Field(min_length=1)
    snmp: CredentialsConfig
    patterns: tuple[int, int] = (15, 16)
    phase_control_pattern: int = oids.PATTERN_FREE
    release_pattern: int = oids.PATTERN_STANDBY
    timeout_s: float = Field(0.4, ge=0.01, le=15.0)  # pysnmp counts hundredths; the client's guard is 60 s
    attempts: int = Field(3, ge=1, le=10)
    backoff_s: float = Field(0.1, ge=0, le=60.0)
    reconnect_s: float = Field(5.0, gt=0, le=3600.0)

    @field_validator("patterns")
    @classmethod
    def _two_pattern_numbers(cls, value: tuple[int, int]) -> tuple[int, int]:
        if value[0] == value[1] or any(p not in oids.PATTERN_NUMBERS for p in value):
            raise ValueError("two different pattern numbers in 1..253, e.g. [15, 16]")
        return value

    def settings(self) -> NtcipSettings:
        return NtcipSettings(
            patterns=self.patterns,
            phase_control_pattern=self.phase_control_pattern,
            release_pattern=self.release_pattern,
            retry=RetryPolicy(self.timeout_s, self.attempts, self.backoff_s),
            reconnect_s=self.reconnect_s,
        )

    def backend(
        self, models: Mapping[str, IntersectionModel], clock: Callable[[], float] = time.monotonic,
        settings: NtcipSettings | None = None,
    ) -> NtcipBackend:
        """The backend for these controllers (reads the secrets and mapping files now);
        ``settings`` replaces :meth:`settings` (the daemon bounds requests to its step)."""
        from controllers.ntcip import nema

        missing = sorted(set(self.controllers) - set(models))
        if missing:
            raise ConfigError(f"controllers: no traffic light {', '.join(missing)} in the network")
        maps = {
            tls: nema.load_mapping(c.mapping, models) if c.mapping else nema.phase_map(models[tls])
            for tls, c in self.controllers.items()
        }
        agents = {tls: AgentAddress(c.host, c.port) for tls, c in self.controllers.items()}
        return NtcipBackend(agents, maps, self.snmp.resolve(), settings or self.settings(), clock)


def load_ntcip_config(path: str | Path) -> NtcipConfig:
    """Read and validate ``path`` (YAML); ``ConfigError`` names the file and the field."""
    raw = read_config_file(path)
    try:
        return NtcipConfig.model_validate(raw)
    except ValidationError as exc:
        raise validation_error(path, exc) from None
