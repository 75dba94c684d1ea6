"""Closed accounting periods (SPEC §8): nothing dated on or before a close is posted any more."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import BigInteger, Date
from sqlalchemy.orm import Mapped, mapped_column

from models.base import Model


class PeriodClose(Model):
    """One row per close; the books are closed through the latest `through`."""

    __tablename__ = "period_close"

    through: Mapped[dt.date] = mapped_column(Date, unique=True)
    # The last journal entry when the period was closed: every later one is dated after `through`.
    last_entry_id: Mapped[int | None] = mapped_column(BigInteger)
