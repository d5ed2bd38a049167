"""Passenger-car-unit (PCU) weights per road-user class.

Defaults: car 1.0; bus and truck 2.0 (HCM 2016 passenger-car equivalent E_T for heavy
vehicles on level terrain); motorcycle 0.4 and bicycle 0.2 (UK TRL / DMRB practice);
pedestrians 0 (not traffic on the carriageway). Override per site if local practice differs.
"""

from __future__ import annotations

from collections.abc import Mapping

from vision.classes import BICYCLE, BUS, CAR, MOTORCYCLE, PERSON, TRUCK

DEFAULT_PCU: Mapping[int, float] = {
    CAR: 1.0,
    MOTORCYCLE: 0.4,
    BUS: 2.0,
    TRUCK: 2.0,
    BICYCLE: 0.2,
    PERSON: 0.0,
}


def pcu_of(class_id: int, weights: Mapping[int, float] = DEFAULT_PCU) -> float:
    """PCU weight of one road user of COCO class ``class_id`` (unknown classes weigh 1.0)."""
    return float(weights.get(class_id, 1.0))
