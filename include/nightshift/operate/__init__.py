"""Operating models: batch scoring, online serving, monitoring, status."""
