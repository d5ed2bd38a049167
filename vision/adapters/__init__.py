"""One adapter module per model source; each turns its runtime's output into ``Detections``."""
