"""The words of a notification e-mail, for the people who read it (SPEC §10).

One Jinja2 template (templates/notification_email.j2) gives the subject, the plain
text and the HTML; this module says, per kind of notification, what happened and
what to do. A new kind is one entry in KIND_WORDING; a kind without one is still
worded sensibly (DEFAULT_WORDING). Placeholders are the facts below ({agreement},
{company}, {remaining}, {threshold}, {work_hours}, {work_date}, {hours_billed}) and
any field a kind's webhook payload adds, in snake_case ({expires_on}, {units}).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from functools import cache
from pathlib import Path

import jinja2

from accounting.notifications import NotificationFacts
from models.enums import ApplicationUnits

TEMPLATE = "notification_email.j2"


@dataclass(frozen=True)
class Wording:
    subject: str
    happened: str
    todo: str


BUY_MORE = (
    "Buy more time (a new prepaid block) so that the work to come is covered by the agreement; "
    "your account manager can arrange it."
)

KIND_WORDING: dict[str, Wording] = {
    "LOW_BALANCE": Wording(
        subject="{agreement}: prepaid time is running low ({remaining} left)",
        happened=(
            "The prepaid balance of the agreement {agreement} of {company} has fallen to {remaining}, "
            "at or below its alert level."
        ),
        todo=BUY_MORE,
    ),
    "DEPLETED": Wording(
        subject="{agreement}: prepaid time is used up",
        happened=(
            "The prepaid balance of the agreement {agreement} of {company} is used up: {remaining} left."
        ),
        todo=(
            "Buy more time (a new prepaid block) now: until then, further work is billed separately "
            "at list rates or cannot be logged against the agreement."
        ),
    ),
    "OVERRUN": Wording(
        subject="{agreement}: work went beyond the prepaid time",
        happened=(
            "Work of {work_hours} on {work_date} needed more than the prepaid balance of the agreement "
            "{agreement} of {company} had left; the part beyond it ({hours_billed}) is billed separately "
            "at list rates. Balance left: {remaining}."
        ),
        todo=BUY_MORE,
    ),
    "EXPIRING": Wording(
        subject="{agreement}: prepaid time expires on {expires_on}",
        happened=(
            "{units} of the prepaid time of the agreement {agreement} of {company} will expire unused "
            "on {expires_on}. Balance left: {remaining}."
        ),
        todo="Use the time before it expires, or ask your account manager about carrying it over.",
    ),
}

DEFAULT_WORDING = Wording(
    subject="{agreement}: {kind_words}",
    happened=(
        "The agreement {agreement} of {company} raised a notification: {kind_words}. "
        "Balance left: {remaining}."
    ),
    todo="Check the agreement's balance, and buy more time if it is running low.",
)


class _Facts(dict[str, str]):
    """A placeholder a kind's payload does not carry reads as "(not given)", never a KeyError."""

    def __missing__(self, key: str) -> str:
        return "(not given)"


def format_units(value: Decimal, units: ApplicationUnits, currency: str) -> str:
    """Hours as "1.50 hours", money as "1,500.00 USD"."""
    amount = f"{value:,.2f}"
    if units is ApplicationUnits.HOURS:
        return f"{amount} hour" if value == 1 else f"{amount} hours"
    return f"{amount} {currency}"


def format_date(day: dt.date) -> str:
    return f"{day.day} {day:%B %Y}"


def _worded(value: object, facts: NotificationFacts, currency: str) -> str:
    """A payload value as a person reads it: dates in words, amounts with their unit."""
    if isinstance(value, str):
        try:
            return format_date(dt.date.fromisoformat(value))
        except ValueError:
            pass
        try:
            return format_units(Decimal(value), facts.application_units, currency)
        except InvalidOperation:
            return value
    return str(value)


def _threshold(facts: NotificationFacts, currency: str) -> str | None:
    if facts.low_balance_threshold is not None:
        return format_units(facts.low_balance_threshold, facts.application_units, currency)
    if facts.low_balance_percent is not None:
        return f"{facts.low_balance_percent}% of the time bought"
    return None


def email_context(facts: NotificationFacts, *, currency: str) -> dict[str, str]:
    """Everything the template shows: names, figures with their unit, the kind's words."""
    values = _Facts({key: _worded(value, facts, currency) for key, value in facts.extra.items()})

    def hours(value: Decimal | None) -> str:
        return format_units(value, ApplicationUnits.HOURS, currency) if value is not None else "(not given)"

    values.update(
        agreement=facts.agreement,
        company=facts.company,
        remaining=format_units(facts.units_remaining, facts.application_units, currency),
        kind_words=facts.kind.replace("_", " ").lower(),
        work_hours=hours(facts.work_hours),
        hours_billed=hours(facts.hours_billed),
        work_date=format_date(facts.work_date) if facts.work_date else "(not given)",
    )
    threshold = _threshold(facts, currency)
    values["threshold"] = threshold or "(none)"
    wording = KIND_WORDING.get(facts.kind, DEFAULT_WORDING)
    return {
        "subject": wording.subject.format_map(values),
        "happened": wording.happened.format_map(values),
        "todo": wording.todo.format_map(values),
        "company": facts.company,
        "agreement": facts.agreement,
        "remaining": values["remaining"],
        "threshold": threshold or "",
        "raised_on": format_date(facts.raised_on),
    }


@cache
def _template() -> jinja2.Template:
    # Autoescaping is switched on for the HTML block only, inside the template.
    environment = jinja2.Environment(
        loader=jinja2.FileSystemLoader(Path(__file__).resolve().parent / "templates"),
        autoescape=False,  # noqa: S701 - the subject and text are plain text; the HTML block escapes
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
    )
    return environment.get_template(TEMPLATE)


@dataclass(frozen=True)
class RenderedEmail:
    subject: str
    text: str
    html: str


def render_email(facts: NotificationFacts, *, currency: str) -> RenderedEmail:
    template = _template()
    context = template.new_context(email_context(facts, currency=currency))

    def block(name: str) -> str:
        return "".join(template.blocks[name](context))

    return RenderedEmail(
        subject=" ".join(block("subject").split()), text=block("text").strip() + "\n", html=block("html")
    )
