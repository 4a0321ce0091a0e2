"""The card centre's and every counter's card commands: PSAM images, readers, reading a
card, reporting it lost, updating the holder's data (card.md §SSSE files, key 04)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from card.keystore import KEY_MAINTENANCE
from terminal.cli.common import (
    EXIT_OK,
    UsageError,
    card_session,
    console,
    load_psam,
    open_client,
    show,
)
from terminal.flows import centre
from terminal.flows.common import card_expired, read_card
from terminal.i18n import _
from terminal.psam import Psam, PsamError, Role
from terminal.slip import scheme_name


def card_status(status: str) -> str:
    """A card state of the service (docs/api.md §Cards) in the counter's words."""
    words = {
        "issued": _("issued, not collected"),
        "active": _("active"),
        "lost": _("reported lost"),
        "replaced": _("replaced"),
        "cancelled": _("cancelled"),
    }
    return words.get(status, status)


def cmd_psam_provision(args: argparse.Namespace) -> int:
    from card.keystore import KeyStore, default_path

    issuer = KeyStore.load(args.keystore or default_path())
    try:
        psam = Psam.provision(
            issuer,
            args.institution,
            Role(args.role),
            pin_service=args.pin_service,
            bank_code=args.bank,
            city=args.city,
        )
    except PsamError as exc:
        raise UsageError(str(exc)) from exc
    psam.save(args.out)
    return show_psam(args, psam, args.out)


def cmd_psam_show(args: argparse.Namespace) -> int:
    return show_psam(args, Psam.load(args.path), args.path)


def show_psam(args: argparse.Namespace, psam: Psam, path: str | Path | None) -> int:
    """What a PSAM may do (never its keys)."""
    show(
        f"PSAM {psam.psam_id}" + (f" ({path})" if path else ""),
        [
            (_("institution"), psam.institution),
            (
                _("role"),
                psam.role.value + (_(" with PIN service") if psam.pin_service else ""),
            ),
            (_("SSSE keys"), " ".join(f"{kid:02X}" for kid in psam.key_ids)),
            (
                _("key scope"),
                _("city {city}").format(city=psam.city) if psam.city else _("master keys"),
            ),
            (_("bank issuer keys"), psam.bank_code or _("none")),
        ],
        args,
        {
            "psam_id": psam.psam_id,
            "institution": psam.institution,
            "role": psam.role.value,
            "pin_service": psam.pin_service,
            "key_ids": [f"{kid:02X}" for kid in psam.key_ids],
            "city": psam.city,
            "bank_code": psam.bank_code,
            "path": str(path) if path else None,
        },
    )
    return EXIT_OK


def cmd_readers(args: argparse.Namespace) -> int:
    from terminal.readers import list_readers

    names = list_readers()
    if args.json:
        print(json.dumps(names))
    else:
        for index, name in enumerate(names):
            console.print(f"{index}: {name}")
    return EXIT_OK


def cmd_read(args: argparse.Namespace) -> int:
    psam = load_psam(args)
    with card_session(args, psam) as session:
        card = read_card(session)
    rows: list[tuple[str, Any]] = [
        (_("card number"), card.issuance.card_number),
        (_("identification code"), card.identity.identification_code.hex().upper()),
        (_("algorithm"), card.identity.algorithm.value),
        (_("genuine"), _("yes (internal authentication 01 checked by the PSAM)")),
        (
            _("issued / expires"),
            f"{card.issuance.issue_date} / {card.issuance.expiry_date}"
            + (_(" (expired)") if card_expired(card) else ""),
        ),
        (_("holder"), card.holder.name),
        (_("ID number"), card.holder.ssn),
        (_("sex"), {"1": _("male"), "2": _("female")}.get(card.holder.sex, card.holder.sex)),
        (_("birth date"), card.holder.birth_date),
    ]
    data: dict[str, Any] = {
        "card_no": card.issuance.card_number,
        "card_sn": card.identity.identification_code.hex().upper(),
        "algorithm": card.identity.algorithm.value,
        "genuine": True,
        "issue_date": card.issuance.issue_date,
        "expiry_date": card.issuance.expiry_date,
        "expired": card_expired(card),  # by EF05; the service's record can only add to it
        "psn_name": card.holder.name,
        "certno": card.holder.ssn,
        "gend": card.holder.sex,
        "brdy": card.holder.birth_date,
    }
    if card.medical:
        rows += [
            (_("insured region"), card.medical.insured_region),
            (_("scheme"), scheme_name(card.medical.insurance_type)),
            (_("person no."), card.medical.psn_no),
        ]
        data |= {
            "insuplc_admdvs": card.medical.insured_region,
            "insutype": card.medical.insurance_type,
            "psn_no": card.medical.psn_no,
        }
    if args.api_key:
        with open_client(args) as client:
            record = client.card(card.issuance.card_number)
        rows.append(
            (
                _("status online"),
                card_status(record["status"]) + (_(" (expired)") if record.get("expired") else ""),
            )
        )
        data |= {
            "card_status": record["status"],
            "expired": card_expired(card) or bool(record.get("expired")),
        }
    show(_("Social security card"), rows, args, data)
    return EXIT_OK


