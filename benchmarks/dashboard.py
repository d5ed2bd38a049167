"""What does the dashboard cost the daemon, and how fast does it answer?

Runs ``phasewise run`` in software in the loop (the built-in 3-intersection corridor at peak
demand, gate off so that only the dashboard varies) for ``--seconds`` wall seconds twice:
with nobody watching, then with ``--viewers`` browsers' worth of load (each an event stream,
``/api/events``, plus a ``/api/snapshot`` request per second). Prints, per run, the tactical
loop's step time (mean, and the histogram bucket holding the 99th percentile, from the
daemon's own ``phasewise_step_seconds`` metrics, over the measured window)
and the steps that missed the 1 s deadline; for the loaded run the API's latency
(``/api/snapshot``, p50/p95/max), the size of one event and the events each stream received.
Then the cost of checking a token the first time (scrypt, N=2^14) and afterwards (cached).

Usage::

    .venv/bin/python benchmarks/dashboard.py [--seconds 30] [--viewers 5] [--speed 10]
"""

from __future__ import annotations

import argparse
import http.client
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
TOKEN = "bench.dashboard-benchmark-token"


def metrics(port: int) -> dict[str, float]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    conn.request("GET", "/metrics")
    out = {}
    for line in conn.getresponse().read().decode().splitlines():
        if line and not line.startswith("#"):
            key, _, value = line.rpartition(" ")
            out[key] = float(value)
    conn.close()
    return out


def start(tmp: Path, speed: float) -> tuple[subprocess.Popen, int]:
    from phasewise.web.auth import hash_token

    state = tmp / "state"
    config = tmp / "site.yaml"
    config.write_text(
        f"site: bench\nmode: sil\nspeed: {speed}\n"
        'network: {scenario: "corridor:demand=peak,intersections=3"}\n'
        "gate: {enabled: false}\npolicy: {replan_s: 300}\n"
        f'http:\n  port: 0\n  tokens:\n    - {{name: bench, role: viewer, hash: "{hash_token(TOKEN)}"}}\n'
        f"state_dir: {state}\nlog: {{level: warning}}\n")
    proc = subprocess.Popen([sys.executable, "-m", "phasewise.cli", "run", "--config", str(config)], cwd=REPO,
                            stdout=subprocess.DEVNULL, stderr=open(tmp / "daemon.log", "w"))
    end = time.monotonic() + 120
    while time.monotonic() < end:
        try:
            port = int((state / "http.port").read_text())
            if metrics(port).get("phasewise_steps_total", 0) > 0:
                return proc, port
        except (OSError, ValueError):
            pass
        time.sleep(0.2)
    proc.kill()
    raise SystemExit(f"daemon did not start: {(tmp / 'daemon.log').read_text()[-2000:]}")


def snapshot_request(port: int) -> float:
    t0 = time.perf_counter()
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    conn.request("GET", "/api/snapshot", headers={"Authorization": f"Bearer {TOKEN}"})
    conn.getresponse().read()
    conn.close()
    return time.perf_counter() - t0


def p99_bucket_s(before: dict[str, float], after: dict[str, float]) -> float:
    """The histogram bucket bound under which 99 % of the window's steps fell."""
    buckets = sorted((float(k.split('le="')[1].rstrip('"}')), after[k] - before.get(k, 0.0))
                     for k in after if k.startswith("phasewise_step_seconds_bucket") and "+Inf" not in k)
    total = after["phasewise_step_seconds_count"] - before["phasewise_step_seconds_count"]
    return next((bound for bound, n in buckets if n >= 0.99 * total), float("inf"))


def viewer(port: int, stop: threading.Event, latencies: list[float], events: list[int], sizes: list[int]) -> None:
    """One browser: an event stream in a thread, a snapshot request each second."""
    def stream() -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        conn.request("GET", "/api/events", headers={"Authorization": f"Bearer {TOKEN}"})
        r = conn.getresponse()
        n = 0
        while not stop.is_set():
            line = r.fp.readline()
            if line.startswith(b"data: "):
                n += 1
                sizes.append(len(line))
        events.append(n)
        conn.close()

    thread = threading.Thread(target=stream, daemon=True)
    thread.start()
    while not stop.is_set():
        latencies.append(snapshot_request(port))
        stop.wait(1.0)
    thread.join(5)


def run(seconds: float, viewers: int, speed: float) -> dict[str, object]:
    with tempfile.TemporaryDirectory(prefix="phasewise-bench-") as tmp:
        proc, port = start(Path(tmp), speed)
        try:
            snapshot_request(port)  # the token's first check (scrypt) is timed apart, below
            before = metrics(port)
            stop = threading.Event()
            latencies: list[float] = []
            events: list[int] = []
            sizes: list[int] = []
            threads = [threading.Thread(target=viewer, args=(port, stop, latencies, events, sizes)) for _ in range(viewers)]
            for t in threads:
                t.start()
            time.sleep(seconds)
            stop.set()
            for t in threads:
                t.join(15)
            after = metrics(port)
        finally:
            proc.kill()
            proc.wait(10)
    steps = after["phasewise_steps_total"] - before["phasewise_steps_total"]
    step_sum = after["phasewise_step_seconds_sum"] - before["phasewise_step_seconds_sum"]
    return {"viewers": viewers, "steps": steps, "mean_ms": 1000 * step_sum / max(steps, 1),
            "p99_ms": 1000 * p99_bucket_s(before, after),
            "missed": after["phasewise_step_deadline_missed_total"] - before["phasewise_step_deadline_missed_total"],
            "latencies": sorted(latencies), "events": events, "event_bytes": statistics.median(sizes) if sizes else 0}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seconds", type=float, default=30.0)
    ap.add_argument("--viewers", type=int, default=5)
    ap.add_argument("--speed", type=float, default=10.0, help="simulated seconds per wall second")
    args = ap.parse_args()
    print(f"phasewise run, SIL corridor (3 intersections, peak), speed {args.speed:g}, {args.seconds:g} s wall per row")
    print(f"{'viewers':>7} {'steps':>6} {'step mean ms':>12} {'step p99 ms <=':>14} {'missed 1 s':>10} "
          f"{'snapshot p50/p95/max ms':>24} {'event kB':>8} {'events/stream':>13}")
    for n in (0, args.viewers):
        r = run(args.seconds, n, args.speed)
        lat = r["latencies"]
        latency = (f"{1000 * lat[len(lat) // 2]:.1f} / {1000 * lat[int(len(lat) * 0.95)]:.1f} / {1000 * lat[-1]:.1f}"
                   if lat else "-")
        events = r["events"]
        print(f"{n:>7} {r['steps']:>6.0f} {r['mean_ms']:>12.2f} {r['p99_ms']:>14.0f} {r['missed']:>10.0f} {latency:>24} "
              f"{r['event_bytes'] / 1000:>8.1f} {(f'{min(events)}-{max(events)}' if events else '-'):>13}")
    from phasewise.web.auth import Authenticator, TokenRecord, hash_token

    auth = Authenticator([TokenRecord("bench", "viewer", hash_token(TOKEN))])
    t0 = time.perf_counter()
    auth.check_token(TOKEN)
    first = time.perf_counter() - t0
    t0 = time.perf_counter()
    for _ in range(1000):
        auth.check_token(TOKEN)
    cached = (time.perf_counter() - t0) / 1000
    print(f"token check: first {1000 * first:.1f} ms (scrypt N=2^14), then {1e6 * cached:.1f} us (cached)")


if __name__ == "__main__":
    main()
