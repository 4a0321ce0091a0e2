"""The callers' roles: the institution kinds of settlement.md §Roles, plus ``admin``.

An API key belongs to a terminal of an institution, whose ``kind`` is the
caller's role, or is an admin key (docs/api.md §Roles). The terminal's PSAM
roles (``terminal.psam.Role``) use the same names and values. Pure: no web, no
database.
"""

from __future__ import annotations

HOSPITAL = "hospital"
PHARMACY = "pharmacy"
BANK_BRANCH = "bank_branch"  # 合作银行网点: a partner bank's branch
CARD_CENTRE = "card_centre"  # 社保卡管理中心
PAYMENT_CHANNEL = "payment_channel"  # an online contribution channel (WeChat, Alipay, a bank)
ADMIN = "admin"

#: The kinds of institution with card terminals (the PSAM roles); ``POST /v1/institutions``
#: takes these and :data:`CHANNEL_KINDS`.
INSTITUTION_KINDS = (HOSPITAL, PHARMACY, BANK_BRANCH, CARD_CENTRE)

#: Institutions without a card terminal (no PSAM): the payment channels (issue 20).
CHANNEL_KINDS = (PAYMENT_CHANNEL,)
