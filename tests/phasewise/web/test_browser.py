"""The dashboard in a real browser: headless Chromium (Debian's ``chromium``, driven by
Playwright) against a daemon in software in the loop. Each role logs in and sees live values
change; an operator applies a plan and the audit log shows it; a viewer cannot.

Screenshots go to the test's tmp dir; with ``PHASEWISE_DOCS_SCREENSHOTS=1`` the operator's is
also written to ``docs/dashboard.png`` (the README's picture).
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

import pytest

ROLES = ("viewer", "engineer", "operator")
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"


@pytest.fixture(scope="module")
def daemon(sil_daemon):  # type: ignore[no-untyped-def]
    return sil_daemon


@pytest.fixture(scope="module")
def browser():  # type: ignore[no-untyped-def]
    from playwright.sync_api import sync_playwright

    if not Path(CHROMIUM).exists():
        raise FileNotFoundError(f"{CHROMIUM} not found: install Debian's chromium (make test does: apt-get install chromium)")
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"], headless=True)
        try:
            yield b
        finally:
            b.close()


def login(web, browser, daemon, role: str):  # type: ignore[no-untyped-def]
    page = browser.new_context(viewport={"width": 1400, "height": 1000}).new_page()
    page.set_default_timeout(15_000)
    page.goto(f"http://127.0.0.1:{daemon.port}/")
    assert page.url.endswith("/login")  # no session: the login page
    page.fill("#token", web.TOKENS[role])
    page.click("#login")
    page.wait_for_selector(".intersection[data-tls]")
    return page


def seq(page) -> int:  # type: ignore[no-untyped-def]
    return int(page.inner_text("#seq").lstrip("#"))


@pytest.mark.parametrize("role", ROLES)
def test_each_role_sees_live_values(web, browser, daemon: Any, tmp_path: Path, role: str) -> None:  # type: ignore[no-untyped-def]
    page = login(web, browser, daemon, role)
    assert page.inner_text("#user") == f"{web.NAMES[role]} ({role})"
    first, clock = seq(page), page.inner_text("#clock")
    page.wait_for_function("s => Number(document.getElementById('seq').textContent.slice(1)) > s + 2", arg=first)
    assert page.inner_text("#clock") != clock  # the daemon's time moved on the page (events, 1 s)
    assert page.locator(".intersection[data-tls]").count() == 2 and page.locator(".camera .lane").count() > 0
    assert page.locator("svg.counts").count() == 1
    # the time-space diagram of the plan in force (rendered on first request; a new plan, a new image)
    page.wait_for_function("() => { const i = document.getElementById('time-space'); return i.complete && i.naturalWidth > 0; }",
                           timeout=90_000)
    assert (page.locator("button.apply:visible").count() > 0) == (role == "operator")
    assert (page.locator("button.check:visible").count() > 0) == (role != "viewer")
    assert page.locator("#audit-section").is_visible() == (role != "viewer")
    page.screenshot(path=str(tmp_path / f"dashboard-{role}.png"), full_page=True)
    page.context.close()


def test_operator_applies_a_plan_and_the_audit_log_shows_it(web, browser, daemon: Any, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    page = login(web, browser, daemon, "operator")
    page.click('button.apply[data-plan="program"]')
    page.wait_for_selector("#message.ok")
    assert "sent to the controller" in page.inner_text("#message")
    page.locator("#audit tbody tr", has_text="/api/plans/program/apply").first.wait_for()
    row = page.locator("#audit tbody tr", has_text="/api/plans/program/apply").first.inner_text()
    assert web.NAMES["operator"] in row and "200" in row
    entry = [e for e in daemon.audit() if e["path"] == "/api/plans/program/apply"][-1]
    assert (entry["who"], entry["role"], entry["via"], entry["status"]) == (web.NAMES["operator"], "operator", "session", 200)
    page.wait_for_function("() => [...document.querySelectorAll('#plans tr[data-plan=running] td')]"
                           ".some(td => td.textContent === 'network program')")
    shot = tmp_path / "dashboard-operator.png"
    page.screenshot(path=str(shot), full_page=True)
    if os.environ.get("PHASEWISE_DOCS_SCREENSHOTS") == "1":  # 128 colours: a third of the size, same look
        from PIL import Image

        Image.open(shot).convert("RGB").quantize(128).save(web.REPO / "docs" / "dashboard.png", optimize=True)
    page.context.close()


def test_a_priority_call_is_listed_while_it_is_served(web, browser, daemon: Any) -> None:  # type: ignore[no-untyped-def]
    page = login(web, browser, daemon, "viewer")
    reply = daemon.client.call("POST", "/api/priority", web.TOKENS["operator"], {"tls": "J0", "approach": "N0_J0", "eta_s": 30.0})
    assert reply.status == 200
    call_id = reply.json()["detail"].split(":")[0]
    item = page.locator(f'#priority li[data-call="{call_id}"]')
    item.wait_for()
    text = item.inner_text()
    assert "emergency at J0 from N0_J0" in text and f"called by {web.NAMES['operator']}" in text
    page.context.close()


def test_viewer_cannot_apply_a_plan(web, browser, daemon: Any) -> None:  # type: ignore[no-untyped-def]
    page = login(web, browser, daemon, "viewer")
    assert page.locator("button.apply").count() == 0
    status = page.evaluate("""async () => {
        const s = await (await fetch('/api/session')).json();
        const r = await fetch('/api/plans/program/apply', {method: 'POST', headers: {'X-CSRF-Token': s.csrf}});
        return r.status; }""")
    assert status == 403
    entry = [e for e in daemon.audit() if e["path"] == "/api/plans/program/apply"][-1]
    assert (entry["who"], entry["status"]) == (web.NAMES["viewer"], 403)
    page.context.close()
