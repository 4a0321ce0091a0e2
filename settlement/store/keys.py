"""API keys as the service's authentication reads them (docs/api.md §Authentication)."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Row

from settlement.store.tables import T_API_KEY, T_INSTITUTION


def find_with_institution(conn: Connection, key_id: str) -> Row | None:
    """The key (``secret_hash``, ``role``, ``revoked``, ``terminal_id``) with its institution's
    ``code``, ``kind``, ``hospital_level``, ``pin_service``, ``bank_code``, ``region`` (None for
    an admin key), or None if there is no such key."""
    return conn.execute(
        sa.select(
            T_API_KEY.c.secret_hash,
            T_API_KEY.c.role,
            T_API_KEY.c.revoked,
            T_API_KEY.c.terminal_id,
            T_INSTITUTION.c.code,
            T_INSTITUTION.c.kind,
            T_INSTITUTION.c.hospital_level,
            T_INSTITUTION.c.pin_service,
            T_INSTITUTION.c.bank_code,
            T_INSTITUTION.c.region,
        )
        .select_from(T_API_KEY.outerjoin(T_INSTITUTION))
        .where(T_API_KEY.c.key_id == key_id)
    ).first()
