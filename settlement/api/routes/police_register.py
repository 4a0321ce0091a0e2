"""The simulated police population register (card-production.md §The outside registers)."""

from __future__ import annotations

from fastapi import APIRouter, Request

from settlement.api.deps import Caller, IdemKey, RegistersDep, ServiceDep, mutate
from settlement.applications import police
from settlement.applications.schemas import CitizenIn

router = APIRouter(prefix="/v1", tags=["card production"])


@router.post("/police-register/citizens", status_code=201)
def add_citizen(
    body: CitizenIn,
    request: Request,
    principal: Caller,
    svc: ServiceDep,
    registers: RegistersDep,
    key: IdemKey = None,
):
    return mutate(
        request,
        svc,
        principal,
        key,
        body.model_dump(mode="json"),
        lambda conn: police.add_citizen(conn, principal, registers, body),
        201,
    )
