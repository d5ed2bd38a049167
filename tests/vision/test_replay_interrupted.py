"""Ctrl-C during ``phasewise replay`` (issue #24 rows 3 and 31), through the real entry point.

A partial run never replaces a complete one: it is written beside it, to ``OUT.partial``,
and the command says where; ``--intersection`` interrupted writes its report of what it
counted, as the README promises. The child starts in its own session with SIGINT restored
to its default (a shell running tests in the background ignores it, and a child inherits
that), and gets Ctrl-C as a terminal sends it, to its whole process group.
"""

from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SHARED = Path(os.environ.get("PHASEWISE_SHARED", ROOT.parent / "shared"))
CA_VIDEO = SHARED / "videos" / "ca_arterial.mp4"  # 568 frames
CA_SITE = ROOT / "calibration" / "sites" / "ca_arterial.yaml"
HANOI_VIDEO = SHARED / "videos" / "hanoi_intersection.mp4"  # 384 frames
HANOI_SITE = ROOT / "calibration" / "sites" / "hanoi_intersection.yaml"
PHASEWISE = [sys.executable, "-m", "phasewise.cli"]
# --intersection: loading both detectors and the first frame take about 2.4 s of CPU, each
# frame about 0.1 s more (measured here), so by 5 s some twenty frames are counted
COUNTING_CPU_S = 5.0


@pytest.fixture(autouse=True)
def _shared_data() -> None:
    for needed in (CA_VIDEO, HANOI_VIDEO):
        if not needed.is_file():
            pytest.fail(f"shared data missing: {needed} (see README, Data)")


def _default_sigint() -> None:
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def _cpu_s(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _ctrl_c_when(args: list[str], ready: Callable[[subprocess.Popen[str]], bool],
                 timeout_s: float = 120.0) -> tuple[int, str, str]:
    process = subprocess.Popen([*PHASEWISE, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                               cwd=ROOT, start_new_session=True, preexec_fn=_default_sigint)
    try:
        deadline = time.monotonic() + timeout_s
        while not ready(process):
            assert process.poll() is None, process.communicate()
            assert time.monotonic() < deadline, "the replay never got going"
            time.sleep(0.2)
        os.killpg(process.pid, signal.SIGINT)
        out, err = process.communicate(timeout=120)
        return process.returncode, out, err
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()


def _files(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in folder.iterdir()}


def test_interrupted_replay_goes_beside_a_complete_run(tmp_path: Path) -> None:
    out = tmp_path / "out"
    done = subprocess.run([*PHASEWISE, "replay", str(CA_VIDEO), "--site", str(CA_SITE), "--out", str(out),
                           "--max-frames", "60", "--quiet"], capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert done.returncode == 0, done.stderr
    complete = _files(out)
    assert json.loads(complete["summary.json"])["partial"] is False

    def counting(_: subprocess.Popen[str]) -> bool:  # the annotated video grows in the staging folder
        return any(p.stat().st_size > 50_000 for p in tmp_path.glob(".out.staging-*/annotated.mp4"))

    code, stdout, stderr = _ctrl_c_when(["replay", str(CA_VIDEO), "--site", str(CA_SITE), "--out", str(out),
                                         "--video-out", "--quiet"], counting)
    assert code == 130, stderr
    assert stderr.strip().splitlines() == ["phasewise: interrupted"]
    partial = tmp_path / "out.partial"
    assert f"wrote {partial}/counts.csv (partial; the complete run in {out} is kept)" in stdout
    assert _files(out) == complete  # issue #24 row 3: the complete run was replaced by the partial one
    summary = json.loads((partial / "summary.json").read_text())
    assert summary["partial"] is True and summary["error"] == "interrupted (Ctrl-C)"
    assert 0 < summary["frames"] < 568 and (partial / "annotated.mp4").stat().st_size > 0
    assert not [p.name for p in tmp_path.iterdir() if p.name.startswith(".")]  # no staging folder left


def test_interrupted_intersection_replay_writes_what_it_counted(tmp_path: Path) -> None:
    out = tmp_path / "hanoi"
    code, stdout, stderr = _ctrl_c_when(
        ["replay", str(HANOI_VIDEO), "--site", str(HANOI_SITE), "--intersection", "--conf", "0.15",
         "--start", "2022-09-25T16:15:44", "--out", str(out)], lambda p: _cpu_s(p.pid) >= COUNTING_CPU_S)
    assert code == 130, stderr
    assert stderr.strip().splitlines() == ["phasewise: interrupted"]  # issue #24 row 31: nothing was written
    assert f"wrote {out}/counts.csv (partial)" in stdout
    summary = json.loads((out / "summary.json").read_text())
    assert summary["partial"] is True and summary["error"] == "interrupted (Ctrl-C)"
    assert 0 < summary["frames"] < 384
    for name in ("counts.csv", "turning_movements.csv", "turning_movements_pcu.csv", "demand.csv",
                 "queue_profile.png"):
        assert (out / name).stat().st_size > 0, name
    with (out / "counts.csv").open() as f:
        counted = sum(int(row["count"]) for row in csv.DictReader(f))
    assert counted == summary["vehicles_total"]  # one count definition, also when cut short
    with (out / "turning_movements.csv").open() as f:
        rows = list(csv.DictReader(f))
    assert rows and rows[0]["DATE"] and rows[0]["TIME"].startswith("16:15")
