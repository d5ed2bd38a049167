"""Every tlLogic form SUMO accepts loads into the intersection model, and controllers run on it.

One four-arm junction (one lane per arm, no U-turns: link indices N 0-2, E 3-5, S 6-8,
W 9-11, each approach right/through/left) built with netconvert from plain XML, then its
program and link indices edited by hand the way SUMO allows.
"""

from __future__ import annotations

import re
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from controllers.registry import controller_factory
from controllers.adaptive import AdaptiveConfig
from optimizer.demand import DemandEstimate
from optimizer.intersection import GREEN_CHARS, IntersectionModel
from optimizer.plan import TimingPlan, validate
from optimizer.webster import optimize_intersection
from phasewise_errors import ScenarioError
from sumo_scenarios.network import load_intersections
from sumo_scenarios.runner import RunJob, run, sumo_binary, sumo_module
from sumo_scenarios.scenario import Scenario

NODES = """<nodes>
  <node id="C" x="0" y="0" type="traffic_light"/>
  <node id="N" x="0" y="200"/><node id="S" x="0" y="-200"/>
  <node id="E" x="200" y="0"/><node id="W" x="-200" y="0"/>
</nodes>"""
EDGES = "<edges>" + "".join(
    f'<edge id="{a}{b}" from="{a}" to="{b}" numLanes="1" speed="13.8"/>'
    for arm in "NSEW" for a, b in ((arm, "C"), ("C", arm))
) + "</edges>"
# a flow on every approach's through and left, so every phase has work to do
ROUTES = "<routes>" + "".join(
    f'<flow id="{a}{b}" from="{a}C" to="C{b}" begin="0" end="240" period="9"/>'
    for a, b in ("NS", "NE", "SN", "SW", "EW", "ES", "WE", "WN")
) + "</routes>"


def _program(tls_id: str, program_id: str, phases: list[tuple[float, str]], kind: str = "static", extra: str = "") -> str:
    rows = "".join(f'<phase duration="{d:g}" state="{s}"{extra}/>' for d, s in phases)
    return f'<tlLogic id="{tls_id}" type="{kind}" programID="{program_id}" offset="0">{rows}</tlLogic>'


@pytest.fixture(scope="module")
def build(tmp_path_factory: pytest.TempPathFactory) -> Callable[..., Path]:
    """``build(name, crossings=False, tls_type="static")`` -> a netconvert junction net."""
    folder = tmp_path_factory.mktemp("tl_logics")
    (folder / "j.nod.xml").write_text(NODES)
    (folder / "j.edg.xml").write_text(EDGES)

    def make(name: str, crossings: bool = False, tls_type: str = "static") -> Path:
        net = folder / f"{name}.net.xml"
        if not net.is_file():
            subprocess.run(
                [sumo_binary("netconvert"), "-n", str(folder / "j.nod.xml"), "-e", str(folder / "j.edg.xml"),
                 "--no-turnarounds", "--tls.default-type", tls_type, "--no-warnings", "-o", str(net),
                 *(("--sidewalks.guess", "--crossings.guess") if crossings else ())],
                check=True, capture_output=True,
            )
        return net

    return make


def _edited(net: Path, name: str, programs: str, remap: Callable[[int], str] | None = None) -> Path:
    """A copy of ``net`` whose tlLogic(s) are ``programs`` and link indices ``remap``-ped."""
    text = re.sub(r"<tlLogic .*?</tlLogic>\s*", "", net.read_text(), flags=re.S)
    text = text.replace("<junction ", programs + "\n<junction ", 1)
    if remap is not None:
        text = re.sub(r'tl="C" linkIndex="(\d+)"', lambda m: f'tl="C" {remap(int(m.group(1)))}', text)
    out = net.with_name(f"{name}.net.xml")
    out.write_text(text)
    return out


