"""``phasewise run --config FILE``: the headless daemon of one site (``daemon``).

This module only reads the config (``phasewise.config``) and wires the parts: the site's
models from its SUMO network, the cameras (SUMO virtual cameras in software in the loop, video
streams through the vision pipeline in the field), the adaptive policy with its strategic
layer in a worker, the safety layer in front of the NTCIP backend, the state store, metrics
and HTTP endpoints, signals (SIGTERM/SIGINT: stop, SIGHUP: reload) and systemd notification.

    phasewise run --config examples/sil-corridor.yaml
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import math
import multiprocessing
import os
import signal
import sys
import threading
import time
import tracemalloc
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from phasewise.app import app
from phasewise.config import RunConfig, load_run_config
from phasewise_errors import ConfigError, PhasewiseError

if TYPE_CHECKING:
    from calibration.site import SiteConfig

log = logging.getLogger("phasewise.run")

LOCK_FILE = "daemon.lock"
GATE_WORKER_NICE = 10  # the gate's SUMO twins yield the CPU to the 1 s control loop (PHASEWISE_GATE_NICE: benchmarks)
STOP_BUDGET_S = 5.0  # SIGTERM to exit, worst case (systemd's TimeoutStopSec is larger)
SIL_FINISH_MARGIN_S = 2.5  # software in the loop: closing SUMO and reading its trips after the stop


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time (UTC), level, logger, message (+ exception)."""

    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, Any] = {
            "t": dt.datetime.fromtimestamp(record.created, dt.timezone.utc).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(), "logger": record.name, "msg": record.getMessage(),
        }
        if record.exc_info:
            out["exc"] = self.formatException(record.exc_info)
        return json.dumps(out)


def configure_logging(config: RunConfig) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if config.log.format == "json" else
                         logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(config.log.level.upper())


def _settings(config: RunConfig):  # type: ignore[no-untyped-def]
    from daemon.loop import DaemonSettings

    f = config.fallback
    return DaemonSettings(camera_stale_s=f.camera_stale_s, release_after_s=f.release_after_s,
                          recover_after_s=f.recover_after_s, strategic_deadline_s=config.gate.deadline_s)


def _scenario(config: RunConfig):  # type: ignore[no-untyped-def]
    from phasewise.scenarios import resolve

    net = config.network
    scenario = resolve(net.sumocfg, net.scenario, [net.seed])[0]
    if config.duration_s is not None:
        scenario = scenario.with_period(end_s=scenario.begin_s + config.duration_s)
    return scenario


def check_camera_coverage(models: dict, layouts: dict, config_path: Path) -> None:
    """Field mode: every camera watches an approach of the network, with lanes of that approach.

    A camera's approach and lanes carry the network's names (the incoming edge and its lanes
    at the stop line, set in the camera's site file; one site file may hold lanes of several
    approaches, a corner camera's), or the policy cannot tell which phase serves what it
    sees. An approach no camera watches is allowed: its phases run their plan greens (on
    recall, ``controllers.adaptive_policy``), and the daemon says so at start and on the
    dashboard.
    """
    approaches = {a: tls for tls, m in models.items() for a in m.approaches}
    unknown = sorted(set(layouts) - set(approaches))
    if unknown:
        raise ConfigError(
            f"{config_path}: cameras.streams: approach {', '.join(unknown)} of a stream's site file is not an approach of "
            f"the network (approaches: {', '.join(sorted(approaches))}) (fix: name the site file's lanes' approach as "
            "the network's incoming edge, and its lanes as that edge's lanes)")
    for tls, model in models.items():
        lanes = {link.from_lane for link in model.links}
        for approach in (a for a in model.approaches if a in layouts):
            unseen = [lane for lane in layouts[approach].lanes if lane not in lanes]
            if len(unseen) == len(layouts[approach].lanes):
                raise ConfigError(
                    f"{config_path}: cameras.streams: approach {approach}: none of the site file's lanes "
                    f"({', '.join(unseen)}) is a lane of the network's {approach} (fix: name the lanes as the "
                    f"network's, e.g. {', '.join(sorted(l for l in lanes if l.startswith(approach)))})")
            if unseen:
                log.info("approach %s: lanes %s are count-only (no lane of that name in the network)",
                         approach, ", ".join(unseen))


