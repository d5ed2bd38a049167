"""The dashboard's API on a live daemon (``phasewise run``, software in the loop), through its port:
every endpoint refuses a caller without a token (401) and a lower role (403) and serves the
right one (200); forged tokens, sessions and CSRF; every state-changing call audited; live
updates by server-sent events; the operations endpoints as before. (Session expiry and login
rate limiting: ``test_serve.py``, on a server of its own.)"""

from __future__ import annotations

import http.client
import json
import signal
import subprocess
from pathlib import Path
from typing import Any

import pytest

ROLES = ("viewer", "engineer", "operator")

# (method, path, role needed, JSON body); run in this order by test_right_role_is_served
ENDPOINTS = [
    ("GET", "/api/snapshot", "viewer", None),
    ("GET", "/api/intersections", "viewer", None),
    ("GET", "/api/cameras", "viewer", None),
    ("GET", "/api/counts", "viewer", None),
    ("GET", "/api/plans", "viewer", None),
    ("GET", "/api/gate", "viewer", None),
    ("GET", "/api/alarms", "viewer", None),
    ("GET", "/api/health", "viewer", None),
    ("GET", "/api/priority", "viewer", None),
    ("GET", "/api/session", "viewer", None),
    ("GET", "/api/plans/running/time-space.png", "viewer", None),
    ("POST", "/api/plans", "engineer", "PROGRAM"),
    ("POST", "/api/plans/check", "engineer", "PROGRAM"),
    ("POST", "/api/plans/program/check", "engineer", None),
    ("GET", "/api/export/counts.csv", "engineer", None),
    ("GET", "/api/audit", "engineer", None),
    ("POST", "/api/plans/program/apply", "operator", None),
    ("POST", "/api/control/hand-back", "operator", None),
    ("POST", "/api/control/take-back", "operator", None),
    ("POST", "/api/alarms/ALARM/acknowledge", "operator", None),
    ("POST", "/api/priority", "operator", {"tls": "J0", "approach": "W_J0", "eta_s": 1.0}),
]
IDS = [f"{m} {p}" for m, p, _, _ in ENDPOINTS]


@pytest.fixture(scope="module")
def daemon(sil_daemon):  # type: ignore[no-untyped-def]
    return sil_daemon


@pytest.fixture(scope="module")
def program(web, daemon: Any) -> dict:
    plans = daemon.client.call("GET", "/api/plans", web.TOKENS["viewer"]).json()
    return next(p["plan"] for p in plans if p["id"] == "program")


@pytest.fixture(scope="module")
def alarm_id(web, daemon: Any) -> int:
    """An alarm raised by a camera taken out (then back)."""
    daemon.fault(cameras_down=["W_J0"])
    alarms: list = []

    def raised() -> bool:
        alarms[:] = [a for a in daemon.client.call("GET", "/api/alarms", web.TOKENS["viewer"]).json()
                     if a["kind"] == "camera" and a["subject"] == "W_J0"]
        return bool(alarms)

    daemon.wait(raised, 30, "a camera alarm")
    daemon.fault()
    return int(alarms[0]["id"])


def _call(daemon: Any, method: str, path: str, token: str | None, body: object, program: dict | None = None,
          alarm: int | None = None, **kw):  # type: ignore[no-untyped-def]
    path = path.replace("ALARM", str(alarm if alarm is not None else 1))
    return daemon.client.call(method, path, token, program if body == "PROGRAM" else body, **kw)


@pytest.mark.parametrize("method,path,role,body", ENDPOINTS, ids=IDS)
def test_without_a_token_is_401(web, daemon: Any, method: str, path: str, role: str, body: object) -> None:
    reply = _call(daemon, method, path, None, body, {"x": 1})
    assert reply.status == 401 and reply.headers["www-authenticate"].startswith("Bearer")


@pytest.mark.parametrize("method,path,role,body", [e for e in ENDPOINTS if e[2] != "viewer"],
                         ids=[i for i, e in zip(IDS, ENDPOINTS) if e[2] != "viewer"])
def test_a_lower_role_is_403(web, daemon: Any, program: dict, method: str, path: str, role: str, body: object) -> None:
    for lower in ROLES[:ROLES.index(role)]:
        reply = _call(daemon, method, path, web.TOKENS[lower], body, program)
        assert reply.status == 403, (lower, reply.body)
        assert f"needs the {role} role" in reply.json()["detail"]


