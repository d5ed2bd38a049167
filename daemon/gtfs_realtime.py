"""Buses of a GTFS-realtime feed as transit priority calls, matched to approaches by geometry.

Each poll (on its own thread, :class:`daemon.field_priority.PolledSource`) fetches the feed's
VehiclePositions, and its TripUpdates when the site gives them (:func:`fetch_feed`: one
deadline for the whole answer, a size cap, the protobuf parsed by ``gtfs-realtime-bindings``;
anything else is a :class:`FeedError`). :func:`bus_calls` then turns positions into calls:

* a bus calls on an approach (its stop line at ``lat``/``lon``, traffic moving toward it on
  ``bearing_deg``) when it is within ``range_m`` of the stop line, upstream of it (the
  direction from the bus to the stop line is within ``heading_tolerance_deg`` of the
  approach's bearing; within ``NEAR_M`` of the line that direction says nothing and is not
  asked) and, when the feed gives its heading, heading in (the same tolerance). A bus calls
  once, at the nearest approach it matches: the next signal it reaches;
* its ETA is distance over its reported speed, or ``nominal_speed_m_s`` when the feed gives
  none or it is (nearly) stopped;
* positions older than ``max_age_s`` (the vehicle's time stamp, else the feed's) are ignored,
  and with ``routes`` only those route_ids call;
* **late buses first**: with TripUpdates, a bus's delay is its trip's ``delay`` (else that of
  its next stop time update, arrival before departure), matched by trip_id, else by vehicle
  id; per intersection only the latest bus calls (then the nearest), as the policy serves one
  bus per intersection at a time (``controllers.priority.TransitPriority``: at most
  ``transit_max_s`` per grant, not in two cycles in a row per approach). With ``min_delay_s``
  a bus less late than that (or of unknown delay) does not call.

Distances and bearings are on the WGS84 sphere (haversine, mean radius), exact to well under
a metre at these ranges.

Example::

    positions = fetch_feed("https://agency.example/gtfs-rt/vehicle-positions.pb", timeout_s=3)
    bus_calls(positions, {}, approaches, BusMatch(), now_wall_s=time.time())
    # [FieldCall("gtfs-bus-7-J0", "J0", "W_J0", "bus", 212.0, "gtfs-realtime", eta_s=26.5, ...)]
"""

from __future__ import annotations

import logging
import math
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from daemon.field_priority import FieldCall, PolledSource
from daemon.prometheus import Metrics
from phasewise_errors import PhasewiseError

log = logging.getLogger(__name__)

EARTH_RADIUS_M = 6371008.8  # mean radius (IUGG)
NEAR_M = 15.0  # closer than this to the stop line, the direction to it is noise: only the heading is asked
MIN_SPEED_M_S = 1.0  # a reported speed below this (a bus at a stop) gives no ETA: the nominal speed does
MAX_FEED_BYTES = 20_000_000  # a VehiclePositions feed of a large city is a few MB
BY = "gtfs-realtime"


class FeedError(PhasewiseError):
    """The feed could not be fetched or parsed (down, slow, too big, not a FeedMessage)."""


@dataclass(frozen=True)
class Approach:
    """Where buses reach an approach (``phasewise.config.ApproachPoint``)."""

    tls: str
    approach: str
    lat: float
    lon: float
    bearing_deg: float
    range_m: float


@dataclass(frozen=True)
class BusMatch:
    """How positions become calls (module docstring)."""

    heading_tolerance_deg: float = 45.0
    nominal_speed_m_s: float = 8.0
    max_age_s: float = 120.0
    min_delay_s: float | None = None
    routes: frozenset[str] = field(default_factory=frozenset)


