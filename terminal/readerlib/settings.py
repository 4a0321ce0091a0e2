"""``Init``'s argument: the platform's JSON settings and our ``EXT`` (reader-library.md §1.14).

The platform's keys: ``IP``, ``PORT``, ``TIMEOUT``, ``LOG_PATH``, ``EC_URL``,
``CARD_PASSTYPE``, ``API_NAME``, ``API_VERSION``, ``ACCESS_KEY``, ``SECRETKEY``,
``ORG_ID``, ``EXT``, ``AREA_CODE``. Here ``IP``/``PORT`` locate the settlement
service, ``ACCESS_KEY`` is the terminal's API key, ``ORG_ID`` the institution
code the key must belong to, ``TIMEOUT`` seconds per service call, ``LOG_PATH``
a folder (or file) for the library's log (never a PIN), ``CARD_PASSTYPE`` 1
(the card PIN; 2, a database password, is not supported). ``EXT`` (a JSON
object, or a string holding one) carries this library's own settings:

================  ==============================================================
``psam``          path of the terminal's PSAM image (required)
``reader``        PC/SC reader: index in pcscd's list, or a (unique part of a) name;
                  default the first reader
``charset``       ``gbk`` (default) or ``utf-8``: the text of every output buffer
``pinpad``        ``socket`` (default: a scripted pad, ``python -m terminal pinpad``)
                  or ``tty`` (prompt on the controlling terminal, masked)
``pin_timeout``   seconds VerifyPIN/ChangePIN wait for the PIN pad (default 60)
``wait``          seconds ReadCardBas waits for a card (default 0: fail at once)
``device_no``     field 11 of pCardInfo, the terminal device number
                  (default ``SSCARD`` + the reader's index, 4 digits)
``service_url``   the service's base URL instead of ``http://IP:PORT``
``buffers``       ``{"pCardInfo": 512, ...}``: the caller's buffer sizes when smaller
                  than the documented ones (terminal.readerlib.abi.BUFFER_SIZES)
================  ==============================================================
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from terminal.readerlib.abi import BUFFER_SIZES, MAX_DECLARED_SIZE

CHARSETS = {"gbk": "gbk", "utf-8": "utf-8", "utf8": "utf-8", "gb18030": "gb18030"}
PINPADS = ("socket", "tty")
DEFAULT_TIMEOUT_S = 10.0
DEFAULT_PIN_TIMEOUT_S = 60.0


class SettingsError(ValueError):
    """``Init``'s argument is not usable; the message says which key and why (Chinese)."""


@dataclass(frozen=True)
class InitSettings:
    """What ``Init`` was told (module docstring: keys and meanings)."""

    service_url: str
    access_key: str
    org_id: str | None
    psam_path: Path
    reader: str | int | None = None
    charset: str = "gbk"
    pinpad: str = "socket"
    pin_timeout_s: float = DEFAULT_PIN_TIMEOUT_S
    wait_s: float = 0.0
    timeout_s: float = DEFAULT_TIMEOUT_S
    device_no: str | None = None
    log_path: Path | None = None
    buffers: dict[str, int] = field(default_factory=lambda: dict(BUFFER_SIZES))

    def size(self, buffer: str) -> int:
        return self.buffers.get(buffer, BUFFER_SIZES[buffer])


def decode_argument(raw: bytes) -> str:
    """A ``char*`` argument: UTF-8 if it is, else GBK (the ANSI code page of Chinese Windows)."""
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return raw.decode("gb18030", errors="replace")


def _object(text: str, what: str) -> dict[str, Any]:
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise SettingsError(f"{what}不是合法的JSON：{exc.msg}（第{exc.pos + 1}个字符）") from None
    if not isinstance(value, dict):
        raise SettingsError(f"{what}必须是JSON对象")
    return value


def _number(value: Any, key: str, minimum: float) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise SettingsError(f"{key}必须是数字，而不是{value!r}") from None
    if number < minimum:
        raise SettingsError(f"{key}不能小于{minimum:g}")
    return number


