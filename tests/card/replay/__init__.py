"""APDU sequences of public reader code written for REAL social security cards (#12).

One module per public source, each step citing repository, path and line, with
what that reader expects back and how it parses the answer:

``hiquotion_cpp``      yxsylyh/hiquotion_cpp, a DeCard reader class (SSSE/EF05/EF06 by tag)
``hdos_vc6``           a7082633/HDOS_VC6, HD_XJDLL (Xinjiang): SFI-record and tag reads
``yuantu_terminal``    yuonceruyi/Terminal: Z9.cs (6Cxx/61xx handled by the reader itself),
                       MtReader.cs (card number only)
``z390kylin_mwlog``    leithergit/Z390Kylin: a Minhua reader library's wire log of a real
                       card (SELECT → ``61xx`` → GET RESPONSE; SFI-qualified tag reads)
``si_3rdcard_eglog``   gdgly/SI_3rdCard: the log of a real 3rd-generation SM4 card
                       (FCI with algorithm indicator, GET CHALLENGE 8, INTERNAL AUTHENTICATE
                       P2 00, EXTERNAL AUTHENTICATE 0A)
``python_emv``         russss/python-emv's emvtool (PSE, SELECT, GPO, AFL records, GET DATA,
                       VERIFY, GENERATE AC), with the PDOL filled as yuonceruyi/Terminal's
                       PBOC terminal (ICPOS.cs) does

:mod:`tests.card.replay.model` holds the step model and the runner that plays a
sequence in raw mode (exactly the reader's bytes; ``61xx``/``6Cxx`` followed up
as that reader does) or through a T=0-aware transport (``terminal.readers``).
Crypto values that depend on real keys cannot match: the shapes are replayed and
cryptograms are computed with the test card's keys (:mod:`tests.card.independent`).
"""
