"""Card-only billing at the gateway (nhsa.md §Card-only rule; docs/gateway.md §Card-only).

2401 and 2304 need ``mdtrt_cert_type`` ``03`` backed by a recent networked card authentication
of that card at this institution (reader-library.md; 2304: PIN-verified), or one of the three
exemptions in ``exp_content`` / ``expContent`` (a JSON string or object
``{"exemption": "child_under_7" | "foreign_document" | "lost_card_receipt", …evidence}``).
The answer is what the core's admission and settlement take: a card authentication token or an
exemption.
"""

from __future__ import annotations

import json

from pydantic import ValidationError

from settlement.gateway.convert import GatewayError, is_blank, text
from settlement.gateway.messages import Act
from settlement.schemas import ExemptionBody
from settlement.store import card_auth
from settlement.store.card_auth import CardAuthRecord

CARD_REQUIRED = "须持社会保障卡联网认证"


def _exemption(raw: object) -> ExemptionBody | None:
    if is_blank(raw):
        return None
    try:
        data = json.loads(raw) if isinstance(raw, str) else raw
    except json.JSONDecodeError:
        raise GatewayError("exp_content 应为 JSON 字符串", "field_invalid") from None
    if not isinstance(data, dict) or not data.get("exemption"):
        return None
    evidence = {k: v for k, v in data.items() if k != "exemption" and not is_blank(v)}
    try:
        return ExemptionBody(kind=data["exemption"], **evidence)
    except ValidationError as error:
        first = error.errors()[0]
        field = ".".join(str(p) for p in first["loc"]) or "exemption"
        raise GatewayError(
            f"exp_content 免卡凭证不合法：{field}（{first['msg']}）；免卡类型应为 "
            "child_under_7 / foreign_document / lost_card_receipt",
            "field_invalid",
        ) from None


def holder(act: Act, data: dict, *, envelope_input: dict, pin: bool) -> dict:
    """``{"card_authentication": token}`` or ``{"exemption": …}`` for the core, or a refusal."""
    raw = next(
        (
            source.get(name)
            for source in (data, envelope_input)
            for name in ("exp_content", "expContent")
            if not is_blank(source.get(name))
        ),
        None,
    )
    exemption = _exemption(raw)
    if exemption is not None:
        return {"exemption": exemption}
    cert_type = text(data, "mdtrt_cert_type", max_len=4)
    if cert_type != "03":
        raise GatewayError(
            f"{CARD_REQUIRED}：就诊凭证类型须为 03（社会保障卡），收到 {cert_type or '空'}；"
            "无卡时请在 exp_content 中提供免卡凭证",
            "card_required",
        )
    return {"card_authentication": recent_authentication(act, data, pin=pin).token}


def recent_authentication(act: Act, data: dict, *, pin: bool) -> CardAuthRecord:
    """The networked card authentication behind a ``03`` certificate: by the token when
    ``mdtrt_cert_no`` is ``cardno|pBusiCardInfo``, else by card number (+ ``card_sn`` when
    sent) at this institution, still valid (reader-library.md §pBusiCardInfo, step 3)."""
    card_no, _, token = text(data, "mdtrt_cert_no", required=True, max_len=4000).partition("|")
    card_no, token = card_no.strip(), token.strip() or None
    card_sn = text(data, "card_sn", max_len=64) or None
    record = card_auth.find_recent(
        act.conn,
        institution_code=act.principal.institution_code,
        now=act.now,
        token=token,
        card_no=card_no,
        card_sn=card_sn,
        pin_verified=pin,
    )
    if record is None:
        need = "并验证密码" if pin else ""
        raise GatewayError(
            f"{CARD_REQUIRED}：未找到社会保障卡 {card_no} 在本机构的有效联网认证{need}，"
            "请读卡认证后重试",
            "card_required",
        )
    return record
