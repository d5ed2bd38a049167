"""The dashboard and HTTP API of phasewise (``phasewise run`` live, ``phasewise serve`` offline).

* ``api.py``: the FastAPI app (``create_app``): state, middlewares, routers;
* ``routers/``: the routes, one module per resource, and the roles they need;
* ``deps.py``: what routes depend on: the site, the authenticator, the caller by role;
* ``auth.py``: roles, hashed tokens, sessions, login rate limiting, the published demo tokens;
* ``audit.py``: the append-only audit log of state-changing calls;
* ``middleware.py``: the audit trail and security headers around every request;
* ``body_limit.py``: 413 for a request body over the limit, before it is read;
* ``errors.py``: refusals that never echo the request's input;
* ``results.py``: a results folder (replay, optimize, a daemon's state dir) as a site;
* ``server.py``: uvicorn in a thread, X-Forwarded-For from trusted proxies only;
* ``static/``: the page (plain HTML, JS and CSS; no build step, nothing from the network).

The live data and the operator actions come from the daemon's read interface and command
queue, ``daemon.view``.
"""
