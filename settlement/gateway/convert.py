"""The boundary conversions of the gateway (nhsa.md §Numbers, times, codes): the one place
where the platform's yuan, local times, ``"1"``/``"0"`` flags and code values meet the
service's integer fen, aware UTC times and booleans.

Requests carry money as JSON numbers or numeric strings (openhis sends strings); answers
carry JSON numbers in yuan with 2 decimals. Optional fields arrive as ``""``: every reader
here takes ``""`` and ``None`` as absent. A bad value raises :class:`GatewayError` naming
the field in Chinese and in the platform's spelling, which the envelope answers as
``infcode -1``.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from zoneinfo import ZoneInfo

#: Insurance types the service settles (employee, resident); the national codes it knows
#: but does not settle are refused by name.
SUPPORTED_INSUTYPES = ("310", "390")
KNOWN_INSUTYPES = {
    "310": "职工基本医疗保险",
    "320": "公务员医疗补助",
    "330": "大额医疗费用补助",
    "340": "离休人员医疗保障",
    "390": "城乡居民基本医疗保险",
    "392": "城乡居民大病医疗保险",
    "510": "生育保险",
}
TIME_FORMAT = "%Y-%m-%d %H:%M:%S"
_FEN = Decimal("0.01")


class GatewayError(Exception):
    """A refusal answered as ``infcode -1`` with ``err_msg`` (Chinese, one a clerk can act on)."""

    def __init__(self, err_msg: str, code: str = "gateway_refused") -> None:
        super().__init__(err_msg)
        self.err_msg = err_msg
        self.code = code


def is_blank(value: object) -> bool:
    return value is None or (isinstance(value, str) and value.strip() == "")


def node(container: dict, name: str, *, required: bool = True) -> dict:
    """The input node ``name`` (an object; a one-element list is taken as its object)."""
    value = container.get(name)
    if isinstance(value, list) and len(value) == 1:
        value = value[0]
    if isinstance(value, dict):
        return value
    if value is None and not required:
        return {}
    raise GatewayError(f"输入节点 {name} 缺失或不是对象", "field_invalid")


def text(data: dict, field: str, *, required: bool = False, max_len: int = 200) -> str:
    """A string field (numbers accepted as their text); ``""`` when absent and optional."""
    value = data.get(field)
    if value.__class__ is str:  # the usual case, checked without the general path
        result = value.strip()
        if not result:
            if required:
                raise GatewayError(f"{field} 不能为空", "field_missing")
            return ""
    elif value is None:
        if required:
            raise GatewayError(f"{field} 不能为空", "field_missing")
        return ""
    elif isinstance(value, bool) or not isinstance(value, (str, int, float)):
        raise GatewayError(f"{field} 应为字符串，收到 {type(value).__name__}", "field_invalid")
    else:
        result = str(value).strip()
    if len(result) > max_len:
        raise GatewayError(f"{field} 超长（最多 {max_len} 个字符）", "field_invalid")
    return result


#: The quantum of each number of decimals, and the largest magnitude a number may have.
_QUANTA = {places: Decimal(1).scaleb(-places) for places in range(9)}
_LIMIT = Decimal(10) ** 12


def decimal(data: dict, field: str, *, required: bool = True, places: int = 2) -> Decimal | None:
    """A number given as a JSON number or a numeric string, with at most ``places`` decimals."""
    value = data.get(field)
    if is_blank(value):
        if required:
            raise GatewayError(f"{field} 不能为空", "field_missing")
        return None
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        raise GatewayError(f"{field} 应为数字，收到 {value!r}", "field_invalid")
    try:
        number = Decimal(value.strip() if value.__class__ is str else str(value))
    except InvalidOperation:
        raise GatewayError(f"{field} 应为数字，收到 {value!r}", "field_invalid") from None
    if not number.is_finite():
        raise GatewayError(f"{field} 应为数字，收到 {value!r}", "field_invalid")
    if abs(number) >= _LIMIT:  # before quantize, which cannot hold 1e30 to 6 places
        raise GatewayError(f"{field} 超出范围：{value!r}", "field_invalid")
    quantum = _QUANTA.get(places) or Decimal(1).scaleb(-places)
    if number != number.quantize(quantum, rounding=ROUND_HALF_UP):
        raise GatewayError(f"{field} 最多 {places} 位小数，收到 {value!r}", "field_invalid")
    return number


def fen(data: dict, field: str, *, required: bool = True) -> int | None:
    """Yuan in (number or numeric string, 2 decimals) → integer fen."""
    number = decimal(data, field, required=required, places=2)
    return None if number is None else int(number * 100)


def yuan(amount_fen: int) -> float:
    """Integer fen → yuan as a JSON number with 2 decimals (exact for any fen amount < 2**53)."""
    return float(Decimal(amount_fen) / 100)


def fen_of(amount: Decimal) -> int:
    """A yuan amount rounded half-up to the fen (``det_item_fee_sumamt`` = cnt × pric)."""
    return int((amount * 100).quantize(Decimal(1), rounding=ROUND_HALF_UP))


def local_time(data: dict, field: str, tz: ZoneInfo, *, required: bool = True) -> datetime | None:
    """``yyyy-MM-dd HH:mm:ss`` in the business time zone → aware datetime."""
    value = text(data, field, required=required, max_len=32)
    if not value:
        return None
    try:
        parsed = datetime.strptime(value, TIME_FORMAT)
    except ValueError:
        raise GatewayError(
            f"{field} 时间格式应为 yyyy-MM-dd HH:mm:ss，收到 {value!r}", "field_invalid"
        ) from None
    return parsed.replace(tzinfo=tz)


def local_date(data: dict, field: str, *, required: bool = True) -> date | None:
    """``yyyy-MM-dd`` (a full time is accepted and its date taken)."""
    value = text(data, field, required=required, max_len=32)
    if not value:
        return None
    try:
        return date.fromisoformat(value[:10])
    except ValueError:
        raise GatewayError(
            f"{field} 日期格式应为 yyyy-MM-dd，收到 {value!r}", "field_invalid"
        ) from None


def show_time(moment: datetime, tz: ZoneInfo) -> str:
    return moment.astimezone(tz).strftime(TIME_FORMAT)


def show_date(day: date | None) -> str:
    return day.isoformat() if day else ""


def flag(data: dict, field: str, default: bool = False) -> bool:
    """A ``"1"``/``"0"`` flag (``1``/``0`` numbers too); absent: ``default``."""
    value = data.get(field)
    if is_blank(value):
        return default
    if str(value).strip() in ("1", "0"):
        return str(value).strip() == "1"
    raise GatewayError(f'{field} 应为 "1" 或 "0"，收到 {value!r}', "field_invalid")


def show_flag(value: bool) -> str:
    return "1" if value else "0"


def insutype(data: dict, field: str = "insutype", *, required: bool = True) -> str:
    """A supported national insurance type, or a refusal naming it."""
    value = text(data, field, required=required, max_len=6)
    if not value:
        return ""
    if value in SUPPORTED_INSUTYPES:
        return value
    name = KNOWN_INSUTYPES.get(value)
    if name:
        raise GatewayError(
            f"险种类型 {field}={value}（{name}）本平台不支持结算，请使用 310 或 390",
            "insutype_unsupported",
        )
    raise GatewayError(f"险种类型 {field}={value!r} 不是国家险种代码", "field_invalid")
