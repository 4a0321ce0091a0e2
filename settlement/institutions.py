"""Institutions, their terminals and API keys (docs/api.md §Setup; settlement.md §Roles).

Each API key belongs to one terminal of one institution, or is an admin key;
the institution's kind gives the caller's role. The HTTP routes
(``settlement.api.routes.institutions``) and the CLI (``python -m settlement
create-institution`` …) both call these functions on an open write transaction.
"""

from __future__ import annotations

from collections.abc import Collection

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Row

from settlement.problems import Problem
from settlement.schemas import InstitutionIn
from settlement.security import new_api_key
from settlement.service import Principal, audit
from settlement.store.db import as_utc, utcnow
from settlement.store.tables import T_API_KEY, T_INSTITUTION, T_TERMINAL


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
    row = conn.execute(sa.select(T_INSTITUTION).where(T_INSTITUTION.c.code == code)).first()
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


def insert_institution(conn: Connection, principal: Principal | None, body: InstitutionIn) -> dict:
    exists = conn.execute(
        sa.select(T_INSTITUTION.c.code).where(T_INSTITUTION.c.code == body.code)
    ).first()
    if exists:
        raise Problem(409, "conflict", f"institution {body.code} already exists")
    now = utcnow()
    conn.execute(T_INSTITUTION.insert().values(**body.model_dump(), created_at=now))
    audit(conn, principal, "institution.create", body.code, detail={"kind": body.kind}, at=now)
    return institution_view(
        conn.execute(sa.select(T_INSTITUTION).where(T_INSTITUTION.c.code == body.code)).one()
    )


def insert_terminal(
    conn: Connection,
    principal: Principal | None,
    institution_code: str,
    terminal_id: str,
    name: str,
) -> dict:
    """A new terminal of the institution with its API key (the key is in the answer only)."""
    inst = conn.execute(
        sa.select(T_INSTITUTION.c.code).where(T_INSTITUTION.c.code == institution_code)
    ).first()
    if inst is None:
        raise Problem(404, "not_found", f"institution {institution_code} not found")
    if conn.execute(
        sa.select(T_TERMINAL.c.terminal_id).where(T_TERMINAL.c.terminal_id == terminal_id)
    ).first():
        raise Problem(409, "conflict", f"terminal {terminal_id} already exists")
    now = utcnow()
    conn.execute(
        T_TERMINAL.insert().values(
            terminal_id=terminal_id, institution_code=institution_code, name=name, created_at=now
        )
    )
    key = new_api_key()
    conn.execute(
        T_API_KEY.insert().values(
            key_id=key.key_id,
            secret_hash=key.secret_hash,
            role="terminal",
            institution_code=institution_code,
            terminal_id=terminal_id,
            name=name,
            created_at=now,
        )
    )
    audit(conn, principal, "terminal.create", terminal_id, detail={"key_id": key.key_id}, at=now)
    return {
        "terminal_id": terminal_id,
        "institution": institution_code,
        "key_id": key.key_id,
        "api_key": key.api_key,
    }


def insert_admin_key(conn: Connection, name: str) -> dict:
    """A new admin key (``python -m settlement create-admin-key``); shown once."""
    now = utcnow()
    key = new_api_key()
    conn.execute(
        T_API_KEY.insert().values(
            key_id=key.key_id, secret_hash=key.secret_hash, role="admin", name=name, created_at=now
        )
    )
    audit(conn, None, "admin.bootstrap", key.key_id, detail={"name": name}, at=now)
    return {"key_id": key.key_id, "api_key": key.api_key}
