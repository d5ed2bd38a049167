"""The signal head: clearances between greens, and the all-red held while the box is busy."""

from __future__ import annotations

from types import SimpleNamespace

from controllers.signal_head import SignalHead
from optimizer.intersection import IntersectionModel, Movement, Phase, SignalLink


def two_phase_model() -> IntersectionModel:
    """Street ``a`` (through + permitted left on one lane) against street ``b``; 3 s yellow,
    no all-red, as in the Cologne programs."""
    links = (
        SignalLink(0, "a_0", "x_0", "a", "through"),
        SignalLink(1, "a_0", "y_0", "a", "left"),
        SignalLink(2, "b_0", "z_0", "b", "through"),
    )
    movements = (
        Movement("a:through", "a", "through", (0,), ("a_0",), ("x",)),
        Movement("a:left", "a", "left", (1,), ("a_0",), ("y",)),
        Movement("b:through", "b", "through", (2,), ("b_0",), ("z",)),
    )
    phases = (Phase(0, "Ggr", 30.0, 5.0, 60.0), Phase(1, "rrG", 30.0, 5.0, 60.0))
    return IntersectionModel("X", links, movements, phases, yellow_s=3.0, all_red_s=0.0, program_cycle_s=66.0)


def run_change(max_box_hold_s: float, busy_for_s: int) -> list[str]:
    """States shown each second from a change 0 -> 1 while the box is busy for ``busy_for_s``."""
    shown: list[str] = []
    conn = SimpleNamespace(trafficlight=SimpleNamespace(setRedYellowGreenState=lambda _tls, s: shown.append(s)))
    head = SignalHead(two_phase_model(), conn, max_box_hold_s=max_box_hold_s)
    head.start()
    for _ in range(10):
        head.tick()
    head.switch_to(1)
    states = [shown[-1]]
    for second in range(12):
        head.box_busy = second < busy_for_s
        head.tick()
        states.append(shown[-1])
    return states


def test_change_goes_through_yellow_then_green() -> None:
    states = run_change(max_box_hold_s=0.0, busy_for_s=10)
    assert states[:4] == ["yyr", "yyr", "yyr", "rrG"]


def test_busy_box_holds_all_red_until_clear() -> None:
    states = run_change(max_box_hold_s=4.0, busy_for_s=5)
    # yellow 3 s, then all-red while the box is busy (it clears 2 s after the yellow), then green
    assert states[:3] == ["yyr"] * 3
    assert states[3:6] == ["rrr"] * 3
    assert states[6] == "rrG"


def test_box_hold_is_bounded() -> None:
    states = run_change(max_box_hold_s=4.0, busy_for_s=12)
    assert states.count("rrr") == 4
    assert states[7] == "rrG"
