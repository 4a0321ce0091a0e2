"""A hospital information system as the national platform's callers write one: a plain HTTP
client that signs its headers (TIF or CSB, nhsa.md §Transport), numbers its messages
(fixmedins_code + yyyyMMddHHmmss + 4-digit serial) and sends envelopes in either URL style.

The card is read the way the desk does it, through the terminal's Python reader layer
(``terminal.session.CardSession`` on an in-process reader holding the card image, with the
hospital's PSAM), and authenticated on the network (``/v1/card-authentications``).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import itertools
import json
import os
import secrets
import subprocess
import sys
import time
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import httpx

from card.icc import VirtualCard
from card.keystore import KEY_INTERNAL_AUTH
from terminal import apdu
from terminal.psam import Psam
from terminal.readers.inprocess import InProcessReader
from terminal.session import CardSession

CST = ZoneInfo("Asia/Shanghai")
REPO = Path(__file__).resolve().parents[2]
ONE_ENDPOINT = "/fsi/api/rsfComIfsService/callService"


def tif_headers(paasid: str, secret: str, *, stamp: int | None = None, nonce: str | None = None):
    stamp = int(time.time()) if stamp is None else stamp
    nonce = nonce or secrets.token_hex(8)
    signature = hashlib.sha256(f"{stamp}{secret}{nonce}{stamp}".encode()).hexdigest()
    return {
        "x-tif-paasid": paasid,
        "x-tif-timestamp": str(stamp),
        "x-tif-nonce": nonce,
        "x-tif-signature": signature,
    }


def csb_headers(access_key: str, secret: str, infno: str, *, stamp_ms: int | None = None):
    stamp = str(int(time.time() * 1000) if stamp_ms is None else stamp_ms)
    message = (
        f"_api_access_key={access_key}&_api_name={infno}&_api_timestamp={stamp}&_api_version=1.0.0"
    )
    signature = base64.b64encode(
        hmac.new(secret.encode(), message.encode(), hashlib.sha1).digest()
    ).decode()
    return {
        "_api_name": infno,
        "_api_version": "1.0.0",
        "_api_timestamp": stamp,
        "_api_access_key": access_key,
        "_api_signature": signature,
    }


#: The last 4 digits of every msgid this process makes, one counter for all :class:`His`:
#: two HIS made in the same second with a counter each could draw the same msgid (a second
#: use of a msgid is refused, nhsa.md); one counter repeats only after 10 000 messages.
_SERIAL = itertools.count(secrets.randbelow(10_000))


@dataclass
class His:
    """One HIS installation: the service URL, its credentials, auth style and URL style."""

    url: str
    world: dict
    auth: str = "tif"  # tif | csb | apikey
    url_style: str = "one"  # one | infno
    opter: str = "1001"
    opter_name: str = "张护士"
    sign_no: str = ""
    insuplc_admdvs: str = ""
    client: httpx.Client = field(default_factory=lambda: httpx.Client(timeout=30))
    _serial: itertools.count = field(default_factory=lambda: _SERIAL)
    last_msgid: str = ""

    def headers(self, infno: str) -> dict:
        gateway = self.world["gateway"]
        if self.auth == "tif":
            return tif_headers(gateway["tif"]["paasid"], gateway["tif"]["secret"])
        if self.auth == "csb":
            return csb_headers(gateway["csb"]["access_key"], gateway["csb"]["secret_key"], infno)
        return {"apikey": gateway["apikey"]}

    def msgid(self) -> str:
        now = datetime.now(CST)
        return f"{self.world['fixmedins_code']}{now:%Y%m%d%H%M%S}{next(self._serial) % 10000:04d}"

    def envelope(self, infno: str, node: dict, msgid: str | None = None) -> dict:
        """Every field of the envelope, as an HIS fills it."""
        return {
            "infno": infno,
            "msgid": msgid or self.msgid(),
            "mdtrtarea_admvs": self.world["admdvs"],
            "insuplc_admdvs": self.insuplc_admdvs,
            "recer_sys_code": "YBXT",
            "dev_no": "",
            "dev_safe_info": "",
            "cainfo": "",
            "signtype": "",
            "infver": "V1.0",
            "opter_type": "1",
            "opter": self.opter,
            "opter_name": self.opter_name,
            "inf_time": datetime.now(CST).strftime("%Y-%m-%d %H:%M:%S"),
            "fixmedins_code": self.world["fixmedins_code"],
            "fixmedins_name": self.world["fixmedins_name"],
            "sign_no": self.sign_no,
            "input": node,
        }

    def post(self, infno: str, body: bytes, headers: dict | None = None) -> httpx.Response:
        path = ONE_ENDPOINT if self.url_style == "one" else f"/fsi/api/{infno}"
        own = self.headers(infno) if headers is None else headers
        sent = {"Content-Type": "application/json", **own}
        return self.client.post(self.url + path, content=body, headers=sent)

    def call(self, infno: str, node: dict, *, msgid: str | None = None) -> dict:
        """Send one transaction; the answer envelope (HTTP 200 checked)."""
        envelope = self.envelope(infno, node, msgid)
        self.last_msgid = envelope["msgid"]
        reply = self.post(infno, json.dumps(envelope, ensure_ascii=False).encode())
        assert reply.status_code == 200, reply.text
        return reply.json()

    def ok(self, infno: str, node: dict, **kw) -> dict:
        answer = self.call(infno, node, **kw)
        assert answer["infcode"] == 0, answer
        return answer["output"]

    def sign_in(self) -> dict:
        output = self.ok("9001", {"signIn": {"opter_no": self.opter, "mac": "", "ip": ""}})
        self.sign_no = output["signinoutb"]["sign_no"]
        return output


class Desk:
    """The card in the desk's reader: read, authenticated on the network, PIN verified."""

    def __init__(self, url: str, world: dict, person: dict) -> None:
        self.v1 = httpx.Client(
            base_url=url,
            headers={"Authorization": f"Bearer {world['api_keys']['hospital']}"},
            timeout=30,
        )
        self.psam = Psam.load(world["psam"]["hospital"])
        self.person = person
        self.reader = InProcessReader(VirtualCard.open(person["card_image"]))

    def _challenge(self, purpose: str) -> dict:
        reply = self.v1.post(
            "/v1/challenges",
            json={"card_no": self.person["card_no"], "purpose": purpose},
            headers={"Idempotency-Key": secrets.token_hex(8)},
        )
        assert reply.status_code == 201, reply.text
        return reply.json()

    def read_and_authenticate(self, pin: str | None = None) -> dict:
        """ReadCardBas as the reader library does it, then the networked authentication."""
        with self.reader.connect() as connection:
            session = CardSession(connection, self.psam, connection.atr)
            read = session.read_public()
            challenge = self._challenge("card_authentication")
            nonce = bytes.fromhex(challenge["nonce"])
            answer = session.send(
                apdu.internal_authenticate(KEY_INTERNAL_AUTH, nonce), "INTERNAL AUTH 01"
            )
            reply = self.v1.post(
                "/v1/card-authentications",
                json={
                    "card_no": self.person["card_no"],
                    "challenge_id": challenge["challenge_id"],
                    "cryptogram": answer.hex().upper(),
                },
                headers={"Idempotency-Key": secrets.token_hex(8)},
            )
            assert reply.status_code == 201, reply.text
            auth = reply.json()
            if pin is not None:
                session.verify_pin(pin)
                challenge = self._challenge("pin_verification")
                proof = session.card_present_proof(bytes.fromhex(challenge["nonce"]))
                verified = self.v1.post(
                    f"/v1/card-authentications/{auth['token']}/pin-verification",
                    json={"challenge_id": challenge["challenge_id"], "cryptogram": proof.hex()},
                    headers={"Idempotency-Key": secrets.token_hex(8)},
                )
                assert verified.status_code == 200, verified.text
                auth = verified.json()
        return {"read": read, "auth": auth}

    def authenticate(self, pin: str | None = None) -> str:
        """Read and authenticate the card (and the PIN); the token (pBusiCardInfo)."""
        done = self.read_and_authenticate(pin)
        assert done["auth"]["card_sn"] == self.person["card_sn"]
        return done["auth"]["token"]

    def close(self) -> None:
        self.v1.close()


