"""The dashboard's web server: uvicorn in a daemon thread, on a socket bound at construction.

Binding in the constructor lets ``phasewise run`` write the actual port (``http.port 0``: any
free port) before the loop starts, and fails early, as a config error, when the address is
taken. ``stop()`` returns within a few seconds even with event streams open.

The client address the app sees (audit log, failed-login limit) is the TCP peer's.
``X-Forwarded-For`` replaces it only on a connection from one of ``trusted_proxies`` (the
reverse proxy in front, e.g. ``["127.0.0.1"]`` for ``deploy/``'s nginx); with none, the
default, the header is ignored: otherwise any local client could name itself anew for each
login guess. uvicorn's own default would trust it from 127.0.0.1.

    server = WebServer(app, "127.0.0.1", 8790).start()
    server.port        # 8790
    server.stop()
"""

from __future__ import annotations

import asyncio
import logging
import socket
import threading
from collections.abc import Sequence

import uvicorn
from fastapi import FastAPI

log = logging.getLogger(__name__)

GRACEFUL_STOP_S = 1.0  # open event streams are cut after this


class WebServer:
    def __init__(self, app: FastAPI, host: str, port: int, trusted_proxies: Sequence[str] = ()) -> None:
        self.app = app
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        self._socket = socket.socket(family, socket.SOCK_STREAM)
        self._socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            self._socket.bind((host, port))
        except OSError:
            self._socket.close()
            raise
        self._socket.listen(128)
        self.host, self.port = host, int(self._socket.getsockname()[1])
        trusted = [proxy.strip() for proxy in trusted_proxies]
        config = uvicorn.Config(app, log_level="warning", access_log=False, lifespan="off",
                                timeout_graceful_shutdown=GRACEFUL_STOP_S, ws="none",
                                proxy_headers=bool(trusted), forwarded_allow_ips=trusted)
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._serve, name="web", daemon=True)

    def _serve(self) -> None:
        asyncio.run(self._server.serve(sockets=[self._socket]))

    def start(self) -> WebServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.should_exit = True
        self._thread.join(GRACEFUL_STOP_S + 2.0)
        self._socket.close()
