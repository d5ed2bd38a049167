"""Hostile inputs to ``sim``, ``optimize`` and ``calibrate`` through the real entry point.

The rows of issue #24 these commands own (``row`` says which) and more hostile inputs in
the same spirit: plan files (plan.json, plan.add.xml), scenario files (sumocfg, net, routes),
demand, TMC, counts and lane-map CSVs, options, outputs; on the small ``examples/one-light``
scenario or the built-in corridor. Each case checks the exit code, one line naming what is
wrong, no traceback, and that the output folder an earlier run left is untouched. Nearly
every case fails at validation, before SUMO starts.

Each row of the issue runs ``python -m phasewise.cli`` in a subprocess of its own. Our own
cases run in two driver subprocesses that call the same entry point (``run_app``) once per
case, with the console (file descriptor 2) captured per case: one Python start-up (about
1.5 s of imports) for forty cases instead of forty.
"""

from __future__ import annotations

import json
import os
import re
import resource
import stat
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "one-light"
PHASEWISE = [sys.executable, "-m", "phasewise.cli"]
EARLIER = {name: f"earlier run: {name}\n" for name in ("plan.json", "geh.csv", "m.json")}

SIM = ("sim", "--sumocfg", "{ex}/one-light.sumocfg", "--end", "60", "--json", "{out}/m.json")
OPT = ("optimize", "--sumocfg", "{ex}/one-light.sumocfg", "--no-check", "--time-limit", "1", "--out", "{out}")
OPT_CHECK = ("optimize", "--sumocfg", "{ex}/one-light.sumocfg", "--time-limit", "1", "--out", "{out}")
CAL = ("calibrate", "--out", "{out}")


@dataclass(frozen=True)
class Case:
    """One hostile input. ``kind``: ``error`` (one line ``phasewise: error: ...`` holding
    ``message``), ``usage`` (Click's usage error naming it) or ``ok``. ``row``: the row of
    issue #24, 0 for our own. ``fsize``: a file size limit (bytes) for the run, a disk that
    fills up."""

    name: str
    args: tuple[str, ...]
    message: str
    kind: str = "error"
    row: int = 0
    fsize: int = 0
    alone: bool = False  # SUMO starts: a process of its own, as for the rows


def _sim_plan(plan: str, message: str, row: int = 0) -> Case:
    return Case(f"sim --plan {plan}", (*SIM, "--plan", f"{{in}}/{plan}"), message, row=row)


def _sim_cfg(cfg: str, message: str, row: int = 0) -> Case:
    return Case(f"sim --sumocfg {cfg}", ("sim", "--sumocfg", f"{{in}}/{cfg}", "--end", "60"), message, row=row)


def _demand(file: str, message: str, row: int = 0, option: str = "--demand") -> Case:
    return Case(f"optimize {option} {file}", (*OPT, option, f"{{in}}/{file}"), message, row=row)


