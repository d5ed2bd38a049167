"""Per-lane counts, occupancy and queues from tracks; demand and queue estimation."""
