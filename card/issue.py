"""The card factory: blank cards from the chip maker and ready-made development cards.

``new_blank_card`` is a card as it leaves the chip maker (issuance.md step 5):
file structure present, the card's own diversified SSSE keys loaded
(:meth:`card.keystore.KeyStore.card_keys`), the SSSE PIN at its initial value
``123456``, the PSE directory written, every SSSE and EMV record empty.

**How the bank's EMV keys get into the card (project choice).** Social
security cards are co-branded: the chip maker prints the bank's logo, so it
knows the issuing bank. It loads the bank's per-card *personalisation keys*
``KP_SMI/KP_SMC = DIV(IMK_SMI/IMK_SMC, card_factor)`` — never an IMK. At
step 6 the bank opens a secure channel with them (the card factor is in the
ATR), PUT DATA's the UDK-AC/SMI/SMC it derives from its IMKs and the PAN
(enciphered), sets the bank PIN, writes its records with ``84 DC`` and closes
personalisation with PUT DATA ``DF7F 01``, which erases ``KP_*``
(:func:`card.emv_script.personalisation_script`). The card centre writes
EF05/EF06/DF04 with EXTERNAL AUTHENTICATE 04 + UPDATE RECORD
(:func:`ssse_records` gives the records).

``new_card`` is the development shortcut: the same records and keys written
straight into a new image.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import date
from pathlib import Path

from card import tlv
from card.crypto import Algorithm
from card.emv_script import CardUDKs, personalisation_keys
from card.image import (
    BANK_PIN_LIMIT,
    LIFECYCLE_BLANK,
    LIFECYCLE_PERSONALISED,
    SSSE_PIN_LIMIT,
    CardImage,
    PinRecord,
)
from card.keystore import KeyStore
from card.layout import DEBIT_AID, DEBIT_LABEL, RID_CHINA_SSC, an, bcd
from card.pboc import CDOL1, CDOL2

DEFAULT_REGION = "430100"  # Changsha
ISO_COUNTRY_CHINA = "0156"
INSURANCE_TYPES = ("310", "390")  # employee / resident basic medical insurance
_ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)


class IssueError(ValueError):
    """Holder or card data that cannot go on a card."""


#: Card dates are BCD YYYYMMDD in the SSSE and YYMMDD in the financial application,
#: whose two-digit years EMV reads as 1950–2049 (EMV 4.3 Book 4 §6.7.3).
CARD_DATE_RANGE = (date(1950, 1, 1), date(2049, 12, 31))
BIRTH_YEAR_RANGE = (1900, 2099)


def check_region(region: str) -> str:
    """A 6-digit region code (e.g. ``430100``), or :class:`IssueError`."""
    if not isinstance(region, str) or len(region) != 6 or not region.isdigit():
        raise IssueError(f"a region code is 6 digits, got {region!r}")
    return region


def check_card_dates(issued: date, expires: date) -> None:
    """Issue before expiry, both inside the EMV two-digit-year window."""
    low, high = CARD_DATE_RANGE
    for what, day in (("issue date", issued), ("expiry date", expires)):
        if not low <= day <= high:
            raise IssueError(f"the {what} {day} is outside {low}..{high}")
    if expires <= issued:
        raise IssueError(f"the expiry date {expires} is not after the issue date {issued}")


def id_check_digit(first17: str) -> str:
    """GB 11643 (ISO 7064 MOD 11-2) check character of a citizen ID number."""
    total = sum(int(d) * w for d, w in zip(first17, _ID_WEIGHTS, strict=True))
    return "10X98765432"[total % 11]


def citizen_id(region: str, birth: date, sequence: int, sex: str) -> str:
    """An 18-character citizen ID number; the sequence's parity follows the sex."""
    seq = sequence % 1000
    if (seq % 2 == 1) != (sex == "1"):
        seq = (seq + 1) % 1000
    body = f"{region}{birth:%Y%m%d}{seq:03d}"
    return body + id_check_digit(body)


def luhn_digit(digits: str) -> str:
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch)
        if i % 2 == 0:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return str((10 - total % 10) % 10)


def make_pan(bin_: str, length: int = 19) -> str:
    """BIN + random digits + Luhn check digit."""
    body = bin_ + "".join(str(secrets.randbelow(10)) for _ in range(length - len(bin_) - 1))
    return body + luhn_digit(body)


