"""Public reader code for real social security cards, replayed through pcscd + vpcd (#12).

Each source in :mod:`tests.card.replay` is the APDU sequence of one public
reader (repository, path and line cited per step). Every sequence runs
against a 3DES and an SM4 card inserted into a rig reader, twice:

* raw: exactly the reader's bytes through ``SCardTransmit``; ``61xx``/``6Cxx``
  are seen as that reader sees them and followed up as it (or its reader
  library) does;
* T=0-aware: the same bytes through the terminal's reader layer
  (``PcscConnection.transmit``: GET RESPONSE and Le correction).

A replay passes when every step gets a status word the reader accepts, the
data length it ends up with, and the values it parses are the card's
(card.md §SSSE files). In raw mode each step's first answer is also checked
against what a T=0 card must give to those exact bytes (``61xx`` for SELECT
without Le, ``6Cxx`` with the record's length for a wrong Le).
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from card.crypto import Algorithm
from card.icc import VirtualCard
from card.keystore import KeyStore
from terminal.readers.base import Reader
from tests.card.replay import (
    cards,
    hdos_vc6,
    hiquotion_cpp,
    si_3rdcard_eglog,
    yuantu_terminal,
    z390kylin_mwlog,
)
from tests.card.replay.model import Answer, Exchange, Run, Source, play_raw, play_t0, problems

pytestmark = pytest.mark.pcsc

SOURCES = (
    hiquotion_cpp.SOURCE,
    hdos_vc6.SOURCE,
    *yuantu_terminal.SOURCES,
    z390kylin_mwlog.SOURCE,
)


@pytest.fixture(scope="module", params=[Algorithm.TDES, Algorithm.SM4], ids=["3des", "sm4"])
def card_in_reader(
    request: pytest.FixtureRequest,
    pcsc_rig,
    reader_keystore: KeyStore,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[Algorithm, Reader]]:
    """A card of each algorithm in a rig reader (inserted once per module)."""
    algorithm: Algorithm = request.param
    path = cards.issue(tmp_path_factory.mktemp("replay") / "card.json", reader_keystore, algorithm)
    inserted = pcsc_rig.insert_card(VirtualCard.open(path))
    reader = pcsc_rig.reader(inserted)
    try:
        yield algorithm, reader
    finally:
        reader.close()
        inserted.remove()


def answers(transmit) -> Exchange:
    """The terminal's ``Response`` as the replay's :class:`Answer`."""

    def send(apdu: bytes) -> Answer:
        response = transmit(apdu)
        return Answer(response.data, response.sw)

    return send


def replay(
    source: Source, mode: str, algorithm: Algorithm, reader: Reader, keystore: KeyStore
) -> Run:
    run = Run(source, algorithm.value, keys=cards.card_keys(keystore, algorithm))
    with reader.connect() as connection:
        if mode == "raw":
            play_raw(source, answers(connection.transmit_raw), run)
        else:
            play_t0(source, answers(connection.transmit), run)
    return run


def verdict(run: Run, algorithm: Algorithm) -> str:
    source = run.source
    found = problems(run, cards.facts(algorithm))
    if not found:
        return ""
    return (
        f"{source.repo} {source.path} @ {source.commit[:12]} on a {algorithm.value} card:\n"
        + "\n".join(found)
        + "\nwire:\n"
        + run.trace()
    )


@pytest.mark.parametrize("mode", ["raw", "t0"])
@pytest.mark.parametrize("source", SOURCES, ids=[s.name for s in SOURCES])
def test_public_reader_reads_the_card(
    source: Source, mode: str, card_in_reader, reader_keystore: KeyStore
) -> None:
    algorithm, reader = card_in_reader
    run = replay(source, mode, algorithm, reader, reader_keystore)
    assert len(run.outcomes) == len(source.steps)
    assert verdict(run, algorithm) == ""


@pytest.mark.parametrize("mode", ["raw", "t0"])
def test_real_sm4_card_log_replays(mode: str, card_in_reader, reader_keystore: KeyStore) -> None:
    """gdgly/SI_3rdCard's log of a real SM4 card: the FCI's algorithm indicator, GET CHALLENGE
    8, INTERNAL AUTHENTICATE P2 00 (card genuine), EXTERNAL AUTHENTICATE 0A (terminal genuine),
    then EF05/EF06 (card.md "What real cards do"), the crypto computed with this card's keys."""
    algorithm, reader = card_in_reader
    source = si_3rdcard_eglog.SOURCE
    run = replay(source, mode, algorithm, reader, reader_keystore)
    assert verdict(run, algorithm) == ""
    (internal,) = [o for o in run.outcomes if o.apdu[1] == 0x88]
    assert internal.final.data == si_3rdcard_eglog.internal_auth_expected(run, internal.apdu)


@pytest.mark.parametrize("mode", ["raw", "t0"])
def test_real_sm4_card_log_pin_session_replays(
    mode: str, card_in_reader, reader_keystore: KeyStore
) -> None:
    """The same log's PIN session: VERIFY ``0020000003123456`` after SELECT SSSE (line 669)."""
    algorithm, reader = card_in_reader
    run = replay(si_3rdcard_eglog.VERIFY_SOURCE, mode, algorithm, reader, reader_keystore)
    assert verdict(run, algorithm) == ""


def test_hd_xjdll_output_line_is_the_cards(card_in_reader, reader_keystore: KeyStore) -> None:
    """HD_XJDLL.cpp line 178: ``UserNo|SHBZHM|XM|XB|MZ|CSD|CSRQ``, as a caller of the DLL sees it."""
    algorithm, reader = card_in_reader
    run = replay(hdos_vc6.SOURCE, "raw", algorithm, reader, reader_keystore)
    line = hdos_vc6.output_line([o.parsed for o in run.outcomes if o.step.fact is not None])
    holder = cards.HOLDER
    assert line == f"{cards.CARD_NUMBER}|{holder.ssn}|{holder.name}|1|01|430100|19800517"


def test_reader_sees_the_atr_shape_of_a_real_card(card_in_reader) -> None:
    """A real card's ATR in leithergit/Z390Kylin's log (line 56) is ``3B 6D 00 00`` + 13
    historical bytes; readers that check the length and prefix accept ours (card.md
    §Physical layer)."""
    _algorithm, reader = card_in_reader
    real = z390kylin_mwlog.REAL_ATR
    with reader.connect() as connection:
        atr = connection.atr
    assert (len(atr), atr[:4]) == (len(real), real[:4])
    assert atr[4] == 0x00  # category indicator
    assert atr[5:8] == bytes.fromhex(cards.REGION)
    assert atr[8:16] == cards.CARD_FACTOR


def test_every_source_cites_where_it_comes_from() -> None:
    for source in (*SOURCES, si_3rdcard_eglog.SOURCE, si_3rdcard_eglog.VERIFY_SOURCE):
        assert len(source.commit) == 40 and "/" in source.repo
        for step in source.steps:
            assert step.cite.startswith(source.path + ":"), (source.name, step.name)
