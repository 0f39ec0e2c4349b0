"""The server's Prometheus metrics (`/metrics`), in a registry of its own."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

# Request latency in seconds: single-row requests take milliseconds, large batches up to seconds.
LATENCY_BUCKETS = (0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5)


class ServingMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        common = {"registry": self.registry, "namespace": "nightshift_serve"}
        self.requests = Counter("requests", "Scoring requests answered, by model, champion version and HTTP status",
                                ["model", "version", "status"], **common)
        self.latency = Histogram("request_seconds", "Time to answer a scoring request, by model and champion version",
                                 ["model", "version"], buckets=LATENCY_BUCKETS, **common)
        self.batch_requests = Histogram("batch_requests", "Requests answered together in one batch, by model",
                                        ["model"], buckets=(1, 2, 4, 8, 16, 32, 64, 128), **common)
        self.rows = Counter("rows", "Rows predicted, by model, version and route (champion, canary, shadow)",
                            ["model", "version", "route"], **common)
        self.errors = Counter("errors", "Failed predictions: bad requests, server errors, canary and shadow failures",
                              ["model", "version", "kind"], **common)
        self.swaps = Counter("swaps", "Versions swapped in, by role (champion, challenger)",
                             ["model", "role"], **common)
        self.load_failures = Counter("load_failures", "Versions not served: they did not load, verify or warm up",
                                     ["model", "version", "kind"], **common)
        self.version = Gauge("version", "The version serving each role (0: none)", ["model", "role"], **common)
        self.canary_active = Gauge("canary_active", "1 while the canary answers its share of requests",
                                   ["model"], **common)
        self.canary_stops = Counter("canary_stops", "Canaries stopped for exceeding their budget", ["model"], **common)
        self.shadow_skipped = Counter("shadow_skipped", "Requests not shadow-scored because the queue was full",
                                      ["model"], **common)
        self.logged_rows = Counter("logged_rows", "Prediction rows written to the lake", ["model"], **common)
        self.log_failures = Counter("log_failures", "Failed writes of logged predictions (kept for a retry)",
                                    ["model"], **common)
        self.dropped_rows = Counter("dropped_rows", "Logged rows dropped after failed writes filled the buffer",
                                    ["model"], **common)

    def exposition(self) -> bytes:
        return generate_latest(self.registry)
