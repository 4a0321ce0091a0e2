"""The event and APDU log of one bench reader: JSON lines, secrets masked.

Every entry has ``seq`` (1, 2, … per reader), ``time`` (UTC, ISO 8601) and
``event``: ``inserted``, ``removed``, ``swapped``, ``pin_typed``, ``fault_set``,
``faults_cleared``, ``torn``, ``muted``, ``pulled``, or ``apdu`` with ``command``,
``response`` (hex, null when the answer never left the reader), ``sw``, ``ms``
and ``fault`` (the kinds that fired on it).

Secrets never reach the log (``card.md`` §Commands): the data of VERIFY
(``20``), CHANGE REFERENCE DATA / the bank PIN-change script (``24``), RESET
RETRY COUNTER (``2C``, a new PIN), CHANGE PIN (``5E``) and PUT KEY (``D8``) is
written as ``*`` per byte; a typed PIN is logged by its length only.

The entries go to ``<dir>/reader-<index>.jsonl`` (appended) and the last
:data:`KEEP` stay in memory for the API.
"""

from __future__ import annotations

import json
import threading
from collections import deque
from datetime import UTC, datetime
from pathlib import Path

#: Instructions whose command data is a PIN or a key.
SECRET_INS = frozenset((0x20, 0x24, 0x2C, 0x5E, 0xD8))
KEEP = 10_000


def mask_command(apdu: bytes) -> str:
    """The command as hex, with the data of a PIN or key command replaced by ``*``."""
    if len(apdu) > 5 and apdu[1] in SECRET_INS:
        return apdu[:5].hex().upper() + "**" * (len(apdu) - 5)
    return apdu.hex().upper()


class ReaderLog:
    """Append-only log of one reader (see the module docstring)."""

    def __init__(self, index: int, directory: Path) -> None:
        self.index = index
        self.path = directory / f"reader-{index}.jsonl"
        directory.mkdir(parents=True, exist_ok=True)
        self._entries: deque[dict[str, object]] = deque(maxlen=KEEP)
        self._seq = 0
        self._lock = threading.Lock()
        self._file = open(self.path, "a", encoding="utf-8")  # noqa: SIM115 - closed in close()

    def event(self, event: str, **fields: object) -> dict[str, object]:
        """Append one entry; returns it."""
        with self._lock:
            self._seq += 1
            entry: dict[str, object] = {
                "seq": self._seq,
                "time": datetime.now(UTC).isoformat(timespec="milliseconds"),
                "reader": self.index,
                "event": event,
                **fields,
            }
            self._entries.append(entry)
            if not self._file.closed:
                self._file.write(json.dumps(entry, ensure_ascii=False) + "\n")
                self._file.flush()
        return entry

    def apdu(self, exchange: dict[str, object]) -> None:
        """Log one exchange from :class:`card.faults.FaultLayer` (raw bytes in, masked out)."""
        command = exchange["command"]
        response = exchange["response"]
        assert isinstance(command, bytes)
        self.event(
            "apdu",
            command=mask_command(command),
            response=response.hex().upper() if isinstance(response, bytes) else None,
            sw=response[-2:].hex().upper() if isinstance(response, bytes) else None,
            ms=exchange["ms"],
            fault=exchange["fault"],
        )

    def read(self, since: int = 0, limit: int = 1000) -> list[dict[str, object]]:
        """Entries with ``seq`` greater than ``since`` (oldest first, at most ``limit``)."""
        with self._lock:
            return [e for e in self._entries if int(e["seq"]) > since][:limit]  # type: ignore[call-overload]

    @property
    def last_seq(self) -> int:
        return self._seq

    def close(self) -> None:
        with self._lock:
            self._file.close()
