"""SUMO scenarios (built-in corridor, sumocfg files), the simulation runner and its metrics."""
