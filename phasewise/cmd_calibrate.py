"""``phasewise calibrate``: routes fitted to turning-movement counts, and how well they fit.

    phasewise calibrate --sumocfg NET.sumocfg --counts TMC.csv --out DIR

Candidate routes are the scenario's own (trips routed by duarouter first); SUMO's
``routeSampler.py`` picks vehicles to match the counts (:mod:`calibration.counts_fit`).
Writes ``routes.rou.xml`` (use it in the sumocfg, or ``phasewise optimize --routes``),
``turn_counts.xml`` (routeSampler's input), ``geh.csv`` (every count, bin and GEH) and
``calibration.json``; prints the share of counts with GEH < 5 against the 85 % acceptance.
"""

from __future__ import annotations

import csv
import io
import json
import logging
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from phasewise import scenarios
from phasewise.app import app
from phasewise.outputs import OutputFolder
from phasewise_errors import ConfigError

console = Console(stderr=True)

FILES = ("routes.rou.xml", "turn_counts.xml", "geh.csv", "calibration.json")


@app.command()
def calibrate(
    sumocfg: Annotated[Path, typer.Option(help="the SUMO .sumocfg whose routes are the candidates")],
    counts: Annotated[Path, typer.Option(help="turning-movement counts CSV: tls,movement,bin_start,count[,bin_s]")],
    out: Annotated[Path, typer.Option(help="folder for routes.rou.xml, turn_counts.xml, geh.csv, calibration.json")]
    = Path("out/calibration"),
    seed: Annotated[int, typer.Option(min=0, help="routeSampler's random seed")] = 42,
) -> None:
    """Fit routes to turning-movement counts (routeSampler) and report GEH per count."""
    from calibration.counts_fit import ACCEPTED_SHARE, GEH_LIMIT, fit_routes, geh_per_count, share_accepted
    from optimizer.demand_tmc import read_tmc_csv
    from sumo_scenarios.network import load_intersections
    from sumo_scenarios.routing import route_trips

    scenario = scenarios.resolve(sumocfg, None, [1])[0]
    if not scenario.route_files:
        raise ConfigError(f"--sumocfg {sumocfg}: no <route-files>; calibrate picks its vehicles from the "
                          "scenario's routes (or trips): add the route file to the sumocfg")
    tmc = read_tmc_csv(counts)
    outside = [b for b in tmc.bin_starts_s if b + tmc.bin_s <= scenario.begin_s or b >= scenario.end_s]
    if outside:
        where = (f"--counts {counts}: bins starting at {', '.join(f'{b:g}' for b in outside[:3])}"
                 f"{' ...' if len(outside) > 3 else ''} s lie outside the scenario's period "
                 f"({scenario.begin_s:g}-{scenario.end_s:g} s)")
        if len(outside) == len(tmc.bin_starts_s):
            raise ConfigError(f"{where}: no vehicle could match them; give bin_start in simulation seconds")
        logging.getLogger(__name__).warning("%s: no vehicle can match those", where)
    models = load_intersections(scenario.net_file)
    candidates = route_trips(scenario.net_file, scenario.route_files, scenarios.cache_dir() / "routes")
    with OutputFolder(out, "--out", managed=FILES) as folder:
        routes = fit_routes(scenario.net_file, candidates, tmc, models, folder.staging, seed)
        fits = geh_per_count(routes, tmc, models)
        table = io.StringIO()
        writer = csv.writer(table)
        writer.writerow(["tls", "movement", "bin_start", "counted_veh_h", "fitted_veh_h", "geh"])
        for f in fits:
            writer.writerow([f.tls, f.movement, f"{f.bin_start_s:g}", f"{f.counted_veh_h:.1f}", f"{f.fitted_veh_h:.1f}", f"{f.geh:.2f}"])
        folder.path("geh.csv").write_text(table.getvalue(), encoding="utf-8")
        share = share_accepted(fits)
        accepted = share >= ACCEPTED_SHARE
        folder.path("calibration.json").write_text(json.dumps({
            "counts": len(fits), "share_geh_below_5": round(share, 4), "accepted": accepted,
            "worst": sorted(({"tls": f.tls, "movement": f.movement, "bin_start_s": f.bin_start_s, "geh": round(f.geh, 2)}
                             for f in fits), key=lambda w: -w["geh"])[:10],
        }, indent=2), encoding="utf-8")
        folder.commit()
    print(f"GEH < {GEH_LIMIT:g} for {share:.0%} of {len(fits)} counts "
          f"({'accepted' if accepted else 'NOT accepted'}: {ACCEPTED_SHARE:.0%} needed)")
    console.print(f"written to {out}/ ({', '.join(FILES)})")
