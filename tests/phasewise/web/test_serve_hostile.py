"""``phasewise serve`` on folders that are not what it expects (issue #24 rows 9, 18, 30):
``/proc``, an empty folder, files it cannot read or parse, no tokens. It starts with a
warning saying so, answers every request without a 500, writes its audit log only where it
is told, and stops on Ctrl-C with 130 and "phasewise: interrupted" (SIGTERM: 0).
"""

from __future__ import annotations

import json
import signal
import sqlite3
import subprocess
import time
from pathlib import Path

import pytest

VIEWER_GETS = ("/api/snapshot", "/api/intersections", "/api/cameras", "/api/counts", "/api/plans", "/api/gate",
               "/api/alarms", "/api/health")


def _default_sigint() -> None:
    # a shell that runs tests in the background starts them with SIGINT ignored, and a child
    # inherits that: restore it, so the Ctrl-C below would reach an unprepared process too
    signal.signal(signal.SIGINT, signal.SIG_DFL)


class Serve:
    """``phasewise serve`` in its own session, stderr kept apart."""

    def __init__(self, web, tmp: Path, *args: str) -> None:  # type: ignore[no-untyped-def]
        self.log_path = tmp / f"serve-{time.monotonic_ns()}.log"
        self.stderr = open(self.log_path, "w")
        self.proc = subprocess.Popen([*web.PHASEWISE, "serve", "--port", "0", *args], cwd=web.REPO,
                                     stdout=subprocess.DEVNULL, stderr=self.stderr, text=True,
                                     start_new_session=True, preexec_fn=_default_sigint)
        end = time.monotonic() + 60
        while "serving " not in self.log():
            assert self.proc.poll() is None and time.monotonic() < end, self.log()
            time.sleep(0.2)
        self.client = web.Client(int(self.log().split("http://127.0.0.1:", 1)[1].split("/", 1)[0]))

    def log(self) -> str:
        self.stderr.flush()
        return self.log_path.read_text()

    def stop(self, signum: int) -> tuple[int, list[str]]:
        self.proc.send_signal(signum)
        code = self.proc.wait(timeout=30)
        self.stderr.close()
        return code, self.log_path.read_text().strip().splitlines()

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=10)
        if not self.stderr.closed:
            self.stderr.close()


@pytest.fixture()
def tokens_file(web, tmp_path: Path) -> Path:  # type: ignore[no-untyped-def]
    path = tmp_path / "tokens.yaml"
    path.write_text("tokens:\n" + web.tokens_yaml())
    return path


def test_serve_on_proc_answers_every_request_and_ctrl_c_exits_130(web, tmp_path: Path, tokens_file: Path) -> None:  # type: ignore[no-untyped-def]
    serve = Serve(web, tmp_path, "--results", "/proc", "--tokens", str(tokens_file))
    try:
        start = serve.log()
        assert "phasewise: warning: --results /proc holds none of the files the dashboard shows" in start
        assert "phasewise: warning: --results /proc: cannot write audit.jsonl there" in start
        for path in VIEWER_GETS:  # issue #24 row 9: GET /api/plans was a 500 with uvicorn's traceback
            reply = serve.client.call("GET", path, web.TOKENS["viewer"])
            assert reply.status == 200, (path, reply.body[:300])
        assert serve.client.call("GET", "/api/plans", web.TOKENS["viewer"]).json() == []
        assert serve.client.call("GET", "/api/counts", web.TOKENS["viewer"]).json() == []
        assert serve.client.call("GET", "/api/export/counts.csv", web.TOKENS["engineer"]).status == 200
        assert serve.client.call("GET", "/api/audit", web.TOKENS["engineer"]).json() == []
        health = serve.client.call("GET", "/healthz")
        assert health.status == 200 and health.json() == {"ok": True, "reason": "serving /proc"}
        assert serve.client.call("GET", "/readyz").status == 200
        assert serve.client.call("GET", "/metrics").status == 404
        refused = serve.client.call("POST", "/api/plans/plan/apply", web.TOKENS["operator"])
        assert refused.status in (404, 409)
        code, lines = serve.stop(signal.SIGINT)
    finally:
        serve.kill()
    assert code == 130, lines  # issue #24 row 30: exit 0 without "interrupted"
    assert lines[-1] == "phasewise: interrupted"
    assert any("audit (no audit file)" in line and "/api/plans/plan/apply" in line for line in lines)
    assert not [line for line in lines if "Traceback" in line or "ERROR" in line]


