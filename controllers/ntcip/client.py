"""A small SNMP manager for NTCIP controllers (pysnmp 7), with a synchronous facade.

:class:`SnmpClient` talks to one agent (one controller). ``get``/``set`` are synchronous for
the policy loop; underneath, every client of a backend shares one asyncio loop running in a
background thread (:class:`EventLoopThread`), one pysnmp ``SnmpEngine`` and one transport,
so a step costs only the round trips (no engine setup, no SNMPv3 discovery after the first
request) and several intersections are polled concurrently (:meth:`EventLoopThread.gather`).

Every response is checked varbind by varbind: a GET or SET answered ``noError`` but carrying
``noSuchObject``/``noSuchInstance``/``endOfMibView``, an OID other than the one asked, or
(for a SET) a value other than the one written is a failure, not a success.

Errors (all ``ControllerError``):

* :class:`AgentUnreachable`: no answer after ``retries`` attempts (``timeout_s`` each,
  ``backoff_s`` doubling between them);
* :class:`AuthenticationFailed`: wrong user, key, protocol or community (not retried);
* :class:`RequestRefused`: the agent answered with an error status or a missing object.

Example::

    client = SnmpClient("10.0.0.21", 161, V3Credentials(user="phasewise", auth_key=..., priv_key=...))
    greens = client.get([oids.GREENS.instance(1)])[oids.GREENS.instance(1)]
    client.set({oids.HOLD.instance(1): 0b00100010})
    client.close()
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import threading
from collections.abc import Awaitable, Coroutine, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar, Union

from controllers.ntcip.credentials import Credentials, V2cCredentials, V3Credentials
from phasewise_errors import ControllerError

log = logging.getLogger(__name__)

Oid = tuple[int, ...]
Value = Union[int, str]
T = TypeVar("T")


GUARD_S = 60.0
"""Longest wait for one synchronous call; pysnmp's own timeouts end every request long before
(a plan download is about ten round trips), so reaching it means something is stuck."""


class AgentUnreachable(ControllerError):
    """No answer from the agent (down, wrong address/port, network) after all retries."""


class AuthenticationFailed(ControllerError):
    """The agent rejected our credentials (user, keys, protocols, community)."""


class RequestRefused(ControllerError):
    """The agent answered but refused a request or lacks an object."""


@dataclass(frozen=True)
class RetryPolicy:
    """Per request: ``attempts`` tries of ``timeout_s`` each, sleeping ``backoff_s`` (doubling) between.

    Defaults keep a dead agent's cost to ~1.6 s per request (0.4 + 0.1 + 0.4 + 0.2 + 0.4 +
    latency): a 1 Hz policy loop notices within two steps and the controller, which never
    depends on us, keeps its own schedule meanwhile. A healthy agent on a cabinet network
    answers in a few milliseconds, so 0.4 s is generous.
    """

    timeout_s: float = 0.4
    attempts: int = 3
    backoff_s: float = 0.1

    def delays_s(self) -> list[float]:
        return [self.backoff_s * 2**k for k in range(max(self.attempts - 1, 0))]


class EventLoopThread:
    """One asyncio event loop in a daemon thread; ``run`` executes a coroutine on it and waits.

    It also holds the one pysnmp ``SnmpEngine`` its clients share (created on first use, in
    the loop): an engine loads its MIB core and opens a socket, which costs ~0.3 s, so one
    per controller would make a corridor's first step seconds long.
    """

    def __init__(self) -> None:
        self.snmp_engine: Any = None
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="phasewise-snmp", daemon=True)
        self._thread.start()
        self._closed = False

    def run(self, coro: Coroutine[Any, Any, T], guard_s: float = GUARD_S) -> T:
        """The coroutine's result; ``ControllerError`` if it has not finished after ``guard_s``."""
        if self._closed:
            coro.close()
            raise ControllerError("SNMP event loop is closed")
        future = asyncio.run_coroutine_threadsafe(coro, self._loop)
        try:
            return future.result(timeout=guard_s)
        except concurrent.futures.TimeoutError:
            future.cancel()
            raise ControllerError(f"SNMP exchange did not finish within {guard_s:.0f} s") from None

    def gather(self, coros: Sequence[Awaitable[T]]) -> list[T | BaseException]:
        """Run coroutines concurrently; each result or the exception it raised, in order."""

        async def _all() -> list[T | BaseException]:
            return list(await asyncio.gather(*coros, return_exceptions=True))

        return self.run(_all())

    def close(self) -> None:
        if self._closed:
            return
        if self.snmp_engine is not None:
            engine, self.snmp_engine = self.snmp_engine, None
            self.run(_close_engine(engine))
        self._closed = True
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=2.0)
        if not self._thread.is_alive():
            self._loop.close()


