"""The chart of accounts, mappings, journal batches and what the books say."""

import datetime as dt
from decimal import Decimal

import strawberry

import models
from accounting import access, exports, ledger
from api.agreements.types import AgreementType
from api.context import Info
from api.enums import AccountType, BatchStatus, ExportFormat, MappingKind
from api.fields import resolver
from api.scalars import to_id


@strawberry.type
class GLAccount:
    row: strawberry.Private[models.GLAccount]
    id: strawberry.ID
    code: str
    name: str
    type: AccountType

    @classmethod
    def from_model(cls, row: models.GLAccount) -> "GLAccount":
        return cls(row=row, id=to_id(row.id), code=row.code, name=row.name, type=row.type)

    @resolver(description="Posted debits minus posted credits.")
    def balance(self, info: Info) -> Decimal:
        return info.context.loaders.account_balance.load(self.row.id)


def _account(info: Info, account_id: int) -> GLAccount:
    return GLAccount.from_model(info.context.loaders.gl_account.one(account_id))


@strawberry.type
class GLMapping:
    row: strawberry.Private[models.GLMapping]
    id: strawberry.ID
    kind: MappingKind
    category: str | None
    subcategory: str | None

    @classmethod
    def from_model(cls, row: models.GLMapping) -> "GLMapping":
        return cls(
            row=row, id=to_id(row.id), kind=row.kind, category=row.category, subcategory=row.subcategory
        )

    @strawberry.field
    def agreement_type(self, info: Info) -> AgreementType | None:
        if self.row.agreement_type_id is None:
            return None
        agreement_type = info.context.loaders.agreement_type.load(self.row.agreement_type_id)
        return AgreementType.from_model(agreement_type) if agreement_type is not None else None

    @strawberry.field
    def account(self, info: Info) -> GLAccount:
        return _account(info, self.row.account_id)


@strawberry.type
class JournalLine:
    row: strawberry.Private[models.JournalLine]
    debit: Decimal
    credit: Decimal

    @classmethod
    def from_model(cls, row: models.JournalLine) -> "JournalLine":
        return cls(row=row, debit=row.debit, credit=row.credit)

    @strawberry.field
    def account(self, info: Info) -> GLAccount:
        return _account(info, self.row.account_id)


@strawberry.type
class JournalEntry:
    row: strawberry.Private[models.JournalEntry]
    id: strawberry.ID
    date: dt.date
    memo: str
    source_type: str
    source_id: strawberry.ID

    @classmethod
    def from_model(cls, row: models.JournalEntry) -> "JournalEntry":
        return cls(
            row=row,
            id=to_id(row.id),
            date=row.date,
            memo=row.memo,
            source_type=row.source_type,
            source_id=to_id(row.source_id),
        )

    @strawberry.field
    def lines(self, info: Info) -> list[JournalLine]:
        return [JournalLine.from_model(r) for r in info.context.loaders.lines_of_entry.load(self.row.id)]


@strawberry.type(description="One file of an export: a name to save it under and its text.")
class ExportFile:
    name: str
    content: str


@strawberry.type(description="Double-entry postings built from invoices and events, posted atomically.")
class JournalBatch:
    row: strawberry.Private[models.JournalBatch]
    id: strawberry.ID
    identifier: str
    status: BatchStatus
    created_at: dt.datetime
    posted_at: dt.datetime | None
    error: str | None
    total_debit: Decimal
    total_credit: Decimal
    through_date: dt.date

    @classmethod
    def from_model(cls, row: models.JournalBatch) -> "JournalBatch":
        return cls(
            row=row,
            id=to_id(row.id),
            identifier=row.identifier,
            status=row.status,
            created_at=row.created_at,
            posted_at=row.posted_at,
            error=row.error,
            total_debit=row.total_debit,
            total_credit=row.total_credit,
            through_date=row.through_date,
        )

    @strawberry.field
    def entries(self, info: Info) -> list[JournalEntry]:
        return [JournalEntry.from_model(r) for r in info.context.loaders.entries_of_batch.load(self.row.id)]

    @resolver(
        description=(
            "The batch for an accounting package, as one file. A Xero export over Xero's "
            "300 lines a file is refused (BAD_USER_INPUT): exportFiles gives its parts."
        )
    )
    def export(self, info: Info, format: ExportFormat) -> str:
        access.may_read(info.context.viewer, access.LEDGER)
        return exports.export_batch(
            info.context.session,
            batch_id=self.row.id,
            format=format.value,
            settings=exports.ExportSettings.from_settings(info.context.settings),
        )

    @resolver(
        description=(
            "The batch for an accounting package as the files to import, in order: one file, "
            "or for XERO_CSV one per 300 lines, split between whole journals."
        )
    )
    def export_files(self, info: Info, format: ExportFormat) -> list[ExportFile]:
        access.may_read(info.context.viewer, access.LEDGER)
        files = exports.export_files(
            info.context.session,
            batch_id=self.row.id,
            format=format.value,
            settings=exports.ExportSettings.from_settings(info.context.settings),
        )
        return [ExportFile(name=f.name, content=f.content) for f in files]


@strawberry.type
class TrialBalanceRow:
    account: GLAccount
    debit: Decimal
    credit: Decimal

    @classmethod
    def from_totals(cls, totals: ledger.AccountTotals) -> "TrialBalanceRow":
        return cls(account=GLAccount.from_model(totals.account), debit=totals.debit, credit=totals.credit)


@strawberry.type
class DeferredRevenueReconciliation:
    ledger_balance: Decimal = strawberry.field(
        description=(
            "Balance of the deferred revenue liability accounts, posted entries only "
            "(a credit balance, as a positive number)."
        )
    )
    agreements_total: Decimal = strawberry.field(
        description="Sum of every agreement's balance.deferredRevenue."
    )
    unposted_activity: Decimal = strawberry.field(
        description="Net effect on deferred revenue of activity not yet posted in a batch."
    )
    difference: Decimal = strawberry.field(
        description="ledgerBalance + unpostedActivity - agreementsTotal; 0.00 when the books agree."
    )

    @classmethod
    def from_reconciliation(cls, rec: ledger.Reconciliation) -> "DeferredRevenueReconciliation":
        return cls(
            ledger_balance=rec.ledger_balance,
            agreements_total=rec.agreements_total,
            unposted_activity=rec.unposted_activity,
            difference=rec.difference,
        )
