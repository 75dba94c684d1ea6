"""Enumerations shared by tables, rules and the API (names are the contract's)."""

from __future__ import annotations

import enum


class Role(enum.StrEnum):
    ADMIN = "ADMIN"
    ACCOUNTANT = "ACCOUNTANT"
    TECHNICIAN = "TECHNICIAN"
    CUSTOMER = "CUSTOMER"


class ApplicationUnits(enum.StrEnum):
    HOURS = "HOURS"
    AMOUNT = "AMOUNT"


class AgreementStatus(enum.StrEnum):
    ACTIVE = "ACTIVE"
    CANCELLED = "CANCELLED"
    EXPIRED = "EXPIRED"


class AccountType(enum.StrEnum):
    ASSET = "ASSET"
    LIABILITY = "LIABILITY"
    EQUITY = "EQUITY"
    REVENUE = "REVENUE"
    EXPENSE = "EXPENSE"


class BillableOption(enum.StrEnum):
    BILLABLE = "BILLABLE"
    NO_CHARGE = "NO_CHARGE"
    DO_NOT_BILL = "DO_NOT_BILL"


class Coverage(enum.StrEnum):
    """Why a time entry is, or is not, drawn from an agreement (SPEC §2)."""

    COVERED = "COVERED"
    OVERRUN = "OVERRUN"
    EXCLUDED_WORK_TYPE = "EXCLUDED_WORK_TYPE"
    EXCLUDED_WORK_ROLE = "EXCLUDED_WORK_ROLE"
    OUTSIDE_AGREEMENT_DATES = "OUTSIDE_AGREEMENT_DATES"
    AGREEMENT_NOT_ACTIVE = "AGREEMENT_NOT_ACTIVE"
    NO_BALANCE = "NO_BALANCE"
    NO_CHARGE = "NO_CHARGE"
    DO_NOT_BILL = "DO_NOT_BILL"
    NO_AGREEMENT = "NO_AGREEMENT"


class InvoiceKind(enum.StrEnum):
    PREPAID_PURCHASE = "PREPAID_PURCHASE"
    AGREEMENT_USAGE = "AGREEMENT_USAGE"
    STANDARD = "STANDARD"
    CREDIT_MEMO = "CREDIT_MEMO"


class MappingKind(enum.StrEnum):
    ACCOUNTS_RECEIVABLE = "ACCOUNTS_RECEIVABLE"
    AGREEMENT_TYPE = "AGREEMENT_TYPE"
    PRODUCT_CATEGORY = "PRODUCT_CATEGORY"
    SERVICE_REVENUE = "SERVICE_REVENUE"
    BREAKAGE = "BREAKAGE"


class BatchStatus(enum.StrEnum):
    PENDING = "PENDING"
    POSTED = "POSTED"
    FAILED = "FAILED"


class NotificationKind(enum.StrEnum):
    LOW_BALANCE = "LOW_BALANCE"
    DEPLETED = "DEPLETED"
    OVERRUN = "OVERRUN"
    EXPIRING = "EXPIRING"


class Cycle(enum.StrEnum):
    """How often a recurring allowance renews (SPEC §9)."""

    MONTHLY = "MONTHLY"
    QUARTERLY = "QUARTERLY"
    YEARLY = "YEARLY"


class RolloverPolicy(enum.StrEnum):
    NONE = "NONE"
    ALL = "ALL"
    CAPPED = "CAPPED"


class DeliveryChannel(enum.StrEnum):
    WEBHOOK = "WEBHOOK"
    EMAIL = "EMAIL"


class DeliveryStatus(enum.StrEnum):
    """PENDING until sent or given up; FAILED when its retries are used up (SPEC §10)."""

    PENDING = "PENDING"
    SENT = "SENT"
    FAILED = "FAILED"


class LotSource(enum.StrEnum):
    PURCHASE = "PURCHASE"
    ADJUSTMENT = "ADJUSTMENT"
    # A recurring allowance's cycle (SPEC §9): bought and billed like a purchase.
    ALLOWANCE = "ALLOWANCE"


class MovementKind(enum.StrEnum):
    """How units leave (or return to) a lot."""

    USAGE = "USAGE"
    REVERSAL = "REVERSAL"
    EXPIRY = "EXPIRY"
    WRITE_OFF = "WRITE_OFF"
    REFUND = "REFUND"


class JobStatus(enum.StrEnum):
    """PENDING in the outbox, SENT to the broker, RUNNING on a worker (named in the
    job), then DONE, or FAILED for good."""

    PENDING = "PENDING"
    SENT = "SENT"
    RUNNING = "RUNNING"
    DONE = "DONE"
    FAILED = "FAILED"


class StatementLineKind(enum.StrEnum):
    """What moved an agreement's balance, as its statement lists it (SPEC §8)."""

    PURCHASE = "PURCHASE"
    ALLOWANCE = "ALLOWANCE"
    ADJUSTMENT = "ADJUSTMENT"
    USAGE = "USAGE"
    REVERSAL = "REVERSAL"
    ROLLOVER = "ROLLOVER"
    EXPIRY = "EXPIRY"
    REFUND = "REFUND"
