"""An agreement's statement: every movement of its balance between two dates (SPEC §8).

The statement is a walk over the agreement's lots in date order. It starts from
the lots as they stood at the end of the day before `from` (`lots_on`, the same
reading as `balance(asOf)`), and applies, day by day, the events that change what
the customer can use:

- a lot's arrival on its effectiveDate (PURCHASE, or ADJUSTMENT for complimentary
  units; an allowance cycle adds its kind to ARRIVALS),
- each recorded movement on its date (usage on the entry's date, reversals,
  write-offs and refunds on the day recorded); a movement recorded before its lot
  took effect shows on the lot's effectiveDate, and a movement of a lot that is no
  longer in effect changes nothing the customer can use and is not listed,
- a lot's expiry on its expiresOn, whatever the expiry job has recorded: the units
  it still held the day before.

Each line's units and value are the change of the lots' remaining units and of
their paid value round(remaining x price), so opening + lines = closing holds to
the cent by construction, and the closing is exactly `balance(asOf: to)`.

To list a new kind of line: map its lot source in ARRIVALS, or its movement kind in
MOVEMENTS, give it a place in ORDER and a description in `_describe`; lines that
move no units (a rollover) come from a function added to EXTRA_LINES.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal

from sqlalchemy import and_, or_, select
from sqlalchemy.orm import Session

from accounting.agreements import LotOnDate, lots_on
from accounting.dates import check_range
from accounting.errors import InvalidInput
from accounting.money import ZERO, paid_value
from models import (
    Addition,
    Adjustment,
    Agreement,
    AllowanceCycle,
    Invoice,
    Lot,
    LotMovement,
    TimeEntry,
    WorkRole,
    WorkType,
)
from models.enums import LotSource, MovementKind, StatementLineKind

Kind = StatementLineKind

# The line a lot's arrival makes on its effectiveDate, by where its units came from.
ARRIVALS: dict[LotSource, StatementLineKind] = {
    LotSource.PURCHASE: Kind.PURCHASE,
    LotSource.ADJUSTMENT: Kind.ADJUSTMENT,
    LotSource.ALLOWANCE: Kind.ALLOWANCE,
}

# The line a recorded movement makes: its kind, whether units come in (+1) or go out
# (-1), and the column that says which one line the movement belongs to.
MOVEMENTS: dict[MovementKind, tuple[StatementLineKind, int, str]] = {
    MovementKind.USAGE: (Kind.USAGE, -1, "time_entry_id"),
    MovementKind.REVERSAL: (Kind.REVERSAL, +1, "time_entry_id"),
    MovementKind.WRITE_OFF: (Kind.ADJUSTMENT, -1, "adjustment_id"),
    MovementKind.REFUND: (Kind.REFUND, -1, "invoice_id"),
}

# Within one day: expiries first (the lot is no longer in effect that day), then what
# arrives, then what is used and corrected, in the order it was recorded (Event.sequence):
# time logged, reversed and logged again on one day never shows less than nothing left.
MOVED = 4
ORDER: dict[StatementLineKind, int] = {
    Kind.EXPIRY: 0,
    Kind.ROLLOVER: 1,
    Kind.PURCHASE: 2,
    Kind.ALLOWANCE: 2,
    Kind.USAGE: MOVED,
    Kind.REVERSAL: MOVED,
    Kind.ADJUSTMENT: MOVED,
    Kind.REFUND: MOVED,
}
ARRIVAL_ORDER = 3  # complimentary units arrive with purchases, before the day's usage


@dataclass(frozen=True)
class StatementLine:
    date: dt.date
    kind: StatementLineKind
    description: str
    units: Decimal
    value: Decimal
    units_after: Decimal
    carried_units: Decimal | None = None
    time_entry: TimeEntry | None = None
    addition: Addition | None = None


@dataclass(frozen=True)
class Statement:
    agreement: Agreement
    start: dt.date
    end: dt.date
    opening_units: Decimal
    opening_value: Decimal
    lines: list[StatementLine]
    closing_units: Decimal
    closing_value: Decimal


@dataclass
class Event:
    """One change of one lot on one date; events of one source on one day make one line."""

    date: dt.date
    kind: StatementLineKind
    source_id: int
    lot_id: int | None
    order: int
    units: Decimal = ZERO  # signed change of the lot's remaining units (ignored for arrivals, expiries)
    arrival: bool = False
    expiry: bool = False
    carried_units: Decimal | None = None
    description: str | None = None
    sequence: int = 0  # a recorded movement's id: the day's movements in the order they were made

    def sort_key(self) -> tuple[dt.date, int, int, int, int]:
        return (self.date, self.order, self.sequence, self.source_id, self.lot_id or 0)


@dataclass
class _Walk:
    """Each lot's remaining units, and whether the customer can use them on the day walked."""

    remaining: dict[int, Decimal] = field(default_factory=dict)
    in_effect: set[int] = field(default_factory=set)
    prices: dict[int, Decimal] = field(default_factory=dict)

    def usable(self, lot_id: int) -> Decimal:
        return self.remaining[lot_id] if lot_id in self.in_effect else ZERO

    def apply(self, event: Event) -> tuple[Decimal, Decimal]:
        """Apply one event; the change of usable units and of their paid value."""
        if event.lot_id is None:
            return ZERO, ZERO
        lot_id = event.lot_id
        before = self.usable(lot_id)
        if event.arrival:
            self.in_effect.add(lot_id)
        elif event.expiry:
            self.in_effect.discard(lot_id)
        else:
            self.remaining[lot_id] += event.units
        after = self.usable(lot_id)
        price = self.prices[lot_id]
        return after - before, paid_value(after, price) - paid_value(before, price)

    def totals(self) -> tuple[Decimal, Decimal]:
        usable = [(self.remaining[i], self.prices[i]) for i in self.in_effect]
        return (
            sum((units for units, _ in usable), ZERO),
            sum((paid_value(units, price) for units, price in usable), ZERO),
        )


