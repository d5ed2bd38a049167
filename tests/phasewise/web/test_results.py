"""A daemon's state dir as results (``phasewise serve`` on it): plans from ``state.sqlite``,
counts from the exported 15-min CSVs, gate decisions from ``decisions.jsonl``; written by the
daemon's own store and log."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from daemon.prometheus import Metrics
from daemon.store import JsonlLog, StateStore
from optimizer.plan import IntersectionPlan, PhaseTiming, TimingPlan
from phasewise.web.results import ResultsSource

PLAN = TimingPlan({"J0": IntersectionPlan("J0", 60.0, 5.0, (PhaseTiming(0, 27.0, 3.0, 0.0, 5.0, 50.0),
                                                              PhaseTiming(1, 27.0, 3.0, 0.0, 5.0, 50.0)), 0)},
                  "adaptive/webster")
T0 = 1_795_856_400.0  # a 15-min boundary


def test_state_dir_as_a_site(tmp_path: Path) -> None:
    store = StateStore(tmp_path, Metrics())
    store.put("running_plan", PLAN.to_json())
    store.add_crossings(T0 + 10, "W_J0", ("W_J0_0", "W_J0_1"), np.array([0, 0, 1]), np.array([2, 2, 7]))
    store.add_crossings(T0 + 910, "W_J0", ("W_J0_0", "W_J0_1"), np.array([1]), np.array([2]))
    store.commit(T0 + 910)
    store.export_closed_bins(T0 + 1800)
    store.close(T0 + 1800)
    log = JsonlLog(tmp_path / "decisions.jsonl", Metrics())
    log.write({"t": T0 + 300, "event": "strategic", "result": "keep", "detail": "delay tied", "wall_s": 4.2,
               "improvement": 0.01, "p_value": 0.4})
    log.write({"t": T0 + 301, "event": "plan", "reason": "gate"})

    snap = ResultsSource(tmp_path).snapshot()
    assert [p.id for p in snap.plans] == ["running"] and snap.plans[0].cycle_s == {"J0": 60.0}
    assert [x.tls for x in snap.intersections] == ["J0"]
    counts = {(c.bin_start_s, c.movement): c.count for c in snap.counts}
    assert counts == {(T0, "W_J0_0"): 2, (T0, "W_J0_1"): 1, (T0 + 900, "W_J0_1"): 1}
    (gate,) = snap.gate
    assert (gate.t_s, gate.result, gate.improvement, gate.p_value) == (T0 + 300, "keep", 0.01, 0.4)
    assert not snap.live and ResultsSource(tmp_path).submit(None).ok is False  # type: ignore[arg-type]
