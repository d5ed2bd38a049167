"""The daemon's configuration (``phasewise run --config FILE``): declared once, validated at start.

Every error names the file, the field and the fix (``ConfigError``). Relative paths are
relative to the config file's folder. It holds no secret: SNMP credentials are named by
environment variable or key file (``controller.ntcip.snmp``, see ``controllers.ntcip.config``).

Two modes:

* ``sil`` (software in the loop): SUMO runs ``network``; emulated NTCIP cabinets on loopback
  are the controllers; SUMO virtual cameras are the cameras (``examples/sil-corridor.yaml``);
* ``field``: ``cameras.streams`` (RTSP/HTTP/device/file through the vision pipeline) and the
  real controllers of ``controller.ntcip``; ``network`` is the site's SUMO model (intersection
  models and the gate's twin).

Example (``examples/sil-corridor.yaml``)::

    site: sil-corridor
    mode: sil
    speed: 10
    network: {scenario: "corridor:demand=peak,intersections=3"}
    state_dir: ../out/sil-corridor
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal, Optional

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from controllers.ntcip.config import NtcipConfig
from phasewise.web.body_limit import DEFAULT_MAX_BODY_BYTES
from phasewise_errors import ConfigError, read_config_file, validation_error


# upper bounds of durations: beyond them a value is a typo (and threading's waits overflow)
DAY_S, WEEK_S, YEAR_S = 86400.0, 7 * 86400.0, 366 * 86400.0


class _Strict(BaseModel):
    # every number finite: .inf or .nan in YAML is refused at load, naming the field
    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False)


class NetworkConfig(_Strict):
    """The site's SUMO model: exactly one of ``scenario`` (``corridor[:key=value,...]`` or a
    shared scenario name) or ``sumocfg`` (a path)."""

    scenario: Optional[str] = Field(None, description='e.g. "corridor:demand=peak,intersections=3"')
    sumocfg: Optional[Path] = Field(None, description="path to the site's .sumocfg")
    seed: int = Field(1, ge=0, description="simulation and camera-noise seed (sil)")

    @model_validator(mode="after")
    def _one(self) -> NetworkConfig:
        if (self.scenario is None) == (self.sumocfg is None):
            raise ValueError("give exactly one of network.scenario or network.sumocfg")
        return self


class StreamConfig(_Strict):
    """One camera stream: ``url`` is rtsp://, http(s)://, a device number or a video file
    (relative to the config's folder; read to its end, then reopened);
    ``site`` its calibration YAML (lanes, stop lines, homography, approach ids: the
    approach and its lanes named as in ``network``)."""

    name: str
    url: str
    site: Path
    weights: Optional[Path] = Field(None, description="detector weights (default: $PHASEWISE_WEIGHTS or the shared model)")
    step_s: float = Field(1.0, gt=0, le=3600)


class CamerasConfig(_Strict):
    view_m: float = Field(100.0, gt=0, description="SUMO virtual cameras' view (sil)")
    noise: Literal["default", "perfect"] = Field("default", description="SUMO virtual cameras' detection errors (sil)")
    streams: list[StreamConfig] = Field(default_factory=list, description="camera streams (field)")


class EmulatedConfig(_Strict):
    """The emulated controllers of software in the loop (SNMPv2c on loopback)."""

    port: int = Field(0, ge=0, le=65535, description="first UDP port, one per intersection; 0 = any free ports")
    community: str = "public"
    fault_file: Optional[Path] = Field(None, description="JSON file read every step to inject faults (tests, demos)")


class ControllerSection(_Strict):
    ntcip: Optional[NtcipConfig] = Field(None, description="the field controllers (see controllers/ntcip/config.py)")
    emulated: EmulatedConfig = Field(default_factory=EmulatedConfig)
    max_change_per_cycle: float = Field(0.2, gt=0, le=1, description="largest change of cycle/split per cycle (safety layer)")
    preempts: dict[str, dict[int, str]] = Field(
        default_factory=dict,
        description="the controllers' preempt inputs read over NTCIP (preemptState), each the approach its "
                    "receiver watches: {intersection: {preempt number: approach}}, e.g. {J0: {1: W_J0}}")

    @field_validator("preempts")
    @classmethod
    def _preempt_numbers(cls, value: dict[str, dict[int, str]]) -> dict[str, dict[int, str]]:
        for tls, inputs in value.items():
            if not inputs:
                raise ValueError(f"{tls}: give its preempts as {{number: approach}}, e.g. {{1: W_{tls}}}")
            for number, approach in inputs.items():
                if not 1 <= number <= 255:
                    raise ValueError(f"{tls}: preempt {number} is not a preempt number (1..255, the controller's "
                                     "preemptTable row)")
                if not approach.strip():
                    raise ValueError(f"{tls}: preempt {number}: give the approach (an incoming edge, e.g. W_{tls})")
        return value

    @model_validator(mode="after")
    def _requests_fit_the_step(self) -> ControllerSection:
        """Retries a site sets must fit the 1 s step (``daemon/controller_link.py``)."""
        from daemon.controller_link import STEP_REQUEST_BUDGET_S, fits_step, worst_case_s

        if self.ntcip is not None and self.ntcip.model_fields_set & {"timeout_s", "attempts", "backoff_s"}:
            retry = self.ntcip.settings().retry
            if not fits_step(retry):
                raise ValueError(
                    f"ntcip: timeout_s {retry.timeout_s:g} x attempts {retry.attempts} + pauses = "
                    f"{worst_case_s(retry):.2f} s per request, more than the {STEP_REQUEST_BUDGET_S:g} s a request may "
                    f"wait in the daemon's 1 s step; leave timeout_s/attempts/backoff_s out (one attempt of "
                    f"{STEP_REQUEST_BUDGET_S:g} s, retried on later steps) or set attempts: 1, timeout_s <= {STEP_REQUEST_BUDGET_S:g}")
        return self


class ApproachPoint(_Strict):
    """Where buses of a GTFS-realtime feed reach an approach: the stop line's point and the
    direction traffic moves toward it (degrees clockwise from north: 90 = eastbound)."""

    tls: str = Field(min_length=1, description="the intersection, as in network")
    approach: str = Field(min_length=1, description="its incoming edge, e.g. W_J0")
    lat: float = Field(ge=-90, le=90, description="the stop line's latitude (WGS84)")
    lon: float = Field(ge=-180, le=180, description="the stop line's longitude (WGS84)")
    bearing_deg: float = Field(ge=0, lt=360, description="direction of travel toward the stop line, 0-360 from north")
    range_m: float = Field(300.0, gt=0, le=5000, description="a bus this close to the stop line calls (m)")


class GtfsRealtimeSection(_Strict):
    """Buses of a GTFS-realtime feed as transit priority calls (``daemon/gtfs_realtime.py``)."""

    vehicle_positions_url: str = Field(description="the feed's VehiclePositions URL (http or https)")
    trip_updates_url: Optional[str] = Field(None, description="its TripUpdates URL: delays, late buses first")
    poll_s: float = Field(10.0, ge=1, le=3600, description="seconds between polls of the feed")
    timeout_s: float = Field(3.0, gt=0, le=60, description="a poll is given up after this (s)")
    approaches: list[ApproachPoint] = Field(min_length=1, description="per approach: tls, approach, lat, lon, "
                                                                      "bearing_deg, range_m")
    heading_tolerance_deg: float = Field(45.0, gt=0, le=90, description="how far a bus's heading may be off the "
                                                                        "approach's bearing (degrees)")
    nominal_speed_m_s: float = Field(8.0, gt=0, le=40, description="a bus's speed when the feed gives none (m/s)")
    max_age_s: float = Field(120.0, gt=0, le=DAY_S, description="older bus positions are ignored (s)")
    min_delay_s: Optional[float] = Field(None, ge=-DAY_S, le=DAY_S,
                                         description="only buses at least this late call (s; needs trip_updates_url)")
    routes: list[str] = Field(default_factory=list, description="only these route_ids call (default: every vehicle)")

    @field_validator("vehicle_positions_url", "trip_updates_url")
    @classmethod
    def _http(cls, url: str | None) -> str | None:
        if url is not None and not url.lower().startswith(("http://", "https://")):
            raise ValueError(f"{url!r} is not an http(s) URL (give the feed's address, e.g. "
                             "https://agency.example/gtfs-rt/vehicle-positions.pb)")
        return url


class GateSection(_Strict):
    enabled: bool = True
    horizon_s: float = Field(900.0, gt=0, le=DAY_S)
    seeds: int = Field(4, ge=1, le=64)
    workers: int = Field(2, ge=1, le=64)
    timeout_s: float = Field(20.0, gt=0, le=3600, description="the gate fails closed after this wall time (s, up to 3600)")
    deadline_s: float = Field(60.0, gt=0, le=DAY_S,
                              description="an optimizer + gate job is given up after this (timeline s, up to a day)")


class PolicySection(_Strict):
    replan_s: float = Field(300.0, gt=0, le=WEEK_S, description="seconds between re-optimizations (up to a week)")
    coordinate: bool = False
    preemption: bool = Field(True, description="serve emergency vehicles (POST /api/priority, SIL receivers)")
    transit_priority: bool = Field(False, description="favour buses by a bounded extension or early green")
    transit_max_s: float = Field(10.0, ge=0, le=60, description="the most a bus may move a green, s")
    pedestrians: bool = Field(True, description="pedestrian calls from persons seen waiting (off: every walk shown)")
    max_ped_wait_s: float = Field(120.0, ge=30, le=600, description="no pedestrian waits longer than this, s")


class FallbackSection(_Strict):
    camera_stale_s: float = Field(3.0, gt=0, le=DAY_S)
    release_after_s: float = Field(10.0, ge=0, le=DAY_S, description="all cameras out this long: hand control back")
    recover_after_s: float = Field(30.0, ge=0, le=DAY_S, description="all cameras up this long: take control again")


class TokenConfig(_Strict):
    """One dashboard/API token: who holds it, the role it gives, its scrypt hash (never the
    token itself; ``phasewise token new NAME --role ROLE`` prints both)."""

    name: str = Field(pattern=r"^[A-Za-z0-9_-]{1,64}$", description="the holder, as the audit log names them")
    role: Literal["viewer", "engineer", "operator"] = Field(description="viewer, engineer or operator")
    hash: str = Field(description="scrypt$N$r$p$salt$hash from: phasewise token new NAME --role ROLE")

    @model_validator(mode="after")
    def _hash_format(self) -> TokenConfig:
        from phasewise.web.auth import check_hash_format

        problem = check_hash_format(self.hash)
        if problem:
            raise ValueError(problem)
        return self


def _check_unique_names(tokens: list[TokenConfig], where: str) -> None:
    """A token is looked up by its name: a second entry of a name would silently replace the first."""
    seen: set[str] = set()
    for token in tokens:
        if token.name in seen:
            raise ValueError(f"{where}: {token.name} is listed twice; give each holder one token (one name, one role)")
        seen.add(token.name)


class HttpSection(_Strict):
    """The dashboard, API and operations endpoints (``phasewise/web``).

    Refused at load: an address other than loopback with a token whose secret the README
    publishes (the demo tokens of ``examples/sil-corridor.yaml``)."""

    host: str = Field("127.0.0.1", description="listen address; keep 127.0.0.1 behind a TLS reverse proxy (deploy/)")
    port: int = Field(8790, ge=0, le=65535, description="0 = any free port (written to state_dir/http.port)")
    tokens: list[TokenConfig] = Field(default_factory=list, description="who may use the dashboard/API, by role")
    session_s: float = Field(8 * 3600.0, gt=0, le=YEAR_S, description="how long a dashboard login lasts (s, up to a year)")
    secure_cookies: bool = Field(False, description="true when a TLS reverse proxy serves the dashboard (deploy/)")
    login_failures_per_minute: int = Field(5, ge=1, description="failed logins per client per minute before 429")
    max_body_bytes: int = Field(DEFAULT_MAX_BODY_BYTES, ge=1,
                                description="a request body larger than this is refused (413) before it is read")
    trusted_proxies: list[str] = Field(
        default_factory=list, description='addresses whose X-Forwarded-For is believed, e.g. ["127.0.0.1"] behind '
                                          "deploy/'s nginx; none by default")

    @field_validator("host")
    @classmethod
    def _an_address(cls, host: str) -> str:
        if not host.strip():
            raise ValueError("give an address to listen on, e.g. 127.0.0.1 ('' would mean every interface: say 0.0.0.0)")
        return host

    @model_validator(mode="after")
    def _one_token_per_name(self) -> HttpSection:
        _check_unique_names(self.tokens, "http.tokens")
        return self

    @model_validator(mode="after")
    def _proxies_are_addresses(self) -> HttpSection:
        from phasewise.web.auth import proxy_problem

        problem = next((p for p in map(proxy_problem, self.trusted_proxies) if p), "")
        if problem:
            raise ValueError(f"http.trusted_proxies: {problem}")
        return self

    @model_validator(mode="after")
    def _no_published_tokens_off_loopback(self) -> HttpSection:
        from phasewise.web.auth import is_loopback, published_tokens

        if is_loopback(self.host):
            return self
        published = published_tokens((t.name, t.hash) for t in self.tokens)
        if published:
            raise ValueError(
                f"http.host {self.host} is not a loopback address and http.tokens {', '.join(published)} are demo "
                "tokens whose secrets the README publishes (fix: make your own with phasewise token new NAME "
                "--role ROLE, or keep http.host 127.0.0.1)")
        return self


class TokensFile(_Strict):
    """``phasewise serve --tokens FILE``: the ``tokens:`` list of a daemon config's ``http:``."""

    tokens: list[TokenConfig] = Field(description="[{name, role, hash}, ...]")

    @model_validator(mode="after")
    def _one_token_per_name(self) -> TokensFile:
        _check_unique_names(self.tokens, "tokens")
        return self


def load_tokens_file(path: str | Path) -> TokensFile:
    file = Path(path)
    raw = read_config_file(file, hint="; give a YAML file with tokens: [{name, role, hash}]")
    try:
        return TokensFile.model_validate(raw)
    except ValidationError as exc:
        raise validation_error(file, exc, "") from None


class LogSection(_Strict):
    level: Literal["debug", "info", "warning", "error"] = "info"
    format: Literal["json", "text"] = "json"


class RunConfig(_Strict):
    """``phasewise run``'s whole configuration (module docstring)."""

    site: str = Field(description="a name for logs and metrics")
    mode: Literal["sil", "field"] = "sil"
    network: NetworkConfig
    speed: float = Field(1.0, ge=0, description="sil: simulated seconds per wall second (0 = as fast as possible)")
    duration_s: Optional[float] = Field(None, gt=0, le=YEAR_S,
                                        description="sil: simulated seconds to run (default: the scenario's period)")
    cameras: CamerasConfig = Field(default_factory=CamerasConfig)
    controller: ControllerSection = Field(default_factory=ControllerSection)
    gate: GateSection = Field(default_factory=GateSection)
    policy: PolicySection = Field(default_factory=PolicySection)
    fallback: FallbackSection = Field(default_factory=FallbackSection)
    http: HttpSection = Field(default_factory=HttpSection)
    gtfs_realtime: Optional[GtfsRealtimeSection] = Field(
        None, description="buses of a GTFS-realtime feed as transit priority calls (needs policy.transit_priority)")
    log: LogSection = Field(default_factory=LogSection)
    state_dir: Path = Field(description="where state.sqlite, counts/ and decisions.jsonl live")

    @field_validator("state_dir", mode="before")
    @classmethod
    def _a_folder(cls, value: object) -> object:
        if isinstance(value, str) and not value.strip():
            raise ValueError("give a folder (relative to the config's folder, e.g. ../out/site)")
        return value

    @model_validator(mode="after")
    def _mode_needs(self) -> RunConfig:
        if self.mode == "field":
            if self.controller.ntcip is None:
                raise ValueError("mode field needs controller.ntcip (controllers and snmp credentials)")
            if not self.cameras.streams:
                raise ValueError("mode field needs cameras.streams (one per camera stream)")
            unwired = sorted(set(self.controller.preempts) - set(self.controller.ntcip.controllers))
            if unwired:
                raise ValueError(f"controller.preempts: {', '.join(unwired)} has no controller in controller.ntcip."
                                 "controllers (fix: list its controller, or drop its preempts)")
        if self.controller.preempts and not self.policy.preemption:
            raise ValueError("controller.preempts needs policy.preemption: true (emergency calls are off at this site)")
        feed = self.gtfs_realtime
        if feed is not None and not self.policy.transit_priority:
            raise ValueError("gtfs_realtime needs policy.transit_priority: true (bus calls are off at this site)")
        if feed is not None and feed.min_delay_s is not None and feed.trip_updates_url is None:
            raise ValueError("gtfs_realtime.min_delay_s needs gtfs_realtime.trip_updates_url (delays come from the "
                             "feed's TripUpdates)")
        return self


def _relative_to(base: Path, config: RunConfig) -> RunConfig:
    def fix(p: Path | None) -> Path | None:
        return None if p is None or p.is_absolute() else (base / p)

    updates: dict = {"state_dir": fix(config.state_dir) or config.state_dir}
    if config.network.sumocfg is not None:
        updates["network"] = config.network.model_copy(update={"sumocfg": fix(config.network.sumocfg) or config.network.sumocfg})

    def fix_url(url: str) -> str:
        from vision.stream import is_stream_spec

        return url if is_stream_spec(url) else str(fix(Path(url)) or url)

    streams = [s.model_copy(update={"site": fix(s.site) or s.site, "weights": fix(s.weights) or s.weights,
                                    "url": fix_url(s.url)})
               for s in config.cameras.streams]
    updates["cameras"] = config.cameras.model_copy(update={"streams": streams})
    emulated = config.controller.emulated
    if emulated.fault_file is not None:
        updates["controller"] = config.controller.model_copy(
            update={"emulated": emulated.model_copy(update={"fault_file": fix(emulated.fault_file) or emulated.fault_file})})
    return config.model_copy(update=updates)


def load_run_config(path: str | Path) -> RunConfig:
    """Read and validate ``path``; ``ConfigError`` names the file, the field and the fix."""
    file = Path(path)
    raw = read_config_file(file, hint="; give the path of a YAML config, e.g. examples/sil-corridor.yaml")
    if not isinstance(raw, dict):
        raise ConfigError(f"{file}: expected a mapping of settings (site:, network:, state_dir:, ...)")
    try:
        config = RunConfig.model_validate(raw)
    except ValidationError as exc:
        field = ".".join(str(x) for x in exc.errors()[0]["loc"]) or "(top level)"
        raise validation_error(file, exc, _fix(field)) from None
    return _relative_to(file.resolve().parent, config)


def _fix(field: str) -> str:
    """The description of the field, or of the nearest field around it that has one, as the fix."""
    model: type[BaseModel] | None = RunConfig
    described = None
    for part in field.split("."):
        if part.isdigit() and described is not None:
            continue  # a list's index: the fix is its entries' field's
        if model is None or part not in model.model_fields:
            break
        info = model.model_fields[part]
        described = info if info.description else described
        annotation = info.annotation
        args = getattr(annotation, "__args__", ())
        model = next((a for a in (annotation, *args) if isinstance(a, type) and issubclass(a, BaseModel)), None)
    return f" (fix: {described.description})" if described is not None else ""
