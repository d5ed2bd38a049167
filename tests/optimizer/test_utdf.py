"""UTDF (Synchro) both ways, checked against a real Synchro export and a third-party reader.

The Synchro file is the UTDF 8 export inside the ``utdf2gmns`` package (a ``[dev]``
dependency), read from the installed package: 53 nodes, 19 of them signalised, feet and mph.
Our exports are read back by ``utdf2gmns`` (its ``read_UTDF`` and ``parse_signal_control``),
and the numbers it reads are compared with the plan we wrote.
"""

from __future__ import annotations

import dataclasses
import importlib.resources
import json
import subprocess
import sys
from pathlib import Path

import pytest
import utdf2gmns as ug  # a [dev] dependency (pip install -e .[dev]): never skipped
from utdf2gmns.func_lib.sumo.signal_intersections import parse_signal_control

from optimizer.corridor import optimize_corridor
from optimizer.demand import DemandEstimate
from optimizer.plan import TimingPlan, validate
from optimizer.utdf import (
    UtdfFile,
    demand_from_utdf,
    parse_utdf,
    plan_from_utdf,
    read_tmc_volumes,
    read_utdf_file,
)
from optimizer.utdf_export import (
    numberings,
    utdf_network,
    write_tmc_volumes,
    write_utdf,
)
from phasewise import scenarios
from phasewise_errors import ConfigError
from sumo_scenarios.network import load_intersections

SYNCHRO_UTDF8 = Path(str(importlib.resources.files("utdf2gmns") / "engine" / "sigma_x" / "UTDF8.csv"))


@pytest.fixture(scope="module")
def synchro() -> UtdfFile:
    return read_utdf_file(SYNCHRO_UTDF8, "--utdf")


@pytest.fixture(scope="module")
def third_party() -> dict:
    return ug.read_UTDF(str(SYNCHRO_UTDF8))


def _cell(frame: object, record: str, intid: int, column: str) -> str:
    rows = frame[(frame["RECORDNAME"] == record) & (frame["INTID"] == str(intid))]  # type: ignore[index]
    return str(rows[column].iloc[0]).strip() if len(rows) else ""


def test_synchro_utdf8_is_read_without_loss(synchro: UtdfFile, third_party: dict) -> None:
    # what utdf2gmns reads from Synchro's file, every signalised node, every phase, every volume
    timed = {int(i) for i in third_party["Timeplans"]["INTID"]}
    signalised = sorted(timed & {int(i) for i in third_party["Phases"]["INTID"]})
    assert sorted(synchro.intersections) == signalised and len(signalised) == 19
    assert len(synchro.nodes) == 53 and synchro.network["Metric"] == "0"
    for node in signalised:
        ix = synchro.intersections[node]
        plans = third_party["Timeplans"]
        assert ix.cycle_s == float(_cell(plans, "Cycle Length", node, "DATA"))
        assert ix.offset_s == float(_cell(plans, "Offset", node, "DATA"))
        phases = third_party["Phases"]
        written = [int(c[1:]) for c in phases.columns if c.startswith("D") and _cell(phases, "MaxGreen", node, c)]
        assert sorted(ix.phases) == written
        for n, p in ix.phases.items():
            column = f"D{n}"
            for record, value in (("BRP", p.brp), ("MinGreen", p.min_green_s), ("MaxGreen", p.max_green_s),
                                  ("Yellow", p.yellow_s), ("AllRed", p.all_red_s), ("Start", p.start_s),
                                  ("MinSplit", p.min_split_s), ("Walk", p.walk_s), ("DontWalk", p.dont_walk_s)):
                raw = _cell(phases, record, node, column)
                assert (float(raw) if raw else None) == value, (node, column, record)
            # the split ends where Synchro's End says
            gap = (p.start_s + p.split_s - float(_cell(phases, "End", node, column))) % ix.cycle_s
            assert min(gap, ix.cycle_s - gap) < 0.01, (node, column)
        lanes = third_party["Lanes"]
        for column, volume in ix.volumes_veh_h().items():
            assert volume == float(_cell(lanes, "Volume", node, column)), (node, column)
        expected = {c for c in lanes.columns if c not in ("RECORDNAME", "INTID", "PED", "HOLD")
                    and _cell(lanes, "Volume", node, c)}
        assert set(ix.volumes_veh_h()) == expected
        # the intervals of concurrent NEMA phases tile the cycle, and each phase's split is its intervals
        intervals = ix.intervals()
        assert abs(sum(i.length_s for i in intervals) - ix.cycle_s) < 0.01
        for n, p in ix.phases.items():
            assert abs(sum(i.length_s for i in intervals if n in i.phases) - p.split_s) < 0.02, (node, n)
    # a few numbers read off the file by hand
    one, seven = synchro.intersections[1], synchro.intersections[7]
    assert (one.cycle_s, one.offset_s, one.reference_phases) == (140.0, 0.0, (2, 6))
    assert (one.phases[2].brp, one.phases[2].max_green_s, one.phases[2].yellow_s, one.phases[2].all_red_s) == (112, 45.6, 4.4, 2.4)
    assert one.volumes_veh_h()["EBT"] == 1490 and one.lanes["EBT"]["Up Node"] == "9"
    assert (seven.offset_s, seven.phases[6].walk_s, seven.phases[6].dont_walk_s, seven.phases[6].min_split_s) == (70.0, 7, 32, 50.1)
    assert synchro.intersections[39].reference_phases == (2,) and synchro.intersections[39].phases[1].brp == 112
    # every record of every section is kept
    for section in ("Nodes", "Links", "Lanes", "Timeplans", "Phases"):
        assert len(synchro.records[section]) == len(third_party[section]), section


