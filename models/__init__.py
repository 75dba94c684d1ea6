"""Tables only: every aggregate of SPEC §1, plus the outbox, tokens and audit trail."""

from models.agreement import (
    Addition,
    Adjustment,
    Agreement,
    AgreementType,
    agreement_type_excluded_work_role,
    agreement_type_excluded_work_type,
)
from models.allowance import Allowance, AllowanceCycle
from models.auth import ApiToken, AuditEntry, IdempotencyKey
from models.base import Base, Fixed, Model, Money, utcnow
from models.company import Company, WorkRole, WorkType
from models.invoice import Invoice, InvoiceLine
from models.journal import Counter, GLAccount, GLMapping, JournalBatch, JournalEntry, JournalLine
from models.lot import Lot, LotMovement
from models.notify import Notification, NotificationDelivery, Webhook
from models.outbox import OutboxJob, ScheduledRun, WorkerHeartbeat
from models.period import PeriodClose
from models.time_entry import TimeEntry

__all__ = [
    "Addition",
    "Adjustment",
    "Agreement",
    "AgreementType",
    "Allowance",
    "AllowanceCycle",
    "ApiToken",
    "AuditEntry",
    "Base",
    "Company",
    "Counter",
    "Fixed",
    "GLAccount",
    "GLMapping",
    "IdempotencyKey",
    "Invoice",
    "InvoiceLine",
    "JournalBatch",
    "JournalEntry",
    "JournalLine",
    "Lot",
    "LotMovement",
    "Model",
    "Money",
    "Notification",
    "NotificationDelivery",
    "OutboxJob",
    "PeriodClose",
    "ScheduledRun",
    "TimeEntry",
    "Webhook",
    "WorkRole",
    "WorkType",
    "WorkerHeartbeat",
    "agreement_type_excluded_work_role",
    "agreement_type_excluded_work_type",
    "utcnow",
]
