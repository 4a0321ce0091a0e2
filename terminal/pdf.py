"""A printable page as PDF: the page's HTML printed by headless Chromium (Debian package
``chromium``, installed by scripts/setup.sh), which lays out Chinese with the system's CJK
fonts (``fonts-wqy-zenhei``) and embeds them, so the PDF reads the same on any machine.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path

from terminal.i18n import _


class PdfError(Exception):
    """The PDF could not be made (no Chromium, or it failed); the message says why."""


def chromium() -> str | None:
    """The Chromium executable, or None."""
    return shutil.which("chromium") or shutil.which("chromium-browser")


def print_to_pdf(page: str, out: str | Path, timeout: float = 120.0) -> Path:
    """Print the HTML ``page`` to the PDF file ``out`` (A4, no header or footer)."""
    program = chromium()
    if program is None:
        raise PdfError(_("no PDF printer: install the Debian package chromium"))
    out = Path(out).resolve()
    with tempfile.TemporaryDirectory(prefix="sscard-pdf-") as tmp:
        source = Path(tmp) / "page.html"
        source.write_text(page, encoding="utf-8")
        try:
            done = subprocess.run(
                [
                    program,
                    "--headless",
                    "--no-sandbox",  # the counter's terminal may run as root
                    "--disable-gpu",
                    "--no-first-run",
                    f"--user-data-dir={Path(tmp) / 'profile'}",
                    "--no-pdf-header-footer",
                    f"--print-to-pdf={out}",
                    source.as_uri(),
                ],
                capture_output=True,
                text=True,
                timeout=timeout,
                check=False,
            )
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise PdfError(
                _("Chromium did not print the PDF: {reason}").format(reason=exc)
            ) from exc
    if not out.is_file() or out.read_bytes()[:5] != b"%PDF-":
        reason = (done.stderr or "").strip().splitlines()[-1:] or [f"exit {done.returncode}"]
        raise PdfError(_("Chromium did not print the PDF: {reason}").format(reason=reason[0]))
    return out
