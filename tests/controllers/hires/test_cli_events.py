"""``phasewise sim --events`` and ``phasewise measures`` as a user runs them, checked against SUMO's
own record of the signal states and read by the third-party ``atspm`` package.

One short static run of a two-intersection corridor (SUMO writes every state change of both
lights through ``SaveTLSStates``), its measures, and the bad inputs; then an optimized plan
against the same plan with its offsets turned half a cycle (arrivals on green must drop).
"""

from __future__ import annotations

import csv
import json
import subprocess
import sys
import xml.etree.ElementTree as ET
from collections import defaultdict
from pathlib import Path

import pytest

from sumo_scenarios.corridor import CorridorSpec, build_corridor

END_S = 600


def phasewise(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "phasewise.cli", *args], capture_output=True, text=True, timeout=600)


def rows(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as f:
        return list(csv.DictReader(f))


@pytest.fixture(scope="module")
def logged(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A static run logged to ``ev/``, with SUMO's own state record ``states_<tls>.xml`` beside it."""
    tmp = tmp_path_factory.mktemp("events")
    scenario = build_corridor(CorridorSpec.parse("corridor:intersections=2"), seed=1, out_dir=tmp)
    (tmp / "states.add.xml").write_text("<additional>" + "".join(
        f'<timedEvent type="SaveTLSStates" source="{tls}" dest="{tmp / f"states_{tls}.xml"}"/>' for tls in ("J0", "J1")
    ) + "</additional>")
    (tmp / "run.sumocfg").write_text(f"""<configuration><input>
        <net-file value="{scenario.net_file}"/><route-files value="{scenario.route_files[0]}"/>
        <additional-files value="{tmp / 'states.add.xml'}"/></input>
        <time><begin value="0"/><end value="{END_S}"/></time></configuration>""")
    done = phasewise("sim", "--sumocfg", str(tmp / "run.sumocfg"), "--events", str(tmp / "ev"))
    assert done.returncode == 0, done.stderr
    return tmp


def test_the_log_has_the_atspm_columns_and_names_its_devices(logged: Path) -> None:
    ev = logged / "ev"
    assert (ev / "events.csv").read_text().splitlines()[0] == "TimeStamp,DeviceId,EventId,Parameter"
    assert (ev / "detectors.csv").read_text().splitlines()[0] == "DeviceId,Phase,Parameter,Function"
    assert {r["DeviceId"]: r["TlsId"] for r in rows(ev / "devices.csv")} == {"1": "J0", "2": "J1"}
    functions = {r["Function"] for r in rows(ev / "detectors.csv")}
    assert functions == {"Presence", "Advance", "Yellow_Red"}
    # arterial through phases 2 and 6, side streets 4 and 8, protected lefts 1 and 5
    phases = {(r["DeviceId"], r["Phase"]): r["Approach"] for r in rows(ev / "phases.csv")}
    assert phases[("1", "2")] == "W_J0" and phases[("1", "6")] == "J1_J0" and phases[("2", "5")] == "J0_J1"
    assert phases[("1", "4")] == "S0_J0" and phases[("1", "8")] == "N0_J0"


def test_every_begin_of_green_is_one_of_sumos_own_state_changes(logged: Path) -> None:
    ev = logged / "ev"
    by_phase: dict[tuple[int, int], list[tuple[float, int]]] = defaultdict(list)
    for r in rows(ev / "events.csv"):
        seconds = sum(float(x) * f for x, f in zip(r["TimeStamp"][11:].split(":"), (3600, 60, 1)))
        by_phase[(int(r["DeviceId"]), int(r["Parameter"]))].append((seconds, int(r["EventId"])))
    tls_of = {int(r["DeviceId"]): r["TlsId"] for r in rows(ev / "devices.csv")}
    checked = 0
    for r in rows(ev / "phases.csv"):
        device, phase = int(r["DeviceId"]), int(r["Phase"])
        links = [int(i) for i in r["Links"].split()]
        protected = all(m.endswith(":left") for m in r["Movements"].split())
        greens = "G" if protected else "Gg"
        states = [(float(s.get("time")), s.get("state")) for s in
                  ET.parse(logged / f"states_{tls_of[device]}.xml").getroot().iter("tlsState")]
        green = [any(state[i] in greens for i in links) for _, state in states]
        sumo_starts = [t for k, (t, _) in enumerate(states) if k > 0 and green[k] and not green[k - 1]]
        events = by_phase[(device, phase)]
        logged_starts = [t for t, e in events if e == 1]
        assert logged_starts == sumo_starts, (device, phase)
        assert len(sumo_starts) >= END_S // 90 - 1  # a 90 s cycle: every phase turns green each cycle
        # begin green (1) and begin yellow (8) alternate, and a green ends (7) before each yellow
        changes = [e for _, e in events if e in (1, 8)]
        assert all(a != b for a, b in zip(changes, changes[1:])), (device, phase, changes)
        assert [e for _, e in events if e in (7, 8)].count(8) <= [e for _, e in events if e == 7].count(7)
        checked += 1
    assert checked == 12  # phases 1 2 4 5 6 8 at both intersections


def test_the_atspm_package_reads_the_log(logged: Path) -> None:
    from atspm import SignalDataProcessor

    ev = logged / "ev"
    with SignalDataProcessor(raw_data=str(ev / "events.csv"), detector_config=str(ev / "detectors.csv"), bin_size=15,
                             verbose=0, aggregations=[
                                 {"name": "arrival_on_green", "params": {"latency_offset_seconds": 0}},
                                 {"name": "terminations", "params": {}},
                                 {"name": "split_failures", "params": {"red_time": 5, "red_occupancy_threshold": 0.8,
                                                                       "green_occupancy_threshold": 0.8,
                                                                       "by_approach": True, "by_cycle": True}}]) as p:
        p.load()
        p.aggregate()
        aog = p.conn.sql("SELECT DeviceId, Phase, Percent_AOG, Total_Actuations FROM arrival_on_green").fetchall()
        terminations = p.conn.sql("SELECT DISTINCT PerformanceMeasure FROM terminations").fetchall()
        cycles = p.conn.sql("SELECT Phase, COUNT(*), MIN(Green_Occupancy), MAX(Green_Occupancy) FROM split_failures "
                            "GROUP BY Phase ORDER BY Phase").fetchall()
    assert {(d, ph) for d, ph, _, _ in aog} == {(d, ph) for d in (1, 2) for ph in (2, 4, 6, 8)}
    assert all(0.0 <= share <= 1.0 and n > 0 for _, _, share, n in aog)
    assert 0.1 < sum(s * n for *_, s, n in aog) / sum(n for *_, n in aog) < 0.9
    assert terminations == [("ForceOff",)]  # fixed time: every phase is forced off at its split end
    assert [c[0] for c in cycles] == [1, 2, 4, 5, 6, 8]
    assert all(n >= 2 * (END_S // 90 - 2) and 0.0 <= lo <= hi <= 1.0 for _, n, lo, hi in cycles)


def test_measures_writes_the_tables_and_draws_each_intersection(logged: Path) -> None:
    out = logged / "m"
    done = phasewise("measures", str(logged / "ev"), "--out", str(out))
    assert done.returncode == 0, done.stderr
    for name in ("arrival_on_green", "platoon_ratio", "split_failures", "terminations", "phase_wait", "summary"):
        assert (out / f"{name}.csv").is_file(), name
    summary = rows(out / "summary.csv")
    through = [r for r in summary if r["Phase"] in ("2", "4", "6", "8")]
    assert len(through) == 8 and all(0.0 <= float(r["Arrivals_On_Green"]) <= 1.0 for r in through)
    assert all(int(float(r["Split_Failures"])) <= int(float(r["Cycles"])) for r in summary)
    for device in (1, 2):
        for chart in (f"pcd_{device}.png", f"split_failures_{device}.png"):
            assert (out / chart).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", chart
    assert "on green" in done.stdout


@pytest.mark.parametrize("mangle, expected", [
    (None, "no such folder"),
    ("TimeStamp;DeviceId;EventId;Parameter\n", "expected exactly TimeStamp, DeviceId, EventId, Parameter"),
    ("TimeStamp,DeviceId,EventId,Parameter\n2024-01-01 00:00:00.000,1,1,2\nyesterday,1,1,2\n", "events.csv:3: TimeStamp"),
    ("TimeStamp,DeviceId,EventId,Parameter\n2024-01-01 00:00:00.000,1,one,2\n", "events.csv:2: EventId 'one'"),
])
def test_bad_logs_are_one_line_errors(logged: Path, tmp_path: Path, mangle: str | None, expected: str) -> None:
    folder = tmp_path / "log"
    if mangle is not None:
        folder.mkdir()
        (folder / "events.csv").write_text(mangle)
        (folder / "detectors.csv").write_text((logged / "ev" / "detectors.csv").read_text())
    done = phasewise("measures", str(folder), "--out", str(tmp_path / "m"))
    assert done.returncode == 2
    assert done.stderr.startswith("phasewise: error: ") and len(done.stderr.strip().splitlines()) == 1, done.stderr
    assert expected in done.stderr
    assert not (tmp_path / "m").exists()


def test_events_log_one_run(tmp_path: Path) -> None:
    done = phasewise("sim", "--scenario", "corridor:intersections=2", "--end", "60", "--seeds", "2",
                     "--events", str(tmp_path / "ev"))
    assert done.returncode == 2 and "--events" in done.stderr and "--seeds 1" in done.stderr
    assert not (tmp_path / "ev").exists()


def test_offsets_half_a_cycle_off_lose_arrivals_on_green(tmp_path: Path) -> None:
    """The optimized plan coordinates the arterial; the same splits with the downstream offset
    turned half a cycle must put fewer eastbound arrivals (phase 2 at J1) on green."""
    from atspm import SignalDataProcessor

    done = phasewise("optimize", "--scenario", "corridor:intersections=2", "--no-check", "--out", str(tmp_path / "p"))
    assert done.returncode == 0, done.stderr
    plan = json.loads((tmp_path / "p" / "plan.json").read_text())
    turned = json.loads(json.dumps(plan))
    for ip in turned["intersections"][1:]:
        ip["offset_s"] = (ip["offset_s"] + ip["cycle_s"] / 2) % ip["cycle_s"]
    (tmp_path / "turned.json").write_text(json.dumps(turned))
    share = {}
    for name, path in (("plan", tmp_path / "p" / "plan.json"), ("turned", tmp_path / "turned.json")):
        done = phasewise("sim", "--scenario", "corridor:intersections=2", "--end", "1200", "--plan", str(path),
                         "--events", str(tmp_path / name))
        assert done.returncode == 0, done.stderr
        with SignalDataProcessor(raw_data=str(tmp_path / name / "events.csv"), bin_size=15, verbose=0,
                                 detector_config=str(tmp_path / name / "detectors.csv"),
                                 aggregations=[{"name": "arrival_on_green",
                                               "params": {"latency_offset_seconds": 0}}]) as p:
            p.load()
            p.aggregate()
            (share[name],) = p.conn.sql("SELECT SUM(Percent_AOG * Total_Actuations) / SUM(Total_Actuations) "
                                        "FROM arrival_on_green WHERE DeviceId = 2 AND Phase = 2").fetchone()
    assert 0.0 <= share["turned"] < share["plan"] - 0.1 <= 1.0, share


def test_the_emulated_cabinets_log_what_they_showed(tmp_path: Path) -> None:
    from atspm import SignalDataProcessor

    done = phasewise("controller", "emulate", "--scenario", "corridor:intersections=2", "--port", "0", "--speed", "0",
                     "--end", "600", "--events", str(tmp_path / "ev"))
    assert done.returncode == 0, done.stderr
    events = rows(tmp_path / "ev" / "events.csv")
    assert events[0]["TimeStamp"] == "2024-01-01 00:00:00.000"
    greens = {(r["DeviceId"], r["Parameter"]) for r in events if r["EventId"] == "1"}
    assert {("1", "2"), ("1", "4"), ("2", "6"), ("2", "8")} <= greens
    with SignalDataProcessor(raw_data=str(tmp_path / "ev" / "events.csv"), bin_size=15, verbose=0,
                             detector_config=str(tmp_path / "ev" / "detectors.csv"),
                             aggregations=[{"name": "arrival_on_green", "params": {"latency_offset_seconds": 0}}]) as p:
        p.load()
        p.aggregate()
        shares = [s for (s,) in p.conn.sql("SELECT Percent_AOG FROM arrival_on_green").fetchall()]
    assert len(shares) == 8 and all(0.0 <= s <= 1.0 for s in shares)


def test_pedestrian_crossings_log_walk_clearance_and_dont_walk(tmp_path: Path) -> None:
    """A netgenerate grid with signalled crossings: each pedestrian phase's walk (21) begins when
    SUMO turns its crossings green, clearance (22) and solid don't walk (23) follow in order."""
    from sumo_scenarios.generated import GeneratedSpec, build_generated

    scenario = build_generated(GeneratedSpec("grid", crossings=True), seed=1, workdir=tmp_path / "net")
    (tmp_path / "states.add.xml").write_text(
        f'<additional><timedEvent type="SaveTLSStates" source="A0" dest="{tmp_path / "states.xml"}"/></additional>')
    (tmp_path / "run.sumocfg").write_text(f"""<configuration><input>
        <net-file value="{scenario.net_file}"/><route-files value="{scenario.route_files[0]}"/>
        <additional-files value="{tmp_path / 'states.add.xml'}"/></input>
        <time><begin value="0"/><end value="300"/></time></configuration>""")
    done = phasewise("sim", "--sumocfg", str(tmp_path / "run.sumocfg"), "--events", str(tmp_path / "ev"))
    assert done.returncode == 0, done.stderr
    device = next(r["DeviceId"] for r in rows(tmp_path / "ev" / "devices.csv") if r["TlsId"] == "A0")
    crossings = {int(r["Phase"]): [int(i) for i in r["Crossings"].split()]
                 for r in rows(tmp_path / "ev" / "phases.csv") if r["DeviceId"] == device and r["Crossings"]}
    assert len(crossings) == 2 and sum(len(c) for c in crossings.values()) == 4  # 4 crossings, 2 directions
    states = [(float(s.get("time")), s.get("state")) for s in ET.parse(tmp_path / "states.xml").getroot().iter("tlsState")]
    events = [r for r in rows(tmp_path / "ev" / "events.csv") if r["DeviceId"] == device]
    for phase, links in crossings.items():
        walk = [any(state[i] in "Gg" for i in links) for _, state in states]
        sumo_walks = [t for k, (t, _) in enumerate(states) if k > 0 and walk[k] and not walk[k - 1]]
        mine = [(r["TimeStamp"], int(r["EventId"])) for r in events if r["Parameter"] == str(phase)
                and r["EventId"] in ("21", "22", "23")]
        assert [float(t[17:]) + 60 * int(t[14:16]) for t, e in mine if e == 21] == sumo_walks and sumo_walks
        order = [e for _, e in mine]
        assert all((a, b) in {(21, 22), (22, 23), (23, 21)} for a, b in zip(order, order[1:])), order


def test_an_agencys_own_log_the_odot_sample_of_the_atspm_package(tmp_path: Path) -> None:
    """A real controller's log (ODOT signal 1136, two hours, with vendor events we never write)
    and its detector configuration, as the atspm package ships them, through ``phasewise measures``."""
    from atspm import sample_data

    sample_data.data.df().to_csv(tmp_path / "events.csv", index=False)
    sample_data.config.df().to_csv(tmp_path / "detectors.csv", index=False)
    done = phasewise("measures", str(tmp_path), "--out", str(tmp_path / "m"))
    assert done.returncode == 0, done.stderr
    summary = rows(tmp_path / "m" / "summary.csv")
    assert {r["DeviceId"] for r in summary} == {"1136"}
    with_advance = [r for r in summary if r["Arrivals"]]
    assert {r["Phase"] for r in with_advance} == {"2", "5", "6", "8"}  # the phases its config gives advance loops
    assert all(0.0 < float(r["Arrivals_On_Green"]) < 1.0 and float(r["Arrivals"]) > 100 for r in with_advance)
    assert (tmp_path / "m" / "pcd_1136.png").read_bytes()[:4] == b"\x89PNG"


def test_preemptions_are_logged_as_atspm_reads_them(tmp_path: Path) -> None:
    """Adaptive control with emergency vehicles: each preemption the run reports is a 102/105
    (call on, entry) at its start, a 107 (dwell) when the vehicle's phase turned green and a
    104 (call off) at its end, numbered by approach; the ``atspm`` package's timeline pairs
    them into the same intervals."""
    from atspm import SignalDataProcessor

    done = phasewise("sim", "--scenario", "corridor:intersections=2,demand=high,emergency_per_h=60", "--controller",
                     "adaptive", "--end", "480", "--events", str(tmp_path / "ev"), "--json", str(tmp_path / "m.json"))
    assert done.returncode == 0, done.stderr
    reported = json.loads((tmp_path / "m.json").read_text())["per_seed"][0]["controller_report"]["preemption_events"]
    assert len(reported) >= 3
    devices = {r["TlsId"]: int(r["DeviceId"]) for r in rows(tmp_path / "ev" / "devices.csv")}
    events = [(r["TimeStamp"][11:19], int(r["DeviceId"]), int(r["EventId"]), int(r["Parameter"]))
              for r in rows(tmp_path / "ev" / "events.csv") if 100 <= int(r["EventId"]) < 120]

    def clock(s: float) -> str:
        return f"{int(s) // 3600:02d}:{int(s) % 3600 // 60:02d}:{int(s) % 60:02d}"

    expected = []
    for p in reported:
        device = devices[p["tls_id"]]
        number = {e[3] for e in events if e[1] == device and e[0] == clock(p["start_s"]) and e[2] == 105}
        assert len(number) == 1, (p, events)
        n = number.pop()
        expected += [(clock(p["start_s"]), device, 102, n), (clock(p["start_s"]), device, 105, n)]
        if p["green_s"] is not None:
            expected.append((clock(p["green_s"]), device, 107, n))
        if p["end_s"] is not None:
            expected.append((clock(p["end_s"]), device, 104, n))
    assert sorted(events) == sorted(expected)
    with SignalDataProcessor(raw_data=str(tmp_path / "ev" / "events.csv"), detector_config=str(tmp_path / "ev" / "detectors.csv"),
                             bin_size=15, verbose=0, aggregations=[
                                 {"name": "has_data", "params": {"no_data_min": 5, "min_data_points": 3}},
                                 {"name": "timeline", "params": {"min_duration": 0, "cushion_time": 0}}]) as p:
        p.load()
        p.aggregate()
        preempts = p.conn.sql("SELECT DeviceId, EXTRACT(epoch FROM StartTime - TIMESTAMP '2024-01-01'), Duration "
                              "FROM timeline WHERE EventClass = 'Preempt' ORDER BY 1, 2").fetchall()
    closed = sorted((devices[p["tls_id"]], p["start_s"], p["end_s"] - p["start_s"]) for p in reported if p["end_s"] is not None)
    assert [d for d, _, _ in preempts] == [d for d, _, _ in closed]
    assert [float(x) for _, s, length in preempts for x in (s, length)] == \
        pytest.approx([x for _, s, length in closed for x in (s, length)], abs=0.01)  # a call right after another: 1 ms later
