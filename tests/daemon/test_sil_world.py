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
