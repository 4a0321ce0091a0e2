"""Issue #16: a correction with a ``null`` field is a 422, not a 500 that writes the
applicant's data to the log (docs/api.md §Errors)."""

from __future__ import annotations

import time

import pytest


@pytest.mark.parametrize("field", ["psn_name", "brdy", "hukou_no", "photo_taken", "naty"])
def test_null_in_a_correction_is_refused_and_logs_nothing_personal(production_world, field):
    w = production_world
    person = w.citizen("赵空值")
    app_id = w.apply(person, photo_taken=False)["application_id"]
    w.step(w.centre, app_id, "audit")
    before = w.service.log_path.stat().st_size  # the log grows by a line per request
    answer = w.step(w.centre, app_id, "corrections", {"photo_taken": True, field: None}, None)
    assert answer["status"] == 422 and answer["code"] == "validation_error", answer
    assert field in str(answer["errors"])
    for _ in range(100):  # its access line is written just after the answer (settlement.logs)
        logged = w.service.log_path.read_bytes()[before:].decode(errors="replace")
        if '"status": 422' in logged:
            break
        time.sleep(0.05)
    assert '"status": 422' in logged
    assert person.name not in logged and "Traceback" not in logged
    # The application still waits for a real correction, which works.
    view = w.step(w.centre, app_id, "corrections", {"photo_taken": True})
    assert view["status"] == "in_progress"
