"""File commands: SELECT, READ RECORD, UPDATE RECORD (card.md §Commands, EMV Book 1 §11, Book 3 §6.5).

SELECT
  ``P1 00`` by FID anywhere in the tree (MF, DF or EF; empty data selects the
  MF), ``P1 02`` an EF under the current DF, ``P1 04`` by DF name (AID; a
  prefix of at least 5 bytes selects like EMV partial selection). ``P2 00``/``04``
  return the FCI, ``0C`` none. FCI: PSE ``6F{84, A5{88 SFI}}``, ADF
  ``6F{84, A5{50, 87}}`` (no PDOL), SSSE ``6F{84 AID}``, MF and DF04
  ``6F{83 FID}``; an EF returns no FCI **(project choice)**.

READ RECORD
  ``P2 = SFI<<3 | 4``: record number P1; ``P2 = SFI<<3 | 0``: first record
  whose identifier (first byte) is P1; SFI 0 = current EF (after SELECT
  EF05/EF06/DF04 or a READ RECORD with SFI). Record number 0 answers ``6B00``,
  a missing or empty record ``6A83``, an unknown SFI ``6A82``, no current EF
  ``6985``, DF04 before EXTERNAL AUTHENTICATE 07 ``6982``.

UPDATE RECORD
  ``00 DC`` for SSSE records after EXTERNAL AUTHENTICATE 04; the data is the
  whole record ``tag len value`` and must match the record's template (wrong
  size ``6700``, wrong tag ``6985``). ``84 DC`` is the financial application's
  issuer-script form, handled in :mod:`card.emv`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from card import emv
from card.apdu import Command
from card.keystore import KEY_MAINTENANCE, KEY_MEDICAL_READ
from card.layout import DEBIT_LABEL, SSSE_RECORDS, Node
from card.sw import SW, CardError
from card.tlv import tlv

if TYPE_CHECKING:
    from card.chip import Chip


def _fci(node: Node) -> bytes:
    if node.app == "pse":
        return tlv(0x6F, tlv(0x84, node.aid or b"") + tlv(0xA5, tlv(0x88, b"\x01")))
    if node.app == "emv":
        return tlv(
            0x6F,
            tlv(0x84, node.aid or b"") + tlv(0xA5, tlv(0x50, DEBIT_LABEL) + tlv(0x87, b"\x01")),
        )
    if node.aid is not None:
        return tlv(0x6F, tlv(0x84, node.aid))
    return tlv(0x6F, tlv(0x83, (node.fid or 0).to_bytes(2, "big")))


def select(chip: Chip, cmd: Command) -> bytes:
    if cmd.p2 not in (0x00, 0x04, 0x0C):
        raise CardError(SW.WRONG_P1P2)
    data = cmd.data
    node: Node | None = None
    if cmd.p1 == 0x00:
        if not data:
            node = chip.mf
        elif len(data) != 2:
            raise CardError(SW.WRONG_LENGTH)
        else:
            fid = int.from_bytes(data, "big")
            node = next((n for n in chip.nodes.values() if n.fid == fid), None)
    elif cmd.p1 == 0x02:
        if len(data) != 2:
            raise CardError(SW.WRONG_LENGTH)
        fid = int.from_bytes(data, "big")
        node = next(
            (n for n in chip.session.current_df.children if n.fid == fid and not n.is_df), None
        )
    elif cmd.p1 == 0x04:
        if not 1 <= len(data) <= 16:
            raise CardError(SW.WRONG_LENGTH)
        named = [n for n in chip.nodes.values() if n.aid is not None]
        node = next((n for n in named if n.aid == data), None)
        if node is None and len(data) >= 5:
            node = next((n for n in named if n.aid.startswith(data)), None)  # type: ignore[union-attr]
    else:
        raise CardError(SW.WRONG_P1P2)
    if node is None:
        raise CardError(SW.FILE_NOT_FOUND)
    chip.enter(node)
    if cmd.p2 == 0x0C or not node.is_df:
        return b""
    return _fci(node)


# --- records ----------------------------------------------------------------------------

_SSSE_SFI = {0x05: "EF05", 0x06: "EF06"}


def resolve(chip: Chip, sfi: int) -> Node:
    """The record file for ``sfi`` in the current application (0 = current EF)."""
    session = chip.session
    if sfi == 0:
        if session.current_ef is None:
            raise CardError(SW.CONDITIONS)
        return session.current_ef
    app = session.current_df.app
    if app == "ssse":
        name = _SSSE_SFI.get(sfi)
        if name is None:
            raise CardError(SW.FILE_NOT_FOUND)
        node = chip.nodes[name]
    elif app == "pse":
        if sfi != 1:
            raise CardError(SW.FILE_NOT_FOUND)
        node = chip.nodes["PSE.DIR"]
    elif app == "emv":
        node = emv.record_file(chip, sfi)
    else:
        raise CardError(SW.FILE_NOT_FOUND)
    session.current_ef = node
    return node


def read_record(chip: Chip, cmd: Command) -> bytes:
    if cmd.data:
        raise CardError(SW.WRONG_LENGTH)
    p2 = cmd.p2
    mode = p2 & 0x07
    if (mode != 4 and mode != 0) or p2 >> 3 == 31:
        raise CardError(SW.WRONG_P1P2)
    node = resolve(chip, p2 >> 3)
    key: str = node.records  # type: ignore[assignment]
    if key == "DF04" and KEY_MEDICAL_READ not in chip.session.ext_auth:
        raise CardError(SW.SECURITY_STATUS)
    records = chip.image.records.get(key, {})
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
    if chip.image.damaged and (key, number) in chip.image.damaged:
        chip.warning = SW.DATA_MAY_BE_CORRUPTED
    return rec


def update_record(chip: Chip, cmd: Command) -> bytes:
    if cmd.cla == 0x84:
        return emv.script_update_record(chip, cmd)
    p2 = cmd.p2
    mode = p2 & 0x07
    if (mode != 4 and mode != 0) or p2 >> 3 == 31:
        raise CardError(SW.WRONG_P1P2)
    if chip.session.current_df.app != "ssse":
        raise CardError(SW.SECURITY_STATUS if chip.session.app == "emv" else SW.CONDITIONS)
    node = resolve(chip, p2 >> 3)
    key: str = node.records  # type: ignore[assignment]
    templates = SSSE_RECORDS[key]
    if KEY_MAINTENANCE not in chip.session.ext_auth:
        raise CardError(SW.SECURITY_STATUS)
    if mode == 4:
        if cmd.p1 == 0:
            raise CardError(SW.WRONG_PARAMETERS)
        spec = next((t for t in templates if t.number == cmd.p1), None)
    else:
        spec = next((t for t in templates if t.tag == cmd.p1), None)
    if spec is None:
        raise CardError(SW.RECORD_NOT_FOUND)
    data = cmd.data
    if len(data) != 2 + spec.length or data[1] != spec.length:
        raise CardError(SW.WRONG_LENGTH)
    if data[0] != spec.tag:
        raise CardError(SW.CONDITIONS)
    image = chip.image
    image.records.setdefault(key, {})[spec.number] = data
    image.damaged.discard((key, spec.number))
    image.commit()
    return b""
