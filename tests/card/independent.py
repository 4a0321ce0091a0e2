"""Independent reference implementations for the tests (not card.crypto).

Built straight on ``cryptography``'s block primitives, anchored by published
test vectors in test_crypto_kat.py, so a test can recompute what the card
should answer without calling the code under test.
"""

from __future__ import annotations

from cryptography.hazmat.decrepit.ciphers.algorithms import TripleDES
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes


def _ecb(algorithm, data: bytes, decrypt: bool = False) -> bytes:
    cipher = Cipher(algorithm, modes.ECB())
    ctx = cipher.decryptor() if decrypt else cipher.encryptor()
    return ctx.update(data) + ctx.finalize()


def des(key8: bytes, block: bytes, decrypt: bool = False) -> bytes:
    return _ecb(TripleDES(key8 * 3), block, decrypt)


def tdes(key16: bytes, data: bytes) -> bytes:
    return _ecb(TripleDES(key16 + key16[:8]), data)


def sm4(key: bytes, data: bytes) -> bytes:
    return _ecb(algorithms.SM4(key), data)


def block_cipher(name: str):
    return tdes if name == "3des" else sm4


def invert(data: bytes) -> bytes:
    return bytes(b ^ 0xFF for b in data)


def xor(a: bytes, b: bytes) -> bytes:
    return bytes(x ^ y for x, y in zip(a, b, strict=True))


def div(name: str, key: bytes, factor: bytes) -> bytes:
    """card.md: 3DES(K,F)||3DES(K,~F); SM4(K, F||~F)."""
    if name == "3des":
        return tdes(key, factor) + tdes(key, invert(factor))
    return sm4(key, factor + invert(factor))


def card_key(name: str, master: bytes, region: str, factor: bytes) -> bytes:
    return div(name, div(name, master, region.encode() + b"sx"), factor)


def pad2(data: bytes, size: int) -> bytes:
    data += b"\x80"
    while len(data) % size:
        data += b"\x00"
    return data


def cbc_mac(name: str, key: bytes, data: bytes, iv: bytes) -> bytes:
    """MAC algorithm 1, padding method 2, block by block."""
    size = 8 if name == "3des" else 16
    enc = block_cipher(name)
    state = iv.ljust(size, b"\x00")
    padded = pad2(data, size)
    for i in range(0, len(padded), size):
        state = enc(key, xor(state, padded[i : i + size]))
    return state


def retail_mac(key16: bytes, data: bytes) -> bytes:
    """ISO 9797-1 MAC algorithm 3 with single DES, padding method 2."""
    left, right = key16[:8], key16[8:]
    state = bytes(8)
    padded = pad2(data, 8)
    for i in range(0, len(padded), 8):
        state = des(left, xor(state, padded[i : i + 8]))
    return des(left, des(right, state, decrypt=True))


def udk(imk: bytes, pan: str, psn: int) -> bytes:
    y = bytes.fromhex((pan + f"{psn:02d}")[-16:].rjust(16, "0"))
    return tdes(imk, y) + tdes(imk, invert(y))


def session_key(udk16: bytes, atc: int) -> bytes:
    a = atc.to_bytes(2, "big")
    return tdes(udk16, a + b"\xf0" + bytes(5)) + tdes(udk16, a + b"\x0f" + bytes(5))
