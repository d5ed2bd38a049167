"""Tokens, sessions and the login limiter, on an injected clock; ``phasewise token new``; the
published demo tokens refused off loopback by ``phasewise run`` and ``phasewise serve``."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

from phasewise.config import load_run_config
from phasewise.web.auth import (
    PUBLISHED_DEMO_TOKENS,
    Authenticator,
    LoginLimiter,
    TokenRecord,
    check_hash_format,
    hash_token,
    is_loopback,
    published_tokens,
    role_allows,
    verify_token,
)

REPO = Path(__file__).resolve().parents[3]


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


def test_loopback_addresses() -> None:
    assert all(is_loopback(h) for h in ("127.0.0.1", "127.8.9.10", "::1", "localhost", "::ffff:127.0.0.1"))
    assert not any(is_loopback(h) for h in ("0.0.0.0", "::", "10.0.0.5", "phasewise.example.org", ""))


def test_published_demo_tokens_are_the_examples() -> None:
    """The one list of published tokens: the README prints them, the example's hashes take them."""
    readme = (REPO / "README.md").read_text()
    example = load_run_config(REPO / "examples" / "sil-corridor.yaml")
    assert all(token in readme for token in PUBLISHED_DEMO_TOKENS)
    assert is_loopback(example.http.host)  # loaded: the example runs on loopback with its demo tokens
    names = [t.name for t in example.http.tokens]
    assert published_tokens((t.name, t.hash) for t in example.http.tokens) == names
    assert published_tokens([("demo-viewer", hash_token("demo-viewer.my-own-secret"))]) == []


def _exposed_config(tmp_path: Path, host: str) -> Path:
    text = (REPO / "examples" / "sil-corridor.yaml").read_text()
    config = tmp_path / "site.yaml"
    config.write_text(text.replace("  host: 127.0.0.1\n", f"  host: {host}\n")
                      .replace("state_dir: ../out/sil-corridor", f"state_dir: {tmp_path / 'state'}"))
    return config


def _one_line_refusal(run: subprocess.CompletedProcess, file: Path) -> None:  # type: ignore[type-arg]
    assert run.returncode == 2 and "Traceback" not in run.stderr, run.stderr
    assert len(run.stderr.strip().splitlines()) == 1 and run.stderr.startswith(f"phasewise: error: {file}: ")
    assert "host" in run.stderr and "http.tokens" in run.stderr and "phasewise token new" in run.stderr


def test_run_refuses_published_tokens_off_loopback(web, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    config = _exposed_config(tmp_path, "0.0.0.0")
    run = subprocess.run([*web.PHASEWISE, "run", "--config", str(config)], cwd=web.REPO, capture_output=True,
                         text=True, timeout=60)
    _one_line_refusal(run, config)
    assert "http.host 0.0.0.0" in run.stderr and not (tmp_path / "state").exists()  # refused before anything started


def test_serve_refuses_published_tokens_off_loopback(web, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    tokens = tmp_path / "tokens.yaml"
    tokens.write_text("tokens:\n" + "".join(line.replace("    - ", "  - ") + "\n" for line in
                                            (REPO / "examples" / "sil-corridor.yaml").read_text().splitlines()
                                            if "name: demo-" in line))
    (tmp_path / "results").mkdir()
    for file in (tokens, REPO / "examples" / "sil-corridor.yaml"):  # a tokens file, or the example's config
        run = subprocess.run([*web.PHASEWISE, "serve", "--results", str(tmp_path / "results"), "--tokens", str(file),
                              "--host", "0.0.0.0", "--port", "0"], cwd=web.REPO, capture_output=True, text=True, timeout=60)
        _one_line_refusal(run, file)
        assert "--host 0.0.0.0" in run.stderr