@pytest.fixture(scope="module")
def corridor() -> tuple:
    scenario = scenarios.resolve(None, "corridor:demand=medium,intersections=2", [1])[0]
    models = load_intersections(scenario.net_file)
    demand = DemandEstimate({t: {m.id: 100.0 + 10 * k for k, m in enumerate(model.movements)} for t, model in models.items()})
    plan = optimize_corridor(models, demand, time_limit_s=1.0)
    return scenario.net_file, models, demand, plan


def test_synchro_timing_onto_the_network_phases(synchro: UtdfFile, corridor: tuple) -> None:
    # Synchro's node 1 (8 phases, lead-lag overlaps) as the plan of corridor light J0 (3 phases)
    net_file, models, _, _ = corridor
    node = dataclasses.replace(synchro.intersections[1], description="J0")
    rings = numberings(models, utdf_network(net_file, models, list(models)))
    assert rings["J0"].stages == ((2, 6), (1, 5), (4, 8))
    plan, notes = plan_from_utdf(dataclasses.replace(synchro, intersections={**synchro.intersections, 1: node}),
                                 {"J0": models["J0"]}, rings)
    assert sum("skipped" in n for n in notes) == 18  # the file's other signalised nodes
    notes = [n for n in notes if "skipped" not in n]
    ip = plan.intersections["J0"]
    validate(plan, models)
    assert ip.cycle_s == 140.0 and ip.coordinated_phase == 0 and ip.offset_s == 0.0
    # {2,6} is 52.4 s of the cycle in Synchro: green 52.4 - 4.4 - 2.4 = 45.6 s; the side street's
    # {3,7} 14.8 s and {4,7} 1.2 s go to {4,8} (47.6 s): 63.6 - 4 - 2.6 = 57 s green; the
    # leading left's {1,6} 11 s goes to {1,5} (13 s): 24 - 3 - 4 = 17 s green
    assert [(p.phase, p.green_s, p.yellow_s, p.all_red_s) for p in ip.phases] == [
        (0, 45.6, 4.4, 2.4), (2, 57.0, 4, 2.6), (1, 17.0, 3, 4)]
    assert len(notes) == 3 and "[3, 7] for 14.8 s" in notes[0] and notes[0].endswith("phase 2")


