"""Card production's endpoints as methods (``docs/card-production.md``, issuance.md):
applications and employer batches (step 1), the steps 2-7 each institution does,
rejections and corrections, loss with replacement, and the applicant's progress query.

Every answer about one application is its view (``application_id``, ``status``,
``next_step``, ``steps``, ``deadline``, ...) as the service publishes it.
"""

from __future__ import annotations

from typing import Any

from terminal.client.http import HttpClient


class ApplicationsClient(HttpClient):
    """The card centre's and the partner bank's calls for card production."""

    # --- step 1: applications -----------------------------------------------------

    def apply(self, body: dict[str, Any]) -> dict[str, Any]:
        """A single application (step 1); the answer is its view."""
        return self.request("POST", "/v1/applications", json=body)

    def apply_batch(
        self, employer_code: str, employer_name: str, applications: list[dict[str, Any]]
    ) -> dict[str, Any]:
        """An employer's batch (单位批量): ``batch_id``, ``application_ids``, ``due_on``."""
        return self.request(
            "POST",
            "/v1/application-batches",
            json={
                "employer_code": employer_code,
                "employer_name": employer_name,
                "applications": applications,
            },
        )

    def application(self, application_id: str) -> dict[str, Any]:
        return self.request("GET", f"/v1/applications/{application_id}")

    def applications(self, **filters: Any) -> dict[str, Any]:
        """Applications by ``batch_id``, ``employer_code``, ``status``, ``next_step``,
        ``certno`` (``limit``: how many at most)."""
        return self.request("GET", "/v1/applications", params=filters)

    # --- steps 2-7 ----------------------------------------------------------------

    def _step(
        self, application_id: str, name: str, body: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        return self.request("POST", f"/v1/applications/{application_id}/{name}", json=body or {})

    def audit(self, application_id: str) -> dict[str, Any]:
        """Step 2: data entry and audit (card centre)."""
        return self._step(application_id, "audit")

    def compare(self, application_id: str) -> dict[str, Any]:
        """Step 3: the police register and the bank's records (bank)."""
        return self._step(application_id, "comparison")

    def pre_check(self, application_id: str, card_no: str | None = None) -> dict[str, Any]:
        """Step 4: pre-check against the card base (card centre); ``card_no`` to choose it."""
        return self._step(application_id, "pre-check", {"card_no": card_no} if card_no else None)

    def personalisation_order(self, application_id: str) -> dict[str, Any]:
        """Step 5: what to write on the blank card."""
        return self.request("GET", f"/v1/applications/{application_id}/personalisation-order")

    def personalised(self, application_id: str, report: dict[str, Any]) -> dict[str, Any]:
        """Step 5 done: the card read back as ordered."""
        return self._step(application_id, "personalisation", report)

    def open_bank_account(self, application_id: str) -> dict[str, Any]:
        """Step 6 begins: the bank opens the account (``pan``, dates)."""
        return self._step(application_id, "bank-account")

    def account_opened(self, application_id: str, report: dict[str, Any]) -> dict[str, Any]:
        """Step 6 done: the financial application read back as written."""
        return self._step(application_id, "account-opening", report)

    def issue(
        self, application_id: str, collected_by: str, collected_at: str | None = None
    ) -> dict[str, Any]:
        """Step 7: issuance registration (the card collected, by whom, when)."""
        body = {"collected_by": collected_by}
        if collected_at:
            body["collected_at"] = collected_at
        return self._step(application_id, "issuance", body)

    def withdraw(self, application_id: str) -> dict[str, Any]:
        return self._step(application_id, "withdrawal")

    def reject(self, application_id: str, step: int, reason: str, detail: str) -> dict[str, Any]:
        """A rejection of ``step`` with its reason; the application waits for a correction."""
        return self._step(
            application_id, "rejections", {"step": step, "reason": reason, "detail": detail}
        )

    def correct(self, application_id: str, changes: dict[str, Any]) -> dict[str, Any]:
        """The applicant's correction; the flow resumes at the step that returned it."""
        return self._step(application_id, "corrections", changes)

    # --- loss and progress --------------------------------------------------------

    def report_loss(self, card_no: str, reason: str) -> dict[str, Any]:
        """Loss at the issuing bank: the card blocked, a receipt, a replacement application."""
        return self.request("POST", "/v1/card-losses", json={"card_no": card_no, "reason": reason})

    def progress(self, certno: str, query_password: str) -> dict[str, Any]:
        """制卡进度查询: the applicant's applications, by SSN and query password."""
        return self.request(
            "POST", "/v1/card-progress", json={"certno": certno, "query_password": query_password}
        )

    # --- the simulated police register (admin) --------------------------------------

    def add_citizen(self, citizen: dict[str, Any]) -> dict[str, Any]:
        """Add a citizen to the simulated police population register that step 3 compares
        with (``certno``, ``psn_name``, ``gend``, ``brdy``, ``naty``, ``birthplace``,
        ``hukou_no``); admin only."""
        return self.request("POST", "/v1/police-register/citizens", json=citizen)
