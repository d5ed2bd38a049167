"""An NTCIP 1202 SNMP agent in front of emulated cabinets (pysnmp 7, asyncio).

:class:`NtcipAgent` answers GET, GETNEXT/GETBULK and SET on the standard NTCIP 1202 v03 /
1201 objects (:mod:`controllers.ntcip.oids`), each backed by a
:class:`~controllers.ntcip.cabinet.Cabinet`:

* one UDP port per cabinet (``port``, ``port + 1``, ... in the order given; ``port=0``: any free
  port each, see :attr:`NtcipAgent.ports`), so a manager addresses a controller the way it
  addresses a cabinet in the field: by address;
* SNMPv2c with one read-write ``community`` (default ``public``) and SNMPv3 users from a file
  (:func:`load_users`; authPriv, SHA / AES-128 by default, ``access: read-only`` possible);
* SETs are checked as a controller checks them, all varbinds before any is applied:
  ``wrongValue`` (out of the MIB range, unused phase bit, no such pattern), ``notWritable``
  (status objects), ``noSuchName``/``noCreation`` (no such instance), ``inconsistentValue``
  (database transaction order), ``wrongType`` (not an INTEGER);
* the SNMP engine runs in its own thread and event loop; whoever advances the cabinets (the
  emulator's SUMO loop, a test) does it under :attr:`NtcipAgent.lock` so a request never sees
  half a tick.

Example::

    cabinet = Cabinet.from_model(model)
    with NtcipAgent({"J1": cabinet}, port=0) as agent:   # serves in a background thread
        port = agent.ports["J1"]
        while running:
            with agent.lock:
                cabinet.tick(1.0)
"""

from __future__ import annotations

import asyncio
import bisect
import logging
import socket
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from controllers.ntcip import oids
from controllers.ntcip.cabinet import MAX_PATTERNS, MAX_SPLITS, PREEMPTS, Cabinet, SetRefused
from phasewise_errors import ControllerError, read_config_file, validation_error

log = logging.getLogger(__name__)

NTCIP_SUBTREE = (1, 3, 6, 1, 4, 1, 1206)
"""What the agent serves (VACM views): the NTCIP node."""
NO_WRITE_SUBTREE = (1, 3, 6, 1, 6, 3, 255)
"""Write view of read-only users: an unused subtree (an empty view means 'all' to pysnmp)."""
# the agent answers as soon as its engine is up (~0.3 s of CPU); on a busy machine that takes
# seconds of wall time, and giving up early would stop a software-in-the-loop run for nothing
START_TIMEOUT_S = 30.0


class SnmpUser(BaseModel):
    """One SNMPv3 user (USM), as written in the users file."""

    model_config = ConfigDict(extra="forbid")

    name: str
    auth_key: str = Field(min_length=8)
    priv_key: str = Field(min_length=8)
    auth: Literal["SHA", "SHA256", "SHA512", "MD5"] = "SHA"
    priv: Literal["AES", "AES192", "AES256", "DES"] = "AES"
    access: Literal["read-write", "read-only"] = "read-write"


class _UsersFile(BaseModel):
    model_config = ConfigDict(extra="forbid")
    users: list[SnmpUser]


def load_users(path: str | Path) -> list[SnmpUser]:
    """Read SNMPv3 users from YAML (``users: [{name, auth_key, priv_key, auth, priv, access}]``)."""
    raw = read_config_file(path, "SNMP users")
    try:
        return _UsersFile.model_validate(raw).users
    except ValidationError as exc:
        raise validation_error(path, exc) from None


@dataclass(frozen=True)
class _Instance:
    name: str
    index: tuple[int, ...]


