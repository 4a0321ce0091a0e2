"""The hospital simulation: whole hospital days through real terminals and the real service.

``python -m hospital_sim run`` (see :mod:`hospital_sim.cli`):

* :mod:`population` — the seeded city (pure): people of every kind, hospitals of
  levels 1/2/3 (one a designated PIN-service hospital), desks, bank branches, stays;
* :mod:`service` — start the settlement service (migrate, bootstrap admin,
  uvicorn on an ephemeral port) or use a running one;
* :mod:`world` — register institutions, terminals, people, coverage and cards over
  HTTP, cut PSAMs, make the cards (:func:`world.provision_cards` is the seam that
  ``--from-applications`` swaps for the card-application flow of issue 8: a module
  ``hospital_sim/applications.py`` defining ``provision_cards_from_applications``
  with the same signature);
* :mod:`slots` — the desk's reader: in-process or a real pcscd/vpcd reader;
* :mod:`day` — desk worker threads driving ``terminal.flows`` (desk, PIN service);
* :mod:`ledger`, :mod:`evidence`, :mod:`invariants` — what happened, what the
  service says happened, and the checks that must hold;
* :mod:`console`, :mod:`report` — progress bar, summary table, HTML report.
"""
