"""Software in the loop: ``adaptive`` over NTCIP to emulated cabinets against ``adaptive`` in-process.

    .venv/bin/python benchmarks/sil_ntcip.py [--scenarios 'corridor:demand=high|cologne3'] [--seeds 2] [--no-gate]

Runs the same policy, cameras and seeds twice per scenario: in-process (``adaptive``: the
signal heads in SUMO take its phase commands directly) and over SNMP on loopback
(``adaptive-ntcip``, ``controllers/sil.py``: NtcipBackend -> NTCIP agent -> emulated NEMA
cabinets that time their own min green, yellow and red clearance and show their state in
SUMO). Prints delay (RESCO definition, s/veh) of both and the difference, the conflict
monitor's violations, and the SNMP exchange's wall time per intersection and step (status
GETs + command SETs + plan downloads; the agent runs in the same process, so this includes
the emulator answering, which a real cabinet does on its own CPU).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from functools import partial
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from rich.console import Console  # noqa: E402
from rich.table import Table  # noqa: E402

from controllers.adaptive import AdaptiveConfig, AdaptiveController  # noqa: E402
from controllers.sil import NtcipLoopController  # noqa: E402
from phasewise import scenarios  # noqa: E402
from sumo_scenarios.runner import RunJob, RunResult, run_many  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scenarios", default="corridor:demand=high|cologne3", help="'|'-separated")
    parser.add_argument("--seeds", type=int, default=2)
    parser.add_argument("--no-gate", action="store_true", help="both without the SUMO gate")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    config = AdaptiveConfig(use_gate=not args.no_gate, gate_workers=1)
    started = time.perf_counter()
    jobs: list[RunJob] = []
    for name in args.scenarios.split("|"):
        for seed in range(1, args.seeds + 1):
            scenario = scenarios.resolve(None, name, [seed])[0]
            for label, cls in (("adaptive", AdaptiveController), ("adaptive-ntcip", NtcipLoopController)):
                jobs.append(RunJob(scenario, seed, partial(cls, config), label=f"{name}|{label}|{seed}"))
    results = run_many(jobs, workers=args.workers)
    table = Table(title=f"adaptive in-process vs over NTCIP/SNMP, seeds 1-{args.seeds}, "
                        f"gate {'off' if args.no_gate else 'on'}, delay s/veh")
    for col in ("scenario", "seed", "in-process", "over NTCIP", "difference", "monitor violations",
                "SNMP ms/intersection/step (median, p99)"):
        table.add_column(col, justify="left" if col == "scenario" else "right")
    rows = []
    by_label: dict[str, RunResult] = {r.job_label: r for r in results}
    for name in args.scenarios.split("|"):
        pairs = []
        for seed in range(1, args.seeds + 1):
            base = by_label[f"{name}|adaptive|{seed}"]
            sil = by_label[f"{name}|adaptive-ntcip|{seed}"]
            pairs.append((base.metrics.delay_s_per_vehicle, sil.metrics.delay_s_per_vehicle))
            cost = sil.extra["snmp_ms_per_intersection_step"]
            table.add_row(name, str(seed), f"{pairs[-1][0]:.1f}", f"{pairs[-1][1]:.1f}",
                          f"{(pairs[-1][1] / pairs[-1][0] - 1):+.1%}", str(sil.extra["monitor_violations"]),
                          f"{cost['median']:.1f}, {cost['p99']:.1f}")
            rows.append({"scenario": name, "seed": seed, "delay_inprocess_s": pairs[-1][0],
                         "delay_ntcip_s": pairs[-1][1], "monitor_violations": sil.extra["monitor_violations"],
                         "snmp_ms_per_intersection_step": cost})
        mean_base = sum(b for b, _ in pairs) / len(pairs)
        mean_sil = sum(s for _, s in pairs) / len(pairs)
        table.add_row(name, "mean", f"{mean_base:.1f}", f"{mean_sil:.1f}", f"{mean_sil / mean_base - 1:+.1%}", "", "")
    Console(width=160).print(table)
    print(f"wall {time.perf_counter() - started:.0f} s")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()
