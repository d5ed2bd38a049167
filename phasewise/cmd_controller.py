"""``phasewise controller ...``: talk to (or emulate) a real signal controller.

The group is defined here; each command registers on ``controller_app`` from its own module.
``phasewise controller status`` (here) is the engineer's one-shot read at the cabinet:

    phasewise controller status --host 10.0.0.21 --user phasewise \
        --auth-key-env PHASEWISE_SNMP_AUTH_KEY --priv-key-env PHASEWISE_SNMP_PRIV_KEY [--json]
"""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Optional

import typer

from phasewise.app import app
from phasewise.options import finite
from phasewise_errors import ConfigError

controller_app = typer.Typer(help="Signal controllers: NTCIP 1202 status, emulation.", no_args_is_help=True)
app.add_typer(controller_app, name="controller")

if TYPE_CHECKING:
    from controllers.ntcip.client import SnmpClient
    from controllers.ntcip.snapshot import ControllerSnapshot

# NTCIP 1202 numbers phases 1..255, eight to a group: at most 32 groups (maxPhaseGroups).
MAX_PHASE_GROUPS = 32
# pysnmp counts a timeout in hundredths of a second; three attempts of at most 15 s and the
# pauses between them end within the client's 60 s guard (controllers.ntcip.client.GUARD_S).
TIMEOUT_MIN_S, TIMEOUT_MAX_S = 0.01, 15.0


@controller_app.command("status")
def status(
    host: Annotated[str, typer.Option(help="Controller address (IP or name).")],
    port: Annotated[int, typer.Option(min=1, max=65535, help="SNMP port (UDP, 1-65535).")] = 161,
    community: Annotated[Optional[str], typer.Option(help="SNMPv2c community (prefer --community-env).")] = None,
    community_env: Annotated[Optional[str], typer.Option(help="Environment variable holding the v2c community.")] = None,
    user: Annotated[Optional[str], typer.Option(help="SNMPv3 user (authPriv).")] = None,
    auth_key_env: Annotated[Optional[str], typer.Option(help="Environment variable holding the v3 auth key.")] = None,
    priv_key_env: Annotated[Optional[str], typer.Option(help="Environment variable holding the v3 privacy key.")] = None,
    auth_key_file: Annotated[Optional[Path], typer.Option(help="File whose first line is the v3 auth key.")] = None,
    priv_key_file: Annotated[Optional[Path], typer.Option(help="File whose first line is the v3 privacy key.")] = None,
    auth_protocol: Annotated[str, typer.Option(help="SHA, SHA224, SHA256, SHA384 or SHA512.")] = "SHA",
    priv_protocol: Annotated[str, typer.Option(help="AES, AES192 or AES256.")] = "AES",
    context: Annotated[str, typer.Option(help="SNMPv3 context name (empty for NTCIP controllers).")] = "",
    groups: Annotated[int, typer.Option(min=1, max=MAX_PHASE_GROUPS,
                                        help="8-phase groups to read (2 for 16 phases; 1-32).")] = 1,
    timeout_s: Annotated[float, typer.Option("--timeout", min=TIMEOUT_MIN_S, max=TIMEOUT_MAX_S, callback=finite,
                                             help="Seconds per attempt (3 attempts; 0.01-15).")] = 1.0,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")] = False,
) -> None:
    """Read a controller's signal state, control mode, pattern and phase control bits (NTCIP 1202)."""
    from pydantic import SecretStr, ValidationError

    from controllers.ntcip.client import RetryPolicy, SnmpClient
    from controllers.ntcip.credentials import CredentialsConfig, V2cCredentials

    if not host.strip():
        raise ConfigError("--host '': give the controller's address (IP or name)")
    if community is not None:
        if user is not None:
            raise ConfigError("give --community or --user, not both")
        credentials = V2cCredentials(community=SecretStr(community))
    else:
        try:
            config = CredentialsConfig(
                user=user, auth_key_env=auth_key_env, auth_key_file=auth_key_file, priv_key_env=priv_key_env,
                priv_key_file=priv_key_file, auth_protocol=auth_protocol, priv_protocol=priv_protocol,  # type: ignore[arg-type]
                context_name=context, community_env=community_env,
            )
        except ValidationError as exc:
            problems = "; ".join(f"{'.'.join(map(str, e['loc'])) or 'options'}: {e['msg']}" for e in exc.errors())
            raise ConfigError(f"SNMP credentials: {problems} (see --help)") from None
        credentials = config.resolve()
    client = SnmpClient(host, port, credentials, RetryPolicy(timeout_s=timeout_s))
    try:
        snapshot = _read(client, groups)
    finally:
        client.close()
    if as_json:
        typer.echo(json.dumps(asdict(snapshot), indent=2))
    else:
        _print_snapshot(snapshot)


def _read(client: SnmpClient, groups: int) -> ControllerSnapshot:
    """``read_snapshot``; a refusal of more phase groups than the controller has names ``--groups``."""
    from controllers.ntcip import oids
    from controllers.ntcip.client import RequestRefused
    from controllers.ntcip.snapshot import read_snapshot

    try:
        return read_snapshot(client, groups)
    except RequestRefused:
        if groups == 1:
            raise
        try:
            offered = int(client.get([oids.MAX_PHASE_GROUPS.instance()])[oids.MAX_PHASE_GROUPS.instance()])
        except RequestRefused:
            raise ConfigError(f"--groups {groups}: {client.address} refused phase group {groups}'s signal states "
                              "(fix: fewer --groups)") from None
        if groups > offered:
            raise ConfigError(f"--groups {groups}: {client.address} has {offered} phase group(s) (maxPhaseGroups); "
                              f"give --groups {offered} or fewer") from None
        raise


def _print_snapshot(snapshot: ControllerSnapshot) -> None:
    from rich.console import Console
    from rich.table import Table

    def phases(value: tuple[int, ...] | None) -> str:
        if value is None:
            return "(not offered)"
        return " ".join(str(p) for p in value) or "-"

    table = Table(title=f"controller {snapshot.address}", show_header=False)
    table.add_column("object", style="bold")
    table.add_column("value")
    pattern = {0: "0 (none)", 254: "254 (free)", 255: "255 (flash)"}
    rows = [
        ("mode", snapshot.mode),
        ("unitControlStatus", snapshot.unit_control_status),
        ("unitFlashStatus", snapshot.unit_flash_status),
        ("coordPatternStatus", pattern.get(snapshot.coord_pattern_status, str(snapshot.coord_pattern_status))),
        ("localFreeStatus", snapshot.local_free_status or "(not offered)"),
        ("systemPatternControl", "(not offered)" if snapshot.system_pattern_control is None
         else {0: "0 (standby)", 254: "254 (free)", 255: "255 (flash)"}.get(snapshot.system_pattern_control,
                                                                            str(snapshot.system_pattern_control))),
        ("unitBackupTime", "(not offered)" if snapshot.unit_backup_time_s is None else f"{snapshot.unit_backup_time_s} s"),
        ("green", phases(snapshot.greens)),
        ("yellow", phases(snapshot.yellows)),
        ("red", phases(snapshot.reds)),
        ("hold", phases(snapshot.hold)),
        ("force-off", phases(snapshot.force_off)),
        ("vehicle call", phases(snapshot.veh_call)),
        ("phase omit", phases(snapshot.phase_omit)),
    ]
    for name, value in rows:
        table.add_row(name, value)
    Console().print(table)