def crosswalk_signals(models: dict, site: SiteConfig, site_path: Path) -> dict[str, tuple[str, int]]:
    """The site file's crosswalks as the network's crossings: name -> (intersection, crossing
    signal index). Each names a crossing by its SUMO crossing edge id (``:J0_c3``): a name
    the network does not have is a ConfigError listing the ones it has (a misspelt crossing
    would never call)."""
    crossings = {c.edge: (tls, c) for tls, m in models.items() for c in m.crossings}
    out = {}
    for k, crosswalk in enumerate(site.crosswalks):
        found = crossings.get(crosswalk.crossing)
        if found is None:
            have = ", ".join(f"{edge} (across {'/'.join(c.crossed_edges) or '?'} at {tls})"
                             for edge, (tls, c) in sorted(crossings.items()))
            raise ConfigError(
                f"{site_path}: crosswalks.{k}.crossing: no crossing {crosswalk.crossing!r} in the network "
                + (f"(its crossings: {have}) (fix: name the crossing edge the waiting areas lead onto)" if have else
                   "(it has no signalised crossings) (fix: remove crosswalks, or use a network with crossings)"))
        tls, crossing = found
        out[crosswalk.crossing] = (tls, crossing.index)
    return out


def check_priority_sources(config: RunConfig, models: dict, config_path: Path) -> None:
    """The preempt inputs and the GTFS-realtime approaches name intersections and approaches
    of the network (a misspelt one would never call)."""

    def where(key: str, tls: str, approach: str) -> None:
        if tls not in models:
            raise ConfigError(f"{config_path}: {key}: no intersection {tls} in the network (have "
                              f"{', '.join(sorted(models))}) (fix: name it as the network's traffic light)")
        if approach not in models[tls].approaches:
            raise ConfigError(f"{config_path}: {key}: {tls} has no approach {approach} (its approaches: "
                              f"{', '.join(models[tls].approaches)}) (fix: name the incoming edge the vehicle comes on)")

    for tls, inputs in config.controller.preempts.items():
        for number, approach in inputs.items():
            where(f"controller.preempts.{tls}.{number}", tls, approach)
    if config.gtfs_realtime is not None:
        for k, point in enumerate(config.gtfs_realtime.approaches):
            where(f"gtfs_realtime.approaches.{k}", point.tls, point.approach)


