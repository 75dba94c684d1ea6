"""All rounding in Blocktime happens here (SPEC §2: two decimals, half-up)."""

from __future__ import annotations

from decimal import ROUND_FLOOR, ROUND_HALF_UP, Decimal

CENT = Decimal("0.01")
ZERO = Decimal("0.00")
HUNDRED = Decimal(100)
# The BIGINT hundredths column holds up to 2**63 - 1; we refuse far earlier so that
# any product of two stored values still fits.
MAX_AMOUNT = Decimal("999999999999.99")


def round_money(value: Decimal) -> Decimal:
    """Round to hundredths, half-up: the one rounding rule for money, hours and units."""
    return value.quantize(CENT, rounding=ROUND_HALF_UP)


def list_value(hours: Decimal, hourly_rate: Decimal, rate_multiplier: Decimal) -> Decimal:
    """The list value of time: round(hours x role rate x type multiplier)."""
    return round_money(hours * hourly_rate * rate_multiplier)


def paid_value(units: Decimal, unit_price: Decimal) -> Decimal:
    """A lot's deferred value: round(units x unit price)."""
    return round_money(units * unit_price)


def release(remaining_before: Decimal, remaining_after: Decimal, unit_price: Decimal) -> Decimal:
    """Deferred value released by taking a lot from one remaining quantity to another.

    The difference of the rounded values, so that a lot's releases add up to exactly
    what was paid for it, however odd the price.
    """
    return paid_value(remaining_before, unit_price) - paid_value(remaining_after, unit_price)


def whole_days(days: Decimal) -> int:
    """A non-negative number of days rounded down: the last whole day it covers (SPEC §11)."""
    return int(days.to_integral_value(rounding=ROUND_FLOOR))


def from_hundredths(value: int) -> Decimal:
    """A sum of stored integer hundredths (summed by the database) as an exact Decimal."""
    return (Decimal(int(value)) / 100).quantize(CENT)


def percent(part: Decimal, whole: Decimal) -> Decimal | None:
    if whole == 0:
        return None
    return round_money(part / whole * HUNDRED)