def cmd_report_lost(args: argparse.Namespace) -> int:
    with open_client(args) as client:
        answer = client.report_loss(args.card_no, args.reason)
    show(
        _("Card reported lost"),
        [
            (_("card number"), answer["card_no"]),
            (_("status"), card_status(answer["status"])),
            (_("replacement receipt (补卡回执)"), answer["replacement_receipt_no"]),
        ],
        args,
        {
            "card_no": answer["card_no"],
            "status": answer["status"],
            "replacement_receipt_no": answer["replacement_receipt_no"],
        },
    )
    return EXIT_OK


def cmd_update_holder(args: argparse.Namespace) -> int:
    changes = {
        field: getattr(args, field)
        for field in centre.EF06_FIELDS
        if getattr(args, field) is not None
    }
    if not changes:
        raise UsageError(_("nothing to update: give at least one of --name, --sex, ..."))
    psam = load_psam(args)
    psam.require_role_key(KEY_MAINTENANCE, _("update card data"))
    with card_session(args, psam) as session:
        update = centre.update_holder(session, changes)
    rows = [(_("card number"), update.card_no), (_("records written"), update.records_written)]
    data: dict[str, Any] = {
        "card_no": update.card_no,
        "records_written": update.records_written,
        "changes": {},
    }
    for field in changes:
        before, after = getattr(update.before, field), getattr(update.after, field)
        rows.append((field, f"{before} → {after}"))
        data["changes"][field] = {"before": before, "after": after}
    show(_("Cardholder data updated (key 04)"), rows, args, data)
    return EXIT_OK


def register_psam(sub: argparse._SubParsersAction) -> None:
    """``psam provision`` / ``psam show``, ``readers`` and ``read``."""
    psam = sub.add_parser("psam", help=_("provision or show a PSAM image (card centre)"))
    psam_sub = psam.add_subparsers(dest="psam_command", required=True)
    prov = psam_sub.add_parser("provision", help=_("cut a PSAM for one institution"))
    prov.add_argument("out", help=_("where to write the PSAM image (mode 0600)"))
    prov.add_argument("--institution", required=True, help=_("institution code"))
    prov.add_argument("--role", required=True, choices=[r.value for r in Role])
    prov.add_argument("--pin-service", action="store_true", help=_("designated PIN service"))
    prov.add_argument("--bank", help=_("bank code of a bank branch (102, 103, ...)"))
    prov.add_argument("--city", help=_("hold city keys for this region instead of master keys"))
    prov.add_argument("--keystore", help=_("issuer key store (default $SSCARD_KEYSTORE)"))
    prov.set_defaults(func=cmd_psam_provision)
    show_p = psam_sub.add_parser("show", help=_("what a PSAM may do (never its keys)"))
    show_p.add_argument("path")
    show_p.set_defaults(func=cmd_psam_show)

    sub.add_parser("readers", help=_("list PC/SC readers")).set_defaults(func=cmd_readers)
    sub.add_parser("read", help=_("read and authenticate the card")).set_defaults(func=cmd_read)


def register_card_services(sub: argparse._SubParsersAction) -> None:
    """``report-lost`` and ``update-holder`` (bank branch, card centre)."""
    lost = sub.add_parser("report-lost", help=_("report a card lost (bank branch, card centre)"))
    lost.add_argument("card_no")
    lost.add_argument("--reason", help=_("why (optional, for the record)"))
    lost.set_defaults(func=cmd_report_lost)

    upd = sub.add_parser("update-holder", help=_("update cardholder data (card centre, key 04)"))
    for field in centre.EF06_FIELDS:
        upd.add_argument(f"--{field.replace('_', '-')}", dest=field)
    upd.set_defaults(func=cmd_update_holder)