class Site:
    """Everything ``phasewise run`` builds from a config; :meth:`run` until stopped."""

    def __init__(self, config: RunConfig, config_path: Path) -> None:
        from controllers.adaptive_policy import AdaptiveConfig, AdaptivePolicy
        from daemon.clock import SteppedClock, SystemClock
        from daemon.loop import Daemon
        from daemon.prometheus import Metrics
        from daemon.notify import Notifier
        from daemon.store import JsonlLog, StateStore
        from daemon.strategic import StrategicWorker
        from sumo_scenarios.network import load_intersections
        from sumo_scenarios.sensing import CameraNoise

        self.config, self.config_path = config, config_path
        self.metrics = Metrics()
        self.store = StateStore(config.state_dir, self.metrics)
        self.scenario = _scenario(config)
        models = load_intersections(self.scenario.net_file, program_files=self.scenario.additional_files)
        self.models = models
        check_priority_sources(config, models, config_path)
        self.world = None
        noise = CameraNoise() if config.cameras.noise == "default" else CameraNoise.perfect()
        if config.mode == "sil":
            from daemon.sil_world import SilWorld

            from datetime import datetime, timedelta

            from daemon.sil_world import EventLogSettings

            emulated = config.controller.emulated
            stored = self.store.get("clock_s")
            # the simulated timeline continues across restarts (counts' bins stay in order)
            start = float(stored.decode()) + 1.0 if stored else math.floor(time.time() / 900.0) * 900.0
            # the event log's time stamps follow the same clock (UTC, as the counts)
            epoch = datetime(1970, 1, 1) + timedelta(seconds=start - self.scenario.begin_s)
            self.world = SilWorld(self.scenario, models, config.network.seed, emulated.port, emulated.community,
                                  config.cameras.view_m, noise, emulated.fault_file,
                                  events=EventLogSettings(config.state_dir / "events", epoch),
                                  preempts=config.controller.preempts)
            (config.state_dir / "sil-ports.json").write_text(json.dumps(self.world.ports) + "\n")
            self.clock: Any = SteppedClock(start, config.speed)
            cameras: Any = self.world.camera_source()
            rates = noise.detection_rates()
        else:
            from counting.estimator import DetectionRates

            self.clock = SystemClock()
            cameras = self._streams(models)
            rates = DetectionRates()
        gate = None
        if config.gate.enabled:
            from controllers.gate import GateConfig, PlanGate

            g = config.gate
            gate = PlanGate(self.scenario.net_file, dict(models),
                            GateConfig(horizon_s=g.horizon_s, seeds=g.seeds, workers=g.workers, timeout_s=g.timeout_s,
                                       worker_nice=int(os.environ.get("PHASEWISE_GATE_NICE", GATE_WORKER_NICE))),
                            workdir=config.state_dir / "gate", sumo_options=self.scenario.sumo_options)
        # the signal links: exits into other signals (exit room), clusters (gridlock watchdog),
        # and with coordination the offsets
        from optimizer.corridor_network import find_links

        links = tuple(find_links(self.scenario.net_file, dict(models)))
        policy = AdaptivePolicy(models, cameras.layouts, self.clock.now_s(),
                                AdaptiveConfig(replan_s=config.policy.replan_s, coordinate=config.policy.coordinate,
                                               preemption=config.policy.preemption,
                                               transit_priority=config.policy.transit_priority,
                                               transit_max_s=config.policy.transit_max_s,
                                               pedestrians=config.policy.pedestrians,
                                               max_ped_wait_s=config.policy.max_ped_wait_s,
                                               view_m=config.cameras.view_m, use_gate=config.gate.enabled,
                                               optimize_wall_s=config.gate.deadline_s / 2),
                                rates=rates, evaluator=None, links=links, strategic_inline=False)
        strategic = StrategicWorker(policy.candidate_plan, gate, config.gate.deadline_s)
        self.daemon = Daemon(policy, cameras, self._backend_factory(), strategic, self.store, self.clock, self.metrics,
                             _settings(config), JsonlLog(config.state_dir / "decisions.jsonl", self.metrics),
                             Notifier(), self.world, priority_sources=self._priority_sources())
        self.daemon.on_reload = self.reload
        self.http = self._web()
        (config.state_dir / "http.port").write_text(f"{self.http.port}\n")

    def _priority_sources(self) -> list:
        """The field's sources of priority calls (``daemon/field_priority.py``): each
        controller's preempt inputs over NTCIP, and the GTFS-realtime feed's buses."""
        from controllers.ntcip.client import RetryPolicy, SnmpClient
        from daemon.field_priority import PREEMPT_POLL_S, preempt_source

        config, sources = self.config, []
        # every simulated second in software in the loop (whose timeline runs `speed` times
        # the wall's), every second in the field
        poll_s = PREEMPT_POLL_S if self.world is None else PREEMPT_POLL_S / config.speed if config.speed else 0.05
        poll_s = max(poll_s, 0.05)
        # one short attempt per poll, on the source's own thread: the next poll is the retry
        retry = RetryPolicy(timeout_s=PREEMPT_POLL_S / 2, attempts=1, backoff_s=0.0)
        for tls, inputs in config.controller.preempts.items():
            if self.world is not None:
                from controllers.ntcip.credentials import V2cCredentials

                host, port = "127.0.0.1", self.world.ports[tls]
                credentials: Any = V2cCredentials(community=config.controller.emulated.community)  # type: ignore[arg-type]
            else:
                assert config.controller.ntcip is not None
                controller = config.controller.ntcip.controllers[tls]
                host, port, credentials = controller.host, controller.port, config.controller.ntcip.snmp.resolve()
            sources.append(preempt_source(tls, SnmpClient(host, port, credentials, retry), inputs, self.metrics,
                                          poll_s=poll_s, stale_s=max(3 * poll_s, PREEMPT_POLL_S)))
        feed = config.gtfs_realtime
        if feed is not None:
            from daemon.gtfs_realtime import Approach, BusMatch, gtfs_source

            approaches = [Approach(a.tls, a.approach, a.lat, a.lon, a.bearing_deg, a.range_m) for a in feed.approaches]
            match = BusMatch(feed.heading_tolerance_deg, feed.nominal_speed_m_s, feed.max_age_s, feed.min_delay_s,
                             frozenset(feed.routes))
            sources.append(gtfs_source(feed.vehicle_positions_url, feed.trip_updates_url, approaches, match,
                                       feed.poll_s, feed.timeout_s, self.metrics))
        return sources

    def _web(self):  # type: ignore[no-untyped-def]
        """The dashboard, API and operations endpoints on ``http.host:port`` (``phasewise/web``)."""
        from daemon.view import DaemonView
        from phasewise.web.api import OpsProbes, create_app
        from phasewise.web.audit import AuditLog
        from phasewise.web.auth import Authenticator, LoginLimiter, TokenRecord
        from phasewise.web.server import WebServer

        http = self.config.http
        view = DaemonView(self.config.site, self.daemon, self.scenario.net_file,
                          self.config.controller.max_change_per_cycle)
        self.daemon.view = view
        self.auth = auth = Authenticator([TokenRecord(t.name, t.role, t.hash) for t in http.tokens], http.session_s,
                                         LoginLimiter(http.login_failures_per_minute, 60.0))
        if not http.tokens:
            log.warning("http.tokens is empty: the dashboard and API refuse everyone (phasewise token new NAME --role ROLE)")
        app = create_app(view, auth, AuditLog(self.config.state_dir / "audit.jsonl"),
                         OpsProbes(self._render_metrics, self.daemon.alive, self.daemon.ready), http.secure_cookies,
                         counts_csv=view.counts_csv, max_body_bytes=http.max_body_bytes,
                         event_log=self.config.state_dir / "events" if self.world is not None else None)
        return WebServer(app, http.host, http.port, http.trusted_proxies)

    def _render_metrics(self) -> str:
        # with PHASEWISE_TRACEMALLOC=1 (benchmarks/daemon_soak.py) /metrics also shows the
        # Python heap alone: in software in the loop, SUMO's memory is in the same process
        if tracemalloc.is_tracing():
            self.metrics.set("phasewise_python_heap_bytes", float(tracemalloc.get_traced_memory()[0]))
        return self.metrics.render()

    def _backend_factory(self):  # type: ignore[no-untyped-def]
        from daemon.controller_link import STEP_RETRY, step_settings
        from controllers.safety import SafeBackend

        config, models, clock = self.config, self.models, self.clock
        change = config.controller.max_change_per_cycle
        if self.world is not None:
            from controllers.ntcip.backend import AgentAddress, NtcipBackend
            from controllers.ntcip.credentials import V2cCredentials

            ports = self.world.ports

            def sil_backend():  # type: ignore[no-untyped-def]
                ntcip = NtcipBackend.from_models(
                    models, {tls: AgentAddress("127.0.0.1", port) for tls, port in ports.items()},
                    V2cCredentials(community=config.controller.emulated.community),  # type: ignore[arg-type]
                    step_settings(), clock=clock.now_s)
                return SafeBackend(ntcip, models, max_change_per_cycle=change, clock=clock.now_s)

            return sil_backend
        ntcip_config = config.controller.ntcip
        assert ntcip_config is not None
        # requests bounded to the step (controller_link); retries and pauses a site sets win
        # (the config refuses retries that do not fit the step)
        explicit = ntcip_config.model_fields_set
        own = ntcip_config.settings()
        settings = step_settings(own, own.retry if explicit & {"timeout_s", "attempts", "backoff_s"} else STEP_RETRY)
        if "reconnect_s" in explicit:
            settings = replace(settings, reconnect_s=own.reconnect_s)

        def field_backend():  # type: ignore[no-untyped-def]
            return SafeBackend(ntcip_config.backend(models, clock.now_s, settings), models,
                               max_change_per_cycle=change, clock=clock.now_s)

        return field_backend

    def _streams(self, models: dict):  # type: ignore[no-untyped-def]
        """One reconnecting reader per video stream, through the vision pipeline."""
        from calibration.site import load_site
        from daemon.cameras import CombinedSource, StreamCameraSource
        from counting.video_source import VideoCameraSource, approach_layouts

        streams = self.config.cameras.streams
        sites = [load_site(stream.site) for stream in streams]
        watched_by: dict[str, str] = {}
        for stream, site in zip(streams, sites):
            for approach in approach_layouts(site):
                if approach in watched_by:
                    raise ConfigError(
                        f"{self.config_path}: cameras.streams: approach {approach} is in the site files of streams "
                        f"{watched_by[approach]} and {stream.name} (fix: give each approach's lanes to one stream)")
                watched_by[approach] = stream.name
        check_camera_coverage(models, {a: lay for site in sites for a, lay in approach_layouts(site).items()},
                              self.config_path)
        signals = [crosswalk_signals(models, site, stream.site)
                   for stream, site in zip(streams, sites)]
        if any(signals) and not self.config.policy.pedestrians:
            log.warning("the site files' crosswalks place no pedestrian calls: policy.pedestrians is off "
                        "(the controllers' pedestrian recall serves the crossings)")
        sources = []
        for stream, site, crossings in zip(self.config.cameras.streams, sites, signals):

            def open_stream(stream=stream, site=site, crossings=crossings):  # type: ignore[no-untyped-def]
                from vision.detector import load_detector
                from vision.stream import LiveStream, is_stream_spec
                from vision.video import VideoFile

                frames = LiveStream(stream.url) if is_stream_spec(stream.url) else VideoFile(stream.url)
                return VideoCameraSource(frames, load_detector(stream.weights, conf=0.15), site, step_s=stream.step_s,
                                         crossings=crossings)

            sources.append(StreamCameraSource(stream.name, approach_layouts(site), open_stream, self.metrics))
        return CombinedSource(sources)

    def reload(self) -> None:
        """SIGHUP: re-read the config; apply what can change live, name what needs a restart."""
        from daemon.loop import DaemonSettings  # noqa: F401

        try:
            new = load_run_config(self.config_path)
        except PhasewiseError as exc:
            log.error("reload refused, keeping the running config: %s", exc)
            return
        live = {"fallback", "log", "gate"}
        changed = [k for k in RunConfig.model_fields if getattr(new, k) != getattr(self.config, k)]
        # the dashboard's tokens, session length and login limit apply live (a revoked token
        # stops working at once); its address and cookie flag need a restart
        access = {"tokens", "session_s", "login_failures_per_minute"}
        http_live = new.http.model_dump(exclude=access) == self.config.http.model_dump(exclude=access)
        restart = [k for k in changed if k not in live and not (k == "http" and http_live)]
        self._reload_access(new)
        configure_logging(new)
        self.daemon.settings = _settings(new)
        self.daemon.health.stale_s = new.fallback.camera_stale_s
        self.daemon.strategic.deadline_s = new.gate.deadline_s
        self.config = new
        log.info("config reloaded (%s)%s", ", ".join(changed) or "no change",
                 f"; takes effect at restart: {', '.join(restart)}" if restart else "")

    def _reload_access(self, new: RunConfig) -> None:
        from phasewise.web.auth import TokenRecord

        self.auth.set_tokens([TokenRecord(t.name, t.role, t.hash) for t in new.http.tokens])
        self.auth.session_s = new.http.session_s
        self.auth.limiter.max_failures = new.http.login_failures_per_minute

    def run(self) -> None:
        self.http.start()
        self.daemon.start()
        log.info("running %s (%s, %d intersections, http://%s:%d)", self.config.site, self.config.mode,
                 len(self.models), self.config.http.host, self.http.port)
        world = self.world
        self.daemon.run(until=(lambda: world.done) if world is not None else (lambda: False))

    def stop(self) -> None:
        """Children first (a running gate call is abandoned, not awaited), then the controllers
        released and the state flushed, then the web server."""
        started = time.monotonic()
        kill_children()
        self.daemon.shutdown()
        released = time.monotonic() - started
        self.http.stop()
        closer = threading.Thread(target=self.daemon.strategic.close, daemon=True)  # the gate's files and pool
        closer.start()
        closer.join(0.5)
        log.info("stopped: controllers released and state flushed in %.1f s, web server and workers in %.1f s",
                 released, time.monotonic() - started - released)


