"""``phasewise serve --results DIR`` (the dashboard on results files) and ``phasewise token``
(make the tokens of the dashboard/API and the hashes the configs keep).

    phasewise token new alice --role operator      # prints the token once and its config entry
    phasewise serve --results out/plan --tokens tokens.yaml    # http://127.0.0.1:8791/

``serve`` takes no actions; the only file it writes is its audit log (``--audit``, by default
``audit.jsonl`` in the results folder). Ctrl-C exits with 130, SIGTERM with 0.
"""

from __future__ import annotations

import logging
import os
import signal
import sys
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from phasewise.app import app
from phasewise.options import finite
from phasewise.web.body_limit import DEFAULT_MAX_BODY_BYTES
from phasewise_errors import ConfigError

if TYPE_CHECKING:
    from phasewise.web.auth import TokenRecord

log = logging.getLogger("phasewise.serve")

MAX_SESSION_S = 366 * 86400.0  # a login lasting longer than a year is a mistake

MAX_TOKEN_BYTES = 1024  # ours are about 100 bytes; a longer line on standard input is not a token

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
    from phasewise.web.auth import NAME_PATTERN, hash_token

    usage = "give a token NAME.SECRET on standard input (phasewise token new makes one)"
    line = sys.stdin.buffer.readline(MAX_TOKEN_BYTES + 1)
    if len(line) > MAX_TOKEN_BYTES:
        raise ConfigError(f"standard input: a line longer than {MAX_TOKEN_BYTES} bytes is no token; {usage}")
    try:
        token = line.decode("utf-8").strip()
    except UnicodeDecodeError as exc:
        raise ConfigError(f"standard input: not UTF-8 text (byte {exc.start}: {exc.reason}); {usage}") from None
    name, dot, secret = token.partition(".")
    if not token:
        raise ConfigError(usage)
    if not dot or not secret or not NAME_PATTERN.match(name) or not secret.isascii() or not secret.isprintable() \
            or " " in secret:
        raise ConfigError(f"standard input: not a token NAME.SECRET (NAME: 1-64 letters, digits, - or _; SECRET: "
                          f"printable ASCII without spaces); {usage}")
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


def _check_results(results: Path) -> None:
    """ConfigError unless ``results`` is a folder we can list."""
    if not results.is_dir():
        raise ConfigError(f"--results {results}: not a folder (give what optimize/replay --out or run wrote)")
    try:
        next(os.scandir(results), None)
    except OSError as exc:
        raise ConfigError(f"--results {results}: cannot read the folder ({exc.strerror or exc})") from None


def _warn_if_empty(results: Path) -> None:
    """A warning when ``results`` holds nothing the dashboard shows (yet: a running daemon's
    state dir fills later)."""
    from phasewise.web.results import RESULT_FILES, results_files

    if not results_files(results):
        log.warning("--results %s holds none of the files the dashboard shows (%s, counts/); it stays empty until "
                    "optimize/replay --out or run write them there", results, ", ".join(RESULT_FILES))


def _audit_path(audit: Path) -> Path:
    """``--audit``, checked now: ConfigError when it cannot be written."""
    from phasewise.outputs import output_file

    path = output_file(audit, "--audit")
    if path.exists() and not os.access(path, os.W_OK):
        raise ConfigError(f"--audit {audit}: the file is not writable")
    return path


def _default_audit(results: Path) -> Path | None:
    """``audit.jsonl`` in the results folder when it can be written there, else None (refusals
    are then logged as warnings)."""
    from phasewise.outputs import output_file

    default = results / "audit.jsonl"
    try:
        output_file(default, "--results")
    except ConfigError:
        return None
    return default if not default.exists() or os.access(default, os.W_OK) else None


