"""Issue #16: a correction with a ``null`` field is a 422, not a 500 that writes the
applicant's data to the log (docs/api.md §Errors)."""

from __future__ import annotations

import pytest


@pytest.mark.parametrize("field", ["psn_name", "brdy", "hukou_no", "photo_taken", "naty"])
def test_null_in_a_correction_is_refused_and_logs_nothing_personal(production_world, field):
    w = production_world
    person = w.citizen("赵空值")
    app_id = w.apply(person, photo_taken=False)["application_id"]
    w.step(w.centre, app_id, "audit")
    before = w.service.log_tail(1_000_000)
    answer = w.step(w.centre, app_id, "corrections", {"photo_taken": True, field: None}, None)
    assert answer["status"] == 422 and answer["code"] == "validation_error", answer
    assert field in str(answer["errors"])
    logged = w.service.log_tail(1_000_000)[len(before) :]
    assert person.name not in logged and "Traceback" not in logged
    # The application still waits for a real correction, which works.
    view = w.step(w.centre, app_id, "corrections", {"photo_taken": True})
    assert view["status"] == "in_progress"
