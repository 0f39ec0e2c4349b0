"""Operating models: batch scoring, monitoring, status."""
