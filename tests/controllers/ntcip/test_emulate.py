"""``phasewise controller emulate`` end to end: a SUMO-backed cabinet answers SNMP, Ctrl-C exits 130."""

from __future__ import annotations

import asyncio
import os
import selectors
import signal
import subprocess
import sys
import time
from pathlib import Path

from pysnmp.hlapi.v3arch import asyncio as hl

from controllers.ntcip import oids

START_TIMEOUT_S = 60.0


def snmp_get(port: int, *objects: tuple[oids.MibObject, tuple[int, ...]]) -> list[int]:
    async def go() -> list[int]:
        engine = hl.SnmpEngine()
        target = await hl.UdpTransportTarget.create(("127.0.0.1", port), timeout=3, retries=2)
        vbs = [hl.ObjectType(hl.ObjectIdentity(o.instance(*i))) for o, i in objects]
        err_ind, err_status, _, got = await hl.get_cmd(engine, hl.CommunityData("public", mpModel=1), target, hl.ContextData(), *vbs)
        engine.close_dispatcher()
        assert err_ind is None and not err_status, (err_ind, err_status)
        return [int(v) for _, v in got]

    return asyncio.run(go())


def test_emulate_serves_snmp_and_exits_130_on_ctrl_c(shared_scenarios: Path) -> None:
    cfg = shared_scenarios / "cologne1" / "cologne1.sumocfg"
    cmd = [sys.executable, "-m", "phasewise.cli", "controller", "emulate", "--sumocfg", str(cfg),
           "--port", "0", "--speed", "0", "--end", "800000"]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            cwd=Path(__file__).resolve().parents[3], env={**os.environ, "PYTHONUNBUFFERED": "1"})
    try:
        sel = selectors.DefaultSelector()
        sel.register(proc.stdout, selectors.EVENT_READ)  # type: ignore[arg-type]
        line, deadline = "", time.monotonic() + START_TIMEOUT_S
        while not line.startswith("listening") and time.monotonic() < deadline:
            if sel.select(timeout=1.0):
                line = proc.stdout.readline()  # type: ignore[union-attr]
                assert line or proc.poll() is None, proc.stderr.read()  # type: ignore[union-attr]
        assert line.startswith("listening GS_cluster_357187_359543 udp 127.0.0.1:"), line
        port = int(line.split(":")[1].split()[0])
        greens, reds, pattern, control = snmp_get(
            port, (oids.GREENS, (1,)), (oids.REDS, (1,)), (oids.COORD_PATTERN_STATUS, ()), (oids.UNIT_CONTROL_STATUS, ()))
        assert greens & reds == 0 and greens | reds <= 0b1111
        assert pattern == 1 and control == oids.UnitControlStatus.TIMEBASE  # the network's own program
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=30)
        assert proc.returncode == 130, err
        assert "interrupted" in err
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
