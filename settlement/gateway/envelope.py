"""The request and response envelopes of the national platform (nhsa.md §Request envelope,
§Response envelope).

An answer is always HTTP 200: ``infcode`` 0 with ``output``, or −1 with ``err_msg``;
``inf_refmsgid`` is the receiver's region (6) + ``yyyyMMddHHmmss`` + a 10-digit serial,
``refmsg_time`` / ``respond_time`` are ``yyyyMMddHHmmssSSS`` local times.
"""

from __future__ import annotations

import hashlib
import json
import secrets
from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from settlement.gateway.convert import GatewayError, text

#: The envelope fields every HIS sends (nhsa.md §Request envelope); only these are required.
REQUIRED = ("infno", "msgid", "fixmedins_code")


@dataclass(frozen=True)
class Envelope:
    """One request envelope, checked for what the gateway relies on."""

    infno: str
    msgid: str
    fixmedins_code: str
    fixmedins_name: str
    opter: str
    opter_name: str
    opter_type: str
    sign_no: str
    mdtrtarea_admvs: str
    insuplc_admdvs: str
    inf_time: str
    input: dict
    body_hash: str


def parse(raw: bytes, infno_in_path: str | None) -> Envelope:
    """The envelope of a request body (UTF-8 JSON); the path's infno, if any, must agree."""
    try:
        body = json.loads(raw.decode("utf-8-sig"))
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise GatewayError(f"报文不是合法的 UTF-8 JSON：{error}", "malformed") from None
    if not isinstance(body, dict):
        raise GatewayError("报文应为 JSON 对象", "malformed")
    if infno_in_path and is_missing(body.get("infno")):
        body["infno"] = infno_in_path
    missing = [name for name in REQUIRED if is_missing(body.get(name))]
    if missing:
        raise GatewayError(f"报文缺少字段：{', '.join(missing)}", "field_missing")
    infno = text(body, "infno", max_len=8)
    if infno_in_path and infno != infno_in_path:
        raise GatewayError(f"地址中的交易编号 {infno_in_path} 与报文 infno={infno} 不一致")
    inp = body.get("input")
    if inp is None or inp == "":
        inp = {}
    if not isinstance(inp, dict):
        raise GatewayError("input 应为 JSON 对象", "field_invalid")
    canonical = json.dumps(
        {k: v for k, v in body.items() if k not in ("inf_time", "sign_no")},
        sort_keys=True,
        ensure_ascii=False,
        separators=(",", ":"),
    )
    return Envelope(
        infno=infno,
        msgid=text(body, "msgid", max_len=40),
        fixmedins_code=text(body, "fixmedins_code", max_len=32),
        fixmedins_name=text(body, "fixmedins_name"),
        opter=text(body, "opter", max_len=32),
        opter_name=text(body, "opter_name", max_len=50),
        opter_type=text(body, "opter_type", max_len=4),
        sign_no=text(body, "sign_no", max_len=40),
        mdtrtarea_admvs=text(body, "mdtrtarea_admvs", max_len=12),
        insuplc_admdvs=text(body, "insuplc_admdvs", max_len=12),
        inf_time=text(body, "inf_time", max_len=32),
        input=inp,
        body_hash=hashlib.sha256(canonical.encode("utf-8")).hexdigest(),
    )


def is_missing(value: object) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def _stamp(moment: datetime, tz: ZoneInfo) -> str:
    local = moment.astimezone(tz)
    return local.strftime("%Y%m%d%H%M%S") + f"{local.microsecond // 1000:03d}"


def answer(
    received: datetime,
    now: datetime,
    tz: ZoneInfo,
    region: str,
    *,
    output: dict | None = None,
    err_msg: str | None = None,
) -> dict:
    """The response envelope: ``infcode`` 0 with ``output`` or −1 with ``err_msg``."""
    local = now.astimezone(tz)
    return {
        "infcode": -1 if err_msg is not None else 0,
        "inf_refmsgid": f"{region}{local:%Y%m%d%H%M%S}{secrets.randbelow(10**10):010d}",
        "refmsg_time": _stamp(received, tz),
        "respond_time": _stamp(now, tz),
        "err_msg": err_msg,
        "output": output if err_msg is None else None,
        "enctype": None,
        "signtype": None,
        "cainfo": None,
        "warn_msg": None,
    }
