"""The usage forecast of an agreement (SPEC §11, contract part "portal")."""

import datetime as dt
from decimal import Decimal

import strawberry

from accounting import forecast as rules


@strawberry.type(description="At the pace of the last `days` days, how long the balance lasts.")
class Forecast:
    days: int
    usage_per_day: Decimal = strawberry.field(
        description=(
            "Covered units drawn per day over the last `days` days up to today, "
            "net of reversals (2 decimals)."
        )
    )
    days_of_cover: Decimal | None = strawberry.field(
        description="unitsRemaining / usagePerDay (2 decimals); null when nothing was drawn in those days."
    )
    runs_out_on: dt.date | None = strawberry.field(
        description=(
            "today + daysOfCover rounded down; null when nothing was drawn, "
            "or when units expire before that day."
        )
    )

    @classmethod
    def from_forecast(cls, forecast: rules.Forecast) -> "Forecast":
        return cls(
            days=forecast.days,
            usage_per_day=forecast.usage_per_day,
            days_of_cover=forecast.days_of_cover,
            runs_out_on=forecast.runs_out_on,
        )
