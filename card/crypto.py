"""Block ciphers, key diversification and MACs of the social security card.

The shapes follow ``docs/card.md`` §Keys:

* 2nd-generation cards use double-length 3DES (16-byte keys, 8-byte blocks),
  3rd-generation cards SM4 (16-byte keys, 16-byte blocks).
* ``DIV(K, F)`` (PBOC style) turns a master key and an 8-byte factor into a
  16-byte key; a card key is ``DIV(DIV(master, city_factor), card_factor)``.
* The SSSE MAC is ISO 9797-1 padding method 2, CBC with IV = the card
  challenge, the full-key cipher on every block (MAC algorithm 1), first four
  bytes.

The EMV helpers (option-A UDK, common session key, retail MAC) follow EMV 4.3
Book 2 Annex A1 and are used by the financial application, the bank's
terminal and the tests.

Everything here is pure: bytes in, bytes out.
"""

from __future__ import annotations

from enum import Enum

from cryptography.hazmat.decrepit.ciphers.algorithms import TripleDES
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

KEY_LENGTH = 16
FACTOR_LENGTH = 8


class CryptoError(ValueError):
    """A key, factor or block of the wrong size."""


class Algorithm(str, Enum):
    """The card's symmetric algorithm, chosen per card at issuance."""

    TDES = "3des"  # 2nd generation
    SM4 = "sm4"  # 3rd generation

    @property
    def block_size(self) -> int:
        return 8 if self is Algorithm.TDES else 16

    @property
    def generation_byte(self) -> int:
        """The last historical byte of the ATR (``32``/``33``)."""
        return 0x32 if self is Algorithm.TDES else 0x33

    @classmethod
    def parse(cls, text: str) -> Algorithm:
        """Accept ``3des``/``tdes``/``des3`` and ``sm4`` in any case."""
        value = text.strip().lower()
        if value in ("3des", "tdes", "des3", "2"):
            return cls.TDES
        if value in ("sm4", "3"):
            return cls.SM4
        raise ValueError(f"unknown algorithm {text!r}: use 3des or sm4")


def _check_key(key: bytes) -> None:
    if len(key) != KEY_LENGTH:
        raise CryptoError(f"keys are {KEY_LENGTH} bytes, got {len(key)}")


def _algorithm(alg: Algorithm, key: bytes):
    _check_key(key)
    if alg is Algorithm.TDES:
        # cryptography deprecates 16-byte 3DES keys: expand K1||K2 to K1||K2||K1.
        return TripleDES(key + key[:8])
    return algorithms.SM4(key)


def encrypt_ecb(alg: Algorithm, key: bytes, data: bytes) -> bytes:
    """Encrypt whole blocks independently."""
    if len(data) % alg.block_size:
        raise CryptoError(f"data must be whole {alg.block_size}-byte blocks")
    encryptor = Cipher(_algorithm(alg, key), modes.ECB()).encryptor()
    return encryptor.update(data) + encryptor.finalize()


def decrypt_ecb(alg: Algorithm, key: bytes, data: bytes) -> bytes:
    if len(data) % alg.block_size:
        raise CryptoError(f"data must be whole {alg.block_size}-byte blocks")
    decryptor = Cipher(_algorithm(alg, key), modes.ECB()).decryptor()
    return decryptor.update(data) + decryptor.finalize()


def _xor(a: bytes, b: bytes) -> bytes:
    return bytes(x ^ y for x, y in zip(a, b, strict=True))


def _invert(data: bytes) -> bytes:
    return bytes(x ^ 0xFF for x in data)


def diversify(alg: Algorithm, key: bytes, factor: bytes) -> bytes:
    """``DIV(K, F)``: one level of PBOC diversification with an 8-byte factor."""
    if len(factor) != FACTOR_LENGTH:
        raise CryptoError(f"diversification factors are {FACTOR_LENGTH} bytes")
    # For 3DES this is two ECB blocks F and ~F; for SM4 one block F || ~F.
    return encrypt_ecb(alg, key, factor + _invert(factor))


def city_factor(region_code: str) -> bytes:
    """ASCII of the 6-digit region code followed by ``sx``, e.g. ``371700sx``."""
    if len(region_code) != 6 or not region_code.isdigit():
        raise CryptoError(f"region codes are 6 digits, got {region_code!r}")
    return region_code.encode("ascii") + b"sx"


