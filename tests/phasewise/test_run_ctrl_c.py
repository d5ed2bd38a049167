"""``phasewise run`` stopped by Ctrl-C: it stops as on SIGTERM (loop stopped, controllers
released, the SIL summary printed), then exits with 130 and "phasewise: interrupted" as the
README's Errors section says for every command (SIGTERM, a service manager's stop, exits 0:
``test_run_daemon.py``). Also at once after start, before the first simulated second."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.phasewise.test_run_daemon import PHASEWISE, REPO, write_config


def _default_sigint() -> None:
    # a shell running tests in the background starts them with SIGINT ignored; a child inherits it
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def _ready(state: Path) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{(state / 'http.port').read_text().strip()}/readyz",
                                    timeout=2) as reply:
            return reply.status == 200
    except (OSError, ValueError, urllib.error.URLError):
        return False


def _port_written(state: Path) -> bool:
    port_file = state / "http.port"
    return port_file.exists() and bool(port_file.read_text().strip())


@pytest.mark.parametrize("when", [_port_written, _ready], ids=["at-start", "once-ready"])
def test_ctrl_c_stops_the_daemon_cleanly_with_130(tmp_path: Path, when: Callable[[Path], bool]) -> None:
    (tmp_path / "faults.json").write_text("{}")
    config = write_config(tmp_path, network='{scenario: "corridor:demand=low,intersections=1"}')
    log = tmp_path / "daemon.log"
    with open(log, "w") as stderr:
        proc = subprocess.Popen([*PHASEWISE, "run", "--config", str(config)], cwd=REPO, stdout=subprocess.PIPE,
                                stderr=stderr, text=True, start_new_session=True, preexec_fn=_default_sigint)
        try:
            deadline = time.monotonic() + 90
            while not when(tmp_path / "state"):
                assert proc.poll() is None and time.monotonic() < deadline, log.read_text()[-2000:]
                time.sleep(0.2)
            os.killpg(proc.pid, signal.SIGINT)
            out, _ = proc.communicate(timeout=60)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.communicate()
    lines = log.read_text().strip().splitlines()
    assert proc.returncode == 130, lines[-5:]
    assert lines[-1] == "phasewise: interrupted" and not [l for l in lines if l.startswith("phasewise: error")]
    assert "conflict-monitor violations: 0" in out  # stopped as on SIGTERM, summary printed
    assert (tmp_path / "state" / "sil-summary.json").is_file()
    if when is _ready:
        assert re.search(r"phasewise run \(adaptive via NTCIP\): \d+\.\d", out), out
