"""The HTTP API (docs/api.md): translates requests into calls of the domain modules.

Every mutating endpoint goes through :meth:`Service.mutate` (Idempotency-Key,
one write transaction, response recorded with the effects). Handlers are
plain functions run in the thread pool; the database work is synchronous.
"""

import logging
from collections.abc import Collection
from datetime import date
from typing import Annotated, Any, Literal

import anyio.to_thread
import sqlalchemy as sa
from fastapi import Depends, FastAPI, Header, Query, Request
from fastapi.responses import JSONResponse
from sqlalchemy.exc import OperationalError

from settlement import cards, http_errors, inpatient, people, proof, reconciliation
from settlement.applications import api as applications_api  # card production (issue 8)
from settlement.authority import (
    ADMIN,
    BANK_BRANCH,
    CARD_CENTRE,
    HOSPITAL,
    pin_authority,
    require_role,
)
from settlement.config import Settings
from settlement.problems import Problem
from settlement.schemas import (
    AccountCreditIn,
    AdmissionIn,
    CardActionIn,
    CardIn,
    ChallengeIn,
    CoverageIn,
    EnrolmentIn,
    FeeUploadIn,
    InstitutionIn,
    PasswordCheckIn,
    PersonIn,
    PinOperationIn,
    PreSettlementIn,
    QueryPasswordIn,
    ReversalIn,
    SettlementIn,
    TerminalIn,
)
from settlement.security import fingerprint_key, new_api_key, secret_fingerprint
from settlement.service import Outcome, Principal, Service, audit, is_busy
from settlement.store.db import as_utc, utcnow
from settlement.store.tables import T_API_KEY, T_CARD, T_INSTITUTION, T_PROBE, T_TERMINAL

log = logging.getLogger("settlement")
PROBLEM_JSON = "application/problem+json"


def _request_path(request: Request) -> str:
    """``request.url.path`` without building the whole URL (the same string; part of the request hash)."""
    return request.scope["path"].replace("?", "%3F").replace("#", "%23").replace("\\", "%5C")


def _problem_response(problem: Problem) -> JSONResponse:
    return JSONResponse(problem.body(), status_code=problem.status, media_type=PROBLEM_JSON)


def _respond(outcome: Outcome) -> JSONResponse:
    headers = {"Idempotent-Replay": "true"} if outcome.replay else None
    media = PROBLEM_JSON if outcome.status >= 400 else "application/json"
    return JSONResponse(outcome.body, status_code=outcome.status, headers=headers, media_type=media)


async def principal_of(request: Request) -> Principal:
    """The caller, from ``Authorization: Bearer <key>`` or ``X-Api-Key``.

    The headers are read straight from the request (declaring them as FastAPI
    header parameters costs a dependency resolution per request). A key seen in
    the last few seconds is checked on the event loop (a hash and a dictionary
    look-up); otherwise the database look-up runs in the thread pool.
    """
    headers = request.headers
    authorization = headers.get("authorization")
    key = headers.get("x-api-key")
    if authorization and authorization.lower().startswith("bearer "):
        key = authorization[7:].strip()
    service = request.app.state.service
    principal = service.authenticate_cached(key)
    if principal is None:
        principal = await anyio.to_thread.run_sync(service.authenticate, key)
    return principal


Caller = Annotated[Principal, Depends(principal_of)]
IdemKey = Annotated[str | None, Header(alias="Idempotency-Key")]
# The hot endpoints read the header themselves; the schema still documents it.
IDEMPOTENCY_HEADER_DOC = {
    "parameters": [
        {"name": "Idempotency-Key", "in": "header", "required": False, "schema": {"type": "string"}}
    ]
}