def city_key(alg: Algorithm, master_key: bytes, region_code: str) -> bytes:
    """The per-city key a PSAM may hold instead of the master key."""
    return diversify(alg, master_key, city_factor(region_code))


def card_key(alg: Algorithm, master_key: bytes, region_code: str, card_factor: bytes) -> bytes:
    """``DIV(DIV(master, city_factor), card_factor)``."""
    return diversify(alg, city_key(alg, master_key, region_code), card_factor)


def pad_method2(data: bytes, block_size: int) -> bytes:
    """ISO 9797-1 padding method 2: ``80`` then zeros to a whole block."""
    padded = data + b"\x80"
    return padded + bytes(-len(padded) % block_size)


def cbc_mac_blocks(alg: Algorithm, key: bytes, data: bytes, iv: bytes = b"") -> bytes:
    """Full CBC-MAC (last block) over method-2-padded data; IV zero-padded to a block."""
    block = alg.block_size
    if len(iv) > block:
        raise CryptoError(f"an IV is at most one {block}-byte block")
    iv_block = iv + bytes(block - len(iv))
    encryptor = Cipher(_algorithm(alg, key), modes.CBC(iv_block)).encryptor()
    ciphertext = encryptor.update(pad_method2(data, block)) + encryptor.finalize()
    return ciphertext[-block:]


def ssse_mac(alg: Algorithm, key: bytes, data: bytes, challenge: bytes) -> bytes:
    """The 4-byte SSSE MAC (RESET RETRY COUNTER and friends), IV = challenge."""
    return cbc_mac_blocks(alg, key, data, challenge)[:4]


# --- EMV (financial application) -----------------------------------------------------


def _des(key: bytes):
    if len(key) != 8:
        raise CryptoError("single DES keys are 8 bytes")
    return TripleDES(key * 3)


def retail_mac(key: bytes, data: bytes) -> bytes:
    """ISO 9797-1 MAC algorithm 3 (retail MAC), padding method 2, 8 bytes.

    Single DES CBC with the left key half, then decrypt with the right half and
    encrypt with the left half on the last block (EMV 4.3 Book 2 A1.2.1).
    """
    _check_key(key)
    left, right = key[:8], key[8:]
    encryptor = Cipher(_des(left), modes.CBC(bytes(8))).encryptor()
    last = (encryptor.update(pad_method2(data, 8)) + encryptor.finalize())[-8:]
    decryptor = Cipher(_des(right), modes.ECB()).decryptor()
    last = decryptor.update(last) + decryptor.finalize()
    encryptor = Cipher(_des(left), modes.ECB()).encryptor()
    return encryptor.update(last) + encryptor.finalize()


def emv_udk(imk: bytes, pan: str, pan_sequence: int) -> bytes:
    """EMV option A: the card's unique key from the issuer master key.

    Y = the rightmost 16 digits of PAN || PAN sequence number (2 digits),
    packed BCD; UDK = 3DES(IMK, Y) || 3DES(IMK, Y xor FF..FF), with odd
    parity not adjusted (the simulator never relies on parity).
    """
    digits = (pan + f"{pan_sequence:02d}")[-16:].rjust(16, "0")
    if not digits.isdigit():
        raise CryptoError("PAN must be digits")
    y = bytes.fromhex(digits)
    return diversify(Algorithm.TDES, imk, y)


def emv_session_key(udk: bytes, atc: int) -> bytes:
    """EMV common session key derivation (Book 2 A1.3) with R = ATC || 00..00."""
    r = atc.to_bytes(2, "big") + bytes(6)
    left = encrypt_ecb(Algorithm.TDES, udk, r[:2] + b"\xf0" + r[3:])
    right = encrypt_ecb(Algorithm.TDES, udk, r[:2] + b"\x0f" + r[3:])
    return left + right


def ecb_encryptor(alg: Algorithm, key: bytes):
    """A reusable ECB encryptor: ``update(block)`` answers at once (ECB has no chaining).

    The card OS keeps one per key so INTERNAL/EXTERNAL AUTHENTICATE avoid
    building a cipher object per APDU.
    """
    return Cipher(_algorithm(alg, key), modes.ECB()).encryptor()
