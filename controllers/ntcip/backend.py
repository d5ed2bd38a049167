"""``NtcipBackend``: the :class:`~controllers.backend.SignalBackend` of real NEMA controllers.

One SNMP agent (controller) per intersection, NTCIP 1202 v03 objects (``oids``), model
phases mapped to NEMA phases by ``controllers.ntcip.nema``. The controller times its own
yellow, red clearance and minimum green and its conflict monitor has the last word; we only
send what a central system may send:

* :meth:`status`: one GET per intersection (``phaseStatusGroupGreens/Yellows/Reds``,
  ``unitControlStatus``, ``unitFlashStatus``, ``coordPatternStatus``); greens are mapped back
  to the model phase, ``green_s`` is measured from the observed change with the injected
  ``clock``; ``mode`` is ``engine`` (``unitControlStatus`` = systemControl, i.e. central
  commands are obeyed), ``local`` (the controller runs its own schedule: timebase, backup,
  standby, ...), ``flash``, or ``unknown`` (no answer); where the agent has
  ``phaseStatusGroupWalks/PedClears``, ``walk_started_s`` is the green second the walk or
  pedestrian clearance of the green phase was first seen (a later estimate than the true
  start, so the safety layer keeps the green at least as long as the cabinet does);
* :meth:`command`: one multi-varbind SET per intersection and step carrying the
  ``phaseControlGroupHold/ForceOff/VehCall/PhaseOmit/PedCall`` masks (level commands: what is not
  sent this step is cleared) and ``systemPatternControl``, which keeps the controller under
  central control; if the agent applies the SET only in part, the values are read back and
  the previous step's restored before ``ControllerError`` is raised;
* :meth:`apply`: all intersections or none. First every controller gets the plan in a
  pattern that is not running (two pattern numbers alternate), in an NTCIP 1201
  ``dbCreateTransaction`` when it has one, read back; only when every one of them stored it
  is it selected (``systemPatternControl``) everywhere. A controller that is unreachable or
  refuses in the first part leaves every controller on its running pattern; one that refuses
  the switch gets the ones already switched switched back. ``ControllerError`` says which;
* :meth:`close`: clears every control bit and sets ``systemPatternControl`` to
  ``release_pattern`` (0 = standby: the controller's own time-of-day schedule).

Watchdog: ``systemPatternControl`` is re-written by every :meth:`command` and, when no
command came for a third of the controller's ``unitBackupTime``, by :meth:`status`. If this
process dies, the controller reverts to its own schedule after ``unitBackupTime``.

An agent that does not answer is not an exception loop: after the retries its status is
``mode="unknown"``, commands to it are dropped, a warning says the controller keeps its own
schedule, and it is not contacted again for ``reconnect_s`` (doubling up to
``max_reconnect_s``) so the other intersections keep their step time. A plan sent meanwhile
is refused (all or none): the running plan stays everywhere.

Example::

    backend = NtcipBackend.from_models(models, {"J1": AgentAddress("10.0.0.21")}, credentials)
    each step:  dispatch(backend, policy.step(now_s, dt_s, frames, backend.status()))
    backend.close()
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

from controllers.backend import PhaseCommand, SignalStatus
from controllers.ntcip import oids
from controllers.ntcip.client import (
    AgentUnreachable,
    EventLoopThread,
    RequestRefused,
    RetryPolicy,
    SnmpClient,
)
from controllers.ntcip.controls import control_masks, control_oids
from controllers.ntcip.credentials import Credentials
from controllers.ntcip.pattern import PhaseMap, pattern_values
from controllers.ntcip.snapshot import control_mode
from optimizer.intersection import IntersectionModel
from optimizer.plan import TimingPlan
from phasewise_errors import ControllerError, PlanError

log = logging.getLogger(__name__)

Oid = tuple[int, ...]


@dataclass(frozen=True)
class AgentAddress:
    """Where one intersection's controller answers SNMP."""

    host: str
    port: int = 161


