"""A controller's preempt inputs over NTCIP 1202: ``preemptState`` of the preempts a site wires.

:func:`read_preempts` asks one controller for the ``preemptState`` of some of its preempts in
one GET (the client checks every varbind: ``noSuchInstance`` or another OID is a failure) and
decodes each value against the MIB's enumeration (:class:`~controllers.ntcip.oids.PreemptState`);
a value outside it is a :class:`~controllers.ntcip.client.RequestRefused`, never a guess.
:func:`calling` says whether a state means a vehicle calls (``notActiveWithCall`` through
``linkActive``): ``exitStarted`` ends the call, and ``maxPresence`` (an input on past its
maximum presence: a stuck input or a failed receiver) is no call.

Example::

    client = SnmpClient("10.0.0.21", 161, credentials)
    read_preempts(client, [1, 2])    # {1: PreemptState.NOT_ACTIVE, 2: PreemptState.DWELL}
"""

from __future__ import annotations

from collections.abc import Sequence

from controllers.ntcip import oids
from controllers.ntcip.client import RequestRefused, SnmpClient
from controllers.ntcip.oids import PreemptState


def read_preempts(client: SnmpClient, preempts: Sequence[int]) -> dict[int, PreemptState]:
    """``preemptState`` of each of ``preempts`` (numbers from 1); raises ``ControllerError``."""
    instances = {n: oids.PREEMPT_STATE.instance(n) for n in preempts}
    values = client.get(list(instances.values()))
    states: dict[int, PreemptState] = {}
    for n, oid in instances.items():
        value = values.get(oid)
        try:
            states[n] = PreemptState(oids.PREEMPT_STATE.check(value))  # type: ignore[arg-type]
        except ValueError as exc:
            raise RequestRefused(f"{client.address}: preemptState.{n}: {exc}") from None
    return states


def calling(state: PreemptState) -> bool:
    """A vehicle calls the preempt (module docstring)."""
    return state in oids.PREEMPT_CALLING
