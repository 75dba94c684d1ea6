"""The contract's enums, exposed from models.enums under the same names."""

from __future__ import annotations

import enum

import strawberry

from models import enums

Role = strawberry.enum(enums.Role)
ApplicationUnits = strawberry.enum(enums.ApplicationUnits)
AgreementStatus = strawberry.enum(enums.AgreementStatus)
AccountType = strawberry.enum(enums.AccountType)
BillableOption = strawberry.enum(enums.BillableOption)
InvoiceKind = strawberry.enum(
    enums.InvoiceKind,
    description=(
        "PREPAID_PURCHASE bills a block; AGREEMENT_USAGE is the $0.00 invoice of covered time;\n"
        "STANDARD bills time the agreement does not cover (overrun, excluded work, no agreement);\n"
        "CREDIT_MEMO refunds unused prepaid value."
    ),
)
MappingKind = strawberry.enum(
    enums.MappingKind, description="Which GL mapping a posting line resolves through."
)
BatchStatus = strawberry.enum(enums.BatchStatus)
NotificationKind = strawberry.enum(enums.NotificationKind)
Coverage = strawberry.enum(
    enums.Coverage, description="Why a time entry was, or was not, drawn from an agreement (SPEC §2)."
)
DeliveryChannel = strawberry.enum(enums.DeliveryChannel)
DeliveryStatus = strawberry.enum(enums.DeliveryStatus)
Cycle = strawberry.enum(enums.Cycle, description="How often a recurring allowance renews.")
RolloverPolicy = strawberry.enum(
    enums.RolloverPolicy,
    description=(
        "What happens to a cycle's unused allowance when the next cycle starts: NONE expires all\n"
        "of it; ALL carries all of it over; CAPPED carries at most rolloverCap units and expires the rest."
    ),
)
LotSource = strawberry.enum(enums.LotSource, description="Where a lot's units came from.")
StatementLineKind = strawberry.enum(
    enums.StatementLineKind,
    description=(
        "One movement of an agreement's balance, as the customer's statement lists it.\n"
        "PURCHASE: a block bought; ALLOWANCE: a recurring cycle's units; ADJUSTMENT: complimentary (+)\n"
        "or written-off (-) units; USAGE: covered time drawn; REVERSAL: a reversed entry's units\n"
        "coming back; ROLLOVER: unused units carried into the next cycle (units 0: the balance does\n"
        "not change; carriedUnits says how many); EXPIRY: units that expired; REFUND: units refunded\n"
        "on cancellation."
    ),
)
JobStatus = strawberry.enum(
    enums.JobStatus,
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