@dataclass(frozen=True)
class NtcipSettings:
    """Behaviour of :class:`NtcipBackend` (defaults explained inline).

    ``patterns``: the two pattern numbers plans alternate between (the one not running is
    rewritten; pattern ``p`` uses split row ``p``). They must be dedicated to phasewise: a
    pattern the site's own time-of-day schedule uses would be overwritten, and the controller
    would fall back to our last plan instead of its own program. Sites number their
    schedule's patterns from 1, hence the high defaults (15, 16; NTCIP allows up to 253 but
    controllers often store 16 or 32). ``phase_control_pattern``: what
    ``systemPatternControl`` selects while we send phase commands before any plan (254 =
    free: actuated operation, where hold/force-off/call/omit act directly).
    ``release_pattern``: written on close (0 = standby, the controller's own schedule).
    """

    patterns: tuple[int, int] = (15, 16)
    phase_control_pattern: int = oids.PATTERN_FREE
    # False: plans are downloaded and read back but not selected; the controller stays in
    # phase_control_pattern (free) and the policy's phase commands time it, bounded by the
    # plan as in SUMO. A selected pattern brings the controller's coordinator (force-off
    # points, coordinated-phase rest), which then fights the policy's holds.
    select_plans: bool = True
    release_pattern: int = oids.PATTERN_STANDBY
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    reconnect_s: float = 5.0  # first pause after an agent stopped answering
    max_reconnect_s: float = 60.0
    verify_timeout_s: float = 5.0  # dbCreateTransaction verify must finish within this
    context_name: str = ""


@dataclass
class _Link:
    """What the backend knows and remembers about one intersection's controller."""

    tls_id: str
    client: SnmpClient
    phase_map: PhaseMap
    groups: int
    connected: bool = False
    backup_time_s: float = 0.0
    has_transactions: bool = False
    has_phase_nexts: bool = False
    has_ped_status: bool = False  # answers phaseStatusGroupWalks/PedClears
    walk_started_s: float | None = None  # green seconds when this green's walk was first seen
    pending_next: int | None = None  # the target of our last serve_next, until it turns green
    selected_pattern: int | None = None  # what we keep writing to systemPatternControl
    running_plan_pattern: int | None = None  # the pattern holding our current plan
    pattern_written_at: float = float("-inf")
    written: dict[Oid, int] = field(default_factory=dict)  # last values the controller accepted
    last_phase: int = 0
    green_since: float | None = None
    green_s: float = 0.0
    down_until: float = float("-inf")
    down_pause_s: float = 0.0


