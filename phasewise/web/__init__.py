"""The dashboard and HTTP API of phasewise (``phasewise run`` live, ``phasewise serve`` offline).

* ``api.py``: the FastAPI app, its routes and the roles they need;
* ``auth.py``: roles, hashed tokens, sessions, login rate limiting;
* ``audit.py``: the append-only audit log of state-changing calls;
* ``results.py``: a results folder (replay, optimize, a daemon's state dir) as a site;
* ``server.py``: uvicorn in a thread;
* ``static/``: the page (plain HTML, JS and CSS; no build step, nothing from the network).

The live data and the operator actions come from the daemon's read interface and command
queue, ``daemon.view``.
"""