# Lines that move no units (a rollover's carriedUnits): (session, agreement, start, end) -> events.
EXTRA_LINES: list[Callable[[Session, Agreement, dt.date, dt.date], list[Event]]] = []


def statement(session: Session, *, agreement: Agreement, start: dt.date, end: dt.date) -> Statement:
    """Everything that moved the agreement's balance from `start` to `end`, both included,
    in date order (SPEC §8). opening = balance(asOf: start - 1 day), closing =
    balance(asOf: end); opening + lines = closing in units and in value; each line
    carries the units remaining after it. The range is at most 5 years, start <= end."""
    check_range(start, end)
    if start == dt.date.min:
        raise InvalidInput(f"from must be after {dt.date.min}")
    day_before = start - dt.timedelta(days=1)
    lots = lots_on(session, [agreement.id], day_before)[agreement.id]
    walk = _Walk(prices={on.lot.id: on.lot.unit_price for on in lots})
    events: list[Event] = []
    arriving: list[LotOnDate[Lot]] = []
    for on in lots:
        lot = on.lot
        walk.remaining[lot.id] = on.remaining
        if on.in_effect:
            walk.in_effect.add(lot.id)
        elif on.scheduled and lot.effective_date <= end:
            # It arrives in the range with all its units; what was taken from it before
            # (a refund recorded early) shows on its effectiveDate.
            walk.remaining[lot.id] = lot.units
            arriving.append(on)
            kind = ARRIVALS[lot.source]
            order = ARRIVAL_ORDER if kind is Kind.ADJUSTMENT else ORDER[kind]
            events.append(Event(lot.effective_date, kind, lot.id, lot.id, order, arrival=True))
        else:
            continue
        if lot.expires_on is not None and start <= lot.expires_on <= end:
            events.append(Event(lot.expires_on, Kind.EXPIRY, lot.id, lot.id, ORDER[Kind.EXPIRY], expiry=True))

    by_lot = {on.lot.id: on.lot for on in lots}
    events += _movement_events(session, agreement, by_lot, start, end, [on.lot.id for on in arriving])
    for extra in EXTRA_LINES:
        events += extra(session, agreement, start, end)
    events.sort(key=Event.sort_key)

    opening_units, opening_value = walk.totals()
    names = _Names.load(session, agreement, events, by_lot)
    lines: list[StatementLine] = []
    running = opening_units
    index = 0
    while index < len(events):
        first = events[index]
        units, value = walk.apply(first)
        index += 1
        while index < len(events) and _same_line(events[index], first):
            du, dv = walk.apply(events[index])
            units, value = units + du, value + dv
            index += 1
        if units == 0 and value == 0 and first.carried_units is None:
            continue  # nothing the customer could use changed
        running += units
        lines.append(
            StatementLine(
                date=first.date,
                kind=first.kind,
                description=first.description or names.describe(first),
                units=units,
                value=value,
                units_after=running,
                carried_units=first.carried_units,
                time_entry=names.time_entries.get(first.source_id)
                if first.kind in (Kind.USAGE, Kind.REVERSAL)
                else None,
                addition=names.addition_of_lot(first) if first.arrival else None,
            )
        )
    closing_units, closing_value = walk.totals()
    return Statement(
        agreement=agreement,
        start=start,
        end=end,
        opening_units=opening_units,
        opening_value=opening_value,
        lines=lines,
        closing_units=closing_units,
        closing_value=closing_value,
    )


