"""Priority calls from the field: the controllers' preempt inputs and a transit feed's buses.

A :class:`PolledSource` asks one source (a controller's ``preemptState`` over NTCIP, a
GTFS-realtime feed: :mod:`daemon.gtfs_realtime`) for the vehicles calling now, on a thread of
its own every ``poll_s``, never inside the daemon's 1 s step: a source that is slow, down or
answers garbage costs the step nothing. The step takes the calls of the last good poll
(:meth:`PolledSource.calls`); a source without a good poll for ``stale_s`` has its calls
dropped (an old call must not hold a phase) and says so once in the log. Failures are logged
when they start, change or end (not every poll) and counted
(``phasewise_priority_source_errors_total{source}``; ``phasewise_priority_source_up{source}``).

The daemon (:meth:`daemon.loop.Daemon.step`) turns a call that appears into a ``priority``
record of ``decisions.jsonl`` (as an API call: id, intersection, approach, class, ``by``) and
``phasewise_priority_calls_total{source,class}``, and one that disappears into a
``priority-end`` record; while it lasts it is a :class:`counting.camera_frame.PriorityCall` of
the policy, like a priority receiver's.

Example::

    source = PolledSource("ntcip J0", poll, poll_s=1.0, stale_s=3.0, metrics=metrics)
    source.start()
    source.calls()      # [FieldCall("ntcip-J0-preempt-1", "J0", "W_J0", "emergency", None, "ntcip preempt 1", ...)]
    source.stop()
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from controllers.priority import APPROACH_SPEED_M_S
from counting.camera_frame import PriorityCall
from daemon.prometheus import Metrics
from phasewise_errors import PhasewiseError

if TYPE_CHECKING:
    from controllers.ntcip.client import SnmpClient

log = logging.getLogger(__name__)

STOP_WAIT_S = 1.0  # at shutdown a poll under way is awaited this long (it has its own timeout)


@dataclass(frozen=True)
class FieldCall:
    """A vehicle calling for priority, as a field source reports it: ``call_id`` (stable while
    the call lasts), intersection, approach (its incoming edge), ``vehicle_class``
    (``emergency`` or ``bus``), ``distance_m`` to the stop line (it orders calls at one
    intersection; None when the source only knows the vehicle is coming: see
    :meth:`FieldCalls.update`), ``by`` (who called, for the decisions log), ``eta_s`` when
    known and ``detail`` (what else the log should say: the preempt's state, a bus's delay)."""

    call_id: str
    tls: str
    approach: str
    vehicle_class: str
    distance_m: float | None
    by: str
    eta_s: float | None = None
    detail: Mapping[str, object] = field(default_factory=dict, hash=False)

    def priority_call(self, distance_m: float) -> PriorityCall:
        return PriorityCall(self.tls, self.approach, None, distance_m, self.vehicle_class, self.call_id)


class PolledSource:
    """One field source of priority calls, polled on its own thread (module docstring).

    ``poll()`` returns the calls now or raises (any exception: it is logged and counted, the
    thread goes on); it must bound its own time (an SNMP or HTTP timeout)."""

    def __init__(self, name: str, poll: Callable[[], Sequence[FieldCall]], poll_s: float, stale_s: float,
                 metrics: Metrics | None = None, close: Callable[[], None] | None = None,
                 monotonic: Callable[[], float] = time.monotonic) -> None:
        self.name, self.poll_s, self.stale_s = name, poll_s, stale_s
        self._poll, self._close, self._monotonic = poll, close, monotonic
        self.metrics = metrics or Metrics()
        self._lock = threading.Lock()
        self._calls: tuple[FieldCall, ...] = ()
        self._good_at: float | None = None
        self._error = ""
        self._stale_said = False
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self.metrics.inc("phasewise_priority_source_errors_total", 0.0, source=self.name)
        self.metrics.set("phasewise_priority_source_up", 0.0, source=self.name)
        self._thread = threading.Thread(target=self._run, name=f"priority {self.name}", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(STOP_WAIT_S)
        if self._close is not None:
            try:
                self._close()
            except Exception as exc:
                log.warning("%s: closing failed (%r)", self.name, exc)

    def calls(self) -> tuple[FieldCall, ...]:
        """The calls of the last good poll; none once it is older than ``stale_s``."""
        with self._lock:
            good_at, calls = self._good_at, self._calls
        if good_at is None:
            return ()
        age_s = self._monotonic() - good_at
        if age_s > self.stale_s:
            if calls and not self._stale_said:
                self._stale_said = True
                log.warning("%s: no good poll for %.0f s; its priority calls (%d) are dropped until it answers",
                            self.name, age_s, len(calls))
            return ()
        self._stale_said = False
        return calls

    def poll_once(self) -> None:
        """One poll (the thread's body; tests call it directly)."""
        try:
            calls = tuple(self._poll())
        except Exception as exc:
            self.metrics.inc("phasewise_priority_source_errors_total", source=self.name)
            self.metrics.set("phasewise_priority_source_up", 0.0, source=self.name)
            error = (str(exc) or type(exc).__name__)[:300]
            if error != self._error:
                # a source's own failure (no answer, garbage) is a warning; anything else is a bug: its traceback
                log.warning("%s: poll failed (%s); its last calls stand for up to %.0f s", self.name, error,
                            self.stale_s, exc_info=not isinstance(exc, PhasewiseError))
            self._error = error
            return
        if self._error:
            log.info("%s: answers again", self.name)
            self._error = ""
        self.metrics.set("phasewise_priority_source_up", 1.0, source=self.name)
        with self._lock:
            self._calls, self._good_at = calls, self._monotonic()

    def _run(self) -> None:
        while not self._stop.is_set():
            started = self._monotonic()
            self.poll_once()
            self._stop.wait(max(self.poll_s - (self._monotonic() - started), 0.0))


HEARD_M = 300.0  # a preempt input's emitter is heard this far out (the receivers' range, as the policy's)


class FieldCalls:
    """What the daemon keeps of its field sources: the calls in force, and the log of their
    starts and ends (``write`` is the decisions log's).

    A call without a distance (a preempt input: the vehicle is coming, no more) is placed
    ``HEARD_M`` out when it starts, closing in at ``APPROACH_SPEED_M_S``: of two such calls at
    one intersection the one that called first is served first (first come, first served, as
    phase selectors serve calls of one priority), and an API call is ranked against them by its
    ETA. The calls are listed oldest first, which decides between equal distances."""

    def __init__(self, sources: Sequence[PolledSource], write: Callable[[dict], None], metrics: Metrics) -> None:
        self.sources, self._write, self.metrics = list(sources), write, metrics
        self.active: dict[str, FieldCall] = {}
        self._started: dict[str, float] = {}  # call id -> when it appeared (timeline s)

    def start(self) -> None:
        for source in self.sources:
            source.start()

    def stop(self) -> None:
        for source in self.sources:
            source.stop()

    def in_force(self) -> list[tuple[FieldCall, float]]:
        """The calls in force and when each appeared (timeline s), oldest first."""
        return sorted(((call, self._started[call_id]) for call_id, call in self.active.items()), key=lambda cs: cs[1])

    def update(self, now_s: float) -> list[PriorityCall]:
        """The calls in force now; a call that appeared or ended since the last step is logged."""
        current: dict[str, FieldCall] = {}
        for source in self.sources:
            for call in source.calls():
                current.setdefault(call.call_id, call)
        for call_id in [c for c in self.active if c not in current]:
            ended = self.active.pop(call_id)
            self._started.pop(call_id, None)
            self._write({"t": now_s, "event": "priority-end", "id": call_id, "tls": ended.tls,
                         "approach": ended.approach, "class": ended.vehicle_class, "by": ended.by})
        for call_id, call in current.items():
            if call_id not in self.active:
                self._started[call_id] = now_s
                self.metrics.inc("phasewise_priority_calls_total", source=call.by.split(" ")[0],
                                 **{"class": call.vehicle_class})
                self._write({"t": now_s, "event": "priority", "id": call_id, "tls": call.tls,
                             "approach": call.approach, "eta_s": None if call.eta_s is None else round(call.eta_s, 1),
                             "class": call.vehicle_class, "by": call.by, **call.detail})
        self.active = current
        # the oldest first: at equal distances (two preempt calls at the stop line) it wins
        return [call.priority_call(call.distance_m if call.distance_m is not None else
                                   max(HEARD_M - APPROACH_SPEED_M_S * (now_s - since_s), 0.0))
                for call, since_s in self.in_force()]


PREEMPT_POLL_S = 1.0  # a preempt input is read every second, like the signal status
PREEMPT_STALE_S = 3.0  # three polls without an answer: the preempt calls end (the controller serves its own)


def preempt_source(tls: str, client: SnmpClient, preempts: Mapping[int, str], metrics: Metrics,
                   poll_s: float = PREEMPT_POLL_S, stale_s: float = PREEMPT_STALE_S) -> PolledSource:
    """The preempt inputs of ``tls``'s controller (``client``: its ``SnmpClient``), each mapped
    to the approach its emitter's receiver watches: an emergency call (``by`` ``ntcip preempt
    N``) while ``preemptState`` says a vehicle calls (:func:`controllers.ntcip.preempt.calling`)."""
    from controllers.ntcip.preempt import calling, read_preempts

    numbers = sorted(preempts)

    def poll() -> list[FieldCall]:
        states = read_preempts(client, numbers)
        return [FieldCall(f"ntcip-{tls}-preempt-{n}", tls, preempts[n], "emergency", None, f"ntcip preempt {n}",
                          detail={"state": _camel(states[n].name)})
                for n in numbers if calling(states[n])]

    return PolledSource(f"ntcip {tls}", poll, poll_s, stale_s, metrics, close=client.close)


def _camel(name: str) -> str:
    """``NOT_ACTIVE_WITH_CALL`` -> ``notActiveWithCall`` (the MIB's spelling)."""
    first, *rest = name.lower().split("_")
    return first + "".join(w.capitalize() for w in rest)
