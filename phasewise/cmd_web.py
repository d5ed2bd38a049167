"""``phasewise serve --results DIR`` (the dashboard on results files) and ``phasewise token``
(make the tokens of the dashboard/API and the hashes the configs keep).

    phasewise token new alice --role operator      # prints the token once and its config entry
    phasewise serve --results out/plan --tokens tokens.yaml
"""

from __future__ import annotations

import signal
import sys
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from phasewise.app import app
from phasewise.web.body_limit import DEFAULT_MAX_BODY_BYTES
from phasewise_errors import ConfigError

if TYPE_CHECKING:
    from phasewise.web.auth import TokenRecord

token_app = typer.Typer(help="Tokens for the dashboard and API (stored hashed in the config).", no_args_is_help=True)
app.add_typer(token_app, name="token")


@token_app.command("new")
def token_new(
    name: Annotated[str, typer.Argument(help="who holds the token (letters, digits, - and _), as the audit log names them")],
    role: Annotated[str, typer.Option("--role", help="viewer, engineer or operator")],
) -> None:
    """Make a token: print it (shown once; give it to its holder) and its http.tokens entry."""
    from phasewise.web.auth import NAME_PATTERN, ROLES, hash_token, new_token

    if role not in ROLES:
        raise ConfigError(f"--role {role}: give one of {', '.join(ROLES)}")
    if not NAME_PATTERN.match(name):
        raise ConfigError(f"NAME {name!r}: use 1-64 letters, digits, - or _")
    token = new_token(name)
    typer.echo(f"token for {name} (shown once; keep it secret): {token}")
    typer.echo("add to the config's http.tokens (or a --tokens file's tokens:):")
    typer.echo(f'  - {{name: {name}, role: {role}, hash: "{hash_token(token)}"}}')


@token_app.command("hash")
def token_hash() -> None:
    """Read a token on standard input; print its hash for the config."""
    from phasewise.web.auth import hash_token

    token = sys.stdin.readline().strip()
    if not token or "." not in token:
        raise ConfigError("give a token NAME.SECRET on standard input (phasewise token new makes one)")
    typer.echo(hash_token(token))


def _tokens(path: Path):  # type: ignore[no-untyped-def]
    """Tokens from a tokens file (``tokens:``) or a daemon config (its ``http.tokens``)."""
    from phasewise.config import load_run_config, load_tokens_file
    from phasewise_errors import read_config_file

    raw = read_config_file(path, hint="; give a YAML file with tokens: [{name, role, hash}]")
    if isinstance(raw, dict) and "http" in raw:
        return load_run_config(path).http.tokens
    return load_tokens_file(path).tokens


def _refuse_demo_tokens(host: str, records: list[TokenRecord], tokens_file: Path) -> None:
    """Refuse an address other than loopback with the demo tokens the README publishes."""
    from phasewise.web.auth import is_loopback, published_tokens

    if is_loopback(host):
        return
    published = published_tokens((r.name, r.hash) for r in records)
    if published:
        raise ConfigError(
            f"{tokens_file}: --host {host} is not a loopback address and its tokens {', '.join(published)} (http.tokens) "
            "are demo tokens whose secrets the README publishes (fix: make your own with phasewise token new NAME "
            "--role ROLE, or serve on 127.0.0.1)")


def _trusted_proxies(proxies: list[str]) -> list[str]:
    from phasewise.web.auth import proxy_problem

    problem = next((p for p in map(proxy_problem, proxies) if p), "")
    if problem:
        raise ConfigError(f"--trusted-proxy: {problem}")
    return proxies


@app.command("serve")
def serve(
    results: Annotated[Path, typer.Option("--results", help="a results folder: phasewise optimize --out, replay --out "
                                                            "or a daemon's state_dir")],
    tokens: Annotated[Path, typer.Option("--tokens", help="YAML with tokens: [{name, role, hash}] "
                                                          "(phasewise token new), or a daemon config")],
    host: Annotated[str, typer.Option(help="listen address; 127.0.0.1 unless a reverse proxy needs another")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=0, max=65535, help="TCP port (0: any free port, printed)")] = 8791,
    secure_cookies: Annotated[bool, typer.Option("--secure-cookies", help="served over TLS by a reverse proxy")] = False,
    session_s: Annotated[float, typer.Option("--session-s", min=1.0, help="how long a login lasts (s)")] = 8 * 3600.0,
    login_failures_per_minute: Annotated[int, typer.Option(min=1, help="failed logins per client and minute before 429")] = 5,
    max_body_bytes: Annotated[int, typer.Option("--max-body-bytes", min=1, help="a larger request body is refused "
                                                                                 "(413) before it is read")] = DEFAULT_MAX_BODY_BYTES,
    trusted_proxy: Annotated[list[str] | None, typer.Option(
        "--trusted-proxy", help="an address whose X-Forwarded-For is believed (the reverse proxy in front, e.g. "
                                "127.0.0.1); repeatable; none by default")] = None,
) -> None:
    """Serve the dashboard and API on a results folder (read-only: no operator actions)."""
    from phasewise.web.api import create_app
    from phasewise.web.audit import AuditLog
    from phasewise.web.auth import Authenticator, LoginLimiter, TokenRecord
    from phasewise.web.results import ResultsSource
    from phasewise.web.server import WebServer

    if not results.is_dir():
        raise ConfigError(f"--results {results}: not a folder (give what optimize/replay --out or run wrote)")
    records = [TokenRecord(t.name, t.role, t.hash) for t in _tokens(tokens)]
    _refuse_demo_tokens(host, records, tokens)
    proxies = _trusted_proxies(trusted_proxy or [])
    source = ResultsSource(results)
    audit = AuditLog(results / "audit.jsonl")
    auth = Authenticator(records, session_s, LoginLimiter(login_failures_per_minute, 60.0))
    # the hi-res event log: a daemon state_dir's events/ (or one sim --events wrote there), or the folder itself
    event_log = results / "events" if (results / "events").is_dir() else results
    web_app = create_app(source, auth, audit, secure_cookies=secure_cookies,
                         counts_csv=source.counts_csv, max_body_bytes=max_body_bytes, event_log=event_log)
    try:
        server = WebServer(web_app, host, port, proxies)
    except OSError as exc:
        raise ConfigError(f"--host {host} --port {port}: cannot listen ({exc.strerror or exc})") from None
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda s, f: stop.set())
    signal.signal(signal.SIGINT, lambda s, f: stop.set())
    server.start()
    typer.echo(f"serving {results} on http://{host}:{server.port}/ (Ctrl-C stops)", err=True)
    try:
        stop.wait()
    finally:
        server.stop()