def kill_children() -> None:
    """SIGKILL every process this one started (gate twins with what they started, the
    multiprocessing tracker follows them); nothing of theirs is awaited."""
    for child in multiprocessing.active_children():
        try:
            os.killpg(child.pid, signal.SIGKILL) if os.getpgid(child.pid) == child.pid else child.kill()
        except OSError:
            pass
    # the multiprocessing resource tracker ends by itself once this process and the killed
    # workers have closed its pipe (killing it makes multiprocessing start another)


def lock_state_dir(state_dir: Path, config_path: Path):  # type: ignore[no-untyped-def]
    """One daemon per state dir: an exclusive lock on ``state_dir/daemon.lock`` held for the
    process's life (the kernel drops it when the process ends, also on ``kill -9``); the
    file names the PID holding it. A second daemon gets a ConfigError naming that PID."""
    import fcntl

    try:
        state_dir.mkdir(parents=True, exist_ok=True)
        handle = open(state_dir / LOCK_FILE, "a+", encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"{config_path}: state_dir {state_dir}: cannot be used ({exc.strerror}) "
                          "(fix: a folder the daemon's user may write)") from None
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        handle.seek(0)
        pid = handle.read().strip() or "unknown"
        handle.close()
        raise ConfigError(f"{config_path}: state_dir {state_dir} is in use by another phasewise run (PID {pid}) "
                          "(fix: stop that daemon first, or give this site its own state_dir)") from None
    handle.seek(0)
    handle.truncate()
    handle.write(f"{os.getpid()}\n")
    handle.flush()
    return handle


