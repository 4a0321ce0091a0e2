"""The payment system environment ``1PAY.SYS.DDF01`` (EMV 4.3 Book 1 §12.2.2, card.md §Financial application).

SELECT PSE → FCI ``6F{84 name, A5{88 01}}``; its directory EF is SFI 01, with
records ``70{61{4F AID, 50 label, 87 priority}}``. The PSE has no commands of
its own beyond the card-wide ones (:mod:`card.iso7816`).
"""

from __future__ import annotations

from card.context import Application, CardContext
from card.layout import Node
from card.sw import SW, CardError
from card.tlv import tlv

DIRECTORY_SFI = 0x01


def record_file(ctx: CardContext, sfi: int) -> Node:
    if sfi != DIRECTORY_SFI:
        raise CardError(SW.FILE_NOT_FOUND)
    return ctx.nodes["PSE.DIR"]


def fci(ctx: CardContext, node: Node) -> bytes:
    return tlv(0x6F, tlv(0x84, node.aid or b"") + tlv(0xA5, tlv(0x88, bytes((DIRECTORY_SFI,)))))


PSE = Application("pse", record_file=record_file, fci=fci)
