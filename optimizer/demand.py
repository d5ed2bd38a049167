"""Demand: flow per movement (veh/h), the optimizer's input value type.

A :class:`DemandEstimate` maps ``tls id -> movement id -> flow`` where movement ids are the
model's (``"<approach edge>:<turn>"``). Adapters build it from other sources, each in its own
module: :mod:`optimizer.demand_routes` (a SUMO route file over a period) and
:mod:`optimizer.demand_counts` (the vision pipeline's 15-min counts). The plain demand file
read here is a CSV with one row per movement::

    tls,movement,flow_veh_h,std_veh_h
    J0,W_J0:through,1080,60
    J0,W_J0:left,150,

Movements not listed have zero demand. ``std_veh_h`` is optional.
"""

from __future__ import annotations

import csv
import math
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from optimizer.intersection import IntersectionModel
from phasewise_errors import ConfigError


@dataclass(frozen=True)
class DemandEstimate:
    """Flows in veh/h per tls and movement, with an optional standard deviation."""

    flows_veh_h: dict[str, dict[str, float]]
    std_veh_h: dict[str, dict[str, float]] = field(default_factory=dict)
    period_s: float = 3600.0
    source: str = ""

    def flow(self, tls_id: str, movement_id: str) -> float:
        return self.flows_veh_h.get(tls_id, {}).get(movement_id, 0.0)

    def of(self, tls_id: str) -> dict[str, float]:
        """Flows of one intersection (empty when it has no demand listed)."""
        return dict(self.flows_veh_h.get(tls_id, {}))

    def scaled(self, factor: float) -> DemandEstimate:
        return DemandEstimate(
            {t: {m: f * factor for m, f in flows.items()} for t, flows in self.flows_veh_h.items()},
            {t: {m: s * factor for m, s in stds.items()} for t, stds in self.std_veh_h.items()},
            self.period_s,
            self.source,
        )

    def check(self, models: dict[str, IntersectionModel]) -> None:
        """Raise ``ConfigError`` for an unknown tls or movement and negative/non-finite flows."""
        where = f"{self.source}: " if self.source else ""
        for tls_id, flows in self.flows_veh_h.items():
            if tls_id not in models:
                raise ConfigError(f"{where}demand for traffic light '{tls_id}', which the network does not have; known: {', '.join(list(models)[:10])}")
            known = {m.id for m in models[tls_id].movements}
            for movement_id, flow in flows.items():
                if movement_id not in known:
                    raise ConfigError(
                        f"{where}{tls_id}: demand for movement '{movement_id}', which does not exist; "
                        f"movements are {', '.join(sorted(known))}"
                    )
                if not math.isfinite(flow) or flow < 0:
                    raise ConfigError(f"{where}{tls_id} movement {movement_id}: flow {flow!r} veh/h must be a non-negative number")


# No movement carries more: six lanes at the highest saturation flow the optimizer accepts
# (2600 veh/h/lane) is 15 600 veh/h. A larger number is a typo or a unit error.
MAX_FLOW_VEH_H = 20_000.0
FLOW_LIMIT_WHY = " veh/h, more than any movement carries; check the unit"


