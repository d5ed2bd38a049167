"""NTCIP 1202 (actuated signal controller) over SNMP: both ends of the wire.

Manager side (talks to a real cabinet): ``oids`` (the object table), ``credentials`` (v3
authPriv / v2c secrets by env or file), ``client`` (a small SNMP manager), ``pattern`` (a
timing plan as pattern + split rows), ``backend``
(:class:`~controllers.ntcip.backend.NtcipBackend`, a ``SignalBackend``), ``config`` (the
site YAML that builds it), ``snapshot`` (the one-shot read behind ``phasewise controller
status``). Controller side (an emulated cabinet for tests and demos): ``nema`` (model phase
<-> NEMA phase, rings, barriers), ``cabinet`` (NEMA timing and the NTCIP database), ``monitor``
(the MMU), ``agent`` (the SNMP agent, one port per cabinet), ``emulator`` (cabinets shown in a
running SUMO simulation: ``phasewise controller emulate``). ``controllers.safety`` guards any
backend.

Import-light on purpose: nothing here imports pysnmp until a submodule that needs it is used.
"""
