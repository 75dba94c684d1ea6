"""The chart of accounts, mappings, journal batches, trial balance and reconciliation."""

import datetime as dt
from typing import Annotated

import strawberry

from api.context import Info, wrap, wrap_all
from api.fields import resolver
from api.ledger.rollforward import DeferredRevenueRollforward
from api.ledger.types import (
    DeferredRevenueReconciliation,
    GLAccount,
    GLMapping,
    JournalBatch,
    TrialBalanceRow,
)
from api.pagination import Connection, connection
from api.read import ledger as read
from api.scalars import lookup_id


@strawberry.type
class LedgerQuery:
    @strawberry.field
    def gl_accounts(self, info: Info) -> list[GLAccount]:
        return wrap_all(info, GLAccount, read.gl_accounts(info.context.session, info.context.viewer))

    @strawberry.field
    def gl_mappings(self, info: Info) -> list[GLMapping]:
        return wrap_all(info, GLMapping, read.gl_mappings(info.context.session, info.context.viewer))

    @resolver(description="Newest first.")
    def journal_batches(
        self, info: Info, first: int | None = None, after: str | None = None
    ) -> Connection[JournalBatch]:
        page = read.journal_batches(info.context.session, info.context.viewer, first=first, after=after)
        return connection(page, lambda rows: wrap_all(info, JournalBatch, rows))

    @strawberry.field
    def journal_batch(self, info: Info, id: strawberry.ID) -> JournalBatch | None:
        row = read.journal_batch(info.context.session, info.context.viewer, lookup_id(id, "journal batch"))
        return wrap(info, JournalBatch, row)

    @resolver(
        description=(
            "Posted debits and credits per account; total debits equal total credits. "
            "Posted entries dated on or before asOf (default: all)."
        )
    )
    def trial_balance(self, info: Info, as_of: dt.date | None = None) -> list[TrialBalanceRow]:
        rows = read.trial_balance(info.context.session, info.context.viewer, as_of=as_of)
        info.context.loaders.register(row.account for row in rows)
        return [TrialBalanceRow.from_totals(row) for row in rows]

    @strawberry.field
    def deferred_revenue_rollforward(
        self,
        info: Info,
        from_: Annotated[dt.date, strawberry.argument(name="from")],
        to: dt.date,
    ) -> DeferredRevenueRollforward:
        result = read.deferred_revenue_rollforward(
            info.context.session, info.context.viewer, from_date=from_, to_date=to
        )
        return DeferredRevenueRollforward.from_rollforward(result)

    @resolver(
        description=(
            "Nothing dated on or before this date can be posted any more; null while no period is closed."
        )
    )
    def closed_through(self, info: Info) -> dt.date | None:
        return read.closed_through(info.context.session, info.context.viewer)

    @strawberry.field
    def deferred_revenue_reconciliation(self, info: Info) -> DeferredRevenueReconciliation:
        rec = read.deferred_revenue_reconciliation(info.context.session, info.context.viewer)
        return DeferredRevenueReconciliation.from_reconciliation(rec)