def test_our_file_round_trip_and_tmc(corridor: tuple) -> None:
    net_file, models, demand, plan = corridor
    network = utdf_network(net_file, models, list(plan.intersections))
    text = write_utdf(plan, models, network, demand)
    utdf = parse_utdf(text, "ours")
    back, notes = plan_from_utdf(utdf, models, numberings(models, network, plan))
    assert notes == []
    validate(back, models)
    for tls_id, ip in plan.intersections.items():
        again = back.intersections[tls_id]
        assert (again.cycle_s, again.offset_s, again.coordinated_phase) == pytest.approx(
            (ip.cycle_s, ip.offset_s, ip.coordinated_phase), abs=0.01)
        assert [(p.phase, p.yellow_s, p.all_red_s, p.min_green_s) for p in again.phases] == \
               [(p.phase, p.yellow_s, p.all_red_s, p.min_green_s) for p in ip.phases]
        assert [p.green_s for p in again.phases] == pytest.approx([p.green_s for p in ip.phases], abs=0.01)
    volumes, notes = demand_from_utdf(utdf, models, network.directions)
    assert notes == [] and volumes is not None
    assert volumes.flows_veh_h == {t: {m: round(v) for m, v in f.items()} for t, f in demand.flows_veh_h.items()}
    tmc = read_tmc_volumes(write_tmc_volumes(demand, models, network), models, network.node_ids, network.directions)
    assert tmc.flows_veh_h == volumes.flows_veh_h