def _same_line(event: Event, first: Event) -> bool:
    """Movements of one source on one day (an entry drawn from two lots) make one line;
    each lot's arrival and expiry is a line of its own."""
    if first.arrival or first.expiry or event.arrival or event.expiry:
        return False
    return (event.date, event.kind, event.source_id) == (first.date, first.kind, first.source_id)


def _movement_events(
    session: Session,
    agreement: Agreement,
    lots: dict[int, Lot],
    start: dt.date,
    end: dt.date,
    arriving: Sequence[int],
) -> list[Event]:
    """The recorded movements dated in the range, and those recorded before a lot that
    arrives in the range took effect (shown on its effectiveDate)."""
    dated = and_(LotMovement.date >= start, LotMovement.date <= end)
    early = and_(LotMovement.lot_id.in_(arriving), LotMovement.date < start) if arriving else None
    stmt = (
        select(LotMovement)
        .join(Lot, Lot.id == LotMovement.lot_id)
        .where(
            Lot.agreement_id == agreement.id,
            LotMovement.kind.in_(list(MOVEMENTS)),
            or_(dated, early) if early is not None else dated,
        )
    )
    events: list[Event] = []
    for movement in session.scalars(stmt):
        lot = lots.get(movement.lot_id)
        if lot is None:
            continue
        shown = max(movement.date, lot.effective_date)
        if shown > end or (lot.expires_on is not None and shown >= lot.expires_on):
            continue  # the lot is not (yet, or any more) in effect: nothing usable changes
        kind, sign, column = MOVEMENTS[movement.kind]
        events.append(
            Event(
                shown,
                kind,
                getattr(movement, column) or 0,
                lot.id,
                ORDER[kind],
                units=movement.units * sign,
                sequence=movement.id,
            )
        )
    return events


