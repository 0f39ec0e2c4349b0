"""Online serving: `nightshift serve` answers requests with the champion it follows in the registry."""
