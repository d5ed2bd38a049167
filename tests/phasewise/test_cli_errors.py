"""Every class of bad input through the real ``phasewise`` entry point, one row each.

Each row runs ``python -m phasewise.cli`` in a subprocess (the rows run concurrently) and
checks the exit code, one clear message, no traceback, and that the outputs an earlier run
left in the target folder are still there, unchanged, with no staging folder left behind.
Then Ctrl-C on a running ``sim`` (SUMO in worker processes) and a running ``replay``: exit
130, "interrupted", no traceback, and replay's counts so far written as a partial run.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SHARED = Path(os.environ.get("PHASEWISE_SHARED", ROOT.parent / "shared"))
CA_VIDEO = SHARED / "videos" / "ca_arterial.mp4"      # 640x360; its index (moov) is at the end
NL_VIDEO = SHARED / "videos" / "nl_highway_overpass.mp4"  # 1280x720, 335 frames; index at the start
CA_SITE = ROOT / "calibration" / "sites" / "ca_arterial.yaml"
CORRIDOR = "corridor:demand=low,intersections=2"
PHASEWISE = [sys.executable, "-m", "phasewise.cli"]

# What an earlier run left in the target folder (``{out}``); no failed run may touch it.
EARLIER = {name: f"earlier run: {name}\n" for name in
           ("m.json", "plan.json", "timing.txt", "counts.csv", "summary.json", "annotated.mp4", "notes.txt")}


@dataclass(frozen=True)
class Case:
    """One bad input. ``{out}``: the folder holding an earlier run's outputs; ``{in}``: the
    prepared input files; ``{ro}``: a folder nobody may write in. ``kind``: ``usage`` (Click's
    usage message, last line ``Error: ...``), ``error`` (one line ``phasewise: error: ...``),
    ``partial`` (an error after writing this run's partial outputs) or ``ok``."""

    name: str
    args: tuple[str, ...]
    message: str
    kind: str = "error"
    code: int = 2
    env: dict[str, str] = field(default_factory=dict)


REPLAY_CA = ("replay", str(CA_VIDEO), "--line", "0,250,640,250", "--out", "{out}", "--quiet")
SITE_DRAW = ("site", "draw", str(CA_SITE), "--frame", str(CA_VIDEO), "--out", "{out}/site.png")
OPTIMIZE = ("optimize", "--scenario", CORRIDOR, "--out", "{out}")

CASES = [
    # usage errors: Click's message, exit 2
    Case("no arguments", (), "Usage: phasewise", kind="help"),
    Case("unknown command", ("simulate",), "No such command 'simulate'", kind="usage"),
    Case("unknown option", ("sim", "--bogus"), "No such option: --bogus", kind="usage"),
    Case("missing argument", ("replay",), "Missing argument", kind="usage"),
    Case("seeds 0", ("sim", "--scenario", CORRIDOR, "--seeds", "0"), "'--seeds'", kind="usage"),
    Case("workers 0", ("sim", "--scenario", CORRIDOR, "--workers", "0"), "'--workers'", kind="usage"),
    Case("end NaN", ("sim", "--scenario", CORRIDOR, "--end", "nan"), "nan is not a finite number", kind="usage"),
    Case("time limit 0", (*OPTIMIZE, "--time-limit", "0"), "'--time-limit'", kind="usage"),
    Case("time limit NaN", (*OPTIMIZE, "--time-limit", "nan"), "'--time-limit'", kind="usage"),
    Case("cycle min NaN", (*OPTIMIZE, "--cycle-min", "nan"), "'--cycle-min'", kind="usage"),
    Case("max saturation NaN", (*OPTIMIZE, "--max-saturation", "nan"), "'--max-saturation'", kind="usage"),
    Case("conf 2", (*REPLAY_CA, "--conf", "2"), "'--conf'", kind="usage"),
    Case("max frames 0", (*REPLAY_CA, "--max-frames", "0"), "'--max-frames'", kind="usage"),
    Case("max frames negative", (*REPLAY_CA, "--max-frames", "-5"), "'--max-frames'", kind="usage"),
    Case("imgsz 0", (*REPLAY_CA, "--imgsz", "0"), "'--imgsz'", kind="usage"),
    Case("frame index negative", (*SITE_DRAW, "--frame-index", "-1"), "'--frame-index'", kind="usage"),
    # output locations, checked before any work
    Case("sim --json is a folder", ("sim", "--scenario", CORRIDOR, "--end", "60", "--json", "{out}"), "is a folder"),
    Case("sim --json in a read-only place", ("sim", "--scenario", CORRIDOR, "--end", "60", "--json", "{ro}/m.json"),
         "cannot write in"),
    Case("sim --json below a file", ("sim", "--scenario", CORRIDOR, "--end", "60", "--json", "{out}/m.json/x.json"),
         "is a file, not a folder"),
    Case("optimize --out is a file", ("optimize", "--scenario", CORRIDOR, "--out", "{out}/plan.json"),
         "is a file; give a folder"),
    Case("replay --out read-only", ("replay", str(CA_VIDEO), "--line", "0,250,640,250", "--out", "{ro}/replay"),
         "cannot write in"),
    # input files
    Case("demand CSV not UTF-8", (*OPTIMIZE, "--demand", "{in}/latin1.csv"), "not UTF-8"),
    Case("demand CSV with an Excel BOM", (*OPTIMIZE, "--demand", "{in}/bom.csv", "--time-limit", "1", "--no-check"), "", kind="ok",
         code=0),
    Case("site file not UTF-8", ("replay", str(CA_VIDEO), "--site", "{in}/latin1_site.yaml", "--out", "{out}"),
         "not UTF-8"),
    Case("site lane direction NaN", ("replay", str(CA_VIDEO), "--site", "{in}/nan_site.yaml", "--out", "{out}"),
         "lanes.0.direction.0: Input should be a finite number"),
    Case("line outside the frame", ("replay", str(CA_VIDEO), "--line", "0,250,2000,250", "--out", "{out}"),
         "(2000, 250) is outside the 640x360 frames"),
    Case("frame index past the end", (*SITE_DRAW, "--frame-index", "5000"), "has no frame 5000"),
    Case("video truncated before its index", ("replay", "{in}/ca_cut.mp4", "--line", "0,250,640,250", "--out", "{out}"),
         "cannot open video"),
    Case("video truncated after its index", ("replay", "{in}/nl_cut.mp4", "--line", "263,450,1054,450",
                                              "--detect-every", "5", "--quiet", "--out", "{out}"),
         "ended after", kind="partial"),
    # shared data missing: say what and where from
    Case("shared scenario missing", ("sim", "--scenario", "cologne3"), "https://github.com/Pi-Star-Lab/RESCO",
         env={"PHASEWISE_SHARED": "{in}/no-shared"}),
    Case("default weights missing", REPLAY_CA, "detector weights not found: {in}/no-shared/models",
         env={"PHASEWISE_SHARED": "{in}/no-shared", "PHASEWISE_WEIGHTS": ""}),
]


def _prepare_inputs(folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "bom.csv").write_bytes(b"\xef\xbb\xbftls,movement,flow_veh_h\r\nJ0,J1_J0:through,600\r\n"
                                     b"J1,E_J1:through,500\r\n")
    (folder / "latin1.csv").write_bytes("tls,movement,flow_veh_h\nJ0,J1_J0:through,600 véh\n".encode("latin-1"))
    site = CA_SITE.read_text(encoding="utf-8")
    (folder / "latin1_site.yaml").write_bytes(("# caméra\n" + site).encode("latin-1"))
    first_direction = site.index("direction: [")
    end = site.index("]", first_direction)
    (folder / "nan_site.yaml").write_text(site[:first_direction] + "direction: [.nan, 1.0" + site[end:])
    (folder / "ca_cut.mp4").write_bytes(CA_VIDEO.read_bytes()[:300_000])
    (folder / "nl_cut.mp4").write_bytes(NL_VIDEO.read_bytes()[:600_000])  # about 47 of 335 frames


@pytest.fixture(scope="module")
def read_only_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if os.geteuid() == 0:  # root writes through permission bits; nobody creates files in /proc
        return Path("/proc")
    folder = tmp_path_factory.mktemp("read-only")
    folder.chmod(0o555)
    return folder


def _fill(case: Case, text: str, out: Path, inputs: Path, read_only: Path) -> str:
    return text.replace("{out}", str(out)).replace("{in}", str(inputs)).replace("{ro}", str(read_only))


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory, read_only_dir: Path) -> dict[str, tuple[subprocess.CompletedProcess[str], Path]]:
    for needed in (CA_VIDEO, NL_VIDEO):
        if not needed.is_file():
            pytest.fail(f"shared data missing: {needed} (see README, Data)")
    base = tmp_path_factory.mktemp("cli-errors")
    inputs = base / "inputs"
    _prepare_inputs(inputs)

    def run(index_case: tuple[int, Case]) -> tuple[str, tuple[subprocess.CompletedProcess[str], Path]]:
        index, case = index_case
        out = base / f"row{index:02d}" / "out"
        out.mkdir(parents=True)
        for name, text in EARLIER.items():
            (out / name).write_text(text)
        env = {**os.environ, **{k: _fill(case, v, out, inputs, read_only_dir) for k, v in case.env.items()}}
        env = {k: v for k, v in env.items() if v != ""}
        args = [_fill(case, a, out, inputs, read_only_dir) for a in case.args]
        done = subprocess.run([*PHASEWISE, *args], capture_output=True, text=True, timeout=120, cwd=ROOT, env=env)
        return case.name, (done, out)

    with ThreadPoolExecutor(max_workers=4) as pool:
        return dict(pool.map(run, enumerate(CASES)))


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_bad_input(case: Case, runs: dict[str, tuple[subprocess.CompletedProcess[str], Path]]) -> None:
    done, out = runs[case.name]
    inputs = out.parent.parent / "inputs"
    message = _fill(case, case.message, out, inputs, Path("/"))
    stderr = done.stderr.strip()
    assert done.returncode == case.code, done.stderr
    assert "Traceback" not in done.stderr
    if case.kind == "help":
        assert message in done.stdout + done.stderr
    elif case.kind == "usage":
        assert stderr.splitlines()[-1].startswith("Error: ") and message in stderr, stderr
    elif case.kind in ("error", "partial"):
        lines = stderr.splitlines()
        assert len(lines) == 1 and lines[0].startswith("phasewise: error: ") and message in lines[0], stderr
    if case.kind in ("help", "usage", "error"):
        assert {p.name: p.read_text() for p in out.iterdir()} == EARLIER  # untouched, nothing added
    else:
        assert (out / "notes.txt").read_text() == EARLIER["notes.txt"]   # not ours: kept
    assert not [p for p in out.parent.iterdir() if p.name.startswith(".")]  # no staging folder left
    if case.kind == "partial":
        summary = json.loads((out / "summary.json").read_text())
        assert summary["partial"] is True and "ended after" in summary["error"]
        assert not (out / "annotated.mp4").exists()  # the earlier run's video would mix two runs
    if case.kind == "ok":
        assert json.loads((out / "plan.json").read_text())  # this run's plan replaced the earlier one


