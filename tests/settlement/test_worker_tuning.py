"""A service worker's process settings (settlement/main.py): the collector and FastAPI's
native telemetry."""

from __future__ import annotations

import gc

from settlement.config import Settings
from settlement.main import GC_YOUNG_THRESHOLD, create_app, tune_gc


def test_tune_gc_freezes_start_up_objects_and_raises_the_young_threshold() -> None:
    before = gc.get_threshold()
    try:
        tune_gc()
        assert gc.get_freeze_count() > 0
        assert gc.get_threshold() == (GC_YOUNG_THRESHOLD, *before[1:])
    finally:
        gc.unfreeze()
        gc.set_threshold(*before)


def test_fastapi_native_telemetry_is_off(tmp_path, monkeypatch) -> None:
    """The service has its own logs and metrics: a request never asks OpenTelemetry for its
    providers (FastAPI's default asks on every request)."""
    from opentelemetry import _logs, metrics, trace

    def asked() -> None:
        raise AssertionError("an OpenTelemetry provider was looked up")

    app = create_app(Settings(f"sqlite:///{tmp_path / 'unused.db'}", None))
    for module, name in (
        (trace, "get_tracer_provider"),
        (metrics, "get_meter_provider"),
        (_logs, "get_logger_provider"),
    ):
        monkeypatch.setattr(module, name, asked)
    try:
        assert app._native_telemetry.enabled() is False
    finally:
        app.state.service.db.dispose()
