"""The service's metrics in the Prometheus text format (``GET /metrics``; docs/operations.md §Metrics).

| metric | labels | what it counts |
|---|---|---|
| ``sscard_http_requests_total`` | ``method``, ``route``, ``status`` | answered requests, by route template |
| ``sscard_http_request_duration_seconds`` | ``route`` | latency histogram, first byte in to last byte out |
| ``sscard_settlements_total`` | ``kind`` (``settlement``, ``reversal``) | settlements and reversals written through /v1 (replays not counted) |
| ``sscard_refusals_total`` | ``code`` | problem+json answers by their ``code`` |
| ``sscard_database_busy_total`` | | database busy or unreachable: ``503 busy``, the client retries with its Idempotency-Key |

Several uvicorn workers: ``python -m settlement serve`` gives every run a private
folder (``PROMETHEUS_MULTIPROC_DIR``, 0700) where each worker keeps its values in
a file of its own, and ``/metrics`` of any worker adds up all of them
(prometheus_client's multiprocess mode): a scrape sees the whole service, not one
worker, and the values of a worker that died stay counted. Without that folder (a
single process, tests, the hospital simulation) the values live in the process.
The route label is the route's template, never a raw path: a scan of random paths
adds one series (``unmatched``), not one per path.
"""

from __future__ import annotations

from pathlib import Path

from prometheus_client import REGISTRY, CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from prometheus_client.multiprocess import MultiProcessCollector

#: Latency buckets in seconds: the hot routes answer in milliseconds, a report in a second.
BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
REQUESTS = Counter("sscard_http_requests", "Answered HTTP requests", ("method", "route", "status"))
LATENCY = Histogram(
    "sscard_http_request_duration_seconds",
    "Time from a request's arrival to its answer's last byte",
    ("route",),
    buckets=BUCKETS,
)
SETTLEMENTS = Counter(
    "sscard_settlements", "Settlements and reversals written through /v1", ("kind",)
)
REFUSALS = Counter("sscard_refusals", "problem+json answers by problem code", ("code",))
DATABASE_BUSY = Counter(
    "sscard_database_busy",
    "Requests answered 503 busy because the database was busy or unreachable (clients retry)",
)
#: The settlement routes whose 201 answers (not replays) count in SETTLEMENTS.
SETTLEMENT_ROUTES = {
    "/v1/admissions/{mdtrt_id}/settlement": "settlement",
    "/v1/settlements/{setl_id}/reversal": "reversal",
}


def exposition(multiprocess_dir: Path | None) -> tuple[bytes, str]:
    """The metrics page and its content type: every worker's values added up when they keep
    them in ``multiprocess_dir``, else this process's."""
    if multiprocess_dir is None:
        return generate_latest(REGISTRY), CONTENT_TYPE_LATEST
    registry = CollectorRegistry()
    MultiProcessCollector(registry, path=str(multiprocess_dir))
    return generate_latest(registry), CONTENT_TYPE_LATEST
