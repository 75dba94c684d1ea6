"""Today's date for the rules: the business date in UTC, one place to read it."""

from __future__ import annotations

import datetime as dt


def today() -> dt.date:
    return dt.datetime.now(dt.UTC).date()
