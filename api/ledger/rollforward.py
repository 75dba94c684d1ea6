"""The deferred revenue rollforward (SPEC §8), as the contract shows it."""

import datetime as dt
from decimal import Decimal

import strawberry

from accounting import rollforward
from api.agreements.types import Agreement
from api.context import Info


@strawberry.type
class RollforwardRow:
    agreement_id: strawberry.Private[int]
    opening: Decimal
    purchases: Decimal
    released: Decimal
    breakage: Decimal
    refunded: Decimal
    closing: Decimal

    @classmethod
    def from_row(cls, row: rollforward.RollforwardRow) -> "RollforwardRow":
        return cls(
            agreement_id=row.agreement_id,
            opening=row.opening,
            purchases=row.purchases,
            released=row.released,
            breakage=row.breakage,
            refunded=row.refunded,
            closing=row.closing,
        )

    @strawberry.field
    def agreement(self, info: Info) -> Agreement:
        return Agreement.from_model(info.context.loaders.agreement.one(self.agreement_id))


@strawberry.type(
    description=(
        "The contract-liability rollforward between two dates, both included, as the books hold it "
        "(recorded events: an expiry counts once the expiry job has recorded it). "
        "opening + purchases - released - breakage - refunded = closing."
    )
)
class DeferredRevenueRollforward:
    from_: dt.date = strawberry.field(name="from")
    to: dt.date
    opening: Decimal
    purchases: Decimal = strawberry.field(
        description="Paid value of the blocks and allowance cycles that took effect."
    )
    released: Decimal = strawberry.field(description="Paid value of covered usage, net of reversals.")
    breakage: Decimal = strawberry.field(description="Paid value of expired and written-off units.")
    refunded: Decimal
    closing: Decimal
    ledger_closing: Decimal = strawberry.field(
        description=(
            "Posted balance of the deferred revenue accounts from entries dated on or before `to` "
            "(credit positive)."
        )
    )
    unposted: Decimal = strawberry.field(
        description=(
            "Net effect on deferred revenue of activity dated on or before `to` that no posted batch "
            "holds (by `to`)."
        )
    )
    difference: Decimal = strawberry.field(
        description="ledgerClosing + unposted - closing; 0.00 when the books agree."
    )
    rows: list[RollforwardRow] = strawberry.field(
        description="One row per agreement with a balance or activity in the range."
    )

    @classmethod
    def from_rollforward(cls, result: rollforward.Rollforward) -> "DeferredRevenueRollforward":
        return cls(
            from_=result.from_date,
            to=result.to_date,
            opening=result.opening,
            purchases=result.purchases,
            released=result.released,
            breakage=result.breakage,
            refunded=result.refunded,
            closing=result.closing,
            ledger_closing=result.ledger_closing,
            unposted=result.unposted,
            difference=result.difference,
            rows=[RollforwardRow.from_row(row) for row in result.rows],
        )
