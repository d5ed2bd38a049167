"""phasewise application: the CLI, configuration schemas and the wiring between stages."""

__version__ = "0.1.0"
