"""``phasewise run`` in field mode: persons the camera sees waiting at a crosswalk reach the
controller as a pedestrian call, end to end through the real entry points.

The controller is an emulated cabinet (``phasewise controller emulate``) of the
one-intersection corridor with crosswalks (``pedestrians=``: J0 has four signalised crossings;
``:J0_c3`` crosses W_J0 and shows walk with the W-E phase). One camera stream, the Hanoi
intersection clip (../shared/videos) with YOLOX-Nano (../shared/models), watches W_J0; its
site file has a crosswalk for ``:J0_c3`` whose waiting area is the strip at the clip's left
kerb. No shared clip shows a pedestrian waiting to cross (checked with both shared detectors:
every person box the Hanoi clip keeps for more than a few seconds after the rider rules is a
rider); the figure YOLOX-Nano reports standing there from about 15 s to 62 s of the clip as a
full-height ``person`` is a motorcyclist at the kerb whose bike it does not detect, which
neither rider rule can tell from a pedestrian (``vision.riders``). So this checks the path,
not the detector: a standing ``person`` track in a waiting area -> ``PedestrianCall`` -> the
policy's ``ped_call`` -> ``phaseControlGroupPedCall`` on the crossing's NEMA phases, read back
from the cabinet's ``phaseStatusGroupPedCalls`` with a plain pysnmp GET; no other phase is
ever called. A crosswalk naming a crossing the network lacks stops ``phasewise run`` with one
line and exit 2.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
import yaml

from tests.phasewise.test_run_field import emulated_j0, site_for
from tests.phasewise.test_run_priority import snmp

REPO = Path(__file__).resolve().parents[2]
SHARED = Path(os.environ.get("PHASEWISE_SHARED", REPO.parent / "shared"))
PHASEWISE = [sys.executable, "-m", "phasewise.cli"]
SCENARIO = "corridor:intersections=1,side_lanes=2,pedestrians=100"
VIDEO = SHARED / "videos" / "hanoi_intersection.mp4"
WEIGHTS = SHARED / "models" / "yolox_nano.onnx"
CROSSING = ":J0_c3"  # across W_J0
KERB = [[5, 335], [95, 335], [95, 425], [5, 425]]  # the clip's left kerb strip, image pixels

# NTCIP 1202 v03 phaseStatusGroupPedCalls (asc.1.4.1.9), phase group 1 (NEMA phases 1-8)
PED_CALLS_1 = "1.3.6.1.4.1.1206.4.2.1.1.4.1.9.1"


def write_config(tmp: Path, port: int, crossing: str) -> Path:
    site = site_for("W_J0", 3)
    site["crosswalks"] = [{"crossing": crossing, "waiting_areas": [KERB]}]
    (tmp / "w.yaml").write_text(yaml.safe_dump(site))
    config = {
        "site": "field-pedestrians", "mode": "field", "network": {"scenario": SCENARIO},
        "cameras": {"streams": [{"name": "w", "url": str(VIDEO), "site": "w.yaml", "weights": str(WEIGHTS)}]},
        "controller": {"ntcip": {"controllers": {"J0": {"host": "127.0.0.1", "port": port}},
                                 "snmp": {"community_env": "PHASEWISE_SNMP_COMMUNITY"}}},
        "gate": {"enabled": False},
        # the clip is read faster than real time and reopened at its end: a gap is not a fault here
        "fallback": {"camera_stale_s": 20, "release_after_s": 60, "recover_after_s": 5},
        "http": {"port": 0}, "log": {"level": "info", "format": "json"}, "state_dir": "state",
    }
    path = tmp / "field.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def expected_nema_phases() -> set[int]:
    """The NEMA phases of the model phase that shows walk on :data:`CROSSING` (the mapping the
    emulated cabinet is programmed with)."""
    from controllers.ntcip.nema import phase_map
    from phasewise.scenarios import resolve
    from sumo_scenarios.network import load_intersections

    scenario = resolve(None, SCENARIO, [1])[0]
    model = load_intersections(scenario.net_file, program_files=scenario.additional_files)["J0"]
    (phase,) = [p for p in range(len(model.phases)) if CROSSING in {c.edge for c in model.phase_crossings(p)}]
    return set(phase_map(model).nema_phases(phase))


def waiting(url: str) -> float:
    """The daemon's ``phasewise_pedestrians_waiting`` of :data:`CROSSING` (signal index 19)."""
    with urllib.request.urlopen(url + "/metrics", timeout=5) as r:
        for line in r.read().decode().splitlines():
            if line.startswith('phasewise_pedestrians_waiting{crossing="19",tls="J0"}'):
                return float(line.rpartition(" ")[2])
    return 0.0