@pytest.mark.parametrize("method,path,role,body", ENDPOINTS, ids=IDS)
def test_right_role_is_served(web, daemon: Any, program: dict, alarm_id: int, method: str, path: str, role: str,
                              body: object) -> None:
    for allowed in ROLES[ROLES.index(role):]:
        if method == "POST" and allowed != role:
            continue  # a state-changing call once (hand-back, take-back are not idempotent pairs)
        # the first time-space diagram imports matplotlib and renders: slow on a loaded machine
        reply = _call(daemon, method, path, web.TOKENS[allowed], body, program, alarm_id,
                      timeout=90.0 if path.endswith(".png") else 15.0)
        assert reply.status == 200, (allowed, reply.body[:300])
        if path == "/api/plans/running/time-space.png":
            assert reply.body[:8] == b"\x89PNG\r\n\x1a\n"
        elif path.endswith("counts.csv"):
            assert reply.body.decode().startswith("bin_start_s,bin_s,tls,movement,count")
        else:
            reply.json()
    if method == "POST":  # audited with who, role, path, status and the result
        entry = [e for e in daemon.audit() if e["path"] == path.replace("ALARM", str(alarm_id))][-1]
        assert (entry["who"], entry["role"], entry["status"]) == (web.NAMES[role], role, 200) and entry["result"]


def test_operator_actions_change_the_daemon(web, daemon: Any, program: dict) -> None:
    op = web.TOKENS["operator"]
    c = daemon.client
    assert c.call("POST", "/api/control/hand-back", op).status == 200
    daemon.wait(lambda: c.call("GET", "/api/health", op).json()["control_released"], 10, "released")
    metrics = c.call("GET", "/metrics").body.decode()
    assert "phasewise_control_released 1" in metrics
    assert c.call("POST", "/api/plans/program/apply", op).status == 409  # not while handed back
    assert c.call("POST", "/api/control/take-back", op).status == 200
    daemon.wait(lambda: not c.call("GET", "/api/health", op).json()["control_released"], 10, "control again")
    # taking control again re-sends the running plan: ready once every controller has it
    daemon.wait(lambda: c.call("GET", "/readyz").status == 200, 30, "the running plan re-sent")
    before = float(next(line.rsplit(" ", 1)[1] for line in c.call("GET", "/metrics").body.decode().splitlines()
                        if line.startswith("phasewise_plans_applied_total")))
    assert c.call("POST", "/api/plans/program/apply", op).status == 200
    after = float(next(line.rsplit(" ", 1)[1] for line in c.call("GET", "/metrics").body.decode().splitlines()
                       if line.startswith("phasewise_plans_applied_total")))
    assert after >= before + 1  # the operator's plan (a replan of the daemon's own may land in between)
    running = next(p for p in c.call("GET", "/api/plans", op).json() if p["id"] == "running")
    assert running["created_by"] == program["created_by"]
    decisions = (daemon.state / "decisions.jsonl").read_text()
    assert f"operator {web.NAMES['operator']} applied program" in decisions
    # a plan the validator refuses is refused (422), one for another site too
    broken = json.loads(json.dumps(program))
    broken["intersections"][0]["phases"][0]["green_s"] = 0.5
    assert c.call("POST", "/api/plans", web.TOKENS["engineer"], broken).status == 422
    assert c.call("POST", "/api/plans/check", web.TOKENS["engineer"], {"not": "a plan"}).status == 422


FORGERIES = {
    "wrong-secret": lambda token: token.split(".")[0] + ".forged-secret",  # a holder's name, a wrong secret
    "unknown-name": lambda token: "nobody." + token.split(".")[1],          # a real secret, another name
    "extended": lambda token: token + "x",
    "malformed": lambda token: "no-dot-at-all",
}


@pytest.mark.parametrize("forgery", FORGERIES)
def test_forged_token_is_401(web, daemon: Any, forgery: str) -> None:  # type: ignore[no-untyped-def]
    reply = daemon.client.call("GET", "/api/snapshot", FORGERIES[forgery](web.TOKENS["operator"]))
    assert reply.status == 401 and reply.json()["detail"] == "invalid token"
    assert daemon.client.call("GET", "/api/snapshot", web.TOKENS["viewer"]).status == 200


