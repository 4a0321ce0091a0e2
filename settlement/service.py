"""The service's shared parts: settings, database, key store, principals, audit, idempotency.

The API layer (``settlement/api/``) turns HTTP into calls of the domain
modules (``inpatient``, ``cards``, ``people``, ``proof``...), each of which
works on one open write transaction handed to it by :meth:`Service.mutate`.
"""

from __future__ import annotations

import hashlib
import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import anyio.to_thread
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError, OperationalError

from card.keystore import KeyStore
from settlement.applications.registers import Registers
from settlement.config import Settings
from settlement.key_signal import KeySignal
from settlement.problems import Problem
from settlement.rules.policy import Policy, load_policy
from settlement.rules.roles import ADMIN
from settlement.security import secret_matches, split_api_key
from settlement.store import audit as audit_log
from settlement.store import cards, idempotency, keys
from settlement.store.db import Database, as_utc, utcnow

IDEMPOTENCY_KEY_MAX = 128
PRINCIPAL_CACHE_S = 30.0
SECRET_FIELDS = frozenset({"api_key"})


@dataclass(frozen=True)
class Principal:
    """Who is calling: the key, its terminal and institution, and the role they give."""

    key_id: str
    role: str  # admin | hospital | pharmacy | bank_branch | card_centre
    institution_code: str | None
    terminal_id: str | None
    hospital_level: int | None = None
    pin_service: bool = False
    bank_code: str | None = None
    region: str | None = None

    @property
    def is_admin(self) -> bool:
        return self.role == ADMIN


def audit(
    conn: Connection,
    principal: Principal | None,
    action: str,
    subject: str | None,
    *,
    outcome: str = "ok",
    code: str | None = None,
    detail: dict[str, Any] | None = None,
    at: datetime | None = None,
    with_id: bool = False,
) -> int | None:
    """Append one entry to the audit log (never updated, never deleted); its id with
    ``with_id`` (:func:`settlement.store.audit.append`)."""
    return audit_log.append(
        conn,
        at=at or utcnow(),
        key_id=principal.key_id if principal else None,
        institution_code=principal.institution_code if principal else None,
        terminal_id=principal.terminal_id if principal else None,
        action=action,
        subject=subject,
        outcome=outcome,
        code=code,
        detail=detail,
        with_id=with_id,
    )


def key_validity(row: Any, now: datetime) -> tuple[tuple[str, ...], float]:
    """The secret hashes a key row accepts at ``now`` and for how many seconds that holds
    (an expired key accepts none; a rotation's previous secret until its grace ends)."""
    lifetime = PRINCIPAL_CACHE_S
    expires = as_utc(row.expires_at)
    if expires is not None:
        if expires <= now:
            return (), 0.0
        lifetime = min(lifetime, (expires - now).total_seconds())
    accepted: tuple[str, ...] = (row.secret_hash,)
    previous_until = as_utc(row.previous_valid_until)
    if row.previous_secret_hash and previous_until is not None and previous_until > now:
        accepted += (row.previous_secret_hash,)
        lifetime = min(lifetime, (previous_until - now).total_seconds())
    return accepted, lifetime


def principal_of_row(key_id: str, row: Any) -> Principal:
    """The principal a key row (``keys.find_with_institution``) authenticates."""
    if row.role == ADMIN:
        return Principal(key_id, ADMIN, None, None)
    return Principal(
        key_id=key_id,
        role=row.kind,
        institution_code=row.code,
        terminal_id=row.terminal_id,
        hospital_level=row.hospital_level,
        pin_service=bool(row.pin_service),
        bank_code=row.bank_code,
        region=row.region,
    )


@dataclass
class Outcome:
    status: int
    body: dict[str, Any]
    replay: bool = False
    #: ``body`` already encoded as the response sends it (compact JSON, as
    #: :func:`encode_body`): the idempotency record's text of a first answer, sent as it is
    #: instead of being encoded a second time.
    text: str | None = None


