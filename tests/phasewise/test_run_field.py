"""``phasewise run`` in field mode: camera streams through the vision pipeline drive a controller
over NTCIP, end to end through the real entry points.

The controller is an emulated cabinet (``phasewise controller emulate``) of the one-intersection
corridor's J0 on loopback. Each of J0's four approaches gets a camera stream: the Hanoi
intersection clip (../shared/videos) decoded, detected with YOLOX-Nano (../shared/models),
tracked and turned into camera frames; its site file is the clip's calibration with the
approach and lanes named as the network's (``check_camera_coverage``). The daemon must come up
ready (every camera up, the controller under its control), see the clip's queue and stop
cleanly on SIGTERM. One stream may see several approaches and an approach may have no
camera (its phase runs its plan green); an approach in two streams is refused.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
SHARED = Path(os.environ.get("PHASEWISE_SHARED", REPO.parent / "shared"))
PHASEWISE = [sys.executable, "-m", "phasewise.cli"]
SCENARIO = "corridor:intersections=1,side_lanes=2"  # J0: W/E 3 lanes (right+through, through, left), N/S 2
VIDEO = SHARED / "videos" / "hanoi_intersection.mp4"
WEIGHTS = SHARED / "models" / "yolox_nano.onnx"


def site_for(approach: str, lanes: int) -> dict:
    """The Hanoi clip's site with its approach and lanes named as J0's ``approach``."""
    site = yaml.safe_load((REPO / "calibration" / "sites" / "hanoi_intersection.yaml").read_text())
    by_id = {lane["id"]: lane for lane in site["lanes"]}
    nb_1, nb_2, nb_3, slip = by_id["nb_1"], by_id["nb_2"], by_id["nb_3"], by_id["nb_r"]
    if lanes == 3:  # the clip's three lanes are the network's left, through and right+through lanes
        named = [dict(nb_1, id=f"{approach}_2", movements=["left"]), dict(nb_2, id=f"{approach}_1"),
                 dict(nb_3, id=f"{approach}_0")]
    else:  # left+through and right+through: the clip's two right lanes as one
        merged = dict(nb_3, id=f"{approach}_0", movements=["through", "right"],
                      polygon=[nb_2["polygon"][0], *nb_3["polygon"][:4], nb_2["polygon"][3]],
                      stop_line=[nb_2["stop_line"][0], nb_3["stop_line"][1]], direction=[-0.55, -1.0])
        named = [dict(nb_1, id=f"{approach}_1"), merged]
    site["lanes"] = [dict(lane, approach=approach) for lane in named] + [dict(slip, approach=approach)]
    for head in site.get("signal_heads", []):
        head["lanes"] = [lane["id"] for lane in named]
    site["camera"], site["intersection_id"] = f"hanoi_as_{approach}", "J0"
    return site


def write_config(tmp: Path, port: int, approaches: dict[str, int]) -> Path:
    streams = []
    for approach, lanes in approaches.items():
        (tmp / f"{approach}.yaml").write_text(yaml.safe_dump(site_for(approach, lanes)))
        streams.append({"name": approach, "url": str(VIDEO), "site": f"{approach}.yaml", "weights": str(WEIGHTS)})
    config = {
        "site": "field-test", "mode": "field", "network": {"scenario": SCENARIO},
        "cameras": {"streams": streams},
        "controller": {"ntcip": {"controllers": {"J0": {"host": "127.0.0.1", "port": port}},
                                 "snmp": {"community_env": "PHASEWISE_SNMP_COMMUNITY"}}},
        "gate": {"enabled": False},
        # four streams on a small CPU fall behind real time now and then: not a fault here
        "fallback": {"camera_stale_s": 20, "release_after_s": 60, "recover_after_s": 5},
        "http": {"port": 0}, "log": {"level": "info", "format": "json"}, "state_dir": "state",
    }
    path = tmp / "field.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def metrics(url: str) -> dict[str, float]:
    with urllib.request.urlopen(url + "/metrics", timeout=5) as r:
        lines = r.read().decode().splitlines()
    return {key: float(value) for key, _, value in (line.rpartition(" ") for line in lines if line and line[0] != "#")}


def ready(url: str) -> bool:
    try:
        with urllib.request.urlopen(url + "/readyz", timeout=5) as r:
            return r.status == 200
    except urllib.error.HTTPError:
        return False


@pytest.fixture
def emulator():  # type: ignore[no-untyped-def]
    """``phasewise controller emulate`` of J0 in real time; yields its SNMP port."""
    with emulated_j0(SCENARIO) as port:
        yield port


@contextmanager
def emulated_j0(scenario: str) -> Iterator[int]:
    """``phasewise controller emulate --scenario scenario`` (one intersection, J0) in real
    time; yields its SNMP port, and stops it with SIGINT at the end."""
    proc = subprocess.Popen([*PHASEWISE, "controller", "emulate", "--scenario", scenario, "--port", "0", "--speed", "1"],
                            cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        line = proc.stdout.readline() if proc.stdout else ""
        found = re.match(r"listening J0 udp 127\.0\.0\.1:(\d+)", line)
        assert found, f"emulator did not start: {line!r}"
        yield int(found.group(1))
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()


def test_video_cameras_drive_the_emulated_controller_over_ntcip(tmp_path: Path, emulator: int) -> None:
    for path in (VIDEO, WEIGHTS):
        if not path.exists():
            pytest.fail(f"shared data missing: {path} (see ../shared/README.md)")
    config = write_config(tmp_path, emulator, {"W_J0": 3, "E_J0": 3, "N0_J0": 2, "S0_J0": 2})
    env = dict(os.environ, PHASEWISE_SNMP_COMMUNITY="public")
    stderr = open(tmp_path / "daemon.log", "w")
    proc = subprocess.Popen([*PHASEWISE, "run", "--config", str(config)], cwd=REPO, env=env,
                            stdout=subprocess.PIPE, stderr=stderr, text=True)
    port_file = tmp_path / "state" / "http.port"
    queue_seen = 0.0
    try:
        end = time.monotonic() + 240
        while not (port_file.exists() and port_file.read_text().strip()):
            assert proc.poll() is None and time.monotonic() < end, (tmp_path / "daemon.log").read_text()[-3000:]
            time.sleep(0.2)
        url = f"http://127.0.0.1:{port_file.read_text().strip()}"
        while not (ready(url) and queue_seen > 0):
            assert proc.poll() is None and time.monotonic() < end, (tmp_path / "daemon.log").read_text()[-3000:]
            queue_seen = max(queue_seen, metrics(url).get('phasewise_queue_vehicles{tls="J0"}', 0.0))
            time.sleep(0.5)
        m = metrics(url)
        assert all(m[f'phasewise_camera_up{{camera="{a}"}}'] == 1.0 for a in ("W_J0", "E_J0", "N0_J0", "S0_J0"))
        assert m['phasewise_controller_up{tls="J0"}'] == 1.0 and m["phasewise_control_released"] == 0.0
        assert m["phasewise_step_errors_total"] == 0.0 and m["phasewise_steps_total"] > 0
        proc.send_signal(signal.SIGTERM)
        proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
        stderr.close()
    log = (tmp_path / "daemon.log").read_text()
    assert proc.returncode == 0 and "Traceback" not in log, log[-3000:]
    events = [line for line in (tmp_path / "state" / "decisions.jsonl").read_text().splitlines()]
    assert '"event":"start"' in events[0] and '"event":"stop"' in events[-1]


def corner_site() -> dict:
    """One camera for two approaches: the Hanoi clip's lanes split between J0's side streets,
    N0_J0 (the two right lanes: right+through, left+through) and S0_J0 (the left lane as its
    left+through lane). The main road, whose phase comes first in J0's cycle, has no camera."""
    site = yaml.safe_load((REPO / "calibration" / "sites" / "hanoi_intersection.yaml").read_text())
    by_id = {lane["id"]: lane for lane in site["lanes"]}
    site["lanes"] = [dict(by_id["nb_3"], id="N0_J0_0", approach="N0_J0", movements=["through", "right"]),
                     dict(by_id["nb_2"], id="N0_J0_1", approach="N0_J0", movements=["through", "left"]),
                     dict(by_id["nb_r"], approach="N0_J0"),
                     dict(by_id["nb_1"], id="S0_J0_1", approach="S0_J0", movements=["through", "left"])]
    for head in site.get("signal_heads", []):
        head["lanes"] = ["N0_J0_0", "N0_J0_1", "S0_J0_1"]
    site["camera"], site["intersection_id"] = "hanoi_as_corner", "J0"
    return site


