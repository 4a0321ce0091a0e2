"""The README's walk-through at the counter runs as written (#17): the lines between
``<!-- walkthrough:begin -->`` and ``<!-- walkthrough:end -->`` are run in order, the
``python -m terminal`` ones on a pseudo-terminal where the answers are typed as the README's
comments say a clerk (or the holder) types them, and what the desk shows is checked.

As on a fresh machine: no ``SSCARD_*`` setting is inherited (Chinese is the default
language). Two substitutions only: the world's folder ``/tmp/demo`` is the test's own tmp
folder, and the service listens on a free port instead of 8000 (``SSCARD_SERVICE_URL``
says which, as the terminal's default would say 8000). ``<住院号>`` and ``<结算流水号>`` are
the numbers the desk printed, as a clerk copies them from the screen.
"""

from __future__ import annotations

import os
import re
import shlex
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

from tests.terminal.clerk_pty import Clerk

ROOT = Path(__file__).resolve().parents[1]
BLOCK = re.compile(
    r"<!-- walkthrough:begin -->\n```sh\n(.*?)```\n<!-- walkthrough:end -->", re.DOTALL
)

#: What the desk asks and the answer typed, per terminal command (the README's comments).
ANSWERS = {
    "admit": [("请输入社保密码：", "123456")],
    "discharge": [("请输入社保密码：", "123456")],
    "reverse": [("确认冲正这笔结算吗？", "是")],
    "bank-pin change": [
        ("原银行密码：", "302978"),
        ("新银行密码：", "246810"),
        ("再次输入新银行密码：", "246810"),
    ],
    "bank-pin reset": [
        ("请输入持卡人身份证件上的号码：", "430100195001010103"),
        ("新银行密码：", "135790"),
        ("再次输入新银行密码：", "135790"),
    ],
}
#: What each terminal command must show (in Chinese, the default).
SHOWN = {
    "admit": ["已办理入院：", "职工基本医疗保险", "D00000001"],
    "fees": ["费用已上传", "235.40"],
    "pre-settle": ["预结算单（未入账）", "235.40"],
    "discharge": ["住院结算单", "结算流水号", "王伟", "D00000001", "肺炎", "235.40"],
    "reverse": ["已冲正"],
    "day-report": ["日结报表", "按目录类别的费用", "甲类", "按科室净额", "内科", "已平衡"],
    "bank-pin change": ["密码业务", "银行"],
    "bank-pin reset": ["密码业务", "银行"],
}


def walkthrough() -> list[str]:
    match = BLOCK.search((ROOT / "README.md").read_text(encoding="utf-8"))
    assert match, "README.md has no walk-through between its markers"
    return [line for line in match.group(1).splitlines() if line.strip()]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Counter:
    """The shell a clerk types into: its environment, the numbers seen, the service."""

    def __init__(self, home: Path, port: int) -> None:
        self.home, self.port = str(home), port
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("SSCARD_")}
        self.env |= {
            "PYTHONPATH": str(ROOT),
            "COLUMNS": "120",
            "SSCARD_SERVICE_URL": f"http://127.0.0.1:{port}",
        }
        self.numbers: dict[str, str] = {}
        self.service: subprocess.Popen | None = None

    def words(self, line: str) -> list[str]:
        """The line as the shell splits it, comment dropped, the two substitutions made."""
        line = line.replace("/tmp/demo", self.home).replace("--port 8000", f"--port {self.port}")
        for placeholder, value in self.numbers.items():
            line = line.replace(placeholder, value)
        assert "<" not in line.split("#")[0], f"a number not printed yet: {line}"
        return shlex.split(line, comments=True)

    def python(self, words: list[str]) -> list[str]:
        assert words[0] == "python" and words[1] == "-m", words
        return [sys.executable, *words[1:]]

    def run(self, line: str) -> None:
        words = self.words(line)
        if words[0] == "export":
            key, value = words[1].split("=", 1)
            self.env[key] = value
        elif words[0] == "eval":
            inner = words[1].removeprefix("$(").removesuffix(")")
            out = subprocess.run(
                self.python(shlex.split(inner)),
                env=self.env,
                cwd=ROOT,
                capture_output=True,
                text=True,
                timeout=120,
                check=True,
            ).stdout
            for export in out.splitlines():
                self.run(export)
        elif words[-1] == "&":
            self.start_service(self.python(words[:-1]))
        elif words[1:3] == ["-m", "terminal"]:
            self.desk(words[3:])
        else:
            done = subprocess.run(
                self.python(words),
                env=self.env,
                cwd=ROOT,
                capture_output=True,
                text=True,
                check=False,
            )
            assert done.returncode == 0, (line, done.stdout, done.stderr)

    def start_service(self, argv: list[str]) -> None:
        log = open(Path(self.home) / "serve.log", "wb")  # noqa: SIM115 - closed with the process
        self.service = subprocess.Popen(argv, env=self.env, cwd=ROOT, stdout=log, stderr=log)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"http://127.0.0.1:{self.port}/v1/health").status_code == 200:
                    return
            except httpx.TransportError:
                time.sleep(0.3)
        raise AssertionError("the service did not start: see serve.log")

    def desk(self, argv: list[str]) -> None:
        command = " ".join(argv[:2]) if argv[0] in ("bank-pin", "pin") else argv[0]
        clerk = Clerk(argv, self.env, module="terminal", cwd=str(ROOT))
        for prompt, answer in ANSWERS.get(command, []):
            clerk.expect(prompt)
            clerk.type(answer)
        assert clerk.wait() == 0, clerk.seen
        for text in SHOWN.get(command, []):
            assert text in clerk.seen, (command, text, clerk.seen)
        assert not {a for _p, a in ANSWERS.get(command, []) if a.isdigit() and len(a) == 6} & set(
            re.findall(r"\d{6}", clerk.seen)
        ), f"a PIN was echoed: {clerk.seen}"
        if command == "admit":
            self.numbers["<住院号>"] = re.search(r"已办理入院：\s*(\S+)", clerk.seen).group(1)
        if command == "discharge":
            self.numbers["<结算流水号>"] = re.search(r"结算流水号:\s*(\S+)", clerk.seen).group(1)

    def stop(self) -> None:
        if self.service is not None:
            self.service.terminate()
            self.service.wait(timeout=30)


def test_the_readme_walkthrough_runs_as_written(tmp_path):
    lines = walkthrough()
    assert any("bank-pin reset" in line for line in lines)
    counter = Counter(tmp_path / "demo", _free_port())
    try:
        for line in lines:
            counter.run(line)
    finally:
        counter.stop()
    assert (tmp_path / "demo" / "slip.html").read_text(encoding="utf-8").count("王伟") == 1
    assert "内科" in (tmp_path / "demo" / "day-report.html").read_text(encoding="utf-8")
