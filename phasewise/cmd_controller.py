"""``phasewise controller ...``: talk to (or emulate) a real signal controller.

The group is defined here; each command registers on ``controller_app`` from its own module.
"""

from __future__ import annotations

import typer

from phasewise.app import app

controller_app = typer.Typer(help="Signal controllers: NTCIP 1202 status, emulation.", no_args_is_help=True)
app.add_typer(controller_app, name="controller")