def create_app(settings: Settings | None = None, service: Service | None = None) -> FastAPI:
    svc = service or Service(settings or Settings.from_env())
    app = FastAPI(
        title="sscard settlement service",
        version="1",
        docs_url="/v1/docs",
        openapi_url="/v1/openapi.json",
    )
    app.state.service = svc
    tz = svc.settings.tz
    fingerprint_keys: list[bytes] = []

    def fingerprint_key_of() -> bytes:
        if not fingerprint_keys:
            store = svc.keystore
            masters = [
                key
                for _alg, keys in sorted(store.ssse.items())
                for _kid, key in sorted(keys.items())
            ]
            cities = [
                key
                for _alg, regions in sorted(store.city_keys.items())
                for _region, keys in sorted(regions.items())
                for _kid, key in sorted(keys.items())
            ]
            fingerprint_keys.append(fingerprint_key(masters + cities))
        return fingerprint_keys[0]

    @app.exception_handler(Problem)
    async def _on_problem(_request: Request, problem: Problem) -> JSONResponse:
        return _problem_response(problem)

    http_errors.install(
        app
    )  # validation, unknown route/method, malformed body, unexpected: problem+json

    @app.exception_handler(OperationalError)
    async def _on_db(_request: Request, error: OperationalError) -> JSONResponse:
        if is_busy(error):
            return _problem_response(
                Problem(503, "busy", "the database is busy; retry with the same Idempotency-Key")
            )
        log.exception("database error")
        return _problem_response(Problem(500, "internal_error", "database error"))

    def mutate(
        request: Request,
        principal: Principal,
        key: str | None,
        payload: Any,
        operation,
        status: int = 200,
        durable: bool = True,
    ):
        def run(conn):
            return status, operation(conn)

        return _respond(
            svc.mutate(
                principal,
                key,
                request.method,
                _request_path(request),
                payload,
                run,
                durable=durable,
            )
        )

    async def amutate(
        request: Request,
        principal: Principal,
        payload: Any,
        operation,
        status: int = 200,
        durable: bool = True,
    ):
        """:func:`mutate` for the hot coroutine endpoints (the write path without a pool thread).

        The Idempotency-Key is read from the request's headers (documented in the
        OpenAPI schema by :data:`IDEMPOTENCY_HEADER_DOC`).
        """
        key = request.headers.get("idempotency-key")

        def run(conn):
            return status, operation(conn)

        return _respond(
            await svc.mutate_async(
                principal,
                key,
                request.method,
                _request_path(request),
                payload,
                run,
                durable=durable,
            )
        )

    def guard(principal: Principal, *roles: str, action: str, subject: str | None = None) -> None:
        """Role check for reads: refusals are audited too."""
        try:
            require_role(principal, *roles, action=action, subject=subject)
        except Problem as problem:
            svc.audit_refusal(principal, problem)
            raise

    # --- health and baseline -----------------------------------------------------------

    @app.get("/v1/health")
    def health() -> dict:
        with svc.db.read() as conn:
            conn.execute(sa.select(1))
        return {"status": "ok", "database": svc.db.dialect, "policy_version": svc.policy.version}

    @app.post("/v1/probe", status_code=201)
    async def probe(principal: Caller) -> JSONResponse:
        # The same write path as every mutation (on SQLite: the group committer).
        new_id = await svc.db.run_write_async(
            lambda conn: conn.execute(
                T_PROBE.insert().values(at=utcnow(), key_id=principal.key_id)
            ).inserted_primary_key[0]
        )
        return JSONResponse({"id": new_id}, status_code=201)

    # --- institutions and terminals ------------------------------------------------------

    @app.post("/v1/institutions", status_code=201)
    def create_institution(
        body: InstitutionIn, request: Request, principal: Caller, key: IdemKey = None
    ):
        def op(conn):
            require_role(principal, ADMIN, action="institution.create", subject=body.code)
            check_partner_bank(body.bank_code, svc.keystore.banks)
            return insert_institution(conn, principal, body)

        return mutate(request, principal, key, body.model_dump(mode="json"), op, 201)

    @app.get("/v1/institutions/{code}")
    def get_institution(code: str, principal: Caller):
        if not principal.is_admin and principal.institution_code != code:
            raise Problem(404, "not_found", f"institution {code} not found")
        with svc.db.read() as conn:
            row = conn.execute(sa.select(T_INSTITUTION).where(T_INSTITUTION.c.code == code)).first()
        if row is None:
            raise Problem(404, "not_found", f"institution {code} not found")
        return institution_view(row)

    @app.post("/v1/institutions/{code}/terminals", status_code=201)
    def create_terminal(
        code: str, body: TerminalIn, request: Request, principal: Caller, key: IdemKey = None
    ):
        def op(conn):
            require_role(principal, ADMIN, action="terminal.create", subject=body.terminal_id)
            return insert_terminal(conn, principal, code, body.terminal_id, body.name)

        return mutate(request, principal, key, body.model_dump(mode="json"), op, 201)

    # --- people ------------------------------------------------------------------------

    @app.post("/v1/people", status_code=201)
    def register_person(body: PersonIn, request: Request, principal: Caller, key: IdemKey = None):
        return mutate(
            request,
            principal,
            key,
            body.model_dump(mode="json"),
            lambda conn: people.register_person(conn, principal, body, utcnow()),
            201,
        )

    def _lookup(principal: Principal, psn_no: str | None, card_no, certno, on: date | None) -> dict:
        day = on or utcnow().astimezone(tz).date()
        privileged = principal.role in (CARD_CENTRE, ADMIN)
        with svc.db.read() as conn:
            psn = psn_no or people.find_psn_no(conn, card_no=card_no, certno=certno)
            return people.person_info(conn, psn, day, privileged=privileged)

    @app.get("/v1/people/{psn_no}")
    def person_1101(psn_no: str, principal: Caller, on: date | None = None):
        return _lookup(principal, psn_no, None, None, on)

    @app.get("/v1/people")
    def person_1101_by(
        principal: Caller,
        card_no: str | None = None,
        certno: str | None = None,
        on: date | None = None,
    ):
        return _lookup(principal, None, card_no, certno, on)

    @app.post("/v1/people/{psn_no}/coverage", status_code=201)
    def add_coverage(
        psn_no: str, body: CoverageIn, request: Request, principal: Caller, key: IdemKey = None
    ):
        return mutate(
            request,
            principal,
            key,
            body.model_dump(mode="json"),
            lambda conn: people.add_coverage(conn, principal, psn_no, body, utcnow()),
            201,
        )

    @app.post("/v1/people/{psn_no}/resident-enrolment", status_code=201)
    def enrol(
        psn_no: str, body: EnrolmentIn, request: Request, principal: Caller, key: IdemKey = None
    ):
        return mutate(
            request,
            principal,
            key,
            body.model_dump(mode="json"),
            lambda conn: people.resident_enrol(conn, principal, psn_no, body, utcnow()),
            201,
        )

    @app.post("/v1/people/{psn_no}/account-credits", status_code=201)
    def credit(
        psn_no: str, body: AccountCreditIn, request: Request, principal: Caller, key: IdemKey = None
    ):
        return mutate(
            request,
            principal,
            key,
            body.model_dump(mode="json"),
            lambda conn: people.credit_account(conn, principal, psn_no, body, utcnow()),
            201,
        )

    @app.post("/v1/people/{psn_no}/query-password")
    def query_password(
        psn_no: str, body: QueryPasswordIn, request: Request, principal: Caller, key: IdemKey = None
    ):
        # The passwords never reach the idempotency record, nor anything a dictionary attack can
        # test: only an HMAC under a key derived from the service's key store.
        payload = {
            "mode": body.mode,
            "digest": secret_fingerprint(
                fingerprint_key_of(), body.old_password, body.new_password
            ),
        }
        return mutate(
            request,
            principal,
            key,
            payload,
            lambda conn: people.set_query_password(conn, principal, psn_no, body, utcnow()),
        )

    @app.post("/v1/people/{psn_no}/query-password/verification")
    def query_password_check(psn_no: str, body: PasswordCheckIn, principal: Caller):
        guard(
            principal,
            CARD_CENTRE,
            BANK_BRANCH,
            ADMIN,
            action="query_password.verify",
            subject=psn_no,
        )
        with svc.db.read() as conn:
            return {
                "psn_no": psn_no,
                "valid": people.check_query_password(conn, psn_no, body.password),
            }

    # --- cards -------------------------------------------------------------------------

    @app.post("/v1/cards", status_code=201)
    def register_card(body: CardIn, request: Request, principal: Caller, key: IdemKey = None):
        return mutate(
            request,
            principal,
            key,
            body.model_dump(mode="json"),
            lambda conn: cards.register_card(conn, principal, body, utcnow()),
            201,
        )

    @app.get("/v1/cards/{card_no}")
    def card_status(card_no: str, principal: Caller):
        with svc.db.read() as conn:
            card = proof.load_card(conn, card_no)
            view = cards.card_view(card, utcnow().astimezone(tz).date())
            view["ssse_pin_state"] = cards.ssse_pin_state(conn, card_no)
            return view

    @app.post("/v1/cards/{card_no}/collection")
    def collect(
        card_no: str,
        request: Request,
        principal: Caller,
        key: IdemKey = None,
        body: CardActionIn | None = None,
    ):
        body = body or CardActionIn()
        return mutate(
            request,
            principal,
            key,
            body.model_dump(mode="json"),
            lambda conn: cards.collect_card(conn, principal, card_no, body, utcnow()),
        )

    @app.post("/v1/cards/{card_no}/loss")
    def loss(
        card_no: str,
        request: Request,
        principal: Caller,
        key: IdemKey = None,
        body: CardActionIn | None = None,
    ):
        body = body or CardActionIn()
        return mutate(
            request,
            principal,
            key,
            body.model_dump(mode="json"),
            lambda conn: cards.report_loss(conn, principal, card_no, body, utcnow()),
        )

    @app.post("/v1/cards/{card_no}/replacement", status_code=201)
    def replacement(
        card_no: str, body: CardIn, request: Request, principal: Caller, key: IdemKey = None
    ):
        return mutate(
            request,
            principal,
            key,
            body.model_dump(mode="json"),
            lambda conn: cards.replace_card(conn, principal, card_no, body, utcnow()),
            201,
        )

    @app.post("/v1/cards/{card_no}/cancellation")
    def cancellation(
        card_no: str,
        request: Request,
        principal: Caller,
        key: IdemKey = None,
        body: CardActionIn | None = None,
    ):
        body = body or CardActionIn()
        return mutate(
            request,
            principal,
            key,
            body.model_dump(mode="json"),
            lambda conn: cards.cancel_card(conn, principal, card_no, body, utcnow()),
        )

    # --- PIN operations ------------------------------------------------------------------

    @app.post("/v1/pin-operations", status_code=201)
    def pin_operation(
        body: PinOperationIn, request: Request, principal: Caller, key: IdemKey = None
    ):
        def op(conn):
            by = (
                T_CARD.c.card_no == body.card_no
                if body.card_no is not None
                else T_CARD.c.card_id_code == body.card_id_code.upper()
            )
            card = conn.execute(sa.select(T_CARD.c.card_no, T_CARD.c.bank_code).where(by)).first()
            if card is None:
                raise Problem(
                    404,
                    "card_unknown",
                    f"card {body.card_no or body.card_id_code} is not registered",
                )
            card_no = card.card_no
            action = f"pin.{body.pin}.{body.operation}"
            decision = pin_authority(principal, body.pin, body.operation, card.bank_code)
            if not decision.allowed:
                raise Problem(403, "not_entitled", decision.reason, audit=(action, card_no))
            now = utcnow()
            audit_id = audit(
                conn,
                principal,
                action,
                card_no,
                outcome="ok",
                detail={"result": body.result, "sw": body.sw},
                at=now,
            )
            return {
                "audit_id": audit_id,
                "allowed": True,
                "card_no": card_no,
                "pin": body.pin,
                "operation": body.operation,
                "result": body.result,
            }

        return mutate(request, principal, key, body.model_dump(mode="json"), op, 201)

    @app.get("/v1/pin-authority")
    def pin_authority_check(
        principal: Caller,
        card_no: str,
        pin: Literal["ssse", "bank"],
        operation: Literal["verify", "change", "reset", "unblock"],
    ):
        with svc.db.read() as conn:
            card = proof.load_card(conn, card_no)
        decision = pin_authority(principal, pin, operation, card.bank_code)
        return {
            "allowed": decision.allowed,
            "code": None if decision.allowed else "not_entitled",
            "reason": decision.reason,
        }

    # --- card-present proof and the inpatient flow ---------------------------------------

    @app.post("/v1/challenges", status_code=201, openapi_extra=IDEMPOTENCY_HEADER_DOC)
    async def challenge(body: ChallengeIn, request: Request, principal: Caller):
        def op(conn):
            require_role(
                principal, HOSPITAL, action=f"challenge.{body.purpose}", subject=body.card_no
            )
            now = utcnow()
            return proof.issue_challenge(
                conn,
                principal,
                body.card_no,
                body.purpose,
                now,
                now.astimezone(tz).date(),
                svc.settings.challenge_ttl_s,
            )

        # A challenge lost in a crash is harmless (the terminal asks again): no fsync wait.
        return await amutate(
            request, principal, body.model_dump(mode="json"), op, 201, durable=False
        )

    @app.post("/v1/admissions", status_code=201, openapi_extra=IDEMPOTENCY_HEADER_DOC)
    async def admission(body: AdmissionIn, request: Request, principal: Caller):
        return await amutate(
            request,
            principal,
            body.model_dump(mode="json"),
            lambda conn: inpatient.admit(conn, svc.keystore, principal, body, utcnow(), tz),
            201,
        )

    @app.get("/v1/admissions/{mdtrt_id}")
    def get_admission(mdtrt_id: str, principal: Caller):
        guard(principal, HOSPITAL, ADMIN, action="admission.read", subject=mdtrt_id)
        with svc.db.read() as conn:
            return inpatient.admission_view(
                conn, inpatient.load_admission(conn, principal, mdtrt_id)
            )

    @app.get("/v1/admissions")
    def list_admissions(
        principal: Caller,
        status: Literal["admitted", "settled"] | None = None,
        psn_no: str | None = None,
        limit: Annotated[int, Query(ge=1, le=500)] = 100,
    ):
        guard(principal, HOSPITAL, ADMIN, action="admission.list")
        from settlement.store.tables import T_ADMISSION

        stmt = sa.select(T_ADMISSION).order_by(T_ADMISSION.c.created_at.desc()).limit(limit)
        if not principal.is_admin:
            stmt = stmt.where(T_ADMISSION.c.institution_code == principal.institution_code)
        if status:
            stmt = stmt.where(T_ADMISSION.c.status == status)
        if psn_no:
            stmt = stmt.where(T_ADMISSION.c.psn_no == psn_no)
        with svc.db.read() as conn:
            return {
                "admissions": [inpatient.admission_view(conn, row) for row in conn.execute(stmt)]
            }

    @app.post("/v1/admissions/{mdtrt_id}/fees", openapi_extra=IDEMPOTENCY_HEADER_DOC)
    async def fees(mdtrt_id: str, body: FeeUploadIn, request: Request, principal: Caller):
        return await amutate(
            request,
            principal,
            body.model_dump(mode="json"),
            lambda conn: inpatient.upload_fees(conn, principal, mdtrt_id, body, utcnow()),
        )

    @app.post("/v1/admissions/{mdtrt_id}/pre-settlement")
    def pre_settlement(mdtrt_id: str, principal: Caller, body: PreSettlementIn | None = None):
        body = body or PreSettlementIn()
        with svc.db.read() as conn:
            return inpatient.pre_settle(conn, principal, mdtrt_id, body.acct_used_flag, svc.policy)

    @app.post(
        "/v1/admissions/{mdtrt_id}/settlement",
        status_code=201,
        openapi_extra=IDEMPOTENCY_HEADER_DOC,
    )
    async def settlement(mdtrt_id: str, body: SettlementIn, request: Request, principal: Caller):
        return await amutate(
            request,
            principal,
            body.model_dump(mode="json"),
            lambda conn: inpatient.settle(
                conn, svc.keystore, principal, mdtrt_id, body, svc.policy, utcnow(), tz
            ),
            201,
        )

    @app.get("/v1/settlements/{setl_id}")
    def get_settlement(setl_id: str, principal: Caller):
        guard(principal, HOSPITAL, ADMIN, action="settlement.read", subject=setl_id)
        with svc.db.read() as conn:
            return inpatient.settlement_view(inpatient.load_settlement(conn, principal, setl_id))

    @app.post("/v1/settlements/{setl_id}/reversal", status_code=201)
    def reversal(
        setl_id: str,
        request: Request,
        principal: Caller,
        key: IdemKey = None,
        body: ReversalIn | None = None,
    ):
        body = body or ReversalIn()
        return mutate(
            request,
            principal,
            key,
            body.model_dump(mode="json"),
            lambda conn: inpatient.reverse(conn, principal, setl_id, body.reason, utcnow(), tz),
            201,
        )

    # --- reports -----------------------------------------------------------------------

    @app.get("/v1/reports/daily")
    def daily(principal: Caller, date: date, institution: str | None = None):
        guard(principal, HOSPITAL, ADMIN, action="report.daily", subject=institution)
        if not principal.is_admin:
            if institution and institution != principal.institution_code:
                raise Problem(404, "not_found", f"institution {institution} not found")
            institution = principal.institution_code
        with svc.db.read() as conn:
            if institution:
                return reconciliation.daily_report(conn, institution, date)
            return reconciliation.all_reports(conn, date)

    app.include_router(applications_api.router)  # card production (issue 8)
    return app


