"""Signal timing: intersection model, timing plans, cycle/split/offset optimization."""
