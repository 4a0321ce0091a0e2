"""Minimal BER-TLV (EMV 4.3 Book 3 Annex B) for building and reading card data."""

from __future__ import annotations


class TLVError(ValueError):
    """Bytes that are not well-formed BER-TLV."""


def length_bytes(n: int) -> bytes:
    if n < 0x80:
        return bytes((n,))
    if n < 0x100:
        return bytes((0x81, n))
    if n < 0x10000:
        return bytes((0x82, n >> 8, n & 0xFF))
    raise TLVError("value too long")


def tlv(tag: int | bytes, value: bytes) -> bytes:
    """One data object; ``tag`` as bytes or an int like ``0x9F36``."""
    if isinstance(tag, int):
        tag = tag.to_bytes((tag.bit_length() + 7) // 8 or 1, "big")
    return tag + length_bytes(len(value)) + value


def parse(data: bytes) -> list[tuple[bytes, bytes]]:
    """Top-level objects of ``data`` as (tag, value) pairs (``00``/``FF`` padding skipped)."""
    out: list[tuple[bytes, bytes]] = []
    i, n = 0, len(data)
    while i < n:
        if data[i] in (0x00, 0xFF):
            i += 1
            continue
        start = i
        i += 1
        if data[start] & 0x1F == 0x1F:
            while i < n and data[i] & 0x80:
                i += 1
            i += 1
        if i >= n:
            raise TLVError("truncated tag or length")
        tag = data[start:i]
        first = data[i]
        i += 1
        if first < 0x80:
            length = first
        else:
            count = first & 0x7F
            if count == 0 or count > 2 or i + count > n:
                raise TLVError("bad length field")
            length = int.from_bytes(data[i : i + count], "big")
            i += count
        if i + length > n:
            raise TLVError("value runs past the end")
        out.append((tag, data[i : i + length]))
        i += length
    return out


def is_constructed(tag: bytes) -> bool:
    return bool(tag[0] & 0x20)


def find(data: bytes, tag: bytes) -> bytes | None:
    """Depth-first search for the first object with ``tag``."""
    for t, value in parse(data):
        if t == tag:
            return value
        if is_constructed(t):
            try:
                found = find(value, tag)
            except TLVError:
                found = None
            if found is not None:
                return found
    return None
