"""Tokens, sessions and the login limiter, on an injected clock; ``phasewise token new``."""

from __future__ import annotations

import re
import subprocess

import pytest

from phasewise.web.auth import (
    Authenticator, LoginLimiter, TokenRecord, check_hash_format, hash_token, role_allows, verify_token,
)


class Clock:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


def test_hash_verifies_only_its_token() -> None:
    stored = hash_token("alice.secret")
    assert check_hash_format(stored) == "" and stored.startswith("scrypt$16384$8$1$")
    assert verify_token("alice.secret", stored)
    assert not verify_token("alice.secreT", stored) and not verify_token("alice.secret ", stored)
    assert hash_token("alice.secret") != stored  # salted
    assert not verify_token("alice.secret", "alice.secret")  # a plain token in the config is no hash
    assert check_hash_format("sha256$abc")


def test_roles_are_a_ladder() -> None:
    assert role_allows("operator", "engineer") and role_allows("engineer", "viewer")
    assert not role_allows("viewer", "engineer") and not role_allows("engineer", "operator")


def test_sessions_expire_and_log_out() -> None:
    clock = Clock()
    auth = Authenticator([TokenRecord("erin", "engineer", hash_token("erin.s"))], session_s=60.0, clock=clock)
    assert auth.login("erin.wrong") is None
    who = auth.login("erin.s")
    assert who is not None and (who.name, who.role, who.via) == ("erin", "engineer", "session")
    assert who.csrf and who.session_id != who.csrf
    clock.t += 59.0
    assert auth.session(who.session_id) == who
    clock.t += 1.0
    assert auth.session(who.session_id) is None  # expired at session_s
    again = auth.login("erin.s")
    auth.logout(again.session_id)
    assert auth.session(again.session_id) is None
    assert auth.session("forged-session-id") is None


def test_limiter_counts_failures_in_a_sliding_window() -> None:
    clock = Clock()
    limiter = LoginLimiter(max_failures=3, window_s=60.0, clock=clock)
    for _ in range(3):
        assert limiter.retry_after_s("a") == 0.0
        limiter.failed("a")
        clock.t += 10.0
    assert limiter.retry_after_s("a") == pytest.approx(30.0)  # the first failure leaves the window at 60 s
    assert limiter.retry_after_s("b") == 0.0  # per client
    clock.t += 30.0
    assert limiter.retry_after_s("a") == 0.0


def test_token_verified_once_then_remembered() -> None:
    auth = Authenticator([TokenRecord("vera", "viewer", hash_token("vera.x"))])
    assert not auth.verified_before("vera.x")
    assert auth.bearer("vera.x").role == "viewer"
    assert auth.verified_before("vera.x") and not auth.verified_before("vera.y")
    assert auth.bearer("vera.y") is None and auth.bearer("nobody.x") is None and auth.bearer("") is None


def test_token_new_prints_a_token_and_its_hash(web) -> None:  # type: ignore[no-untyped-def]
    run = subprocess.run([*web.PHASEWISE, "token", "new", "alice", "--role", "operator"], cwd=web.REPO,
                         capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stderr
    token = re.search(r"keep it secret\): (alice\.\S+)", run.stdout).group(1)
    entry = re.search(r'- \{name: alice, role: operator, hash: "(scrypt\$[^"]+)"\}', run.stdout).group(1)
    assert verify_token(token, entry)
    bad = subprocess.run([*web.PHASEWISE, "token", "new", "alice", "--role", "admin"], cwd=web.REPO,
                         capture_output=True, text=True, timeout=60)
    assert bad.returncode == 2 and bad.stderr.strip() == "phasewise: error: --role admin: give one of viewer, engineer, operator"


def test_set_tokens_revokes_tokens_and_their_sessions() -> None:
    auth = Authenticator([TokenRecord("a", "operator", hash_token("a.1")), TokenRecord("b", "viewer", hash_token("b.1"))])
    sa, sb = auth.login("a.1"), auth.login("b.1")
    auth.set_tokens([TokenRecord("a", "viewer", hash_token("a.1"))])  # a demoted, b removed
    assert auth.session(sa.session_id) is None and auth.session(sb.session_id) is None
    assert auth.bearer("a.1").role == "viewer" and auth.bearer("b.1") is None
