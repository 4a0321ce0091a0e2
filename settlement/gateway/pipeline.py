"""One envelope from body to answer (docs/gateway.md §How a message is handled).

In one write transaction: authenticate the caller and bind it to ``fixmedins_code``; answer a
known ``msgid`` with its first answer (the HIS's retry) or refuse it when the body differs;
spend the nonce; check the 9001 sign-in (business transactions); run the transaction; record
the operator with the act in the audit log and the message with its answer by ``msgid``. A
refusal rolls all of it back and answers ``infcode -1``: a refused message changes nothing.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.engine import Connection

from settlement.gateway import auth, signin
from settlement.gateway.convert import GatewayError
from settlement.gateway.envelope import Envelope, answer
from settlement.gateway.messages import Act, clerk_message
from settlement.problems import Problem
from settlement.rules.roles import HOSPITAL
from settlement.service import Principal, Service, audit
from settlement.store import gateway as store
from settlement.store import institutions
from settlement.store.db import utcnow

#: A transaction: the act → (output node(s), subject id for the log).
Handler = Callable[[Act], tuple[dict, str | None]]


@dataclass(frozen=True)
class Request:
    envelope: Envelope
    headers: Mapping[str, str]
    received: datetime


#: institution code → (its row, monotonic expiry): institutions change rarely.
_INSTITUTIONS: dict[str, tuple[object, float]] = {}
CACHE_S = 60.0


def _institution(conn: Connection, code: str):
    seen = _INSTITUTIONS.get(code)
    if seen is not None and seen[1] > time.monotonic():
        return seen[0]
    row = institutions.find(conn, code)
    if row is None or row.kind != HOSPITAL:
        raise GatewayError(f"机构 {code} 不是已登记的定点医疗机构")
    if len(_INSTITUTIONS) > 10_000:
        _INSTITUTIONS.clear()
    _INSTITUTIONS[code] = (row, time.monotonic() + CACHE_S)
    return row


def _principal(conn: Connection, caller: auth.Caller, env: Envelope) -> Principal:
    row = _institution(conn, caller.institution_code)
    return Principal(
        key_id=caller.label[:32],
        role=row.kind,
        institution_code=row.code,
        terminal_id=f"GW-{env.opter or caller.kind}"[:64],
        hospital_level=row.hospital_level,
        pin_service=bool(row.pin_service),
        bank_code=row.bank_code,
        region=row.region,
    )


def _replay(conn: Connection, env: Envelope, institution: str) -> str | None:
    seen = store.find_message(conn, institution, env.msgid)
    if seen is None:
        return None
    if seen.undone_by:
        raise GatewayError(
            f"报文ID msgid={env.msgid} 的交易已被冲正（{seen.undone_by}），请生成新的 msgid 重新办理",
            "msgid_undone",
        )
    if seen.body_hash != env.body_hash or seen.infno != env.infno:
        raise GatewayError(
            f"报文ID msgid={env.msgid} 已用于另一笔交易（{seen.infno}），请生成新的 msgid",
            "msgid_reused",
        )
    return seen.answer


def run(
    conn: Connection,
    svc: Service,
    secret_key: bytes,
    request: Request,
    handler: Handler,
) -> str:
    """The answer to ``request`` as the JSON text sent (raises :class:`GatewayError` /
    :class:`Problem` to refuse): rendered once, stored in the message log and sent as is."""
    env, now = request.envelope, utcnow()
    caller = auth.authenticate(
        conn, secret_key, request.headers, env.infno, env.fixmedins_code, now
    )
    previous = _replay(conn, env, caller.institution_code)
    if previous is not None:
        return previous
    auth.spend_nonce(conn, caller, now)
    tz = svc.settings.tz
    if env.infno not in signin.WITHOUT_SIGN_IN:
        signin.require(conn, env, caller.institution_code, now.astimezone(tz).date())
    principal = _principal(conn, caller, env)
    act = Act(conn, svc, env, principal, now, tz)
    output, subject = handler(act)
    audit(
        conn,
        principal,
        f"gateway.{env.infno}",
        subject or env.msgid,
        detail={
            "msgid": env.msgid,
            "opter": env.opter,
            "opter_name": env.opter_name,
            "opter_type": env.opter_type,
            "credential": caller.kind,
        },
        at=now,
    )
    reply = render(answer(request.received, utcnow(), tz, principal.region or "", output=output))
    store.insert_message(
        conn,
        institution_code=caller.institution_code,
        msgid=env.msgid,
        infno=env.infno,
        body_hash=env.body_hash,
        opter=env.opter,
        answer=reply,
        subject=subject,
        received_at=now,
    )
    return reply


def render(reply: dict) -> str:
    """The answer envelope as sent: compact UTF-8 JSON (as Starlette's JSONResponse renders)."""
    return json.dumps(reply, ensure_ascii=False, allow_nan=False, separators=(",", ":"))


def refusal(error: Exception) -> str:
    """The clerk's ``err_msg`` of a refusal."""
    if isinstance(error, GatewayError):
        return error.err_msg
    if isinstance(error, Problem):
        return clerk_message(error)
    raise error
