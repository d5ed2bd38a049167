"""Schemathesis fuzz of a running daemon's HTTP API, for every role (issue #23 item 9).

A software-in-the-loop daemon (``sil_site.SilSite``: ``phasewise run``, SUMO and two emulated
NTCIP cabinets) serves its OpenAPI schema at ``/api/openapi.json``. Schemathesis loads it
(``schemathesis.openapi.from_url``) and each operation's Hypothesis strategy generates
requests, with data that fits the schema and data that does not; they are sent with no token,
then with a viewer's, an engineer's and an operator's. The schema documents 200 and 422 only
(not 401/403/404/409/429, nor the bearer scheme), so the response check is the one that
holds whatever the role: no request gets a 5xx. Then, per role, what fuzzing must not do to
the daemon:

* no step over its 1 s deadline that was not over it before
  (``phasewise_step_deadline_missed_total`` unchanged; a request must never hold the loop);
* no failed step (``phasewise_step_errors_total`` stays 0);
* the plan in force unchanged unless an apply returned 200 (``GET /api/plans``, id
  ``running``), and each cabinet running it (its pattern's cycle, read over SNMP), once
  control is taken back if the fuzzing left it handed back.

Data drawn from the schema alone seldom gets past the plan parser (a plan body is "any
object"), so the two operations that take a plan are also sent plan-shaped bodies, by the
roles allowed to send plans: the network's program with a few parts replaced by any JSON
value (NaN and infinities included), deleted or repeated (``edited_plans``).

``GET /api/events`` is left out: an endless event stream (``tests/phasewise/web`` tests it).
Bounded: ``EXAMPLES`` requests per operation, role and kind of data, ``PLAN_EXAMPLES`` plan
bodies (the file takes about a minute on two cores, up to two when they are shared with other runs).
"""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error

from tests.daemon.sil_site import Cabinet, SilSite, metric_value
from tests.phasewise.web.conftest import TOKENS

ROLES = (None, "viewer", "engineer", "operator")
EXCLUDED = {("GET", "/api/events")}
ACTIONS = {("POST", "/api/plans/{plan_id}/apply"), ("POST", "/api/control/hand-back"),
           ("POST", "/api/control/take-back"), ("POST", "/api/alarms/{alarm_id}/acknowledge")}  # an operator's
PLAN_BODY = {("POST", "/api/plans"), ("POST", "/api/plans/check")}  # a TimingPlan JSON document
EXAMPLES = {GenerationMode.POSITIVE: 8, GenerationMode.NEGATIVE: 4}
PLAN_EXAMPLES = 30
PLAN_ROLES = ("engineer", "operator")  # the roles whose plan bodies reach the plan parser
CONTROL_TIMEOUT_S = 30.0  # control taken back and every cabinet on the plan again (a few steps)


@dataclass(frozen=True)
class Observed:
    """What fuzzing must not change: counters of the loop, the plan in force, the cabinets."""

    deadline_missed: float
    step_errors: float
    running: dict
    cabinets: dict[str, Cabinet]


JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8)
    | st.floats(allow_nan=False).map(str),  # numbers as strings
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=6)


def _paths(node: Any, path: tuple = ()) -> list[tuple]:
    """Every place in a JSON document: the paths to each object member and list item."""
    out = [path]
    items = node.items() if isinstance(node, dict) else enumerate(node) if isinstance(node, list) else ()
    for key, child in items:
        out += _paths(child, (*path, key))
    return out


@st.composite
def edited_plans(draw: st.DrawFn, plan: dict) -> Any:
    """``plan`` with one to three parts replaced by any JSON value, deleted or repeated."""
    doc: Any = copy.deepcopy(plan)
    for _ in range(draw(st.integers(1, 3))):
        path = draw(st.sampled_from(_paths(doc)))
        action = draw(st.sampled_from(["replace", "delete", "repeat"]) if path else st.just("replace"))
        if not path:
            doc = draw(JSON_VALUES)
            continue
        parent = doc
        for key in path[:-1]:
            parent = parent[key]
        key = path[-1]
        if action == "replace":
            parent[key] = draw(JSON_VALUES)
        elif action == "delete":
            del parent[key]
        elif isinstance(parent, list):
            parent.insert(key, copy.deepcopy(parent[key]))
        else:
            parent[key] = [parent[key], copy.deepcopy(parent[key])]
    return doc


def cabinets_run(site: SilSite, running: dict) -> bool:
    """Every cabinet under central control on a phasewise pattern with the running plan's cycle."""
    cabinets = site.cabinets()
    return set(cabinets) == set(running["cycle_s"]) and all(
        c.runs_phasewise_plan and c.cycle_s is not None and abs(c.cycle_s - running["cycle_s"][tls]) <= 1.0
        for tls, c in cabinets.items())