def test_serve_warns_of_no_tokens_and_an_empty_folder_and_sigterm_exits_0(web, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    results = tmp_path / "empty"
    results.mkdir()
    (tmp_path / "none.yaml").write_text("tokens: []\n")
    serve = Serve(web, tmp_path, "--results", str(results), "--tokens", str(tmp_path / "none.yaml"))
    try:
        start = serve.log()  # issue #24 row 18: neither was said
        assert f"phasewise: warning: --results {results} holds none of the files the dashboard shows" in start
        assert f"phasewise: warning: {tmp_path / 'none.yaml'}: no tokens: the dashboard and API refuse everyone" in start
        assert serve.client.call("GET", "/api/snapshot", web.TOKENS["viewer"]).status == 401
        assert serve.client.call("GET", "/healthz").status == 200
        code, lines = serve.stop(signal.SIGTERM)
    finally:
        serve.kill()
    assert code == 0 and "phasewise: interrupted" not in lines
    assert list(results.iterdir()) == []  # GETs are not audited: nothing was written


def _malformed_results(folder: Path) -> None:
    """Every file the dashboard reads, broken in its own way; one daemon counts file good."""
    folder.mkdir()
    (folder / "plan.json").write_bytes(b"\xff\xfe{not json")
    (folder / "check.json").write_text("[1, 2, 3]")
    (folder / "counts.csv").write_text("bin_start,bin_s,lane,class,count\nyesterday,900,l1,car,3\n")
    (folder / "queue_bins.csv").write_text("bin_start,bin_s,mean_stopped\n0,900,nan\n")
    (folder / "decisions.jsonl").write_text('{"event": "strategic", "t": NaN, "result": "keep"}\n'
                                            '{"event": "strategic", "t": 12.0, "result": "keep", "improvement": "lots"}\n'
                                            "{cut by a crash\n")
    (folder / "state.sqlite").write_bytes(b"not a database" * 100)
    (folder / "annotated.mp4").write_bytes(b"\x00" * 5000)
    (folder / "time_space.png").mkdir()  # a folder where a file belongs
    daemon_counts = folder / "counts" / "2026-12-07"
    daemon_counts.mkdir(parents=True)
    (daemon_counts / "J1.csv").write_text("bin_start,bin_s,camera,lane,count\n2026-12-07T10:00:00+00:00,900,J1-N,J1_0,7\n")
    with sqlite3.connect(folder / "kv.sqlite") as db:  # not a file the dashboard reads: ignored
        db.execute("CREATE TABLE t (x)")


def test_serve_shows_unreadable_files_as_absent_and_audits_where_told(web, tmp_path: Path, tokens_file: Path) -> None:  # type: ignore[no-untyped-def]
    results = tmp_path / "broken"
    _malformed_results(results)
    before = sorted(p.relative_to(results).as_posix() for p in results.rglob("*"))
    audit = tmp_path / "logs" / "audit.jsonl"
    serve = Serve(web, tmp_path, "--results", str(results), "--tokens", str(tokens_file), "--audit", str(audit))
    try:
        for path in VIEWER_GETS:
            reply = serve.client.call("GET", path, web.TOKENS["viewer"])
            assert reply.status == 200, (path, reply.body[:300])
        snap = serve.client.call("GET", "/api/snapshot", web.TOKENS["viewer"]).json()
        assert snap["plans"] == [] and snap["intersections"] == []
        assert [(c["tls"], c["movement"], c["count"]) for c in snap["counts"]] == [("J1-N", "J1_0", 7)]
        assert [g["t_s"] for g in snap["gate"]] == [12.0] and snap["gate"][0]["improvement"] is None
        assert serve.client.call("GET", "/api/plans/plan/time-space.png", web.TOKENS["viewer"]).status == 404
        assert serve.client.call("GET", "/api/cameras/video/thumbnail.jpg", web.TOKENS["viewer"]).status == 404
        assert serve.client.call("GET", "/api/export/counts.csv", web.TOKENS["engineer"]).status == 200
        assert serve.client.call("POST", "/api/plans", web.TOKENS["viewer"], body={}).status == 403
        log = serve.log()
        for name in ("plan.json", "counts.csv", "queue_bins.csv", "check.json", "state.sqlite"):
            assert f"phasewise: warning: {results / name}: cannot read" in log, name
        assert f"phasewise: warning: {results / 'decisions.jsonl'}: 2 line(s) that are no gate decision skipped" in log
        assert "Traceback" not in log and "internal error" not in log
        code, _ = serve.stop(signal.SIGTERM)
    finally:
        serve.kill()
    assert code == 0
    (entry,) = [json.loads(line) for line in audit.read_text().splitlines()]
    assert entry["status"] == 403 and entry["path"] == "/api/plans" and entry["who"] == web.NAMES["viewer"]
    assert sorted(p.relative_to(results).as_posix() for p in results.rglob("*")) == before  # nothing written there


HOSTILE_REQUESTS = [  # (method, path, role or raw Authorization header, body, expected status)
    ("GET", "/api/audit?n=-5", "engineer", None, 200),
    ("GET", "/api/audit?n=" + "9" * 40, "engineer", None, 200),
    ("GET", "/api/audit?n=nan", "engineer", None, 422),
    ("GET", "/api/plans/..%2F..%2Fetc%2Fpasswd/time-space.png", "viewer", None, 404),
    ("GET", "/api/cameras/%00/thumbnail.jpg", "viewer", None, 404),
    ("GET", "/api/plans/" + "a" * 5000 + "/time-space.png", "viewer", None, 404),
    ("GET", "/api/snapshot", "Bearer " + "x" * 60000, None, 401),
    ("GET", "/api/snapshot", "Bearer viewer-0.\xff\xfe", None, 401),
    ("GET", "/api/snapshot", "Bearer ", None, 401),
    ("GET", "/api/snapshot", "Basic YWxpY2U6eA==", None, 401),
    ("GET", "/api/snapshot", "Bearer a.b.c", None, 401),
    ("POST", "/api/plans/check", "engineer", b'{"intersections": [{"tls_id": "J0", "cycle_s": NaN}]}', 422),
    ("POST", "/api/plans/check", "engineer", b"\xff\xfe", 422),
    ("POST", "/api/plans", "engineer", b"[]", 422),
    ("POST", "/api/plans", "engineer", b"{" * 100_000, 422),
    ("DELETE", "/api/plans", "engineer", None, 405),
    ("GET", "/static/%2e%2e/%2e%2e/cmd_web.py", None, None, 404),
    ("GET", "/api/export/counts.csv", "viewer", None, 403),
]


def test_serve_answers_hostile_requests_without_a_500(web, tmp_path: Path, tokens_file: Path) -> None:  # type: ignore[no-untyped-def]
    import http.client

    results = tmp_path / "results"
    results.mkdir()
    serve = Serve(web, tmp_path, "--results", str(results), "--tokens", str(tokens_file))
    got = []
    try:
        for method, path, who, body, _ in HOSTILE_REQUESTS:
            headers = {"Content-Type": "application/json"} if body is not None else {}
            if who in web.TOKENS:
                headers["Authorization"] = f"Bearer {web.TOKENS[who]}"
            elif who is not None:
                headers["Authorization"] = who
            conn = http.client.HTTPConnection("127.0.0.1", serve.client.port, timeout=15)
            try:
                conn.request(method, path, body=body, headers=headers)
                reply = conn.getresponse()
                got.append(reply.status)
                reply.read()
            finally:
                conn.close()
        assert serve.client.call("GET", "/healthz").status == 200  # still serving
        log = serve.log()
    finally:
        serve.kill()
    assert got == [expected for *_, expected in HOSTILE_REQUESTS]
    assert "Traceback" not in log and "internal error" not in log