class NtcipBackend:
    """Drive real NEMA controllers through NTCIP 1202 (see the module docstring)."""

    def __init__(
        self,
        agents: Mapping[str, AgentAddress],
        phase_maps: Mapping[str, PhaseMap],
        credentials: Credentials,
        settings: NtcipSettings = NtcipSettings(),
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        missing = sorted(set(agents) - set(phase_maps))
        if missing:
            raise ControllerError(f"no NEMA phase map for {', '.join(missing)}")
        self.settings = settings
        self.clock = clock
        self._loop = EventLoopThread()
        self._closed = False
        self._links: dict[str, _Link] = {}
        for tls, address in agents.items():
            phase_map = phase_maps[tls]
            groups = max(oids.phase_group(p)[0] for p in phase_map.nema_phases_used)
            client = SnmpClient(address.host, address.port, credentials, settings.retry, self._loop)
            self._links[tls] = _Link(tls, client, phase_map, groups)

    @classmethod
    def from_models(
        cls,
        models: Mapping[str, IntersectionModel],
        agents: Mapping[str, AgentAddress],
        credentials: Credentials,
        settings: NtcipSettings = NtcipSettings(),
        clock: Callable[[], float] = time.monotonic,
    ) -> NtcipBackend:
        """The backend for these intersections, NEMA phases assigned by ``controllers.ntcip.nema``."""
        missing = sorted(set(agents) - set(models))
        if missing:
            raise ControllerError(f"no intersection model for {', '.join(missing)}")
        return cls(agents, _nema_maps({tls: models[tls] for tls in agents}), credentials, settings, clock)

    # -- SignalBackend ---------------------------------------------------------------------
    def status(self) -> dict[str, SignalStatus]:
        links = list(self._links.values())
        results = self._loop.gather([self._status_of(link) for link in links])
        statuses = {}
        for link, result in zip(links, results):
            if isinstance(result, BaseException):
                statuses[link.tls_id] = self._failed(link, result, "status")
            else:
                statuses[link.tls_id] = result
        return statuses

    def command(self, commands: Sequence[PhaseCommand]) -> None:
        by_tls: dict[str, list[PhaseCommand]] = {tls: [] for tls in self._links}
        for command in commands:
            if command.tls_id not in by_tls:
                raise ControllerError(f"no controller configured for intersection {command.tls_id}")
            by_tls[command.tls_id].append(command)
        links = list(self._links.values())
        masks = [self._control_values(link, by_tls[link.tls_id]) for link in links]
        results = self._loop.gather([self._command_one(link, values) for link, values in zip(links, masks)])
        self._raise_refusals(links, results, "command")

    def apply(self, plan: TimingPlan) -> None:
        """Run ``plan`` on every controller it names, or on none (module docstring)."""
        unknown = sorted(set(plan.intersections) - set(self._links))
        if unknown:
            raise ControllerError(f"plan not applied: no controller configured for {', '.join(unknown)}")
        links = [self._links[tls] for tls in plan.intersections]
        results = self._loop.gather([self._store_pattern(link, plan) for link in links])
        failed = self._failures(links, results)
        if failed:
            raise ControllerError(f"plan not applied, every controller keeps its running pattern: {'; '.join(failed)}")
        targets = dict(zip((link.tls_id for link in links), results))
        if not self.settings.select_plans:
            for link in links:
                link.running_plan_pattern = targets[link.tls_id]  # stored, verified; the next plan goes to the other
            log.info("plan %s stored as patterns %s (not selected)", plan.created_by, targets)
            return
        before = {link.tls_id: link.selected_pattern for link in links}
        results = self._loop.gather([self._select(link, targets[link.tls_id]) for link in links])
        failed = self._failures(links, results)
        if failed:
            switched = [link for link, r in zip(links, results) if not isinstance(r, BaseException)]
            raise ControllerError(f"plan not applied: {'; '.join(failed)}" + self._switch_back(switched, before))
        for link in links:
            link.selected_pattern = link.running_plan_pattern = targets[link.tls_id]
            log.info("%s: plan %s running as pattern %d", link.tls_id, plan.created_by, targets[link.tls_id])

    def _failures(self, links: list[_Link], results: list[object]) -> list[str]:
        failed = []
        for link, result in zip(links, results):
            if isinstance(result, AgentUnreachable):
                self._mark_down(link, result)
                failed.append(f"{link.tls_id}: unreachable")
            elif isinstance(result, BaseException):
                failed.append(f"{link.tls_id}: {result}")
        return failed

    def _switch_back(self, switched: list[_Link], before: Mapping[str, int | None]) -> str:
        """Select again what ``switched`` ran before; a sentence saying how that went."""
        if not switched:
            return "; no controller was switched"
        back = {link.tls_id: before[link.tls_id] if before[link.tls_id] is not None else self.settings.release_pattern
                for link in switched}
        results = self._loop.gather([self._write(link, {oids.SYSTEM_PATTERN_CONTROL.instance(): back[link.tls_id]})
                                     for link in switched])
        done = [link.tls_id for link, r in zip(switched, results) if not isinstance(r, BaseException)]
        stuck = [f"{link.tls_id} ({r})" for link, r in zip(switched, results) if isinstance(r, BaseException)]
        for link in switched:
            link.selected_pattern = before[link.tls_id]  # what every later command keeps writing
        text = f"; switched back: {', '.join(done)}" if done else ""
        if stuck:
            log.error("plan switch-back failed on %s; the next commands select the running pattern again", stuck)
            text += f"; not yet switched back (retried with every command): {', '.join(stuck)}"
        return text

    def close(self) -> None:
        """Clear every control bit, hand the controller back its own schedule, stop the loop.

        Idempotent: a second call does nothing."""
        if self._closed:
            return
        self._closed = True
        links = [link for link in self._links.values() if link.connected]
        results = self._loop.gather([self._release(link) for link in links])
        for link, result in zip(links, results):
            if isinstance(result, BaseException):
                log.warning("%s: could not release the controller (%s); it reverts to its own schedule "
                            "after unitBackupTime", link.tls_id, result)
        for link in self._links.values():
            link.client.close()
        self._loop.close()

    # -- per intersection (coroutines on the SNMP loop) -------------------------------------
    async def _connect(self, link: _Link) -> None:
        """First contact: backup time, current control values, optional objects."""
        if link.connected:
            return
        if self.clock() < link.down_until:
            raise AgentUnreachable(f"{link.client.address}: not retried before {link.down_until - self.clock():.0f} s")
        controls = self._control_oids(link)
        values = await link.client.get_async([oids.UNIT_BACKUP_TIME.instance(), *controls])
        link.backup_time_s = float(values.pop(oids.UNIT_BACKUP_TIME.instance()))
        link.written = {oid: int(v) for oid, v in values.items()}
        link.has_transactions = await _answers(link.client, oids.DB_CREATE_TRANSACTION.instance())
        link.has_phase_nexts = await _answers(link.client, oids.PHASE_STATUS_GROUP_PHASE_NEXTS.instance(1))
        link.has_ped_status = await _answers(link.client, oids.WALKS.instance(1))
        if link.backup_time_s <= 0:
            log.warning("%s: unitBackupTime is 0: the controller will not fall back to its own schedule "
                        "if phasewise stops", link.tls_id)
        link.connected = True
        link.down_pause_s = 0.0

    async def _status_of(self, link: _Link) -> SignalStatus:
        await self._connect(link)
        groups = range(1, link.groups + 1)
        colours = (oids.GREENS, oids.PHASE_STATUS_GROUP_PHASE_NEXTS) if link.has_phase_nexts else (oids.GREENS,)
        pedestrians = (oids.WALKS, oids.PED_CLEARS) if link.has_ped_status else ()
        group_oids = [obj.instance(g) for g in groups for obj in (*colours, oids.YELLOWS, oids.REDS, *pedestrians)]
        unit = [oids.UNIT_CONTROL_STATUS.instance(), oids.UNIT_FLASH_STATUS.instance(), oids.COORD_PATTERN_STATUS.instance()]
        values = await link.client.get_async(group_oids + unit)
        now = self.clock()
        phase = _model_phase(link, values, oids.GREENS)
        if phase is not None and (phase != link.last_phase or link.green_since is None):
            link.last_phase, link.green_since = phase, now
            link.walk_started_s = None
            if phase == link.pending_next:
                link.pending_next = None
        if phase is not None and link.green_since is not None:
            link.green_s = now - link.green_since
            if pedestrians and link.walk_started_s is None and _walking(link, values, phase):
                link.walk_started_s = link.green_s  # seen now: it may have started earlier (a later end is safe)
        next_phase = None
        if phase is None:  # clearance (or rings changing one after the other): green_s frozen
            link.green_since = None
            next_phase = link.pending_next
            if next_phase is None and link.has_phase_nexts:
                next_phase = _model_phase(link, values, oids.PHASE_STATUS_GROUP_PHASE_NEXTS)
            if next_phase is None:
                next_phase = link.last_phase  # destination not reported: clearing, next unknown
        mode = control_mode(
            int(values[oids.UNIT_CONTROL_STATUS.instance()]),
            int(values[oids.UNIT_FLASH_STATUS.instance()]),
            int(values[oids.COORD_PATTERN_STATUS.instance()]),
        )
        if link.selected_pattern is not None and now - link.pattern_written_at > link.backup_time_s / 3:
            await self._write(link, {oids.SYSTEM_PATTERN_CONTROL.instance(): link.selected_pattern})
        walk = link.walk_started_s if phase is not None else None
        return SignalStatus(link.tls_id, link.last_phase, link.green_s, next_phase, mode, walk_started_s=walk)

    async def _command_one(self, link: _Link, values: dict[Oid, int]) -> None:
        await self._connect(link)
        if link.selected_pattern is None:
            link.selected_pattern = self.settings.phase_control_pattern
        values[oids.SYSTEM_PATTERN_CONTROL.instance()] = link.selected_pattern
        await self._write(link, values)

    async def _store_pattern(self, link: _Link, plan: TimingPlan) -> int:
        """Download ``plan``'s timing into a pattern the controller is not running, verified by
        reading it back; returns that pattern's number (nothing is selected)."""
        await self._connect(link)
        first, second = self.settings.patterns
        target = second if link.running_plan_pattern == first else first
        running = oids.COORD_PATTERN_STATUS.instance()
        if (await link.client.get_async([running]))[running] == target:  # e.g. its own schedule runs it
            target = first if target == second else second
        try:
            values = pattern_values(plan.intersections[link.tls_id], link.phase_map, target, target).varbinds()
        except PlanError as exc:
            raise RequestRefused(str(exc)) from None
        if link.has_transactions:
            await self._download_in_transaction(link, values)
        else:
            await link.client.set_async(values)
        readback = await link.client.get_async(list(values))
        wrong = [f"{'.'.join(map(str, oid))}={readback[oid]} (wrote {v})" for oid, v in values.items() if readback[oid] != v]
        if wrong:
            raise RequestRefused(f"pattern {target} read back different: {', '.join(wrong[:4])}")
        return target

    async def _select(self, link: _Link, target: int) -> None:
        """Select ``target``; a controller that will not run it is switched back at once."""
        await self._write(link, {oids.SYSTEM_PATTERN_CONTROL.instance(): target})
        why = await _pattern_refusal(link.client, target)
        if why is not None:  # accepted the SET but will not run it (NTCIP: it runs free instead)
            previous = link.selected_pattern if link.selected_pattern is not None else self.settings.release_pattern
            await self._write(link, {oids.SYSTEM_PATTERN_CONTROL.instance(): previous})
            raise RequestRefused(f"the controller will not run pattern {target} (localFreeStatus {why})")

    async def _download_in_transaction(self, link: _Link, values: dict[Oid, int]) -> None:
        """NTCIP 1201 transaction: buffer, verify, then commit (normal) or report the error."""
        import asyncio

        mode = oids.DB_CREATE_TRANSACTION.instance()
        await link.client.set_async({mode: oids.DbCreateTransaction.TRANSACTION})
        try:
            await link.client.set_async(values)
            await link.client.set_async({mode: oids.DbCreateTransaction.VERIFY})
            # wall time, not the control clock: this bounds an I/O wait
            deadline = time.monotonic() + self.settings.verify_timeout_s
            while (await link.client.get_async([mode]))[mode] != oids.DbCreateTransaction.DONE:
                if time.monotonic() > deadline:
                    raise RequestRefused("dbCreateTransaction verify did not finish")
                await asyncio.sleep(0.05)
            status = oids.DB_VERIFY_STATUS.instance()
            verdict = (await link.client.get_async([status]))[status]
            if verdict != oids.DbVerifyStatus.DONE_WITH_NO_ERROR:
                reason = await _verify_error(link.client)
                raise RequestRefused(f"the controller's database check refused the pattern: {reason}")
        finally:
            # normal: commits a verified transaction, discards anything else
            await link.client.set_async({mode: oids.DbCreateTransaction.NORMAL})

    async def _write(self, link: _Link, values: dict[Oid, int]) -> None:
        """One SET; on failure, read back and restore what the agent applied in part."""
        try:
            await link.client.set_async(values)
        except RequestRefused:
            await self._restore(link, values)
            raise
        link.written.update(values)
        if oids.SYSTEM_PATTERN_CONTROL.instance() in values:
            link.pattern_written_at = self.clock()

    async def _restore(self, link: _Link, values: dict[Oid, int]) -> None:
        readable = {}
        for oid in values:
            try:
                readable.update(await link.client.get_async([oid]))
            except RequestRefused:
                continue  # the object the agent lacks: nothing was written there
        changed = {oid: link.written[oid] for oid, v in readable.items() if oid in link.written and v != link.written[oid]}
        if changed:
            log.warning("%s: SET applied in part; restoring %d object(s)", link.tls_id, len(changed))
            await link.client.set_async(changed)

    async def _release(self, link: _Link) -> None:
        values = {oid: 0 for oid in self._control_oids(link)}
        values[oids.SYSTEM_PATTERN_CONTROL.instance()] = self.settings.release_pattern
        await link.client.set_async(values)
        link.selected_pattern = None

    # -- helpers ----------------------------------------------------------------------------
    def _control_oids(self, link: _Link) -> list[Oid]:
        return control_oids(link.groups) + [oids.SYSTEM_PATTERN_CONTROL.instance()]

    def _control_values(self, link: _Link, commands: Sequence[PhaseCommand]) -> dict[Oid, int]:
        for command in commands:
            if command.kind == "serve_next":
                link.pending_next = command.phase
        return control_masks(link.phase_map, link.last_phase, commands, link.groups)

    def _failed(self, link: _Link, error: BaseException, what: str) -> SignalStatus:
        if isinstance(error, AgentUnreachable):
            self._mark_down(link, error)
            return SignalStatus(link.tls_id, link.last_phase, link.green_s, None, "unknown")
        if isinstance(error, ControllerError):
            raise error
        raise ControllerError(f"{link.tls_id}: {what} failed: {error!r}") from error

    def _mark_down(self, link: _Link, error: BaseException) -> None:
        now = self.clock()
        if now < link.down_until:
            return  # still in the pause: already reported
        link.down_pause_s = min(max(link.down_pause_s * 2, self.settings.reconnect_s), self.settings.max_reconnect_s)
        link.down_until = now + link.down_pause_s
        link.connected = False
        link.green_since = None
        log.warning("%s: controller unreachable (%s); it keeps its own schedule (after unitBackupTime at most); "
                    "retrying in %.0f s", link.tls_id, error, link.down_pause_s)

    def _raise_refusals(self, links: list[_Link], results: list[object], what: str) -> None:
        refused = []
        for link, result in zip(links, results):
            if isinstance(result, AgentUnreachable):
                self._mark_down(link, result)
            elif isinstance(result, BaseException):
                refused.append(f"{link.tls_id}: {result}")
        if refused:
            raise ControllerError(f"{what} refused: " + "; ".join(refused))


def _walking(link: _Link, values: Mapping[Oid, object], phase: int) -> bool:
    """Whether a NEMA phase of model ``phase`` shows walk or pedestrian clearance."""
    shown = {p for column in (oids.WALKS, oids.PED_CLEARS) for g in range(1, link.groups + 1)
             for p in oids.phases_in_mask(g, int(values[column.instance(g)]))}  # type: ignore[call-overload]
    return bool(shown & set(link.phase_map.nema_phases(phase)))


def _model_phase(link: _Link, values: Mapping[Oid, object], column: oids.MibObject) -> int | None:
    """The model phase whose NEMA phases are exactly those set in ``column``'s masks."""
    nema = frozenset(
        p for g in range(1, link.groups + 1) for p in oids.phases_in_mask(g, int(values[column.instance(g)]))  # type: ignore[call-overload]
    )
    return link.phase_map.model_phase(nema) if nema else None


_REFUSED_PATTERN = {
    oids.LocalFreeStatus.BAD_PLAN,
    oids.LocalFreeStatus.BAD_CYCLE_TIME,
    oids.LocalFreeStatus.SPLIT_OVERRUN,
    oids.LocalFreeStatus.INVALID_OFFSET,
    oids.LocalFreeStatus.FAILED,
}


async def _pattern_refusal(client: SnmpClient, pattern: int) -> str | None:
    """Why the controller runs free instead of ``pattern`` just selected, or None.

    A controller that accepts the SET may still refuse the pattern: it then runs free and
    says why in ``localFreeStatus``. Still on the old pattern (a transition waits for the
    cycle's end) is not a refusal; a controller without ``localFreeStatus`` cannot tell.
    """
    running, free = oids.COORD_PATTERN_STATUS.instance(), oids.LOCAL_FREE_STATUS.instance()
    try:
        values = await client.get_async([running, free])
    except RequestRefused:
        return None
    if values[running] == pattern or values[free] not in _REFUSED_PATTERN:
        return None
    return oids.LocalFreeStatus(int(values[free])).name.lower()


async def _answers(client: SnmpClient, oid: Oid) -> bool:
    """Whether the agent has this (optional) object."""
    try:
        await client.get_async([oid])
        return True
    except RequestRefused:
        return False


async def _verify_error(client: SnmpClient) -> str:
    try:
        oid = oids.DB_VERIFY_ERROR.instance()
        return str((await client.get_async([oid]))[oid])
    except ControllerError:
        return "no reason given"


def _nema_maps(models: Mapping[str, IntersectionModel]) -> dict[str, PhaseMap]:
    from controllers.ntcip import nema  # the cabinet side's mapping; imported when first needed

    return {tls: nema.phase_map(model) for tls, model in models.items()}
