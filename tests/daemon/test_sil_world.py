"""The SIL world: when the daemon stops talking, the emulated controllers fall back on their own."""

from __future__ import annotations

from daemon.sil_world import SilWorld
from controllers.ntcip.backend import AgentAddress, NtcipBackend
from controllers.ntcip.credentials import V2cCredentials
from sumo_scenarios.corridor import CorridorSpec, build_corridor
from sumo_scenarios.network import load_intersections


def test_controllers_revert_to_their_own_schedule_after_the_backup_time_when_the_daemon_dies(tmp_path) -> None:  # type: ignore[no-untyped-def]
    scenario = build_corridor(CorridorSpec(intersections=1, demand="low", duration_s=600.0), 1, tmp_path)
    models = load_intersections(scenario.net_file)
    world = SilWorld(scenario, models)
    t = {"now": 0.0}
    backend = NtcipBackend.from_models(models, {tls: AgentAddress("127.0.0.1", p) for tls, p in world.ports.items()},
                                       V2cCredentials(community="public"), clock=lambda: t["now"])  # type: ignore[arg-type]
    try:
        for _ in range(5):  # the daemon's steps: status + (empty) level commands keep central control
            backend.status()
            backend.command([])
            world.advance(1.0)
            t["now"] += 1.0
        assert {s.mode for s in backend.status().values()} == {"engine"}
        backup_s = max(int(c.read("unitBackupTime")) for c in world.cabinets.values())
        for _ in range(backup_s + 2):  # the daemon died: nobody writes systemPatternControl any more
            world.advance(1.0)
        assert {s.mode for s in backend.status().values()} == {"local"}  # its own schedule
        assert world.violations == 0
    finally:
        backend.close()
        world.close()


def test_emergency_vehicles_drive_the_wired_preempt_inputs(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """An approach wired to a preempt (``controller.preempts``) turns its cabinet's preempt input
    on while its receiver hears an emergency vehicle, and off once it has crossed; an unwired
    approach's preempt stays off."""
    from controllers.ntcip.oids import PreemptState

    scenario = build_corridor(CorridorSpec(intersections=1, demand="low", duration_s=600.0, emergency_per_h=60.0),
                              1, tmp_path)
    models = load_intersections(scenario.net_file)
    approaches = models["J0"].approaches
    world = SilWorld(scenario, models, preempts={"J0": {1: approaches[0], 2: approaches[1], 3: approaches[2]}})
    cabinet = world.cabinets["J0"]
    seen: dict[int, list[int]] = {n: [] for n in range(1, 5)}  # preempt -> the seconds its state was a call
    try:
        for second in range(600):
            world.advance(1.0)
            for n in seen:
                if cabinet.read("preemptState", (n,)) == PreemptState.NOT_ACTIVE_WITH_CALL:
                    seen[n].append(second)
        heard = [n for n in (1, 2, 3) if seen[n]]
        assert heard, "no emergency vehicle heard in 10 minutes at 60 an hour"
        assert seen[4] == []  # not wired
        # on while heard, then off again: at least one call ended within the run
        ended = [n for n in heard if any(s + 1 not in seen[n] for s in seen[n] if s < 599)]
        assert ended, seen
    finally:
        world.close()


def test_persons_waiting_at_crossings_ride_on_a_camera_frame_that_is_up(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """With crossings and walkers the SIL cameras report who waits at each crossing, once, on
    the frame of one of the intersection's cameras that is up."""
    import json

    from daemon.sil_world import SilCameraSource

    scenario = build_corridor(CorridorSpec(intersections=1, demand="low", duration_s=600.0, pedestrians=600.0),
                              1, tmp_path)
    models = load_intersections(scenario.net_file)
    faults = tmp_path / "faults.json"
    world = SilWorld(scenario, models, fault_file=faults)
    source = SilCameraSource(world)
    crossings = {c.index for c in models["J0"].crossings}
    try:
        seen = []
        for second in range(300):
            world.advance(1.0)
            frames = source.read(float(second))
            carriers = [cam for cam, f in frames.items() if f.pedestrians]
            assert len(carriers) <= 1  # each call reported once
            seen += [call for cam in carriers for call in frames[cam].pedestrians]
            if len(seen) > 20:
                break
        assert seen, "nobody waited at a crossing in 5 minutes at 600 persons an hour"
        assert {call.crossing for call in seen} <= crossings and all(call.waiting >= 1 for call in seen)
        first = sorted(source.layouts)[0]
        faults.write_text(json.dumps({"cameras_down": [first]}))
        carried = set()
        for second in range(120):
            world.advance(1.0)
            frames = source.read(float(second))
            assert first not in frames
            carried |= {cam for cam, f in frames.items() if f.pedestrians}
        assert carried and first not in carried
    finally:
        world.close()
