"""NTCIP 1202 (actuated signal controller) over SNMP: both ends of the wire.

Manager side (talks to a real cabinet): ``oids`` (the object table), ``client`` (a small
SNMP manager), ``backend`` (:class:`~controllers.ntcip.backend.NtcipBackend`, a
``SignalBackend``). Controller side (an emulated cabinet for tests and demos): ``nema``
(model phase <-> NEMA phase, rings, barriers), ``cabinet``, ``agent``.

Import-light on purpose: nothing here imports pysnmp until a submodule that needs it is used.
"""
