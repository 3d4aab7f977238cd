"""Application layer: one store transaction each around the core's decisions; operator read models."""