def test_one_camera_for_two_approaches_and_none_for_two_runs_their_plan_greens(tmp_path: Path, emulator: int) -> None:
    """A field config whose one stream sees N0_J0 and S0_J0 while nothing watches W_J0 and
    E_J0: the daemon starts, warns once (log and start record), shows the unwatched approaches
    in the API's intersection status, and serves the main road's phase for its plan green."""
    from tests.phasewise.web.conftest import TOKENS, tokens_yaml

    for path in (VIDEO, WEIGHTS):
        if not path.exists():
            pytest.fail(f"shared data missing: {path} (see ../shared/README.md)")
    (tmp_path / "corner.yaml").write_text(yaml.safe_dump(corner_site()))
    config = {
        "site": "field-corner", "mode": "field", "network": {"scenario": SCENARIO},
        "cameras": {"streams": [{"name": "corner", "url": str(VIDEO), "site": "corner.yaml", "weights": str(WEIGHTS)}]},
        "controller": {"ntcip": {"controllers": {"J0": {"host": "127.0.0.1", "port": emulator}},
                                 "snmp": {"community_env": "PHASEWISE_SNMP_COMMUNITY"}}},
        "gate": {"enabled": False},
        "fallback": {"camera_stale_s": 20, "release_after_s": 60, "recover_after_s": 5},
        "log": {"level": "info", "format": "json"}, "state_dir": "state",
    }
    text = yaml.safe_dump(config) + f"http:\n  port: 0\n  tokens:\n{tokens_yaml('    ')}"
    (tmp_path / "field.yaml").write_text(text)
    env = dict(os.environ, PHASEWISE_SNMP_COMMUNITY="public")
    stderr = open(tmp_path / "daemon.log", "w")
    proc = subprocess.Popen([*PHASEWISE, "run", "--config", str(tmp_path / "field.yaml")], cwd=REPO, env=env,
                            stdout=subprocess.PIPE, stderr=stderr, text=True)
    port_file = tmp_path / "state" / "http.port"
    we_greens: list[float] = []  # the main road's through phase's green time, sampled while it is shown
    try:
        end = time.monotonic() + 240
        while not (port_file.exists() and port_file.read_text().strip()):
            assert proc.poll() is None and time.monotonic() < end, (tmp_path / "daemon.log").read_text()[-3000:]
            time.sleep(0.2)
        url = f"http://127.0.0.1:{port_file.read_text().strip()}"
        request = urllib.request.Request(url + "/api/intersections", headers={"Authorization": f"Bearer {TOKENS['viewer']}"})
        j0: dict = {}
        # until the W-E through phase (0) has been shown under the daemon's control and has ended
        while not (we_greens and j0.get("phase") != 0 and ready(url)):
            assert proc.poll() is None and time.monotonic() < end, (tmp_path / "daemon.log").read_text()[-3000:]
            with urllib.request.urlopen(request, timeout=5) as r:
                j0 = {x["tls"]: x for x in json.loads(r.read())}.get("J0", {})  # none before the first step
            if j0.get("phase") == 0 and not j0["in_clearance"]:
                we_greens.append(j0["green_s"])
            time.sleep(0.5)
        assert j0["unwatched"] == ["E_J0", "W_J0"] and sorted(j0["cameras"]) == ["N0_J0", "S0_J0"]
        plan_green = {p["phase"]: p["plan_green_s"] for p in j0["phases"]}[0]
        assert max(we_greens) >= plan_green - 1.5, (we_greens, plan_green)  # its plan green, not a 5 s minimum
        m = metrics(url)
        assert m['phasewise_camera_up{camera="N0_J0"}'] == 1.0 and m['phasewise_camera_up{camera="S0_J0"}'] == 1.0
        assert m['phasewise_controller_up{tls="J0"}'] == 1.0 and m["phasewise_control_released"] == 0.0
        assert m["phasewise_step_errors_total"] == 0.0
        proc.send_signal(signal.SIGTERM)
        proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
        stderr.close()
    log = (tmp_path / "daemon.log").read_text()
    assert proc.returncode == 0 and "Traceback" not in log, log[-3000:]
    warnings = [line for line in log.splitlines() if "no camera watches" in line]
    assert len(warnings) == 1 and "E_J0, W_J0" in warnings[0] and "plan greens" in warnings[0], warnings
    start = json.loads((tmp_path / "state" / "decisions.jsonl").read_text().splitlines()[0])
    assert start["event"] == "start" and start["unwatched"] == {"J0": ["E_J0", "W_J0"]}


def test_an_approach_in_two_streams_is_refused(tmp_path: Path) -> None:
    config = write_config(tmp_path, 1161, {"W_J0": 3})
    raw = yaml.safe_load(config.read_text())
    raw["cameras"]["streams"].append(dict(raw["cameras"]["streams"][0], name="again"))
    config.write_text(yaml.safe_dump(raw))
    done = subprocess.run([*PHASEWISE, "run", "--config", str(config)], cwd=REPO, capture_output=True, text=True,
                          timeout=300, env=dict(os.environ, PHASEWISE_SNMP_COMMUNITY="public"))
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert "approach W_J0 is in the site files of streams W_J0 and again" in done.stderr, done.stderr
