"""Models: features, training, metrics, the gate, the registry (the only MLflow door)."""
