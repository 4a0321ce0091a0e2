"""API keys (stored as SHA-256 of a random secret) and query passwords (salted scrypt).

An API key is ``sk_<key id>_<secret>``: the key id is public (it names the key
in the audit log), the 32-byte random secret is shown once and only its hash is
stored. A fast hash is right for a high-entropy random secret; human-chosen
query passwords (settlement.md §PIN authority: "passwords: salted slow hash")
get scrypt.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass

from card.keystore import KeyStore

KEY_PREFIX = "sk"
SCRYPT_N, SCRYPT_R, SCRYPT_P = 2**14, 8, 1


@dataclass(frozen=True)
class NewApiKey:
    key_id: str
    secret_hash: str
    api_key: str  # the full key, shown once


def new_secret() -> str:
    """A fresh random key secret (a new key's, or a rotated key's)."""
    return secrets.token_urlsafe(32)


def new_api_key() -> NewApiKey:
    key_id = secrets.token_hex(6)
    secret = new_secret()
    return NewApiKey(key_id, hash_secret(secret), f"{KEY_PREFIX}_{key_id}_{secret}")


def hash_secret(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


def split_api_key(api_key: str) -> tuple[str, str] | None:
    """``(key_id, secret)`` of a well-formed key, else None."""
    parts = api_key.strip().split("_", 2)
    if len(parts) != 3 or parts[0] != KEY_PREFIX or not parts[1] or not parts[2]:
        return None
    return parts[1], parts[2]


def secret_matches(secret: str, secret_hash: str) -> bool:
    return hmac.compare_digest(hash_secret(secret), secret_hash)


def hash_password(password: str) -> str:
    """``scrypt$N$r$p$salt$hash`` (hex)."""
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(
        password.encode("utf-8"), salt=salt, n=SCRYPT_N, r=SCRYPT_R, p=SCRYPT_P, dklen=32
    )
    return f"scrypt${SCRYPT_N}${SCRYPT_R}${SCRYPT_P}${salt.hex()}${digest.hex()}"


def password_matches(password: str, stored: str | None) -> bool:
    if not stored:
        return False
    try:
        scheme, n, r, p, salt, digest = stored.split("$")
    except ValueError:
        return False
    if scheme != "scrypt":
        return False
    candidate = hashlib.scrypt(
        password.encode("utf-8"),
        salt=bytes.fromhex(salt),
        n=int(n),
        r=int(r),
        p=int(p),
        dklen=len(digest) // 2,
    )
    return hmac.compare_digest(candidate.hex(), digest)


def fingerprint_key(master_keys: list[bytes]) -> bytes:
    """The service's secret for fingerprints of secret request fields, derived from its key store
    (the master keys never leave it; the database holds no copy of this key)."""
    if not master_keys:
        raise ValueError("the key store holds no key to derive the fingerprint key from")
    return hmac.new(
        b"".join(master_keys), b"sscard idempotency fingerprint v1", hashlib.sha256
    ).digest()


def keystore_fingerprint_key(store: KeyStore) -> bytes:
    """:func:`fingerprint_key` of a key store: from its SSSE master keys and city keys,
    in a fixed order."""
    masters = [
        key for _alg, keys in sorted(store.ssse.items()) for _kid, key in sorted(keys.items())
    ]
    cities = [
        key
        for _alg, regions in sorted(store.city_keys.items())
        for _region, keys in sorted(regions.items())
        for _kid, key in sorted(keys.items())
    ]
    return fingerprint_key(masters + cities)


def secret_fingerprint(key: bytes, *parts: str | None) -> str:
    """HMAC-SHA256 of secret request fields (query passwords) for the idempotency record:
    equal requests compare equal, but without ``key`` no dictionary attack can test a guess."""
    message = b"".join((part or "").encode("utf-8") + b"\0" for part in parts)
    return hmac.new(key, message, hashlib.sha256).hexdigest()
