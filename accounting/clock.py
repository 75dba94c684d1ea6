"""The one clock (SPEC §8): what time it is and which business day "today" is.

"Today" is the date in the installation's time zone (BLOCKTIME_TIMEZONE, an IANA
name, default UTC). Nothing else in api/, workers/ or accounting/ reads the time:
every rule that needs today calls `today()`, the scheduler calls `now()`.
"""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from models.settings import get_settings


def parse_zone(name: str) -> ZoneInfo:
    """An IANA time zone name (Europe/Berlin), or ValueError naming the setting."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError(f"BLOCKTIME_TIMEZONE must be an IANA time zone name, not {name!r}") from exc


def business_zone() -> ZoneInfo:
    """The installation's time zone, from its settings."""
    return parse_zone(get_settings().timezone)


def now(zone: ZoneInfo | None = None) -> dt.datetime:
    """The current instant, as an aware datetime in the business time zone (or `zone`)."""
    return dt.datetime.now(dt.UTC).astimezone(zone or business_zone())


def today(zone: ZoneInfo | None = None) -> dt.date:
    """The business date: today in the installation's time zone."""
    return now(zone).date()


def business_day(instant: dt.datetime, zone: ZoneInfo | None = None) -> dt.date:
    """The business date of an aware instant."""
    return instant.astimezone(zone or business_zone()).date()
