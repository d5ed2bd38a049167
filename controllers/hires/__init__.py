"""High-resolution signal event logs (Indiana enumerations) and the ATSPM measures read from them.

* :mod:`hires.enumerations`: the Indiana event codes we write;
* :mod:`hires.nema_numbers`: NEMA phase numbers for the movements of an intersection model;
* :mod:`hires.recorder`: signal states and detector actuations in, events out (pure);
* :mod:`hires.sumo_truth`: the recorder as an observer of a SUMO run (virtual detectors);
* :mod:`hires.files`: ``events.csv``, ``devices.csv``, ``detectors.csv`` written and checked;
* :mod:`hires.measures` and :mod:`hires.charts`: performance measures by the ``atspm``
  package, Purdue coordination diagrams and split-failure charts.
"""
