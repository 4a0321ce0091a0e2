"""The C entry points of ``libsscardreader.so`` (cffi embedding; terminal.readerlib.abi).

The library's embedded init code calls :func:`bind` with its ``ffi``; each
exported function then decodes its arguments, calls
:data:`terminal.readerlib.library.LIBRARY` and writes the answer into the
caller's buffers — never more than the buffer's documented (or declared)
size, always NUL-terminated (:func:`write`). A Python exception never crosses
into the caller: cffi returns ``Code.INTERNAL`` for one that escapes.
"""

from __future__ import annotations

from terminal.readerlib.abi import BUFFER_SIZES, Code, bounded, truncated
from terminal.readerlib.library import LIBRARY, Outcome
from terminal.readerlib.settings import buffer_sizes_hint, decode_argument

_BOUND: list[object] = []


def _sizes() -> dict[str, int]:
    settings = LIBRARY.settings
    return dict(settings.buffers) if settings is not None else dict(BUFFER_SIZES)


def _encoding() -> str:
    settings = LIBRARY.settings
    return settings.charset if settings is not None else "gbk"


def write(ffi, pointer, text: str, size: int, encoding: str) -> bool:
    """Write ``text`` + NUL into ``pointer`` if it fits ``size`` bytes (True); else as much of
    a "buffer too small" message as fits (False). A NULL pointer gets nothing."""
    if pointer == ffi.NULL:
        return False
    raw = bounded(text, size, encoding)
    if raw is None:
        message = (
            f"输出缓冲区太小：需要{len(text.encode(encoding, 'replace')) + 1}字节，只有{size}字节"
        )
        raw = truncated(message, size, encoding)
        ffi.memmove(pointer, raw, len(raw))
        return False
    ffi.memmove(pointer, raw, len(raw))
    return True


def _answer(ffi, outcome: Outcome, pointer, buffer: str) -> int:
    sizes, encoding = _sizes(), _encoding()
    if pointer == ffi.NULL:
        return int(Code.BAD_ARGUMENT)
    if not write(ffi, pointer, outcome.text, sizes[buffer], encoding):
        return int(Code.BUFFER_TOO_SMALL)
    return int(outcome.code)


def bind(ffi) -> None:
    """Attach the implementations to the library's exported functions (once)."""
    if _BOUND:
        return
    _BOUND.append(ffi)

    @ffi.def_extern(name="Init", error=int(Code.INTERNAL))
    def init(p_init_info, p_err_msg):
        if p_init_info == ffi.NULL:
            text = ""
        else:
            text = decode_argument(ffi.string(p_init_info))
        outcome = LIBRARY.init(text)
        if p_err_msg == ffi.NULL:
            return int(Code.BAD_ARGUMENT)
        size = _sizes()["pErrMsg"] if LIBRARY.settings else buffer_sizes_hint(text)["pErrMsg"]
        encoding = _encoding() if LIBRARY.settings else "gbk"
        if not write(ffi, p_err_msg, outcome.text, size, encoding):
            return int(Code.BUFFER_TOO_SMALL)
        return int(outcome.code)

    @ffi.def_extern(name="ReadCardBas", error=int(Code.INTERNAL))
    def read_card_bas(p_card_info, p_busi_card_info):
        if p_card_info == ffi.NULL or p_busi_card_info == ffi.NULL:
            return int(Code.BAD_ARGUMENT)
        outcome = LIBRARY.read_card_bas()
        sizes, encoding = _sizes(), _encoding()
        busi_ok = write(ffi, p_busi_card_info, outcome.busi, sizes["pBusiCardInfo"], encoding)
        info_ok = write(ffi, p_card_info, outcome.text, sizes["pCardInfo"], encoding)
        if not busi_ok and info_ok:  # say so where the HIS reads the reason
            write(ffi, p_card_info, "pBusiCardInfo缓冲区太小", sizes["pCardInfo"], encoding)
        if not (info_ok and busi_ok):
            return int(Code.BUFFER_TOO_SMALL)
        return int(outcome.code)

    @ffi.def_extern(name="VerifyPIN", error=int(Code.INTERNAL))
    def verify_pin(p_out_buff):
        if p_out_buff == ffi.NULL:
            return int(Code.BAD_ARGUMENT)
        return _answer(ffi, LIBRARY.verify_pin(), p_out_buff, "pOutBuff")

    @ffi.def_extern(name="ChangePIN", error=int(Code.INTERNAL))
    def change_pin(p_out_buff):
        if p_out_buff == ffi.NULL:
            return int(Code.BAD_ARGUMENT)
        return _answer(ffi, LIBRARY.change_pin(), p_out_buff, "pOutBuff")

    @ffi.def_extern(name="iReadCardBas", error=int(Code.INTERNAL))
    def i_read_card_bas(i_type, p_out_info):
        if p_out_info == ffi.NULL:
            return int(Code.BAD_ARGUMENT)
        return _answer(ffi, LIBRARY.read_card_bas(int(i_type)), p_out_info, "pOutInfo")

    @ffi.def_extern(name="iVerifyPIN", error=int(Code.INTERNAL))
    def i_verify_pin(i_type, p_out_info):
        if p_out_info == ffi.NULL:
            return int(Code.BAD_ARGUMENT)
        return _answer(ffi, LIBRARY.verify_pin(int(i_type)), p_out_info, "pOutInfo")

    @ffi.def_extern(name="iChangePIN", error=int(Code.INTERNAL))
    def i_change_pin(i_type, p_out_info):
        if p_out_info == ffi.NULL:
            return int(Code.BAD_ARGUMENT)
        return _answer(ffi, LIBRARY.change_pin(int(i_type)), p_out_info, "pOutInfo")
