"""``phasewise run``'s field sources of priority calls, end to end through the real entry point.

One software-in-the-loop daemon (the one-intersection corridor, J0) with both sources:

* **NTCIP preempt input**: a plain pysnmp manager (not phasewise's client) raises preempt 1 on
  J0's emulated cabinet with ``preemptControlState`` (the standard's OIDs, written out here);
  the daemon reads ``preemptState``, logs an emergency call ``"by": "ntcip preempt 1"`` and its
  policy serves N0_J0's phase (a preemption, the phase shown in ``/api/intersections``); the
  input off ends the call;
* **GTFS-realtime**: a local HTTP server serves a FeedMessage built with
  ``gtfs-realtime-bindings`` (and its TripUpdates): an on-time bus near W_J0, a late one
  farther out on E_J0, one driving away; the late bus is the call. Then the feed answers
  garbage, HTTP 503 and too slowly: each is one logged warning, the daemon keeps stepping, and
  the bus call ends once the feed is stale.
"""

from __future__ import annotations

import asyncio
import http.server
import json
import math
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from tests.phasewise.web.conftest import TOKENS, tokens_yaml

REPO = Path(__file__).resolve().parents[2]
PHASEWISE = [sys.executable, "-m", "phasewise.cli"]
SCENARIO = "corridor:intersections=1"

# NTCIP 1202 v03: preemptControlState (asc.6.3.1.2) and preemptState (asc.6.2.1.16), preempt 1
PREEMPT_CONTROL_STATE_1 = "1.3.6.1.4.1.1206.4.2.1.6.3.1.2.1"
PREEMPT_STATE_1 = "1.3.6.1.4.1.1206.4.2.1.6.2.1.16.1"
NOT_ACTIVE, NOT_ACTIVE_WITH_CALL = 2, 3

# J0 placed at 48 N 11 E: W_J0's stop line 15 m west of the centre (eastbound traffic, bearing
# 90), E_J0's 15 m east (westbound, 270)
LAT, LON = 48.0, 11.0
M_PER_DEG_LON = math.pi / 180 * 6371008.8 * math.cos(math.radians(LAT))


def lon_at(east_m: float) -> float:
    return LON + east_m / M_PER_DEG_LON


def snmp(port: int, oid: str, value: int | None = None) -> int:
    """A plain pysnmp GET (``value`` None) or SET of one INTEGER; every varbind checked."""
    from pysnmp.hlapi.v3arch.asyncio import (
        CommunityData,
        ContextData,
        ObjectIdentity,
        ObjectType,
        SnmpEngine,
        UdpTransportTarget,
        get_cmd,
        set_cmd,
    )
    from pysnmp.proto.rfc1902 import Integer32

    async def run() -> int:
        engine = SnmpEngine()
        try:
            target = await UdpTransportTarget.create(("127.0.0.1", port), timeout=2, retries=3)
            args = (engine, CommunityData("public", mpModel=1), target, ContextData())
            if value is None:
                error, status, _, binds = await get_cmd(*args, ObjectType(ObjectIdentity(oid)))
            else:
                error, status, _, binds = await set_cmd(*args, ObjectType(ObjectIdentity(oid), Integer32(value)))
            assert not error and not int(status), (error, status)
            (name, answer), = binds
            assert str(name) == oid and answer.__class__.__name__ in ("Integer", "Integer32"), (name, repr(answer))
            return int(answer)
        finally:
            engine.close_dispatcher()

    return asyncio.run(run())


def feed_message(buses: tuple[dict, ...], trip_updates: bool = False) -> bytes:
    """A VehiclePositions (or TripUpdates) FeedMessage of ``buses`` (now-stamped)."""
    from google.transit import gtfs_realtime_pb2

    feed = gtfs_realtime_pb2.FeedMessage()
    feed.header.gtfs_realtime_version = "2.0"
    feed.header.timestamp = int(time.time())
    for bus in buses:
        entity = feed.entity.add()
        entity.id = bus["id"]
        if trip_updates:
            entity.trip_update.trip.trip_id = bus["trip"]
            stop = entity.trip_update.stop_time_update.add()
            stop.stop_sequence = 3
            stop.arrival.delay = bus["delay_s"]
        else:
            vehicle = entity.vehicle
            vehicle.trip.trip_id, vehicle.trip.route_id = bus["trip"], "R1"
            vehicle.vehicle.id = bus["id"]
            vehicle.position.latitude, vehicle.position.longitude = LAT, lon_at(bus["east_m"])
            vehicle.position.bearing, vehicle.position.speed = bus["heading"], bus["speed"]
            vehicle.timestamp = int(time.time())
    return feed.SerializeToString()


class Feed(http.server.ThreadingHTTPServer):
    """The agency's feed: ``mode`` says what it answers (ok, garbage, 503, slow)."""

    mode = "ok"
    buses = (
        {"id": "on-time", "trip": "T1", "east_m": -80.0, "heading": 90.0, "speed": 9.0, "delay_s": 0},
        {"id": "late", "trip": "T2", "east_m": 180.0, "heading": 270.0, "speed": 0.0, "delay_s": 240},
        {"id": "leaving", "trip": "T3", "east_m": 60.0, "heading": 90.0, "speed": 10.0, "delay_s": 600},
    )