def _assert_consistent(model: IntersectionModel, net: Path) -> None:
    """Every program state (greens, yellows, all-reds) is safe and every link is served."""
    states = re.findall(r'state="([^"]*)"', "".join(re.findall(r"<tlLogic .*?</tlLogic>", net.read_text(), flags=re.S)))
    for state in states:
        if len(state) == model.state_length:
            assert model.unsafe_pairs(state) == []
    served = set().union(*(p.green_links for p in model.phases))
    assert {link.index for link in model.links} <= served
    for a in range(len(model.phases)):
        for b in range(len(model.phases)):
            for state, _ in model.transition(a, b):
                assert model.unsafe_pairs(state) == []


def _run_controllers(net: Path, tmp_path: Path, names: tuple[str, ...] = ("static", "actuated", "maxpressure", "adaptive")) -> None:
    routes = tmp_path / "flows.rou.xml"
    routes.write_text(ROUTES)
    scenario = Scenario(net.stem, net, (routes,), 0.0, 240.0)
    for name in names:
        options = {"config": AdaptiveConfig(use_gate=False, replan_s=120)} if name == "adaptive" else {}
        result = run(RunJob(scenario, 1, controller_factory(name, **options)))
        assert result.metrics.vehicles > 0, name


def test_unused_signal_indices_and_a_second_index(build: Callable[..., Path], tmp_path: Path) -> None:
    # indices 3 and 10 belong to no connection; 14 is the north left turn's linkIndex2 (its
    # internal stop); state strings are 15 long
    def remap(i: int) -> str:
        j = i + (i >= 3) + (i >= 9)
        return f'linkIndex="{j}"' + (' linkIndex2="14"' if i == 2 else "")

    program = _program("C", "gap", [(30, "GGgrrrrGGgOrrrg"), (3, "yyyrrrryyyOrrry"),
                                    (30, "rrrrGGgrrrOGGgr"), (3, "rrrryyyrrrOyyyr")])
    net = _edited(build("plain"), "gap", program, remap)
    model = load_intersections(net)["C"]
    assert model.state_length == 15
    assert [link.index for link in model.links] == [0, 1, 2, 4, 5, 6, 7, 8, 9, 11, 12, 13]
    assert len(model.phases) == 2 and len(model.movements) == 12
    assert model.movement("NC:left").link_indices == (2,)
    # never-green indices conflict with nothing; the second index conflicts like its link
    assert not any(3 in pair or 10 in pair for pair in model.conflicts)
    assert {(2, 5), (5, 14), (12, 14)} <= model.conflicts
    assert (2, 14) not in model.conflicts
    assert len(model.conflicts) == 6 * 7  # 7 north-south signals against 6 east-west links
    _assert_consistent(model, net)
    _run_controllers(net, tmp_path)


def test_the_program_sumo_runs_is_the_last_one_loaded(build: Callable[..., Path]) -> None:
    two_phase = [(30, "GGgrrrGGgrrr"), (3, "yyyrrryyyrrr"), (30, "rrrGGgrrrGGg"), (3, "rrryyyrrryyy")]
    four_phase = [(20, "GGrrrrGGrrrr"), (3, "yyrrrryyrrrr"), (10, "rrGrrrrrGrrr"), (3, "rryrrrrryrrr"),
                  (20, "rrrGGrrrrGGr"), (3, "rrryyrrrryyr"), (10, "rrrrrGrrrrrG"), (3, "rrrrryrrrrry")]
    net = _edited(build("plain"), "two_programs",
                  _program("C", "b-four", four_phase) + _program("C", "a-two", two_phase))
    model = load_intersections(net)["C"]
    assert [p.state for p in model.phases] == ["GGgrrrGGgrrr", "rrrGGgrrrGGg"]
    assert model.program_cycle_s == 66.0
    conn = sumo_module()
    conn.start([sumo_binary("sumo"), "-n", str(net), "--no-step-log", "true"])
    try:
        assert conn.trafficlight.getProgram("C") == "a-two"
        assert conn.trafficlight.getRedYellowGreenState("C") == model.phases[0].state
    finally:
        conn.close()


