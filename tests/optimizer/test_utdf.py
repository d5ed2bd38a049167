"""UTDF (Synchro) exchange: plan and volumes out and back in give the same plan and demand."""

from __future__ import annotations

import pytest

from optimizer.corridor import optimize_corridor
from optimizer.demand import DemandEstimate
from optimizer.plan import validate
from optimizer.utdf import read_tmc_volumes, read_utdf, utdf_network, write_tmc_volumes, write_utdf
from phasewise import scenarios
from phasewise_errors import ConfigError
from sumo_scenarios.network import load_intersections


@pytest.fixture(scope="module")
def corridor() -> tuple:
    scenario = scenarios.resolve(None, "corridor:demand=medium,intersections=2", [1])[0]
    models = load_intersections(scenario.net_file)
    demand = DemandEstimate({t: {m.id: 100.0 + 10 * k for k, m in enumerate(model.movements)} for t, model in models.items()})
    plan = optimize_corridor(models, demand, time_limit_s=1.0)
    return scenario.net_file, models, demand, plan


def test_plan_and_volumes_round_trip(corridor: tuple) -> None:
    net_file, models, demand, plan = corridor
    network = utdf_network(net_file, models, list(plan.intersections))
    text = write_utdf(plan, models, network, demand)
    for section in ("[Network]", "[Nodes]", "[Links]", "[Lanes]", "[Timeplans]", "[Phases]"):
        assert section in text
    assert network.directions["J0"]["W_J0"] == "EB"  # the edge from the west travels east
    back, volumes = read_utdf(text, models)
    validate(back, models)
    for tls_id, ip in plan.intersections.items():
        again = back.intersections[tls_id]
        assert (again.cycle_s, again.offset_s, again.coordinated_phase) == (ip.cycle_s, ip.offset_s, ip.coordinated_phase)
        assert [(p.phase, p.green_s, p.yellow_s, p.all_red_s) for p in again.phases] == \
               [(p.phase, p.green_s, p.yellow_s, p.all_red_s) for p in ip.phases]
    assert volumes is not None and volumes.flows_veh_h == demand.flows_veh_h
    assert read_tmc_volumes(write_tmc_volumes(demand, models, network), models, network).flows_veh_h == demand.flows_veh_h


def test_not_utdf_is_a_config_error(corridor: tuple) -> None:
    _, models, _, _ = corridor
    with pytest.raises(ConfigError, match="no \\[Nodes\\] section"):
        read_utdf("[Network]\nNetwork Settings\nRECORDNAME,DATA\n", models, "x.csv")
