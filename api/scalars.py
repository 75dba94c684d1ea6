"""The Decimal scalar (exact strings on the wire) and opaque IDs.

Money and quantities travel as JSON strings with two decimals ("150.00"). Input
is refused, with a message a person understands, when it is not a plain decimal
number, has more than two decimal places, is NaN or infinite, or lies beyond
what the database column holds.
"""

from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal, InvalidOperation
from typing import Any

import strawberry
from graphql import FloatValueNode, IntValueNode, StringValueNode, ValueNode

from accounting.errors import InvalidInput, NotFound
from accounting.money import CENT, MAX_AMOUNT

# ASCII digits only: Python's \d and Decimal() also take "١٢" (issue 11).
_PLAIN_DECIMAL = re.compile(r"^[+-]?(\d+(\.\d*)?|\.\d+)$", re.ASCII)
_ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$", re.ASCII)
_MAX_ID = 2**63 - 1


def serialize_decimal(value: Any) -> str:
    """Two decimal places; a rate multiplier with more keeps them (1.125)."""
    if not isinstance(value, Decimal):
        value = Decimal(str(value))
    quantized = value.quantize(CENT)
    return str(quantized) if quantized == value else str(value.normalize())


def parse_decimal(value: Any) -> Decimal:
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise InvalidInput(f'a Decimal is a string such as "150.00", got {type(value).__name__}')
    text = str(value).strip()
    if not _PLAIN_DECIMAL.match(text):
        raise InvalidInput(f'{text[:40]!r} is not a decimal number (write it like "150.00")')
    try:
        number = Decimal(text)
    except InvalidOperation as exc:  # pragma: no cover - the pattern admits only valid numbers
        raise InvalidInput(f"{text[:40]!r} is not a decimal number") from exc
    if not number.is_finite():  # pragma: no cover - NaN and Infinity fail the pattern
        raise InvalidInput("a Decimal must be a finite number")
    if abs(number) > MAX_AMOUNT:
        raise InvalidInput(f"{text[:40]} is out of range: at most {MAX_AMOUNT} in absolute value")
    if number != number.quantize(CENT):
        raise InvalidInput(f"{text} has more than 2 decimal places")
    return number.quantize(CENT)


def parse_decimal_literal(node: ValueNode, _variables: dict[str, Any] | None = None) -> Decimal:
    if isinstance(node, StringValueNode | IntValueNode | FloatValueNode):
        return parse_decimal(node.value)
    raise InvalidInput('a Decimal is a string such as "150.00"')


DecimalScalar = strawberry.scalar(
    name="Decimal",
    description='An exact decimal number as a string, two decimal places: "150.00".',
    serialize=serialize_decimal,
    parse_value=parse_decimal,
    parse_literal=parse_decimal_literal,
)


def parse_date(value: Any) -> dt.date:
    """ISO 8601 calendar dates as YYYY-MM-DD only: fromisoformat alone also takes "20260101"."""
    if not isinstance(value, str) or not _ISO_DATE.match(value):
        shown = value[:40] if isinstance(value, str) else type(value).__name__
        raise InvalidInput(f'a Date is written YYYY-MM-DD, such as "2026-11-30"; got {shown!r}')
    try:
        return dt.date.fromisoformat(value)
    except ValueError as exc:
        raise InvalidInput(f"{value!r} is not a calendar date: {exc}") from exc


def parse_date_literal(node: ValueNode, _variables: dict[str, Any] | None = None) -> dt.date:
    if isinstance(node, StringValueNode):
        return parse_date(node.value)
    raise InvalidInput('a Date is a string such as "2026-11-30"')


DateScalar = strawberry.scalar(
    name="Date",
    description="Date (isoformat)",
    serialize=dt.date.isoformat,
    parse_value=parse_date,
    parse_literal=parse_date_literal,
)

SCALAR_MAP = {Decimal: DecimalScalar, dt.date: DateScalar}


# --- IDs ---------------------------------------------------------------------------------


def to_id(value: int) -> strawberry.ID:
    return strawberry.ID(str(value))


def _as_int(value: str | None) -> int | None:
    if value is None or not value.isascii() or not value.isdigit() or len(value) > 19:
        return None
    number = int(value)
    return number if 0 < number <= _MAX_ID else None


def input_id(value: str, field: str) -> int:
    """An ID given as input: NOT_FOUND, naming the field, when it cannot be one of ours (issue 11)."""
    number = _as_int(value)
    if number is None:
        raise NotFound(field, repr(value[:40]))
    return number


def optional_input_id(value: str | None, field: str) -> int | None:
    return None if value is None else input_id(value, field)


def lookup_id(value: str, kind: str) -> int:
    """An ID looked up directly: NOT_FOUND when it cannot be one of ours."""
    number = _as_int(value)
    if number is None:
        raise NotFound(kind, value[:40])
    return number