def test_a_program_in_an_additional_file_runs(build: Callable[..., Path], tmp_path: Path) -> None:
    net = build("plain")
    extra = tmp_path / "program.add.xml"
    four_phase = [(20, "GGrrrrGGrrrr"), (3, "yyrrrryyrrrr"), (10, "rrGrrrrrGrrr"), (3, "rryrrrrryrrr"),
                  (20, "rrrGGrrrrGGr"), (3, "rrryyrrrryyr"), (10, "rrrrrGrrrrrG"), (3, "rrrrryrrrrry")]
    extra.write_text(f"<additional>{_program('C', 'added', four_phase)}</additional>")
    assert len(load_intersections(net)["C"].phases) == 2
    model = load_intersections(net, program_files=[extra])["C"]
    assert [p.state for p in model.phases] == [s for _, s in four_phase[::2]]
    conn = sumo_module()
    conn.start([sumo_binary("sumo"), "-n", str(net), "-a", str(extra), "--no-step-log", "true"])
    try:
        assert conn.trafficlight.getProgram("C") == "added"
    finally:
        conn.close()
    extra.write_text(f"<additional>{_program('Q', 'added', four_phase)}</additional>")
    with pytest.raises(ScenarioError, match="tlLogic for traffic light 'Q', which the network does not have"):
        load_intersections(net, program_files=[extra])


@pytest.mark.parametrize("tls_type", ["actuated", "delay_based", "NEMA"])
def test_program_types(build: Callable[..., Path], tmp_path: Path, tls_type: str) -> None:
    net = build(tls_type, tls_type=tls_type)
    model = load_intersections(net)["C"]
    assert len(model.links) == 12 and len(model.movements) == 12
    assert len(model.phases) >= 2
    text = net.read_text()
    min_durs = [float(x) for x in re.findall(r'<phase [^>]*minDur="([\d.]+)"', text)]
    assert min_durs, "netconvert writes minDur for non-static programs"
    for phase in model.phases:
        assert phase.min_green_s in min_durs or phase.min_green_s == phase.duration_s
        assert phase.min_green_s <= phase.duration_s <= phase.max_green_s
    _assert_consistent(model, net)
    if tls_type == "NEMA":
        # ring 1 serves north (2) and east (4), ring 2 south (6) and west (8): the model's
        # phases are the concurrent pairs 2+6 and 4+8, and the clearances the phase attributes
        assert [sorted({m.split(":")[0] for m in p.movements}) for p in model.phases] == [["NC", "SC"], ["EC", "WC"]]
        assert (model.yellow_s, model.all_red_s) == (3.0, 2.0)
        assert (1, 7) not in model.conflicts  # north and south through go together
    _run_controllers(net, tmp_path, ("static", "maxpressure", "adaptive"))


def test_an_eight_phase_nema_program(build: Callable[..., Path], tmp_path: Path) -> None:
    # protected lefts: ring 1 = 1 (N left), 2 (S through+right) | 3 (E left), 4 (W through+right);
    # ring 2 = 5 (S left), 6 (N through+right) | 7 (W left), 8 (E through+right)
    states = {1: "rrGrrrrrrrrr", 2: "rrrrrrGGrrrr", 3: "rrrrrGrrrrrr", 4: "rrrrrrrrrGGr",
              5: "rrrrrrrrGrrr", 6: "GGrrrrrrrrrr", 7: "rrrrrrrrrrrG", 8: "rrrGGrrrrrrr"}
    phases = "".join(
        f'<phase duration="20" minDur="{4 if n % 2 else 8}" maxDur="40" vehext="2" yellow="4" red="1" name="{n}" state="{s}"/>'
        for n, s in states.items()
    )
    params = ('<param key="barrier2Phases" value="2,6"/><param key="barrierPhases" value="4,8"/>'
              '<param key="ring1" value="1,2,3,4"/><param key="ring2" value="5,6,7,8"/>')
    program = f'<tlLogic id="C" type="NEMA" programID="nema8" offset="0">{phases}{params}</tlLogic>'
    net = _edited(build("plain"), "nema8", program)
    model = load_intersections(net)["C"]
    # each side of the barrier: every ring-1 phase with every ring-2 phase, 2 x 2 x 2
    assert len(model.phases) == 8
    assert model.phases[0].state == "rrGrrrrrGrrr"  # 1+5: both lefts
    assert model.phases[1].state == "GGGrrrrrrrrr"  # 1+6: north left with north through
    assert [p.min_green_s for p in model.phases[:4]] == [4, 8, 8, 8]
    assert (model.yellow_s, model.all_red_s) == (4.0, 1.0)
    assert model.program_cycle_s == 8 * 20 + 8 * 5
    _assert_consistent(model, net)
    _run_controllers(net, tmp_path, ("static", "maxpressure"))