def institution_view(row) -> dict:
    return {
        "code": row.code,
        "name": row.name,
        "kind": row.kind,
        "hospital_level": row.hospital_level,
        "pin_service": bool(row.pin_service),
        "bank_code": row.bank_code,
        "region": row.region,
        "created_at": as_utc(row.created_at).isoformat(),
    }


def check_partner_bank(bank_code: str | None, partner_banks: Collection[str]) -> None:
    """A bank branch must belong to a partner bank whose issuer keys the key store holds."""
    if bank_code is not None and bank_code not in partner_banks:
        raise Problem(
            422,
            "bank_unknown",
            f"bank {bank_code} is not a partner bank of the key store "
            f"(one of {sorted(partner_banks)})",
        )


def insert_institution(conn, principal: Principal | None, body: InstitutionIn) -> dict:
    exists = conn.execute(
        sa.select(T_INSTITUTION.c.code).where(T_INSTITUTION.c.code == body.code)
    ).first()
    if exists:
        raise Problem(409, "conflict", f"institution {body.code} already exists")
    now = utcnow()
    conn.execute(T_INSTITUTION.insert().values(**body.model_dump(), created_at=now))
    audit(conn, principal, "institution.create", body.code, detail={"kind": body.kind}, at=now)
    return institution_view(
        conn.execute(sa.select(T_INSTITUTION).where(T_INSTITUTION.c.code == body.code)).one()
    )


