"""The dashboard's signal performance: ``phasewise serve`` on a folder holding a ``sim --events``
log serves the ATSPM measures (computed by the ``atspm`` package) and the charts, to viewers."""

from __future__ import annotations

import subprocess

import pytest

PNG = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def server(web, tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    results = tmp_path_factory.mktemp("measures") / "site"
    subprocess.run([*web.PHASEWISE, "sim", "--scenario", "corridor:intersections=2", "--end", "1200",
                    "--events", str(results / "events")], cwd=web.REPO, check=True, capture_output=True, timeout=300)
    (results.parent / "tokens.yaml").write_text("tokens:\n" + web.tokens_yaml())
    proc = web.Process(["serve", "--results", str(results), "--tokens", str(results.parent / "tokens.yaml"),
                        "--port", "0"], results.parent / "serve.log")
    try:
        proc.wait(lambda: "serving " in proc.log(), 60, "the server")
        proc.client = web.Client(int(proc.log().split("http://127.0.0.1:", 1)[1].split("/", 1)[0]))
        yield proc
    finally:
        proc.stop()


def test_measures_and_charts_per_intersection(web, server) -> None:  # type: ignore[no-untyped-def]
    c, viewer = server.client, web.TOKENS["viewer"]
    assert c.call("GET", "/api/measures").status == 401
    reply = c.call("GET", "/api/measures?hours=1", viewer, timeout=60)
    assert reply.status == 200, reply.body
    data = reply.json()
    assert data["devices"] == [{"device": 1, "tls": "J0"}, {"device": 2, "tls": "J1"}]
    through = [r for r in data["summary"] if r["Phase"] in (2, 4, 6, 8)]
    assert len(through) == 8 and all(0.0 <= r["Arrivals_On_Green"] <= 1.0 for r in through)
    assert all(r["Split_Failures"] is None or r["Split_Failures"] <= r["Cycles"] for r in data["summary"])
    for device in (1, 2):
        for chart in ("coordination", "split-failures"):
            png = c.call("GET", f"/api/measures/{device}/{chart}.png?hours=1", viewer, timeout=60)
            assert png.status == 200 and png.body[:8] == PNG and png.headers["content-type"] == "image/png"
    heat = c.call("GET", "/api/measures/heat-map.png", viewer, timeout=60)
    assert heat.status == 200 and heat.body[:8] == PNG
    assert c.call("GET", "/api/measures/9/coordination.png?hours=1", viewer).status == 404
    assert c.call("GET", "/api/measures/1/speed.png", viewer).status == 404
    assert c.call("GET", "/api/measures?hours=0", viewer).status == 422
