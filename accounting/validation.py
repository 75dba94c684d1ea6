"""Input checks shared by every rule: amounts, text, e-mail addresses, URLs (issue 11).

One text rule for every string a client gives us (`clean_text`): a str of valid
Unicode (no lone surrogates), no NUL or other control character (newline and tab
only in free text: notes, reasons), trimmed, non-empty unless optional, and at
most `max_length` characters. A refusal is InvalidInput (BAD_USER_INPUT) naming
the field, raised before anything is written.

E-mail addresses are checked by email-validator (syntax only, no DNS: a billing
address is not refused because a resolver is down) and URLs by pydantic's HttpUrl
(the WHATWG URL parser of the Rust `url` crate, already installed with
pydantic-settings): both maintained, neither a regex of our own.
"""

from __future__ import annotations

import unicodedata
from decimal import Decimal

from email_validator import EmailNotValidError, validate_email
from pydantic import HttpUrl, TypeAdapter, ValidationError

from accounting.errors import InvalidInput
from accounting.money import MAX_AMOUNT

FREE_TEXT_CONTROLS = frozenset("\n\t")
NAME_LENGTH = 200
FREE_TEXT_LENGTH = 4000
URL_LENGTH = 2000
EMAIL_LENGTH = 254  # RFC 5321's limit on a forward path

_HTTP_URL: TypeAdapter[HttpUrl] = TypeAdapter(HttpUrl)


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


def clean_text(value: object, field: str, *, max_length: int = NAME_LENGTH, free_text: bool = False) -> str:
    """The one text rule: valid Unicode, no control characters, trimmed, 1..max_length characters."""
    if not isinstance(value, str):
        raise InvalidInput(f"{field} must be text")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise InvalidInput(f"{field} is not valid Unicode text (it holds a lone surrogate)") from exc
    allowed = FREE_TEXT_CONTROLS if free_text else frozenset()
    for position, char in enumerate(value):
        if unicodedata.category(char) == "Cc" and char not in allowed:
            where = " (newlines and tabs only in free text)" if char in FREE_TEXT_CONTROLS else ""
            raise InvalidInput(
                f"{field} must not contain control characters: U+{ord(char):04X} at {position}{where}"
            )
    value = value.strip()
    if not value:
        raise InvalidInput(f"{field} must not be empty")
    if len(value) > max_length:
        raise InvalidInput(f"{field} must be at most {max_length} characters")
    return value


def one_line(text: str) -> str:
    """Text as one line, as every export prints it: each run of whitespace, control or
    invisible (format) characters one space, trimmed."""
    cleaned = "".join(" " if unicodedata.category(ch)[0] in "CZ" else ch for ch in text)
    return " ".join(cleaned.split())


def require_text(value: str, field: str, *, max_length: int = NAME_LENGTH, free_text: bool = False) -> str:
    return clean_text(value, field, max_length=max_length, free_text=free_text)


def optional_text(
    value: str | None, field: str, *, max_length: int = 100, free_text: bool = False
) -> str | None:
    """None, or text under the one rule; blank (after trimming) counts as absent."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    return clean_text(value, field, max_length=max_length, free_text=free_text)


def check_email(value: str, field: str) -> str:
    """A deliverable-looking address (syntax only), normalised as email-validator does."""
    text = clean_text(value, field, max_length=EMAIL_LENGTH)  # "billing@acme.test\n" stops here
    try:
        return validate_email(text, check_deliverability=False).normalized
    except EmailNotValidError as exc:
        raise InvalidInput(f"{field} {text[:60]!r} is not an e-mail address: {exc}") from exc


def check_http_url(value: str, field: str) -> str:
    """An absolute http(s) URL with a host, as given (trimmed)."""
    text = clean_text(value, field, max_length=URL_LENGTH)
    try:
        _HTTP_URL.validate_python(text)
    except ValidationError as exc:
        reason = exc.errors()[0]["msg"] if exc.errors() else "invalid"
        raise InvalidInput(f"{field} {text[:60]!r} is not an http:// or https:// URL: {reason}") from exc
    return text


def check_emails(values: list[str], field: str, *, maximum: int = 20) -> list[str]:
    """A list of addresses, each checked, duplicates (ignoring case) dropped, in order."""
    if len(values) > maximum:
        raise InvalidInput(f"{field} may list at most {maximum} addresses")
    seen: dict[str, str] = {}
    for value in values:
        address = check_email(value, field)
        seen.setdefault(address.lower(), address)
    return list(seen.values())
