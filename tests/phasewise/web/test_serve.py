"""``phasewise serve --results DIR``: the dashboard on what optimize and replay wrote, read-only."""

from __future__ import annotations

import csv
import json
import subprocess
import time
from pathlib import Path

import cv2
import numpy as np
import pytest

SESSION_S = 1.5
LOGIN_FAILURES = 3
COUNTS = [  # replay's counts.csv: bin_start, bin_s, lane, class, count, pcu, flow_veh_h
    (0, 900, "lane_1", "car", 31, 31, 124.0), (0, 900, "lane_2", "motorcycle", 12, 6, 48.0),
    (900, 900, "lane_1", "car", 27, 27, 108.0), (900, 900, "lane_2", "car", 9, 9, 36.0),
]


@pytest.fixture(scope="module")
def results(web, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A real ``optimize --out`` folder plus a check and replay's files (formats as those commands write)."""
    out = tmp_path_factory.mktemp("results") / "corridor"
    subprocess.run([*web.PHASEWISE, "optimize", "--scenario", "corridor:intersections=2", "--no-check", "--out", str(out)],
                   cwd=web.REPO, check=True, capture_output=True, timeout=120)
    (out / "check.json").write_text(json.dumps({
        "scenario": "corridor-medium", "seeds": [1, 2],
        "program": {"delay_s_per_vehicle": [44.4, 44.6], "throughput_veh": [2304, 2304], "stops_per_vehicle": [1.1, 1.2]},
        "plan": {"delay_s_per_vehicle": [28.7, 28.5], "throughput_veh": [2305, 2306], "stops_per_vehicle": [0.9, 0.9]},
        "recommend_plan": True, "reason": "delay 35.8% lower"}))
    with (out / "counts.csv").open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["bin_start", "bin_s", "lane", "class", "count", "pcu", "flow_veh_h"])
        w.writerows(COUNTS)
    with (out / "queue_bins.csv").open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["bin_start", "bin_s", "lane", "mean_present", "mean_stopped", "max_stopped", "mean_queue_m", "max_queue_m"])
        w.writerows([(0, 900, "lane_1", 4.0, 2.0, 5, 12.0, 30.0), (900, 900, "lane_1", 6.0, 3.5, 7, 21.0, 42.0)])
    video = cv2.VideoWriter(str(out / "annotated.mp4"), cv2.VideoWriter_fourcc(*"mp4v"), 5.0, (160, 120))
    for i in range(5):
        frame = np.full((120, 160, 3), 40, np.uint8)
        cv2.rectangle(frame, (10 + 10 * i, 40), (60 + 10 * i, 80), (0, 255, 0), 2)  # an annotated box
        video.write(frame)
    video.release()
    (out.parent / "tokens.yaml").write_text("tokens:\n" + web.tokens_yaml())
    return out


@pytest.fixture(scope="module")
def server(web, results: Path):  # type: ignore[no-untyped-def]
    proc = web.Process(["serve", "--results", str(results), "--tokens", str(results.parent / "tokens.yaml"),
                        "--port", "0", "--session-s", str(SESSION_S), "--login-failures-per-minute", str(LOGIN_FAILURES)],
                       results.parent / "serve.log")
    try:
        proc.wait(lambda: "serving " in proc.log(), 60, "the server")
        proc.client = web.Client(int(proc.log().split("http://127.0.0.1:", 1)[1].split("/", 1)[0]))
        yield proc
    finally:
        proc.stop()


