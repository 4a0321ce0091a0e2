"""The chip's file structure and record templates (card.md §Applications, §SSSE files).

::

    MF 3F00
    ├── SSSE  DDF1  AID 7378312E73682EC9E7BBE1B1A3D5CF
    │   ├── EF05 (SFI 05)  card issuance data, free read
    │   ├── EF06 (SFI 06)  cardholder, free read
    │   └── DF04           medical insurance, read after EXTERNAL AUTHENTICATE 07
    ├── PSE   1PAY.SYS.DDF01  directory EF SFI 01
    └── ADF   A000000333010101  UnionPay debit, records SFI 01

DF04 holds its records itself: after ``SELECT DF04`` a READ RECORD with SFI 0
(the current file) reads them **(project choice: the spec gives DF04 records
but no EF inside it)**. SFIs 05/06 resolve inside the SSSE whether DDF1, one of
its EFs or DF04 is selected.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from card.keystore import KEY_MEDICAL_READ

SSSE_AID = bytes.fromhex("7378312E73682EC9E7BBE1B1A3D5CF")  # "sx1.sh." + GBK 社会保障
PSE_NAME = b"1PAY.SYS.DDF01"
DEBIT_AID = bytes.fromhex("A000000333010101")  # UnionPay debit
DEBIT_LABEL = b"UnionPay Debit"
RID_CHINA_SSC = bytes.fromhex("D156000005")  # RID in the card identification code

App = Literal["ssse", "pse", "emv"]


@dataclass(frozen=True)
class RecordSpec:
    """One SSSE record: its identifier (tag) and value length."""

    number: int
    tag: int
    length: int
    name: str


#: SSSE record files: file key -> record templates (card.md tables).
SSSE_RECORDS: dict[str, tuple[RecordSpec, ...]] = {
    "EF05": (
        RecordSpec(1, 0x01, 16, "card identification code"),
        RecordSpec(2, 0x02, 1, "card type"),
        RecordSpec(3, 0x03, 4, "spec version"),
        RecordSpec(4, 0x04, 12, "initialising organisation"),
        RecordSpec(5, 0x05, 4, "issue date"),
        RecordSpec(6, 0x06, 4, "expiry date"),
        RecordSpec(7, 0x07, 9, "card number"),
    ),
    "EF06": (
        RecordSpec(1, 0x08, 18, "social security number"),
        RecordSpec(2, 0x09, 30, "name"),
        RecordSpec(3, 0x4E, 20, "name extension"),
        RecordSpec(4, 0x0A, 1, "sex"),
        RecordSpec(5, 0x0B, 1, "nation"),
        RecordSpec(6, 0x0C, 3, "birthplace"),
        RecordSpec(7, 0x0D, 4, "birth date"),
    ),
    "DF04": (
        RecordSpec(1, 0x31, 3, "insured region"),
        RecordSpec(2, 0x32, 3, "insurance type"),
        RecordSpec(3, 0x33, 20, "person number"),
        RecordSpec(4, 0x34, 1, "insured status"),
    ),
}


@dataclass(eq=False)
class Node:
    """A DF or EF of the file tree."""

    name: str
    kind: Literal["MF", "DF", "EF"]
    fid: int | None = None
    aid: bytes | None = None
    sfi: int | None = None
    app: App | None = None
    records: str | None = None  # key into the image's record store, if record-bearing
    #: key id that EXTERNAL AUTHENTICATE must have proven before READ RECORD (DF04: 07)
    read_key: int | None = None
    parent: Node | None = None
    children: list[Node] = field(default_factory=list)

    def add(self, child: Node) -> Node:
        child.parent = self
        self.children.append(child)
        return child

    @property
    def is_df(self) -> bool:
        return self.kind != "EF"

    def df(self) -> Node:
        """The DF this node is in (itself for a DF)."""
        return self if self.is_df else self.parent  # type: ignore[return-value]

    def __repr__(self) -> str:
        return f"Node({self.name})"


def build_tree() -> tuple[Node, dict[str, Node]]:
    """The MF and every node by name (one tree per card OS instance)."""
    mf = Node("MF", "MF", fid=0x3F00)
    ssse = mf.add(Node("SSSE", "DF", fid=0xDDF1, aid=SSSE_AID, app="ssse"))
    ssse.add(Node("EF05", "EF", fid=0xEF05, sfi=0x05, app="ssse", records="EF05"))
    ssse.add(Node("EF06", "EF", fid=0xEF06, sfi=0x06, app="ssse", records="EF06"))
    ssse.add(Node("DF04", "DF", fid=0xDF04, app="ssse", records="DF04", read_key=KEY_MEDICAL_READ))
    pse = mf.add(Node("PSE", "DF", aid=PSE_NAME, app="pse"))
    pse.add(Node("PSE.DIR", "EF", sfi=0x01, app="pse", records="PSE"))
    adf = mf.add(Node("ADF", "DF", aid=DEBIT_AID, app="emv"))
    adf.add(Node("ADF.SFI1", "EF", sfi=0x01, app="emv", records="EMV1"))
    nodes: dict[str, Node] = {}

    def walk(node: Node) -> None:
        nodes[node.name] = node
        for child in node.children:
            walk(child)

    walk(mf)
    return mf, nodes


# --- value codecs (card.md: cn left-aligned F-padded, an 00-padded) -------------------


def bcd(digits: str, length: int, pad: str = "F") -> bytes:
    """Packed BCD, left-aligned, padded right with ``pad`` nibbles (``F`` for cn)."""
    if not digits.isdigit():
        raise ValueError(f"not digits: {digits!r}")
    text = digits.ljust(length * 2, pad)
    if len(text) != length * 2:
        raise ValueError(f"{digits!r} does not fit in {length} bytes")
    return bytes.fromhex(text)


def unbcd(value: bytes) -> str:
    """Digits of a packed BCD value, dropping ``F`` padding."""
    return value.hex().upper().rstrip("F")


def an(text: str | bytes, length: int, encoding: str = "ascii") -> bytes:
    """Text padded right with ``00`` to ``length`` bytes."""
    raw = text.encode(encoding) if isinstance(text, str) else text
    if len(raw) > length:
        raise ValueError(f"{text!r} is longer than {length} bytes")
    return raw + bytes(length - len(raw))
