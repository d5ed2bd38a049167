"""Hostile input to ``controller``, ``token``, ``serve``, ``run --config`` and ``replay``
through the real ``phasewise`` entry point (issue #24, part B): each row is a command line
run by ``phasewise.cli.main`` in a subprocess (``cli_batch``: three processes share the
rows), checked for its exit code, one clear line naming the option, file or field, and no
traceback.

Rows of the issue are named ``#N ...``; the others are inputs of the same kind (out of range,
not finite, binary, the wrong type of file, a malformed hash...). None of them reaches the
network, SUMO or the detector: each is refused before any work starts. What needs a running
server, a controller or a video is in ``test_serve_runtime.py``, ``test_controller_status.py``
and ``tests/vision/test_replay_interrupted.py``.
"""

from __future__ import annotations

import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from phasewise.web.auth import hash_token
from tests.phasewise.cli_batch import run_batch

ROOT = Path(__file__).resolve().parents[2]
SHARED = Path(os.environ.get("PHASEWISE_SHARED", ROOT.parent / "shared"))
CA_VIDEO = SHARED / "videos" / "ca_arterial.mp4"
HANOI_VIDEO = SHARED / "videos" / "hanoi_intersection.mp4"
HANOI_SITE = ROOT / "calibration" / "sites" / "hanoi_intersection.yaml"
PHASEWISE = [sys.executable, "-m", "phasewise.cli"]
BINARY = bytes(range(256)) * 4  # not UTF-8 from byte 128 on
BATCHES = 3

STATUS = ("controller", "status", "--host", "127.0.0.1", "--community", "public")
EMULATE = ("controller", "emulate", "--scenario", "cologne1")
SERVE = ("serve", "--results", "{in}/results", "--tokens", "{in}/tokens.yaml", "--port", "0")
REPLAY_CA = ("replay", str(CA_VIDEO), "--line", "0,250,640,250", "--out", "{in}/replay-out", "--quiet")


@dataclass(frozen=True)
class Case:
    """One hostile input. ``{in}``: the prepared input files. ``kind``: ``usage`` (Click's
    usage message, last line ``Error: ...`` naming the option), ``error`` (one line
    ``phasewise: error: ...``) or ``ok`` (exit 0, ``message`` in stdout)."""

    name: str
    args: tuple[str, ...]
    message: str
    kind: str = "error"
    stdin: bytes = b""

    @property
    def code(self) -> int:
        return 0 if self.kind == "ok" else 2


def config(name: str) -> tuple[str, ...]:
    return ("run", "--config", f"{{in}}/configs/{name}")