def test_session_cookie_and_csrf(web, daemon: Any) -> None:
    browser = web.Client(daemon.port)
    reply = browser.login(web.TOKENS["engineer"])
    assert reply.status == 303 and reply.headers["location"] == "/"
    cookie = next(c for c in reply.set_cookies if c.startswith("phasewise_session=")).lower()
    assert "httponly" in cookie and "samesite=strict" in cookie and "secure" not in cookie  # no TLS configured
    csrf = browser.call("GET", "/api/session").json()["csrf"]
    assert browser.call("GET", "/api/snapshot").status == 200
    assert browser.call("POST", "/api/plans/program/check").status == 403  # no CSRF header
    assert browser.call("POST", "/api/plans/program/check", headers={"X-CSRF-Token": "x" + csrf}).status == 403
    assert browser.call("POST", "/api/plans/program/check", headers={"X-CSRF-Token": csrf}).status == 200
    assert browser.call("GET", "/").status == 200
    assert browser.call("POST", "/logout", headers={"X-CSRF-Token": csrf}).status == 303
    assert browser.call("GET", "/api/snapshot").status == 401  # the session is gone
    # a login with a wrong token or without the form's CSRF value gives no session
    other = web.Client(daemon.port)
    assert other.login("viewer-0.wrong").headers["location"] == "/login?error=token"
    assert other.call("POST", "/login", form={"token": web.TOKENS["viewer"], "csrf": "forged"}).headers["location"] == "/login?error=csrf"
    assert "phasewise_session" not in other.cookies
    logins = [e for e in daemon.audit() if e["path"] == "/login"]
    assert [e["result"] for e in logins[-3:]] == ["logged in", "login failed: wrong token",
                                                  "login refused: CSRF token missing or wrong"]


def test_events_stream_live_snapshots(web, daemon: Any) -> None:
    conn = http.client.HTTPConnection("127.0.0.1", daemon.port, timeout=10)
    conn.request("GET", "/api/events", headers={"Authorization": f"Bearer {web.TOKENS['viewer']}"})
    r = conn.getresponse()
    assert r.status == 200 and r.getheader("content-type").startswith("text/event-stream")
    snaps = []
    while len(snaps) < 3:
        line = r.fp.readline().decode()
        if line.startswith("data: "):
            snaps.append(json.loads(line[6:]))
    conn.close()
    assert [s["seq"] for s in snaps] == sorted({s["seq"] for s in snaps})  # new snapshots, in order
    assert snaps[-1]["t_s"] > snaps[0]["t_s"] and snaps[0]["live"] and len(snaps[0]["intersections"]) == 2


def test_operations_endpoints_and_schema(web, daemon: Any) -> None:
    c = daemon.client
    assert c.call("GET", "/healthz").json()["ok"] is True
    ready = c.call("GET", "/readyz")
    assert ready.status in (200, 503) and set(ready.json()) == {"ok", "reason"}
    assert "# TYPE phasewise_steps_total counter" in c.call("GET", "/metrics").body.decode()
    schema = c.call("GET", "/api/openapi.json").json()
    templates = {p.replace("running", "{plan_id}").replace("program", "{plan_id}").replace("ALARM", "{alarm_id}")
                 for _, p, _, _ in ENDPOINTS}
    assert templates <= set(schema["paths"])
    headers = c.call("GET", "/api/snapshot", web.TOKENS["viewer"]).headers
    assert headers["x-frame-options"] == "DENY" and "default-src 'self'" in headers["content-security-policy"]


def test_bad_token_hash_in_config_is_one_error(web, tmp_path: Path) -> None:
    config = tmp_path / "site.yaml"
    config.write_text('site: x\nnetwork: {scenario: corridor}\nstate_dir: s\n'
                      'http: {tokens: [{name: alice, role: operator, hash: plain-text-token}]}\n')
    run = subprocess.run([*web.PHASEWISE, "run", "--config", str(config)], cwd=web.REPO, capture_output=True, text=True, timeout=60)
    assert run.returncode == 2 and "Traceback" not in run.stderr
    assert run.stderr.startswith("phasewise: error: ") and "http.tokens.0" in run.stderr and "phasewise token new" in run.stderr