def test_results_as_a_site(web, server, results: Path) -> None:  # type: ignore[no-untyped-def]
    snap = server.client.call("GET", "/api/snapshot", web.TOKENS["viewer"]).json()
    plan = json.loads((results / "plan.json").read_text())
    assert not snap["live"] and snap["site"] == "corridor"
    shown = next(p for p in snap["plans"] if p["id"] == "plan")
    assert shown["cycle_s"] == {i["tls_id"]: i["cycle_s"] for i in plan["intersections"]}
    assert {x["tls"] for x in snap["intersections"]} == {i["tls_id"] for i in plan["intersections"]}
    assert sum(c["count"] for c in snap["counts"]) == sum(row[4] for row in COUNTS)
    assert {(c["bin_start_s"], c["movement"]) for c in snap["counts"]} == {(r[0], r[2]) for r in COUNTS}
    (gate,) = snap["gate"]
    assert gate["result"] == "switch" and gate["delay_candidate_s"] == [28.7, 28.5]
    assert gate["improvement"] == pytest.approx(1 - 28.6 / 44.5)
    (camera,) = snap["cameras"]
    assert camera["lanes"][0]["queue_veh"] == 3.5 and camera["image"]  # the last bin's mean queue
    png = server.client.call("GET", "/api/plans/plan/time-space.png", web.TOKENS["viewer"])
    assert png.status == 200 and png.body == (results / "time_space.png").read_bytes()
    jpeg = server.client.call("GET", "/api/cameras/video/thumbnail.jpg", web.TOKENS["viewer"])
    assert jpeg.status == 200 and jpeg.body[:2] == b"\xff\xd8"
    image = cv2.imdecode(np.frombuffer(jpeg.body, np.uint8), cv2.IMREAD_COLOR)
    assert image.shape[1] == 480 and image[:, :, 1].max() > 200  # the last frame, its green box kept


def test_roles_offline(web, server, results: Path) -> None:  # type: ignore[no-untyped-def]
    c, t = server.client, web.TOKENS
    assert c.call("GET", "/api/counts").status == 401
    assert c.call("GET", "/api/export/counts.csv", t["viewer"]).status == 403
    export = c.call("GET", "/api/export/counts.csv", t["engineer"])
    assert export.status == 200 and export.body == (results / "counts.csv").read_bytes()
    assert c.call("POST", "/api/plans/plan/apply", t["engineer"]).status == 403
    refused = c.call("POST", "/api/plans/plan/apply", t["operator"])
    assert refused.status == 409 and "offline" in refused.json()["detail"]
    entry = json.loads((results / "audit.jsonl").read_text().splitlines()[-1])
    assert (entry["who"], entry["path"], entry["status"]) == (web.NAMES["operator"], "/api/plans/plan/apply", 409)


def test_serve_errors_are_one_line(web, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    run = subprocess.run([*web.PHASEWISE, "serve", "--results", str(tmp_path / "none"), "--tokens", str(tmp_path / "t.yaml")],
                         cwd=web.REPO, capture_output=True, text=True, timeout=60)
    assert run.returncode == 2 and run.stderr.startswith("phasewise: error: --results") and "Traceback" not in run.stderr


def test_session_expires(web, server) -> None:  # type: ignore[no-untyped-def]
    browser = web.Client(server.client.port)
    assert browser.login(web.TOKENS["viewer"]).headers["location"] == "/"
    assert browser.call("GET", "/api/snapshot").status == 200 and browser.call("GET", "/").status == 200
    time.sleep(SESSION_S + 0.3)
    assert browser.call("GET", "/api/snapshot").status == 401  # expired
    assert browser.call("GET", "/").headers["location"] == "/login"


def test_login_rate_limiting(web, server, results: Path) -> None:  # type: ignore[no-untyped-def]
    viewer = web.TOKENS["viewer"]
    c = server.client
    assert c.call("GET", "/api/snapshot", viewer).status == 200  # proved before the limit
    attacker = web.Client(c.port)
    for _ in range(LOGIN_FAILURES):
        assert attacker.login("operator-2.guess").headers["location"] == "/login?error=token"
    limited = attacker.login("operator-2.guess")
    assert limited.status == 429 and 1 <= int(limited.headers["retry-after"]) <= 61
    assert attacker.login(web.TOKENS["operator"]).status == 429  # even the right token, until the window passes
    assert c.call("GET", "/api/snapshot", "operator-2.another-guess").status == 429  # no scrypt for it
    assert c.call("GET", "/api/snapshot", viewer).status == 200  # a token already proved still works
    audit = [json.loads(line) for line in (results / "audit.jsonl").read_text().splitlines()]
    assert [e["result"] for e in audit[-LOGIN_FAILURES - 2:]] == (["login failed: wrong token"] * LOGIN_FAILURES
                                                                 + ["login refused: too many failed attempts"] * 2)
