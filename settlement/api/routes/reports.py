"""The daily reconciliation report (docs/api.md §Reports; settlement.md §Reconciliation)."""

from __future__ import annotations

from fastapi import APIRouter

from settlement import reconciliation
from settlement.api.deps import Caller, ServiceDep, guard
from settlement.rules.roles import ADMIN, HOSPITAL
from settlement.schemas import Day

router = APIRouter(prefix="/v1")


@router.get("/reports/daily")
def daily(principal: Caller, svc: ServiceDep, date: Day, institution: str | None = None):
    guard(svc, principal, HOSPITAL, ADMIN, action="report.daily", subject=institution)
    with svc.db.read() as conn:
        return reconciliation.report_for(conn, principal, date, institution, svc.settings.tz)
