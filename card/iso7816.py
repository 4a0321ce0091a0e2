"""Card-wide commands over the file tree: SELECT, READ RECORD, GET CHALLENGE.

ISO 7816-4 §7.1.1, §7.3.3, §7.5.3; card.md §Commands; EMV Book 1 §11.

SELECT
  ``P1 00`` by FID anywhere in the tree (MF, DF or EF; empty data selects the
  MF), ``P1 02`` an EF under the current DF, ``P1 04`` by DF name (AID; a
  prefix of at least 5 bytes selects like EMV partial selection). ``P2 00``/``04``
  return the FCI, ``0C`` none. A named DF answers its application's FCI; the
  MF and DF04 answer ``6F{83 FID}``; an EF returns no FCI **(project choice)**.

READ RECORD
  ``P2 = SFI<<3 | 4``: record number P1; ``P2 = SFI<<3 | 0``: first record
  whose identifier (first byte) is P1; SFI 0 = current EF (after SELECT
  EF05/EF06/DF04 or a READ RECORD with SFI); SFIs 1..30 name the selected
  application's record files. Record number 0 answers ``6B00``, a missing or
  empty record ``6A83``, an unknown SFI ``6A82``, no current EF ``6985``, a
  file whose read key (DF04: key 07) is not externally authenticated ``6982``.

GET CHALLENGE
  ``00 84 00 00 Le`` with Le ``04``, ``08`` or ``10`` on every card (card.md
  §What real cards do); Le ``00`` or none: one block (8 bytes 3DES, 16 bytes
  SM4); any other Le ``6Cxx`` with the block size. The challenge is kept for
  the next EXTERNAL AUTHENTICATE or MAC, which use it zero-padded to a block.
"""

from __future__ import annotations

import os

from card.apdu import Command, check_le
from card.context import CardContext
from card.layout import Node
from card.sw import SW, CardError
from card.tlv import tlv

#: Le values GET CHALLENGE answers with that many bytes.
CHALLENGE_LENGTHS = frozenset({0x04, 0x08, 0x10})


def _find_node(ctx: CardContext, cmd: Command) -> Node | None:
    data = cmd.data
    if cmd.p1 == 0x00:
        if not data:
            return ctx.mf
        if len(data) != 2:
            raise CardError(SW.WRONG_LENGTH)
        fid = int.from_bytes(data, "big")
        return next((n for n in ctx.nodes.values() if n.fid == fid), None)
    if cmd.p1 == 0x02:
        if len(data) != 2:
            raise CardError(SW.WRONG_LENGTH)
        fid = int.from_bytes(data, "big")
        children = ctx.session.current_df.children
        return next((n for n in children if n.fid == fid and not n.is_df), None)
    if cmd.p1 == 0x04:
        if not 1 <= len(data) <= 16:
            raise CardError(SW.WRONG_LENGTH)
        named = [n for n in ctx.nodes.values() if n.aid is not None]
        node = next((n for n in named if n.aid == data), None)
        if node is None and len(data) >= 5:
            node = next((n for n in named if n.aid.startswith(data)), None)  # type: ignore[union-attr]
        return node
    raise CardError(SW.WRONG_P1P2)


def select(ctx: CardContext, cmd: Command) -> bytes:
    if cmd.p2 not in (0x00, 0x04, 0x0C):
        raise CardError(SW.WRONG_P1P2)
    node = _find_node(ctx, cmd)
    if node is None:
        raise CardError(SW.FILE_NOT_FOUND)
    ctx.enter(node)
    if cmd.p2 == 0x0C or not node.is_df:
        return b""
    fci = ctx.application_of(node).fci
    if node.aid is not None and fci is not None:
        return fci(ctx, node)
    return tlv(0x6F, tlv(0x83, (node.fid or 0).to_bytes(2, "big")))


def resolve(ctx: CardContext, sfi: int) -> Node:
    """The record file for ``sfi`` in the selected application (0 = current EF)."""
    session = ctx.session
    if sfi == 0:
        if session.current_ef is None:
            raise CardError(SW.CONDITIONS)
        return session.current_ef
    node = ctx.application.record_file(ctx, sfi)
    session.current_ef = node
    return node


def record_reference(cmd: Command) -> tuple[int, int]:
    """``(sfi, mode)`` of a READ/UPDATE RECORD P2; mode 4 = by number, 0 = by identifier."""
    p2 = cmd.p2
    mode = p2 & 0x07
    if (mode != 4 and mode != 0) or p2 >> 3 == 31:
        raise CardError(SW.WRONG_P1P2)
    return p2 >> 3, mode


def read_record(ctx: CardContext, cmd: Command) -> bytes:
    if cmd.data:
        raise CardError(SW.WRONG_LENGTH)
    sfi, mode = record_reference(cmd)
    node = resolve(ctx, sfi)
    key: str = node.records  # type: ignore[assignment]
    if node.read_key is not None and node.read_key not in ctx.session.ext_auth:
        raise CardError(SW.SECURITY_STATUS)
    image = ctx.image
    records = image.records.get(key, {})
    if mode == 4:
        if cmd.p1 == 0:
            raise CardError(SW.WRONG_PARAMETERS)
        number = cmd.p1
        rec = records.get(number)
    else:
        number, rec = next(
            ((n, r) for n, r in sorted(records.items()) if r and r[0] == cmd.p1), (0, None)
        )
    if not rec:
        raise CardError(SW.RECORD_NOT_FOUND)
    if image.damaged and (key, number) in image.damaged:
        ctx.warning = SW.DATA_MAY_BE_CORRUPTED
    return rec


def get_challenge(ctx: CardContext, cmd: Command) -> bytes:
    if cmd.p1 or cmd.p2:
        raise CardError(SW.WRONG_P1P2)
    if cmd.data:
        raise CardError(SW.WRONG_LENGTH)
    size = cmd.le if cmd.le in CHALLENGE_LENGTHS else ctx.image.algorithm.block_size
    check_le(cmd, size)
    challenge = os.urandom(size)
    ctx.session.challenge = challenge
    return challenge
