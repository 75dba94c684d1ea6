"""SPEC §11 in a real browser: the portal and GraphiQL, served by Blocktime alone, with the demo data."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
from sqlalchemy import Engine, select, update

from accounting import agreements, catalog, clock, drawdown, expiry
from models import ApiToken, Company, WorkRole, WorkType
from models.db import unit_of_work
from models.enums import ApplicationUnits, Role
from tests.api.helpers import create_token

pytestmark = pytest.mark.slow

# Everything the page shows, asked the way any client would ask it.
AGREEMENTS = """
query($companyId: ID) {
  agreements(companyId: $companyId) { edges { node {
    id name applicationUnits
    balance { unitsPurchased unitsApplied unitsExpired unitsRemaining deferredRevenue isLow }
    forecast { days usagePerDay daysOfCover runsOutOn }
    invoices { number date total }
  } } }
}
"""
STATEMENT = """
query($id: ID!, $from: Date!, $to: Date!) {
  agreement(id: $id) { statement(from: $from, to: $to) {
    from to openingUnits closingUnits lines { date kind description units value unitsAfter }
  } }
}
"""
# Counts the chart's pixels of each series colour (uPlot draws on a canvas).
CHART_COLOURS = """
(card) => {
  const canvas = card.querySelector(".chart canvas");
  if (!canvas) return null;
  const pixels = canvas.getContext("2d").getImageData(0, 0, canvas.width, canvas.height).data;
  const near = (i, [r, g, b]) =>
    Math.abs(pixels[i] - r) < 12 && Math.abs(pixels[i + 1] - g) < 12 && Math.abs(pixels[i + 2] - b) < 12
    && pixels[i + 3] > 200;
  const counts = { balance: 0, purchase: 0, expiry: 0 };
  for (let i = 0; i < pixels.length; i += 4) {
    if (near(i, [29, 78, 216])) counts.balance++;
    if (near(i, [22, 101, 52])) counts.purchase++;
    if (near(i, [153, 27, 27])) counts.expiry++;
  }
  return counts;
}
"""
# Collects what the Content-Security-Policy refused, so a test can show it was nothing.
WATCH_CSP = """
window.__cspViolations = [];
document.addEventListener("securitypolicyviolation", (e) => {
  window.__cspViolations.push(e.violatedDirective + " " + e.blockedURI);
});
"""


def money(value: str) -> str:
    return f"{Decimal(value):,.2f}"


def api(base: str, token: str, query: str, **variables: Any) -> dict[str, Any]:
    response = httpx.post(
        f"{base}/graphql",
        json={"query": query, "variables": variables},
        headers={"Authorization": f"Bearer {token}"},
        timeout=30,
    )
    body = response.json()
    assert not body.get("errors"), body
    return body["data"]  # type: ignore[no-any-return]


def company_id(engine: Engine, identifier: str) -> int:
    with unit_of_work(engine) as session:
        found = session.scalar(select(Company.id).where(Company.identifier == identifier))
    assert found is not None
    return found


class Tab:
    """One browser context (its own sessionStorage) with every request and CSP refusal recorded."""

    def __init__(self, browser: Any, base: str, *, width: int = 1200, height: int = 900) -> None:
        self.base = base
        self.context = browser.new_context(
            viewport={"width": width, "height": height}, locale="en-US", accept_downloads=True
        )
        self.context.add_init_script(WATCH_CSP)
        self.requests: list[str] = []
        self.console_errors: list[str] = []
        self.context.on("request", lambda request: self.requests.append(request.url))
        self.page = self.context.new_page()
        self.page.on("console", lambda m: self.console_errors.append(m.text) if m.type == "error" else None)

    def foreign_requests(self) -> list[str]:
        origin = urlsplit(self.base)
        return [
            url
            for url in self.requests
            if urlsplit(url).scheme not in ("data", "blob")
            and (urlsplit(url).scheme, urlsplit(url).netloc) != (origin.scheme, origin.netloc)
        ]

    def csp_violations(self) -> list[str]:
        return self.page.evaluate("window.__cspViolations || []")  # type: ignore[no-any-return]

    def token_in_tab(self) -> str | None:
        return self.page.evaluate("sessionStorage.getItem('blocktime.portal.token')")  # type: ignore[no-any-return]

    def close(self) -> None:
        self.context.close()


@pytest.fixture
def tab(browser: Any, served: str) -> Iterator[Tab]:
    opened = Tab(browser, served)
    try:
        yield opened
    finally:
        opened.close()


@pytest.fixture
def acme_token(demo: Engine) -> str:
    return create_token(demo, Role.CUSTOMER, company_id=company_id(demo, "ACME"), name="acme-portal")


def statement_csv(lines: list[dict[str, str]]) -> str:
    rows = ["date,kind,description,units,value,unitsAfter"]
    for line in lines:
        description = line["description"]
        if "," in description or '"' in description:
            description = '"' + description.replace('"', '""') + '"'
        row = [line["date"], line["kind"], description, line["units"], line["value"], line["unitsAfter"]]
        rows.append(",".join(row))
    return "\r\n".join(rows) + "\r\n"


def hooli_with_an_expired_block(engine: Engine) -> int:
    """A customer whose one-month block expired with 8 of its 10 hours unused; its company id."""
    today = clock.today()
    bought = today - dt.timedelta(days=70)
    with unit_of_work(engine) as session:
        kind = agreements.create_agreement_type(
            session,
            name="One-month block",
            application_units=ApplicationUnits.HOURS,
            prepaid=True,
            reverse_revenue_when_applied=True,
            expire_after_months=1,
        )
        company = catalog.create_company(session, identifier="HOOLI", name="Hooli", billing_email=None)
        agreement = agreements.create_agreement(
            session, company_id=company.id, agreement_type_id=kind.id, name="Hooli block", start_date=bought
        )
        agreements.purchase_block(
            session, agreement_id=agreement.id, units=D("10"), unit_price=D("120.00"), effective_date=bought
        )
        drawdown.log_time(
            session,
            company_id=company.id,
            agreement_id=agreement.id,
            work_type_id=session.scalars(select(WorkType).where(WorkType.name == "Remote")).one().id,
            work_role_id=session.scalars(select(WorkRole).where(WorkRole.name == "Engineer")).one().id,
            date=bought + dt.timedelta(days=5),
            hours=D("2"),
            notes="Laptop setup",
        )
        expiry.expire_blocks(session, as_of=today)
        return company.id


D = Decimal


class TestPortal:
    def test_a_customer_signs_in_by_link_and_sees_its_own_numbers(
        self, tab: Tab, served: str, acme_token: str, demo: Engine, screenshots: Path
    ) -> None:
        page = tab.page
        page.goto(f"{served}/portal#token={acme_token}")
        page.wait_for_selector("article.agreement")

        # The fragment is gone from the address bar; the token is in this tab's storage, not in the page.
        assert page.url == f"{served}/portal"
        assert tab.token_in_tab() == acme_token
        assert acme_token not in page.content()
        # The same numbers as the API gives the same token.
        expected = [e["node"] for e in api(served, acme_token, AGREEMENTS)["agreements"]["edges"]]
        cards = page.locator("article.agreement")
        assert cards.count() == len(expected) == 1
        for card_index, agreement in enumerate(expected):
            card = cards.nth(card_index)
            balance = agreement["balance"]
            forecast = agreement["forecast"]
            assert card.get_attribute("data-agreement-id") == agreement["id"]
            assert card.locator(".agreement-name").inner_text() == agreement["name"]
            assert card.locator(".remaining").inner_text() == money(balance["unitsRemaining"])
            assert card.locator(".unit").inner_text() == "hours"
            assert card.locator(".value").inner_text() == money(balance["deferredRevenue"])
            assert card.locator(".purchased").inner_text() == f"{money(balance['unitsPurchased'])} hours"
            assert card.locator(".applied").inner_text() == f"{money(balance['unitsApplied'])} hours"
            assert card.locator(".expired").inner_text() == f"{money(balance['unitsExpired'])} hours"
            # The demo's ACME block is below its 2-hour threshold.
            assert balance["isLow"] is True
            assert "Low balance" in card.locator(".badges").inner_text()
            text = card.locator(".forecast-text").inner_text()
            assert money(forecast["usagePerDay"]) in text
            assert money(forecast["daysOfCover"]) in text
            assert forecast["runsOutOn"] in text
            numbers = card.locator(".invoices tbody tr td:first-child").all_inner_texts()
            assert numbers == [i["number"] for i in agreement["invoices"]]
            totals = card.locator(".invoices tbody tr td.num").all_inner_texts()
            assert totals == [money(i["total"]) for i in agreement["invoices"]]
        # ACME's forecast from the demo: 1.50 h drawn yesterday, 1.50 h left.
        assert expected[0]["forecast"] == {
            "days": 30,
            "usagePerDay": "0.05",
            "daysOfCover": "30.00",
            "runsOutOn": (clock.today() + dt.timedelta(days=30)).isoformat(),
        }
        page.wait_for_selector("article.agreement .chart canvas")
        assert "2 purchase(s), 0 expiry(ies)" in cards.first.locator(".chart-legend").inner_text()
        # Another company's agreement never appears, and a customer has no company picker.
        assert "Globex" not in page.inner_text("body")
        assert "Initech" not in page.inner_text("body")
        assert "HOOLI" not in page.inner_text("body")
        assert page.locator("#company-picker").is_hidden()
        page.screenshot(path=screenshots / "portal.png", full_page=True)

        assert tab.foreign_requests() == []
        assert tab.csp_violations() == []

    def test_the_chart_the_statement_and_its_csv_match_the_api(
        self, tab: Tab, served: str, demo: Engine, screenshots: Path
    ) -> None:
        token = create_token(demo, Role.CUSTOMER, company_id=hooli_with_an_expired_block(demo), name="hooli")
        page = tab.page
        page.goto(f"{served}/portal#token={token}")
        page.wait_for_selector("article.agreement .statement tbody tr")
        page.wait_for_selector("article.agreement .chart canvas")
        card = page.locator("article.agreement")
        agreement_id = card.get_attribute("data-agreement-id")
        start, end = card.locator(".from").input_value(), card.locator(".to").input_value()

        statement = api(served, token, STATEMENT, id=agreement_id, **{"from": start, "to": end})
        lines = statement["agreement"]["statement"]["lines"]
        # Bought 10 h, used 2 h, 8 h expired a month after the purchase.
        assert [(line["kind"], line["units"]) for line in lines] == [
            ("PURCHASE", "10.00"),
            ("USAGE", "-2.00"),
            ("EXPIRY", "-8.00"),
        ]
        rows = card.locator(".statement tbody tr").all()
        assert len(rows) == 1 + len(lines)  # the opening row, then one row per line
        for row, line in zip(rows[1:], lines, strict=True):
            cells = row.locator("td").all_inner_texts()
            assert cells[0] == line["date"]
            assert cells[2] == line["description"]
            assert cells[3:] == [money(line["units"]), money(line["value"]), money(line["unitsAfter"])]
        assert card.locator(".statement tfoot td").last.inner_text() == money(
            statement["agreement"]["statement"]["closingUnits"]
        )
        # The chart is drawn: the balance line and a marker for the purchase and for the expiry.
        colours = card.evaluate(CHART_COLOURS)
        assert colours["balance"] > 200 and colours["purchase"] > 20 and colours["expiry"] > 20, colours
        assert "1 purchase(s), 1 expiry(ies)" in card.locator(".chart-legend").inner_text()
        # The CSV is the statement, line for line.
        with page.expect_download() as download:
            card.get_by_role("button", name="Download CSV").click()
        saved = Path(download.value.path()).read_bytes().decode()
        assert saved == statement_csv(lines)
        assert download.value.suggested_filename == f"statement-hooli-block-{start}-{end}.csv"
        page.screenshot(path=screenshots / "portal-expiry.png", full_page=True)
        assert tab.foreign_requests() == []
        assert tab.csp_violations() == []

    def test_a_chosen_range_shows_only_its_lines(self, tab: Tab, served: str, acme_token: str) -> None:
        page = tab.page
        page.goto(f"{served}/portal#token={acme_token}")
        page.wait_for_selector("article.agreement .statement tbody tr")
        card = page.locator("article.agreement")
        yesterday = (clock.today() - dt.timedelta(days=1)).isoformat()

        card.locator(".from").fill(yesterday)
        card.locator(".to").fill(yesterday)
        card.get_by_role("button", name="Show").click()
        page.wait_for_selector(f"article.agreement .statement tfoot td:has-text('{yesterday}')")

        rows = card.locator(".statement tbody tr").all()
        statement = api(
            served,
            acme_token,
            STATEMENT,
            id=card.get_attribute("data-agreement-id"),
            **{"from": yesterday, "to": yesterday},
        )["agreement"]["statement"]
        # The demo's "Printer queue" hour and a half, alone in the range.
        assert [line["description"] for line in statement["lines"]] == [
            "1.50 h Remote, Engineer: Printer queue"
        ]
        assert [r.locator("td").nth(2).inner_text() for r in rows[1:]] == [
            statement["lines"][0]["description"]
        ]
        with page.expect_download() as download:
            card.get_by_role("button", name="Download CSV").click()
        assert Path(download.value.path()).read_bytes().decode() == statement_csv(statement["lines"])

    def test_sign_out_forgets_the_token(self, tab: Tab, served: str, acme_token: str) -> None:
        page = tab.page
        page.goto(f"{served}/portal#token={acme_token}")
        page.wait_for_selector("article.agreement")

        page.get_by_role("button", name="Sign out").click()

        assert tab.token_in_tab() is None
        assert page.locator("#sign-in").is_visible()
        assert page.locator("article.agreement").count() == 0
        assert "signed out" in page.locator("#message").inner_text()
        page.reload()
        assert page.locator("#sign-in").is_visible()
        assert page.locator("article.agreement").count() == 0

    def test_pasting_a_token_by_keyboard_only(self, tab: Tab, served: str, acme_token: str) -> None:
        page = tab.page
        page.goto(f"{served}/portal")
        page.wait_for_selector("#sign-in:not([hidden])")

        # Tab from the top of the page to the token field, type, Enter.
        for _ in range(6):
            page.keyboard.press("Tab")
            if page.evaluate("document.activeElement.id") == "token":
                break
        assert page.evaluate("document.activeElement.id") == "token"
        page.keyboard.type(acme_token)
        page.keyboard.press("Enter")
        page.wait_for_selector("article.agreement")

        assert tab.token_in_tab() == acme_token
        assert page.locator("#token").input_value() == ""
        # A token typed into the form never travels in a URL either.
        assert all(acme_token not in url for url in tab.requests)

    def test_an_invalid_or_revoked_token_is_explained(
        self, tab: Tab, served: str, acme_token: str, demo: Engine
    ) -> None:
        page = tab.page
        page.goto(f"{served}/portal#token=bt_not-a-token")
        page.wait_for_selector("#message:not([hidden])")

        assert "token is not valid" in page.locator("#message").inner_text()
        assert page.locator("#sign-in").is_visible()
        assert tab.token_in_tab() is None

        with unit_of_work(demo) as session:
            session.execute(update(ApiToken).values(revoked_at=dt.datetime.now(dt.UTC)))
        page.goto(f"{served}/portal#token={acme_token}")
        page.wait_for_selector("#message:not([hidden])")
        assert "revoked" in page.locator("#message").inner_text()
        assert page.locator("article.agreement").count() == 0

    def test_a_failed_request_says_so_and_can_be_retried(
        self, tab: Tab, served: str, acme_token: str
    ) -> None:
        page = tab.page
        page.route("**/graphql", lambda route: route.abort())
        page.goto(f"{served}/portal#token={acme_token}")
        page.wait_for_selector("#message:not([hidden])")

        assert "could not be reached" in page.locator("#message").inner_text()
        assert tab.token_in_tab() == acme_token  # a network failure does not sign the customer out

        page.unroute("**/graphql")
        page.get_by_role("button", name="Try again").click()
        page.wait_for_selector("article.agreement")
        assert page.locator("#message").is_hidden()

    def test_staff_pick_a_company(self, tab: Tab, served: str, demo: Engine) -> None:
        token = create_token(demo, Role.ACCOUNTANT, name="accountant-portal")
        page = tab.page
        page.goto(f"{served}/portal#token={token}")
        page.wait_for_selector("article.agreement")
        assert page.locator("#company-picker").is_visible()

        page.select_option("#company", label="Globex Corporation (GLOBEX)")
        page.wait_for_selector("article.agreement:has-text('Globex prepaid credit')")

        assert page.locator("article.agreement").count() == 1
        assert page.locator("article.agreement .unit").inner_text() == "credit"

    def test_at_a_phones_width_nothing_overflows_the_screen(
        self, browser: Any, served: str, acme_token: str, screenshots: Path
    ) -> None:
        phone = Tab(browser, served, width=390, height=844)
        try:
            phone.page.goto(f"{served}/portal#token={acme_token}")
            phone.page.wait_for_selector("article.agreement")

            overflow = phone.page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
            phone.page.screenshot(path=screenshots / "portal-phone.png", full_page=True)
        finally:
            phone.close()
        assert overflow <= 0


class TestGraphiQL:
    def test_graphiql_runs_a_query_with_nothing_from_another_host(
        self, tab: Tab, served: str, acme_token: str, screenshots: Path
    ) -> None:
        # GraphiQL keeps the headers editor in localStorage: seed it, rather than put a token in the URL.
        headers = json.dumps({"Authorization": f"Bearer {acme_token}"}, indent=2)
        tab.context.add_init_script(f"localStorage.setItem('graphiql:headers', {json.dumps(headers)});")
        query = "{ me { role company { identifier } } agreements { edges { node { name } } } }"
        page = tab.page
        page.goto(f"{served}/graphql?q={query}")  # strawberry's page reads the query from ?q=
        page.wait_for_selector(".graphiql-editor")

        page.locator(".graphiql-execute-button").click()
        page.wait_for_selector(".result-window :text('ACME')")

        page.screenshot(path=screenshots / "graphiql.png")
        assert tab.foreign_requests() == []
        assert tab.csp_violations() == []
        assert "ACME" in page.locator(".result-window").inner_text()
