"""High-resolution signal event logs (Indiana enumerations) and the ATSPM measures read from them.

* :mod:`controllers.hires.enumerations`: the Indiana event codes we write;
* :mod:`controllers.hires.nema_numbers`: NEMA phase numbers for the movements of an intersection model;
* :mod:`controllers.hires.recorder`: signal states and detector actuations in, events out (pure);
* :mod:`controllers.hires.sumo_truth`: the recorder as an observer of a SUMO run (virtual detectors);
* :mod:`controllers.hires.files`: ``events.csv``, ``devices.csv``, ``detectors.csv`` written and checked;
* :mod:`controllers.hires.measures` and :mod:`controllers.hires.charts`: performance measures by the ``atspm``
  package, Purdue coordination diagrams and split-failure charts.
"""