@dataclass(frozen=True)
class CardHolder:
    """The person on the card (EF06)."""

    name: str  # in Chinese, GBK-encodable, at most 50 bytes
    ssn: str  # 社会保障号码 = citizen ID number, 18 characters
    sex: str = "1"  # "1" male, "2" female
    nation: str = "01"  # ethnic group code (01 = Han)
    birth_date: date | None = None  # default: from the SSN
    birthplace: str | None = None  # region code, default: the SSN's first 6 digits
    latin_name: str = ""  # for the EMV 5F20, e.g. "ZHANG/SAN"

    def __post_init__(self) -> None:
        ssn = self.ssn
        if len(ssn) != 18 or not ssn[:17].isdigit() or not (ssn[17].isdigit() or ssn[17] == "X"):
            raise IssueError(f"an SSN is 17 digits and a check character, got {ssn!r}")
        if self.sex not in ("1", "2"):
            raise IssueError("sex is 1 (male) or 2 (female)")
        if len(self.nation) != 2 or not self.nation.isdigit():
            raise IssueError("nation is a 2-digit ethnic group code")
        try:
            raw = self.name.encode("gbk")
        except UnicodeEncodeError as exc:
            raise IssueError(f"name {self.name!r} is not GBK-encodable") from exc
        if not raw or len(raw) > 50:
            raise IssueError("a name is 1 to 50 GBK bytes")
        place = self.birthplace_code
        if not place.isdigit() or not 2 <= len(place) <= 6 or len(place) % 2:
            raise IssueError("birthplace is a region code of 2, 4 or 6 digits")
        try:
            self.latin_name.encode("ascii")
        except UnicodeEncodeError as exc:
            raise IssueError("latin_name must be ASCII") from exc
        if len(self.latin_name) > 26:
            raise IssueError("latin_name (EMV 5F20) is at most 26 characters")
        low, high = BIRTH_YEAR_RANGE
        if not low <= self.birth.year <= high:
            raise IssueError(f"the birth date {self.birth} is outside {low}..{high}")

    @property
    def birth(self) -> date:
        if self.birth_date is not None:
            return self.birth_date
        text = self.ssn[6:14]
        try:
            return date(int(text[:4]), int(text[4:6]), int(text[6:8]))
        except ValueError as exc:
            raise IssueError(f"SSN {self.ssn} carries no valid birth date") from exc

    @property
    def birthplace_code(self) -> str:
        return self.birthplace if self.birthplace is not None else self.ssn[:6]


def _gbk_split(name: str) -> tuple[bytes, bytes]:
    """Name bytes for the 30-byte record and the 20-byte extension, split on a character."""
    head = b""
    for i, ch in enumerate(name):
        part = ch.encode("gbk")
        if len(head) + len(part) > 30:
            rest = name[i:].encode("gbk")
            if len(rest) > 20:
                raise IssueError("name too long for the name and extension records")
            return head, rest
        head += part
    return head, b""


def _record(tag: int, value: bytes) -> bytes:
    return bytes((tag, len(value))) + value


def ssse_records(
    holder: CardHolder,
    *,
    algorithm: Algorithm,
    region: str,
    card_factor: bytes,
    card_number: str,
    issue_date: date,
    expiry_date: date,
    insurance_type: str = "310",
    psn_no: str = "",
    insured_status: str = "1",
    init_org: str | None = None,
) -> dict[str, dict[int, bytes]]:
    """EF05, EF06 and DF04 records (``tag len value``) exactly as card.md lays them out."""
    if len(card_number) != 9 or not card_number.isascii() or not card_number.isalnum():
        raise IssueError(f"a card number is 9 ASCII letters/digits, got {card_number!r}")
    if insurance_type not in INSURANCE_TYPES:
        raise IssueError(f"insurance type is one of {INSURANCE_TYPES}")
    if insured_status not in ("1", "2"):
        raise IssueError("insured status is 1 (active) or 2 (suspended)")
    if len(psn_no) > 20 or not psn_no.isascii():
        raise IssueError("psn_no is at most 20 ASCII characters")
    org = init_org if init_org is not None else f"{region}000000"
    if len(org) > 12 or not org.isascii():
        raise IssueError("the initialising organisation code is at most 12 ASCII characters")
    version = "3.00" if algorithm is Algorithm.SM4 else "2.00"
    name, extension = _gbk_split(holder.name)
    return {
        "EF05": {
            1: _record(0x01, bcd(region, 3) + RID_CHINA_SSC + card_factor),
            2: _record(0x02, b"1"),
            3: _record(0x03, version.encode("ascii")),
            4: _record(0x04, an(org, 12)),
            5: _record(0x05, bcd(f"{issue_date:%Y%m%d}", 4)),
            6: _record(0x06, bcd(f"{expiry_date:%Y%m%d}", 4)),
            7: _record(0x07, card_number.encode("ascii")),
        },
        "EF06": {
            1: _record(0x08, holder.ssn.encode("ascii")),
            2: _record(0x09, an(name, 30)),
            3: _record(0x4E, an(extension, 20)),
            4: _record(0x0A, holder.sex.encode("ascii")),
            5: _record(0x0B, bcd(holder.nation, 1)),
            6: _record(0x0C, bcd(holder.birthplace_code, 3)),
            7: _record(0x0D, bcd(f"{holder.birth:%Y%m%d}", 4)),
        },
        "DF04": {
            1: _record(0x31, bcd(region, 3)),
            2: _record(0x32, insurance_type.encode("ascii")),
            3: _record(0x33, an(psn_no, 20)),
            4: _record(0x34, insured_status.encode("ascii")),
        },
    }