def test_min_max_next_and_name(build: Callable[..., Path]) -> None:
    program = (
        '<tlLogic id="C" type="actuated" programID="p" offset="7">'
        '<phase duration="30" minDur="8" maxDur="45" state="GGgrrrGGgrrr" name="NS" next="1"/>'
        '<phase duration="3" state="yyyrrryyyrrr" next="2"/>'
        '<phase duration="2" state="rrrrrrrrrrrr" next="3"/>'
        '<phase duration="1" state="rrruuurrruuu" name="prepare" next="4"/>'
        '<phase duration="25" minDur="6" maxDur="40" state="rrrGGgrrrGGg" name="EW" next="5"/>'
        '<phase duration="3" state="rrryyyrrryyy" next="0"/>'
        "</tlLogic>"
    )
    model = load_intersections(_edited(build("plain"), "named", program))["C"]
    assert [(p.min_green_s, p.duration_s, p.max_green_s) for p in model.phases] == [(8, 30, 45), (6, 25, 40)]
    assert (model.yellow_s, model.all_red_s, model.program_offset_s) == (3.0, 2.0, 7.0)
    assert model.program_cycle_s == 64.0  # red-yellow "u" is a transition, not a third phase


@pytest.mark.parametrize("kind", ["rail_crossing", "off"])
def test_programs_that_are_not_ours_to_drive(build: Callable[..., Path], kind: str) -> None:
    program = _program("C", "0", [(30, "GGgrrrGGgrrr"), (3, "yyyrrryyyrrr"), (30, "rrrGGgrrrGGg"), (3, "rrryyyrrryyy")], kind)
    with pytest.raises(ScenarioError, match="no traffic lights to control"):
        load_intersections(_edited(build("plain"), kind, program))


def test_pedestrian_crossings(build: Callable[..., Path], tmp_path: Path) -> None:
    net = build("ped", crossings=True)
    model = load_intersections(net)["C"]
    # 12 vehicle links; the four crossings (signals 12-15) are in the states, not links
    assert model.state_length == 16
    assert [link.index for link in model.links] == list(range(12))
    assert all(not link.from_lane.startswith(":") for link in model.links)
    crossing_greens = set().union(*(p.green_links for p in model.phases)) - set(range(12))
    assert crossing_greens == {12, 13, 14, 15}
    _assert_consistent(model, net)
    _run_controllers(net, tmp_path)


def test_a_pedestrian_only_phase(build: Callable[..., Path], tmp_path: Path) -> None:
    # a "Barnes dance": all crossings green, all vehicles red
    program = _program("C", "scramble", [
        (30, "GGgrrrGGgrrrrrrr"), (3, "yyyrrryyyrrrrrrr"), (30, "rrrGGgrrrGGgrrrr"), (3, "rrryyyrrryyyrrrr"),
        (15, "rrrrrrrrrrrrGGGG"), (4, "rrrrrrrrrrrrrrrr"),
    ])
    net = _edited(build("ped", crossings=True), "scramble", program)
    model = load_intersections(net)["C"]
    assert [len(p.movements) for p in model.phases] == [6, 6, 0]
    assert all((a, b) in model.conflicts for a in range(12) for b in range(12, 16))
    _assert_consistent(model, net)
    flows = {m.id: 300.0 for m in model.movements}
    plan = optimize_intersection(model, DemandEstimate({"C": flows}))
    validate(TimingPlan({"C": plan}, created_by="test"), {"C": model})
    assert plan.phases[2].green_s >= model.phases[2].min_green_s  # the walk phase keeps its minimum
    _run_controllers(net, tmp_path)


def test_green_phases_never_include_transitions() -> None:
    assert not GREEN_CHARS & set("yur")
