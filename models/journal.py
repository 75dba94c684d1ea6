"""The chart of accounts, mapping rules and the append-only journal (SPEC §4)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from sqlalchemy import CheckConstraint, Date, Enum, ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from models.base import Model, Money, UTCDateTime
from models.enums import AccountType, BatchStatus, MappingKind


class GLAccount(Model):
    __tablename__ = "gl_account"

    code: Mapped[str] = mapped_column(String(32), unique=True)
    # Unique: the IIF export names accounts by name, so two alike would be ambiguous (issue 11).
    name: Mapped[str] = mapped_column(String(200), unique=True)
    type: Mapped[AccountType] = mapped_column(Enum(AccountType, native_enum=False, length=32))


class GLMapping(Model):
    __tablename__ = "gl_mapping"

    kind: Mapped[MappingKind] = mapped_column(Enum(MappingKind, native_enum=False, length=32))
    agreement_type_id: Mapped[int | None] = mapped_column(
        ForeignKey("agreement_type.id", ondelete="RESTRICT")
    )
    category: Mapped[str | None] = mapped_column(String(100))
    subcategory: Mapped[str | None] = mapped_column(String(100))
    # kind|type|category|subcategory: one mapping per scope (NULLs never collide in UNIQUE).
    scope_key: Mapped[str] = mapped_column(String(300), unique=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("gl_account.id", ondelete="RESTRICT"))


class Counter(Model):
    """Gap-free sequences (invoice numbers, batch identifiers), taken under a row lock."""

    __tablename__ = "counter"

    name: Mapped[str] = mapped_column(String(64), unique=True)
    value: Mapped[int] = mapped_column(default=0)


class JournalBatch(Model):
    __tablename__ = "journal_batch"

    identifier: Mapped[str] = mapped_column(String(32), unique=True)
    status: Mapped[BatchStatus] = mapped_column(Enum(BatchStatus, native_enum=False, length=32))
    through_date: Mapped[dt.date] = mapped_column(Date)
    posted_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    error: Mapped[str | None] = mapped_column(Text)
    total_debit: Mapped[Decimal] = mapped_column(Money(), default=Decimal("0.00"))
    total_credit: Mapped[Decimal] = mapped_column(Money(), default=Decimal("0.00"))


class JournalEntry(Model):
    __tablename__ = "journal_entry"
    __table_args__ = (
        # A source is posted at most once, however often a job runs.
        UniqueConstraint("source_type", "source_id", name="uq_journal_entry_source"),
        Index("ix_journal_entry_batch", "batch_id"),
    )

    batch_id: Mapped[int] = mapped_column(ForeignKey("journal_batch.id", ondelete="RESTRICT"))
    date: Mapped[dt.date] = mapped_column(Date)
    memo: Mapped[str] = mapped_column(Text)
    source_type: Mapped[str] = mapped_column(String(32))
    source_id: Mapped[int] = mapped_column()


class JournalLine(Model):
    __tablename__ = "journal_line"
    __table_args__ = (
        CheckConstraint(
            "(debit > 0 AND credit = 0) OR (credit > 0 AND debit = 0)",
            name="debit_xor_credit",
        ),
        Index("ix_journal_line_entry", "entry_id"),
        Index("ix_journal_line_account", "account_id"),
    )

    entry_id: Mapped[int] = mapped_column(ForeignKey("journal_entry.id", ondelete="RESTRICT"))
    account_id: Mapped[int] = mapped_column(ForeignKey("gl_account.id", ondelete="RESTRICT"))
    debit: Mapped[Decimal] = mapped_column(Money(), default=Decimal("0.00"))
    credit: Mapped[Decimal] = mapped_column(Money(), default=Decimal("0.00"))
