"""``phasewise run`` on a busy machine: does the tactical loop come first?

Runs the SIL daemon (built-in 3-intersection corridor, high demand, the gate on: one worker,
2 seeds, a 900 s twin every 60 s) at real time (``speed: 1``) for ``--minutes`` of wall time,
with ``--busy`` processes spinning on the CPU beside it (as other work on a cabinet's computer
would), and reads from outside what an operator's monitoring sees: the step-time
distribution (``phasewise_step_seconds`` histogram: quantiles are its bucket bounds), missed
1 s deadlines, how often an emulated cabinet on loopback did not answer in time
(``phasewise_controller_errors_total{kind="unreachable"}``) and the gate calls' outcomes.

``--gate-nice`` sets how far below the loop the gate's SUMO twins run (the daemon's default is
10; 0 is how it ran before), through ``PHASEWISE_GATE_NICE`` (measurement only).

    .venv/bin/python benchmarks/daemon_load.py --busy 2 --minutes 5 --gate-nice 10
    .venv/bin/python benchmarks/daemon_load.py --busy 2 --minutes 5 --gate-nice 0
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
BUCKETS_MS = (10, 25, 50, 100, 250, 500, 1000, 2500)


def spin() -> None:
    while True:
        pass


def scrape(url: str) -> dict[str, float]:
    with urllib.request.urlopen(url + "/metrics", timeout=30) as r:
        text = r.read().decode()
    out = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            key, _, value = line.rpartition(" ")
            out[key] = float(value)
    return out


def quantile_ms(m: dict[str, float], q: float) -> float:
    count = m.get("phasewise_step_seconds_count", 0.0)
    for b in BUCKETS_MS:
        if m.get(f'phasewise_step_seconds_bucket{{le="{b / 1000:g}"}}', 0.0) >= q * count:
            return float(b)
    return float("inf")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--busy", type=int, default=2, help="CPU-bound processes beside the daemon")
    parser.add_argument("--minutes", type=float, default=5.0, help="wall minutes of the measured run")
    parser.add_argument("--gate-nice", type=int, default=10)
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="phasewise-load-"))
    config = tmp / "site.yaml"
    config.write_text(
        "site: load\nmode: sil\nspeed: 1\nduration_s: 7200\n"
        'network: {scenario: "corridor:demand=high,intersections=3"}\n'
        "gate: {enabled: true, seeds: 2, workers: 1, horizon_s: 900, timeout_s: 20}\n"
        "policy: {replan_s: 60}\nhttp: {port: 0}\n"
        f"state_dir: {tmp / 'state'}\nlog: {{level: warning, format: json}}\n")
    env = {**os.environ, "PHASEWISE_GATE_NICE": str(args.gate_nice)}
    daemon = subprocess.Popen([sys.executable, "-m", "phasewise.cli", "run", "--config", str(config)], cwd=REPO,
                              env=env, stdout=subprocess.DEVNULL, stderr=open(tmp / "daemon.log", "w"))
    busy = [multiprocessing.Process(target=spin, daemon=True) for _ in range(args.busy)]
    try:
        port_file = tmp / "state" / "http.port"
        while not (port_file.exists() and port_file.read_text().strip()):
            time.sleep(0.5)
        url = f"http://127.0.0.1:{port_file.read_text().strip()}"
        time.sleep(20)  # start-up (imports, SUMO, the gate's warm worker) is not the steady state
        for p in busy:
            p.start()
        start = scrape(url)
        time.sleep(args.minutes * 60)
        end = scrape(url)
    finally:
        for p in busy:
            p.kill()
        daemon.terminate()
        daemon.wait(60)

    def delta(key: str) -> float:
        return end.get(key, 0.0) - start.get(key, 0.0)

    steps = delta("phasewise_steps_total")
    window = {k: end.get(k, 0.0) - start.get(k, 0.0) for k in end if k.startswith("phasewise_step_seconds")}
    gate = {k.split('"')[1]: delta(k) for k in end if k.startswith("phasewise_gate_decisions_total{")}
    print(f"busy processes: {args.busy}   gate nice: {args.gate_nice}   wall: {args.minutes:g} min   cores: {os.cpu_count()}")
    unreachable = delta('phasewise_controller_errors_total{kind="unreachable"}')
    calls = ", ".join(f"{k} {v:.0f}" for k, v in sorted(gate.items())) or "none"
    print("| steps | p50 ms | p99 ms | max ms (run) | deadline missed | cabinet unreachable | gate calls |")
    print("|---|---|---|---|---|---|---|")
    print(f"| {steps:.0f} | {quantile_ms(window, 0.5):g} | {quantile_ms(window, 0.99):g} | "
          f"{end.get('phasewise_step_seconds_max', 0) * 1000:.0f} | {delta('phasewise_step_deadline_missed_total'):.0f} | "
          f"{unreachable:.0f} | {calls} |")


if __name__ == "__main__":
    main()
