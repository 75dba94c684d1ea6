"""Customers and the rate tables time is valued with."""

from __future__ import annotations

from decimal import Decimal

from sqlalchemy import CheckConstraint, String
from sqlalchemy.orm import Mapped, mapped_column

from models.base import Fixed, Model, Money


class Company(Model):
    __tablename__ = "company"

    identifier: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    billing_email: Mapped[str | None] = mapped_column(String(320))


class WorkRole(Model):
    __tablename__ = "work_role"
    __table_args__ = (CheckConstraint("hourly_rate >= 0", name="rate_not_negative"),)

    name: Mapped[str] = mapped_column(String(100), unique=True)
    hourly_rate: Mapped[Decimal] = mapped_column(Money())


class WorkType(Model):
    __tablename__ = "work_type"
    __table_args__ = (CheckConstraint("rate_multiplier >= 0", name="multiplier_not_negative"),)

    name: Mapped[str] = mapped_column(String(100), unique=True)
    # Four places so that multipliers such as 1.125 are exact.
    rate_multiplier: Mapped[Decimal] = mapped_column(Fixed(4))