ROWS = [
    _sim_plan("allneg.add.xml", "allneg.add.xml: tlLogic 'J0' program 'phasewise' phase 0: duration -5 s must be a "
                                "finite number above 0", row=1),
    Case("sim --json /dev/full", ("sim", "--sumocfg", "{ex}/one-light.sumocfg", "--end", "30", "--json", "/dev/full"),
         "--json /dev/full: cannot write (No space left on device)", row=2),
    _demand("header_only.csv", "header_only.csv: no rows after the header", row=5),
    _sim_plan("strgreen.json", "--plan {in}/strgreen.json: not a timing plan JSON document (J0 phase 0: 'green_s' "
                               "must be a number, not str)", row=7),
    Case("optimize --existing strgreen.json", (*OPT_CHECK, "--existing", "{in}/strgreen.json"),
         "--existing {in}/strgreen.json: not a timing plan JSON document (J0 phase 0: 'green_s' must be a number", row=7),
    _demand("duplicate_rows.csv", "duplicate_rows.csv:3: J0 movement W_J0:through is listed twice (lines 2 and 3)",
            row=12),
    _demand("flow_1e12.csv", "flow_1e12.csv:2: J0 movement W_J0:through: flow_veh_h 1e12 is above 20000", row=12),
    _demand("tmc_25_99.csv", "tmc_25_99.csv:2: bin_start '25:99' is not seconds or HH:MM", row=13, option="--tmc"),
    _demand("tmc_nan.csv", "tmc_nan.csv:2: bin_start 'nan' is not seconds or HH:MM", row=13, option="--tmc"),
    Case("optimize --counts with class spaceship", (*OPT, "--counts", "{in}/counts_spaceship.csv", "--lane-map",
                                                   "{in}/lane_map.csv"),
         "counts_spaceship.csv:2: class 'spaceship' is not a road-user class", row=14),
    _sim_plan("nangreen.json", "--plan {in}/nangreen.json: not a timing plan JSON document (J0 phase 0: 'green_s' is "
                               "nan, not a finite number)", row=15),
    Case("optimize --existing nangreen.json", (*OPT_CHECK, "--existing", "{in}/nangreen.json"),
         "'green_s' is nan, not a finite number", row=15),
    Case("calibrate a route with a bad edge", (*CAL, "--sumocfg", "{in}/badedge.sumocfg", "--counts", "{ex}/tmc.csv"),
         "badedge.rou.xml: <flow> 'W_through' uses edge 'J0_Ex', which the network", row=17),
    _sim_cfg("net_is_routes.sumocfg", "one-light.rou.xml: not a SUMO network (.net.xml): its root element is <routes>",
             row=21),
    _sim_cfg("short_state.sumocfg", "short_state.net.xml: tlLogic 'J0' program '0' phase 0: state 'rrrGGGgrrrGGG' has "
                                    "13 signals, but the light controls 14 links", row=22),
    _sim_plan("nan.add.xml", "nan.add.xml: tlLogic 'J0' program 'phasewise' phase 0: duration nan s", row=23),
    _sim_plan("zero.add.xml", "zero.add.xml: tlLogic 'J0' program 'phasewise' phase 2: duration 0 s", row=23),
    _sim_plan("unknown_tls.add.xml", "unknown_tls.add.xml: tlLogic for traffic light 'J9', which the network does not "
                                     "have", row=23),
    Case("sim --end 1e308", ("sim", "--scenario", "corridor:intersections=1", "--end", "1e308"), "'--end'",
         kind="usage", row=24),
    Case("optimize --out on a full disk", ("optimize", "--net", "{ex}/one-light.net.xml", "--demand", "{in}/demand.csv",
                                           "--time-limit", "1", "--out", "{out}"),
         "--out {out}: cannot write (File too large)", row=25, fsize=20_000),
    Case("calibrate without routes", (*CAL, "--sumocfg", "{in}/no_routes.sumocfg", "--counts", "{ex}/tmc.csv"),
         "--sumocfg {in}/no_routes.sumocfg: no <route-files>", row=27),
    Case("calibrate TMC count nan", (*CAL, "--sumocfg", "{ex}/one-light.sumocfg", "--counts", "{in}/tmc_count_nan.csv"),
         "tmc_count_nan.csv:2: count nan must be a non-negative number", row=27),
    Case("optimize J0 demand --existing plan of J0 and J1",
         ("optimize", "--scenario", "corridor:intersections=2", "--demand", "{in}/demand_j0_only.csv", "--existing",
          "{plan2}/plan.json", "--seeds", "1", "--no-search", "--end", "300", "--time-limit", "1", "--out", "{out}"),
         "", kind="ok", row=28),
    Case("sim --sumocfg a folder", ("sim", "--sumocfg", "{ex}"), "{ex}: is a folder; give the .sumocfg file in it "
                                                                 "(one-light.sumocfg)", row=29),
    _sim_cfg("net_is_folder.sumocfg", "net_is_folder.sumocfg: referenced file", row=29),
    Case("sim --plan a folder", (*SIM, "--plan", "{in}"), "--plan {in}: is a folder", row=29),
    Case("optimize --net a folder", ("optimize", "--net", "{in}", "--demand", "{in}/demand.csv", "--out", "{out}"),
         "{in}: is a folder; give the network file", row=29),
]