@dataclass
class _Names:
    """What the lines name: the blocks, adjustments, time entries and credit memos."""

    lots: dict[int, Lot]
    additions: dict[int, Addition]
    adjustments: dict[int, Adjustment]
    time_entries: dict[int, TimeEntry]
    work: dict[int, str]
    invoices: dict[int, str]

    @classmethod
    def load(
        cls, session: Session, agreement: Agreement, events: list[Event], lots: dict[int, Lot]
    ) -> _Names:
        def ids(*kinds: StatementLineKind) -> set[int]:
            return {e.source_id for e in events if e.kind in kinds and not (e.arrival or e.expiry)}

        lot_ids = {e.lot_id for e in events if e.arrival or e.expiry}
        addition_ids = {lots[i].addition_id for i in lot_ids if i is not None and lots[i].addition_id}
        adjustment_ids = ids(Kind.ADJUSTMENT) | {
            lots[i].adjustment_id or 0 for i in lot_ids if i is not None and lots[i].adjustment_id
        }
        entry_ids = ids(Kind.USAGE, Kind.REVERSAL)
        invoice_ids = ids(Kind.REFUND)
        additions = (
            {a.id: a for a in session.scalars(select(Addition).where(Addition.id.in_(addition_ids)))}
            if addition_ids
            else {}
        )
        adjustments = (
            {a.id: a for a in session.scalars(select(Adjustment).where(Adjustment.id.in_(adjustment_ids)))}
            if adjustment_ids
            else {}
        )
        entries: dict[int, TimeEntry] = {}
        work: dict[int, str] = {}
        if entry_ids:
            for entry, type_name, role_name in session.execute(
                select(TimeEntry, WorkType.name, WorkRole.name)
                .join(WorkType, WorkType.id == TimeEntry.work_type_id)
                .join(WorkRole, WorkRole.id == TimeEntry.work_role_id)
                .where(TimeEntry.id.in_(entry_ids), TimeEntry.agreement_id == agreement.id)
            ):
                entries[entry.id] = entry
                work[entry.id] = f"{type_name}, {role_name}"
        invoices: dict[int, str] = {}
        if invoice_ids:
            numbers = select(Invoice.id, Invoice.number).where(Invoice.id.in_(invoice_ids))
            invoices = dict(session.execute(numbers).all())
        return cls(lots, additions, adjustments, entries, work, invoices)

    def addition_of_lot(self, event: Event) -> Addition | None:
        lot = self.lots.get(event.lot_id or 0)
        return self.additions.get(lot.addition_id or 0) if lot is not None else None

    def describe(self, event: Event) -> str:
        if event.arrival or event.expiry:
            lot = self.lots[event.lot_id or 0]
            addition = self.additions.get(lot.addition_id or 0)
            adjustment = self.adjustments.get(lot.adjustment_id or 0)
            what = (
                addition.product
                if addition is not None
                else f"Complimentary units: {adjustment.reason}"
                if adjustment is not None
                else f"{event.kind.value.capitalize()} units"
            )
            if event.expiry:
                return f"Expired: unused units of {what} (in effect from {lot.effective_date})"
            return what
        if event.kind in (Kind.USAGE, Kind.REVERSAL):
            entry = self.time_entries.get(event.source_id)
            if entry is None:
                return f"Time entry {event.source_id}"
            work = f"{entry.hours} h {self.work.get(entry.id, '')}"
            if event.kind is Kind.USAGE:
                return f"{work}{': ' + _one_line(entry.notes) if entry.notes else ''}"
            return f"Reversed: {work} logged for {entry.date}"
        if event.kind is Kind.ADJUSTMENT:
            adjustment = self.adjustments.get(event.source_id)
            return f"Written off: {adjustment.reason}" if adjustment is not None else "Written off"
        if event.kind is Kind.REFUND:
            return f"Refunded on credit memo {self.invoices.get(event.source_id, event.source_id)}"
        return event.kind.value.capitalize()


def _one_line(text: str, limit: int = 200) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def _allowance_lines(session: Session, agreement: Agreement, start: dt.date, end: dt.date) -> list[Event]:
    """SPEC §9: at a cycle start, the ending cycle's carry as a ROLLOVER line (no units,
    carriedUnits) and, when part of it carried, the rest as an EXPIRY line: the lot stays
    in effect for the carried units, so its expiry is the recorded movement, not its
    expiresOn. (A cycle that carried nothing ends at its expiresOn like any lot.)"""
    events: list[Event] = []
    for cycle in session.scalars(
        select(AllowanceCycle).where(
            AllowanceCycle.agreement_id == agreement.id,
            AllowanceCycle.start >= start,
            AllowanceCycle.start <= end,
            AllowanceCycle.carried_lot_id.is_not(None),
        )
    ):
        lot_id = cycle.carried_lot_id
        if cycle.expired_units > 0:
            events.append(
                Event(
                    cycle.start,
                    Kind.EXPIRY,
                    lot_id or 0,
                    lot_id,
                    ORDER[Kind.EXPIRY],
                    units=-cycle.expired_units,
                    description=f"Expired: {cycle.expired_units} unused units not carried over",
                )
            )
        events.append(
            Event(
                cycle.start,
                Kind.ROLLOVER,
                cycle.id,
                None,
                ORDER[Kind.ROLLOVER],
                carried_units=cycle.carried_units,
                description=f"Carried over: {cycle.carried_units} unused units into this cycle",
            )
        )
    return events


EXTRA_LINES.append(_allowance_lines)
