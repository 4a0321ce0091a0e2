"""The simulated police population register (card-production.md §The outside registers)."""

from __future__ import annotations

from fastapi import APIRouter

from settlement.api.deps import RegistersDep, WriteDep
from settlement.applications import police
from settlement.applications.schemas import CitizenIn

router = APIRouter(prefix="/v1", tags=["card production"])


@router.post("/police-register/citizens", status_code=201)
def add_citizen(
    body: CitizenIn,
    write: WriteDep,
    registers: RegistersDep,
):
    return write(body, lambda conn: police.add_citizen(conn, write.principal, registers, body), 201)
