"""Card profiles: a card for a vendor's test in one JSON object.

A profile names what a test cares about and leaves the rest to the card factory
(``card.issue.new_card``, ``card.md`` §Files and §PINs)::

    {"name": "张三", "sex": "1", "ssn": "…18…", "algorithm": "sm4" | "3des",
     "region": "430100", "insutype": "310", "psn_no": "…", "card_no": "X00000001",
     "ssse_pin": "123456", "bank_pin": "123456",
     "expiry": "2030-12-31", "state": "active" | "expired" | "blocked_pin" | "lost"}

Every field is optional.  States:

* ``active`` — a card as collected by its holder;
* ``expired`` — expiry date yesterday (or the ``expiry`` given, which must be past);
* ``blocked_pin`` — the SSSE PIN's try counter at 0: VERIFY answers ``6983``;
* ``lost`` — a loss report lives in the settlement service, not on the card: it
  needs a card the service knows (one of the demo world's people,
  ``settlement demo-setup``), so a profile is refused with ``needs_service``;
  import such a card with state ``lost`` instead (:meth:`rig.bench.bench.Bench.add_image`).
"""

from __future__ import annotations

import itertools
import secrets
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

from card.crypto import Algorithm
from card.image import CardImage
from card.issue import DEFAULT_REGION, CardHolder, IssueError, citizen_id, new_card
from card.keystore import KeyStore

STATES = ("active", "expired", "blocked_pin", "lost")
FIELDS = frozenset(
    (
        "name",
        "sex",
        "ssn",
        "algorithm",
        "region",
        "insutype",
        "psn_no",
        "card_no",
        "ssse_pin",
        "bank_pin",
        "expiry",
        "state",
    )
)

_sequence = itertools.count(1)


class ProfileError(ValueError):
    """A profile the bench cannot make; ``code`` is the API's stable error code."""

    def __init__(self, message: str, code: str = "bad_profile") -> None:
        super().__init__(message)
        self.code = code


@dataclass(frozen=True)
class Profile:
    name: str = "张三"
    sex: str = "1"
    ssn: str | None = None
    algorithm: Algorithm = Algorithm.SM4
    region: str = DEFAULT_REGION
    insutype: str = "310"
    psn_no: str | None = None
    card_no: str | None = None
    ssse_pin: str = "123456"
    bank_pin: str = "123456"
    expiry: date | None = None
    state: str = "active"

    @classmethod
    def from_json(cls, data: object) -> Profile:
        if data is None:
            data = {}
        if not isinstance(data, dict):
            raise ProfileError("a profile is a JSON object")
        unknown = set(data) - FIELDS
        if unknown:
            raise ProfileError(f"unknown profile fields {sorted(unknown)}; known: {sorted(FIELDS)}")
        if any(not isinstance(v, str) for v in data.values()):
            raise ProfileError("every profile field is a string")
        state = data.get("state", "active")
        if state not in STATES:
            raise ProfileError(f"state {state!r} is not one of {', '.join(STATES)}")
        if state == "lost":
            raise ProfileError(
                "a lost card is a loss report in the settlement service, not a card state: "
                "import a card the service knows (a demo world's, settlement demo-setup) with "
                'POST /v1/cards/import {"image": ..., "state": "lost"} on a bench started '
                "with --service-url and --service-key",
                code="needs_service",
            )
        try:
            algorithm = Algorithm(data.get("algorithm", "sm4"))
        except ValueError:
            raise ProfileError("algorithm is sm4 or 3des") from None
        try:
            expiry = date.fromisoformat(data["expiry"]) if "expiry" in data else None
        except ValueError:
            raise ProfileError("expiry is a date, YYYY-MM-DD") from None
        if state == "expired" and expiry is not None and expiry >= date.today():
            raise ProfileError("an expired card's expiry date lies in the past")
        fields = {k: v for k, v in data.items() if k not in ("algorithm", "expiry", "state")}
        return cls(algorithm=algorithm, expiry=expiry, state=state, **fields)

    def holder(self) -> CardHolder:
        ssn = self.ssn
        if ssn is None:
            ssn = citizen_id(self.region, date(1980, 5, 17), next(_sequence) % 1000, self.sex)
        return CardHolder(name=self.name, ssn=ssn, sex=self.sex)

    def make(self, path: Path, keystore: KeyStore) -> CardImage:
        """Write the card image to ``path`` (``card.md`` §Persistence: a durable image)."""
        expiry = self.expiry
        if self.state == "expired" and expiry is None:
            expiry = date.today() - timedelta(days=1)
        try:
            image = new_card(
                path,
                self.holder(),
                keystore=keystore,
                algorithm=self.algorithm,
                region=self.region,
                card_number=self.card_no,
                card_factor=secrets.token_bytes(8),
                expiry_date=expiry,
                insurance_type=self.insutype,
                psn_no=self.psn_no,
                ssse_pin=self.ssse_pin,
                bank_pin=self.bank_pin,
            )
        except IssueError as exc:
            raise ProfileError(str(exc)) from None
        if self.state == "blocked_pin":
            image.ssse_pin.tries_left = 0
            image.commit()
        return image


def describe(card_id: str, image: CardImage, profile: Profile | None = None) -> dict[str, object]:
    """What the API tells about a card (read from its image)."""
    expiry = image.expiry
    shown: dict[str, object] = {
        "id": card_id,
        "image": str(image.path),
        "card_no": image.card_number,
        "ssn": image.ssn,
        "name": image.name,
        "algorithm": image.algorithm.value,
        "psn_no": image.psn_no,
        "insutype": image.insurance_type,
        "expiry": expiry.isoformat() if expiry else None,
        "ssse_pin_tries_left": image.ssse_pin_tries_left,
        "bank_pin_tries_left": image.bank_pin_tries_left,
        "atr": image.atr.hex().upper(),
    }
    if profile is not None:
        shown.update(state=profile.state, ssse_pin=profile.ssse_pin, bank_pin=profile.bank_pin)
    return shown
