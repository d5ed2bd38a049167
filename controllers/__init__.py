"""Signal controllers: SUMO baselines (static, actuated, max-pressure), adaptive control, backends."""
