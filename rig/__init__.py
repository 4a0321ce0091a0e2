"""The reader rig: N virtual readers in the real pcscd, and cards put into them from code.

Tooling beside the chip (``card/``): it may import ``card`` and the terminal's
reader layer (``terminal.readers``), and nothing in ``card/`` imports it except
the command entry ``card/__main__.py`` (``python -m card insert|rig`` dispatch to
:mod:`rig.cli`).  The modules:

* :mod:`rig.conf` — the readers a rig provides, ``reader.conf``, the driver copies;
* :mod:`rig.claims` — locks: claims on readers, on card images, "pcscd in use";
* :mod:`rig.pcscd` — the rig's pcscd: configure, start, stop, ensure, status;
* :mod:`rig.insert` — inserting cards (a card process or a connector thread);
* :mod:`rig.cli` — ``python -m card insert`` and ``python -m card rig``.

How the readers come about (vsmartcard ``libifdvpcd`` 3.3 as packaged by Debian):

* a ``reader.conf`` entry ``DEVICENAME /dev/null:PORT`` makes the driver
  listen on ``PORT`` for slot 0 and ``PORT+1`` for slot 1 — the Debian build
  has two slots per entry (``VPCDSLOTS``), named ``"<FRIENDLYNAME> 00 00"``
  and ``"<FRIENDLYNAME> 00 01"`` by pcscd;
* the driver keeps its connections in a static array indexed by slot, so two
  entries sharing one driver file would overwrite each other's slots.  The rig
  therefore gives every entry its own *copy* of the driver (a different file
  is a different shared object for the dynamic loader), under
  :data:`rig.conf.STATE_DIR`.

So reader *i* (0-based, ``i < n``) is slot ``i % 2`` of entry ``i // 2``,
listens on port ``BASE_PORT + i`` (29963, 29964, …) and is called
``"SSCard Virtual A 00 00"``, ``"SSCard Virtual A 00 01"``,
``"SSCard Virtual B 00 00"``, ….  The rig writes exactly one file,
``/etc/reader.conf.d/sscard-rig``, and neutralises Debian's default
``/etc/reader.conf.d/vpcd`` (an extra reader on port 35963) after saving it to
:data:`rig.conf.STATE_DIR`, so port use is deterministic.

The ports lie below Linux's ephemeral range (32768–60999), unlike vpcd's
default 35963: pcscd binds them again on every restart, and an outgoing
connection that happened to get one of them as its local port (a card
reconnecting, a database client) would make that bind fail with "Address
already in use" and silently drop readers.

pcscd reads its configuration only when it starts.  :func:`rig.pcscd.ensure` starts
``pcscd -f`` when none is running and records its pid in :data:`rig.conf.RUN_DIR`;
only such a daemon is ever restarted or stopped by the rig.  A pcscd started
by someone else is reused, and when the configuration had to change under it
the rig raises :class:`rig.conf.RigError` saying how to restart it.

Cards go into readers from code with :func:`rig.insert.insert` (a ``python -m
rig.cli insert`` child process: killing it is pulling the card) or
:func:`rig.insert.insert_in_thread` (a :class:`~card.vpcd.VpcdConnector` thread
in this process).  A reader is *claimed* by an exclusive ``flock`` on
``RUN_DIR/reader-<i>.lock`` held by whoever serves the card, so concurrent
test processes never put two cards into one slot; the lock dies with its
process, even on SIGKILL.
"""
