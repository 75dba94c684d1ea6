"""Agreement types, agreements, their balance, blocks (additions), adjustments and lots."""

import datetime as dt
from decimal import Decimal
from typing import TYPE_CHECKING, Annotated

import strawberry

import models
from accounting import access
from accounting import agreements as rules
from accounting.forecast import forecast as forecast_usage
from accounting.lots import lot_deferred_value
from api.agreements.forecast import Forecast
from api.allowances.types import Allowance
from api.catalog.types import Company, WorkRole, WorkType
from api.context import Info
from api.enums import AgreementStatus, ApplicationUnits, LotSource
from api.fields import resolver
from api.read import agreements as read
from api.scalars import to_id

if TYPE_CHECKING:
    from api.billing.types import Invoice
    from api.statements.types import AgreementStatement
    from api.time_entries.types import TimeEntry


@strawberry.type(
    description="A template for agreements: units, prepaid, revenue treatment, thresholds, exclusions."
)
class AgreementType:
    row: strawberry.Private[models.AgreementType]
    id: strawberry.ID
    name: str
    application_units: ApplicationUnits
    prepaid: bool
    reverse_revenue_when_applied: bool
    allow_overruns: bool
    expire_after_months: int | None
    low_balance_threshold: Decimal | None
    low_balance_percent: Decimal | None
    expiry_warning_days: int | None = strawberry.field(
        description="EXPIRING is raised this many days before a lot with units left expires; null = never."
    )

    @classmethod
    def from_model(cls, row: models.AgreementType) -> "AgreementType":
        return cls(
            row=row,
            id=to_id(row.id),
            name=row.name,
            application_units=row.application_units,
            prepaid=row.prepaid,
            reverse_revenue_when_applied=row.reverse_revenue_when_applied,
            allow_overruns=row.allow_overruns,
            expire_after_months=row.expire_after_months,
            low_balance_threshold=row.low_balance_threshold,
            low_balance_percent=row.low_balance_percent,
            expiry_warning_days=row.expiry_warning_days,
        )

    @strawberry.field
    def excluded_work_types(self, info: Info) -> list[WorkType]:
        return [WorkType.from_model(r) for r in info.context.loaders.excluded_work_types.load(self.row.id)]

    @strawberry.field
    def excluded_work_roles(self, info: Info) -> list[WorkRole]:
        return [WorkRole.from_model(r) for r in info.context.loaders.excluded_work_roles.load(self.row.id)]


@strawberry.type(
    description=(
        "An agreement's balance on one date (`asOf`, by default today in the installation's\n"
        "time zone). Only lots in effect on that date count: effectiveDate <= asOf < expiresOn."
    )
)
class AgreementBalance:
    units_purchased: Decimal
    units_applied: Decimal
    units_expired: Decimal
    units_remaining: Decimal
    deferred_revenue: Decimal = strawberry.field(
        description=(
            "Money the customer prepaid for unitsRemaining, at the prices of the blocks they come from."
        )
    )
    percent_remaining: Decimal | None
    is_low: bool
    as_of: dt.date
    units_scheduled: Decimal = strawberry.field(
        description="Units bought whose effectiveDate is after asOf: not usable yet, not in unitsRemaining."
    )
    next_expires_on: dt.date | None = strawberry.field(
        description=(
            "The earliest expiresOn after asOf of a lot with units left, and how many units expire then."
        )
    )
    units_expiring_next: Decimal

    @classmethod
    def from_balance(cls, balance: rules.Balance) -> "AgreementBalance":
        if balance.as_of is None:
            raise ValueError("a balance read through the API is always on a date")
        return cls(
            units_purchased=balance.units_purchased,
            units_applied=balance.units_applied,
            units_expired=balance.units_expired,
            units_remaining=balance.units_remaining,
            deferred_revenue=balance.deferred_revenue,
            percent_remaining=balance.percent_remaining,
            is_low=balance.is_low,
            as_of=balance.as_of,
            units_scheduled=balance.units_scheduled,
            next_expires_on=balance.next_expires_on,
            units_expiring_next=balance.units_expiring_next,
        )


