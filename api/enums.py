"""The contract's enums: models.enums' own classes, registered with strawberry under the same names.

strawberry.enum(cls) marks the class itself and returns it, so `api.enums.Role` is
`models.enums.Role`: resolvers return the rules' values as they are, and the names
below are real classes to annotate with (a variable assigned from a call is not).
"""

from __future__ import annotations

import enum

import strawberry

from models.enums import (
    AccountType,
    AgreementStatus,
    ApplicationUnits,
    BatchStatus,
    BillableOption,
    Coverage,
    Cycle,
    DeliveryChannel,
    DeliveryStatus,
    InvoiceKind,
    JobStatus,
    LotSource,
    MappingKind,
    NotificationKind,
    Role,
    RolloverPolicy,
    StatementLineKind,
)

__all__ = [
    "AccountType",
    "AgreementStatus",
    "ApplicationUnits",
    "BatchStatus",
    "BillableOption",
    "Coverage",
    "Cycle",
    "DeliveryChannel",
    "DeliveryStatus",
    "ExportFormat",
    "InvoiceKind",
    "JobStatus",
    "LotSource",
    "MappingKind",
    "NotificationKind",
    "Role",
    "RolloverPolicy",
    "StatementLineKind",
]

strawberry.enum(Role)
strawberry.enum(ApplicationUnits)
strawberry.enum(AgreementStatus)
strawberry.enum(AccountType)
strawberry.enum(BillableOption)
strawberry.enum(
    InvoiceKind,
    description=(
        "PREPAID_PURCHASE bills a block; AGREEMENT_USAGE is the $0.00 invoice of covered time;\n"
        "STANDARD bills time the agreement does not cover (overrun, excluded work, no agreement);\n"
        "CREDIT_MEMO refunds unused prepaid value."
    ),
)
strawberry.enum(MappingKind, description="Which GL mapping a posting line resolves through.")
strawberry.enum(BatchStatus)
strawberry.enum(NotificationKind)
strawberry.enum(Coverage, description="Why a time entry was, or was not, drawn from an agreement (SPEC §2).")
strawberry.enum(DeliveryChannel)
strawberry.enum(DeliveryStatus)
strawberry.enum(Cycle, description="How often a recurring allowance renews.")
strawberry.enum(
    RolloverPolicy,
    description=(
        "What happens to a cycle's unused allowance when the next cycle starts: NONE expires all\n"
        "of it; ALL carries all of it over; CAPPED carries at most rolloverCap units and expires the rest."
    ),
)
strawberry.enum(LotSource, description="Where a lot's units came from.")
strawberry.enum(
    StatementLineKind,
    description=(
        "One movement of an agreement's balance, as the customer's statement lists it.\n"
        "PURCHASE: a block bought; ALLOWANCE: a recurring cycle's units; ADJUSTMENT: complimentary (+)\n"
        "or written-off (-) units; USAGE: covered time drawn; REVERSAL: a reversed entry's units\n"
        "coming back; ROLLOVER: unused units carried into the next cycle (units 0: the balance does\n"
        "not change; carriedUnits says how many); EXPIRY: units that expired; REFUND: units refunded\n"
        "on cancellation."
    ),
)
strawberry.enum(
    JobStatus,
    description=(
        "An outbox job: PENDING until relayed, SENT to the broker, RUNNING on a worker, then DONE or FAILED."
    ),
)


@strawberry.enum(
    description=(
        "CSV (a row per line), JSON, IIF (QuickBooks Desktop general journal), XERO_CSV (Xero\n"
        "manual journals), QBO_CSV: QuickBooks Online's journal-entry import; BEANCOUNT: a\n"
        "plain-text ledger that beancount (bean-check) accepts, one transaction per journal entry."
    )
)
class ExportFormat(enum.StrEnum):
    CSV = "CSV"
    JSON = "JSON"
    IIF = "IIF"
    XERO_CSV = "XERO_CSV"
    QBO_CSV = "QBO_CSV"
    BEANCOUNT = "BEANCOUNT"
