"""The reader rig's configuration (in a scratch directory) and its CLI."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from rig import claims, conf, pcscd
from rig import insert as rig_insert

DEBIAN_VPCD = """# vsmartcard default
FRIENDLYNAME "Virtual PCD"
DEVICENAME   /dev/null:0x8C7B
LIBPATH      /usr/lib/pcsc/drivers/serial/libifdvpcd.so
CHANNELID    0x8C7B
"""


def test_readers_are_two_slots_per_entry_with_one_port_each() -> None:
    readers = conf.readers(5)
    assert [r.port for r in readers] == [conf.BASE_PORT + i for i in range(5)]
    low, _high = map(int, Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split())
    assert readers[-1].port < low  # never an outgoing connection's local port
    assert [r.name for r in readers[:3]] == [
        "SSCard Virtual A 00 00",
        "SSCard Virtual A 00 01",
        "SSCard Virtual B 00 00",
    ]
    with pytest.raises(conf.RigError, match="1 to 16"):
        conf.readers(17)


def test_conf_gives_each_entry_its_own_driver_copy(tmp_path: Path) -> None:
    text = conf.render_conf(5, tmp_path)
    assert text.count("FRIENDLYNAME") == 3
    assert f"DEVICENAME   /dev/null:{conf.BASE_PORT}" in text
    assert f"DEVICENAME   /dev/null:{conf.BASE_PORT + 4}" in text
    libs = [line.split()[1] for line in text.splitlines() if line.startswith("LIBPATH")]
    assert len(set(libs)) == 3
    assert conf.conf_reader_count(text) == 5


@pytest.mark.skipif(not conf.SYSTEM_DRIVER.exists(), reason="vsmartcard-vpcd not installed")
def test_configure_neutralises_debian_vpcd_and_is_idempotent(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    conf_dir, state = tmp_path / "reader.conf.d", tmp_path / "state"
    conf_dir.mkdir()
    (conf_dir / "vpcd").write_text(DEBIAN_VPCD)
    monkeypatch.setattr(conf, "CONF_DIR", conf_dir)
    monkeypatch.setattr(conf, "STATE_DIR", state)
    assert pcscd.configure(3) is True
    assert (state / "vpcd.debian").read_text() == DEBIAN_VPCD
    active = [
        line
        for line in (conf_dir / "vpcd").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    assert active == []
    assert conf.configured_count() == 3
    assert len(list((state / "drivers").glob("libifdvpcd-*.so"))) == 2
    assert pcscd.configure(3) is False  # nothing changed: pcscd need not restart
    assert pcscd.configure(4) is True


@pytest.mark.pcsc
def test_rig_status_cli_lists_the_readers(pcsc_rig) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "card", "rig", "status", "--json"],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    state = json.loads(done.stdout)
    assert state["pcscd_pid"] is not None
    names = [reader["name"] for reader in state["readers"]]
    assert names[: len(pcsc_rig.readers)] == [r.name for r in pcsc_rig.readers]


@pytest.mark.pcsc
def test_insert_into_a_taken_reader_is_refused(pcsc_rig, issue_card) -> None:
    first = pcsc_rig.insert(issue_card())
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "card",
            "insert",
            str(issue_card()),
            "--reader",
            str(first.reader.index),
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2
    assert "already holds a card" in done.stderr
    first.remove()


@pytest.mark.pcsc
def test_stop_leaves_a_pcscd_in_use_running(pcsc_rig) -> None:
    # The session fixture holds a RigUse, so even the rig's own pcscd must stay up.
    pid = pcscd.pcscd_pid()
    assert pcscd.stop_pcscd() is False
    assert pcscd.pcscd_pid() == pid and pcscd.pcscd_answers()


def _card_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "card", *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("rig", "start", "--readers", "-2"), "1 to 16 readers"),
        (("rig", "setup", "--readers", "0"), "1 to 16 readers"),
        (("insert", "{image}", "--port", "70000"), "not a TCP port"),
        (("insert", "{image}", "--reader", "99"), "no rig reader 99"),
        (("insert", "{image}", "--reader", "no such desk"), "names 0 rig readers"),
        (("insert", "{missing}", "--reader", "0"), "no card image"),
        (("insert", "{corrupt}", "--reader", "0"), "is not a card image"),
    ],
)
def test_bad_arguments_are_one_line_errors(tmp_path: Path, issue_card, args, message) -> None:
    corrupt = tmp_path / "corrupt.img"
    corrupt.write_bytes(b"\xad not json")
    paths = {"image": issue_card(), "missing": tmp_path / "nope.img", "corrupt": corrupt}
    done = _card_cli(*(arg.format(**paths) for arg in args))
    assert done.returncode != 0
    assert message in done.stderr
    assert "Traceback" not in done.stderr


@pytest.mark.pcsc
def test_insert_on_the_port_of_a_taken_reader_is_refused(pcsc_rig, issue_card) -> None:
    first = pcsc_rig.insert(issue_card())
    done = _card_cli("insert", str(issue_card()), "--port", str(first.reader.port))
    assert done.returncode == 2, done.stderr
    assert "already holds a card" in done.stderr
    assert first.alive
    first.remove()


def test_insert_stopped_before_any_pcscd_served_it_fails(issue_card) -> None:
    with socket.socket() as probe:  # a port nothing listens on (the kernel's pick, then freed)
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    process = subprocess.Popen(
        [sys.executable, "-m", "card", "insert", str(issue_card()), "--port", str(port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        waiting = process.stderr.readline()  # said after 2 s without pcscd
        process.send_signal(signal.SIGTERM)
        out, err = process.communicate(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
    assert "waiting for pcscd" in waiting
    assert process.returncode == 1
    assert "never got into" in err
    assert "removed" not in out and "Traceback" not in err


@pytest.mark.skipif(not conf.SYSTEM_DRIVER.exists(), reason="vsmartcard-vpcd not installed")
def test_shrinking_the_rig_never_drops_a_reader_holding_a_card(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name, path in (("CONF_DIR", "conf"), ("STATE_DIR", "state"), ("RUN_DIR", "run")):
        monkeypatch.setattr(conf, name, tmp_path / path)
    assert pcscd.configure(4) is True
    claim = claims._try_claim(conf.readers(4)[3])  # no pcscd involved: only the lock
    assert claim is not None
    with claim:
        with pytest.raises(conf.RigError, match=r"readers \[3\] hold cards"):
            pcscd.configure(2)
        assert conf.configured_count() == 4
    assert pcscd.configure(2) is True  # once the card is out
    assert conf.configured_count() == 2


@pytest.mark.pcsc
def test_rig_start_says_which_port_another_program_holds(tmp_path: Path) -> None:
    """pcscd silently drops readers whose port is taken; ``rig start`` must not say OK.

    Runs the rig in a mount namespace of its own (private ``/run/pcscd`` and
    ``/etc/reader.conf.d``, free ports), so the machine's pcscd is untouched.
    """
    from tests.fixtures.pcsc import _free_base_port

    if shutil.which("unshare") is None or not conf.SYSTEM_DRIVER.exists():
        pytest.skip("needs unshare and vsmartcard-vpcd")
    base = _free_base_port(2)
    for name in ("run", "conf", "state"):
        (tmp_path / name).mkdir()
    script = (
        f"mount --bind {tmp_path / 'run'} /run/pcscd && "
        f"mount --bind {tmp_path / 'conf'} /etc/reader.conf.d && "
        f'"$0" -m card rig start --readers 2; status=$?; "$0" -m card rig stop --force; '
        "exit $status"
    )
    env = {
        **os.environ,
        "SSCARD_RIG_RUN": str(tmp_path / "rigrun"),
        "SSCARD_RIG_STATE": str(tmp_path / "state"),
        "SSCARD_READER_CONF_DIR": "/etc/reader.conf.d",
        "SSCARD_RIG_BASE_PORT": str(base),
    }
    with socket.socket() as squatter:
        squatter.bind(("0.0.0.0", base + 1))
        squatter.listen()
        done = subprocess.run(
            ["unshare", "--mount", "--propagation", "private", "sh", "-c", script, sys.executable],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
    if "mount" in done.stderr and "rig readers" not in done.stderr:
        pytest.skip(f"cannot make a private /run/pcscd here: {done.stderr[-300:]}")
    assert done.returncode == 2, done.stdout + done.stderr
    assert f"another program holds port(s) [{base + 1}]" in done.stderr
    assert "Traceback" not in done.stderr


def test_rig_insert_reports_why_the_card_process_failed(tmp_path: Path) -> None:
    with pytest.raises(conf.RigError, match=r"exited \(status 1\).*no card image"):
        rig_insert.insert(tmp_path / "nope.img", reader=0, timeout=30)


@pytest.mark.pcsc
def test_one_card_image_goes_into_one_reader_at_a_time(pcsc_rig, issue_card) -> None:
    image = issue_card()
    first = pcsc_rig.insert(image)
    done = _card_cli("insert", str(image))  # any other free reader
    assert done.returncode == 2, done.stderr
    assert "is already in a reader" in done.stderr and "Traceback" not in done.stderr
    first.remove()
    again = pcsc_rig.insert(image)  # free again once removed
    again.remove()