OWN = [
    # plan.add.xml
    _sim_plan("unknown_signal.add.xml", "unknown_signal.add.xml: tlLogic 'J0' program 'phasewise' phase 0: state "),
    _sim_plan("ragged.add.xml", "phase 1: state has 15 signals, phase 0 has 14"),
    _sim_plan("no_phase.add.xml", "no_phase.add.xml: tlLogic 'J0' program 'phasewise': no <phase>"),
    _sim_plan("routes_root.add.xml", "not a SUMO additional file (root element <routes>"),
    _sim_plan("garbage.add.xml", "garbage.add.xml: not a readable SUMO additional file"),
    _sim_plan("empty.add.xml", "empty.add.xml: not a readable SUMO additional file"),
    _sim_plan("binary.add.xml", "a binary file, not text"),
    _sim_plan("all_green.add.xml", "shows conflicting links"),
    _sim_plan("inf.add.xml", "phase 0: duration inf s must be a finite number above 0"),
    _sim_plan("word_duration.add.xml", "tlLogic 'J0' program 'phasewise': could not convert string to float"),
    _sim_plan("mindur_nan.add.xml", "phase 0: minDur nan s is not a finite number"),
    _sim_plan("no_tllogic.add.xml", "no <tlLogic> program in the file"),
    _sim_plan("offset_nan.add.xml", "tlLogic 'J0' program 'phasewise': offset nan must be a finite number"),
    Case("sim --plan a program type SUMO does not know", (*SIM, "--plan", "{in}/type_foo.add.xml"),
         "SUMO could not load one-light: {in}/type_foo.add.xml: Traffic light 'J0' has unknown type 'foo'", alone=True),
    # plan.json
    _sim_plan("not_json.json", "not a timing plan JSON document (not JSON"),
    _sim_plan("list.json", "expected an object with an 'intersections' list"),
    _sim_plan("bool_green.json", "'green_s' must be a number, not bool"),
    _sim_plan("bad_cycle.json", "J0: phases add up to"),
    _sim_plan("negative_offset.json", "offset -5 s outside [0"),
    _sim_plan("twice.json", "J0: listed twice"),
    _sim_plan("unknown_field.json", "unknown phase field(s) colour"),
    _sim_plan("phase_99.json", "J0 phase 99: no such phase"),
    _sim_plan("latin1.json", "not UTF-8 text"),
    _sim_plan("empty.json", "not a timing plan JSON document (not JSON"),
    _sim_plan("green_1e999.json", "'green_s' is inf, not a finite number"),
    _sim_plan("missing.json", "--plan {in}/missing.json: file not found"),
    Case("sim --plan /dev/null", (*SIM, "--plan", "/dev/null"), "--plan /dev/null: not a regular file"),
    # sim options
    Case("sim --end -5", (*SIM, "--end", "-5"), "'--end'", kind="usage"),
    Case("sim --end inf", (*SIM, "--end", "inf"), "'--end'", kind="usage"),
    Case("sim --end 0", (*SIM, "--end", "0"), "'--end'", kind="usage"),
    Case("sim --first-seed -1", (*SIM, "--first-seed", "-1"), "'--first-seed'", kind="usage"),
    Case("sim --controller unknown", (*SIM, "--controller", "fastest"), "unknown controller 'fastest'"),
    Case("sim --sumocfg and --scenario", (*SIM, "--scenario", "corridor"), "give exactly one of --sumocfg"),
    # scenario files
    _sim_cfg("not_xml.sumocfg", "not_xml.sumocfg: not valid XML"),
    _sim_cfg("routes_root.sumocfg", "not a SUMO configuration (root element <routes>"),
    _sim_cfg("no_net.sumocfg", "no <net-file> in the configuration"),
    _sim_cfg("missing_routes.sumocfg", "missing_routes.sumocfg: referenced file"),
    _sim_cfg("end_nan.sumocfg", "end_nan.sumocfg: <end> value 'nan' must be seconds"),
    _sim_cfg("end_1e308.sumocfg", "end_1e308.sumocfg: <end> value '1e308' must be seconds"),
    _sim_cfg("end_before_begin.sumocfg", "end 100 s must be after begin 200 s"),
    _sim_cfg("garbage_net.sumocfg", "garbage.net.xml: not valid XML"),
    _sim_cfg("zero_duration_net.sumocfg", "zero_duration.net.xml: tlLogic 'J0' program '0' phase 1: duration 0 s"),
    _sim_cfg("unknown_signal_net.sumocfg", "unknown_signal.net.xml: tlLogic 'J0' program '0' phase 0: state"),
    _sim_cfg("trip_bad_edge.sumocfg", "trip_bad_edge.rou.xml: <trip> 't1' uses edge 'nowhere'"),
    _sim_cfg("flow_bad_via.sumocfg", "flow_bad_via.rou.xml: <flow> 'f1' uses edge 'detour'"),
    _sim_cfg("additional_root_routes.sumocfg", "not a SUMO route file (root element <additional>"),
    _sim_cfg("binary.sumocfg", "binary.sumocfg: not valid XML"),
    # demand CSV
    _demand("negative.csv", "negative.csv:2: J0 movement W_J0:through: flow_veh_h -5 must be a non-negative number"),
    _demand("nan.csv", "nan.csv:2: J0 movement W_J0:through: flow_veh_h nan must be a non-negative number"),
    _demand("inf.csv", "inf.csv:2: J0 movement W_J0:through: flow_veh_h inf must be a non-negative number"),
    _demand("units.csv", "units.csv:2: J0 movement W_J0:through: flow_veh_h '600 veh/h' is not a number"),
    _demand("no_flow_column.csv", "missing column(s) flow_veh_h"),
    _demand("std_nan.csv", "std_nan.csv:2: J0 movement W_J0:through: std_veh_h nan"),
    _demand("empty_tls.csv", "empty_tls.csv:2: tls and movement must not be empty"),
    _demand("extra_cells.csv", "extra_cells.csv:2: more cells than the header has columns"),
    _demand("header_twice.csv", "column(s) flow_veh_h appear twice"),
    _demand("binary.csv", "binary.csv: a binary file, not a CSV"),
    _demand("unknown_movement.csv", "J0: demand for movement 'W_J0:sideways', which does not exist"),
    _demand("unknown_tls.csv", "demand for traffic light 'J7', which the network does not have"),
    _demand("zero_bytes.csv", "zero_bytes.csv: missing column(s)"),
    # TMC
    _demand("tmc_negative_start.csv", "tmc_negative_start.csv:2: bin_start '-900' is not seconds or HH:MM",
            option="--tmc"),
    _demand("tmc_start_1e12.csv", "bin_start '1e12' is not seconds or HH:MM", option="--tmc"),
    _demand("tmc_seconds_75.csv", "bin_start '12:30:75' is not seconds or HH:MM", option="--tmc"),
    _demand("tmc_bin_0.csv", "tmc_bin_0.csv:2: bin_s 0 must be above 0", option="--tmc"),
    _demand("tmc_bin_7200.csv", "tmc_bin_7200.csv:2: bin_s 7200 is above 3600", option="--tmc"),
    _demand("tmc_mixed_bins.csv", "bins must all have the same length", option="--tmc"),
    _demand("tmc_count_1e9.csv", "tmc_count_1e9.csv:2: count 1e9 is above 5000", option="--tmc"),
    _demand("tmc_count_negative.csv", "count -1 must be a non-negative number", option="--tmc"),
    _demand("tmc_duplicate.csv", "J0 movement W_J0:left bin 900 s is listed twice (lines 3 and 4)", option="--tmc"),
    _demand("tmc_header_only.csv", "no counts after the header", option="--tmc"),
    # counts and lane map
    Case("optimize --counts count nan", (*OPT, "--counts", "{in}/counts_nan.csv", "--lane-map", "{in}/lane_map.csv"),
         "counts_nan.csv:2: lane l1: count nan must be a non-negative number"),
    Case("optimize --counts without --lane-map", (*OPT, "--counts", "{in}/counts_ok.csv"), "--counts needs --lane-map"),
    Case("optimize --lane-map share 1.5", (*OPT, "--counts", "{in}/counts_ok.csv", "--lane-map", "{in}/share_15.csv"),
         "share_15.csv:2: share 1.5 must be between 0 and 1"),
    Case("optimize --lane-map shares above 1", (*OPT, "--counts", "{in}/counts_ok.csv", "--lane-map",
                                                "{in}/shares_sum.csv"), "lane l1: shares add up to 1.4, above 1"),
    Case("optimize --counts lane not mapped", (*OPT, "--counts", "{in}/counts_unmapped.csv", "--lane-map",
                                               "{in}/lane_map.csv"), "lane 'l9' is not in the lane map"),
    Case("optimize --counts duplicate row", (*OPT, "--counts", "{in}/counts_duplicate.csv", "--lane-map",
                                             "{in}/lane_map.csv"), "bin 0, lane l1, class car is listed twice"),
    # optimize options
    Case("optimize --cycle-min above --cycle-max", (*OPT, "--cycle-min", "100", "--cycle-max", "50"),
         "--cycle-min 100 must not exceed --cycle-max 50"),
    Case("optimize --begin after --end", (*OPT, "--begin", "100", "--end", "50"), "--end 50 must be after --begin 100"),
    Case("optimize --end 1e308", (*OPT, "--end", "1e308"), "'--end'", kind="usage"),
    Case("optimize --saturation-flow 1e9", (*OPT, "--saturation-flow", "1e9"), "'--saturation-flow'", kind="usage"),
    Case("optimize --existing with --no-check", (*OPT, "--existing", "{plan1}/plan.json"),
         "--existing is what the SUMO check compares against"),
    Case("optimize --existing missing", (*OPT_CHECK, "--existing", "{in}/missing.json"),
         "--existing {in}/missing.json: file not found"),
    Case("optimize --net a route file", ("optimize", "--net", "{ex}/one-light.rou.xml", "--demand", "{in}/demand.csv",
                                         "--out", "{out}"), "not a SUMO network (.net.xml)"),
    Case("optimize --routes with a bad edge", ("optimize", "--net", "{ex}/one-light.net.xml", "--routes",
                                               "{in}/trip_bad_edge.rou.xml", "--no-check", "--out", "{out}"),
         "trip_bad_edge.rou.xml: <trip> 't1' uses edge 'nowhere'"),
    Case("optimize --demand and --tmc", (*OPT, "--demand", "{in}/demand.csv", "--tmc", "{ex}/tmc.csv"),
         "give only one demand source"),
    Case("optimize --out /dev/null", ("optimize", "--sumocfg", "{ex}/one-light.sumocfg", "--out", "/dev/null"),
         "--out /dev/null: is a file; give a folder"),
    # calibrate
    Case("calibrate --counts header only", (*CAL, "--sumocfg", "{ex}/one-light.sumocfg", "--counts",
                                            "{in}/tmc_header_only.csv"), "no counts after the header"),
    Case("calibrate --counts unknown movement", (*CAL, "--sumocfg", "{ex}/one-light.sumocfg", "--counts",
                                                 "{in}/tmc_unknown_movement.csv"),
         "J0: counts for movement 'W_J0:sideways', which does not exist"),
    Case("calibrate --seed -1", (*CAL, "--sumocfg", "{ex}/one-light.sumocfg", "--counts", "{ex}/tmc.csv", "--seed", "-1"),
         "'--seed'", kind="usage"),
    Case("calibrate --counts outside the period", (*CAL, "--sumocfg", "{ex}/one-light.sumocfg", "--counts",
                                                   "{in}/tmc_next_day.csv"),
         "bins starting at 90000 s lie outside the scenario's period (0-3600 s): no vehicle could match them"),
    Case("calibrate --sumocfg a folder", (*CAL, "--sumocfg", "{in}", "--counts", "{ex}/tmc.csv"), "is a folder"),
    Case("calibrate --counts a folder", (*CAL, "--sumocfg", "{ex}/one-light.sumocfg", "--counts", "{in}"),
         "{in}: is a folder; give the turning-movement counts"),
]

