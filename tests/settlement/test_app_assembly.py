"""create_app assembles one router per resource, flat on the application (settlement/main.py)."""

from __future__ import annotations

import inspect

from fastapi.routing import APIRoute

from settlement.api.routes import ROUTERS
from settlement.config import Settings
from settlement.main import create_app


def test_every_route_sits_on_the_application_router(tmp_path) -> None:
    """No included-router node between a request and its route (each one costs CPU per request
    on the hot path); every route of every resource router is there, once."""
    app = create_app(Settings(f"sqlite:///{tmp_path / 'unused.db'}", None))
    own = [route for route in app.router.routes if isinstance(route, APIRoute)]
    from_routers = [route for router in ROUTERS for route in router.routes]
    assert own == from_routers
    assert len({(route.path, tuple(sorted(route.methods))) for route in own}) == len(own)


def test_the_hot_routes_are_coroutines(tmp_path) -> None:
    """Challenge, admission, fees and settlement run on the event loop, not in the thread pool."""
    app = create_app(Settings(f"sqlite:///{tmp_path / 'unused.db'}", None))
    hot = {
        ("/v1/challenges", "POST"),
        ("/v1/admissions", "POST"),
        ("/v1/admissions/{mdtrt_id}/fees", "POST"),
        ("/v1/admissions/{mdtrt_id}/settlement", "POST"),
        ("/v1/probe", "POST"),
    }
    found = {
        (route.path, method): inspect.iscoroutinefunction(route.endpoint)
        for route in app.router.routes
        if isinstance(route, APIRoute)
        for method in route.methods
        if (route.path, method) in hot
    }
    assert found == dict.fromkeys(hot, True)
