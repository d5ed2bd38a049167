"""``phasewise controller emulate``: NTCIP 1202 controllers emulated on a running SUMO simulation.

Each traffic light of the scenario (or the ``--tls`` ones) gets an emulated NEMA cabinet
(``controllers.ntcip.cabinet``) that runs the network's own program until a central system
takes over, with its conflict monitor on, shown in SUMO every second
(``controllers.ntcip.emulator``). The cabinets answer SNMP (``controllers.ntcip.agent``) on
**one UDP port per traffic light**: ``--port``, ``--port + 1``, ... in the order listed at
start-up (``--port 0``: any free ports). A manager (``phasewise controller status``,
``NtcipBackend``) addresses each like a field cabinet::

    phasewise controller emulate --scenario cologne1 --port 1161
    phasewise controller status --host 127.0.0.1 --port 1161 --community public

``--speed 1`` runs in real time (the default), ``2`` twice as fast, ``0`` as fast as possible.
Ctrl-C stops SUMO and the agent and exits with 130.
"""

from __future__ import annotations

import signal
import threading
import time
from pathlib import Path
from typing import Annotated, Optional

import typer

from phasewise.app import app  # noqa: F401  (the application the group hangs on)
from phasewise.cmd_controller import controller_app
from phasewise.options import finite, positive


@controller_app.command("emulate")
def emulate(
    sumocfg: Annotated[Optional[Path], typer.Option(help="SUMO configuration to simulate.")] = None,
    scenario: Annotated[Optional[str], typer.Option(help="Named scenario or corridor[:key=value,...] instead of --sumocfg.")] = None,
    port: Annotated[int, typer.Option(min=0, max=65535, help="UDP port of the first traffic light (then +1 each); "
                                                             "0 = any free ports.")] = 161,
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    tls: Annotated[Optional[list[str]], typer.Option("--tls", help="Emulate only this traffic light (repeatable).")] = None,
    community: Annotated[str, typer.Option(help="SNMPv2c read-write community.")] = "public",
    users: Annotated[Optional[Path], typer.Option(help="YAML file of SNMPv3 users (authPriv).")] = None,
    speed: Annotated[float, typer.Option(min=0.0, callback=finite,
                                         help="Simulated seconds per wall-clock second; 0 = as fast as possible.")] = 1.0,
    end: Annotated[Optional[float], typer.Option(callback=positive,
                                                 help="End of the simulated period, s (default: the scenario's).")] = None,
    seed: Annotated[int, typer.Option(min=0, help="SUMO seed.")] = 1,
    backup_time: Annotated[Optional[int], typer.Option(
        min=0, max=65535, help="unitBackupTime of every cabinet, s (0-65535, NTCIP 1202; 0: central control never "
                               "times out; default 30).")] = None,
    mapping: Annotated[Optional[list[Path]], typer.Option("--mapping", help="NEMA mapping file (YAML/JSON) of one traffic light (repeatable); default: one ring, phases 1..n.")] = None,
    events: Annotated[Optional[Path], typer.Option(help="write the hi-res event log of what the cabinets showed to this folder "
                                                        "(events.csv, detectors.csv...; at the end or on Ctrl-C)")] = None,
) -> None:
    """Emulate NTCIP 1202 signal controllers on a running SUMO simulation."""
    import tempfile

    from controllers.ntcip.agent import NtcipAgent, load_users
    from controllers.ntcip.emulator import SumoEmulator
    from phasewise import scenarios
    from phasewise.outputs import OutputFolder

    v3_users = load_users(users) if users is not None else []
    sc = scenarios.resolve(sumocfg, scenario, [seed], end)[0]
    log_folder = OutputFolder(events, "--events", managed=("events.csv", "detectors.csv", "devices.csv", "phases.csv")) \
        if events is not None else None
    emulator = SumoEmulator(sc, tls_ids=tls, seed=seed, backup_time_s=backup_time, mapping_files=mapping or ())
    event_log = None
    if log_folder is not None:
        from controllers.hires.sumo_truth import SumoEventLog

        event_log = SumoEventLog(sc.net_file, emulator.models)
        detectors = Path(tempfile.mkdtemp(prefix=".detectors-", dir=log_folder.staging))
        emulator.observers.append(event_log)
        emulator.extra_files = (event_log.detector_file(detectors),)
    agent = NtcipAgent(emulator.cabinets, host=host, port=port, community=community, users=v3_users)
    emulator.lock = agent.lock
    try:
        emulator.start()
        agent.start()
        for tls_id, tls_port in agent.ports.items():
            phases = emulator.cabinets[tls_id].mapping.nema_phases_used
            typer.echo(f"listening {tls_id} udp {host}:{tls_port} (NEMA phases {','.join(map(str, phases))})")
        typer.echo(f"emulating {len(agent.ports)} controller(s) on {sc.name}, {sc.begin_s:g}-{sc.end_s:g} s, "
                   f"speed {'max' if speed == 0 else f'{speed:g}x'}; Ctrl-C to stop", err=True)
        # Ctrl-C sets a flag the loop checks between steps, so it never lands inside SUMO or
        # while a cabinet's lock is held (the SNMP thread would then wait for it forever)
        stop = threading.Event()
        previous = signal.signal(signal.SIGINT, lambda *_: stop.set())
        try:
            _run(emulator, sc.end_s, speed, stop)
        finally:
            signal.signal(signal.SIGINT, previous)
        if log_folder is not None and event_log is not None:  # also on Ctrl-C: the log up to then
            import shutil

            shutil.rmtree(detectors)
            event_log.write(log_folder.staging)
            log_folder.commit()
            typer.echo(f"event log written to {events}/", err=True)
        if stop.is_set():
            raise KeyboardInterrupt
        typer.echo(f"end of the simulated period; monitor faults: {emulator.violations}", err=True)
    finally:
        agent.stop()
        emulator.close()
        if log_folder is not None:
            log_folder.__exit__(None, None, None)  # removes the staging folder when nothing was committed


def _run(emulator: object, end_s: float, speed: float, stop: threading.Event) -> None:
    """Step the emulator to ``end_s`` (or until ``stop``), paced at ``speed`` simulated seconds
    per wall second."""
    from controllers.ntcip.emulator import SumoEmulator

    assert isinstance(emulator, SumoEmulator)
    wall_start, sim_start = time.monotonic(), emulator.time_s
    while emulator.time_s < end_s and not stop.is_set():
        emulator.step()
        if speed > 0:
            ahead_s = (emulator.time_s - sim_start) / speed - (time.monotonic() - wall_start)
            if ahead_s > 0:
                stop.wait(ahead_s)