CASES = ROWS + OWN

Run = tuple[int, str, Path, dict]  # exit code, stderr, the output folder, the paths filled in


def _write(folder: Path, name: str, text: str | bytes) -> None:
    (folder / name).write_bytes(text if isinstance(text, bytes) else text.encode("utf-8"))


def _plan_variants(folder: Path, plan_json: str, plan_add: str) -> None:
    """Hostile plans made from a good plan of the one-light network (J0, phases 0-2)."""
    good = json.loads(plan_json)

    def variant(name: str, change: object) -> None:
        plan = json.loads(plan_json)
        change(plan)  # type: ignore[operator]
        _write(folder, name, json.dumps(plan))

    first = lambda p: p["intersections"][0]  # noqa: E731
    variant("strgreen.json", lambda p: first(p)["phases"][0].update(green_s="22"))
    variant("nangreen.json", lambda p: first(p)["phases"][0].update(green_s=float("nan")))
    variant("bool_green.json", lambda p: first(p)["phases"][0].update(green_s=True))
    variant("bad_cycle.json", lambda p: first(p).update(cycle_s=first(p)["cycle_s"] + 7))
    variant("negative_offset.json", lambda p: first(p).update(offset_s=-5))
    variant("twice.json", lambda p: p["intersections"].append(first(p)))
    variant("unknown_field.json", lambda p: first(p)["phases"][0].update(colour="green"))
    variant("phase_99.json", lambda p: first(p)["phases"][0].update(phase=99))
    _write(folder, "green_1e999.json", json.dumps(good).replace(f'"green_s": {first(good)["phases"][0]["green_s"]}',
                                                                  '"green_s": 1e999', 1))
    _write(folder, "latin1.json", json.dumps({**good, "note": "caméra"}, ensure_ascii=False).encode("latin-1"))
    _write(folder, "not_json.json", "{intersections: [")
    _write(folder, "list.json", "[]")
    _write(folder, "empty.json", "")
    durations = list(re.finditer(r'duration="([^"]+)"', plan_add))

    def with_duration(k: int, value: str) -> str:  # phase k's duration replaced
        return plan_add[:durations[k].start(1)] + value + plan_add[durations[k].end(1):]

    _write(folder, "allneg.add.xml", re.sub(r'duration="[0-9.]+"', 'duration="-5"', plan_add))
    _write(folder, "nan.add.xml", with_duration(0, "nan"))
    _write(folder, "inf.add.xml", with_duration(0, "inf"))
    _write(folder, "word_duration.add.xml", with_duration(0, "long"))
    _write(folder, "zero.add.xml", with_duration(2, "0"))
    _write(folder, "unknown_tls.add.xml", plan_add.replace('id="J0"', 'id="J9"'))
    state = plan_add[plan_add.index('state="') + 7:plan_add.index('"', plan_add.index('state="') + 7)]
    _write(folder, "unknown_signal.add.xml", plan_add.replace(f'state="{state}"', f'state="{state[:-1]}X"', 1))
    second = plan_add.index('state="', plan_add.index('state="') + 1) + 7
    _write(folder, "ragged.add.xml", plan_add[:second] + "r" + plan_add[second:])
    _write(folder, "all_green.add.xml", plan_add.replace(f'state="{state}"', f'state="{"G" * len(state)}"', 1))
    _write(folder, "mindur_nan.add.xml", plan_add.replace('duration="', 'minDur="nan" duration="', 1))
    start, stop = plan_add.index("<tlLogic"), plan_add.index("</tlLogic>")
    logic_open = plan_add[start:plan_add.index(">", start) + 1]
    _write(folder, "no_phase.add.xml", plan_add[:start] + logic_open + plan_add[stop:])
    _write(folder, "routes_root.add.xml", plan_add.replace("<additional>", "<routes>").replace("</additional>", "</routes>"))
    _write(folder, "garbage.add.xml", "<additional><tlLogic id='J0'")
    _write(folder, "empty.add.xml", "")
    _write(folder, "binary.add.xml", b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR" + bytes(range(256)))
    _write(folder, "no_tllogic.add.xml", "<additional/>")
    _write(folder, "offset_nan.add.xml", re.sub(r'offset="[^"]*"', 'offset="nan"', plan_add, count=1))
    _write(folder, "type_foo.add.xml", plan_add.replace('type="static"', 'type="foo"', 1))


CFG = ('<configuration><input><net-file value="{net}"/>{routes}</input>'
       '<time><begin value="{begin}"/><end value="{end}"/></time></configuration>')


def _cfg(folder: Path, name: str, net: str = "{ex}/one-light.net.xml", routes: str | None = "{ex}/one-light.rou.xml",
         begin: str = "0", end: str = "600") -> None:
    ex = str(EXAMPLE)
    route_tag = f'<route-files value="{routes.replace("{ex}", ex)}"/>' if routes is not None else ""
    _write(folder, name, CFG.format(net=net.replace("{ex}", ex), routes=route_tag, begin=begin, end=end))


def _scenario_variants(folder: Path) -> None:
    net = (EXAMPLE / "one-light.net.xml").read_text(encoding="utf-8")
    routes = (EXAMPLE / "one-light.rou.xml").read_text(encoding="utf-8")
    _write(folder, "badedge.rou.xml", routes.replace("W_J0.up W_J0 J0_E", "W_J0.up W_J0 J0_Ex", 1))
    _cfg(folder, "badedge.sumocfg", routes="badedge.rou.xml")
    _cfg(folder, "net_is_routes.sumocfg", net="{ex}/one-light.rou.xml")
    _write(folder, "short_state.net.xml", net.replace('state="rrrGGGgrrrGGGg"', 'state="rrrGGGgrrrGGG"'))
    _cfg(folder, "short_state.sumocfg", net="short_state.net.xml")
    _cfg(folder, "no_routes.sumocfg", routes=None)
    _cfg(folder, "net_is_folder.sumocfg", net=".")
    _write(folder, "not_xml.sumocfg", "<configuration><input>")
    _write(folder, "routes_root.sumocfg", "<routes/>")
    _write(folder, "no_net.sumocfg", "<configuration><input/></configuration>")
    _cfg(folder, "missing_routes.sumocfg", routes="gone.rou.xml")
    _cfg(folder, "end_nan.sumocfg", end="nan")
    _cfg(folder, "end_1e308.sumocfg", end="1e308")
    _cfg(folder, "end_before_begin.sumocfg", begin="200", end="100")
    _write(folder, "garbage.net.xml", "<net><edge id=")
    _cfg(folder, "garbage_net.sumocfg", net="garbage.net.xml")
    first_duration = net.index('<phase duration="') + len('<phase duration="')
    second_duration = net.index('<phase duration="', first_duration) + len('<phase duration="')
    _write(folder, "zero_duration.net.xml", net[:second_duration] + "0" + net[net.index('"', second_duration):])
    _cfg(folder, "zero_duration_net.sumocfg", net="zero_duration.net.xml")
    _write(folder, "unknown_signal.net.xml", net.replace('state="rrrGGGgrrrGGGg"', 'state="rrrGGGgrrrGGGq"'))
    _cfg(folder, "unknown_signal_net.sumocfg", net="unknown_signal.net.xml")
    _write(folder, "trip_bad_edge.rou.xml", '<routes><trip id="t1" depart="0" from="W_J0.up" to="nowhere"/></routes>')
    _cfg(folder, "trip_bad_edge.sumocfg", routes="trip_bad_edge.rou.xml")
    _write(folder, "flow_bad_via.rou.xml", '<routes><flow id="f1" begin="0" end="60" number="3" from="W_J0.up" '
                                           'to="J0_E" via="detour"/></routes>')
    _cfg(folder, "flow_bad_via.sumocfg", routes="flow_bad_via.rou.xml")
    _write(folder, "additional_root.rou.xml", "<additional/>")
    _cfg(folder, "additional_root_routes.sumocfg", routes="additional_root.rou.xml")
    _write(folder, "binary.sumocfg", b"\0\1\2\3" * 64)


def _csv_variants(folder: Path) -> None:
    header = "tls,movement,flow_veh_h\n"
    csvs = {
        "demand.csv": header + "J0,W_J0:through,600\nJ0,E_J0:through,500\n",
        "header_only.csv": header,
        "duplicate_rows.csv": header + "J0,W_J0:through,600\nJ0,W_J0:through,600\n",
        "flow_1e12.csv": header + "J0,W_J0:through,1e12\n",
        "negative.csv": header + "J0,W_J0:through,-5\n",
        "nan.csv": header + "J0,W_J0:through,nan\n",
        "inf.csv": header + "J0,W_J0:through,inf\n",
        "units.csv": header + "J0,W_J0:through,600 veh/h\n",
        "no_flow_column.csv": "tls,movement,flow\nJ0,W_J0:through,600\n",
        "std_nan.csv": "tls,movement,flow_veh_h,std_veh_h\nJ0,W_J0:through,600,nan\n",
        "empty_tls.csv": header + ",W_J0:through,600\n",
        "extra_cells.csv": header + "J0,W_J0:through,600,12,extra\n",
        "header_twice.csv": "tls,movement,flow_veh_h,flow_veh_h\nJ0,W_J0:through,600,700\n",
        "unknown_movement.csv": header + "J0,W_J0:sideways,600\n",
        "unknown_tls.csv": header + "J7,W_J0:through,600\n",
        "zero_bytes.csv": "",
        "demand_j0_only.csv": header + "J0,W_J0:through,700\nJ0,J1_J0:through,600\nJ0,N0_J0:through,200\n",
    }
    tmc = "tls,movement,bin_start,count\n"
    csvs.update({
        "tmc_25_99.csv": tmc + "J0,W_J0:through,25:99,30\n",
        "tmc_nan.csv": tmc + "J0,W_J0:through,nan,30\n",
        "tmc_count_nan.csv": tmc + "J0,W_J0:through,0,nan\n",
        "tmc_negative_start.csv": tmc + "J0,W_J0:through,-900,30\n",
        "tmc_start_1e12.csv": tmc + "J0,W_J0:through,1e12,30\n",
        "tmc_seconds_75.csv": tmc + "J0,W_J0:through,12:30:75,30\n",
        "tmc_bin_0.csv": "tls,movement,bin_start,count,bin_s\nJ0,W_J0:through,0,30,0\n",
        "tmc_bin_7200.csv": "tls,movement,bin_start,count,bin_s\nJ0,W_J0:through,0,30,7200\n",
        "tmc_mixed_bins.csv": "tls,movement,bin_start,count,bin_s\nJ0,W_J0:through,0,30,900\nJ0,W_J0:left,0,3,600\n",
        "tmc_count_1e9.csv": tmc + "J0,W_J0:through,0,1e9\n",
        "tmc_count_negative.csv": tmc + "J0,W_J0:through,0,-1\n",
        "tmc_duplicate.csv": tmc + "J0,W_J0:left,0,3\nJ0,W_J0:left,900,4\nJ0,W_J0:left,900,5\n",
        "tmc_header_only.csv": tmc,
        "tmc_unknown_movement.csv": tmc + "J0,W_J0:sideways,0,30\n",
        "tmc_next_day.csv": tmc + "J0,W_J0:through,25:00,30\n",
        "lane_map.csv": "lane,tls,movement\nl1,J0,W_J0:through\n",
        "share_15.csv": "lane,tls,movement,share\nl1,J0,W_J0:through,1.5\n",
        "shares_sum.csv": "lane,tls,movement,share\nl1,J0,W_J0:through,0.8\nl1,J0,W_J0:left,0.6\n",
        "counts_ok.csv": "bin_start,lane,class,count\n0,l1,car,40\n",
        "counts_spaceship.csv": "bin_start,lane,class,count\n0,l1,spaceship,5\n",
        "counts_nan.csv": "bin_start,lane,class,count\n0,l1,car,nan\n",
        "counts_unmapped.csv": "bin_start,lane,class,count\n0,l9,car,4\n",
        "counts_duplicate.csv": "bin_start,lane,class,count\n0,l1,car,4\n0,l1,car,5\n",
    })
    for name, text in csvs.items():
        _write(folder, name, text)
    _write(folder, "binary.csv", b"tls,movement,flow_veh_h\n\0\0\xff\xfe" * 8)


def _fill(text: str, paths: dict[str, Path]) -> str:
    for key, path in paths.items():
        text = text.replace("{" + key + "}", str(path))
    return text


def _limit_file_size(size: int) -> object:
    def limit() -> None:  # in the child, before phasewise starts: every file it writes stops at ``size``
        resource.setrlimit(resource.RLIMIT_FSIZE, (size, size))
    return limit


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Run]:
    base = tmp_path_factory.mktemp("hostile")
    inputs = base / "in"
    inputs.mkdir()
    plans = {name: base / name for name in ("plan1", "plan2")}
    make_plans = [
        ("optimize", "--sumocfg", str(EXAMPLE / "one-light.sumocfg"), "--tmc", str(EXAMPLE / "tmc.csv"), "--no-check",
         "--time-limit", "1", "--out", str(plans["plan1"])),
        ("optimize", "--scenario", "corridor:intersections=2", "--no-check", "--time-limit", "1",
         "--out", str(plans["plan2"])),
    ]
    with ThreadPoolExecutor(max_workers=2) as pool:
        for done in pool.map(lambda a: subprocess.run([*PHASEWISE, *a], capture_output=True, text=True, timeout=300,
                                                      cwd=ROOT), make_plans):
            assert done.returncode == 0, done.stderr
    _plan_variants(inputs, (plans["plan1"] / "plan.json").read_text(), (plans["plan1"] / "plan.add.xml").read_text())
    _scenario_variants(inputs)
    _csv_variants(inputs)

    def prepare(index: int, case: Case) -> tuple[Path, dict[str, Path], list[str]]:
        out = base / f"case{index:03d}" / "out"
        out.mkdir(parents=True)
        for name, text in EARLIER.items():
            (out / name).write_text(text)
        paths = {"in": inputs, "out": out, "ex": EXAMPLE, **plans}
        return out, paths, [_fill(a, paths) for a in case.args]

    def run_row(index_case: tuple[int, Case]) -> list[tuple[str, Run]]:
        index, case = index_case
        out, paths, args = prepare(index, case)
        done = subprocess.run([*PHASEWISE, *args], capture_output=True, text=True, timeout=600, cwd=ROOT,
                              preexec_fn=_limit_file_size(case.fsize) if case.fsize else None)
        return [(case.name, (done.returncode, done.stderr, out, paths))]

    def run_driver(chunk: list[tuple[int, Case]]) -> list[tuple[str, Run]]:
        prepared = [prepare(index, case) for index, case in chunk]
        argv_file, result_file = base / f"driver{chunk[0][0]}.json", base / f"driver{chunk[0][0]}.out.json"
        argv_file.write_text(json.dumps([args for _, _, args in prepared]))
        done = subprocess.run([sys.executable, "-c", DRIVER, str(argv_file), str(result_file)], capture_output=True,
                              text=True, timeout=600, cwd=ROOT)
        assert done.returncode == 0, done.stderr
        results = json.loads(result_file.read_text())
        return [(case.name, (r["code"], r["stderr"], out, paths))
                for (_, case), (out, paths, _), r in zip(chunk, prepared, results)]

    indexed = list(enumerate(CASES))
    own = [(i, c) for i, c in indexed if not (c.row or c.alone)]
    jobs = [(run_row, [ic]) for ic in indexed if ic[1].row or ic[1].alone] + [(run_driver, own[k::2]) for k in range(2)]
    with ThreadPoolExecutor(max_workers=3) as pool:
        futures = [pool.submit(fn, arg[0] if fn is run_row else arg) for fn, arg in jobs]
        return dict(pair for future in futures for pair in future.result())


