"""The bar on a network nobody tuned for: ``optimize`` on a freshly generated random network
(a new ``netgenerate`` seed every run) never recommends a plan worse than the program.

Set ``PHASEWISE_UNSEEN_SEED`` to replay a run; a failure names its seed.
"""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
from pathlib import Path

from sumo_scenarios.generated import GeneratedSpec, build_generated


def test_optimize_on_an_unseen_network_recommends_nothing_worse_than_its_program(tmp_path: Path) -> None:
    seed = int(os.environ.get("PHASEWISE_UNSEEN_SEED") or random.SystemRandom().randrange(1000, 10**6))
    scenario = build_generated(GeneratedSpec("rand", period_s=300.0, vehicle_period_s=1.5), seed, tmp_path)
    out = tmp_path / "plan"
    done = subprocess.run(
        [sys.executable, "-m", "phasewise.cli", "optimize", "--net", str(scenario.net_file),
         "--routes", str(scenario.route_files[0]), "--end", "300", "--check", "--seeds", "1", "--workers", "1",
         "--time-limit", "1", "--out", str(out)],
        capture_output=True, text=True, timeout=300)
    where = f"netgenerate --rand seed {seed} (PHASEWISE_UNSEEN_SEED={seed} replays it)"
    assert done.returncode == 0 and "Traceback" not in done.stderr, f"{where}: {done.stderr}"
    check = json.loads((out / "check.json").read_text())
    program, plan = (check["means"][k]["delay_s_per_vehicle"] for k in ("program", "plan"))
    recommended = out / ("candidate.add.xml" if check["recommend_plan"] else "program.add.xml")
    assert (out / "plan.add.xml").read_text() == recommended.read_text(), where
    if check["recommend_plan"]:
        assert plan < program, f"{where}: recommended a plan at {plan} s/veh against the program's {program}"
        assert "recommended: phasewise plan" in done.stdout, where
    else:  # says so, and why
        assert "recommended: existing program" in done.stdout and check["reason"], where
