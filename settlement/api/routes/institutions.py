"""Institutions and their terminals (docs/api.md §Setup): admin, or the institution itself."""

from __future__ import annotations

from fastapi import APIRouter, Request

from settlement import institutions
from settlement.api.deps import Caller, IdemKey, ServiceDep, WriteDep, mutate
from settlement.schemas import InstitutionIn, TerminalIn

router = APIRouter(prefix="/v1")


@router.post("/institutions", status_code=201)
def create_institution(
    body: InstitutionIn, request: Request, principal: Caller, svc: ServiceDep, key: IdemKey = None
):
    return mutate(
        request,
        svc,
        principal,
        key,
        body.model_dump(mode="json"),
        lambda conn: institutions.create_institution(conn, principal, body, svc.keystore.banks),
        201,
    )


@router.get("/institutions/{code}")
def get_institution(code: str, principal: Caller, svc: ServiceDep):
    with svc.db.read() as conn:
        return institutions.institution_for(conn, principal, code)


@router.post("/institutions/{code}/terminals", status_code=201)
def create_terminal(
    code: str,
    body: TerminalIn,
    write: WriteDep,
):
    return write(
        body,
        lambda conn: institutions.create_terminal(
            conn, write.principal, code, body.terminal_id, body.name
        ),
        201,
    )
