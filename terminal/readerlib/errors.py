"""What went wrong, as a return code and a Chinese sentence for the HIS (reader-library.md).

:func:`failure` turns any exception of the terminal layers into ``(Code, text)``:
card states the service refuses say why in Chinese, a wrong PIN says how many
tries are left, a blocked PIN says where to have it unblocked. A PIN never
appears in these texts (nothing here sees one).
"""

from __future__ import annotations

from terminal import apdu
from terminal.cardinfo import CardDataError
from terminal.client.http import ServiceRefused, ServiceUnavailable
from terminal.flows.common import CardRefused
from terminal.psam import CardNotGenuine, NotEntitled, PsamError
from terminal.readerlib.abi import Code
from terminal.readerlib.cardinfo import CardInfoError
from terminal.readerlib.pinpad import PinPadError
from terminal.readerlib.settings import SettingsError
from terminal.readers.base import (
    CardRemoved,
    CardUnresponsive,
    NoCard,
    NoReader,
    PcscdNotRunning,
    ReaderError,
)
from terminal.session import PinBlocked, WrongPin

#: Where a blocked social security PIN is unblocked (settlement.md §PIN authority).
UNBLOCK_WHERE = "社保卡服务中心、合作银行网点或指定的定点医院"

#: The service's card-state refusals (docs/api.md §Error codes) in the HIS's words.
CARD_STATES = {
    "card_lost": "该社会保障卡已挂失，不能使用（补卡期间可凭补卡回执办理）",
    "card_cancelled": "该社会保障卡已注销，不能使用",
    "card_expired": "该社会保障卡已超过有效期，请持卡人到社保卡服务网点换领新卡",
    "card_replaced": "该社会保障卡已补换新卡，请使用新卡",
    "card_not_active": "该社会保障卡尚未领卡启用，不能使用",
    "card_unknown": "该社会保障卡未在医保系统登记",
    "card_mismatch": "卡片识别码与登记的卡不一致，不能使用",
}


class LibraryError(Exception):
    """A failure the library itself names (not initialised, called out of order...)."""

    def __init__(self, code: Code, text: str) -> None:
        super().__init__(text)
        self.code = code
        self.text = text


def wrong_pin_text(tries_left: int) -> str:
    if tries_left <= 0:
        return f"密码错误，密码已锁定：请持卡人到{UNBLOCK_WHERE}解锁"
    return f"密码错误，还可以尝试{tries_left}次"


def blocked_text() -> str:
    return f"密码已锁定，请持卡人到{UNBLOCK_WHERE}解锁"


def _service_refused(exc: ServiceRefused) -> tuple[Code, str]:
    if exc.code in CARD_STATES:
        return Code.CARD_REFUSED, f"{CARD_STATES[exc.code]}（{exc.code}）"
    if exc.code == "unauthenticated":
        return Code.SERVICE, "医保结算服务拒绝了ACCESS_KEY（密钥无效或已吊销）"
    if exc.code == "not_entitled":
        return Code.SERVICE, f"本机构无权进行此操作（not_entitled）：{exc.detail}"
    return Code.SERVICE, f"医保结算服务拒绝（{exc.code}）：{exc.detail or exc.title}"


def _reader_failure(exc: ReaderError) -> tuple[Code, str]:
    if isinstance(exc, PcscdNotRunning):
        return Code.READER, f"PC/SC服务（pcscd）未运行或无法连接：{exc}"
    if isinstance(exc, NoReader):
        return Code.READER, f"找不到读卡器：{exc}"
    if isinstance(exc, NoCard):
        return Code.NO_CARD, "读卡器中没有卡，请插入社会保障卡"
    if isinstance(exc, CardRemoved):
        return Code.CARD, f"卡片已被拔出或读卡器已断开，请重新插卡后读卡（{exc}）"
    if isinstance(exc, CardUnresponsive):
        return Code.CARD, f"卡片无响应，请重新插卡（{exc}）"
    return Code.READER, f"读卡器错误：{exc}"


def failure(exc: BaseException) -> tuple[Code, str]:
    """The return code and the text for ``exc`` (never raises)."""
    if isinstance(exc, LibraryError):
        return exc.code, exc.text
    if isinstance(exc, SettingsError):
        return Code.BAD_ARGUMENT, f"Init参数错误：{exc}"
    if isinstance(exc, WrongPin):
        return Code.PIN_WRONG, wrong_pin_text(exc.tries_left)
    if isinstance(exc, PinBlocked):
        return Code.PIN_BLOCKED, blocked_text()
    if isinstance(exc, PinPadError):
        return Code.PIN_PAD, str(exc)
    if isinstance(exc, CardRefused):
        text = CARD_STATES.get(exc.code, "该社会保障卡不能使用")
        return Code.CARD_REFUSED, f"{text}（{exc.code}）"
    if isinstance(exc, ServiceRefused):
        return _service_refused(exc)
    if isinstance(exc, ServiceUnavailable):
        return Code.SERVICE, f"无法连接医保结算服务：{exc}"
    if isinstance(exc, ReaderError):
        return _reader_failure(exc)
    if isinstance(exc, CardNotGenuine):
        return Code.CARD, "卡片内部认证失败：不是本系统发行的社会保障卡"
    if isinstance(exc, apdu.CardStatusError):
        return Code.CARD, f"卡片拒绝了指令 {exc.command}（状态字 {exc.sw:04X}）"
    if isinstance(exc, CardDataError | CardInfoError):
        return Code.CARD, f"卡片数据不符合规范：{exc}"
    if isinstance(exc, NotEntitled | PsamError):
        return Code.PSAM, f"PSAM卡错误：{exc}"
    return Code.INTERNAL, f"内部错误（{type(exc).__name__}）：{exc}"