def _buffers(value: Any) -> dict[str, int]:
    if not isinstance(value, dict):
        raise SettingsError('EXT.buffers必须是JSON对象，例如 {"pCardInfo": 2048}')
    sizes = dict(BUFFER_SIZES)
    for name, size in value.items():
        if name not in BUFFER_SIZES:
            raise SettingsError(
                f"EXT.buffers: 未知的缓冲区{name}（可用：{', '.join(BUFFER_SIZES)}）"
            )
        if (
            not isinstance(size, int)
            or isinstance(size, bool)
            or not 1 <= size <= MAX_DECLARED_SIZE
        ):
            raise SettingsError(f"EXT.buffers.{name}必须是1到{MAX_DECLARED_SIZE}之间的整数")
        sizes[name] = size
    return sizes


def _reader(value: Any) -> str | int | None:
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        raise SettingsError("EXT.reader必须是读卡器序号或名称")
    if isinstance(value, int):
        return value
    text = str(value).strip()
    return int(text) if text.isdigit() else text


def _service_url(init: dict[str, Any], ext: dict[str, Any]) -> str:
    if ext.get("service_url"):
        return str(ext["service_url"]).rstrip("/")
    host = str(init.get("IP") or "").strip()
    if not host:
        raise SettingsError("缺少IP（医保结算服务地址）")
    port = init.get("PORT")
    if port in (None, ""):
        raise SettingsError("缺少PORT（医保结算服务端口）")
    port_number = int(_number(port, "PORT", 1))
    if port_number > 65535:
        raise SettingsError("PORT必须在1到65535之间")
    scheme = "https" if port_number == 443 else "http"
    return f"{scheme}://{host}:{port_number}"


def parse_init(text: str) -> InitSettings:
    """``Init``'s JSON as settings; :class:`SettingsError` saying what to fix."""
    init = _object(text, "Init参数")
    ext_raw = init.get("EXT") or {}
    ext = _object(ext_raw, "EXT") if isinstance(ext_raw, str) else ext_raw
    if not isinstance(ext, dict):
        raise SettingsError("EXT必须是JSON对象或包含JSON对象的字符串")
    passtype = str(init.get("CARD_PASSTYPE") or "1")
    if passtype != "1":
        raise SettingsError("CARD_PASSTYPE只支持1（校验社保卡密码）")
    access_key = str(init.get("ACCESS_KEY") or "").strip()
    if not access_key:
        raise SettingsError("缺少ACCESS_KEY（终端的API密钥）")
    psam = ext.get("psam")
    if not psam:
        raise SettingsError(
            '缺少EXT.psam（本终端PSAM卡文件路径），例如 "EXT": {"psam": "/path/psam.json"}'
        )
    charset = CHARSETS.get(str(ext.get("charset", "gbk")).lower())
    if charset is None:
        raise SettingsError(f"EXT.charset只能是{'、'.join(CHARSETS)}")
    pinpad = str(ext.get("pinpad", "socket")).lower()
    if pinpad not in PINPADS:
        raise SettingsError("EXT.pinpad只能是socket或tty")
    return InitSettings(
        service_url=_service_url(init, ext),
        access_key=access_key,
        org_id=str(init["ORG_ID"]).strip() if init.get("ORG_ID") else None,
        psam_path=Path(str(psam)).expanduser(),
        reader=_reader(ext.get("reader")),
        charset=charset,
        pinpad=pinpad,
        pin_timeout_s=_number(ext.get("pin_timeout", DEFAULT_PIN_TIMEOUT_S), "EXT.pin_timeout", 0),
        wait_s=_number(ext.get("wait", 0), "EXT.wait", 0),
        timeout_s=_number(init.get("TIMEOUT") or DEFAULT_TIMEOUT_S, "TIMEOUT", 0.1),
        device_no=str(ext["device_no"]) if ext.get("device_no") else None,
        log_path=Path(str(init["LOG_PATH"])).expanduser() if init.get("LOG_PATH") else None,
        buffers=_buffers(ext.get("buffers", {})),
    )


def buffer_sizes_hint(text: str) -> dict[str, int]:
    """The buffer sizes ``Init``'s JSON declares, or the documented ones when it cannot be
    read: how big ``pErrMsg`` is even when the rest of the JSON is wrong."""
    try:
        init = json.loads(text)
        ext = init.get("EXT") or {}
        ext = json.loads(ext) if isinstance(ext, str) else ext
        return _buffers(ext.get("buffers", {}))
    except (ValueError, AttributeError, SettingsError):
        return dict(BUFFER_SIZES)