class CabinetInstrumentation:
    """pysnmp's MIB instrumentation interface (read / read-next / write varbinds) over one cabinet."""

    def __init__(self, cabinet: Cabinet, lock: threading.Lock) -> None:
        from pysnmp.proto.api import v2c

        self.cabinet = cabinet
        self.lock = lock
        self._v2c = v2c
        instances: dict[tuple[int, ...], _Instance] = {}
        phases = sorted(cabinet.db.phases)
        for obj in oids.ALL_OBJECTS:
            if not obj.index:
                rows: list[tuple[int, ...]] = [()]
            elif obj.index == ("phaseNumber",):
                rows = [(p,) for p in phases]
            elif obj.index[0].startswith("phase"):  # status and control groups
                rows = [(g,) for g in range(1, cabinet.groups + 1)]
            elif obj.index in (("preemptNumber",), ("preemptControlNumber",)):
                rows = [(n,) for n in range(1, PREEMPTS + 1)]
            elif obj.index == ("patternNumber",):
                rows = [(n,) for n in range(1, MAX_PATTERNS + 1)]
            else:
                rows = [(s, p) for s in range(1, MAX_SPLITS + 1) for p in phases]
            for row in rows:
                instances[obj.instance(*row)] = _Instance(obj.name, row)
        self._instances = instances
        self._sorted = sorted(instances)

    # --- pysnmp entry points ----------------------------------------------------------------
    def read_variables(self, *var_binds: Any, **context: Any) -> list[tuple[Any, Any]]:
        out = []
        with self.lock:
            for name, value in var_binds:
                oid = tuple(name)
                if _denied(context, "read", name, value):
                    out.append((name, self._v2c.NoSuchObject("")))
                    continue
                out.append((name, self._value(oid)))
        return out

    def read_next_variables(self, *var_binds: Any, **context: Any) -> list[tuple[Any, Any]]:
        out = []
        with self.lock:
            for name, value in var_binds:
                k = bisect.bisect_right(self._sorted, tuple(name))
                if k >= len(self._sorted) or _denied(context, "read", name, value):
                    out.append((name, self._v2c.EndOfMibView("")))
                    continue
                oid = self._sorted[k]
                out.append((self._v2c.ObjectIdentifier(oid), self._value(oid)))
        return out

    def write_variables(self, *var_binds: Any, **context: Any) -> list[tuple[Any, Any]]:
        from pysnmp.smi import error as smi_error

        errors = {
            "wrongValue": smi_error.WrongValueError,
            "notWritable": smi_error.NotWritableError,
            "noSuchName": smi_error.NoCreationError,
            "inconsistentValue": smi_error.InconsistentValueError,
        }
        checked = []
        with self.lock:
            for idx, (name, value) in enumerate(var_binds):
                oid = tuple(name)
                if _denied(context, "write", name, value):
                    raise smi_error.NoAccessError(name=name, idx=idx)
                inst = self._instances.get(oid)
                if inst is None:
                    raise smi_error.NoCreationError(name=name, idx=idx)
                if not isinstance(value, self._v2c.Integer):
                    raise smi_error.WrongTypeError(name=name, idx=idx)
                try:
                    self.cabinet.check_write(inst.name, inst.index, int(value))
                except SetRefused as exc:
                    log.info("SET refused: %s", exc)
                    raise errors.get(exc.error_status, smi_error.GenError)(name=name, idx=idx) from None
                checked.append((inst, int(value)))
            for inst, number in checked:  # all checked: apply in order
                self.cabinet.write(inst.name, inst.index, number)
        return [(name, value) for name, value in var_binds]

    def _value(self, oid: tuple[int, ...]) -> Any:
        inst = self._instances.get(oid)
        if inst is None:
            known = oids.lookup(oid)
            prefix = any(oid[: len(o)] == o for o in oids.BY_OID)
            return self._v2c.NoSuchInstance("") if known or prefix else self._v2c.NoSuchObject("")
        try:
            value = self.cabinet.read(inst.name, inst.index)
        except SetRefused:
            return self._v2c.NoSuchInstance("")
        if isinstance(value, str):
            return self._v2c.OctetString(value)
        return self._v2c.Integer(int(value))


def _denied(context: Mapping[str, Any], view: str, name: Any, value: Any) -> bool:
    """Ask pysnmp's VACM whether this security name may read/write ``name``."""
    ac = context.get("acFun")
    return bool(ac(view, (name, value), **context)) if ac is not None else False


