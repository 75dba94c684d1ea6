"""An agreement's statement (SPEC §8): thin wrappers over accounting.statements."""

import datetime as dt
from decimal import Decimal
from typing import TYPE_CHECKING, Annotated

import strawberry

from accounting import statements
from api.context import Info, wrap
from api.enums import StatementLineKind

if TYPE_CHECKING:
    from api.agreements.types import Addition
    from api.time_entries.types import TimeEntry


@strawberry.type(description="One movement of an agreement's balance, as the customer's statement lists it.")
class StatementLine:
    date: dt.date
    kind: StatementLineKind
    description: str
    units: Decimal = strawberry.field(description="Units into (+) or out of (-) the balance.")
    value: Decimal = strawberry.field(
        description="The paid value of those units: deferred revenue in (+) or out (-)."
    )
    units_after: Decimal = strawberry.field(description="unitsRemaining after this line.")
    carried_units: Decimal | None = strawberry.field(
        description="ROLLOVER lines: the units carried into the new cycle."
    )
    time_entry: Annotated["TimeEntry", strawberry.lazy("api.time_entries.types")] | None
    addition: Annotated["Addition", strawberry.lazy("api.agreements.types")] | None

    @classmethod
    def from_line(cls, info: Info, line: statements.StatementLine) -> "StatementLine":
        from api.agreements.types import Addition
        from api.time_entries.types import TimeEntry

        return cls(
            date=line.date,
            kind=line.kind,
            description=line.description,
            units=line.units,
            value=line.value,
            units_after=line.units_after,
            carried_units=line.carried_units,
            time_entry=wrap(info, TimeEntry, line.time_entry) if line.time_entry is not None else None,
            addition=wrap(info, Addition, line.addition) if line.addition is not None else None,
        )


@strawberry.type(
    description=(
        "Everything that moved an agreement's balance between two dates, both included.\n"
        "opening = balance(asOf: the day before `from`); closing = balance(asOf: `to`);\n"
        "opening + the lines = closing, in units and in value."
    )
)
class AgreementStatement:
    from_: dt.date = strawberry.field(name="from")
    to: dt.date
    opening_units: Decimal
    opening_value: Decimal
    lines: list[StatementLine]
    closing_units: Decimal
    closing_value: Decimal

    @classmethod
    def from_statement(cls, info: Info, found: statements.Statement) -> "AgreementStatement":
        return cls(
            from_=found.start,
            to=found.end,
            opening_units=found.opening_units,
            opening_value=found.opening_value,
            lines=[StatementLine.from_line(info, line) for line in found.lines],
            closing_units=found.closing_units,
            closing_value=found.closing_value,
        )