CASES = [
    # -- controller status (#4, #10, #20) and its other options --------------------------------
    Case("#4 status --timeout nan", (*STATUS, "--timeout", "nan"), "'--timeout'", "usage"),
    Case("#4 status --timeout -1", (*STATUS, "--timeout", "-1"), "'--timeout'", "usage"),
    Case("#4 status --timeout inf", (*STATUS, "--timeout", "inf"), "'--timeout'", "usage"),
    Case("#10 status --groups 0", (*STATUS, "--groups", "0"), "'--groups'", "usage"),
    Case("#10 status --groups -3", (*STATUS, "--groups", "-3"), "'--groups'", "usage"),
    Case("#20 status --port 70000", (*STATUS, "--port", "70000"), "'--port'", "usage"),
    Case("status --timeout 0", (*STATUS, "--timeout", "0"), "'--timeout'", "usage"),
    Case("status --timeout 1e400", (*STATUS, "--timeout", "1e400"), "'--timeout'", "usage"),
    Case("status --timeout 16 (3 attempts past the 60 s guard)", (*STATUS, "--timeout", "16"), "'--timeout'", "usage"),
    Case("status --timeout word", (*STATUS, "--timeout", "soon"), "'--timeout'", "usage"),
    Case("status --groups 33 (NTCIP has 32)", (*STATUS, "--groups", "33"), "'--groups'", "usage"),
    Case("status --groups 1.5", (*STATUS, "--groups", "1.5"), "'--groups'", "usage"),
    Case("status --groups 10**30", (*STATUS, "--groups", "1" + "0" * 30), "'--groups'", "usage"),
    Case("status --port 0", (*STATUS, "--port", "0"), "'--port'", "usage"),
    Case("status --port -1", (*STATUS, "--port", "-1"), "'--port'", "usage"),
    Case("status community and user", (*STATUS, "--user", "u"), "give --community or --user, not both"),
    Case("status v3 without keys", ("controller", "status", "--host", "127.0.0.1", "--user", "u"),
         "SNMPv3 auth key: give an environment variable or a key file"),
    Case("status v3 MD5", ("controller", "status", "--host", "127.0.0.1", "--user", "u", "--auth-key-env", "A",
                           "--priv-key-env", "P", "--auth-protocol", "MD5"), "auth_protocol"),
    Case("status auth key file binary", ("controller", "status", "--host", "127.0.0.1", "--user", "u",
                                         "--auth-key-file", "{in}/binary.bin", "--priv-key-env", "P"),
         "binary.bin"),
    Case("status auth key file is a folder", ("controller", "status", "--host", "127.0.0.1", "--user", "u",
                                              "--auth-key-file", "{in}", "--priv-key-env", "P"), "{in}"),
    Case("status --host empty", ("controller", "status", "--host", "", "--community", "public"), "--host ''"),
    Case("status --community-env unset", ("controller", "status", "--host", "127.0.0.1", "--community-env",
                                          "PW_TEST_UNSET_C"), "environment variable PW_TEST_UNSET_C is not set"),
    Case("status auth key file missing", ("controller", "status", "--host", "127.0.0.1", "--user", "u",
                                          "--auth-key-file", "{in}/no.key", "--priv-key-env", "P"),
         "cannot read key file {in}/no.key"),
    Case("status auth key env unset", ("controller", "status", "--host", "127.0.0.1", "--user", "u",
                                       "--auth-key-env", "PW_TEST_UNSET_A", "--priv-key-env", "PW_TEST_UNSET_P"),
         "PW_TEST_UNSET_A"),
    # -- controller emulate (#11) --------------------------------------------------------------
    Case("#11 emulate --backup-time -1", (*EMULATE, "--backup-time", "-1"), "'--backup-time'", "usage"),
    Case("emulate --backup-time 65536", (*EMULATE, "--backup-time", "65536"), "'--backup-time'", "usage"),
    Case("emulate --backup-time 1.5", (*EMULATE, "--backup-time", "1.5"), "'--backup-time'", "usage"),
    Case("emulate --speed nan", (*EMULATE, "--speed", "nan"), "'--speed'", "usage"),
    Case("emulate --speed inf", (*EMULATE, "--speed", "inf"), "'--speed'", "usage"),
    Case("emulate --speed -2", (*EMULATE, "--speed", "-2"), "'--speed'", "usage"),
    Case("emulate --end inf", (*EMULATE, "--end", "inf"), "'--end'", "usage"),
    Case("emulate --end 0", (*EMULATE, "--end", "0"), "'--end'", "usage"),
    Case("emulate --port 70000", (*EMULATE, "--port", "70000"), "'--port'", "usage"),
    Case("emulate --seed -1", (*EMULATE, "--seed", "-1"), "'--seed'", "usage"),
    Case("emulate unknown scenario", ("controller", "emulate", "--scenario", "atlantis"), "atlantis"),
    Case("emulate --users binary", (*EMULATE, "--users", "{in}/binary.bin"), "binary.bin"),
    Case("emulate --users a list", (*EMULATE, "--users", "{in}/list.yaml"), "list.yaml"),
    Case("emulate --mapping binary", (*EMULATE, "--mapping", "{in}/binary.bin"), "binary.bin"),
    Case("emulate --mapping not YAML", (*EMULATE, "--mapping", "{in}/configs/tabs.yaml"), "not valid YAML"),
    Case("emulate --mapping without tls_id", (*EMULATE, "--mapping", "{in}/mapping_no_tls.yaml"),
         "mapping_no_tls.yaml: tls_id: Field required"),
    Case("emulate --mapping a folder", (*EMULATE, "--mapping", "{in}"), "cannot read NEMA mapping"),
    Case("emulate --tls unknown", (*EMULATE, "--tls", "NOPE", "--port", "0"), "--tls NOPE: no such traffic light"),
    Case("emulate --host unknown", (*EMULATE, "--host", "999.1.1.1", "--port", "0"), "cannot listen on 999.1.1.1"),
    # -- token (#8) ----------------------------------------------------------------------------
    Case("#8 token hash binary stdin", ("token", "hash"), "not UTF-8", stdin=b"\xff\xfe.abc\n"),
    Case("#8 token hash binary after the dot", ("token", "hash"), "not UTF-8", stdin=b"alice.b\xff\n"),
    Case("token hash random bytes", ("token", "hash"), "standard input", stdin=BINARY),
    Case("token hash empty", ("token", "hash"), "give a token NAME.SECRET"),
    Case("token hash NUL", ("token", "hash"), "not a token", stdin=b"alice.\x00\x00\n"),
    Case("token hash no secret", ("token", "hash"), "not a token", stdin=b"alice.\n"),
    Case("token hash space in name", ("token", "hash"), "not a token", stdin=b"al ice.secret\n"),
    Case("token hash 2 kB line", ("token", "hash"), "longer than 1024 bytes", stdin=b"a." + b"x" * 2048),
    Case("token hash CRLF", ("token", "hash"), "scrypt$16384$8$1$", "ok", stdin=b"alice.s3cret\r\n"),
    Case("token new role admin", ("token", "new", "alice", "--role", "admin"), "--role admin"),
    Case("token new name with a dot", ("token", "new", "al.ice", "--role", "viewer"), "NAME 'al.ice'"),
    Case("token new name of 65", ("token", "new", "a" * 65, "--role", "viewer"), "NAME"),
    # -- serve (#8, #18) -----------------------------------------------------------------------
    Case("#8 serve --tokens binary", ("serve", "--results", "{in}/results", "--tokens", "{in}/binary.bin"),
         "binary.bin: not a UTF-8 text file"),
    Case("#18 serve hash scrypt$1$1$1$xx$yy", ("serve", "--results", "{in}/results", "--tokens", "{in}/weak.yaml"),
         "weak.yaml: tokens.0: Value error, scrypt parameters N=1"),
    Case("serve hash with a short digest", ("serve", "--results", "{in}/results", "--tokens", "{in}/short.yaml"),
         "the hash part must be 16 bytes"),
    Case("serve hash needing 128 MiB", ("serve", "--results", "{in}/results", "--tokens", "{in}/huge.yaml"),
         "need more than scrypt's 32 MiB"),
    Case("serve two tokens of one name", ("serve", "--results", "{in}/results", "--tokens", "{in}/twice.yaml"),
         "alice is listed twice"),
    Case("serve tokens a list", ("serve", "--results", "{in}/results", "--tokens", "{in}/list.yaml"), "list.yaml"),
    Case("serve tokens role admin", ("serve", "--results", "{in}/results", "--tokens", "{in}/admin.yaml"),
         "tokens.0.role"),
    Case("serve tokens missing", ("serve", "--results", "{in}/results", "--tokens", "{in}/none.yaml"), "none.yaml"),
    Case("serve tokens a folder", ("serve", "--results", "{in}/results", "--tokens", "{in}"), "cannot read"),
    Case("serve results a file", ("serve", "--results", "{in}/binary.bin", "--tokens", "{in}/tokens.yaml"),
         "not a folder"),
    Case("serve results missing", ("serve", "--results", "{in}/nowhere", "--tokens", "{in}/tokens.yaml"),
         "not a folder"),
    Case("serve --port 65536", (*SERVE, "--port", "65536"), "'--port'", "usage"),
    Case("serve --session-s nan", (*SERVE, "--session-s", "nan"), "'--session-s'", "usage"),
    Case("serve --session-s inf", (*SERVE, "--session-s", "inf"), "'--session-s'", "usage"),
    Case("serve --max-body-bytes 0", (*SERVE, "--max-body-bytes", "0"), "'--max-body-bytes'", "usage"),
    Case("serve --login-failures-per-minute 0", (*SERVE, "--login-failures-per-minute", "0"),
         "'--login-failures-per-minute'", "usage"),
    Case("serve --trusted-proxy a name", (*SERVE, "--trusted-proxy", "proxy.local"), "--trusted-proxy"),
    Case("serve --host empty", (*SERVE, "--host", ""), "--host ''"),
    Case("serve --host unknown", (*SERVE, "--host", "999.1.1.1"), "cannot listen"),
    Case("serve --audit a folder", (*SERVE, "--audit", "{in}"), "--audit {in}: is a folder"),
    Case("serve --audit in /proc", (*SERVE, "--audit", "/proc/audit.jsonl"), "--audit /proc/audit.jsonl"),
    Case("serve the example's demo tokens off loopback", ("serve", "--results", "{in}/results", "--tokens",
                                                          str(ROOT / "examples" / "tokens.yaml"), "--host", "0.0.0.0"),
         "are demo tokens whose secrets the README publishes"),
    # -- run --config (#8, #19) ----------------------------------------------------------------
    Case("#8 run --config binary", ("run", "--config", "{in}/binary.bin"), "binary.bin: not a UTF-8 text file"),
    Case("#19 run gate.timeout_s .inf", config("gate_inf.yaml"), "gate.timeout_s: Input should be a finite number"),
    Case("run gate.timeout_s 1e308", config("gate_huge.yaml"), "gate.timeout_s: Input should be less than"),
    Case("run speed .nan", config("speed_nan.yaml"), "speed: Input should be a finite number"),
    Case("run duration_s -1", config("duration_neg.yaml"), "duration_s: Input should be greater than 0"),
    Case("run fallback.release_after_s .inf", config("release_inf.yaml"), "fallback.release_after_s"),
    Case("run cameras.view_m .nan", config("view_nan.yaml"), "cameras.view_m"),
    Case("run http.session_s 1e308", config("session_huge.yaml"), "http.session_s"),
    Case("run http.port 70000", config("port_big.yaml"), "http.port"),
    Case("run gate.seeds 0", config("seeds0.yaml"), "gate.seeds"),
    Case("run two tokens of one name", config("tokens_twice.yaml"), "demo-viewer is listed twice"),
    Case("run token hash scrypt$1$1$1$xx$yy", config("weak_hash.yaml"), "http.tokens.0"),
    Case("run ntcip timeout_s .inf", config("ntcip_inf.yaml"), "controller.ntcip.timeout_s"),
    Case("run max_change_per_cycle 0", config("change0.yaml"), "controller.max_change_per_cycle"),
    Case("run unknown key", config("unknown_key.yaml"), "colour"),
    Case("run a list", config("list.yaml"), "expected a mapping"),
    Case("run empty file", config("empty.yaml"), "expected a mapping"),
    Case("run not YAML", config("tabs.yaml"), "not valid YAML"),
    Case("run config a folder", ("run", "--config", "{in}/configs"), "cannot read"),
    Case("run http.host empty", config("host_empty.yaml"), "http.host: Value error, give an address"),
    Case("run state_dir empty", config("state_empty.yaml"), "state_dir: Value error, give a folder"),
    Case("run state_dir a file", config("state_file.yaml"), "state_dir {in}/binary.bin: cannot be used"),
    Case("run state_dir in /proc", config("state_proc.yaml"), "state_dir /proc/phasewise: cannot be used"),
    # -- replay (#16, #26) ---------------------------------------------------------------------
    Case("#16 replay --imgsz 33", (*REPLAY_CA, "--imgsz", "33"), "33 is not a multiple of 32", "usage"),
    # --start stamps summary.json in every mode (and turning_movements.csv with --intersection)
    Case("#16 replay --start without --intersection", (*REPLAY_CA, "--start", "yesterday-ish"),
         "--start must be an ISO date"),
    Case("#26 replay 99 (no such camera)", ("replay", "99", "--line", "0,1,5,5", "--out", "{in}/replay-out"),
         "cannot read from camera device 99"),
    Case("replay --imgsz 4128", (*REPLAY_CA, "--imgsz", "4128"), "'--imgsz'", "usage"),
    Case("replay --imgsz 31", (*REPLAY_CA, "--imgsz", "31"), "'--imgsz'", "usage"),
    Case("replay --start not a time", ("replay", str(HANOI_VIDEO), "--site", str(HANOI_SITE), "--intersection",
                                       "--start", "25:99", "--out", "{in}/replay-out"), "--start must be an ISO date"),
    Case("replay --start in year 9999", ("replay", str(HANOI_VIDEO), "--site", str(HANOI_SITE), "--intersection",
                                          "--start", "9999-12-31T23:59:59", "--out", "{in}/replay-out"),
         "--start 9999-12-31T23:59:59: give a time in the years 1970-2199"),
    Case("replay --bin-s 0", (*REPLAY_CA, "--bin-s", "0"), "'--bin-s'", "usage"),
    Case("replay --conf nan", (*REPLAY_CA, "--conf", "nan"), "'--conf'", "usage"),
    Case("replay --detect-every 0", (*REPLAY_CA, "--detect-every", "0"), "'--detect-every'", "usage"),
    Case("replay --duration-s inf", (*REPLAY_CA, "--duration-s", "inf"), "'--duration-s'", "usage"),
    Case("replay --line of three", ("replay", str(CA_VIDEO), "--line", "1,2,3", "--out", "{in}/replay-out"),
         "--line must be X1,Y1,X2,Y2"),
    Case("replay --line nan", ("replay", str(CA_VIDEO), "--line", "nan,0,1,1", "--out", "{in}/replay-out"),
         "--line must be four finite numbers"),
    Case("replay --line a point", ("replay", str(CA_VIDEO), "--line", "5,5,5,5", "--out", "{in}/replay-out"),
         "two different points"),
    Case("replay --site and --line", ("replay", str(CA_VIDEO), "--line", "0,1,5,5", "--site", str(HANOI_SITE),
                                      "--out", "{in}/replay-out"), "give exactly one of --site"),
    Case("replay --intersection with --line", ("replay", str(CA_VIDEO), "--line", "0,1,5,5", "--intersection",
                                               "--out", "{in}/replay-out"), "--intersection needs --site"),
    Case("replay a binary file as video", ("replay", "{in}/binary.bin", "--line", "0,1,5,5",
                                           "--out", "{in}/replay-out"), "binary.bin"),
    Case("replay an empty video file", ("replay", "{in}/empty.mp4", "--line", "0,1,5,5",
                                        "--out", "{in}/replay-out"), "empty.mp4"),
    Case("replay weights not ONNX", (*REPLAY_CA, "--weights", "{in}/garbage.onnx"), "cannot load ONNX model"),
    Case("replay weights an empty folder", (*REPLAY_CA, "--weights", "{in}/results"), "no OpenVINO .xml network"),
    Case("replay YOLOX at another size", (*REPLAY_CA, "--weights", str(SHARED / "models" / "yolox_nano.onnx"),
                                          "--imgsz", "320"), "fixed 416x416 input; --imgsz 320 is not possible"),
    Case("replay an unreachable stream", ("replay", "http://127.0.0.1:9/x.mp4", "--line", "0,1,5,5",
                                          "--out", "{in}/replay-out"), "cannot read from stream http://127.0.0.1:9"),
    Case("replay --out a device", ("replay", str(CA_VIDEO), "--line", "0,250,640,250", "--out", "/dev/null"),
         "--out /dev/null: is a file; give a folder"),
    Case("replay unknown backend", (*REPLAY_CA, "--backend", "tensorrt"), "tensorrt"),
    Case("replay missing weights", (*REPLAY_CA, "--weights", "{in}/no-weights.onnx"), "no-weights.onnx"),
]