def _cn(digits: str) -> bytes:
    return bytes.fromhex(digits + ("F" if len(digits) % 2 else ""))


def emv_records(
    holder: CardHolder, *, pan: str, pan_sequence: int, issue_date: date, expiry_date: date
) -> dict[int, dict[int, bytes]]:
    """The financial application's records by SFI, then record number.

    Over SFI 1–3 as PBOC cards lay them out (card.md §What real cards do): SFI 1
    track 2 and the holder, SFI 2 the account and its dates, SFI 3 the risk
    management data (CDOL1, CDOL2, CVM list); the AFL ``08 01 01 00 10 01 01 00
    18 01 01 00`` names them.
    """
    if not pan.isdigit() or not 12 <= len(pan) <= 19:
        raise IssueError("a PAN is 12 to 19 digits")
    if not 0 <= pan_sequence <= 99:
        raise IssueError("the PAN sequence number is 0..99")
    track2 = _cn(f"{pan}D{expiry_date:%y%m}220" + "00000")
    latin = (holder.latin_name or " /").encode("ascii")[:26]
    rec1 = tlv.tlv(
        0x70,
        tlv.tlv(0x57, track2)
        + tlv.tlv(0x5F20, latin)
        + tlv.tlv(0x9F61, holder.ssn.encode("ascii"))  # PBOC cardholder ID number
        + tlv.tlv(0x9F62, b"\x00"),  # ID type: citizen ID card
    )
    rec2 = tlv.tlv(
        0x70,
        tlv.tlv(0x5A, _cn(pan))
        + tlv.tlv(0x5F24, bytes.fromhex(f"{expiry_date:%y%m%d}"))
        + tlv.tlv(0x5F25, bytes.fromhex(f"{issue_date:%y%m%d}"))
        + tlv.tlv(0x5F28, bytes.fromhex(ISO_COUNTRY_CHINA))
        + tlv.tlv(0x5F34, bytes.fromhex(f"{pan_sequence:02d}"))
        + tlv.tlv(0x9F07, bytes.fromhex("FF00"))
        + tlv.tlv(0x9F08, bytes.fromhex("0030"))
        + tlv.tlv(0x9F0D, bytes.fromhex("D86004A800"))
        + tlv.tlv(0x9F0E, bytes.fromhex("0010000000"))
        + tlv.tlv(0x9F0F, bytes.fromhex("D86804F800")),
    )
    rec3 = tlv.tlv(
        0x70,
        tlv.tlv(0x8C, CDOL1)
        + tlv.tlv(0x8D, CDOL2)
        # CVM list: amounts X=Y=0, then "plaintext PIN verified by the ICC, always"
        + tlv.tlv(0x8E, bytes(8) + bytes.fromhex("0100")),
    )
    return {1: {1: rec1}, 2: {1: rec2}, 3: {1: rec3}}


def pse_records() -> dict[int, bytes]:
    """The PSE directory: one entry for the debit application."""
    entry = tlv.tlv(0x4F, DEBIT_AID) + tlv.tlv(0x50, DEBIT_LABEL) + tlv.tlv(0x87, b"\x01")
    return {1: tlv.tlv(0x70, tlv.tlv(0x61, entry))}


