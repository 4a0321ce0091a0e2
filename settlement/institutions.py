"""Institutions, their terminals and API keys (docs/api.md §Setup; settlement.md §Roles).

Each API key belongs to one terminal of one institution, or is an admin key;
the institution's kind gives the caller's role. The HTTP routes
(``settlement.api.routes.institutions``) and the CLI (``python -m settlement
create-institution`` …) both call these functions on an open write transaction.
"""

from __future__ import annotations

from collections.abc import Collection

from sqlalchemy.engine import Connection, Row

from settlement.authority import require_role
from settlement.problems import Problem
from settlement.rules.roles import ADMIN
from settlement.schemas import InstitutionIn
from settlement.security import new_api_key
from settlement.service import Principal, audit
from settlement.store import institutions as store
from settlement.store.db import as_utc, utcnow


def institution_view(row: Row) -> dict:
    return {
        "code": row.code,
        "name": row.name,
        "kind": row.kind,
        "hospital_level": row.hospital_level,
        "pin_service": bool(row.pin_service),
        "bank_code": row.bank_code,
        "region": row.region,
        "created_at": as_utc(row.created_at).isoformat(),
    }


def institution_for(conn: Connection, principal: Principal, code: str) -> dict:
    """Institution ``code`` as seen by an admin or by the institution itself
    (``404 not_found`` for anybody else: existence is not revealed)."""
    if not principal.is_admin and principal.institution_code != code:
        raise Problem(404, "not_found", f"institution {code} not found")
    row = store.find(conn, code)
    if row is None:
        raise Problem(404, "not_found", f"institution {code} not found")
    return institution_view(row)


def check_partner_bank(bank_code: str | None, partner_banks: Collection[str]) -> None:
    """A bank branch must belong to a partner bank whose issuer keys the key store holds."""
    if bank_code is not None and bank_code not in partner_banks:
        raise Problem(
            422,
            "bank_unknown",
            f"bank {bank_code} is not a partner bank of the key store "
            f"(one of {sorted(partner_banks)})",
        )


def create_institution(
    conn: Connection, principal: Principal, body: InstitutionIn, partner_banks: Collection[str]
) -> dict:
    """``POST /v1/institutions``: admin only; a bank branch of a partner bank."""
    require_role(principal, ADMIN, action="institution.create", subject=body.code)
    check_partner_bank(body.bank_code, partner_banks)
    return insert_institution(conn, principal, body)


def create_terminal(
    conn: Connection, principal: Principal, institution_code: str, terminal_id: str, name: str
) -> dict:
    """``POST /v1/institutions/{code}/terminals``: admin only."""
    require_role(principal, ADMIN, action="terminal.create", subject=terminal_id)
    return insert_terminal(conn, principal, institution_code, terminal_id, name)


def insert_institution(conn: Connection, principal: Principal | None, body: InstitutionIn) -> dict:
    """Store a new institution (``409 conflict`` if the code exists); the CLI calls it directly."""
    if store.exists(conn, body.code):
        raise Problem(409, "conflict", f"institution {body.code} already exists")
    now = utcnow()
    store.insert(conn, now, **body.model_dump())
    audit(conn, principal, "institution.create", body.code, detail={"kind": body.kind}, at=now)
    return institution_view(store.find(conn, body.code))


def insert_terminal(
    conn: Connection,
    principal: Principal | None,
    institution_code: str,
    terminal_id: str,
    name: str,
) -> dict:
    """A new terminal of the institution with its API key (the key is in the answer only)."""
    if not store.exists(conn, institution_code):
        raise Problem(404, "not_found", f"institution {institution_code} not found")
    if store.terminal_exists(conn, terminal_id):
        raise Problem(409, "conflict", f"terminal {terminal_id} already exists")
    now = utcnow()
    store.insert_terminal(conn, terminal_id, institution_code, name, now)
    key = new_api_key()
    store.insert_api_key(
        conn,
        key_id=key.key_id,
        secret_hash=key.secret_hash,
        role="terminal",
        institution_code=institution_code,
        terminal_id=terminal_id,
        name=name,
        created_at=now,
    )
    audit(conn, principal, "terminal.create", terminal_id, detail={"key_id": key.key_id}, at=now)
    return {
        "terminal_id": terminal_id,
        "institution": institution_code,
        "key_id": key.key_id,
        "api_key": key.api_key,
    }


def insert_admin_key(conn: Connection, name: str) -> dict:
    """A new admin key (``python -m settlement bootstrap-admin``); shown once."""
    now = utcnow()
    key = new_api_key()
    store.insert_api_key(
        conn,
        key_id=key.key_id,
        secret_hash=key.secret_hash,
        role="admin",
        name=name,
        created_at=now,
    )
    audit(conn, None, "admin.bootstrap", key.key_id, detail={"name": name}, at=now)
    return {"key_id": key.key_id, "api_key": key.api_key}
