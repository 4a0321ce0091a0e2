"""A card session that runs until it is killed (for test_power_cut.py).

``python -m tests.card.power_cut_worker IMAGE KEYSTORE SEED`` prints
``READY``, then for every command ``S i op arg`` before sending it and
``R i SW`` after the card answered, flushing each line, forever.
"""

from __future__ import annotations

import random
import sys

from card.crypto import encrypt_ecb
from card.icc import VirtualCard
from card.keystore import KeyStore


def main() -> None:
    image_path, keystore_path, seed = sys.argv[1], sys.argv[2], int(sys.argv[3])
    rng = random.Random(seed)
    card = VirtualCard.open(image_path)
    card.power_on()
    card.transmit(bytes.fromhex("00A404000F7378312E73682EC9E7BBE1B1A3D5CF00"))
    image = card.image
    alg = image.algorithm
    key04 = KeyStore.load(keystore_path).card_key(alg, 0x04, image.region, image.card_factor)
    challenge = card.transmit(bytes((0, 0x84, 0, 0, alg.block_size)))[:-2]
    response = card.transmit(
        bytes((0, 0x82, 0, 4, alg.block_size)) + encrypt_ecb(alg, key04, challenge)
    )
    if response != b"\x90\x00":
        raise SystemExit(f"external authenticate failed: {response.hex()}")
    card.transmit(bytes.fromhex("00A4000C02EF06"))
    tries = image.ssse_pin_tries_left
    out = sys.stdout
    out.write("READY\n")
    out.flush()
    i = 0
    while True:
        i += 1
        roll = rng.random()
        if tries <= 1 or roll < 0.3:
            op, apdu = "right", bytes.fromhex("0020000003123456")
        elif roll < 0.65:
            op, apdu = "wrong", bytes.fromhex("0020000003999999")
        else:
            nation = rng.randrange(1, 57)
            op, apdu = (
                f"nation {nation:02d}",
                bytes.fromhex(f"00DC050403 0B01{nation:02d}".replace(" ", "")),
            )
        out.write(f"S {i} {op}\n")
        out.flush()
        response = card.transmit(apdu)
        sw = response[-2:].hex().upper()
        if op == "right" and sw == "9000":
            tries = 3
        elif sw.startswith("63C"):
            tries = int(sw[3], 16)
        out.write(f"R {i} {sw}\n")
        out.flush()


if __name__ == "__main__":
    main()