class FeedHandler(http.server.BaseHTTPRequestHandler):
    server: Feed

    def do_GET(self) -> None:
        mode = self.server.mode
        if mode == "slow":
            time.sleep(3.0)
        if mode == "503":
            self.send_error(503, "maintenance")
            return
        body = (b"\x0f\xff<html>not a feed</html>" if mode == "garbage" else
                feed_message(self.server.buses, trip_updates=self.path.endswith("trip-updates.pb")))
        self.send_response(200)
        self.send_header("Content-Type", "application/x-protobuf")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


def write_config(tmp: Path, feed_port: int) -> Path:
    approaches = [
        {"tls": "J0", "approach": "W_J0", "lat": LAT, "lon": lon_at(-15.0), "bearing_deg": 90, "range_m": 250},
        {"tls": "J0", "approach": "E_J0", "lat": LAT, "lon": lon_at(15.0), "bearing_deg": 270, "range_m": 250},
    ]
    text = f"""site: priority-test
mode: sil
speed: 4
duration_s: 3600
network: {{scenario: "{SCENARIO}"}}
gate: {{enabled: false}}
policy: {{replan_s: 600, transit_priority: true}}
controller:
  preempts: {{J0: {{1: N0_J0}}}}
gtfs_realtime:
  vehicle_positions_url: http://127.0.0.1:{feed_port}/vehicle-positions.pb
  trip_updates_url: http://127.0.0.1:{feed_port}/trip-updates.pb
  poll_s: 1
  timeout_s: 1
  approaches: {json.dumps(approaches)}
state_dir: {tmp / "state"}
log: {{level: info, format: json}}
http:
  port: 0
  tokens:
{tokens_yaml("    ")}"""
    path = tmp / "site.yaml"
    path.write_text(text)
    return path


def decisions(tmp: Path) -> list[dict]:
    path = tmp / "state" / "decisions.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def wait(proc: subprocess.Popen, log: Path, what: str, condition, timeout_s: float = 90):  # type: ignore[no-untyped-def]
    end = time.monotonic() + timeout_s
    while time.monotonic() < end:
        assert proc.poll() is None, f"daemon exited ({proc.returncode}) waiting for {what}: {log.read_text()[-3000:]}"
        try:
            found = condition()
        except (OSError, ValueError, KeyError):
            found = None
        if found:
            return found
        time.sleep(0.2)
    raise AssertionError(f"timeout waiting for {what}: {log.read_text()[-3000:]}")


def metric(url: str, key: str) -> float:
    with urllib.request.urlopen(url + "/metrics", timeout=5) as r:
        for line in r.read().decode().splitlines():
            name, _, value = line.rpartition(" ")
            if name == key:
                return float(value)
    return float("nan")


def intersection(url: str) -> dict:
    request = urllib.request.Request(url + "/api/intersections", headers={"Authorization": f"Bearer {TOKENS['viewer']}"})
    with urllib.request.urlopen(request, timeout=5) as r:
        return {x["tls"]: x for x in json.loads(r.read())}["J0"]


def calls_listed(url: str) -> dict[str, dict]:
    """``GET /api/priority`` as a viewer: the calls in force by who called."""
    request = urllib.request.Request(url + "/api/priority", headers={"Authorization": f"Bearer {TOKENS['viewer']}"})
    with urllib.request.urlopen(request, timeout=5) as r:
        return {c["by"]: c for c in json.loads(r.read())}


