"""PIN comparison with anti-tearing (card.md §Persistence and tearing).

The try counter is decremented and **persisted before** the comparison; a
right PIN then restores it (a second durable write). Cutting power between
the two writes costs the holder one try, never gives one back.
"""

from __future__ import annotations

from card.image import CardImage, PinRecord
from card.sw import SW, CardError, tries_left


def bcd_pin(data: bytes) -> str | None:
    """Digits of a packed-BCD, ``F``-padded PIN (4–12 digits), or None if malformed."""
    text = data.hex().upper().rstrip("F")
    if not text.isdigit() or not 4 <= len(text) <= 12:
        return None
    return text


def present(image: CardImage, pin: PinRecord, digits: str | None) -> None:
    """Check a presented PIN; returns on success, raises ``63Cx``/``6983``/``6985``.

    ``digits`` None (malformed PIN data) counts as a wrong PIN.
    """
    if pin.blocked:
        raise CardError(SW.PIN_BLOCKED)
    if not pin.is_set:
        raise CardError(SW.CONDITIONS)
    pin.tries_left -= 1
    image.commit()  # the try is spent before we look at the PIN
    if digits is not None and pin.matches(digits):
        pin.tries_left = pin.limit
        image.commit()
        return
    raise CardError(tries_left(pin.tries_left))


def status(pin: PinRecord, verified: bool) -> None:
    """VERIFY without data: ``9000`` if verified, else ``63Cx`` / ``6983``."""
    if pin.blocked:
        raise CardError(SW.PIN_BLOCKED)
    if not verified:
        raise CardError(tries_left(pin.tries_left))


def change(image: CardImage, pin: PinRecord, data: bytes) -> None:
    """CHANGE PIN data ``old FF new`` (card.md §Commands, PBOC form): check old, store new."""
    old, sep, new = data.partition(b"\xff")
    if not sep or not 2 <= len(old) <= 6 or not 2 <= len(new) <= 6:
        raise CardError(SW.WRONG_LENGTH)
    new_digits = bcd_pin(new)
    if new_digits is None:
        raise CardError(SW.WRONG_LENGTH)
    present(image, pin, bcd_pin(old))
    pin.set(new_digits)
    image.commit()
