"""Soak test of ``phasewise run``: hours of software in the loop, as fast as it runs.

Runs the real daemon (``phasewise run``, a subprocess) on the built-in corridor with the
"peak" demand profile stretched over the whole period (medium -> 1.3 x high in the middle ->
medium), the gate on, and samples it from outside as an operator's monitoring would: each
simulated hour the process's resident memory, open file descriptors and threads
(``/proc/<pid>``), its child processes, and from ``/metrics`` the tactical step's wall-time
distribution (the ``phasewise_step_seconds`` histogram). Prints one row per hour and the
verdicts: memory growth after the first hour < 10 %, no fd or thread growth, 1 s step deadline
met in >= 99.9 % of steps. The step quantiles are the histogram's bucket bounds (a p99 of 250
means: 99 % of steps took at most 250 ms; buckets 10, 25, 50, 100, 250, 500, 1000, 2500 ms);
the step's work is cameras + status + policy + commands + state, not the simulated world.

In software in the loop SUMO (libsumo) runs inside the daemon's process, so the resident
memory includes SUMO's, which grows with the vehicles in the network (and the allocator keeps
what a congested peak took). ``--python-heap`` (on by default) runs the daemon with
``PHASEWISE_TRACEMALLOC=1``: ``/metrics`` then shows ``phasewise_python_heap_bytes``, the
daemon's own Python heap (every Python and numpy allocation after start-up, none of SUMO's),
and its growth after the first hour is the daemon's; tracing makes allocations slower, so the step times of
such a run are pessimistic (``--no-python-heap`` for the step-time distribution alone).

    .venv/bin/python benchmarks/daemon_soak.py --hours 24      # the issue's soak
    .venv/bin/python benchmarks/daemon_soak.py --hours 2       # what fits a quick check
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def proc_stats(pid: int) -> tuple[float, int, int]:
    """(RSS MiB, open fds, threads) of ``pid``."""
    status = Path(f"/proc/{pid}/status").read_text()
    fields = dict(line.split(":", 1) for line in status.splitlines() if ":" in line)
    rss_mib = int(fields["VmRSS"].split()[0]) / 1024
    return rss_mib, len(os.listdir(f"/proc/{pid}/fd")), int(fields["Threads"])


def children(pid: int) -> int:
    out = subprocess.run(["ps", "-o", "pid=", "--ppid", str(pid)], capture_output=True, text=True).stdout
    return len(out.split())


def scrape(url: str) -> dict[str, float]:
    with urllib.request.urlopen(url + "/metrics", timeout=30) as r:
        text = r.read().decode()
    values = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            key, _, value = line.rpartition(" ")
            values[key] = float(value)
    return values


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--hours", type=float, default=24.0)
    parser.add_argument("--intersections", type=int, default=3)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--speed", type=float, default=0.0, help="0 = as fast as possible")
    parser.add_argument("--python-heap", action=argparse.BooleanOptionalAction, default=True,
                        help="trace the daemon's Python heap (phasewise_python_heap_bytes)")
    args = parser.parse_args()
    duration_s = args.hours * 3600
    with tempfile.TemporaryDirectory(prefix="phasewise-soak-") as tmp:
        state = Path(tmp) / "state"
        config = Path(tmp) / "soak.yaml"
        config.write_text(
            f"site: soak\nmode: sil\nspeed: {args.speed}\nduration_s: {duration_s + 120:g}\n"
            f'network: {{scenario: "corridor:demand=peak,intersections={args.intersections},'
            f'duration_s={duration_s + 120:g}", seed: {args.seed}}}\n'
            "gate: {enabled: true, seeds: 2, workers: 1}\n"
            "http: {port: 0}\nlog: {level: warning}\n"
            f"state_dir: {state}\n")
        log = open(Path(tmp) / "daemon.log", "w")
        env = dict(os.environ, PHASEWISE_TRACEMALLOC="1" if args.python_heap else "0")
        proc = subprocess.Popen([sys.executable, "-m", "phasewise.cli", "run", "--config", str(config)], cwd=REPO,
                                stdout=subprocess.PIPE, stderr=log, text=True, env=env)
        started = time.monotonic()
        while not (state / "http.port").exists() or not (state / "http.port").read_text().strip():
            time.sleep(0.5)
            if proc.poll() is not None:
                sys.exit(f"daemon exited: {Path(log.name).read_text()[-2000:]}")
        url = f"http://127.0.0.1:{(state / 'http.port').read_text().strip()}"
        rows = []
        print(f"soak: {args.hours:g} simulated hours, corridor peak profile, {args.intersections} intersections, "
              f"seed {args.seed}, speed {args.speed:g} (0 = max)")
        print(f"{'hour':>4} {'wall_min':>8} {'rss_MiB':>8} {'py_MiB':>6} {'fds':>4} {'threads':>7} {'children':>8} {'steps':>7} "
              f"{'p50_ms':>7} {'p99_ms':>7} {'p99.9_ms':>8} {'max_ms':>7} {'>1s':>4} {'plans':>5} {'queue':>5}")
        hour = 1
        # Ctrl-C or SIGTERM ends the soak early with the hours measured so far
        signal.signal(signal.SIGTERM, lambda *_: (_ for _ in ()).throw(KeyboardInterrupt))
        try:
            while hour <= args.hours:
                time.sleep(1.0)
                if proc.poll() is not None:
                    sys.exit(f"daemon exited early: {Path(log.name).read_text()[-2000:]}")
                try:
                    m = scrape(url)
                except OSError as exc:  # a busy machine answers late: ask again
                    print(f"  (scrape failed: {exc}; retrying)", flush=True)
                    continue
                if m.get("phasewise_steps_total", 0) < hour * 3600:
                    continue
                rss, fds, threads = proc_stats(proc.pid)
                count = m["phasewise_step_seconds_count"]
                buckets = sorted((float(k.split('"')[1]), v) for k, v in m.items()
                                 if k.startswith("phasewise_step_seconds_bucket") and "+Inf" not in k)

                def quantile(q: float) -> float:
                    return next((b for b, c in buckets if c >= q * count), float("inf")) * 1000

                queue = sum(v for k, v in m.items() if k.startswith("phasewise_queue_vehicles"))
                heap = m.get("phasewise_python_heap_bytes", float("nan")) / 2**20
                rows.append((hour, rss, fds, threads, m.get("phasewise_step_deadline_missed_total", 0), count,
                             m.get("phasewise_step_seconds_bucket{le=\"1\"}", count), heap))
                print(f"{hour:4d} {(time.monotonic() - started) / 60:8.1f} {rss:8.1f} {heap:6.1f} {fds:4d} {threads:7d} "
                      f"{children(proc.pid):8d} {int(count):7d} {quantile(0.5):7.0f} {quantile(0.99):7.0f} "
                      f"{quantile(0.999):8.0f} {m.get('phasewise_step_seconds_max', 0) * 1000:7.0f} "
                      f"{int(m.get('phasewise_step_deadline_missed_total', 0)):4d} "
                      f"{int(m.get('phasewise_plans_applied_total', 0)):5d} {queue:5.0f}", flush=True)
                hour += 1
        except KeyboardInterrupt:
            print(f"stopped early after {hour - 1} simulated hours")
        finally:
            proc.send_signal(signal.SIGTERM)
            try:
                out, _ = proc.communicate(timeout=60)
            except subprocess.TimeoutExpired:
                proc.kill()
                out = ""
        if not rows:
            return
        print("\n" + out.strip())
        (_, rss1, fds1, thr1, *_, heap1), (_, rssn, fdsn, thrn, missed, count, within, heapn) = rows[0], rows[-1]
        growth = (rssn / rss1 - 1) * 100
        print(f"\nresident memory (daemon + SUMO) after hour 1: {rss1:.1f} MiB, at the end {rssn:.1f} MiB "
              f"({growth:+.1f} %; target < 10 %)")
        if args.python_heap:
            print(f"Python heap (the daemon's own) after hour 1: {heap1:.1f} MiB, at the end {heapn:.1f} MiB "
                  f"({(heapn / heap1 - 1) * 100:+.1f} %; target < 10 %)")
        print(f"fds {fds1} -> {fdsn}, threads {thr1} -> {thrn} (target: no growth)")
        print(f"1 s deadline met in {within / count * 100:.3f} % of {int(count)} steps ({int(missed)} missed; target >= 99.9 %)")


if __name__ == "__main__":
    main()