def _prepare(folder: Path) -> None:
    (folder / "results").mkdir(parents=True)
    (folder / "binary.bin").write_bytes(BINARY)
    (folder / "empty.mp4").write_bytes(b"")
    (folder / "list.yaml").write_text("- a\n- b\n")
    (folder / "garbage.onnx").write_bytes(BINARY)
    (folder / "mapping_no_tls.yaml").write_text("phases: {1: 2}\n")
    good = hash_token("alice.s3cret")
    salt = good.split("$")[4]

    def tokens(name: str, *entries: dict[str, str]) -> None:
        (folder / name).write_text(yaml.safe_dump({"tokens": list(entries)}))

    tokens("tokens.yaml", {"name": "alice", "role": "viewer", "hash": good})
    tokens("weak.yaml", {"name": "alice", "role": "viewer", "hash": "scrypt$1$1$1$xx$yy"})
    tokens("short.yaml", {"name": "alice", "role": "viewer", "hash": f"scrypt$16384$8$1${salt}$yy"})
    tokens("huge.yaml", {"name": "alice", "role": "viewer", "hash": f"scrypt$131072$8$1${salt}${good.split('$')[5]}"})
    tokens("twice.yaml", {"name": "alice", "role": "viewer", "hash": good},
           {"name": "alice", "role": "operator", "hash": good})
    tokens("admin.yaml", {"name": "alice", "role": "admin", "hash": good})
    configs = folder / "configs"
    configs.mkdir()
    base = yaml.safe_load((ROOT / "examples" / "sil-corridor.yaml").read_text())
    base["state_dir"] = str(folder / "state")

    def run_config(name: str, **changes: object) -> None:
        raw = yaml.safe_load(yaml.safe_dump(base))
        for dotted, value in changes.items():
            *parents, leaf = dotted.split("__")
            node = raw
            for part in parents:
                node = node.setdefault(part, {})
            node[leaf] = value
        (configs / name).write_text(yaml.safe_dump(raw))

    run_config("gate_inf.yaml", gate__timeout_s=float("inf"))
    run_config("gate_huge.yaml", gate__timeout_s=1e308)
    run_config("speed_nan.yaml", speed=float("nan"))
    run_config("duration_neg.yaml", duration_s=-1)
    run_config("release_inf.yaml", fallback__release_after_s=float("inf"))
    run_config("view_nan.yaml", cameras__view_m=float("nan"))
    run_config("session_huge.yaml", http__session_s=1e308)
    run_config("port_big.yaml", http__port=70000)
    run_config("seeds0.yaml", gate__seeds=0)
    run_config("tokens_twice.yaml", http__tokens=base["http"]["tokens"] + base["http"]["tokens"][:1])
    run_config("weak_hash.yaml", http__tokens=[{"name": "a", "role": "viewer", "hash": "scrypt$1$1$1$xx$yy"}])
    run_config("ntcip_inf.yaml", mode="field", controller__ntcip={
        "controllers": {"J1": {"host": "127.0.0.1"}}, "snmp": {"community_env": "X"}, "timeout_s": float("inf")})
    run_config("change0.yaml", controller__max_change_per_cycle=0)
    run_config("unknown_key.yaml", colour="red")
    run_config("state_file.yaml", state_dir=str(folder / "binary.bin"))
    run_config("host_empty.yaml", http__host="")
    run_config("state_empty.yaml", state_dir="")
    run_config("state_proc.yaml", state_dir="/proc/phasewise")
    (configs / "list.yaml").write_text("- site: x\n")
    (configs / "empty.yaml").write_text("")
    (configs / "tabs.yaml").write_text("site: x\n\tnetwork: {\n")


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[subprocess.CompletedProcess[str], Path]]:
    for needed in (CA_VIDEO, HANOI_VIDEO):
        if not needed.is_file():
            pytest.fail(f"shared data missing: {needed} (see README, Data)")
    inputs = tmp_path_factory.mktemp("hostile") / "in"
    _prepare(inputs)
    env = {k: v for k, v in os.environ.items() if not k.startswith("PW_TEST_UNSET")}
    batches = [CASES[i::BATCHES] for i in range(BATCHES)]

    def run(batch: list[Case]) -> list[subprocess.CompletedProcess[str]]:
        lines = [([a.replace("{in}", str(inputs)) for a in case.args], case.stdin) for case in batch]
        return run_batch(lines, cwd=ROOT, env=env)

    with ThreadPoolExecutor(max_workers=BATCHES) as pool:
        done = [r for results in pool.map(run, batches) for r in results]
    return {case.name: (result, inputs) for case, result in zip([c for b in batches for c in b], done)}


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_hostile_input(case: Case, runs: dict[str, tuple[subprocess.CompletedProcess[str], Path]]) -> None:
    done, inputs = runs[case.name]
    message = case.message.replace("{in}", str(inputs))
    stderr = done.stderr.strip()
    assert done.returncode == case.code, done.stderr
    assert "Traceback" not in done.stderr and "internal error" not in done.stderr
    if case.kind == "usage":
        assert stderr.splitlines()[-1].startswith("Error: ") and message in stderr, stderr
    elif case.kind == "error":
        lines = stderr.splitlines()
        assert len(lines) == 1 and lines[0].startswith("phasewise: error: ") and message in lines[0], stderr
    else:
        assert message in done.stdout, done.stdout + done.stderr
    assert not (inputs / "replay-out").exists()  # refused before any output