def encode_body(body: dict[str, Any]) -> str:
    """A response body as JSON text, exactly as the JSON response renders it (compact, UTF-8
    characters as they are); the idempotency record stores this text."""
    return json.dumps(body, ensure_ascii=False, allow_nan=False, separators=(",", ":"))


class Service:
    """Everything a request handler needs, created once per process."""

    def __init__(
        self, settings: Settings, policy: Policy | None = None, registers: Registers | None = None
    ) -> None:
        self.settings = settings
        #: Card production's outside registers (calendar, police register, partner banks).
        self.registers = registers if registers is not None else Registers.from_settings(settings)
        self.db = Database(settings.database_url)
        self.policy = policy or load_policy()
        self._keystore: KeyStore | None = None
        self._keystore_lock = threading.Lock()
        self._principals: dict[str, tuple[float, tuple[str, ...], Principal]] = {}
        self.key_signal = KeySignal(settings.key_signal)
        self._inflight: set[tuple[str, str]] = set()
        self._inflight_lock = threading.Lock()

    # --- key store -------------------------------------------------------------------

    @property
    def keystore(self) -> KeyStore:
        """The transaction master keys (``$SSCARD_KEYSTORE``; same file format as the issuer's)."""
        if self._keystore is None:
            with self._keystore_lock:
                if self._keystore is None:
                    self._keystore = KeyStore.load_or_create(self.settings.keystore_path)
        return self._keystore

    # --- authentication --------------------------------------------------------------

    def authenticate_cached(self, api_key: str | None) -> Principal | None:
        """The principal of a key looked up less than ``PRINCIPAL_CACHE_S`` ago; None if not cached.

        The cache is forgotten as soon as any key changed (revocation, rotation,
        expiry: :mod:`settlement.key_signal`, one ``stat`` per call). Raises ``401
        unauthenticated`` for a malformed key or a wrong secret.
        """
        if not api_key:
            return None
        if self.key_signal.changed():
            self._principals = {}
            return None
        parts = split_api_key(api_key)
        if parts is None:
            return None
        key_id, secret = parts
        cached = self._principals.get(key_id)
        if cached is None or cached[0] <= time.monotonic():
            return None
        if not any(secret_matches(secret, accepted) for accepted in cached[1]):
            raise Problem(
                401, "unauthenticated", "send a valid API key: Authorization: Bearer sk_..."
            )
        return cached[2]

    def authenticate(self, api_key: str | None) -> Principal:
        """The principal of a presented API key, or ``401 unauthenticated`` (unknown, revoked,
        expired, or a secret a rotation replaced; docs/api.md §API keys)."""
        refused = Problem(
            401, "unauthenticated", "send a valid API key: Authorization: Bearer sk_..."
        )
        if not api_key:
            raise refused
        parts = split_api_key(api_key)
        if parts is None:
            raise refused
        key_id, secret = parts
        if self.key_signal.changed():
            self._principals = {}
        cached = self._principals.get(key_id)
        now = time.monotonic()
        if cached is not None and cached[0] > now:
            if not any(secret_matches(secret, accepted) for accepted in cached[1]):
                raise refused
            return cached[2]
        stamp = self.key_signal.stamp()
        with self.db.read() as conn:
            row = keys.find_with_institution(conn, key_id)
        if row is None or row.revoked:
            raise refused
        accepted, lifetime = key_validity(row, utcnow())
        if not any(secret_matches(secret, h) for h in accepted):
            raise refused
        principal = principal_of_row(key_id, row)
        if stamp == self.key_signal.stamp():  # no key changed while we looked it up
            self._principals[key_id] = (now + min(PRINCIPAL_CACHE_S, lifetime), accepted, principal)
        return principal

    def keys_changed(self) -> None:
        """Forget cached keys here and tell every other worker (after a key change committed)."""
        self._principals = {}
        self.key_signal.raise_signal()

    # --- idempotent mutations --------------------------------------------------------

    def mutate(
        self,
        principal: Principal,
        idempotency_key: str | None,
        method: str,
        path: str,
        payload: Any,
        operation: Callable[[Connection], tuple[int, dict[str, Any]]],
        *,
        durable: bool = True,
    ) -> Outcome:
        """Run ``operation`` in one write transaction under the idempotency rules.

        Same key + same request → the stored first response; same key, other
        request → 422; same key still running → 409. The stored response is
        written in the same transaction as the operation's effects, so a
        response is never recorded for work that did not commit (and the
        other way round). Refusals (:class:`Problem`) are recorded too, in a
        second transaction that also keeps a consumed proof challenge used and
        writes the refusal's audit entry.
        """
        request_hash, token = self._admit_mutation(
            principal, idempotency_key, method, path, payload
        )
        try:
            work, key_clause = self._mutation_work(
                principal, idempotency_key, request_hash, operation
            )
            try:
                return self.db.run_write(work, durable=durable)
            except (Problem, IntegrityError) as failure:
                return self._after_failed_write(
                    failure, principal, idempotency_key, request_hash, key_clause
                )
        finally:
            self._release(token)

    async def mutate_async(
        self,
        principal: Principal,
        idempotency_key: str | None,
        method: str,
        path: str,
        payload: Any,
        operation: Callable[[Connection], tuple[int, dict[str, Any]]],
        *,
        durable: bool = True,
        first_read: Callable[[Connection], None] | None = None,
    ) -> Outcome:
        """:meth:`mutate` for a coroutine handler: same rules, same transaction, same durability.

        The event loop hands the work to the database's write path directly
        (:meth:`Database.run_write_async`) instead of parking a pool thread on it.
        ``first_read`` prefetches the operation's first read (a read without a row lock,
        :func:`settlement.store.sql.prefetch`): on PostgreSQL it travels with the idempotency
        lock, one round trip for both.
        """
        request_hash, token = self._admit_mutation(
            principal, idempotency_key, method, path, payload
        )
        try:
            work, key_clause = self._mutation_work(
                principal, idempotency_key, request_hash, operation, first_read
            )
            try:
                return await self.db.run_write_async(work, durable=durable)
            except Problem as problem:
                if not problem.replayable:
                    raise  # nothing to record: no thread hop on the hot refusal path
                failure: Problem | IntegrityError = problem
            except IntegrityError as race:
                failure = race
            return await anyio.to_thread.run_sync(
                self._after_failed_write,
                failure,
                principal,
                idempotency_key,
                request_hash,
                key_clause,
            )
        finally:
            self._release(token)

    def _after_failed_write(
        self,
        failure: Problem | IntegrityError,
        principal: Principal,
        idempotency_key: str | None,
        request_hash: str,
        key_clause: tuple[str, str],
    ) -> Outcome:
        """A mutation's write failed: record a replayable refusal and re-raise it, or,
        when a concurrent first request with the same key won the race (IntegrityError,
        or the refusal's record refused for the same reason), answer with its stored response."""
        if isinstance(failure, Problem):
            if not failure.replayable:
                raise failure
            if self._record_refusal(principal, idempotency_key, request_hash, failure):
                raise failure
            # A concurrent request with the same key committed its outcome first (on PostgreSQL
            # possibly just before our work read the record): its stored response is the answer.
        replayed = self._replay_after_race(key_clause, request_hash)
        if replayed is None:
            raise failure
        return replayed

    def _release(self, token: tuple[str, str]) -> None:
        with self._inflight_lock:
            self._inflight.discard(token)

    def _admit_mutation(
        self, principal, idempotency_key, method, path, payload
    ) -> tuple[str, tuple[str, str]]:
        """Check the Idempotency-Key, hash the request, mark it in flight; (hash, in-flight token)."""
        if not idempotency_key:
            raise Problem(
                428,
                "idempotency_key_required",
                "send an Idempotency-Key header (any unique string up to 128 characters) "
                "with every mutating request, and reuse it when you retry",
            )
        if len(idempotency_key) > IDEMPOTENCY_KEY_MAX or not idempotency_key.isprintable():
            raise Problem(422, "validation_error", "Idempotency-Key: 1-128 printable characters")
        request_hash = hashlib.sha256(
            json.dumps([method, path, payload], sort_keys=True, separators=(",", ":")).encode()
        ).hexdigest()
        token = (principal.key_id, idempotency_key)
        with self._inflight_lock:
            if token in self._inflight:
                raise _in_progress()
            self._inflight.add(token)
        return request_hash, token

    def _mutation_work(self, principal, idempotency_key, request_hash, operation, first_read=None):
        """The write-transaction body of a mutation (replay or run + record); also (key id, key)."""
        key_clause = (principal.key_id, idempotency_key)
        lock_id = int.from_bytes(
            hashlib.sha256(f"{principal.key_id}\0{idempotency_key}".encode()).digest()[:8],
            "big",
            signed=True,
        )

        def work(conn: Connection) -> Outcome:
            if first_read is not None:
                first_read(conn)
            locked, stored = idempotency.lock_and_find(
                conn, lock_id, principal.key_id, idempotency_key
            )
            if not locked:
                raise _in_progress()
            if stored is not None:
                return _replay(stored, request_hash)
            status, body = operation(conn)
            # Secrets shown once (a new terminal's API key) are never stored for replay.
            stored_body = {k: v for k, v in body.items() if k not in SECRET_FIELDS}
            text = encode_body(stored_body)
            idempotency.insert(
                conn, principal.key_id, idempotency_key, request_hash, status, text, utcnow()
            )
            return Outcome(status, body, text=text if len(stored_body) == len(body) else None)

        return work, key_clause

    def _replay_after_race(self, key_clause: tuple[str, str], request_hash: str) -> Outcome | None:
        """Another process committed the same key between our read and our insert."""
        key_id, idempotency_key = key_clause
        with self.db.read() as conn:
            stored = idempotency.find(conn, key_id, idempotency_key)
        if stored is None:
            return None
        return _replay(stored, request_hash)

    def _record_refusal(self, principal, idempotency_key, request_hash, problem: Problem) -> bool:
        """Record a refusal as the key's outcome; False if the key already has one."""

        def work(conn: Connection) -> None:
            now = utcnow()
            if problem.consume_challenge:
                cards.consume_challenge(conn, problem.consume_challenge, now)
            if problem.audit:
                action, subject = problem.audit
                audit(
                    conn,
                    principal,
                    action,
                    subject,
                    outcome="refused",
                    code=problem.code,
                    detail={"detail": problem.detail},
                    at=now,
                )
            idempotency.insert(
                conn,
                principal.key_id,
                idempotency_key,
                request_hash,
                problem.status,
                json.dumps(problem.body(), ensure_ascii=False),
                now,
            )

        try:
            self.db.run_write(work)
        except IntegrityError:
            return False  # a concurrent request with the same key recorded its outcome first
        return True

    def audit_refusal(self, principal: Principal, problem: Problem) -> None:
        """Write the audit entry of a refusal outside any idempotent mutation (e.g. a GET)."""
        if not problem.audit:
            return
        action, subject = problem.audit
        with self.db.write() as conn:
            audit(
                conn,
                principal,
                action,
                subject,
                outcome="refused",
                code=problem.code,
                detail={"detail": problem.detail},
            )


def _in_progress() -> Problem:
    return Problem(
        409,
        "idempotency_in_progress",
        "a request with this Idempotency-Key is still being processed; retry in a moment",
        replayable=False,
    )


def _replay(stored, request_hash: str) -> Outcome:
    if stored.request_hash != request_hash:
        raise Problem(
            422,
            "idempotency_key_reused",
            "this Idempotency-Key was already used for a different request; use a new key",
            replayable=False,
        )
    return Outcome(stored.status_code, json.loads(stored.response_body), replay=True)


def is_busy(error: OperationalError) -> bool:
    text = str(error).lower()
    return "locked" in text or "busy" in text