def test_preempt_input_and_gtfs_buses_become_priority_calls(tmp_path: Path) -> None:
    from controllers.priority import vehicle_phase
    from phasewise.scenarios import resolve
    from sumo_scenarios.network import load_intersections

    scenario = resolve(None, SCENARIO, [1])[0]
    model = load_intersections(scenario.net_file, program_files=scenario.additional_files)["J0"]
    n0_phase = vehicle_phase(model, "N0_J0", None)

    feed = Feed(("127.0.0.1", 0), FeedHandler)
    threading.Thread(target=feed.serve_forever, daemon=True).start()
    config = write_config(tmp_path, feed.server_address[1])
    log = tmp_path / "daemon.log"
    stderr = open(log, "w")
    proc = subprocess.Popen([*PHASEWISE, "run", "--config", str(config)], cwd=REPO, stdout=subprocess.PIPE,
                            stderr=stderr, text=True)
    try:
        port_file = tmp_path / "state" / "http.port"
        wait(proc, log, "http port", lambda: port_file.read_text().strip())
        url = f"http://127.0.0.1:{port_file.read_text().strip()}"
        wait(proc, log, "the controller under control", lambda: metric(url, 'phasewise_controller_up{tls="J0"}') == 1.0)
        j0_port = json.loads((tmp_path / "state" / "sil-ports.json").read_text())["J0"]

        # GTFS-realtime: of the two buses heading in, the late one (farther out) calls
        bus = wait(proc, log, "the bus call", lambda: next(
            (d for d in decisions(tmp_path) if d["event"] == "priority" and d["by"] == "gtfs-realtime"), None))
        assert (bus["tls"], bus["approach"], bus["class"], bus["vehicle"]) == ("J0", "E_J0", "bus", "late"), bus
        assert bus["delay_s"] == 240 and bus["distance_m"] == pytest.approx(165, abs=2)
        assert bus["eta_s"] == pytest.approx(165 / 8.0, abs=0.5)  # stopped: the nominal 8 m/s
        assert not [d for d in decisions(tmp_path) if d.get("vehicle") in ("on-time", "leaving")]
        assert metric(url, 'phasewise_priority_calls_total{class="bus",source="gtfs-realtime"}') == 1.0
        listed = wait(proc, log, "the bus call listed", lambda: calls_listed(url).get("gtfs-realtime"))
        assert (listed["id"], listed["tls"], listed["approach"], listed["vehicle_class"]) == (bus["id"], "J0", "E_J0", "bus")

        # the preempt input, raised by a plain SNMP manager
        assert snmp(j0_port, PREEMPT_STATE_1) == NOT_ACTIVE
        assert snmp(j0_port, PREEMPT_CONTROL_STATE_1, 1) == 1
        assert snmp(j0_port, PREEMPT_STATE_1) == NOT_ACTIVE_WITH_CALL
        call = wait(proc, log, "the preempt call", lambda: next(
            (d for d in decisions(tmp_path) if d["event"] == "priority" and d["by"] == "ntcip preempt 1"), None))
        assert (call["tls"], call["approach"], call["class"], call["state"]) == ("J0", "N0_J0", "emergency",
                                                                                  "notActiveWithCall"), call
        wait(proc, log, "N0_J0's phase served", lambda: intersection(url)["phase"] == n0_phase
             and not intersection(url)["in_clearance"] and metric(url, "phasewise_preemptions_total") >= 1)
        listed = calls_listed(url)["ntcip preempt 1"]
        assert (listed["id"], listed["approach"], listed["vehicle_class"], listed["eta_s"]) == (call["id"], "N0_J0",
                                                                                               "emergency", None)
        assert snmp(j0_port, PREEMPT_CONTROL_STATE_1, 0) == 0
        wait(proc, log, "the preempt call's end", lambda: any(
            d["event"] == "priority-end" and d["id"] == call["id"] for d in decisions(tmp_path)))
        assert metric(url, 'phasewise_priority_calls_total{class="emergency",source="ntcip"}') == 1.0
        wait(proc, log, "the preempt call gone from the list", lambda: "ntcip preempt 1" not in calls_listed(url))

        # the feed fails three ways: a warning each, the daemon steps on, the bus call ends
        steps = metric(url, "phasewise_steps_total")
        for mode, said in (("garbage", "not a GTFS-realtime FeedMessage"), ("503", "HTTP 503"),
                           ("slow", "timed out")):
            feed.mode = mode
            wait(proc, log, f"the {mode} feed's warning", lambda said=said: said in log.read_text(), 30)
        assert metric(url, "phasewise_steps_total") > steps + 10
        wait(proc, log, "the stale bus call's end", lambda: any(
            d["event"] == "priority-end" and d["id"] == bus["id"] for d in decisions(tmp_path)), 30)
        assert "gtfs-realtime" not in calls_listed(url)
        assert metric(url, 'phasewise_priority_source_up{source="gtfs-realtime"}') == 0.0
        assert metric(url, "phasewise_step_errors_total") == 0.0
        proc.send_signal(signal.SIGTERM)
        proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
        stderr.close()
        feed.shutdown()
    text = log.read_text()
    assert proc.returncode == 0 and "Traceback" not in text, text[-3000:]
    warnings = [json.loads(line)["msg"] for line in text.splitlines() if '"level": "warning"' in line]
    assert sum("gtfs-realtime: poll failed" in w for w in warnings) == 3, warnings


@pytest.mark.parametrize(("section", "said"), [
    ("controller: {preempts: {J0: {0: W_J0}}}", "controller.preempts: Value error, J0: preempt 0 is not a preempt number"),
    ("controller: {preempts: {J0: {1: X_J0}}}", "controller.preempts.J0.1: J0 has no approach X_J0"),
    ("gtfs_realtime: {vehicle_positions_url: ftp://x/vp.pb, approaches: [{tls: J0, approach: W_J0, lat: 48, lon: 11, "
     "bearing_deg: 90}]}", "gtfs_realtime.vehicle_positions_url"),
])
def test_bad_priority_sources_are_refused_in_one_line(tmp_path: Path, section: str, said: str) -> None:
    config = tmp_path / "site.yaml"
    config.write_text(f'site: t\nnetwork: {{scenario: "{SCENARIO}"}}\npolicy: {{transit_priority: true}}\n'
                      f"{section}\nstate_dir: {tmp_path / 'state'}\n")
    done = subprocess.run([*PHASEWISE, "run", "--config", str(config)], cwd=REPO, capture_output=True, text=True,
                          timeout=120, env=dict(os.environ))
    lines = done.stderr.strip().splitlines()
    assert done.returncode == 2 and len(lines) == 1 and lines[0].startswith("phasewise: error: "), done.stderr
    assert said in lines[0], lines[0]