def observe(site: SilSite) -> Observed:
    metrics = site.metrics()
    return Observed(metric_value(metrics, "phasewise_step_deadline_missed_total"),
                    metric_value(metrics, "phasewise_step_errors_total"), site.running_plan(), site.cabinets())


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SilSite]:
    """One daemon for the four roles, its cabinets on the network's program sent as a plan
    (a pattern whose cycle can be compared, rather than free operation)."""
    s = SilSite(Path(tmp_path_factory.mktemp("api-fuzz")), speed=5)
    try:
        s.start()
        s.wait(lambda: s.call("GET", "/readyz").status == 200, 60, "ready")
        assert s.call("POST", "/api/plans/program/apply", "operator").status == 200
        s.wait(lambda: cabinets_run(s, s.running_plan()), CONTROL_TIMEOUT_S, "the cabinets on the program")
        yield s
    finally:
        s.close()


@pytest.fixture(scope="module")
def schema(site: SilSite) -> schemathesis.BaseSchema:
    return schemathesis.openapi.from_url(site.url + "/api/openapi.json", timeout=30)


def fuzz(site: SilSite, schema: schemathesis.BaseSchema, role: str | None, program: dict) -> tuple[list[str], list[str]]:
    """Every operation, data that fits the schema and data that does not (and plan-shaped
    bodies where a plan goes): the failures (one shrunk example each) and the operator actions
    that returned 200 (``POST /api/plans/program/apply``, ``POST /api/control/hand-back``...)."""
    headers = {"Authorization": f"Bearer {TOKENS[role]}"} if role else {}
    session = requests.Session()
    failures: list[str] = []
    done: list[str] = []

    def send(case: schemathesis.Case) -> None:
        check(case, case.call(base_url=site.url, session=session, headers=headers, timeout=30))

    def send_plan(case: schemathesis.Case, body: Any) -> None:
        case.body = body  # serialized here: NaN and infinities as Python's json writes them (requests refuses)
        check(case, case.call(base_url=site.url, session=session, timeout=30, data=json.dumps(body).encode(),
                              headers={**headers, "Content-Type": "application/json"}))

    def check(case: schemathesis.Case, response: schemathesis.Response) -> None:
        case.validate_response(response, checks=[not_a_server_error], headers=headers)
        if (case.method.upper(), case.path) in ACTIONS and response.status_code == 200:
            done.append(f"{case.method.upper()} {case.formatted_path}")

    bounded = settings(deadline=None, database=None, suppress_health_check=list(HealthCheck))
    for result in schema.get_all_operations():
        operation = result.ok()
        key = (operation.method.upper(), operation.path)
        if key in EXCLUDED:
            continue
        runs = [(f"{mode.value} data", settings(bounded, max_examples=n)(given(
            case=operation.as_strategy(generation_mode=mode))(send))) for mode, n in EXAMPLES.items()]
        if key in PLAN_BODY and role in PLAN_ROLES:
            runs.append(("edited plans", settings(bounded, max_examples=PLAN_EXAMPLES)(given(
                case=operation.as_strategy(), body=edited_plans(program))(send_plan))))
        for kind, run in runs:
            try:
                run()
            except Unsatisfiable:
                pass  # no data of this kind exists for the operation (e.g. nothing to make invalid)
            except (BaseExceptionGroup, AssertionError, requests.RequestException) as exc:
                failures.append(f"{operation.label} ({kind}): {exc}")  # every operation is fuzzed, all listed
    session.close()
    return failures, done


@pytest.mark.parametrize("role", ROLES, ids=[r or "no-token" for r in ROLES])
def test_fuzzing_the_api_gives_no_server_error_and_leaves_the_loop_and_plan_alone(
        site: SilSite, schema: schemathesis.BaseSchema, role: str | None) -> None:
    before = observe(site)
    failures, done = fuzz(site, schema, role, site.plans()["program"]["plan"])
    metrics = site.metrics()
    missed, errors = (metric_value(metrics, name) for name in ("phasewise_step_deadline_missed_total",
                                                                "phasewise_step_errors_total"))
    # the fuzzing may have handed control back (operator): take it again to compare the cabinets
    if site.health()["held_by_operator"]:
        assert site.call("POST", "/api/control/take-back", "operator").status == 200
    site.wait(lambda: not site.health()["control_released"] and cabinets_run(site, site.running_plan()),
              CONTROL_TIMEOUT_S, "control and every cabinet on the running plan")
    after = observe(site)

    assert not failures, f"{len(failures)} operation(s) gave a server error as {role or 'no token'}:\n\n" + \
        "\n\n".join(failures)
    assert errors == before.step_errors == 0.0, f"steps failed while the API was fuzzed (see {site.log_path})"
    assert missed == before.deadline_missed, (
        f"{missed - before.deadline_missed:g} step(s) missed the 1 s deadline while the API was fuzzed; "
        f"operator actions that returned 200: {done or 'none'}")
    assert after.step_errors == 0.0, f"steps failed once control was taken again (see {site.log_path})"
    if not any(action.endswith("/apply") for action in done):
        assert after.running == before.running, "the plan in force changed, yet no apply returned 200"
        cycles = {tls: c.cycle_s for tls, c in before.cabinets.items()}
        assert {tls: c.cycle_s for tls, c in after.cabinets.items()} == cycles, \
            f"the cabinets' pattern changed, yet no apply returned 200: {before.cabinets} -> {after.cabinets}"
