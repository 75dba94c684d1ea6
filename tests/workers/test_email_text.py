"""The e-mail's words (SPEC §10): per kind, with the unit of the agreement, for a person."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from accounting.notifications import NotificationFacts
from models.enums import ApplicationUnits
from workers.email_text import KIND_WORDING, render_email

D = Decimal


def facts(kind: str = "LOW_BALANCE", **overrides: object) -> NotificationFacts:
    values: dict[str, object] = {
        "kind": kind,
        "company": "Globex Corporation",
        "agreement": "Globex support credit",
        "application_units": ApplicationUnits.AMOUNT,
        "units_remaining": D("1250.50"),
        "low_balance_threshold": D("2000.00"),
        "low_balance_percent": None,
        "raised_on": dt.date(2026, 11, 30),
    }
    values.update(overrides)
    return NotificationFacts(**values)  # type: ignore[arg-type]


class TestWording:
    def test_a_money_agreement_shows_amounts_with_the_currency(self) -> None:
        email = render_email(facts(), currency="EUR")

        assert email.subject == "Globex support credit: prepaid time is running low (1,250.50 EUR left)"
        assert "has fallen to 1,250.50 EUR, at or below its alert level." in email.text
        assert "Alert level:      2,000.00 EUR" in email.text
        assert "Noticed on:       30 November 2026" in email.text
        assert email.html.startswith("<!DOCTYPE html>")
        assert "<td>1,250.50 EUR</td>" in email.html

    def test_an_overrun_says_how_much_work_went_past_the_balance(self) -> None:
        email = render_email(
            facts(
                "OVERRUN",
                application_units=ApplicationUnits.HOURS,
                units_remaining=D("0.00"),
                low_balance_threshold=None,
                low_balance_percent=D("20.00"),
                work_date=dt.date(2026, 11, 27),
                work_hours=D("3.00"),
                hours_billed=D("1.00"),
            ),
            currency="USD",
        )

        assert email.subject == "Globex support credit: work went beyond the prepaid time"
        assert (
            "Work of 3.00 hours on 27 November 2026 needed more than the prepaid balance of the agreement "
            "Globex support credit of Globex Corporation had left; the part beyond it (1.00 hour) is billed "
            "separately at list rates. Balance left: 0.00 hours." in " ".join(email.text.split())
        )
        assert "Alert level:      20.00% of the time bought" in email.text

    def test_an_expiry_warning_uses_the_units_and_date_of_its_payload(self) -> None:
        email = render_email(
            facts(
                "EXPIRING",
                application_units=ApplicationUnits.HOURS,
                units_remaining=D("6.00"),
                extra={"units": "4.00", "expires_on": "2026-12-15"},
            ),
            currency="USD",
        )

        assert email.subject == "Globex support credit: prepaid time expires on 15 December 2026"
        assert "4.00 hours of the prepaid time of the agreement Globex support credit" in " ".join(
            email.text.split()
        )

    def test_a_kind_without_wording_is_still_worded_sensibly(self) -> None:
        assert "RENEWED" not in KIND_WORDING

        email = render_email(facts("RENEWED"), currency="USD")

        assert email.subject == "Globex support credit: renewed"
        assert "raised a notification: renewed. Balance left: 1,250.50 USD." in " ".join(email.text.split())
        assert "What to do: Check the agreement's balance" in email.text

    def test_a_placeholder_the_payload_lacks_reads_as_not_given(self) -> None:
        email = render_email(facts("EXPIRING"), currency="USD")

        assert email.subject == "Globex support credit: prepaid time expires on (not given)"
        assert "{" not in email.text and "{" not in email.html
