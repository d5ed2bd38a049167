"""``phasewise controller status`` against ``phasewise controller emulate`` (issue #24 rows 10
and 11), both through the real entry point: the values the options now refuse at parse time
are tested in ``test_hostile_inputs.py``; here, what the accepted edges do on a cabinet."""

from __future__ import annotations

import json
import os
import selectors
import signal
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PHASEWISE = [sys.executable, "-m", "phasewise.cli"]


def _status(port: int, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*PHASEWISE, "controller", "status", "--host", "127.0.0.1", "--port", str(port),
                           "--community", "public", "--timeout", "2", *args],
                          capture_output=True, text=True, cwd=ROOT, timeout=60)


def test_status_of_an_emulated_cabinet_at_the_edges(shared_scenarios: Path) -> None:
    cfg = shared_scenarios / "cologne1" / "cologne1.sumocfg"
    emulator = subprocess.Popen([*PHASEWISE, "controller", "emulate", "--sumocfg", str(cfg), "--port", "0",
                                 "--backup-time", "0", "--end", "30000"],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT,
                                env={**os.environ, "PYTHONUNBUFFERED": "1"})
    try:
        selector = selectors.DefaultSelector()
        selector.register(emulator.stdout, selectors.EVENT_READ)  # type: ignore[arg-type]
        line, deadline = "", time.monotonic() + 60
        while not line.startswith("listening") and time.monotonic() < deadline:
            if selector.select(timeout=1.0):
                line = emulator.stdout.readline()  # type: ignore[union-attr]
                assert line or emulator.poll() is None, emulator.stderr.read()  # type: ignore[union-attr]
        assert "(NEMA phases 1,2,3,4)" in line, line
        port = int(line.split(":")[1].split()[0])

        done = _status(port, "--json")
        assert done.returncode == 0, done.stderr
        snapshot = json.loads(done.stdout)
        assert snapshot["unit_backup_time_s"] == 0  # --backup-time 0: central control never times out
        shown = [set(snapshot[k]) for k in ("greens", "yellows", "reds")]
        assert set().union(*shown) >= {1, 2, 3, 4} and sum(map(len, shown)) == len(set().union(*shown))

        too_many = _status(port, "--groups", "2")
        assert too_many.returncode == 2
        assert too_many.stderr.strip().splitlines() == [
            f"phasewise: error: --groups 2: 127.0.0.1:{port} has 1 phase group(s) (maxPhaseGroups); "
            "give --groups 1 or fewer"]
    finally:
        emulator.send_signal(signal.SIGINT)
        try:
            emulator.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            emulator.kill()
            emulator.communicate()