@strawberry.type(description="A company's contract of an agreement type.")
class Agreement:
    row: strawberry.Private[models.Agreement]
    id: strawberry.ID
    name: str
    status: AgreementStatus
    start_date: dt.date
    end_date: dt.date | None

    @classmethod
    def from_model(cls, row: models.Agreement) -> "Agreement":
        return cls(
            row=row,
            id=to_id(row.id),
            name=row.name,
            status=row.status,
            start_date=row.start_date,
            end_date=row.end_date,
        )

    def _type(self, info: Info) -> models.AgreementType:
        return info.context.loaders.agreement_type.one(self.row.agreement_type_id)

    @strawberry.field
    def company(self, info: Info) -> Company:
        return Company.from_model(info.context.loaders.company.one(self.row.company_id))

    @strawberry.field
    def type(self, info: Info) -> AgreementType:
        return AgreementType.from_model(self._type(info))

    @strawberry.field
    def application_units(self, info: Info) -> ApplicationUnits:
        return self._type(info).application_units

    @resolver(description="The agreement's own setting, else its type's.")
    def allow_overruns(self, info: Info) -> bool:
        return rules.overruns_allowed(self.row, self._type(info))

    @resolver(description="The agreement's own threshold (units), else its type's.")
    def low_balance_threshold(self, info: Info) -> Decimal | None:
        return rules.low_balance_threshold(self.row, self._type(info))

    @resolver(
        description=(
            "Contacts e-mailed with the agreement's notifications, besides the company's billingEmail. "
            "Staff only."
        )
    )
    def notify_emails(self) -> list[str]:
        # Staff only: accounting.access.FIELDS["Agreement.notifyEmails"], checked before execution.
        return list(self.row.notify_emails)

    @strawberry.field
    def balance(self, info: Info, as_of: dt.date | None = None) -> AgreementBalance:
        loader = info.context.loaders.balance if as_of is None else info.context.loaders.balance_on(as_of)
        return AgreementBalance.from_balance(loader.load(self.row.id))

    @strawberry.field
    def statement(
        self,
        info: Info,
        from_: Annotated[dt.date, strawberry.argument(name="from")],
        to: dt.date,
    ) -> Annotated["AgreementStatement", strawberry.lazy("api.statements.types")]:
        from api.statements.types import AgreementStatement

        found = read.agreement_statement(
            info.context.session, info.context.viewer, self.row, start=from_, end=to
        )
        return AgreementStatement.from_statement(info, found)

    @strawberry.field
    def forecast(self, info: Info, days: int | None = 30) -> Forecast:
        days = 30 if days is None else days
        return Forecast.from_forecast(forecast_usage(info.context.session, agreement=self.row, days=days))

    @strawberry.field
    def additions(self, info: Info) -> list["Addition"]:
        return [Addition.from_model(r) for r in info.context.loaders.additions_of_agreement.load(self.row.id)]

    @strawberry.field
    def adjustments(self, info: Info) -> list["Adjustment"]:
        return [
            Adjustment.from_model(r) for r in info.context.loaders.adjustments_of_agreement.load(self.row.id)
        ]

    @strawberry.field
    def time_entries(
        self, info: Info
    ) -> list[Annotated["TimeEntry", strawberry.lazy("api.time_entries.types")]]:
        from api.time_entries.types import TimeEntry

        rows = info.context.loaders.time_entries_of_agreement.load(self.row.id)
        return [TimeEntry.from_model(r) for r in rows]

    @strawberry.field
    def invoices(self, info: Info) -> list[Annotated["Invoice", strawberry.lazy("api.billing.types")]]:
        from api.billing.types import Invoice

        return [Invoice.from_model(r) for r in info.context.loaders.invoices_of_agreement.load(self.row.id)]

    @resolver(description="The recurring allowance the agreement renews, if any (SPEC §9).")
    def allowance(self, info: Info) -> Allowance | None:
        rows = info.context.loaders.allowance_of_agreement.load(self.row.id)
        return Allowance.from_model(rows[0], self.row) if rows else None

    @resolver(description="Each block and complimentary adjustment, oldest first: what is left of which.")
    def lots(self, info: Info) -> list["Lot"]:
        return [Lot.from_model(r) for r in info.context.loaders.lots_of_agreement.load(self.row.id)]


@strawberry.type(description="A prepaid block bought on an agreement, billed on a PREPAID_PURCHASE invoice.")
class Addition:
    row: strawberry.Private[models.Addition]
    id: strawberry.ID
    product: str
    category: str | None
    subcategory: str | None
    units: Decimal
    unit_price: Decimal
    amount: Decimal
    effective_date: dt.date
    expires_on: dt.date | None

    @classmethod
    def from_model(cls, row: models.Addition) -> "Addition":
        return cls(
            row=row,
            id=to_id(row.id),
            product=row.product,
            category=row.category,
            subcategory=row.subcategory,
            units=row.units,
            unit_price=row.unit_price,
            amount=row.amount,
            effective_date=row.effective_date,
            expires_on=row.expires_on,
        )

    @strawberry.field
    def agreement(self, info: Info) -> Agreement:
        return Agreement.from_model(info.context.loaders.agreement.one(self.row.agreement_id))

    @strawberry.field
    def invoice(self, info: Info) -> Annotated["Invoice", strawberry.lazy("api.billing.types")] | None:
        from api.billing.types import Invoice

        access.may_read(info.context.viewer, access.INVOICES)
        if self.row.invoice_id is None:
            return None
        invoice = info.context.loaders.invoice.load(self.row.invoice_id)
        return Invoice.from_model(invoice) if invoice is not None else None


@strawberry.type(description="A manual change of units: positive = complimentary, negative = written off.")
class Adjustment:
    id: strawberry.ID
    units: Decimal
    reason: str
    created_at: dt.datetime
    date: dt.date
    value: Decimal = strawberry.field(
        description="Paid value written off to breakage (negative adjustments)."
    )

    @classmethod
    def from_model(cls, row: models.Adjustment) -> "Adjustment":
        return cls(
            id=to_id(row.id),
            units=row.units,
            reason=row.reason,
            created_at=row.created_at,
            date=row.date,
            value=row.value,
        )


@strawberry.type(description="Units bought (or given) at one unit price, drawn first-in first-out.")
class Lot:
    id: strawberry.ID
    source: LotSource
    units: Decimal
    unit_price: Decimal
    units_remaining: Decimal
    units_applied: Decimal
    units_expired: Decimal
    units_written_off: Decimal
    units_refunded: Decimal
    effective_date: dt.date
    expires_on: dt.date | None
    deferred_value: Decimal = strawberry.field(
        description="round(unitsRemaining x unitPrice): what is still owed."
    )

    @classmethod
    def from_model(cls, row: models.Lot) -> "Lot":
        return cls(
            id=to_id(row.id),
            source=row.source,
            units=row.units,
            unit_price=row.unit_price,
            units_remaining=row.units_remaining,
            units_applied=row.units_applied,
            units_expired=row.units_expired,
            units_written_off=row.units_written_off,
            units_refunded=row.units_refunded,
            effective_date=row.effective_date,
            expires_on=row.expires_on,
            deferred_value=lot_deferred_value(row),
        )
