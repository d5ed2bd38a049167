"""How long ``phasewise run`` takes to stop on SIGTERM while a gate call is running.

Starts the SIL daemon (2-intersection corridor, high demand, as fast as it runs) with a gate
whose calls take far longer than the stop budget (2 seeds of a one-hour twin), waits until a
call is under way (the gate's worker busy), sends SIGTERM and times the process's exit; then
checks that none of its children is left. Prints one row per try. The promise: within 5 s.

    .venv/bin/python benchmarks/daemon_stop.py --tries 8
"""

from __future__ import annotations

import argparse
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def children(pid: int) -> set[int]:
    out = subprocess.run(["ps", "-e", "-o", "pid=,ppid="], capture_output=True, text=True).stdout.split()
    parent = {int(out[i]): int(out[i + 1]) for i in range(0, len(out), 2)}
    found, frontier = set(), {pid}
    while frontier:
        frontier = {p for p, pp in parent.items() if pp in frontier} - found
        found |= frontier
    return found


def busy(pids: set[int]) -> bool:
    """Whether one of ``pids`` uses the CPU now (a gate twin being simulated)."""
    for pid in pids:
        try:
            first = sum(map(int, Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[11:13]))
            time.sleep(0.2)
            if sum(map(int, Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[11:13])) > first:
                return True
        except OSError:
            continue
    return False


def one_try(tmp: Path) -> tuple[float, int]:
    config = tmp / "site.yaml"
    config.write_text(
        "site: stop\nmode: sil\nspeed: 0\nduration_s: 7200\n"
        'network: {scenario: "corridor:demand=high,intersections=2"}\n'
        "gate: {enabled: true, seeds: 2, workers: 1, horizon_s: 3600, timeout_s: 120, deadline_s: 600}\n"
        "policy: {replan_s: 20}\nhttp: {port: 0}\n"
        f"state_dir: {tmp / 'state'}\nlog: {{level: warning, format: json}}\n")
    proc = subprocess.Popen([sys.executable, "-m", "phasewise.cli", "run", "--config", str(config)], cwd=REPO,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    end = time.monotonic() + 180
    decisions = tmp / "state" / "decisions.jsonl"
    while time.monotonic() < end and not (decisions.exists() and '"event":"strategic"' not in decisions.read_text()
                                          and '"event":"start"' in decisions.read_text()):
        time.sleep(0.5)  # running (start-up is not what is measured)
    time.sleep(25)  # the policy's first replan (20 s) hands the gate its first call
    while time.monotonic() < end and not busy(children(proc.pid)):
        time.sleep(0.5)
    kids = children(proc.pid)
    started = time.monotonic()
    proc.send_signal(signal.SIGTERM)
    proc.wait(120)
    took = time.monotonic() - started
    time.sleep(3)
    left = {p for p in kids if Path(f"/proc/{p}").exists()
            and Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"}
    return took, len(left)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tries", type=int, default=8)
    args = parser.parse_args()
    print("| try | SIGTERM to exit, s | children left |")
    print("|---|---|---|")
    times = []
    for k in range(args.tries):
        with tempfile.TemporaryDirectory(prefix="phasewise-stop-") as tmp:
            took, left = one_try(Path(tmp))
        times.append(took)
        print(f"| {k + 1} | {took:.1f} | {left} |", flush=True)
    print(f"max {max(times):.1f} s, mean {sum(times) / len(times):.1f} s over {len(times)} tries")


if __name__ == "__main__":
    main()
