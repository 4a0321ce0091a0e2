"""9001 sign-in and 9002 sign-out, per operator (nhsa.md §Transactions; docs/gateway.md §Sign-in).

A sign-in gives ``sign_no``; every other transaction must carry it, from the same institution
and operator, on the business day it was given (it expires at local midnight) and before
9002 signed it out.
"""

from __future__ import annotations

import secrets
import time
from datetime import date

from sqlalchemy.engine import Connection

from settlement.gateway.convert import GatewayError, node, show_time, text
from settlement.gateway.messages import Act
from settlement.store import gateway as store

#: Transactions accepted without a sign-in.
WITHOUT_SIGN_IN = frozenset({"9001"})


def sign_in(act: Act) -> tuple[dict, str | None]:
    """9001: ``signIn{opter_no, mac, ip}`` → ``signinoutb{sign_no, sign_time}``."""
    data = node(act.envelope.input, "signIn", required=False) or node(
        act.envelope.input, "signin", required=False
    )
    opter = text(data, "opter_no", max_len=32) or act.envelope.opter
    if not opter:
        raise GatewayError("签到须提供操作员编号（signIn.opter_no 或 opter）", "field_missing")
    local = act.now.astimezone(act.tz)
    record = store.SignIn(
        sign_no=f"{local:%Y%m%d%H%M%S}{secrets.randbelow(10**12):012d}",
        institution_code=act.principal.institution_code,
        opter=opter,
        opter_name=act.envelope.opter_name,
        business_date=local.date(),
        signed_in_at=act.now,
        signed_out_at=None,
    )
    store.insert_sign_in(act.conn, record)
    output = {"signinoutb": {"sign_no": record.sign_no, "sign_time": show_time(act.now, act.tz)}}
    return output, record.sign_no


def sign_out(act: Act) -> tuple[dict, str | None]:
    """9002: ``signOut{sign_no, opter_no}`` → ``signoutoutb{sign_time, sign_no}``."""
    data = node(act.envelope.input, "signOut", required=False)
    sign_no = text(data, "sign_no", max_len=40) or act.envelope.sign_no
    store.sign_out(act.conn, sign_no, act.now)
    _SIGNED_IN.pop(sign_no, None)
    output = {"signoutoutb": {"sign_no": sign_no, "sign_time": show_time(act.now, act.tz)}}
    return output, sign_no


#: sign_no → (the sign-in, monotonic expiry): an HIS sends its sign_no with every message,
#: so a live sign-in is read once per :data:`CACHE_S` seconds per process. Its business day
#: is checked on every message (it expires at local midnight whatever the cache holds); a
#: 9002 in this process forgets it at once, one in another worker process within CACHE_S.
_SIGNED_IN: dict[str, tuple[store.SignIn, float]] = {}
CACHE_S = 30.0


def _sign_in_of(conn: Connection, sign_no: str) -> store.SignIn | None:
    seen = _SIGNED_IN.get(sign_no)
    if seen is not None and seen[1] > time.monotonic():
        return seen[0]
    record = store.find_sign_in(conn, sign_no)
    if record is not None and record.signed_out_at is None:
        if len(_SIGNED_IN) > 10_000:
            _SIGNED_IN.clear()
        _SIGNED_IN[sign_no] = (record, time.monotonic() + CACHE_S)
    return record


def require(conn: Connection, envelope, institution_code: str, today: date) -> None:
    """The envelope's ``sign_no`` is a live sign-in of its operator at its institution today."""
    if not envelope.sign_no:
        raise GatewayError("未签到：请先调用 9001 签到，并在报文中填写 sign_no", "sign_in_required")
    record = _sign_in_of(conn, envelope.sign_no)
    if record is None or record.institution_code != institution_code:
        raise GatewayError(f"签到编号 sign_no={envelope.sign_no} 无效，请重新签到（9001）")
    if record.signed_out_at is not None:
        raise GatewayError("该签到编号已签退，请重新签到（9001）", "sign_in_required")
    if record.business_date != today:
        raise GatewayError("签到已过期（签到仅当日有效），请重新签到（9001）", "sign_in_required")
    if envelope.opter and envelope.opter != record.opter:
        raise GatewayError(
            f"签到编号属于操作员 {record.opter}，与报文 opter={envelope.opter} 不一致，"
            "请该操作员签到（9001）",
            "sign_in_required",
        )