def distance_bearing(lat1: float, lon1: float, lat2: float, lon2: float) -> tuple[float, float]:
    """Great-circle distance (m) and initial bearing (degrees from north) from point 1 to point 2."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    distance = 2 * EARTH_RADIUS_M * math.asin(min(1.0, math.sqrt(a)))
    y = math.sin(dl) * math.cos(p2)
    x = math.cos(p1) * math.sin(p2) - math.sin(p1) * math.cos(p2) * math.cos(dl)
    return distance, math.degrees(math.atan2(y, x)) % 360.0


def angle_off(a_deg: float, b_deg: float) -> float:
    """How far two bearings are apart (0..180 degrees)."""
    return abs((a_deg - b_deg + 180.0) % 360.0 - 180.0)


def fetch_feed(url: str, timeout_s: float, max_bytes: int = MAX_FEED_BYTES) -> Any:
    """The ``FeedMessage`` at ``url``, read within ``timeout_s`` in all; raises :class:`FeedError`."""
    from google.protobuf.message import DecodeError
    from google.transit import gtfs_realtime_pb2

    deadline = time.monotonic() + timeout_s
    try:
        with urllib.request.urlopen(url, timeout=timeout_s) as answer:
            chunks, size = [], 0
            while True:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise FeedError(f"{url}: no complete answer within {timeout_s:g} s")
                chunk = answer.read(65536)
                if not chunk:
                    break
                size += len(chunk)
                if size > max_bytes:
                    raise FeedError(f"{url}: answer larger than {max_bytes} bytes")
                chunks.append(chunk)
    except urllib.error.HTTPError as exc:
        raise FeedError(f"{url}: HTTP {exc.code} {exc.reason}") from None
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise FeedError(f"{url}: {reason or type(exc).__name__}") from None
    feed = gtfs_realtime_pb2.FeedMessage()
    try:
        feed.ParseFromString(b"".join(chunks))
    except (DecodeError, ValueError) as exc:
        raise FeedError(f"{url}: not a GTFS-realtime FeedMessage ({exc})") from None
    if not feed.HasField("header"):
        raise FeedError(f"{url}: not a GTFS-realtime FeedMessage (no header)")
    return feed


def trip_delays(trip_updates: Any) -> dict[str, float]:
    """Delay (s, late > 0) per ``trip:<trip_id>`` and ``vehicle:<vehicle id>`` of a TripUpdates feed."""
    delays: dict[str, float] = {}
    for entity in trip_updates.entity:
        if not entity.HasField("trip_update"):
            continue
        update = entity.trip_update
        delay: float | None = float(update.delay) if update.HasField("delay") else None
        if delay is None:
            for stop in update.stop_time_update:
                event = stop.arrival if stop.HasField("arrival") and stop.arrival.HasField("delay") else stop.departure
                if event.HasField("delay"):
                    delay = float(event.delay)
                    break
        if delay is None:
            continue
        if update.trip.trip_id:
            delays[f"trip:{update.trip.trip_id}"] = delay
        if update.HasField("vehicle") and update.vehicle.id:
            delays[f"vehicle:{update.vehicle.id}"] = delay
    return delays


def bus_calls(positions: Any, delays: Mapping[str, float], approaches: Sequence[Approach], match: BusMatch,
              now_wall_s: float) -> list[FieldCall]:
    """The buses of ``positions`` that call, one per intersection, late ones first (module docstring)."""
    feed_time = positions.header.timestamp if positions.header.HasField("timestamp") else None
    candidates: list[tuple[float, float, FieldCall]] = []  # (-delay, distance, call)
    for entity in positions.entity:
        if not entity.HasField("vehicle") or not entity.vehicle.HasField("position"):
            continue
        vehicle = entity.vehicle
        stamp = vehicle.timestamp if vehicle.HasField("timestamp") else feed_time
        if stamp is not None and now_wall_s - stamp > match.max_age_s:
            continue
        if match.routes and vehicle.trip.route_id not in match.routes:
            continue
        position = vehicle.position
        if not (abs(position.latitude) <= 90 and abs(position.longitude) <= 180):
            continue  # not a position (NaN or out of range): a feed's error, not a bus
        heading = position.bearing if position.HasField("bearing") and math.isfinite(position.bearing) else None
        best: tuple[float, Approach] | None = None
        for approach in approaches:
            distance, to_line = distance_bearing(position.latitude, position.longitude, approach.lat, approach.lon)
            if distance > approach.range_m:
                continue
            if distance > NEAR_M and angle_off(to_line, approach.bearing_deg) > match.heading_tolerance_deg:
                continue  # not upstream of this stop line (beside it, or past it)
            if heading is not None and angle_off(heading, approach.bearing_deg) > match.heading_tolerance_deg:
                continue  # heading elsewhere
            if best is None or distance < best[0]:
                best = (distance, approach)
        if best is None:
            continue
        distance, approach = best
        vehicle_id = vehicle.vehicle.id or entity.id
        delay = delays.get(f"trip:{vehicle.trip.trip_id}") if vehicle.trip.trip_id else None
        if delay is None:
            delay = delays.get(f"vehicle:{vehicle_id}")
        if match.min_delay_s is not None and (delay is None or delay < match.min_delay_s):
            continue
        speed = position.speed if position.HasField("speed") and position.speed >= MIN_SPEED_M_S else match.nominal_speed_m_s
        detail: dict[str, object] = {"vehicle": vehicle_id, "distance_m": round(distance, 1)}
        if vehicle.trip.trip_id:
            detail["trip"] = vehicle.trip.trip_id
        if vehicle.trip.route_id:
            detail["route"] = vehicle.trip.route_id
        if delay is not None:
            detail["delay_s"] = delay
        call = FieldCall(f"gtfs-{vehicle_id}-{approach.tls}", approach.tls, approach.approach, "bus", distance, BY,
                         eta_s=distance / speed, detail=detail)
        candidates.append((-(delay or 0.0), distance, call))
    chosen: dict[str, FieldCall] = {}
    for _, _, call in sorted(candidates, key=lambda c: (c[0], c[1], c[2].call_id)):
        chosen.setdefault(call.tls, call)
    return list(chosen.values())


def gtfs_source(positions_url: str, trip_updates_url: str | None, approaches: Sequence[Approach], match: BusMatch,
                poll_s: float, timeout_s: float, metrics: Metrics,
                wall: Callable[[], float] = time.time) -> PolledSource:
    """The feed as a field source of bus calls, polled every ``poll_s``; its calls are dropped
    after three polls without a good answer. A TripUpdates feed that fails leaves the buses
    called without delays (logged): their positions still count."""
    said = [""]  # the trip updates' last failure, logged once

    def poll() -> list[FieldCall]:
        positions = fetch_feed(positions_url, timeout_s)
        delays: dict[str, float] = {}
        if trip_updates_url is not None:
            try:
                delays = trip_delays(fetch_feed(trip_updates_url, timeout_s))
                said[0] = ""
            except FeedError as exc:
                metrics.inc("phasewise_priority_source_errors_total", source=f"{BY} trip updates")
                if str(exc) != said[0]:
                    log.warning("%s trip updates: %s; buses are ordered without their delays", BY, exc)
                said[0] = str(exc)
        return bus_calls(positions, delays, approaches, match, wall())

    return PolledSource(BY, poll, poll_s, 3 * poll_s, metrics)
