"""Gateway secrets are stored sealed under a key derived from the key store (docs/gateway.md)."""

from __future__ import annotations

from card.keystore import KeyStore
from settlement.gateway.credentials import seal, secret_key, unseal


def test_a_sealed_secret_opens_only_with_its_key_store_and_its_credential():
    keystore = KeyStore.generate()
    key = secret_key(keystore)
    sealed = seal(key, "s3cret", "tif:paas1")
    assert "s3cret" not in sealed
    assert unseal(key, sealed, "tif:paas1") == "s3cret"
    assert unseal(key, sealed, "tif:paas2") is None
    assert unseal(secret_key(KeyStore.generate()), sealed, "tif:paas1") is None
    assert unseal(key, "v0:" + sealed[3:], "tif:paas1") is None
    assert seal(key, "s3cret", "tif:paas1") != sealed  # a fresh nonce each time
