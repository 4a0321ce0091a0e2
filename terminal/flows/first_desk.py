"""Setting up a first desk: a card image's holder, coverage and card registered with the
service, and a citizen added to the simulated police register (issue 17).

The card centre made the card image (``python -m card new``, or card production's step 5),
so it reads the image's records as written: EF05 (card number, identification code,
dates), EF06 (holder: ID number, name, sex, birth date, nation, birthplace) and DF04
(insured region, insurance type, person number) — card.md §SSSE files. The service then
gets the person (docs/api.md §People), a paid coverage period (the admin's migration,
§Contributions: an admin key) and
the card (§Cards), each only when it does not have it yet, so running it twice changes
nothing.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

from card.image import CardImage
from terminal.apdu import parse_tlv_record
from terminal.cardinfo import CardDataError, HolderData, IssuanceData, MedicalData
from terminal.client.http import ServiceRefused
from terminal.client.settlement import SettlementClient
from terminal.i18n import _


class RegistrationRefused(Exception):
    """The service already has this person or card number for someone else."""


@dataclass(frozen=True)
class ImageData:
    """What a card image says about its card and holder."""

    issuance: IssuanceData
    holder: HolderData
    medical: MedicalData | None
    algorithm: str  # "3des" | "sm4"
    region: str
    bank_code: str


def _tagged(image: CardImage, file: str) -> dict[int, bytes]:
    """The records of ``file`` as ``{tag: value}`` (empty: the file was never written)."""
    out: dict[int, bytes] = {}
    for number, record in sorted(image.records.get(file, {}).items()):
        try:
            tag, value = parse_tlv_record(record)
        except ValueError as exc:
            raise CardDataError(f"{file} record {number}: {exc}") from exc
        out[tag] = value
    return out


def read_image(path: str | Path) -> ImageData:
    """The card and holder data of the card image at ``path`` (CardImageError if it is not
    one; CardDataError if it is blank or a record is missing)."""
    image = CardImage.load(path)
    ef05, ef06 = _tagged(image, "EF05"), _tagged(image, "EF06")
    if not any(ef05.values()) or not any(ef06.values()):
        raise CardDataError(_("the card is blank: nothing is written in EF05/EF06 yet"))
    df04 = _tagged(image, "DF04")
    return ImageData(
        issuance=IssuanceData.from_records(ef05),
        holder=HolderData.from_records(ef06),
        medical=MedicalData.from_records(df04) if any(df04.values()) else None,
        algorithm=image.algorithm.value,
        region=image.region,
        bank_code=image.bank_code,
    )


@dataclass
class Registration:
    """What the service was given: (item, True "registered" | False "already there" | None
    "not recorded": a paid coverage period with a key other than the admin's) in order."""

    psn_no: str
    card_no: str
    done: list[tuple[str, bool | None]] = field(default_factory=list)


def _missing(exc: ServiceRefused, *codes: str) -> bool:
    return exc.status == 404 and exc.code in codes


def register_person(
    client: SettlementClient, data: ImageData, psn_no: str, acct_balance: int
) -> tuple[dict[str, Any], bool]:
    """The person of ``psn_no`` (registered from the image's EF06 if the service lacks it);
    True when registered now. Another person under that number is refused."""
    try:
        person = client.person(psn_no)
    except ServiceRefused as exc:
        if not _missing(exc, "person_unknown", "not_found"):
            raise
    else:
        if person.get("certno", "").upper() != data.holder.ssn.upper():
            raise RegistrationRefused(
                _(
                    "person {psn_no} is registered with another ID number: nothing was registered"
                ).format(psn_no=psn_no)
            )
        return person, False
    holder = data.holder
    body = {
        "psn_no": psn_no,
        "psn_name": holder.name,
        "gend": holder.sex,
        "brdy": holder.birth_date.isoformat(),
        "certno": holder.ssn,
        "psn_cert_type": "resident_id",
        "origin": "mainland",
        "acct_balance": acct_balance,
    }
    return client.register_person(body), True


def needs_coverage(person: dict[str, Any], insutype: str) -> bool:
    """No paid period of ``insutype`` covers today (1101's ``insuinfo``)."""
    return not any(
        period.get("insutype") == insutype and period.get("covered")
        for period in person.get("insuinfo") or []
    )


def register_card(client: SettlementClient, data: ImageData, psn_no: str, collected: bool) -> bool:
    """The card (EF05) registered for ``psn_no``; False when the service has it already.
    A card number the service knows for another person is refused."""
    issuance = data.issuance
    try:
        record = client.card(issuance.card_number)
    except ServiceRefused as exc:
        if not _missing(exc, "card_unknown", "not_found"):
            raise
    else:
        if record.get("psn_no") != psn_no:
            raise RegistrationRefused(
                _("card {card_no} is registered for another person: nothing was changed").format(
                    card_no=issuance.card_number
                )
            )
        return False
    client.register_card(
        {
            "card_no": issuance.card_number,
            "card_id_code": issuance.identification_code.hex().upper(),
            "algorithm": data.algorithm,
            "region": data.region,
            "expiry": issuance.expiry_date.isoformat(),
            "issue_date": issuance.issue_date.isoformat(),
            "bank_code": data.bank_code,
            "psn_no": psn_no,
            "status": "active" if collected else "issued",
        }
    )
    return True


def register_from_image(
    client: SettlementClient,
    data: ImageData,
    *,
    psn_no: str,
    insutype: str,
    coverage_from: date,
    acct_balance: int = 0,
    collected: bool = True,
) -> Registration:
    """Person, paid coverage of ``insutype`` from ``coverage_from``, and card, each only if
    missing (docs/api.md §People and coverage, §Cards)."""
    outcome = Registration(psn_no, data.issuance.card_number)
    person, made = register_person(client, data, psn_no, acct_balance)
    outcome.done.append(("person", made))
    covered: bool | None = needs_coverage(person, insutype)
    if covered:  # a paid period comes only from a payment or the admin's migration (#20)
        try:
            client.migrate_coverage(
                {
                    "psn_no": psn_no,
                    "insutype": insutype,
                    "begndate": coverage_from.isoformat(),
                    "reason": f"first desk: card {data.issuance.card_number} registered",
                }
            )
        except ServiceRefused as exc:
            if exc.code != "not_entitled":
                raise
            covered = None  # a card centre's key: the person pays, or the admin migrates
    outcome.done.append(("coverage", covered))
    outcome.done.append(("card", register_card(client, data, psn_no, collected)))
    return outcome
