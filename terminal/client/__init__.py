"""The terminal's clients of the settlement service: every ``/v1`` path lives here.

* :mod:`terminal.client.http` — JSON over HTTP: API key, retries with one
  idempotency key, problem+json as :class:`~terminal.client.http.ServiceRefused`;
* :mod:`terminal.client.settlement` — people, cards, PINs, proofs, the inpatient
  flow, reports, setup (:class:`~terminal.client.settlement.SettlementClient`);
* :mod:`terminal.client.applications` — card production
  (:class:`~terminal.client.applications.ApplicationsClient`).
"""