FAILING_COMMAND = """
import sys
from phasewise.app import app
import phasewise.cli

@app.command("boom")
def boom() -> None:
    raise RuntimeError("an unexpected bug")

phasewise.cli.main()
"""


@pytest.mark.parametrize("debug", ["", "--debug", "PHASEWISE_DEBUG=1"])
def test_internal_error_is_one_line_unless_debugging(debug: str) -> None:
    env = {**os.environ, "PHASEWISE_DEBUG": "1" if debug.startswith("PHASEWISE") else ""}
    args = ["boom", "--debug"] if debug == "--debug" else ["boom"]
    done = subprocess.run([sys.executable, "-c", FAILING_COMMAND, *args], capture_output=True, text=True,
                          timeout=120, cwd=ROOT, env=env)
    assert done.returncode == 1
    if debug:
        assert "Traceback" in done.stderr and "RuntimeError: an unexpected bug" in done.stderr
    else:
        lines = done.stderr.strip().splitlines()
        assert lines == ["phasewise: internal error: RuntimeError: an unexpected bug "
                         "(a bug; rerun with --debug for the traceback)"]


def _children(pid: int) -> list[int]:
    """Process ids whose parent is ``pid`` (from /proc/*/stat: pid (comm) state ppid ...)."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:  # ended meanwhile
            continue
        if int(fields[1]) == pid:
            found.append(int(stat.parent.name))
    return found


def _cmdline(pid: int) -> bytes:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return b""


def _interrupt_when(process: subprocess.Popen[str], ready: object, timeout_s: float = 60.0) -> tuple[str, str]:
    """Ctrl-C as a terminal sends it (to the whole process group) once ``ready()`` holds."""
    deadline = time.monotonic() + timeout_s
    while not ready():  # type: ignore[operator]
        assert process.poll() is None, process.communicate()
        assert time.monotonic() < deadline, "the command never got going"
        time.sleep(0.2)
    os.killpg(process.pid, signal.SIGINT)
    return process.communicate(timeout=60)


def test_ctrl_c_stops_a_multi_seed_sim_quietly(tmp_path: Path) -> None:
    json_out = tmp_path / "m.json"
    json_out.write_text("earlier\n")
    scratch = tmp_path / "tmp"  # the runner's per-simulation folders appear here once SUMO runs
    scratch.mkdir()
    process = subprocess.Popen(
        [*PHASEWISE, "sim", "--scenario", "corridor:demand=peak,intersections=4", "--controller", "maxpressure",
         "--seeds", "2", "--workers", "2", "--end", "20000", "--json", str(json_out)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT, start_new_session=True,
        env={**os.environ, "TMPDIR": str(scratch)})
    workers: list[int] = []

    def simulating() -> bool:
        workers[:] = [c for c in _children(process.pid) if b"spawn_main" in _cmdline(c)]
        return len(list(scratch.glob("phasewise-run-*"))) == 2

    _, stderr = _interrupt_when(process, simulating)
    assert process.returncode == 130, stderr
    assert stderr.strip().splitlines() == ["phasewise: interrupted"]
    assert json_out.read_text() == "earlier\n"
    assert workers and not [w for w in workers if Path(f"/proc/{w}").exists()]  # the workers were stopped
    assert not list(scratch.glob("phasewise-run-*"))  # ... cleanly: their temporary files are gone


def test_ctrl_c_stops_a_single_seed_sim_quietly(tmp_path: Path) -> None:
    scratch = tmp_path / "tmp"  # one seed runs SUMO in the phasewise process itself
    scratch.mkdir()
    process = subprocess.Popen(
        [*PHASEWISE, "sim", "--scenario", "corridor:demand=peak,intersections=4", "--controller", "maxpressure",
         "--end", "20000"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT, start_new_session=True,
        env={**os.environ, "TMPDIR": str(scratch)})
    _, stderr = _interrupt_when(process, lambda: bool(list(scratch.glob("phasewise-run-*"))))
    assert process.returncode == 130, stderr
    assert stderr.strip().splitlines() == ["phasewise: interrupted"]
    assert not list(scratch.glob("phasewise-run-*"))


def test_ctrl_c_during_replay_writes_a_partial_run(tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    (out / "counts.csv").write_text("earlier\n")
    process = subprocess.Popen(
        [*PHASEWISE, "replay", str(CA_VIDEO), "--site", str(CA_SITE), "--out", str(out), "--video-out", "--quiet"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT, start_new_session=True)

    def counting() -> bool:  # the annotated video grows in the staging folder once frames are processed
        return any(p.stat().st_size > 50_000 for p in tmp_path.glob(".out.staging-*/annotated.mp4"))

    _, stderr = _interrupt_when(process, counting)
    assert process.returncode == 130, stderr
    assert stderr.strip().splitlines() == ["phasewise: interrupted"]
    summary = json.loads((out / "summary.json").read_text())
    assert summary["partial"] is True and "interrupted" in summary["error"]
    assert 0 < summary["frames"] < 568
    counts = (out / "counts.csv").read_text()
    assert counts.startswith("bin_start,") and (out / "annotated.mp4").stat().st_size > 0
    assert not list(tmp_path.glob(".*"))
