"""``GET /metrics``: the Prometheus text format (docs/operations.md §Metrics; settlement.metrics).

No API key: a scraper is not a terminal, and an admin key in a scraper's configuration
would be worth stealing. Instead only clients in ``SSCARD_METRICS_ALLOW`` (default:
this machine) are answered; anyone else gets ``404 not_found`` as for any unknown path.
The page carries counts and latencies by route and problem code, never a request's data.
"""

from __future__ import annotations

import ipaddress

import anyio.to_thread
from fastapi import APIRouter, Request
from fastapi.responses import Response

from settlement import metrics
from settlement.api.deps import service_of
from settlement.problems import Problem

router = APIRouter(include_in_schema=False)


def allowed(request: Request) -> bool:
    """Whether the client's address lies in one of ``SSCARD_METRICS_ALLOW``'s networks."""
    client = request.client
    if client is None:
        return False
    try:
        address = ipaddress.ip_address(client.host)
    except ValueError:
        return False
    return any(address in network for network in service_of(request).settings.metrics_networks)


@router.get("/metrics")
async def prometheus_metrics(request: Request) -> Response:
    if not allowed(request):
        raise Problem(404, "not_found", "no such endpoint")
    folder = service_of(request).settings.metrics_dir
    page, content_type = await anyio.to_thread.run_sync(metrics.exposition, folder)
    return Response(page, media_type=content_type)