async def _close_engine(engine: Any) -> None:
    engine.close_dispatcher()


def _auth_data(credentials: Credentials) -> Any:
    from pysnmp.hlapi.v3arch import asyncio as hl

    if isinstance(credentials, V2cCredentials):
        return hl.CommunityData(credentials.community.get_secret_value(), mpModel=1)
    auth = {
        "SHA": hl.usmHMACSHAAuthProtocol,
        "SHA224": hl.usmHMAC128SHA224AuthProtocol,
        "SHA256": hl.usmHMAC192SHA256AuthProtocol,
        "SHA384": hl.usmHMAC256SHA384AuthProtocol,
        "SHA512": hl.usmHMAC384SHA512AuthProtocol,
    }[credentials.auth_protocol]
    priv = {
        "AES": hl.usmAesCfb128Protocol,
        "AES192": hl.usmAesCfb192Protocol,
        "AES256": hl.usmAesCfb256Protocol,
    }[credentials.priv_protocol]
    return hl.UsmUserData(
        credentials.user,
        authKey=credentials.auth_key.get_secret_value(),
        privKey=credentials.priv_key.get_secret_value(),
        authProtocol=auth,
        privProtocol=priv,
    )


_AUTH_ERRORS = (
    "UnknownUserName",
    "WrongDigest",
    "DecryptionError",
    "AuthenticationError",
    "AuthenticationFailure",
    "UnknownCommunityName",
    "UnsupportedSecurityLevel",
    "UnknownSecurityName",
)


def _dotted(oid: Oid) -> str:
    return ".".join(map(str, oid))


def _plain(value: Any) -> Value:
    try:
        return int(value)
    except (TypeError, ValueError):
        return value.prettyPrint() if hasattr(value, "prettyPrint") else str(value)


