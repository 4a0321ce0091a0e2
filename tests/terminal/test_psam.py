"""PSAM entitlements (settlement.md §PIN authority) and its cryptograms (card.md §Keys)."""

from __future__ import annotations

import json
import secrets
import stat

import pytest

from card.crypto import Algorithm, encrypt_ecb, ssse_mac
from card.keystore import KeyStore
from terminal.cardinfo import CardIdentity
from terminal.psam import CardNotGenuine, NotEntitled, Psam, PsamError, Role, entitled_key_ids


@pytest.fixture(scope="module")
def issuer() -> KeyStore:
    return KeyStore.generate()


def card(alg: Algorithm = Algorithm.TDES, region: str = "430100") -> CardIdentity:
    return CardIdentity(alg, region, secrets.token_bytes(8))


@pytest.mark.parametrize(
    ("role", "pin_service", "kids"),
    [
        # card.md §What real cards do: every PSAM holds key 0A (terminal authentication)
        (Role.HOSPITAL, False, {0x01, 0x0A, 0x07}),
        (Role.HOSPITAL, True, {0x01, 0x0A, 0x07, 0x03}),
        (Role.PHARMACY, False, {0x01, 0x0A}),
        (Role.PHARMACY, True, {0x01, 0x0A, 0x03}),
        (Role.BANK_BRANCH, False, {0x01, 0x0A, 0x03}),
        (Role.CARD_CENTRE, False, {0x01, 0x0A, 0x03, 0x04}),
    ],
)
def test_entitlements_by_role(issuer, role, pin_service, kids):
    assert set(entitled_key_ids(role, pin_service=pin_service)) == kids
    psam = Psam.provision(
        issuer,
        "X",
        role,
        pin_service=pin_service,
        bank_code="102" if role is Role.BANK_BRANCH else None,
    )
    for alg in Algorithm:
        assert set(psam.keys.ssse[alg]) == kids  # the image holds exactly those keys
    assert 0x02 not in psam.keys.ssse[Algorithm.TDES]


def test_image_is_private_and_round_trips(issuer, tmp_path):
    psam = Psam.provision(issuer, "BANK-102-001", Role.BANK_BRANCH, bank_code="102")
    path = tmp_path / "psam.json"
    psam.save(path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    loaded = Psam.load(path)
    assert loaded.to_json() == psam.to_json()
    data = json.loads(path.read_text())
    assert set(data["keys"]["banks"]) == {"102"}  # no other bank's keys


def test_internal_auth_checked_against_issuer_keys(issuer):
    psam = Psam.provision(issuer, "H1", Role.HOSPITAL)
    for alg in Algorithm:
        ident = card(alg)
        block = psam.internal_auth_block(ident)
        assert len(block) == alg.block_size
        key = issuer.card_key(alg, 0x01, ident.region, ident.card_factor)
        psam.check_internal_auth(ident, block, encrypt_ecb(alg, key, block))
        other = KeyStore.generate().card_key(alg, 0x01, ident.region, ident.card_factor)
        with pytest.raises(CardNotGenuine):
            psam.check_internal_auth(ident, block, encrypt_ecb(alg, other, block))


def test_external_auth_cryptogram_is_card_key_over_challenge(issuer):
    psam = Psam.provision(issuer, "H1", Role.HOSPITAL)
    ident = card(Algorithm.SM4)
    challenge = secrets.token_bytes(16)
    key07 = issuer.card_key(Algorithm.SM4, 0x07, ident.region, ident.card_factor)
    got = psam.external_auth_cryptogram(ident, 0x07, challenge, "read DF04")
    assert got == encrypt_ecb(Algorithm.SM4, key07, challenge)
    with pytest.raises(NotEntitled, match="maintenance"):
        psam.external_auth_cryptogram(ident, 0x04, challenge, "update card data")


def test_reset_retry_counter_mac(issuer):
    psam = Psam.provision(issuer, "CC", Role.CARD_CENTRE)
    ident = card()
    challenge = secrets.token_bytes(8)
    command = psam.reset_retry_counter_apdu(ident, challenge, "654321")
    key03 = issuer.card_key(Algorithm.TDES, 0x03, ident.region, ident.card_factor)
    assert command[:5] == bytes.fromhex("842C020007")
    assert command[5:8] == bytes.fromhex("654321")
    assert command[8:] == ssse_mac(Algorithm.TDES, key03, command[:8], challenge)
    unblock = psam.reset_retry_counter_apdu(ident, challenge, None)
    assert unblock[:5] == bytes.fromhex("842C030004") and len(unblock) == 9


def test_ordinary_hospital_cannot_reset_any_pin(issuer):
    psam = Psam.provision(issuer, "H-ordinary", Role.HOSPITAL)
    with pytest.raises(NotEntitled, match="PIN unblock"):
        psam.reset_retry_counter_apdu(card(), bytes(8), "111111")
    with pytest.raises(NotEntitled, match="not a bank"):
        psam.issuer_keys("102", "reset the bank PIN")


def test_bank_touches_only_its_own_cards_bank_pin(issuer):
    psam = Psam.provision(issuer, "ICBC branch", Role.BANK_BRANCH, bank_code="102")
    assert psam.issuer_keys("102", "reset the bank PIN") == issuer.bank("102")
    with pytest.raises(NotEntitled, match="issued by bank 103"):
        psam.issuer_keys("103", "reset the bank PIN")
    assert psam.bank_for_pan("6228480000000001") == "103"
    assert psam.bank_for_pan("6222020000000001") == "102"


def test_city_psam_serves_only_its_city(issuer):
    psam = Psam.provision(issuer, "H1", Role.HOSPITAL, city="430100")
    assert psam.keys.ssse == {}  # never a master key
    here, elsewhere = card(region="430100"), card(region="371700")
    block = psam.internal_auth_block(here)
    key = issuer.card_key(Algorithm.TDES, 0x01, here.region, here.card_factor)
    psam.check_internal_auth(here, block, encrypt_ecb(Algorithm.TDES, key, block))
    with pytest.raises(NotEntitled, match="region 371700"):
        psam.internal_auth_block(elsewhere)


def test_provisioning_rejects_inconsistent_roles(issuer):
    with pytest.raises(PsamError):
        Psam.provision(issuer, "B", Role.BANK_BRANCH)
    with pytest.raises(PsamError):
        Psam.provision(issuer, "H", Role.HOSPITAL, bank_code="102")
    with pytest.raises(PsamError):
        Psam.provision(issuer, "C", Role.CARD_CENTRE, pin_service=True)
    with pytest.raises(PsamError):
        Psam.provision(issuer, "B", Role.BANK_BRANCH, bank_code="999")
