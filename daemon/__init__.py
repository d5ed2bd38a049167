"""The headless daemon at the intersection (``phasewise run``): one process per site.

Each second (the tactical loop, :mod:`daemon.loop`)::

    frames = cameras.read(now_s)                 # cameras.py: streams, health, stale/implausible -> outage frames
    status = backend.status()                    # SafeBackend(NtcipBackend | SUMO), unreachable -> mode "unknown"
    commands = policy.step(now_s, 1.0, frames, status)
    dispatch(backend, commands)
    strategic.poll() / strategic.submit(policy.replan_due)   # strategic.py: optimizer + gate in a worker
    store.record(...)                            # store.py: SQLite WAL, 15-min count CSVs, decisions JSONL

Around it: the fallbacks (in ``loop.py``: one camera out -> plan greens on its approach, all
out -> control handed back to the controller's own schedule until detection is stable
again, controller unreachable -> retried with backoff, steps failing -> fail safe),
Prometheus metrics (``prometheus.py``), what the dashboard reads and may ask (the value types
in ``snapshot.py``, the daemon's side in ``view.py``; the HTTP server with ``/healthz``,
``/readyz``, ``/metrics`` and the API is ``phasewise/web``), systemd notification
(``notify.py``), the clock (``clock.py``) and the software-in-the-loop world
(``sil_world.py``: SUMO + emulated NTCIP cabinets on loopback + virtual cameras).

Nothing here imports the ``phasewise`` application: ``phasewise/cmd_run.py`` reads the config
(``phasewise/config.py``) and wires these parts.
"""