DRIVER = """
import json, os, sys, tempfile
from phasewise.app import run_app
import phasewise.cli  # registers the commands, as the phasewise script does

results = []
for argv in json.load(open(sys.argv[1])):
    with tempfile.TemporaryFile() as console:
        sys.stderr.flush()
        saved = os.dup(2)
        os.dup2(console.fileno(), 2)
        try:
            run_app(argv)
        except SystemExit as exc:
            code = exc.code
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
        console.seek(0)
        results.append({"code": code, "stderr": console.read().decode("utf-8", "replace")})
json.dump(results, open(sys.argv[2], "w"))
"""


@pytest.mark.parametrize("case", CASES, ids=[f"row{c.row}: {c.name}" if c.row else c.name for c in CASES])
def test_hostile_input(case: Case, runs: dict[str, Run]) -> None:
    code, full_stderr, out, paths = runs[case.name]
    message = _fill(case.message, paths)
    stderr = full_stderr.strip()
    assert "Traceback" not in stderr and "internal error" not in stderr, stderr
    if case.kind == "ok":
        assert code == 0, stderr
        return
    assert code == 2, stderr
    lines = stderr.splitlines()
    if case.kind == "usage":
        assert lines[-1].startswith("Error: ") and message in stderr, stderr
    else:
        assert len(lines) == 1 and lines[0].startswith("phasewise: error: ") and message in lines[0], stderr
    assert {p.name: p.read_text() for p in out.iterdir()} == EARLIER  # the earlier run's outputs, untouched
    assert not [p for p in out.parent.iterdir() if p.name.startswith(".")]  # no staging folder left