class SnmpClient:
    """SNMP GET/SET to one agent, every varbind checked (see the module docstring).

    ``loop`` is shared between the clients of one backend; a client makes its own when none
    is given (and then closes it in :meth:`close`).
    """

    def __init__(
        self,
        host: str,
        port: int,
        credentials: Credentials,
        retry: RetryPolicy = RetryPolicy(),
        loop: EventLoopThread | None = None,
    ) -> None:
        self.host = host
        self.port = port
        self.retry = retry
        self._credentials = credentials
        self._owns_loop = loop is None
        self.loop = loop or EventLoopThread()
        self._engine: Any = None
        self._target: Any = None
        self._auth: Any = None

    def __repr__(self) -> str:
        version = "v3" if isinstance(self._credentials, V3Credentials) else "v2c"
        return f"SnmpClient({self.host}:{self.port}, {version})"

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"

    # -- synchronous facade ------------------------------------------------------------------
    def get(self, oids: Sequence[Oid]) -> dict[Oid, Value]:
        """Values of ``oids`` (instance OIDs), in one GET request."""
        return self.loop.run(self.get_async(oids))

    def set(self, values: Mapping[Oid, int]) -> None:
        """Write ``values`` in one SET request (all or nothing as far as the agent says)."""
        self.loop.run(self.set_async(values))

    def close(self) -> None:
        """Release the loop if this client made it (a shared loop is closed by its owner)."""
        if self._owns_loop:
            self.loop.close()

    # -- async core --------------------------------------------------------------------------
    async def get_async(self, oids: Sequence[Oid]) -> dict[Oid, Value]:
        from pysnmp.hlapi.v3arch.asyncio import get_cmd
        from pysnmp.proto.rfc1902 import Null

        var_binds = await self._request(get_cmd, [(oid, Null()) for oid in oids], "GET")
        return {oid: _plain(value) for oid, value in var_binds}

    async def set_async(self, values: Mapping[Oid, int]) -> None:
        from pysnmp.hlapi.v3arch.asyncio import set_cmd
        from pysnmp.proto.rfc1902 import Integer32

        var_binds = await self._request(set_cmd, [(oid, Integer32(v)) for oid, v in values.items()], "SET")
        for oid, value in var_binds:
            if _plain(value) != values[oid]:
                raise RequestRefused(
                    f"{self.address}: SET {_dotted(oid)} = {values[oid]} answered with {_plain(value)!r}"
                )

    async def _ensure_session(self) -> None:
        from pysnmp.hlapi.v3arch.asyncio import SnmpEngine, UdpTransportTarget

        if self.loop.snmp_engine is None:
            self.loop.snmp_engine = SnmpEngine()
        self._engine = self.loop.snmp_engine
        if self._target is None:
            try:
                # pysnmp's own retries are off: ours back off and classify the failure.
                self._target = await UdpTransportTarget.create(
                    (self.host, self.port), timeout=self.retry.timeout_s, retries=0
                )
            except Exception as exc:  # pysnmp raises PySnmpError for unresolvable hosts
                raise AgentUnreachable(f"{self.address}: cannot resolve or open ({exc})") from None

    async def _request(self, command: Any, var_binds: list[tuple[Oid, Any]], verb: str) -> list[tuple[Oid, Any]]:
        from pysnmp.hlapi.v3arch.asyncio import ContextData

        await self._ensure_session()
        context = ContextData(
            contextName=self._credentials.context_name if isinstance(self._credentials, V3Credentials) else ""
        )
        if self._auth is None:
            self._auth = _auth_data(self._credentials)
        auth = self._auth
        delays = self.retry.delays_s() + [0.0]
        last = "no attempt"
        for attempt, delay in enumerate(delays, start=1):
            error_indication, error_status, error_index, answer = await command(
                self._engine, auth, self._target, context, *var_binds, lookupMib=False
            )
            if not error_indication:
                return self._checked(verb, var_binds, int(error_status), int(error_index), answer)
            kind = type(error_indication).__name__
            if kind in _AUTH_ERRORS:
                raise AuthenticationFailed(
                    f"{self.address}: the agent rejected our credentials ({error_indication}); "
                    "check user, keys and protocols (or community)"
                )
            last = str(error_indication)
            if attempt < len(delays):
                log.debug("%s: %s attempt %d failed (%s), retrying", self.address, verb, attempt, last)
                await asyncio.sleep(delay)
        hint = "" if isinstance(self._credentials, V3Credentials) else "; a v2c agent also stays silent on a wrong community"
        raise AgentUnreachable(
            f"{self.address}: no SNMP answer to {verb} after {len(delays)} attempts ({last}){hint}"
        )

    def _checked(
        self, verb: str, asked: list[tuple[Oid, Any]], error_status: int, error_index: int, answer: Sequence[Any]
    ) -> list[tuple[Oid, Any]]:
        from pysnmp.proto.rfc1905 import EndOfMibView, NoSuchInstance, NoSuchObject

        if error_status:
            culprit = _dotted(asked[error_index - 1][0]) if 0 < error_index <= len(asked) else "?"
            raise RequestRefused(f"{self.address}: {verb} refused: {_error_name(error_status)} at {culprit}")
        if len(answer) != len(asked):
            raise RequestRefused(f"{self.address}: {verb} answered {len(answer)} varbinds for {len(asked)} asked")
        checked = []
        for (oid, _), (name, value) in zip(asked, answer):
            got = tuple(name)
            if got != oid:
                raise RequestRefused(f"{self.address}: {verb} {_dotted(oid)} answered for {_dotted(got)}")
            if isinstance(value, (NoSuchObject, NoSuchInstance, EndOfMibView)):
                raise RequestRefused(f"{self.address}: {verb} {_dotted(oid)}: {type(value).__name__}")
            checked.append((oid, value))
        return checked


_ERROR_NAMES = {
    1: "tooBig",
    2: "noSuchName",
    3: "badValue",
    4: "readOnly",
    5: "genErr",
    6: "noAccess",
    7: "wrongType",
    8: "wrongLength",
    9: "wrongEncoding",
    10: "wrongValue",
    11: "noCreation",
    12: "inconsistentValue",
    13: "resourceUnavailable",
    14: "commitFailed",
    15: "undoFailed",
    16: "authorizationError",
    17: "notWritable",
    18: "inconsistentName",
}


def _error_name(status: int) -> str:
    return _ERROR_NAMES.get(status, f"error-status {status}")
