"""The settlement service's endpoints as methods (``docs/api.md``): people and
coverage, cards, PINs and passwords, card-present proofs, the inpatient flow
(admission 2401, fees 2301, pre-settlement 2303, settlement 2304, reversal 2305),
reports, and the setup an administrator does (institutions, terminals).

Answers are the service's JSON; refusals are :class:`~terminal.client.http.ServiceRefused`.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from terminal.client.http import HttpClient


class SettlementClient(HttpClient):
    """The endpoints of ``docs/api.md`` a terminal uses; answers are the service's JSON."""

    # --- lookups ---------------------------------------------------------------------

    def health(self) -> dict[str, Any]:
        return self.request("GET", "/v1/health")

    def card(self, card_no: str) -> dict[str, Any]:
        return self.request("GET", f"/v1/cards/{card_no}")

    def person(self, psn_no: str, *, on: date | None = None) -> dict[str, Any]:
        params = {"on": on.isoformat()} if on else None
        return self.request("GET", f"/v1/people/{psn_no}", params=params)

    def person_by_card(self, card_no: str, *, on: date | None = None) -> dict[str, Any]:
        params: dict[str, Any] = {"card_no": card_no}
        if on:
            params["on"] = on.isoformat()
        return self.request("GET", "/v1/people", params=params)

    def admission(self, mdtrt_id: str) -> dict[str, Any]:
        return self.request("GET", f"/v1/admissions/{mdtrt_id}")

    def settlement(self, setl_id: str) -> dict[str, Any]:
        return self.request("GET", f"/v1/settlements/{setl_id}")

    def pin_authority(self, card_no: str, pin: str, operation: str) -> dict[str, Any]:
        params = {"card_no": card_no, "pin": pin, "operation": operation}
        return self.request("GET", "/v1/pin-authority", params=params)

    def daily_report(self, day: date, institution: str | None = None) -> dict[str, Any]:
        params = {"date": day.isoformat()}
        if institution:
            params["institution"] = institution
        return self.request("GET", "/v1/reports/daily", params=params)

    # --- card-present proof and the inpatient flow -----------------------------------

    def challenge(self, card_no: str, purpose: str) -> dict[str, Any]:
        """Proof step 1: a single-use nonce bound to (card, purpose, this terminal)."""
        return self.request("POST", "/v1/challenges", json={"card_no": card_no, "purpose": purpose})

    def authenticate_card(self, card_no: str, challenge_id: str, cryptogram: str) -> dict[str, Any]:
        """Networked card authentication (docs/api.md §Card authentication): the card's key-01
        answer over a ``card_authentication`` nonce; the answer carries the ``token``."""
        body = {"card_no": card_no, "challenge_id": challenge_id, "cryptogram": cryptogram}
        return self.request("POST", "/v1/card-authentications", json=body)

    def verify_card_authentication_pin(
        self, token: str, challenge_id: str, cryptogram: str
    ) -> dict[str, Any]:
        """Upgrade a card authentication to PIN-verified (the key-02 answer over a
        ``pin_verification`` nonce, given while the PIN is verified on the card)."""
        return self.request(
            "POST",
            f"/v1/card-authentications/{token}/pin-verification",
            json={"challenge_id": challenge_id, "cryptogram": cryptogram},
        )

    def card_authentication(self, token: str) -> dict[str, Any]:
        return self.request("GET", f"/v1/card-authentications/{token}")

    def admit(self, body: dict[str, Any], *, idempotency_key: str | None = None) -> dict[str, Any]:
        """2401 admission registration (``proof``, ``card_authentication`` or ``exemption``)."""
        return self.request("POST", "/v1/admissions", json=body, idempotency_key=idempotency_key)

    def upload_fees(
        self, mdtrt_id: str, lines: list[dict[str, Any]], *, idempotency_key: str | None = None
    ) -> dict[str, Any]:
        """2301 fee upload (each line idempotent by ``feedetl_sn``)."""
        return self.request(
            "POST",
            f"/v1/admissions/{mdtrt_id}/fees",
            json={"feedetail": lines},
            idempotency_key=idempotency_key,
        )

    def pre_settle(self, mdtrt_id: str, *, acct_used_flag: bool) -> dict[str, Any]:
        """2303 pre-settlement: the split as it would be now; writes nothing."""
        return self.request(
            "POST",
            f"/v1/admissions/{mdtrt_id}/pre-settlement",
            json={"acct_used_flag": acct_used_flag},
        )

    def settle(
        self, mdtrt_id: str, body: dict[str, Any], *, idempotency_key: str | None = None
    ) -> dict[str, Any]:
        """2304 discharge settlement."""
        return self.request(
            "POST",
            f"/v1/admissions/{mdtrt_id}/settlement",
            json=body,
            idempotency_key=idempotency_key,
        )

    def reverse(
        self, setl_id: str, reason: str, *, idempotency_key: str | None = None
    ) -> dict[str, Any]:
        """2305 settlement reversal."""
        return self.request(
            "POST",
            f"/v1/settlements/{setl_id}/reversal",
            json={"reason": reason},
            idempotency_key=idempotency_key,
        )

    # --- the stay lifecycle (docs/api.md §Stay lifecycle) ----------------------------

    def discharge(
        self, mdtrt_id: str, endtime: str | None = None, *, idempotency_key: str | None = None
    ) -> dict[str, Any]:
        """2402 discharge at ``endtime`` (ISO 8601 with offset; default now)."""
        body = {"endtime": endtime} if endtime else {}
        return self._stay_step(mdtrt_id, "discharge", body, idempotency_key)

    def cancel_discharge(
        self, mdtrt_id: str, *, idempotency_key: str | None = None
    ) -> dict[str, Any]:
        """2405 discharge cancel: the unsettled stay is admitted again."""
        return self._stay_step(mdtrt_id, "discharge/cancellation", None, idempotency_key)

    def cancel_admission(
        self, mdtrt_id: str, *, idempotency_key: str | None = None
    ) -> dict[str, Any]:
        """2404 admission cancel (no standing fee lines)."""
        return self._stay_step(mdtrt_id, "cancellation", None, idempotency_key)

    def change_admission(
        self, mdtrt_id: str, changes: dict[str, Any], *, idempotency_key: str | None = None
    ) -> dict[str, Any]:
        """2403 admission change: ``begntime``, ``dept_name``, ``dise_name``."""
        return self._stay_step(mdtrt_id, "changes", changes, idempotency_key)

    def cancel_fees(
        self, mdtrt_id: str, feedetl_sn: str, *, idempotency_key: str | None = None
    ) -> dict[str, Any]:
        """2302 fee cancel: one line, or ``"0000"`` for every standing line."""
        body = {"feedetl_sn": feedetl_sn}
        return self._stay_step(mdtrt_id, "fees/cancellation", body, idempotency_key)

    def _stay_step(
        self, mdtrt_id: str, step: str, body: dict[str, Any] | None, key: str | None
    ) -> dict[str, Any]:
        path = f"/v1/admissions/{mdtrt_id}/{step}"
        return self.request("POST", path, json=body, idempotency_key=key)

    # --- cards, PINs and passwords ---------------------------------------------------

    def report_pin_operation(
        self,
        card_no: str | None,
        pin: str,
        operation: str,
        result: str,
        sw: int | None = None,
        *,
        card_id_code: bytes | None = None,
    ) -> dict[str, Any]:
        """Audit one PIN operation (``pin`` ssse|bank; refused → ``not_entitled``).

        ``card_id_code`` names the card instead of ``card_no`` when only its ATR was seen.
        """
        body: dict[str, Any] = {
            **({"card_no": card_no} if card_no is not None else {}),
            **({"card_id_code": card_id_code.hex().upper()} if card_id_code is not None else {}),
            "pin": pin,
            "operation": operation,
            "result": result,
        }
        if sw is not None:
            body["sw"] = f"{sw:04X}"
        return self.request("POST", "/v1/pin-operations", json=body)

    def report_loss(self, card_no: str, reason: str | None = None) -> dict[str, Any]:
        body = {"reason": reason} if reason else {}
        return self.request("POST", f"/v1/cards/{card_no}/loss", json=body)

    def query_password(
        self, psn_no: str, mode: str, new_password: str, old_password: str | None = None
    ) -> dict[str, Any]:
        body: dict[str, Any] = {"mode": mode, "new_password": new_password}
        if old_password is not None:
            body["old_password"] = old_password
        return self.request("POST", f"/v1/people/{psn_no}/query-password", json=body)

    # --- setup and administration (admin key; docs/api.md §Setup, §People, §Cards) -----

    def register_institution(self, body: dict[str, Any]) -> dict[str, Any]:
        """A hospital, bank branch or card centre (``code``, ``name``, ``kind``, ...)."""
        return self.request("POST", "/v1/institutions", json=body)

    def institution(self, code: str) -> dict[str, Any]:
        return self.request("GET", f"/v1/institutions/{code}")

    def register_terminal(self, institution: str, terminal_id: str, name: str) -> dict[str, Any]:
        """A terminal of ``institution``; the answer carries its ``api_key`` (shown once)."""
        return self.request(
            "POST",
            f"/v1/institutions/{institution}/terminals",
            json={"terminal_id": terminal_id, "name": name},
        )

    def register_person(self, body: dict[str, Any]) -> dict[str, Any]:
        return self.request("POST", "/v1/people", json=body)

    def add_coverage(self, psn_no: str, body: dict[str, Any]) -> dict[str, Any]:
        """One unpaid coverage period (``insutype``, ``begndate``, ``enddate``)."""
        return self.request("POST", f"/v1/people/{psn_no}/coverage", json=body)

    def migrate_coverage(self, body: dict[str, Any]) -> dict[str, Any]:
        """Admin: a paid coverage period from another system (``psn_no``, ``insutype``,
        ``begndate``, ``enddate``, ``reason``; docs/api.md §Contributions, migration)."""
        return self.request("POST", "/v1/admin/coverage-migrations", json=body)

    def register_card(self, body: dict[str, Any]) -> dict[str, Any]:
        """A card made outside the application flow (``card_no``, ``card_id_code``, ...)."""
        return self.request("POST", "/v1/cards", json=body)

    def load_catalogue(self, data: bytes, source: str) -> dict[str, Any]:
        """Load an insurance catalogue file (harness.md format) as a new version (admin)."""
        return self.request(
            "POST",
            "/v1/catalogue",
            params={"source": source},
            content=data,
            content_type="text/csv; charset=utf-8",
        )

    def catalogue(self) -> dict[str, Any]:
        """The catalogue loaded now: ``version_id``, ``versions``, ``entries``."""
        return self.request("GET", "/v1/catalogue")

    def admissions(self, **filters: Any) -> Any:
        """Admissions matching ``filters`` (``status``, ...), as the service lists them."""
        return self.request("GET", "/v1/admissions", params=filters)
