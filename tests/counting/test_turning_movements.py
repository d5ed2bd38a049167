from datetime import datetime

import pytest

from counting.events import CountedMovement
from counting.turning_movements import COLUMNS, approach_code, tmc_rows
from vision.classes import CAR, MOTORCYCLE


def test_rows_in_quarter_hours_with_the_exchange_columns():
    start = datetime(2022, 9, 25, 16, 14, 30)              # the video starts 30 s before 16:15
    moves = [CountedMovement(10.0, "a", "northbound", "left", CAR, 1),
             CountedMovement(40.0, "a", "northbound", "through", MOTORCYCLE, 2),
             CountedMovement(50.0, "b", "eastbound", "uturn", CAR, 3)]
    rows = tmc_rows(moves, start=start, intersection_id="x1", duration_s=60.0)
    assert list(rows[0]) == COLUMNS and COLUMNS[:6] == ["DATE", "TIME", "INTID", "NBL", "NBT", "NBR"]
    assert [(r["TIME"], r["NBL"], r["NBT"], r["EBU"]) for r in rows] == [("16:00", 1, 0, 0), ("16:15", 0, 1, 1)]
    pcu = tmc_rows(moves, start=start, intersection_id="x1", duration_s=60.0, unit="pcu")
    assert pcu[1]["NBT"] == pytest.approx(0.4)


def test_approach_names_must_be_compass_directions():
    assert approach_code("Southbound") == "SB" and approach_code("wb") == "WB"
    with pytest.raises(ValueError, match="not a compass direction"):
        approach_code("main street")