def insert_terminal(
    conn, principal: Principal | None, institution_code: str, terminal_id: str, name: str
) -> dict:
    inst = conn.execute(
        sa.select(T_INSTITUTION.c.code).where(T_INSTITUTION.c.code == institution_code)
    ).first()
    if inst is None:
        raise Problem(404, "not_found", f"institution {institution_code} not found")
    if conn.execute(
        sa.select(T_TERMINAL.c.terminal_id).where(T_TERMINAL.c.terminal_id == terminal_id)
    ).first():
        raise Problem(409, "conflict", f"terminal {terminal_id} already exists")
    now = utcnow()
    conn.execute(
        T_TERMINAL.insert().values(
            terminal_id=terminal_id, institution_code=institution_code, name=name, created_at=now
        )
    )
    key = new_api_key()
    conn.execute(
        T_API_KEY.insert().values(
            key_id=key.key_id,
            secret_hash=key.secret_hash,
            role="terminal",
            institution_code=institution_code,
            terminal_id=terminal_id,
            name=name,
            created_at=now,
        )
    )
    audit(conn, principal, "terminal.create", terminal_id, detail={"key_id": key.key_id}, at=now)
    return {
        "terminal_id": terminal_id,
        "institution": institution_code,
        "key_id": key.key_id,
        "api_key": key.api_key,
    }


def insert_admin_key(conn, name: str) -> dict:
    now = utcnow()
    key = new_api_key()
    conn.execute(
        T_API_KEY.insert().values(
            key_id=key.key_id, secret_hash=key.secret_hash, role="admin", name=name, created_at=now
        )
    )
    audit(conn, None, "admin.bootstrap", key.key_id, detail={"name": name}, at=now)
    return {"key_id": key.key_id, "api_key": key.api_key}
