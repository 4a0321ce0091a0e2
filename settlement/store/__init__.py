"""The database: the only place with SQL (docs/architecture.md §Layers; migrations aside).

- :mod:`.db` — engines, the write discipline (SQLite group commit, ``BEGIN IMMEDIATE``,
  PostgreSQL row locks), the one way to lock a row (:func:`.db.for_update`) and the one way
  to read a stored time (:func:`.db.as_utc`) or day (:func:`.db.as_date`);
- :mod:`.sql` — hand-written SQL for the hot paths (it buys the settlement throughput), used
  by the stores only; :mod:`.tables` and :mod:`.application_tables` — the table definitions;
- one store per aggregate, each owning its statements: :mod:`.people` (people, identity
  documents, coverage, the personal account, benefit-year ceiling use), :mod:`.cards` (cards
  and proof challenges), :mod:`.admissions` (stays and fee lines), :mod:`.settlements`
  (settlements and reversals), :mod:`.applications` (card production), :mod:`.card_auth`,
  :mod:`.institutions`, :mod:`.keys`, :mod:`.gateway`; and :mod:`.idempotency`,
  :mod:`.audit`, :mod:`.reports` (reconciliation reads), :mod:`.health`.

Stores take and return plain values and rows; the rules they may use are in
``settlement.rules`` (pure), the decisions are the domain modules' (``settlement.inpatient``,
``settlement.people``, …).
"""