def read_demand_csv(path: str | Path) -> DemandEstimate:
    """Read the plain demand CSV (see the module docstring). Bad rows raise ``ConfigError``
    naming the file, the line and the column: an empty cell, a number that is not finite,
    negative or above ``MAX_FLOW_VEH_H``, a movement listed twice, a file without rows."""
    file = Path(path)
    flows: dict[str, dict[str, float]] = {}
    stds: dict[str, dict[str, float]] = {}
    first_line: dict[tuple[str, str], int] = {}
    for line, row in csv_rows(file, "demand file", ("tls", "movement", "flow_veh_h"), "tls,movement,flow_veh_h[,std_veh_h]"):
        tls_id, movement_id = (row.get("tls") or "").strip(), (row.get("movement") or "").strip()
        if not tls_id or not movement_id:
            raise ConfigError(f"{file}:{line}: tls and movement must not be empty")
        if (tls_id, movement_id) in first_line:
            raise ConfigError(f"{file}:{line}: {tls_id} movement {movement_id} is listed twice (lines "
                              f"{first_line[tls_id, movement_id]} and {line}); give one row per movement")
        first_line[tls_id, movement_id] = line
        flows.setdefault(tls_id, {})[movement_id] = _number(file, line, tls_id, movement_id, "flow_veh_h",
                                                            row.get("flow_veh_h"), required=True)
        std = _number(file, line, tls_id, movement_id, "std_veh_h", row.get("std_veh_h"), required=False)
        if std:
            stds.setdefault(tls_id, {})[movement_id] = std
    if not flows:
        raise ConfigError(f"{file}: no rows after the header; give one row per movement (tls,movement,flow_veh_h)")
    return DemandEstimate(flows, stds, source=str(file))


def csv_rows(file: Path, what: str, required: tuple[str, ...], expected: str) -> Iterator[tuple[int, dict[str, str]]]:
    """``(line number, row)`` of a CSV with a header; ``ConfigError`` naming the file when it
    is missing, a folder, binary, not UTF-8, or lacks a ``required`` column (``expected``
    shows the full header)."""
    if file.is_dir():
        raise ConfigError(f"{file}: is a folder; give the {what} ({expected})")
    if not file.is_file():
        raise ConfigError(f"{file}: {what} not found")
    with file.open("rb") as raw:
        if b"\0" in raw.read(65536):
            raise ConfigError(f"{file}: a binary file, not a CSV; give the {what} ({expected})")
    # utf-8-sig: spreadsheet programs (Excel) start a CSV with a byte-order mark.
    with file.open(newline="", encoding="utf-8-sig") as handle:
        try:
            reader = csv.DictReader(handle)
            fields = [name.strip() for name in reader.fieldnames or ()]
            reader.fieldnames = fields  # " count" in a hand-edited header is "count"
            missing = set(required) - set(fields)
            if missing:
                raise ConfigError(f"{file}: missing column(s) {', '.join(sorted(missing))}; expected {expected}")
            duplicated = sorted({name for name in fields if fields.count(name) > 1})
            if duplicated:
                raise ConfigError(f"{file}: column(s) {', '.join(duplicated)} appear twice in the header")
            for line, row in enumerate(reader, start=2):
                if None in row:
                    raise ConfigError(f"{file}:{line}: more cells than the header has columns ({expected})")
                yield line, row
        except UnicodeDecodeError as exc:
            raise ConfigError(f"{file}: not UTF-8 text (byte {exc.start}); save the {what} as UTF-8 CSV") from None
        except csv.Error as exc:
            raise ConfigError(f"{file}: not a readable CSV ({exc})") from None


def _number(file: Path, line: int, tls_id: str, movement_id: str, column: str, raw: str | None, required: bool) -> float:
    text = (raw or "").strip()
    if not text:
        if required:
            raise ConfigError(f"{file}:{line}: {tls_id} movement {movement_id}: {column} is missing")
        return 0.0
    return non_negative_number(text, f"{file}:{line}: {tls_id} movement {movement_id}", column, MAX_FLOW_VEH_H,
                               FLOW_LIMIT_WHY)


def non_negative_number(raw: str | None, where: str, column: str, maximum: float = math.inf,
                        why: str = "") -> float:
    """A CSV cell that must hold a finite number in [0, ``maximum``]; else one error naming
    ``where`` and ``column`` (``why`` says why the maximum)."""
    text = (raw or "").strip()
    try:
        value = float(text)
    except ValueError:
        raise ConfigError(f"{where}: {column} {text!r} is not a number") from None
    if not math.isfinite(value) or value < 0:
        raise ConfigError(f"{where}: {column} {text} must be a non-negative number")
    if value > maximum:
        raise ConfigError(f"{where}: {column} {text} is above {maximum:g}{why}")
    return value
