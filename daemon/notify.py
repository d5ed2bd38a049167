"""systemd notification (``Type=notify``): READY, WATCHDOG, STOPPING, STATUS, no dependency.

sd_notify is one datagram to the unix socket named by ``$NOTIFY_SOCKET`` (a leading ``@`` is
the abstract namespace). Without the variable (not under systemd) every call does nothing.
``$WATCHDOG_USEC`` is the unit's ``WatchdogSec``; :meth:`Notifier.watchdog` pings at most every
half of it, and only the tactical loop calls it, so a stuck loop gets the process restarted.
"""

from __future__ import annotations

import logging
import os
import socket
import time

log = logging.getLogger(__name__)


class Notifier:
    def __init__(self, environ: dict[str, str] | None = None) -> None:
        env = os.environ if environ is None else environ
        address = env.get("NOTIFY_SOCKET", "")
        self.address = "\0" + address[1:] if address.startswith("@") else address
        usec = env.get("WATCHDOG_USEC", "")
        self.watchdog_interval_s = int(usec) / 2e6 if usec.isdigit() and int(usec) > 0 else 0.0
        self._last_ping = float("-inf")

    def send(self, message: str) -> None:
        if not self.address:
            return
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
                sock.sendto(message.encode(), self.address)
        except OSError as exc:  # systemd gone: nothing to tell, but say so once per call
            log.warning("sd_notify %r failed: %s", message.split("\n")[0], exc)

    def ready(self, status: str = "") -> None:
        self.send("READY=1" + (f"\nSTATUS={status}" if status else ""))

    def stopping(self) -> None:
        self.send("STOPPING=1")

    def reloading(self) -> None:
        self.send("RELOADING=1")

    def watchdog(self) -> None:
        if not self.watchdog_interval_s:
            return
        now = time.monotonic()
        if now - self._last_ping >= self.watchdog_interval_s:
            self._last_ping = now
            self.send("WATCHDOG=1")