class _Patient:
    def __init__(self, person: dict) -> None:
        self.image = person["card_image"]


class LibraryDesk(Desk):
    """The card read as an HIS reads it: ``python -m terminal readcardbas`` (the reader
    library's shared object through its C interface) on a virtual reader of a private pcscd."""

    def __init__(self, url: str, world: dict, person: dict, library: str, private) -> None:
        super().__init__(url, world, person)
        self.library, self.private = library, private
        self.init = json.dumps(
            {
                "IP": "127.0.0.1",
                "PORT": int(url.rsplit(":", 1)[1]),
                "ACCESS_KEY": world["api_keys"]["hospital"],
                "ORG_ID": world["fixmedins_code"],
                "EXT": {"psam": world["psam"]["hospital"], "wait": 10},
            }
        )

    def authenticate(self, pin: str | None = None) -> str:
        from tests.readerlib.test_his import inserted

        env = {k: v for k, v in os.environ.items() if not k.startswith("SSCARD_")}
        env.update(
            SSCARD_HOME=self.world_home,
            SSCARD_READERLIB=self.library,
            PCSCLITE_CSOCK_NAME=self.private.env["PCSCLITE_CSOCK_NAME"],
            PYTHONPATH=str(REPO),
        )
        args = [sys.executable, "-m", "terminal", "readcardbas", "--reader", "0"]
        args += ["--pin", pin] if pin else []
        with inserted(_Patient(self.person), self.private.readers[0]):
            done = subprocess.run(
                [*args, "--init", self.init],
                env=env,
                cwd=REPO,
                capture_output=True,
                text=True,
                timeout=120,
                check=False,
            )
        assert done.returncode == 0, done.stderr
        card_info, token = done.stdout.splitlines()
        fields = card_info.split("|")
        assert fields[1:4] == [
            self.person["certno"],
            self.person["card_no"],
            self.person["card_sn"],
        ]
        return token
