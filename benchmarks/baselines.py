"""Baseline table: every controller on the built-in corridor (all demand levels) and on the
RESCO real-world scenarios, mean of N seeds, RESCO delay definition.

    .venv/bin/python benchmarks/baselines.py [--seeds 3] [--controllers static,actuated,maxpressure]
        [--scenarios corridor:demand=low,...,cologne1,cologne3,ingolstadt7] [--json out/baselines.json]
        [--executor ray --ray-address auto]

Prints one row per scenario x controller: delay (s/veh, mean ± std over seeds), throughput,
stops per vehicle, unfinished and never-inserted vehicles, and wall time per run.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from phasewise.cmd_sim import print_table, simulate  # noqa: E402
from sumo_scenarios.executor import EXECUTOR_NAMES, make_executor  # noqa: E402

SCENARIOS = [
    "corridor:demand=low",
    "corridor:demand=medium",
    "corridor:demand=high",
    "corridor:demand=peak",
    "cologne1",
    "cologne3",
    "ingolstadt7",
]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--controllers", default="static,actuated,maxpressure")
    parser.add_argument("--scenarios", default=",".join(SCENARIOS).replace(",corridor", ";corridor"))
    parser.add_argument("--json", type=Path, default=None)
    parser.add_argument("--executor", choices=EXECUTOR_NAMES, default="local")
    parser.add_argument("--ray-address", default=None, help="auto or HOST:PORT (else $PHASEWISE_RAY_ADDRESS)")
    args = parser.parse_args()
    executor = None if args.executor == "local" else make_executor(args.executor, args.ray_address)
    scenarios = [s for part in args.scenarios.split(";") for s in _split(part)]
    summaries = []
    started = time.perf_counter()
    for scenario in scenarios:
        for controller in args.controllers.split(","):
            summary = simulate(None, scenario, controller, args.seeds, None, executor=executor)
            summaries.append(summary)
            print(
                f"{summary['scenario']:<18} {controller:<12} delay {summary['delay_s_per_vehicle']:7.1f} "
                f"± {summary['delay_s_per_vehicle_std']:5.1f}  thr {summary['throughput_veh']:6.0f}  "
                f"stops {summary['stops_per_vehicle']:5.2f}  ({summary['wall_s_per_run']:.1f} s/run)",
                flush=True,
            )
    if executor is not None:
        executor.close()
    print_table(summaries, title=f"phasewise baselines, mean of {args.seeds} seeds (RESCO delay)")
    print(f"total wall time {time.perf_counter() - started:.0f} s")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(summaries, indent=2))


def _split(part: str) -> list[str]:
    """'corridor:demand=low' stays whole; 'cologne1,cologne3' splits."""
    if part.startswith("corridor"):
        head, _, rest = part.partition(",cologne")
        return [head] + (_split("cologne" + rest) if rest else [])
    return [p for p in part.split(",") if p]


if __name__ == "__main__":
    main()
