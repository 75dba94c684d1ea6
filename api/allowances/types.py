"""A recurring allowance, as Agreement.allowance shows it (SPEC §9)."""

import datetime as dt
from decimal import Decimal

import strawberry

import models
from accounting import allowances as rules
from accounting import cycles
from api.enums import Cycle, RolloverPolicy


@strawberry.type(description="Units an agreement renews every cycle, and what happens to those left unused.")
class Allowance:
    cycle: Cycle
    units: Decimal = strawberry.field(
        description=(
            "Units added at the start of every cycle, billed at unitPrice on a PREPAID_PURCHASE invoice."
        )
    )
    unit_price: Decimal
    rollover: RolloverPolicy
    rollover_cap: Decimal | None
    rollover_cycles: int = strawberry.field(description="How many cycles rolled-over units stay usable.")
    next_renewal: dt.date | None = strawberry.field(
        description=(
            "Start of the next cycle that has not been renewed yet; null once the agreement has ended."
        )
    )

    @classmethod
    def from_model(cls, row: models.Allowance, agreement: models.Agreement) -> "Allowance":
        return cls(
            cycle=row.cycle,
            units=row.units,
            unit_price=row.unit_price,
            rollover=row.rollover,
            rollover_cap=row.rollover_cap,
            rollover_cycles=row.rollover_cycles,
            next_renewal=cycles.next_renewal(agreement, row),
        )


@strawberry.input
class AllowanceInput:
    cycle: Cycle
    units: Decimal
    unit_price: Decimal
    rollover: RolloverPolicy
    rollover_cap: Decimal | None = None
    rollover_cycles: int | None = strawberry.field(default=None, description="Default 1.")
    product: str | None = None
    category: str | None = None
    subcategory: str | None = None

    def terms(self) -> rules.AllowanceTerms:
        return rules.AllowanceTerms(
            cycle=self.cycle,
            units=self.units,
            unit_price=self.unit_price,
            rollover=self.rollover,
            rollover_cap=self.rollover_cap,
            rollover_cycles=self.rollover_cycles,
            product=self.product,
            category=self.category,
            subcategory=self.subcategory,
        )