@app.command("run")
def run(
    config: Annotated[Path, typer.Option("--config", help="the site's daemon config (YAML), e.g. examples/sil-corridor.yaml")],
) -> None:
    """Run the headless daemon of one site: cameras -> estimator -> policy -> safety -> controller."""
    cfg = load_run_config(config)
    configure_logging(cfg)
    lock = lock_state_dir(cfg.state_dir, config)  # noqa: F841 (held until the process ends)
    try:
        site = Site(cfg, config)
    except PhasewiseError:
        raise
    except OSError as exc:
        raise ConfigError(f"{config}: cannot start: {exc}") from None
    if os.environ.get("PHASEWISE_TRACEMALLOC") == "1":
        # measurement only (benchmarks/daemon_soak.py): from here on, every Python allocation
        # is traced (and slower); start-up, with its imports, is not
        tracemalloc.start(1)
    stopping = threading.Event()

    signal_at: list[float] = []
    interrupted: list[bool] = []  # Ctrl-C: exit 130 once stopped cleanly (SIGTERM, systemd's stop: 0)

    def on_stop(signum: int, frame: object) -> None:
        log.info("signal %d: stopping", signum)
        signal_at.append(time.monotonic())
        if signum == signal.SIGINT:
            interrupted.append(True)
        stopping.set()
        site.daemon.stop_event.set()

    signal.signal(signal.SIGTERM, on_stop)
    signal.signal(signal.SIGINT, on_stop)
    signal.signal(signal.SIGHUP, lambda s, f: site.daemon.reload_requested.set())
    try:
        site.run()
    finally:
        site.stop()
    if site.world is not None:
        # stopped by a signal: the static baseline gets what is left of the stop budget, after a
        # margin for closing SUMO and reading its trips (none left: not computed)
        left_s = STOP_BUDGET_S - SIL_FINISH_MARGIN_S - (time.monotonic() - signal_at[0]) if signal_at else 120.0
        result = site.world.finish(static_timeout_s=left_s if left_s >= 0.5 else 0.0)
        (cfg.state_dir / "sil-summary.json").write_text(json.dumps(result.__dict__, indent=1) + "\n")
        typer.echo(result.table())
    if interrupted:
        raise KeyboardInterrupt  # exit 130, "phasewise: interrupted" (phasewise.app)
