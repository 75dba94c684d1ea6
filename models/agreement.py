"""Agreement types, agreements, their purchases (additions) and adjustments."""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    Column,
    Date,
    Enum,
    ForeignKey,
    Index,
    Integer,
    String,
    Table,
    Text,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import Mapped, mapped_column, relationship
from sqlalchemy.types import TypeDecorator

from models.base import Base, IdType, Model, Money
from models.company import Company, WorkRole, WorkType
from models.enums import AgreementStatus, ApplicationUnits


class TextList(TypeDecorator[list[str]]):
    """A short list of strings as JSON text: the same on SQLite and PostgreSQL."""

    impl = Text
    cache_ok = True

    def process_bind_param(self, value: list[str] | None, dialect: Dialect) -> str:
        return json.dumps(list(value or []))

    def process_result_value(self, value: Any, dialect: Dialect) -> list[str]:
        return [str(item) for item in json.loads(value)] if value else []


def _enum(cls: type) -> Enum:
    return Enum(cls, native_enum=False, length=32, validate_strings=True)


agreement_type_excluded_work_type = Table(
    "agreement_type_excluded_work_type",
    Base.metadata,
    Column(
        "agreement_type_id", IdType, ForeignKey("agreement_type.id", ondelete="CASCADE"), primary_key=True
    ),
    Column("work_type_id", IdType, ForeignKey("work_type.id", ondelete="RESTRICT"), primary_key=True),
)

agreement_type_excluded_work_role = Table(
    "agreement_type_excluded_work_role",
    Base.metadata,
    Column(
        "agreement_type_id", IdType, ForeignKey("agreement_type.id", ondelete="CASCADE"), primary_key=True
    ),
    Column("work_role_id", IdType, ForeignKey("work_role.id", ondelete="RESTRICT"), primary_key=True),
)


class AgreementType(Model):
    __tablename__ = "agreement_type"
    __table_args__ = (
        CheckConstraint("expire_after_months IS NULL OR expire_after_months > 0", name="expiry_positive"),
        CheckConstraint(
            "low_balance_threshold IS NULL OR low_balance_threshold >= 0", name="threshold_not_negative"
        ),
        CheckConstraint(
            "low_balance_percent IS NULL OR (low_balance_percent >= 0 AND low_balance_percent <= 10000)",
            name="percent_range",
        ),
        CheckConstraint(
            "expiry_warning_days IS NULL OR expiry_warning_days >= 0", name="warning_days_not_negative"
        ),
    )

    name: Mapped[str] = mapped_column(String(100), unique=True)
    application_units: Mapped[ApplicationUnits] = mapped_column(_enum(ApplicationUnits))
    prepaid: Mapped[bool] = mapped_column(Boolean)
    reverse_revenue_when_applied: Mapped[bool] = mapped_column(Boolean)
    allow_overruns: Mapped[bool] = mapped_column(Boolean, default=False)
    expire_after_months: Mapped[int | None] = mapped_column(Integer)
    low_balance_threshold: Mapped[Decimal | None] = mapped_column(Money())
    low_balance_percent: Mapped[Decimal | None] = mapped_column(Money())
    # EXPIRING is raised this many days before a lot with units left expires (SPEC §9).
    expiry_warning_days: Mapped[int | None] = mapped_column(Integer)

    excluded_work_types: Mapped[list[WorkType]] = relationship(
        secondary=agreement_type_excluded_work_type, lazy="raise", order_by=WorkType.id
    )
    excluded_work_roles: Mapped[list[WorkRole]] = relationship(
        secondary=agreement_type_excluded_work_role, lazy="raise", order_by=WorkRole.id
    )


class Agreement(Model):
    __tablename__ = "agreement"
    __table_args__ = (
        CheckConstraint("end_date IS NULL OR end_date >= start_date", name="dates_ordered"),
        CheckConstraint(
            "low_balance_threshold IS NULL OR low_balance_threshold >= 0", name="threshold_not_negative"
        ),
        Index("ix_agreement_company_status", "company_id", "status"),
    )

    company_id: Mapped[int] = mapped_column(ForeignKey("company.id", ondelete="RESTRICT"))
    agreement_type_id: Mapped[int] = mapped_column(
        ForeignKey("agreement_type.id", ondelete="RESTRICT"), index=True
    )
    name: Mapped[str] = mapped_column(String(200))
    status: Mapped[AgreementStatus] = mapped_column(_enum(AgreementStatus), default=AgreementStatus.ACTIVE)
    start_date: Mapped[dt.date] = mapped_column(Date)
    end_date: Mapped[dt.date | None] = mapped_column(Date)
    # None: the agreement type decides.
    allow_overruns: Mapped[bool | None] = mapped_column(Boolean)
    low_balance_threshold: Mapped[Decimal | None] = mapped_column(Money())
    # Low-balance alerts fire once per epoch; a purchase that lifts the balance
    # above the threshold starts a new epoch (SPEC §5).
    alert_epoch: Mapped[int] = mapped_column(Integer, default=0)
    cancelled_on: Mapped[dt.date | None] = mapped_column(Date)
    # Contacts e-mailed with the agreement's notifications besides the billing e-mail (SPEC §10).
    notify_emails: Mapped[list[str]] = mapped_column(TextList, default=list, server_default="[]")

    company: Mapped[Company] = relationship(lazy="raise")
    agreement_type: Mapped[AgreementType] = relationship(lazy="raise")


class Addition(Model):
    """A prepaid block bought on an agreement; billed on a PREPAID_PURCHASE invoice."""

    __tablename__ = "addition"
    __table_args__ = (
        CheckConstraint("units > 0", name="units_positive"),
        CheckConstraint("unit_price >= 0", name="price_not_negative"),
    )

    agreement_id: Mapped[int] = mapped_column(ForeignKey("agreement.id", ondelete="RESTRICT"), index=True)
    product: Mapped[str] = mapped_column(String(200))
    category: Mapped[str | None] = mapped_column(String(100))
    subcategory: Mapped[str | None] = mapped_column(String(100))
    units: Mapped[Decimal] = mapped_column(Money())
    unit_price: Mapped[Decimal] = mapped_column(Money())
    amount: Mapped[Decimal] = mapped_column(Money())
    effective_date: Mapped[dt.date] = mapped_column(Date)
    expires_on: Mapped[dt.date | None] = mapped_column(Date)
    invoice_id: Mapped[int | None] = mapped_column(ForeignKey("invoice.id", ondelete="RESTRICT"), unique=True)


class Adjustment(Model):
    """A manual change of units: positive = complimentary lot, negative = written off FIFO."""

    __tablename__ = "adjustment"
    __table_args__ = (CheckConstraint("units <> 0", name="units_not_zero"),)

    agreement_id: Mapped[int] = mapped_column(ForeignKey("agreement.id", ondelete="RESTRICT"), index=True)
    units: Mapped[Decimal] = mapped_column(Money())
    reason: Mapped[str] = mapped_column(Text)
    date: Mapped[dt.date] = mapped_column(Date)
    # Paid value written off to breakage (negative adjustments); posted in a batch.
    value: Mapped[Decimal] = mapped_column(Money(), default=Decimal("0.00"))
    batch_id: Mapped[int | None] = mapped_column(
        ForeignKey("journal_batch.id", ondelete="RESTRICT"), index=True
    )
