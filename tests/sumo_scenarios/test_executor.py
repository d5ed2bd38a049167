"""The executors on a real local Ray cluster (a head and two worker nodes on loopback): the
same results as the local pool, a worker killed mid-run retried with the result unchanged,
task errors as themselves, and the CLI's one-line errors."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from controllers.gate import GateConfig, PlanGate
from controllers.registry import controller_factory
from optimizer.demand_routes import demand_from_routes
from optimizer.plan import TimingPlan
from optimizer.webster import build_plan
from phasewise_errors import ScenarioError, SimulationError
from sumo_scenarios.corridor import CorridorSpec, build_corridor
from sumo_scenarios.executor import LocalExecutor, RayExecutor
from sumo_scenarios.network import load_intersections
from sumo_scenarios.runner import RunJob, run_many
from sumo_scenarios.scenario import Scenario

RAY = str(Path(sys.executable).with_name("ray"))
PHASEWISE = str(Path(sys.executable).with_name("phasewise"))
TASK_TITLE = b"ray::_call_capturing"  # a Ray worker's process title while it runs one of our tasks


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def ray_address() -> Iterator[str]:
    """A head (no CPUs: it only schedules) and two one-CPU worker nodes, stopped afterwards."""
    address = f"127.0.0.1:{_free_port()}"
    env = {**os.environ, "RAY_USAGE_STATS_ENABLED": "0"}
    common = ["--node-ip-address", "127.0.0.1", "--disable-usage-stats"]
    try:
        subprocess.run([RAY, "start", "--head", "--port", address.split(":")[1], "--num-cpus", "0",
                        "--include-dashboard", "false", *common], env=env, check=True, capture_output=True)
        for _ in range(2):
            subprocess.run([RAY, "start", "--address", address, "--num-cpus", "1", *common],
                           env=env, check=True, capture_output=True)
        yield address
    finally:
        import ray

        ray.shutdown()
        subprocess.run([RAY, "stop", "--force"], env=env, capture_output=True)


@pytest.fixture(scope="module")
def corridor(tmp_path_factory: pytest.TempPathFactory) -> Scenario:
    return build_corridor(CorridorSpec(intersections=2, demand="high"), seed=1,
                          out_dir=tmp_path_factory.mktemp("executor"))


def test_ray_gives_the_same_results_as_the_local_pool(ray_address: str, corridor: Scenario) -> None:
    jobs = [RunJob(corridor.with_period(0.0, 300.0), seed, controller_factory("maxpressure")) for seed in (1, 2, 3)]
    executor = RayExecutor(ray_address)
    on_ray = run_many(jobs, executor=executor)
    local = run_many(jobs, workers=2)
    assert [r.metrics for r in on_ray] == [r.metrics for r in local]
    assert len({r.metrics.delay_s_per_vehicle for r in local}) == 3  # the seeds really differ
    # a task's own error reaches the caller as itself, not as Ray's wrapper
    broken = replace(jobs[0], scenario=replace(jobs[0].scenario, route_files=(Path("/nowhere.rou.xml"),)))
    with pytest.raises(ScenarioError, match="could not load"):
        run_many([broken], executor=executor)


def test_a_worker_killed_mid_run_is_retried_with_the_same_result(ray_address: str, corridor: Scenario) -> None:
    job = RunJob(corridor.with_period(0.0, 1800.0), 4, controller_factory("maxpressure"))
    killed: list[int] = []
    done = threading.Event()

    def kill_first_task() -> None:
        while not done.is_set() and not killed:
            for pid in _task_pids():
                os.kill(pid, signal.SIGKILL)
                killed.append(pid)
                break
            time.sleep(0.02)

    killer = threading.Thread(target=kill_first_task)
    killer.start()
    try:
        (retried,) = run_many([job], executor=RayExecutor(ray_address))
    finally:
        done.set()
        killer.join()
    assert killed, "no running task was found to kill"
    assert retried.metrics == run_many([job], workers=1)[0].metrics  # a fresh local process


def test_a_worker_that_dies_on_every_attempt_is_a_simulation_error(ray_address: str) -> None:
    executor = RayExecutor(ray_address, retries=1)
    with pytest.raises(SimulationError, match="failed on the Ray cluster after 1 retries"):
        executor.submit(os._exit, 1).result(timeout=60)


def test_gate_twins_on_ray_give_the_local_numbers(ray_address: str, corridor: Scenario) -> None:
    models = load_intersections(corridor.net_file)
    demand = demand_from_routes(models, corridor.route_files, 0.0, 300.0)

    def plan(greens_s: list[float], name: str) -> TimingPlan:
        return TimingPlan({t: build_plan(m, np.array(greens_s), 0.0, 0) for t, m in models.items()}, name)

    running, candidate = plan([5.0, 10.0, 60.0], "starved"), plan([34.0, 10.0, 33.0], "balanced")
    config = GateConfig(horizon_s=300.0, seeds=2, timeout_s=60.0)
    decisions = []
    for executor in (RayExecutor(ray_address), LocalExecutor(2)):  # both: a fresh process per twin
        with PlanGate(corridor.net_file, models, config, executor=executor) as gate:
            decisions.append(gate.evaluate(running, candidate, demand, {"W_J0_1": 6.0}, now_s=120.0))
        executor.close()
    on_ray, local = decisions
    assert on_ray.switch and on_ray.delay_candidate_s == local.delay_candidate_s
    assert (on_ray.delay_current_s, on_ray.throughput_current) == (local.delay_current_s, local.throughput_current)


def _task_pids() -> list[int]:
    """Processes whose title says they run one of our Ray tasks now."""
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if (entry / "cmdline").read_bytes().startswith(TASK_TITLE):
                    pids.append(int(entry.name))
            except OSError:  # gone meanwhile
                pass
    return pids


# --- the CLI ------------------------------------------------------------------------------


def _sim(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([PHASEWISE, "sim", "--scenario", "corridor:intersections=2", "--end", "60", *args],
                          capture_output=True, text=True, env={**os.environ, **(env or {})}, timeout=120)


def test_cli_runs_on_ray_and_names_a_bad_address(ray_address: str) -> None:
    done = _sim("--executor", "ray", "--seeds", "2", env={"PHASEWISE_RAY_ADDRESS": ray_address})
    assert done.returncode == 0, done.stderr
    assert "corridor" in done.stdout
    unreachable = _sim("--executor", "ray", "--ray-address", f"127.0.0.1:{_free_port()}")
    assert unreachable.returncode == 2
    assert unreachable.stderr.strip().startswith("phasewise: error: --ray-address 127.0.0.1:")
    assert "no Ray cluster answers there" in unreachable.stderr and len(unreachable.stderr.strip().splitlines()) == 1


def test_cli_says_when_ray_is_missing(tmp_path: Path) -> None:
    shadow = tmp_path / "ray"  # a `ray` package that cannot be imported, first on the path
    shadow.mkdir()
    (shadow / "__init__.py").write_text("raise ImportError(\"No module named 'ray'\")\n")
    done = _sim("--executor", "ray", env={"PYTHONPATH": str(tmp_path)})
    assert done.returncode == 2
    assert done.stderr.strip() == ("phasewise: error: --executor ray needs Ray: pip install 'ray==2.40.0' "
                                   "(or install phasewise with the [ray] extra)")