def test_pedestrian_crossings_get_walk_and_dont_walk(tmp_path: Path) -> None:
    from sumo_scenarios.generated import GeneratedSpec, build_generated

    scenario = build_generated(GeneratedSpec("grid", lanes=1, crossings=True), seed=1, workdir=tmp_path)
    models = load_intersections(scenario.net_file)
    demand = DemandEstimate({t: {m.id: 60.0 for m in model.movements} for t, model in models.items()})
    plan = optimize_corridor(models, demand, time_limit_s=1.0)
    network = utdf_network(scenario.net_file, models, list(plan.intersections))
    path = tmp_path / "grid.utdf.csv"
    path.write_text(write_utdf(plan, models, network, demand), encoding="utf-8", newline="")
    phases = ug.read_UTDF(str(path))["Phases"]
    walks = phases[phases["RECORDNAME"] == "Walk"]
    dont = phases[phases["RECORDNAME"] == "DontWalk"]
    served = 0
    for tls_id, crossings in network.crossings_m.items():
        assert crossings, tls_id  # netconvert guessed crossings at every light
        node = str(network.node_ids[tls_id])
        walk = walks[walks["INTID"] == node].iloc[0]
        clearance = dont[dont["INTID"] == node].iloc[0]
        for column in [c for c in phases.columns if c.startswith("D")]:
            if walk[column].strip():
                served += 1
                assert float(walk[column]) == 7.0
                assert float(clearance[column]) == pytest.approx(-(-max(crossings.values()) // 1.07), abs=1.0)
    assert served >= len(network.crossings_m)  # every light has a phase with a pedestrian signal


def test_not_utdf_binary_and_unmatched_nodes_are_clear_errors(tmp_path: Path, corridor: tuple) -> None:
    _, models, _, _ = corridor
    with pytest.raises(ConfigError, match=r"no \[Nodes\] section"):
        parse_utdf("[Network]\nNetwork Settings\nRECORDNAME,DATA\n", "x.csv")
    binary = tmp_path / "utdf_binary.csv"
    binary.write_bytes(bytes(range(256)) * 4)
    with pytest.raises(ConfigError, match="utdf_binary.csv: a binary file"):
        read_utdf_file(binary, "--utdf")
    with pytest.raises(ConfigError, match="none of its 19 signalised nodes is a traffic light of the network"):
        demand_from_utdf(read_utdf_file(SYNCHRO_UTDF8, "--utdf"), models, {})


def test_cli_export_read_by_utdf2gmns(tmp_path: Path) -> None:
    """``phasewise optimize --scenario corridor:demand=high``: utdf2gmns reads the cycle, offset
    and split of every intersection that plan.json holds; binary --utdf is one clear error."""
    out = tmp_path / "plan"
    mapping = tmp_path / "J3-nema.yaml"  # a site that numbers J3's main street 4/8, its side street 2/6
    mapping.write_text("tls_id: J3\nrings: [[2, 3, 4], [6, 7, 8]]\nbarriers: [[2, 6], [3, 4, 7, 8]]\n"
                       "phases: {0: [4, 8], 1: [3, 7], 2: [2, 6]}\n")
    done = subprocess.run([sys.executable, "-m", "phasewise.cli", "optimize", "--scenario", "corridor:demand=high",
                           "--out", str(out), "--no-check", "--time-limit", "2", "--nema-mapping", str(mapping)],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    plan = TimingPlan.from_json((out / "plan.json").read_text())
    utdf = ug.read_UTDF(str(out / "plan.utdf.csv"))
    nodes = {row["DESCRIPTION"]: row["INTID"] for _, row in utdf["Nodes"].iterrows() if row["TYPE"] == "0"}
    assert set(nodes) == set(plan.intersections) == {"J0", "J1", "J2", "J3"}
    for tls_id, ip in plan.intersections.items():
        node = nodes[tls_id]
        assert float(_cell(utdf["Timeplans"], "Cycle Length", int(node), "DATA")) == pytest.approx(ip.cycle_s)
        assert float(_cell(utdf["Timeplans"], "Offset", int(node), "DATA")) == pytest.approx(ip.offset_s)
        signal = parse_signal_control(utdf["Phases"], utdf["Lanes"], node)
        # ring 1 in barrier-ring-position order serves the plan's phases in its (cyclic) sequence
        ring1 = [phase for b in sorted(signal["brp_info"]) for phase in signal["brp_info"][b].get("1", [])]
        splits = [float(signal[d]["MaxGreen"]) + float(signal[d]["Yellow"]) + float(signal[d]["AllRed"]) for d in ring1]
        expected = [p.split_s for p in ip.phases]
        assert any(splits == pytest.approx(expected[k:] + expected[:k], abs=0.01) for k in range(len(expected))), \
            (tls_id, splits, expected)
        for d in ring1:  # Start to End is the split, in the cycle
            start, end = float(signal[d]["Start"]), float(signal[d]["End"])
            assert (end - start) % ip.cycle_s == pytest.approx(
                float(signal[d]["MaxGreen"]) + float(signal[d]["Yellow"]) + float(signal[d]["AllRed"]), abs=0.01)
        if tls_id == "J3":  # the site's mapping: the through phase is 4 + 8, the side street 2 + 6
            assert {"EBT", "WBT"} <= set(signal["D4"]["protected"]) and "NBT" in signal["D2"]["protected"]
            assert (signal["D2"]["BRP"], signal["D4"]["BRP"], signal["D3"]["BRP"]) == ("111", "211", "212")
        else:  # NEMA's standard numbering
            assert "EBT" in signal["D6"]["protected"] and "WBT" in signal["D2"]["protected"]
            assert "NBT" in signal["D8"]["protected"] and "EBL" in signal["D1"]["protected"]
    binary = tmp_path / "utdf_binary.csv"
    binary.write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00" + bytes(range(256)))
    done = subprocess.run([sys.executable, "-m", "phasewise.cli", "optimize", "--scenario", "corridor:demand=high",
                           "--utdf", str(binary), "--no-check", "--out", str(tmp_path / "x")],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 2 and "utdf_binary.csv: a binary file" in done.stderr and "Traceback" not in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1
    json.loads((out / "plan.json").read_text())  # the earlier output is untouched
