"""Adding a citizen to the simulated police population register (card-production.md §The
outside registers): a first desk produces a card by hand only when step 3 finds the
applicant there. Admin only: in the real world the register belongs to the public
security bureau, never to the card centre."""

from __future__ import annotations

from typing import Any

from sqlalchemy.engine import Connection

from settlement.applications.registers import Registers
from settlement.applications.schemas import CitizenIn
from settlement.authority import require_role
from settlement.external.police_register import Citizen
from settlement.rules.roles import ADMIN
from settlement.service import Principal, audit

ACTION = "police_register.add"


def add_citizen(
    conn: Connection, principal: Principal, registers: Registers, body: CitizenIn
) -> dict[str, Any]:
    """Add (or replace) ``body``'s citizen in the register; the citizen as stored.

    The register is its own SQLite file, outside the service's transaction: adding is
    an insert-or-replace, so a retried request writes the same row again.
    """
    require_role(principal, ADMIN, action=ACTION, subject=body.certno)
    registers.police.add(
        Citizen(
            ssn=body.certno,
            name=body.psn_name,
            sex=body.gend,
            birth_date=body.brdy,
            nation=body.naty,
            birthplace=body.birthplace,
            household_register_no=body.hukou_no,
        )
    )
    audit(conn, principal, ACTION, body.certno)
    return body.model_dump(mode="json")
