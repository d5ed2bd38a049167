"""docs/plan.schema.json describes the plan.json phasewise writes, and refuses what it refuses."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema  # a [dev] dependency
import pytest

from optimizer.corridor import optimize_corridor
from optimizer.demand import DemandEstimate
from optimizer.plan import TimingPlan
from phasewise import scenarios
from phasewise_errors import PlanError
from sumo_scenarios.network import load_intersections

SCHEMA = json.loads((Path(__file__).resolve().parents[2] / "docs" / "plan.schema.json").read_text())


def test_plan_json_validates_and_the_schema_refuses_what_from_json_refuses() -> None:
    jsonschema.Draft202012Validator.check_schema(SCHEMA)
    validator = jsonschema.Draft202012Validator(SCHEMA)
    scenario = scenarios.resolve(None, "corridor:demand=medium,intersections=2", [1])[0]
    models = load_intersections(scenario.net_file)
    demand = DemandEstimate({t: {m.id: 150.0 for m in model.movements} for t, model in models.items()})
    written = json.loads(optimize_corridor(models, demand, time_limit_s=1.0).to_json())
    assert list(validator.iter_errors(written)) == []
    assert written["intersections"] and written["intersections"][0]["phases"]

    def broken(change: object) -> dict:
        doc = json.loads(json.dumps(written))
        change(doc)  # type: ignore[operator]
        return doc

    for doc in (broken(lambda d: d["intersections"][0]["phases"][0].update(green_s="20")),
                broken(lambda d: d["intersections"][0].pop("tls_id")),
                broken(lambda d: d["intersections"][0]["phases"][0].update(colour="red")),
                broken(lambda d: d["intersections"][0].update(coordinated_phase=0.5)),
                broken(lambda d: d.update(intersections={}))):
        assert list(validator.iter_errors(doc)), doc
        with pytest.raises(PlanError):
            TimingPlan.from_json(json.dumps(doc))