def new_blank_card(
    path: Path | str | None,
    *,
    keystore: KeyStore,
    algorithm: Algorithm,
    region: str = DEFAULT_REGION,
    card_factor: bytes | None = None,
    bank_code: str = "102",
    ssse_pin: str = "123456",
) -> CardImage:
    """A card as it arrives from the chip maker; written to ``path`` unless None."""
    factor = card_factor if card_factor is not None else secrets.token_bytes(8)
    if len(factor) != 8:
        raise IssueError("the card factor is 8 bytes")
    check_region(region)
    if not ssse_pin.isdigit() or not 4 <= len(ssse_pin) <= 12:
        raise IssueError("a PIN is 4 to 12 digits")
    bank = keystore.bank(bank_code)
    perso_smi, perso_smc = personalisation_keys(bank, factor)
    image = CardImage(
        algorithm=algorithm,
        region=region,
        card_factor=factor,
        bank_code=bank_code,
        ssse_keys=keystore.card_keys(algorithm, region, factor),
        ssse_pin=PinRecord.new(ssse_pin, SSSE_PIN_LIMIT),
        bank_pin=PinRecord.new(None, BANK_PIN_LIMIT),
        records={"PSE": pse_records(), "EF05": {}, "EF06": {}, "DF04": {}},
        emv_lifecycle=LIFECYCLE_BLANK,
        emv_keys={"perso_smi": perso_smi, "perso_smc": perso_smc},
    )
    if path is not None:
        image.save(path)
    return image


def _add_years(day: date, years: int) -> date:
    if not 1 <= day.year + years <= 9999:
        raise IssueError(f"{day} plus {years} years is not a date")
    try:
        return day.replace(year=day.year + years)
    except ValueError:  # 29 February
        return day.replace(year=day.year + years, day=28)


def new_card(
    path: Path | str | None,
    holder: CardHolder,
    *,
    keystore: KeyStore,
    algorithm: Algorithm = Algorithm.SM4,
    region: str = DEFAULT_REGION,
    card_number: str | None = None,
    card_factor: bytes | None = None,
    issue_date: date | None = None,
    expiry_date: date | None = None,
    insurance_type: str = "310",
    psn_no: str | None = None,
    bank_code: str = "102",
    pan: str | None = None,
    pan_sequence: int = 1,
    ssse_pin: str = "123456",
    bank_pin: str = "123456",
    insured_status: str = "1",
    init_org: str | None = None,
) -> CardImage:
    """A fully personalised card (development shortcut); written to ``path`` unless None."""
    image = new_blank_card(
        None,
        keystore=keystore,
        algorithm=algorithm,
        region=region,
        card_factor=card_factor,
        bank_code=bank_code,
        ssse_pin=ssse_pin,
    )
    bank = keystore.bank(bank_code)
    if issue_date is not None:
        issued = issue_date
    elif expiry_date is not None and expiry_date <= date.today():
        issued = _add_years(expiry_date, -10)  # an already expired card: issued 10 years before
    else:
        issued = date.today()
    expires = expiry_date or _add_years(issued, 10)
    check_card_dates(issued, expires)
    number = card_number or f"X{secrets.randbelow(10**8):08d}"
    person = psn_no if psn_no is not None else region + f"{secrets.randbelow(10**14):014d}"
    account = pan or make_pan(bank.bin)
    if not bank_pin.isdigit() or not 4 <= len(bank_pin) <= 12:
        raise IssueError("a PIN is 4 to 12 digits")
    image.records.update(
        ssse_records(
            holder,
            algorithm=algorithm,
            region=region,
            card_factor=image.card_factor,
            card_number=number,
            issue_date=issued,
            expiry_date=expires,
            insurance_type=insurance_type,
            psn_no=person,
            insured_status=insured_status,
            init_org=init_org,
        )
    )
    files = emv_records(
        holder, pan=account, pan_sequence=pan_sequence, issue_date=issued, expiry_date=expires
    )
    image.records.update({f"EMV{sfi}": records for sfi, records in files.items()})
    udks = CardUDKs.derive(bank, account, pan_sequence)
    image.emv_keys = {"ac": udks.ac, "smi": udks.smi, "smc": udks.smc}
    image.bank_pin.set(bank_pin)
    image.emv_lifecycle = LIFECYCLE_PERSONALISED
    if path is not None:
        image.save(path)
    return image


def sample_holder(
    region: str = DEFAULT_REGION, *, sex: str = "1", sequence: int | None = None
) -> CardHolder:
    """A quick test holder: 张三 / 李四, born 1980-05-17, a valid citizen ID number."""
    check_region(region)
    birth = date(1980, 5, 17)
    seq = sequence if sequence is not None else secrets.randbelow(1000)
    name = "张三" if sex == "1" else "李四"
    latin = "ZHANG/SAN" if sex == "1" else "LI/SI"
    return CardHolder(
        name=name,
        ssn=citizen_id(region, birth, seq, sex),
        sex=sex,
        birth_date=birth,
        latin_name=latin,
    )
