"""Prometheus metrics of the daemon (text exposition format 0.0.4), no dependency.

Names are ``phasewise_*`` in base units (seconds, vehicles); counters end in ``_total``.
The loop thread writes, the HTTP thread renders: every access holds one lock.

Example::

    metrics = Metrics()
    metrics.inc("phasewise_gate_decisions_total", result="switch")
    metrics.set("phasewise_camera_up", 1, camera="J1_n")
    metrics.render()   # '# TYPE phasewise_camera_up gauge\\nphasewise_camera_up{camera="J1_n"} 1\\n...'
"""

from __future__ import annotations

import threading
from collections.abc import Iterable

HELP = {
    "phasewise_up": ("gauge", "1 while the tactical loop runs"),
    "phasewise_steps_total": ("counter", "tactical loop steps"),
    "phasewise_step_errors_total": ("counter", "steps that failed on an unexpected error (logged with traceback)"),
    "phasewise_step_seconds": ("histogram", "wall time of one tactical step (cameras, status, policy, commands)"),
    "phasewise_step_seconds_max": ("gauge", "longest tactical step so far"),
    "phasewise_step_deadline_missed_total": ("counter", "steps whose work took longer than the step"),
    "phasewise_camera_up": ("gauge", "1 when the camera delivers plausible frames"),
    "phasewise_camera_faults_total": ("counter", "camera frames replaced by an outage frame, by reason"),
    "phasewise_camera_reconnects_total": ("counter", "camera stream reconnect attempts"),
    "phasewise_controller_up": ("gauge", "1 when the controller answers and obeys central commands"),
    "phasewise_controller_errors_total": ("counter", "status/command/plan errors from the controller"),
    "phasewise_control_released": ("gauge", "1 while control is handed back to the controller's own schedule"),
    "phasewise_control_releases_total": ("counter", "times control was handed back (all cameras lost)"),
    "phasewise_queue_vehicles": ("gauge", "queue per intersection seen by the cameras"),
    "phasewise_pedestrians_waiting": ("gauge", "persons the cameras see waiting at a crossing (by intersection and "
                                      "crossing signal index); each places a pedestrian call"),
    "phasewise_gate_decisions_total": ("counter", "strategic decisions: switch, keep, timeout, error"),
    "phasewise_plan_cycle_seconds": ("gauge", "cycle of the running plan"),
    "phasewise_plans_applied_total": ("counter", "plans sent to the controller"),
    "phasewise_plans_refused_total": ("counter", "plans the safety layer or the controller refused"),
    "phasewise_commands_refused_total": ("counter", "phase commands the safety layer refused"),
    "phasewise_vehicles_counted_total": ("counter", "stop-line crossings counted"),
    "phasewise_state_write_errors_total": ("counter", "failed writes of the state store, exports or logs"),
    "phasewise_state_restored": ("gauge", "1 when learnt state was restored at start"),
    "phasewise_clock_jumps_total": ("counter", "wall-clock jumps detected (the timeline keeps going)"),
    "phasewise_gridlocks_total": ("counter", "gridlocks the watchdog recognised: an intersection or cluster where vehicles "
                                  "wait and none get away (each logged with its start and end)"),
    "phasewise_preemptions_total": ("counter", "emergency preemptions served (one per vehicle and intersection)"),
    "phasewise_priority_calls_total": ("counter", "priority calls from field sources (NTCIP preempt inputs, "
                                       "GTFS-realtime buses), by source and vehicle class"),
    "phasewise_priority_source_up": ("gauge", "1 when a field source of priority calls answered its last poll"),
    "phasewise_priority_source_errors_total": ("counter", "failed polls of a field source of priority calls"),
    "phasewise_monitor_violations_total": ("counter", "conflict-monitor violations (software in the loop)"),
}
STEP_BUCKETS_S = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)


def _labels(labels: dict[str, str]) -> str:
    if not labels:
        return ""
    body = ",".join(f'{k}="{str(v).replace(chr(92), chr(92) * 2).replace(chr(34), chr(92) + chr(34))}"'
                    for k, v in sorted(labels.items()))
    return "{" + body + "}"


class Metrics:
    """Counters, gauges and one histogram (step time), keyed by name and labels."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._values: dict[tuple[str, tuple[tuple[str, str], ...]], float] = {}
        self._hist: dict[str, list[float]] = {}  # name -> [bucket counts..., sum, count]

    def inc(self, name: str, amount: float = 1.0, **labels: str) -> None:
        key = (name, tuple(sorted(labels.items())))
        with self._lock:
            self._values[key] = self._values.get(key, 0.0) + amount

    def set(self, name: str, value: float, **labels: str) -> None:
        with self._lock:
            self._values[(name, tuple(sorted(labels.items())))] = float(value)

    def get(self, name: str, **labels: str) -> float:
        with self._lock:
            return self._values.get((name, tuple(sorted(labels.items()))), 0.0)

    def observe(self, name: str, value: float) -> None:
        with self._lock:
            h = self._hist.setdefault(name, [0.0] * (len(STEP_BUCKETS_S) + 2))
            for i, bound in enumerate(STEP_BUCKETS_S):
                if value <= bound:
                    h[i] += 1
            h[-2] += value
            h[-1] += 1

    def render(self) -> str:
        with self._lock:
            values = dict(self._values)
            hists = {k: list(v) for k, v in self._hist.items()}
        lines: list[str] = []
        names = sorted({name for name, _ in values} | set(hists))
        for name in names:
            kind, text = HELP.get(name, ("gauge", name))
            lines += [f"# HELP {name} {text}", f"# TYPE {name} {kind}"]
            if name in hists:
                h = hists[name]
                for bound, count in zip(STEP_BUCKETS_S, h):
                    lines.append(f'{name}_bucket{{le="{bound:g}"}} {count:g}')
                lines += [f'{name}_bucket{{le="+Inf"}} {h[-1]:g}', f"{name}_sum {h[-2]:.6f}", f"{name}_count {h[-1]:g}"]
                continue
            for (n, labels), value in sorted(values.items()):
                if n == name:
                    lines.append(f"{name}{_labels(dict(labels))} {value:g}")
        return "\n".join(lines) + "\n"

    def names(self) -> Iterable[str]:
        with self._lock:
            return sorted({name for name, _ in self._values} | set(self._hist))
