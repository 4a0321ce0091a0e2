"""PIN operations and the PIN authority query (docs/api.md §PIN operations)."""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter

from settlement import pins
from settlement.api.deps import Caller, ServiceDep, WriteDep
from settlement.schemas import PinOperationIn
from settlement.store.db import utcnow

router = APIRouter(prefix="/v1")


@router.post("/pin-operations", status_code=201)
def pin_operation(
    body: PinOperationIn,
    write: WriteDep,
):
    return write(
        body, lambda conn: pins.record_pin_operation(conn, write.principal, body, utcnow()), 201
    )


@router.get("/pin-authority")
def pin_authority_check(
    principal: Caller,
    svc: ServiceDep,
    card_no: str,
    pin: Literal["ssse", "bank"],
    operation: Literal["verify", "change", "reset", "unblock"],
):
    with svc.db.read() as conn:
        return pins.authority_answer(conn, principal, card_no, pin, operation)
