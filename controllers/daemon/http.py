"""The operations endpoints: ``/healthz`` (alive), ``/readyz`` (cameras and controller OK),
``/metrics`` (Prometheus). Stdlib ``http.server`` in a daemon thread; read-only.

``alive()`` and ``ready()`` are callables of the daemon returning ``(ok, reason)``.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from controllers.daemon.metrics import Metrics

log = logging.getLogger(__name__)

Probe = Callable[[], tuple[bool, str]]


class OpsServer:
    """Serve the three endpoints on ``host:port`` (port 0: any free port, see :attr:`port`)."""

    def __init__(self, host: str, port: int, metrics: Metrics, alive: Probe, ready: Probe) -> None:
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 (http.server's name)
                path = self.path.split("?", 1)[0]
                if path == "/metrics":
                    self._send(200, server.metrics.render(), "text/plain; version=0.0.4")
                elif path in ("/healthz", "/readyz"):
                    ok, reason = (server.alive if path == "/healthz" else server.ready)()
                    self._send(200 if ok else 503, json.dumps({"ok": ok, "reason": reason}) + "\n", "application/json")
                else:
                    self._send(404, "not found: /healthz /readyz /metrics\n", "text/plain")

            def _send(self, code: int, body: str, kind: str) -> None:
                data = body.encode()
                self.send_response(code)
                self.send_header("Content-Type", kind)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, format: str, *args: object) -> None:  # noqa: A002
                pass  # probes every few seconds would flood the log

        self.metrics, self.alive, self.ready = metrics, alive, ready
        self._httpd = ThreadingHTTPServer((host, port), Handler)
        self._httpd.daemon_threads = True
        self.port = int(self._httpd.server_address[1])
        self._thread = threading.Thread(target=self._httpd.serve_forever, name="ops-http", daemon=True)

    def start(self) -> OpsServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(2.0)