def test_reload_adds_and_revokes_tokens_live(web, daemon: Any) -> None:  # type: ignore[no-untyped-def]
    config = daemon.tmp / "site.yaml"
    original = config.read_text()
    late = "late-9.s3cret-late-token"
    entry = f'    - {{name: late-9, role: operator, hash: "{web.hash_token(late)}"}}\n'
    try:
        config.write_text(original.replace("  tokens:\n", "  tokens:\n" + entry))
        daemon.proc.send_signal(signal.SIGHUP)
        daemon.wait(lambda: daemon.client.call("GET", "/api/session", late).status == 200, 10, "the new token")
        session = web.Client(daemon.port)
        assert session.login(late).headers["location"] == "/"
        assert session.call("GET", "/api/snapshot").status == 200
    finally:
        config.write_text(original)
        daemon.proc.send_signal(signal.SIGHUP)
    daemon.wait(lambda: daemon.client.call("GET", "/api/session", late).status == 401, 10, "the token revoked")
    assert session.call("GET", "/api/snapshot").status == 401  # and its holder's session with it
    assert daemon.client.call("GET", "/api/session", web.TOKENS["operator"]).status == 200
    assert "takes effect at restart" not in daemon.log().rsplit("config reloaded", 1)[1].split("\n", 1)[0]


def test_a_priority_call_serves_the_approach_in_time_and_is_logged(web, daemon: Any) -> None:
    op, c = web.TOKENS["operator"], daemon.client

    def j0() -> dict:
        return next(i for i in c.call("GET", "/api/intersections", op).json() if i["tls"] == "J0")

    # the phase that serves the west approach's through movement; ask when another one is green
    target = next(p["phase"] for p in j0()["phases"] if "W_J0:through" in p["movements"])
    daemon.wait(lambda: j0()["phase"] != target, 60, "J0 serving another phase")
    def preemptions() -> float:
        metrics = c.call("GET", "/metrics").body.decode().splitlines()
        return float(next(line.rsplit(" ", 1)[1] for line in metrics if line.startswith("phasewise_preemptions_total")))

    before = preemptions()
    reply = c.call("POST", "/api/priority", op, {"tls": "J0", "approach": "W_J0", "eta_s": 20.0})
    assert reply.status == 200 and "served until" in reply.json()["detail"]
    call_id = reply.json()["detail"].split(":", 1)[0]
    # listed while in force (until it is due plus the grace), for a viewer too
    listed = {p["id"]: p for p in c.call("GET", "/api/priority", web.TOKENS["viewer"]).json()}
    assert listed[call_id]["by"] == web.NAMES["operator"]
    assert (listed[call_id]["vehicle_class"], listed[call_id]["approach"]) == ("emergency", "W_J0")
    assert 0.0 <= listed[call_id]["eta_s"] <= 20.0
    # the daemon runs at 5x: min green, yellow and all-red fit in the 20 s (4 s here)
    daemon.wait(lambda: j0()["phase"] == target and not j0()["in_clearance"], 15, "the west approach green")
    assert preemptions() == before + 1
    logged = [json.loads(x) for x in (daemon.state / "decisions.jsonl").read_text().splitlines() if '"priority"' in x]
    assert (logged[-1]["id"], logged[-1]["by"], logged[-1]["approach"]) == (call_id, web.NAMES["operator"], "W_J0")
    # refused: a site it is not, an approach J0 does not have, an ETA that is no number or negative
    assert c.call("POST", "/api/priority", op, {"tls": "J9", "approach": "W_J0", "eta_s": 5}).status == 409
    bus = c.call("POST", "/api/priority", op, {"tls": "J0", "approach": "W_J0", "eta_s": 5, "vehicle_class": "bus"})
    assert bus.status == 409 and "policy.transit_priority" in bus.body.decode()  # off by default
    assert c.call("POST", "/api/priority", op, {"tls": "J0", "approach": "nowhere", "eta_s": 5}).status == 409
    for eta in (float("nan"), -1, 1e9):
        assert c.call("POST", "/api/priority", op, {"tls": "J0", "approach": "W_J0", "eta_s": eta}).status == 422
    assert c.call("POST", "/api/priority", op, {"tls": "J0", "approach": "W_J0", "eta_s": 5, "x": 1}).status == 422
