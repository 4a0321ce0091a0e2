"""A Python client of the bench control API (:mod:`rig.bench.server`), and the bench process.

    with BenchProcess.start(readers=2) as bench:         # python -m card bench --json
        card = bench.client.create_card(name="王芳", state="blocked_pin")
        bench.client.insert(0, card["id"])
        bench.client.add_fault(0, kind="sw", match="00B2", sw="6A82")

Every method returns the decoded JSON; a refusal raises :class:`BenchApiError` with
the API's stable ``code``.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any, Self

import httpx


class BenchApiError(Exception):
    def __init__(self, status: int, code: str, detail: str) -> None:
        super().__init__(f"{status} {code}: {detail}")
        self.status = status
        self.code = code
        self.detail = detail


class BenchClient:
    def __init__(self, url: str, token: str, timeout: float = 30.0) -> None:
        self.url = url.rstrip("/")
        self._http = httpx.Client(
            base_url=self.url, headers={"Authorization": f"Bearer {token}"}, timeout=timeout
        )

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def request(self, method: str, path: str, body: object = None, **params: Any) -> Any:
        answer = self._http.request(method, path, json=body, params=params or None)
        data = answer.json() if answer.content else None
        if answer.status_code >= 400:
            data = data if isinstance(data, dict) else {}
            raise BenchApiError(
                answer.status_code, str(data.get("code")), str(data.get("detail", answer.text))
            )
        return data

    def readers(self) -> list[dict[str, Any]]:
        return self.request("GET", "/v1/readers")

    def reader(self, index: int) -> dict[str, Any]:
        return self.request("GET", f"/v1/readers/{index}")

    def create_card(self, **profile: str) -> dict[str, Any]:
        return self.request("POST", "/v1/cards", profile)

    def import_card(self, image: str | os.PathLike[str], state: str = "active") -> dict[str, Any]:
        return self.request("POST", "/v1/cards/import", {"image": os.fspath(image), "state": state})

    def card(self, card_id: str) -> dict[str, Any]:
        return self.request("GET", f"/v1/cards/{card_id}")

    def insert(self, reader: int, card_id: str) -> dict[str, Any]:
        return self.request("POST", f"/v1/readers/{reader}/card", {"card": card_id})

    def swap(self, reader: int, card_id: str) -> dict[str, Any]:
        return self.request("PUT", f"/v1/readers/{reader}/card", {"card": card_id})

    def remove(self, reader: int) -> dict[str, Any]:
        return self.request("DELETE", f"/v1/readers/{reader}/card")

    def type_pin(
        self, reader: int, pin: str, pad: str | int | None = None, wait_s: float | None = None
    ) -> dict[str, Any]:
        body: dict[str, object] = {"pin": pin}
        if wait_s is not None:
            body["wait_s"] = wait_s
        if pad is not None:
            body["pad"] = pad
        return self.request("POST", f"/v1/readers/{reader}/pinpad", body)

    def add_fault(self, reader: int, kind: str, **fault: object) -> dict[str, Any]:
        return self.request("POST", f"/v1/readers/{reader}/faults", {"kind": kind, **fault})

    def faults(self, reader: int) -> list[dict[str, Any]]:
        return self.request("GET", f"/v1/readers/{reader}/faults")

    def clear_faults(self, reader: int, fault_id: int | None = None) -> dict[str, Any]:
        tail = f"/{fault_id}" if fault_id is not None else ""
        return self.request("DELETE", f"/v1/readers/{reader}/faults{tail}")

    def log(self, reader: int, since: int = 0, limit: int = 1000) -> dict[str, Any]:
        return self.request("GET", f"/v1/readers/{reader}/log", since=since, limit=limit)


class BenchProcess:
    """A ``python -m card bench --json`` child process and a client for it."""

    def __init__(self, process: subprocess.Popen[str], ready: dict[str, Any]) -> None:
        self.process = process
        self.ready = ready
        self.url: str = ready["url"]
        self.token: str = ready["token"]
        self.home = Path(ready["home"])
        self.readers: list[dict[str, Any]] = ready["readers"]
        self.client = BenchClient(self.url, self.token)

    @classmethod
    def start(
        cls,
        home: str | os.PathLike[str],
        readers: int = 2,
        keystore: str | os.PathLike[str] | None = None,
        service: tuple[str, str] | None = None,
        timeout: float = 60.0,
        python: str = sys.executable,
        env: dict[str, str] | None = None,
    ) -> BenchProcess:
        command = [python, "-m", "card", "bench", "--json", "--exit-with-parent"]
        command += ["--readers", str(readers)]
        command += ["--home", os.fspath(home)]
        if keystore is not None:
            command += ["--keystore", os.fspath(keystore)]
        if service is not None:  # (url, key): states that live in the service (lost)
            command += ["--service-url", service[0], "--service-key", service[1]]
        Path(home).mkdir(parents=True, exist_ok=True)
        with open(Path(home) / "bench.stderr", "ab") as errors:  # the child keeps its copy
            process = subprocess.Popen(
                command,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=errors,
                text=True,
                env=env,
            )
        ready: dict[str, Any] = {}

        def read_ready() -> None:
            assert process.stdout is not None
            for line in process.stdout:
                if line.startswith("{"):
                    ready.update(json.loads(line))
                    return

        thread = threading.Thread(target=read_ready, daemon=True)
        thread.start()
        thread.join(timeout)
        if ready.get("event") != "ready":
            process.kill()
            process.wait()
            said = (Path(home) / "bench.stderr").read_text(errors="replace")[-2000:]
            raise RuntimeError(f"the bench did not start within {timeout} s: {said}")
        return cls(process, ready)

    def stop(self, timeout: float = 20.0) -> int:
        self.client.close()
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        if self.process.stdout is not None:
            self.process.stdout.close()
        return self.process.returncode

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
