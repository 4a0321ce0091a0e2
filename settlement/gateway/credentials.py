"""Gateway credentials bound to one institution (docs/gateway.md §Authentication; nhsa.md
§Transport).

Three kinds, as provinces run them: TIF (``x-tif-paasid`` + a shared secret), CSB
(``_api_access_key`` + a secret key for HMAC-SHA1) and a plain ``apikey`` header. A TIF or
CSB secret must be at hand to check a signature, so it cannot be stored as a hash: it is
kept encrypted (AES-256-GCM) under a key derived from the service's key store, the same
way the idempotency fingerprint key is (the database alone does not reveal it). An apikey
is only compared, so only its SHA-256 is stored.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from datetime import datetime

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from sqlalchemy.engine import Connection

from card.keystore import KeyStore
from settlement.security import keystore_fingerprint_key
from settlement.store import gateway as store

TIF, CSB, APIKEY = "tif", "csb", "apikey"
_VERSION = "v1"


def secret_key(keystore: KeyStore) -> bytes:
    """The AES key of stored gateway secrets, derived from the key store's master keys."""
    return hmac.new(
        keystore_fingerprint_key(keystore), b"sscard gateway credential v1", hashlib.sha256
    ).digest()


def seal(key: bytes, secret: str, associated: str) -> str:
    """``v1:`` + Base64(nonce ‖ AES-GCM(secret)), bound to ``associated`` (kind:key)."""
    nonce = secrets.token_bytes(12)
    sealed = AESGCM(key).encrypt(nonce, secret.encode("utf-8"), associated.encode("utf-8"))
    return f"{_VERSION}:{base64.b64encode(nonce + sealed).decode('ascii')}"


def unseal(key: bytes, sealed: str, associated: str) -> str | None:
    """The secret of :func:`seal`; None if it was not sealed under ``key`` for ``associated``."""
    version, _, payload = sealed.partition(":")
    if version != _VERSION:
        return None
    try:
        raw = base64.b64decode(payload)
        return AESGCM(key).decrypt(raw[:12], raw[12:], associated.encode("utf-8")).decode()
    except (InvalidTag, ValueError):
        return None


def apikey_hash(apikey: str) -> str:
    return hashlib.sha256(apikey.encode("utf-8")).hexdigest()


def new_credentials(institution_code: str) -> dict:
    """Fresh TIF, CSB and apikey credentials, in the shape of harness.md's ``gateway`` object."""
    return {
        TIF: {
            "paasid": f"{institution_code.lower()}_{secrets.token_hex(4)}",
            "secret": secrets.token_hex(16),
        },
        CSB: {"access_key": secrets.token_hex(16), "secret_key": secrets.token_urlsafe(24)},
        APIKEY: secrets.token_hex(24),
    }


def store_credentials(
    conn: Connection, keystore: KeyStore, institution_code: str, creds: dict, now: datetime
) -> None:
    """Bind ``creds`` (the shape of :func:`new_credentials`) to the institution; a credential
    already stored is kept (an idempotent rerun of ``demo-setup``)."""
    key = secret_key(keystore)
    tif, csb = creds[TIF], creds[CSB]
    rows = [
        (TIF, tif["paasid"], seal(key, tif["secret"], f"{TIF}:{tif['paasid']}")),
        (CSB, csb["access_key"], seal(key, csb["secret_key"], f"{CSB}:{csb['access_key']}")),
        (APIKEY, apikey_hash(creds[APIKEY]), None),
    ]
    for kind, public, sealed in rows:
        if store.find_credential(conn, kind, public) is None:
            store.insert_credential(
                conn,
                kind=kind,
                key=public,
                institution_code=institution_code,
                secret_enc=sealed,
                created_at=now,
            )