@pytest.fixture
def emulator():  # type: ignore[no-untyped-def]
    """``phasewise controller emulate`` of J0 (with crosswalks) in real time; yields its SNMP port."""
    with emulated_j0(SCENARIO) as port:
        yield port


def test_a_person_waiting_at_the_kerb_places_a_pedestrian_call_on_the_cabinet(tmp_path: Path, emulator: int) -> None:
    for path in (VIDEO, WEIGHTS):
        if not path.exists():
            pytest.fail(f"shared data missing: {path} (see ../shared/README.md)")
    expected = expected_nema_phases()
    config = write_config(tmp_path, emulator, CROSSING)
    env = dict(os.environ, PHASEWISE_SNMP_COMMUNITY="public")
    called: set[int] = set()  # NEMA phases the cabinet reported a pedestrian call on
    most_waiting = 0.0  # the daemon's phasewise_pedestrians_waiting of the crossing (signal index 19)
    port_file = tmp_path / "state" / "http.port"
    with open(tmp_path / "daemon.log", "w") as stderr:
        proc = subprocess.Popen([*PHASEWISE, "run", "--config", str(config)], cwd=REPO, env=env,
                                stdout=subprocess.PIPE, stderr=stderr, text=True)
        try:
            end = time.monotonic() + 120
            polls_after = 10  # once the call came, a few seconds more: no other phase gets one
            while polls_after:
                assert proc.poll() is None and time.monotonic() < end, (called, (tmp_path / "daemon.log").read_text()[-3000:])
                mask = snmp(emulator, PED_CALLS_1)
                called |= {p for p in range(1, 9) if mask >> (p - 1) & 1}
                if port_file.exists() and port_file.read_text().strip():
                    most_waiting = max(most_waiting, waiting(f"http://127.0.0.1:{port_file.read_text().strip()}"))
                if expected <= called:
                    polls_after -= 1
                time.sleep(0.3)
            proc.send_signal(signal.SIGTERM)
            proc.communicate(timeout=30)
        finally:
            if proc.poll() is None:
                proc.kill()
    log = (tmp_path / "daemon.log").read_text()
    assert proc.returncode == 0 and "Traceback" not in log, log[-3000:]
    assert called == expected, (called, expected)
    assert most_waiting >= 1


def test_a_crosswalk_naming_no_crossing_of_the_network_stops_run_with_one_line(tmp_path: Path) -> None:
    config = write_config(tmp_path, 1161, ":J0_c9")
    done = subprocess.run([*PHASEWISE, "run", "--config", str(config)], cwd=REPO, capture_output=True, text=True,
                          timeout=300, check=False, env=dict(os.environ, PHASEWISE_SNMP_COMMUNITY="public"))
    assert done.returncode == 2 and "Traceback" not in done.stderr, done.stderr
    lines = [line for line in done.stderr.splitlines() if line.startswith("phasewise: error:")]
    assert len(lines) == 1, done.stderr
    assert (f"{tmp_path / 'w.yaml'}: crosswalks.0.crossing: no crossing ':J0_c9' in the network (its crossings: "
            ":J0_c0 (across J0_N0/N0_J0 at J0), :J0_c1 (across J0_E/E_J0 at J0), ") in lines[0], lines[0]
