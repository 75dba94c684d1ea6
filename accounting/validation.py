"""Input checks shared by every rule: amounts, text, dates."""

from __future__ import annotations

from decimal import Decimal

from accounting.errors import InvalidInput
from accounting.money import MAX_AMOUNT


def check_amount(
    value: Decimal,
    field: str,
    *,
    allow_zero: bool = False,
    allow_negative: bool = False,
    places: int = 2,
    maximum: Decimal = MAX_AMOUNT,
) -> Decimal:
    """Finite, at most `places` decimals, within the column's range, sign as allowed."""
    if not isinstance(value, Decimal) or not value.is_finite():
        raise InvalidInput(f"{field} must be a finite number")
    if value != value.quantize(Decimal(1).scaleb(-places)):
        raise InvalidInput(f"{field} may have at most {places} decimal places, got {value}")
    if abs(value) > maximum:
        raise InvalidInput(f"{field} must not exceed {maximum}")
    if value == 0 and not allow_zero:
        raise InvalidInput(f"{field} must not be zero")
    if value < 0 and not allow_negative:
        raise InvalidInput(f"{field} must not be negative, got {value}")
    return value


def require_text(value: str, field: str, *, max_length: int = 200) -> str:
    value = (value or "").strip()
    if not value:
        raise InvalidInput(f"{field} must not be empty")
    if len(value) > max_length:
        raise InvalidInput(f"{field} must be at most {max_length} characters")
    return value


def optional_text(value: str | None, field: str, *, max_length: int = 100) -> str | None:
    if value is None:
        return None
    value = value.strip()
    return require_text(value, field, max_length=max_length) if value else None


MAX_EMAIL_LENGTH = 320


def check_email(value: str, field: str) -> str:
    """An e-mail address by RFC 5321/5322 syntax (email-validator), normalised; no DNS lookup."""
    from email_validator import EmailNotValidError, validate_email

    text = (value or "").strip()
    if not text:
        raise InvalidInput(f"{field} must not be empty")
    if len(text) > MAX_EMAIL_LENGTH:
        raise InvalidInput(f"{field} must be at most {MAX_EMAIL_LENGTH} characters")
    try:
        return validate_email(text, check_deliverability=False).normalized
    except EmailNotValidError as exc:
        raise InvalidInput(f"{field} {text[:80]!r} is not an e-mail address: {exc}") from exc


def check_emails(values: list[str], field: str, *, maximum: int = 20) -> list[str]:
    """A list of addresses, each checked, duplicates (ignoring case) dropped, in order."""
    if len(values) > maximum:
        raise InvalidInput(f"{field} may list at most {maximum} addresses")
    seen: dict[str, str] = {}
    for value in values:
        address = check_email(value, field)
        seen.setdefault(address.lower(), address)
    return list(seen.values())