def test_full_device_is_not_replaced(runs: dict[str, Run]) -> None:
    """Row 2: after ``--json /dev/full`` the device is still a device."""
    assert runs["sim --json /dev/full"][0] == 2
    assert stat.S_ISCHR(os.stat("/dev/full").st_mode)


def test_existing_plan_of_more_lights_than_optimized(
        runs: dict[str, Run]) -> None:
    """Row 28: demand for J0 only and ``--existing`` a plan of J0 and J1: the check compares
    J0's plan in the street with J0's new plan (J1 keeps the network's program in both)."""
    code, stderr, out, _ = runs["optimize J0 demand --existing plan of J0 and J1"]
    assert code == 0, stderr
    program = (out / "program.add.xml").read_text()
    assert 'id="J0"' in program and 'id="J1"' not in program
    assert json.loads((out / "check.json").read_text())
    assert [i["tls_id"] for i in json.loads((out / "plan.json").read_text())["intersections"]] == ["J0"]


def test_devices_and_links_as_outputs(tmp_path: Path) -> None:
    """``--json /dev/stdout`` writes the metrics there; a symbolic link keeps pointing at its file."""
    target = tmp_path / "metrics.json"
    target.write_text("earlier\n")
    link = tmp_path / "link.json"
    link.symlink_to(target)
    sim = [*PHASEWISE, "sim", "--sumocfg", str(EXAMPLE / "one-light.sumocfg"), "--end", "20", "--json"]
    to_stdout = subprocess.run([*sim, "/dev/stdout"], capture_output=True, text=True, timeout=300, cwd=ROOT)
    assert to_stdout.returncode == 0, to_stdout.stderr
    assert '"delay_s_per_vehicle"' in to_stdout.stdout
    to_link = subprocess.run([*sim, str(link)], capture_output=True, text=True, timeout=300, cwd=ROOT)
    assert to_link.returncode == 0, to_link.stderr
    assert link.is_symlink() and json.loads(target.read_text())["end_s"] == 20
