"""Provincial gateway authentication (nhsa.md §Transport; docs/gateway.md §Authentication).

* **TIF**: ``x-tif-paasid``, ``x-tif-timestamp`` (Unix seconds), ``x-tif-nonce``,
  ``x-tif-signature`` = lowercase hex SHA-256 of ``timestamp + secret + nonce + timestamp``.
* **CSB**: ``_api_name`` (= infno), ``_api_version``, ``_api_timestamp`` (ms),
  ``_api_access_key``, ``_api_signature`` = Base64(HMAC-SHA1(secret,
  ``_api_access_key=…&_api_name=…&_api_timestamp=…&_api_version=…``)).
* **apikey**: a plain ``apikey`` header.

Each credential is bound to one institution, whose code the envelope's ``fixmedins_code``
must be. A timestamp more than :data:`WINDOW_S` away from now is stale; a TIF nonce or a CSB
signature seen before within the window is a replay. Both are refused.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.engine import Connection

from settlement.gateway.convert import GatewayError
from settlement.gateway.credentials import APIKEY, CSB, TIF, apikey_hash, unseal
from settlement.store import gateway as store

#: How far a signed timestamp may lie from the service's clock (nhsa.md: project choice).
WINDOW_S = 300


@dataclass(frozen=True)
class Caller:
    """Who sent the envelope: the credential and the institution it is bound to."""

    kind: str  # tif | csb | apikey
    key: str
    institution_code: str
    nonce: str | None  # to record as used (None: apikey)

    @property
    def label(self) -> str:
        return f"gw-{self.kind}-{self.key[:20]}"


def _fresh(raw: str | None, now: datetime, *, millis: bool, header: str) -> None:
    try:
        stamp = int(raw or "")
    except ValueError:
        raise GatewayError(f"请求头 {header} 应为时间戳，收到 {raw!r}", "auth_failed") from None
    seconds = stamp / 1000 if millis else stamp
    if abs(seconds - now.timestamp()) > WINDOW_S:
        raise GatewayError(
            f"请求头 {header} 的时间戳已过期或超前（允许 ±{WINDOW_S} 秒），请校准前置机时间",
            "stale_timestamp",
        )


#: (kind, public key) → (secret or None, institution, monotonic expiry): a credential seen in
#: the last :data:`CACHE_S` seconds is not read again (every message is signed).
_SEEN: dict[tuple[str, str], tuple[str | None, str, float]] = {}
CACHE_S = 60.0


def _credential(conn: Connection, key: bytes, kind: str, public: str) -> tuple[str | None, str]:
    """(the unsealed secret (None for an apikey), the institution) of a stored credential."""
    seen = _SEEN.get((kind, public))
    if seen is not None and seen[2] > time.monotonic():
        return seen[0], seen[1]
    row = store.find_credential(conn, kind, public)
    if row is None:
        raise GatewayError(f"接入凭证 {public[:16]} 未登记（{kind.upper()}）", "auth_failed")
    secret = None
    if kind != APIKEY:
        secret = unseal(key, row.secret_enc or "", f"{kind}:{public}")
        if secret is None:
            raise GatewayError("接入凭证无法校验，请联系平台管理员", "auth_failed")
    if len(_SEEN) > 10_000:
        _SEEN.clear()
    _SEEN[(kind, public)] = (secret, row.institution_code, time.monotonic() + CACHE_S)
    return secret, row.institution_code


def _secret(conn: Connection, key: bytes, kind: str, public: str) -> tuple[str, str]:
    secret, institution = _credential(conn, key, kind, public)
    return secret or "", institution


def _tif(conn: Connection, key: bytes, h: Mapping[str, str], now: datetime) -> Caller:
    paasid, stamp, nonce = h.get("x-tif-paasid"), h.get("x-tif-timestamp"), h.get("x-tif-nonce")
    signature = (h.get("x-tif-signature") or "").lower()
    if not (stamp and nonce and signature):
        raise GatewayError(
            "TIF 认证缺少请求头 x-tif-timestamp / x-tif-nonce / x-tif-signature", "auth_failed"
        )
    _fresh(stamp, now, millis=False, header="x-tif-timestamp")
    secret, institution = _secret(conn, key, TIF, paasid)
    expected = hashlib.sha256(f"{stamp}{secret}{nonce}{stamp}".encode()).hexdigest()
    if not hmac.compare_digest(expected, signature):
        raise GatewayError("TIF 签名 x-tif-signature 校验失败", "bad_signature")
    return Caller(TIF, paasid, institution, nonce[:64])


def csb_signature(secret: str, access_key: str, api_name: str, stamp: str, version: str) -> str:
    message = f"_api_access_key={access_key}&_api_name={api_name}&_api_timestamp={stamp}"
    message += f"&_api_version={version}"
    digest = hmac.new(secret.encode(), message.encode(), hashlib.sha1).digest()
    return base64.b64encode(digest).decode("ascii")


def _csb(conn: Connection, key: bytes, h: Mapping[str, str], infno: str, now: datetime) -> Caller:
    access_key, name = h.get("_api_access_key"), h.get("_api_name") or ""
    stamp, version = h.get("_api_timestamp"), h.get("_api_version") or ""
    signature = h.get("_api_signature") or ""
    if not (stamp and signature):
        raise GatewayError("CSB 认证缺少请求头 _api_timestamp / _api_signature", "auth_failed")
    _fresh(stamp, now, millis=True, header="_api_timestamp")
    if name != infno:
        raise GatewayError(f"请求头 _api_name={name!r} 与交易编号 {infno} 不一致", "auth_failed")
    secret, institution = _secret(conn, key, CSB, access_key)
    expected = csb_signature(secret, access_key, name, stamp, version)
    if not hmac.compare_digest(expected, signature):
        raise GatewayError("CSB 签名 _api_signature 校验失败", "bad_signature")
    return Caller(CSB, access_key, institution, hashlib.sha256(signature.encode()).hexdigest())


def authenticate(
    conn: Connection,
    key: bytes,
    headers: Mapping[str, str],
    infno: str,
    fixmedins_code: str,
    now: datetime,
) -> Caller:
    """The caller of an envelope, bound to ``fixmedins_code``, or :class:`GatewayError`."""
    if headers.get("x-tif-paasid"):
        caller = _tif(conn, key, headers, now)
    elif headers.get("_api_access_key"):
        caller = _csb(conn, key, headers, infno, now)
    elif headers.get("apikey"):
        digest = apikey_hash(headers["apikey"])
        _, institution = _credential(conn, key, APIKEY, digest)
        caller = Caller(APIKEY, digest, institution, None)
    else:
        raise GatewayError(
            "缺少接入认证：请在请求头提供 TIF（x-tif-*）、CSB（_api_*）或 apikey", "auth_failed"
        )
    if caller.institution_code != fixmedins_code:
        raise GatewayError(
            f"定点医药机构编号 fixmedins_code={fixmedins_code} 与接入凭证所属机构不一致",
            "institution_mismatch",
        )
    return caller


def spend_nonce(conn: Connection, caller: Caller, now: datetime) -> None:
    """Record the caller's nonce; a nonce seen before is a replay (:class:`GatewayError`)."""
    if caller.nonce is None:
        return
    label = f"{caller.kind}:{caller.key}"[:80]
    if not store.accept_nonce(conn, label, caller.nonce, now):
        raise GatewayError("请求头中的随机数（nonce）已使用过，请勿重放请求", "nonce_reused")
    global _next_sweep
    if time.monotonic() > _next_sweep:  # about once a minute: forget what the window refuses
        _next_sweep = time.monotonic() + 60
        store.forget_nonces_before(conn, now - timedelta(seconds=2 * WINDOW_S))


_next_sweep = 0.0
