"""Who may do what on the dashboard and API: roles, hashed tokens, sessions, login limits.

Roles form a ladder; each includes the ones below it:

=========  =====================================================================
viewer     read everything: intersections, counts, plans, gate log, health, events
engineer   + propose plans, run the checks on a plan, export counts, read the audit log
operator   + apply a plan, hand control back to the controllers and take it again,
           acknowledge alarms
=========  =====================================================================

A token is ``<name>.<secret>`` (``phasewise token new NAME --role ROLE`` makes one). The
config keeps only its scrypt hash (``scrypt$N$r$p$salt$hash``, base64 parts; RFC 7914,
N=2^14, r=8, p=1: ~50 ms per check), so a leaked config gives no access. The API takes it as
``Authorization: Bearer <token>``; the page exchanges it once at ``/login`` for a session
cookie (server-side session, ``HttpOnly``, ``SameSite=Strict``, ``Secure`` behind TLS) and a
CSRF token that every state-changing request from the page must echo in ``X-CSRF-Token``.

Failed logins and wrong bearer tokens are limited per client address (``max_failures`` in
``window_s``; then 429 until the window has passed), so tokens cannot be guessed online nor
scrypt be used to load the CPU; a bearer token already proved valid still works meanwhile.
The client address is the TCP peer's; ``X-Forwarded-For`` replaces it only when the peer is a
configured trusted proxy (``http.trusted_proxies``, none by default; ``phasewise.web.server``),
so behind nginx one client's failures do not lock the others out, and without a proxy a
client cannot pick a new address for each guess.

The demo tokens of ``examples/sil-corridor.yaml`` are published in the README
(:data:`PUBLISHED_DEMO_TOKENS`): :func:`published_tokens` finds them in a token list, and the
daemon config and ``phasewise serve`` refuse them on an address other than loopback.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import ipaddress
import re
import secrets
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass

ROLES = ("viewer", "engineer", "operator")
NAME_PATTERN = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
SCRYPT_N, SCRYPT_R, SCRYPT_P = 2**14, 8, 1
VERIFIED_KEPT = 256  # tokens verified once are remembered (by SHA-256) so scrypt runs once per token
# the tokens of examples/sil-corridor.yaml, whose secrets the README prints: for loopback only
PUBLISHED_DEMO_TOKENS = (
    "demo-viewer.sil-corridor-demo",
    "demo-engineer.sil-corridor-demo",
    "demo-operator.sil-corridor-demo",
)


def role_allows(role: str, needed: str) -> bool:
    return ROLES.index(role) >= ROLES.index(needed)


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def hash_token(token: str, salt: bytes | None = None) -> str:
    """``scrypt$N$r$p$salt$hash`` of ``token`` (a fresh 16-byte salt unless given)."""
    salt = salt if salt is not None else secrets.token_bytes(16)
    digest = hashlib.scrypt(token.encode(), salt=salt, n=SCRYPT_N, r=SCRYPT_R, p=SCRYPT_P, dklen=32)
    return f"scrypt${SCRYPT_N}${SCRYPT_R}${SCRYPT_P}${_b64(salt)}${_b64(digest)}"


SCRYPT_MAX_MEMORY_BYTES = 32 * 1024 * 1024  # hashlib.scrypt's (OpenSSL's) default memory limit
MIN_SALT_BYTES, MIN_DIGEST_BYTES = 8, 16


def check_hash_format(stored: str) -> str:
    """'' when ``stored`` is a hash :func:`verify_token` can check (as :func:`hash_token` makes:
    N a power of two, r and p at least 1, within scrypt's memory limit, a salt of 8 bytes or
    more and a digest of 16 or more, both base64url), else what is wrong."""
    fix = " (make one with: phasewise token new NAME --role ROLE)"
    parts = stored.split("$")
    if len(parts) != 6 or parts[0] != "scrypt" or not all(p.isascii() and p.isdigit() for p in parts[1:4]):
        return "expected scrypt$N$r$p$salt$hash" + fix
    n, r, p = (int(x) for x in parts[1:4])
    if n < 2 or n & (n - 1) or r < 1 or p < 1:
        return f"scrypt parameters N={n} r={r} p={p}: N must be a power of two above 1, r and p at least 1" + fix
    if 128 * r * (n + 2 + p) > SCRYPT_MAX_MEMORY_BYTES:
        return f"scrypt parameters N={n} r={r} p={p} need more than scrypt's {SCRYPT_MAX_MEMORY_BYTES >> 20} MiB" + fix
    for part, least, what in ((parts[4], MIN_SALT_BYTES, "salt"), (parts[5], MIN_DIGEST_BYTES, "hash")):
        try:
            size = len(_unb64(part)) if re.fullmatch(r"[A-Za-z0-9_-]+", part) else -1
        except ValueError:
            size = -1
        if size < least:
            return f"the {what} part must be {least} bytes or more in base64url" + fix
    return ""


def verify_token(token: str, stored: str) -> bool:
    """Whether ``token`` hashes to ``stored`` (constant-time comparison); False for a hash
    :func:`check_hash_format` refuses."""
    if check_hash_format(stored):
        return False
    _, n, r, p, salt, digest = stored.split("$")
    got = hashlib.scrypt(token.encode(), salt=_unb64(salt), n=int(n), r=int(r), p=int(p), dklen=len(_unb64(digest)))
    return hmac.compare_digest(got, _unb64(digest))


def new_token(name: str) -> str:
    return f"{name}.{secrets.token_urlsafe(24)}"


def is_loopback(host: str) -> bool:
    """Whether listening on ``host`` keeps the server on this machine (127.0.0.0/8, ::1, localhost)."""
    if host.strip().lower() == "localhost":
        return True
    try:
        address = ipaddress.ip_address(host.strip())
    except ValueError:
        return False  # a host name: it may resolve to any interface
    mapped = getattr(address, "ipv4_mapped", None)
    return bool((mapped or address).is_loopback)


def proxy_problem(entry: str) -> str:
    """'' when ``entry`` names proxies by address (``127.0.0.1``) or network (``10.0.0.0/8``),
    else what is wrong with it."""
    try:
        ipaddress.ip_network(entry.strip())
    except ValueError:
        return (f"{entry!r} is not an IP address or network (address/prefix, host bits zero); name the reverse "
                "proxy's own address, e.g. 127.0.0.1 for nginx on this machine")
    return ""


def published_tokens(tokens: Iterable[tuple[str, str]]) -> list[str]:
    """The names among ``(name, hash)`` pairs whose hash takes a token of
    :data:`PUBLISHED_DEMO_TOKENS`. A token is looked up by the name before its dot, so only an
    entry of that name can let a published token in: one scrypt check per such entry."""
    published = {token.split(".", 1)[0]: token for token in PUBLISHED_DEMO_TOKENS}
    return [name for name, stored in tokens if name in published and verify_token(published[name], stored)]


@dataclass(frozen=True)
class TokenRecord:
    """One configured token: who, which role, the hash of the token."""

    name: str
    role: str
    hash: str


@dataclass(frozen=True)
class Principal:
    """An authenticated caller; ``via`` is ``bearer`` or ``session``."""

    name: str
    role: str
    via: str
    session_id: str = ""
    csrf: str = ""


@dataclass
class _Session:
    principal: Principal
    expires_s: float


class LoginLimiter:
    """At most ``max_failures`` failed attempts per client in ``window_s`` seconds."""

    def __init__(self, max_failures: int = 5, window_s: float = 60.0, clock: Callable[[], float] = time.monotonic):
        self.max_failures, self.window_s, self.clock = max_failures, window_s, clock
        self._failures: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def retry_after_s(self, client: str) -> float:
        """0 when ``client`` may try now; else the seconds until it may."""
        with self._lock:
            times = self._recent(client)
            if len(times) < self.max_failures:
                return 0.0
            return max(0.1, times[0] + self.window_s - self.clock())

    def failed(self, client: str) -> None:
        with self._lock:
            self._recent(client).append(self.clock())

    def _recent(self, client: str) -> deque[float]:
        times = self._failures.setdefault(client, deque())
        while times and times[0] <= self.clock() - self.window_s:
            times.popleft()
        if len(self._failures) > 10_000:  # a scan from many addresses must not grow memory forever
            self._failures = {k: v for k, v in self._failures.items() if v}
        return times


class Authenticator:
    """Checks tokens and keeps sessions (module docstring)."""

    def __init__(self, tokens: Iterable[TokenRecord], session_s: float = 8 * 3600.0,
                 limiter: LoginLimiter | None = None, clock: Callable[[], float] = time.time) -> None:
        self.tokens = {t.name: t for t in tokens}
        self.session_s = session_s
        self.limiter = limiter or LoginLimiter()
        self.clock = clock
        self._verified: dict[str, TokenRecord] = {}
        self._sessions: dict[str, _Session] = {}
        self._lock = threading.Lock()

    def set_tokens(self, tokens: Iterable[TokenRecord]) -> None:
        """Replace the tokens (a config reload): a token removed or given another role stops
        working at once, and so do its holder's sessions."""
        new = {t.name: t for t in tokens}
        with self._lock:
            self.tokens = new
            self._verified.clear()
            self._sessions = {k: s for k, s in self._sessions.items()
                              if new.get(s.principal.name, None) is not None and new[s.principal.name].role == s.principal.role}

    def check_token(self, token: str) -> TokenRecord | None:
        """The token's record, or None for a forged, unknown or malformed token."""
        key = hashlib.sha256(token.encode()).hexdigest()
        with self._lock:
            if key in self._verified:
                return self._verified[key]
        name = token.split(".", 1)[0]
        record = self.tokens.get(name)
        if record is None or "." not in token or not verify_token(token, record.hash):
            return None
        with self._lock:
            if len(self._verified) >= VERIFIED_KEPT:
                self._verified.clear()
            self._verified[key] = record
        return record

    def verified_before(self, token: str) -> bool:
        """Whether ``token`` was checked and found valid before (no scrypt now): a client
        held back by the login limiter keeps using the tokens it already proved."""
        with self._lock:
            return hashlib.sha256(token.encode()).hexdigest() in self._verified

    def bearer(self, token: str) -> Principal | None:
        record = self.check_token(token)
        return None if record is None else Principal(record.name, record.role, "bearer")

    def login(self, token: str) -> Principal | None:
        """A new session for ``token``'s holder (None when the token is not valid)."""
        record = self.check_token(token)
        if record is None:
            return None
        principal = Principal(record.name, record.role, "session", secrets.token_urlsafe(32), secrets.token_urlsafe(32))
        with self._lock:
            now = self.clock()
            self._sessions = {k: s for k, s in self._sessions.items() if s.expires_s > now}
            self._sessions[principal.session_id] = _Session(principal, now + self.session_s)
        return principal

    def session(self, session_id: str) -> Principal | None:
        """The session's principal; None when unknown or expired (an expired one is dropped)."""
        with self._lock:
            s = self._sessions.get(session_id)
            if s is None:
                return None
            if s.expires_s <= self.clock():
                del self._sessions[session_id]
                return None
            return s.principal

    def logout(self, session_id: str) -> None:
        with self._lock:
            self._sessions.pop(session_id, None)