@app.command("serve")
def serve(
    results: Annotated[Path, typer.Option("--results", help="a results folder: phasewise optimize --out, replay --out "
                                                            "or a daemon's state_dir")],
    tokens: Annotated[Path, typer.Option("--tokens", help="YAML with tokens: [{name, role, hash}] "
                                                          "(phasewise token new; examples/tokens.yaml), or a daemon "
                                                          "config")],
    host: Annotated[str, typer.Option(help="listen address; 127.0.0.1 unless a reverse proxy needs another")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=0, max=65535, help="TCP port (0: any free port, printed)")] = 8791,
    secure_cookies: Annotated[bool, typer.Option("--secure-cookies", help="served over TLS by a reverse proxy")] = False,
    session_s: Annotated[float, typer.Option("--session-s", min=1.0, max=MAX_SESSION_S, callback=finite,
                                             help="how long a login lasts (s)")] = 8 * 3600.0,
    login_failures_per_minute: Annotated[int, typer.Option(min=1, help="failed logins per client and minute before 429")] = 5,
    max_body_bytes: Annotated[int, typer.Option("--max-body-bytes", min=1, help="a larger request body is refused "
                                                                                 "(413) before it is read")] = DEFAULT_MAX_BODY_BYTES,
    trusted_proxy: Annotated[list[str] | None, typer.Option(
        "--trusted-proxy", help="an address whose X-Forwarded-For is believed (the reverse proxy in front, e.g. "
                                "127.0.0.1); repeatable; none by default")] = None,
    audit: Annotated[Path | None, typer.Option(
        "--audit", help="the audit log (JSON lines) of state-changing requests, all refused here; default "
                        "audit.jsonl in --results (none, with a warning, where that cannot be written)")] = None,
) -> None:
    """Serve the dashboard and API on a results folder (read-only: it takes no actions and
    writes nothing there but its audit log, see --audit)."""
    from phasewise.web.api import OpsProbes, create_app
    from phasewise.web.audit import AuditLog
    from phasewise.web.auth import Authenticator, LoginLimiter, TokenRecord
    from phasewise.web.results import ResultsSource
    from phasewise.web.server import WebServer

    if not host.strip():
        raise ConfigError("--host '': give an address to listen on, e.g. 127.0.0.1 (0.0.0.0: every interface)")
    _check_results(results)
    records = [TokenRecord(t.name, t.role, t.hash) for t in _tokens(tokens)]
    _refuse_demo_tokens(host, records, tokens)
    proxies = _trusted_proxies(trusted_proxy or [])
    audit_path = _audit_path(audit) if audit is not None else _default_audit(results)
    source = ResultsSource(results)
    audit_log = AuditLog(audit_path)
    auth = Authenticator(records, session_s, LoginLimiter(login_failures_per_minute, 60.0))

    def folder_readable() -> tuple[bool, str]:
        return (True, f"serving {results}") if results.is_dir() else (False, f"{results} is gone")

    # the hi-res event log: a daemon state_dir's events/ (or one sim --events wrote there), or the folder itself
    event_log = results / "events" if (results / "events").is_dir() else results
    web_app = create_app(source, auth, audit_log, OpsProbes(None, folder_readable, folder_readable),
                         secure_cookies=secure_cookies, counts_csv=source.counts_csv, max_body_bytes=max_body_bytes,
                         event_log=event_log)
    try:
        server = WebServer(web_app, host, port, proxies)
    except OSError as exc:
        raise ConfigError(f"--host {host} --port {port}: cannot listen ({exc.strerror or exc})") from None
    # every refusal is above; what is served but may surprise, below
    _warn_if_empty(results)
    if not records:
        log.warning("%s: no tokens: the dashboard and API refuse everyone (make one with phasewise token new NAME "
                    "--role ROLE)", tokens)
    if audit_path is None:
        log.warning("--results %s: cannot write audit.jsonl there; refused requests are logged here instead of an "
                    "audit file (fix: --audit FILE)", results)
    stop = threading.Event()
    interrupted: list[bool] = []
    signal.signal(signal.SIGTERM, lambda s, f: stop.set())  # a service manager's stop: exit 0
    signal.signal(signal.SIGINT, lambda s, f: (interrupted.append(True), stop.set()))
    server.start()
    typer.echo(f"serving {results} on http://{host}:{server.port}/ (Ctrl-C stops)", err=True)
    try:
        stop.wait()
    finally:
        server.stop()
    if interrupted:
        raise KeyboardInterrupt  # exit 130, "phasewise: interrupted" (phasewise.app)
