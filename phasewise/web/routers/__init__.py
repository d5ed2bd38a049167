"""The dashboard/API's routes, one router per resource (``phasewise.web.api`` assembles them):

* ``snapshot.py``: the site as it is (snapshot, intersections, cameras and their images,
  counts and their export, gate decisions, health) and its live event stream;
* ``plans.py``: plans, their time-space diagrams, proposals, checks and applying one;
* ``control.py``: handing control back to the controllers' own schedule and taking it again;
* ``alarms.py``: alarms and their acknowledgement;
* ``audit.py``: the audit log;
* ``page.py``: the page, login and logout, the session;
* ``ops.py``: ``/metrics``, ``/healthz``, ``/readyz`` (the daemon only, no token).

Each route names the role it needs with ``phasewise.web.deps``'s ``Viewer``, ``Engineer``
or ``Operator``.
"""