class NtcipAgent:
    """SNMP agents for cabinets, served from one background thread (module docstring)."""

    def __init__(
        self,
        cabinets: Mapping[str, Cabinet],
        host: str = "127.0.0.1",
        port: int = 161,
        community: str | None = "public",
        users: Sequence[SnmpUser] = (),
    ) -> None:
        if not cabinets:
            raise ControllerError("NtcipAgent: no cabinet to serve")
        self.cabinets = dict(cabinets)
        self.host = host
        self.community = community
        self.users = list(users)
        self.lock = threading.Lock()
        self._sockets: dict[str, socket.socket] = {}
        for k, tls in enumerate(self.cabinets):
            sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            try:
                sock.bind((host, port + k if port else 0))
            except OSError as exc:
                sock.close()
                self._close_sockets()
                raise ControllerError(f"cannot listen on {host}:{port + k if port else 0} for {tls}: {exc.strerror}") from None
            self._sockets[tls] = sock
        self.ports = {tls: s.getsockname()[1] for tls, s in self._sockets.items()}
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._engines: list[Any] = []
        self._ready = threading.Event()
        self._error: BaseException | None = None

    def start(self) -> NtcipAgent:
        """Serve in a daemon thread; returns once every port answers (or raises ControllerError)."""
        self._thread = threading.Thread(target=self._run, name="ntcip-agent", daemon=True)
        self._thread.start()
        if not self._ready.wait(START_TIMEOUT_S) or self._error is not None:
            self.stop()
            raise ControllerError(f"SNMP agent did not start: {self._error or 'timeout'}")
        return self

    def stop(self) -> None:
        """Stop serving and release the ports."""
        loop, thread = self._loop, self._thread
        if loop is not None and thread is not None and thread.is_alive():
            loop.call_soon_threadsafe(loop.stop)
            thread.join(START_TIMEOUT_S)
        self._close_sockets()

    def __enter__(self) -> NtcipAgent:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _close_sockets(self) -> None:
        for sock in self._sockets.values():
            sock.close()

    def _run(self) -> None:
        loop = asyncio.new_event_loop()
        asyncio.set_event_loop(loop)
        self._loop = loop
        try:
            for tls, cabinet in self.cabinets.items():
                self._engines.append(self._engine(cabinet, self._sockets[tls], loop))
            loop.run_until_complete(asyncio.sleep(0.05))  # let the endpoints open
        except Exception as exc:  # reported to start(), which raises ControllerError
            self._error = exc
            self._ready.set()
            return
        self._ready.set()
        try:
            loop.run_forever()
        finally:
            for engine in self._engines:
                dispatcher = engine.transport_dispatcher
                if dispatcher is not None:
                    dispatcher.close_dispatcher()
            pending = [t for t in asyncio.all_tasks(loop) if not t.done()]
            for task in pending:
                task.cancel()
            loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
            loop.close()

    def _engine(self, cabinet: Cabinet, sock: socket.socket, loop: asyncio.AbstractEventLoop) -> Any:
        from pysnmp.carrier.asyncio.dgram import udp
        from pysnmp.entity import config, engine
        from pysnmp.entity.rfc3413 import cmdrsp, context

        snmp = engine.SnmpEngine()
        config.add_transport(snmp, udp.DOMAIN_NAME, udp.UdpTransport(loop=loop).open_server_mode(sock=sock))
        if self.community is not None:
            config.add_v1_system(snmp, "phasewise-v2c", self.community)
            config.add_vacm_user(snmp, 2, "phasewise-v2c", "noAuthNoPriv", NTCIP_SUBTREE, NTCIP_SUBTREE)
        auth = {"SHA": config.USM_AUTH_HMAC96_SHA, "SHA256": config.USM_AUTH_HMAC192_SHA256,
                "SHA512": config.USM_AUTH_HMAC384_SHA512, "MD5": config.USM_AUTH_HMAC96_MD5}
        priv = {"AES": config.USM_PRIV_CFB128_AES, "AES192": config.USM_PRIV_CFB192_AES,
                "AES256": config.USM_PRIV_CFB256_AES, "DES": config.USM_PRIV_CBC56_DES}
        for user in self.users:
            config.add_v3_user(snmp, user.name, auth[user.auth], user.auth_key, priv[user.priv], user.priv_key)
            write = NTCIP_SUBTREE if user.access == "read-write" else NO_WRITE_SUBTREE
            config.add_vacm_user(snmp, 3, user.name, "authPriv", NTCIP_SUBTREE, write)
        ctx = context.SnmpContext(snmp)
        ctx.unregister_context_name(b"")
        ctx.register_context_name(b"", CabinetInstrumentation(cabinet, self.lock))
        for responder in (cmdrsp.GetCommandResponder, cmdrsp.NextCommandResponder,
                          cmdrsp.BulkCommandResponder, cmdrsp.SetCommandResponder):
            responder(snmp, ctx)
        return snmp

