"""API keys over their lifetime: list, revoke, rotate, expire (docs/api.md §API keys).

Admin only (settlement.md §Roles), from the admin API or the CLI. Every change is
audited and, once committed, signalled to every worker (:mod:`settlement.key_signal`)
so that it holds from the next request on: a revoked key, an expired key or a
rotated-away secret gets ``401 unauthenticated``. A rotation gives the same key id a
new secret (shown once); the old secret may stay valid for a grace period so that
terminals can be switched without an outage.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.engine import Connection

from settlement.authority import require_role
from settlement.problems import Problem
from settlement.rules.roles import ADMIN
from settlement.security import KEY_PREFIX, hash_secret, new_secret
from settlement.service import Principal, audit
from settlement.store import keys as store
from settlement.store.db import as_utc, utcnow

#: The longest grace period a rotation may keep the old secret valid (7 days).
MAX_GRACE_S = 7 * 24 * 3600


def key_view(row: Any) -> dict[str, Any]:
    """A key as the API shows it: never its secret or hash."""

    def iso(value: Any) -> str | None:
        value = as_utc(value)
        return value.isoformat() if value is not None else None

    return {
        "key_id": row.key_id,
        "role": row.role,
        "institution": row.institution_code,
        "terminal_id": row.terminal_id,
        "name": row.name,
        "revoked": bool(row.revoked),
        "created_at": iso(row.created_at),
        "revoked_at": iso(row.revoked_at),
        "expires_at": iso(row.expires_at),
        "previous_valid_until": iso(row.previous_valid_until),
    }


def _key(conn: Connection, principal: Principal | None, key_id: str, action: str) -> Any:
    if principal is not None:
        require_role(principal, ADMIN, action=action, subject=key_id)
    row = store.find(conn, key_id)
    if row is None:
        raise Problem(404, "not_found", f"API key {key_id} not found")
    return row


def list_keys(
    conn: Connection, principal: Principal | None, institution: str | None = None
) -> dict[str, Any]:
    """Every key (of ``institution``), without secrets."""
    if principal is not None:
        require_role(principal, ADMIN, action="api_key.list")
    return {"keys": [key_view(row) for row in store.listing(conn, institution)]}


def revoke(conn: Connection, principal: Principal | None, key_id: str) -> dict[str, Any]:
    """Revoke ``key_id`` for good (revoking it again changes nothing)."""
    row = _key(conn, principal, key_id, "api_key.revoke")
    if not row.revoked:
        now = utcnow()
        store.update(conn, key_id, revoked=True, revoked_at=now, previous_valid_until=None)
        audit(conn, principal, "api_key.revoke", key_id, at=now)
    return key_view(store.find(conn, key_id))


def rotate(
    conn: Connection, principal: Principal | None, key_id: str, grace_s: int = 0
) -> dict[str, Any]:
    """A new secret for ``key_id`` (``api_key``, shown once); the old one stays valid for
    ``grace_s`` seconds (0: not at all)."""
    row = _key(conn, principal, key_id, "api_key.rotate")
    if row.revoked:
        raise Problem(409, "key_revoked", f"API key {key_id} is revoked; create a new one")
    if not 0 <= grace_s <= MAX_GRACE_S:
        raise Problem(422, "validation_error", f"grace_s must be 0 to {MAX_GRACE_S}")
    now = utcnow()
    secret = new_secret()
    store.update(
        conn,
        key_id,
        secret_hash=hash_secret(secret),
        previous_secret_hash=row.secret_hash if grace_s else None,
        previous_valid_until=now + timedelta(seconds=grace_s) if grace_s else None,
    )
    audit(conn, principal, "api_key.rotate", key_id, detail={"grace_s": grace_s}, at=now)
    return {**key_view(store.find(conn, key_id)), "api_key": f"{KEY_PREFIX}_{key_id}_{secret}"}


def set_expiry(
    conn: Connection, principal: Principal | None, key_id: str, expires_at: datetime | None
) -> dict[str, Any]:
    """Let ``key_id`` expire at ``expires_at`` (None: never)."""
    row = _key(conn, principal, key_id, "api_key.expire")
    if row.revoked:
        raise Problem(409, "key_revoked", f"API key {key_id} is revoked")
    store.update(conn, key_id, expires_at=expires_at)
    detail = {"expires_at": expires_at.isoformat() if expires_at else None}
    audit(conn, principal, "api_key.expire", key_id, detail=detail)
    return key_view(store.find(conn, key_id))
