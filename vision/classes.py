"""COCO classes phasewise cares about, and their road-user names.

Vehicles (car, motorcycle, bus, truck) are counted and weighted in passenger-car units;
bicycles and pedestrians are detected and kept as their own classes.
"""

from __future__ import annotations

PERSON, BICYCLE, CAR, MOTORCYCLE, BUS, TRUCK = 0, 1, 2, 3, 5, 7

CLASS_NAMES: dict[int, str] = {
    PERSON: "person",
    BICYCLE: "bicycle",
    CAR: "car",
    MOTORCYCLE: "motorcycle",
    BUS: "bus",
    TRUCK: "truck",
}
CLASS_IDS: dict[str, int] = {name: cid for cid, name in CLASS_NAMES.items()}

VEHICLE_CLASSES: tuple[int, ...] = (CAR, MOTORCYCLE, BUS, TRUCK)
ROAD_USER_CLASSES: tuple[int, ...] = (PERSON, BICYCLE, CAR, MOTORCYCLE, BUS, TRUCK)
