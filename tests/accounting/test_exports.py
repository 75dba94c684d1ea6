"""Each export format parsed back by a real parser (csv, beancount): it must say what the
ledger says, balance entry by entry, name the customer on every receivable line and keep
free text on one line (SPEC §4, Exports)."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
from collections import defaultdict
from dataclasses import dataclass
from decimal import Decimal
from typing import ClassVar

import pytest
from beancount import loader
from beancount.core import data as bc
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import select
from sqlalchemy.orm import Session

from accounting import agreements, batches, billing, catalog, drawdown, expiry, exports, ledger
from accounting.errors import InvalidInput
from accounting.exports import ExportSettings
from models import Company, GLAccount, Invoice, JournalBatch, JournalEntry, JournalLine
from models.enums import AccountType, BatchStatus, InvoiceKind
from testkit import factories

D = Decimal
DAY = dt.date(2026, 5, 4)
EXPIRES = dt.date(2026, 6, 4)
ZERO = D("0.00")
# Free text a customer or an accountant may type (newlines and tabs, a Unicode line
# separator, quotes, a backslash): what breaks a one-line field.
TRICKY = 'goodwill,\n"second" line\n\ttabbed\u2028sep \\ end'
ACME_NAME = 'Acme, "West"  Division'
GLOBEX_NAME = "Globex Corp."


@dataclass
class Varied:
    batch: JournalBatch
    books: factories.Books


def varied_batch(session: Session) -> Varied:
    """One batch holding purchases, covered usage, an overrun, excluded work, a reversal,
    a write-off, an expiry and a refund, for two customers."""
    books = factories.chart_of_accounts(session)
    rates = factories.rates(session)
    block = factories.block_time_type(session, rates=rates, allow_overruns=True, expire_after_months=1)
    acme_co = catalog.create_company(session, identifier="ACME", name=ACME_NAME)
    globex_co = catalog.create_company(session, identifier="GLOBEX", name=GLOBEX_NAME)
    acme = agreements.create_agreement(
        session, company_id=acme_co.id, agreement_type_id=block.id, name="ACME block", start_date=DAY
    )
    globex = agreements.create_agreement(
        session, company_id=globex_co.id, agreement_type_id=block.id, name="GLOBEX block", start_date=DAY
    )
    agreements.purchase_block(
        session, agreement_id=acme.id, units=D("10"), unit_price=D("150.00"), effective_date=DAY
    )
    agreements.purchase_block(
        session, agreement_id=acme.id, units=D("3"), unit_price=D("133.33"), effective_date=DAY
    )
    agreements.purchase_block(
        session, agreement_id=globex.id, units=D("4"), unit_price=D("100.00"), effective_date=DAY
    )

    def log(deal_id: int, company_id: int, hours: str, work: int) -> int:
        return drawdown.log_time(
            session,
            company_id=company_id,
            agreement_id=deal_id,
            work_type_id=work,
            work_role_id=rates.engineer.id,
            date=DAY,
            hours=D(hours),
            notes=TRICKY,
        ).id

    log(acme.id, acme_co.id, "3", rates.remote.id)
    reversed_id = log(acme.id, acme_co.id, "1.25", rates.remote.id)
    log(acme.id, acme_co.id, "2", rates.after_hours.id)  # excluded: STANDARD
    overrun_id = log(acme.id, acme_co.id, "10", rates.remote.id)  # 8.75 left: the rest overruns
    log(globex.id, globex_co.id, "1", rates.remote.id)
    billing.run_billing(session, through_date=DAY)
    drawdown.reverse_time_entry(session, time_entry_id=reversed_id, today=DAY)
    drawdown.reverse_time_entry(session, time_entry_id=overrun_id, today=DAY)
    agreements.adjust_agreement(session, agreement_id=acme.id, units=D("-1"), reason=TRICKY, today=DAY)
    agreements.cancel_agreement(session, agreement_id=globex.id, refund_unused=True, today=DAY)
    agreements.purchase_block(
        session, agreement_id=acme.id, units=D("2"), unit_price=D("90.00"), effective_date=DAY
    )
    expiry.expire_blocks(session, as_of=EXPIRES)

    created = batches.create_batch(session, through_date=EXPIRES)
    batch = batches.post_batch(session, batch_id=created.id)
    assert batch.status is BatchStatus.POSTED
    kinds = {i.kind for i in session.scalars(select(Invoice))}
    assert kinds == set(InvoiceKind)
    sources = set(session.scalars(select(JournalEntry.source_type)))
    assert sources == {"INVOICE", "ADJUSTMENT", "LOT_EXPIRY", "TIME_ENTRY_REVERSAL"}
    return Varied(batch=batch, books=books)


@pytest.fixture
def varied(session: Session) -> Varied:
    return varied_batch(session)


def trial(session: Session) -> dict[str, Decimal]:
    """trialBalance as net debit per account code (accounts with postings)."""
    return {r.account.code: r.debit - r.credit for r in ledger.trial_balance(session) if r.debit or r.credit}


def names_to_codes(session: Session) -> dict[str, str]:
    return {a.name: a.code for a in session.scalars(select(GLAccount))}


def export(session: Session, batch: JournalBatch, format: str, **settings: str) -> str:
    return exports.export_batch(
        session, batch_id=batch.id, format=format, settings=ExportSettings(**settings)
    )


def assert_one_line_fields(text: str, rows: list[list[str]]) -> None:
    """Every record is one physical line: no field holds a line break or a tab."""
    assert len(text.splitlines()) == len(rows)
    for row in rows:
        for value in row:
            assert not any(ch in value for ch in "\r\n\t\u2028"), value
            assert value == value.strip() and "  " not in value, value


def entry_count(session: Session, batch: JournalBatch) -> int:
    return len(session.scalars(select(JournalEntry.id).where(JournalEntry.batch_id == batch.id)).all())


def receivable_line_count(session: Session, varied: Varied) -> int:
    return len(
        session.scalars(
            select(JournalLine.id)
            .join(JournalEntry, JournalEntry.id == JournalLine.entry_id)
            .where(JournalEntry.batch_id == varied.batch.id, JournalLine.account_id == varied.books.ar.id)
        ).all()
    )


class TestOneLine:
    def test_every_whitespace_and_control_character_becomes_one_space(self) -> None:
        assert exports.one_line(TRICKY) == 'goodwill, "second" line tabbed sep \\ end'
        assert exports.one_line(" a\x00b\x85c\u2029d\x0be ") == "a b c d e"


class TestCsvAndJson:
    def test_csv_matches_the_trial_balance(self, session: Session, varied: Varied) -> None:
        text = export(session, varied.batch, "CSV")
        rows = list(csv.reader(io.StringIO(text)))
        assert_one_line_fields(text, rows)
        records = [dict(zip(rows[0], row, strict=True)) for row in rows[1:]]
        net: dict[str, Decimal] = defaultdict(lambda: ZERO)
        by_entry: dict[str, Decimal] = defaultdict(lambda: ZERO)
        for row in records:
            net[row["account_code"]] += D(row["debit"]) - D(row["credit"])
            by_entry[row["entry_id"]] += D(row["debit"]) - D(row["credit"])
        assert {code: v for code, v in net.items() if v} == trial(session)
        assert len(by_entry) == entry_count(session, varied.batch) and set(by_entry.values()) == {ZERO}

    def test_json_entries_balance_and_total(self, session: Session, varied: Varied) -> None:
        doc = json.loads(export(session, varied.batch, "JSON"))
        assert doc["batch"] == varied.batch.identifier and doc["status"] == "POSTED"
        for entry in doc["entries"]:
            assert "\n" not in entry["memo"]
            assert sum(D(line["debit"]) for line in entry["lines"]) == sum(
                D(line["credit"]) for line in entry["lines"]
            )
        assert D(doc["totalDebit"]) == D(doc["totalCredit"]) == varied.batch.total_debit


class TestQuickBooksOnline:
    HEADER: ClassVar[list[str]] = [
        "Journal No.",
        "Journal Date",
        "Account",
        "Debits",
        "Credits",
        "Description",
        "Name",
    ]

    def test_journal_entries_balance_and_total_the_trial_balance(
        self, session: Session, varied: Varied
    ) -> None:
        text = export(session, varied.batch, "QBO_CSV")
        rows = list(csv.reader(io.StringIO(text)))
        assert rows[0] == self.HEADER
        assert_one_line_fields(text, rows)
        records = [dict(zip(self.HEADER, row, strict=True)) for row in rows[1:]]
        codes = names_to_codes(session)
        net: dict[str, Decimal] = defaultdict(lambda: ZERO)
        journals: dict[str, Decimal] = defaultdict(lambda: ZERO)
        dates: dict[str, set[str]] = defaultdict(set)
        for row in records:
            # One side per row, two decimals, no thousands separator.
            assert (row["Debits"] == "") != (row["Credits"] == "")
            amount = row["Debits"] or row["Credits"]
            assert D(amount) > 0 and amount == f"{D(amount):.2f}"
            signed = D(row["Debits"] or "0") - D(row["Credits"] or "0")
            net[codes[row["Account"]]] += signed
            journals[row["Journal No."]] += signed
            dates[row["Journal No."]].add(row["Journal Date"])
        assert {code: v for code, v in net.items() if v} == trial(session)
        assert len(journals) == entry_count(session, varied.batch)
        assert set(journals.values()) == {ZERO}
        assert all(len(d) == 1 for d in dates.values())
        assert {d for ds in dates.values() for d in ds} == {"05/04/2026", "06/04/2026"}

    def test_the_customer_is_named_on_every_receivable_line(self, session: Session, varied: Varied) -> None:
        rows = list(csv.DictReader(io.StringIO(export(session, varied.batch, "QBO_CSV"))))
        receivable = [r for r in rows if r["Account"] == "Accounts Receivable"]
        assert len(receivable) == receivable_line_count(session, varied) >= 6
        assert {r["Name"] for r in receivable} == {exports.one_line(ACME_NAME), GLOBEX_NAME}
        assert {r["Name"] for r in rows if r["Account"] != "Accounts Receivable"} == {""}

    def test_the_date_format_follows_the_setting(self, session: Session, varied: Varied) -> None:
        rows = list(
            csv.DictReader(
                io.StringIO(export(session, varied.batch, "QBO_CSV", qbo_date_format="DD/MM/YYYY"))
            )
        )
        assert {r["Journal Date"] for r in rows} == {"04/05/2026", "04/06/2026"}
        with pytest.raises(InvalidInput, match="date format"):
            export(session, varied.batch, "QBO_CSV", qbo_date_format="YYYY/DD/MM")


class TestQuickBooksDesktopIif:
    COLUMNS: ClassVar[list[str]] = ["TRNSTYPE", "DATE", "ACCNT", "NAME", "AMOUNT", "DOCNUM", "MEMO"]

    def parse(self, text: str) -> list[list[dict[str, str]]]:
        rows = list(csv.reader(io.StringIO(text), delimiter="\t", quoting=csv.QUOTE_NONE))
        assert rows[:3] == [
            ["!TRNS", "TRNSID", *self.COLUMNS],
            ["!SPL", "SPLID", *self.COLUMNS],
            ["!ENDTRNS"],
        ]
        assert_one_line_fields(text, rows)
        transactions: list[list[dict[str, str]]] = []
        open_transaction = False
        for row in rows[3:]:
            if row[0] == "TRNS":
                assert not open_transaction
                open_transaction = True
                transactions.append([dict(zip(["kind", "ID", *self.COLUMNS], row, strict=True))])
            elif row[0] == "SPL":
                assert open_transaction
                transactions[-1].append(dict(zip(["kind", "ID", *self.COLUMNS], row, strict=True)))
            else:
                assert row == ["ENDTRNS"] and open_transaction
                open_transaction = False
        assert not open_transaction
        return transactions

    def test_transactions_balance_and_total_the_trial_balance(self, session: Session, varied: Varied) -> None:
        transactions = self.parse(export(session, varied.batch, "IIF"))
        codes = names_to_codes(session)
        net: dict[str, Decimal] = defaultdict(lambda: ZERO)
        for transaction in transactions:
            assert sum(D(s["AMOUNT"]) for s in transaction) == 0
            assert {s["TRNSTYPE"] for s in transaction} == {"GENERAL JOURNAL"}
            assert len({s["DOCNUM"] for s in transaction} | {s["DATE"] for s in transaction}) == 2
            for split in transaction:
                net[codes[split["ACCNT"]]] += D(split["AMOUNT"])
        assert len(transactions) == entry_count(session, varied.batch)
        assert {code: v for code, v in net.items() if v} == trial(session)

    def test_trnsid_names_the_transaction_and_splid_each_split(
        self, session: Session, varied: Varied
    ) -> None:
        transactions = self.parse(export(session, varied.batch, "IIF"))
        trnsids = [t[0]["ID"] for t in transactions]
        entry_ids = session.scalars(select(JournalEntry.id).where(JournalEntry.batch_id == varied.batch.id))
        assert sorted(int(i) for i in trnsids) == sorted(entry_ids)
        splids = [s["ID"] for t in transactions for s in t[1:]]
        assert len(set(splids)) == len(splids)
        line_ids = {str(i) for i in session.scalars(select(JournalLine.id))}
        assert set(splids) <= line_ids

    def test_the_customer_is_named_on_every_receivable_line(self, session: Session, varied: Varied) -> None:
        splits = [s for t in self.parse(export(session, varied.batch, "IIF")) for s in t]
        receivable = [s for s in splits if s["ACCNT"] == "Accounts Receivable"]
        assert len(receivable) == receivable_line_count(session, varied)
        assert {s["NAME"] for s in receivable} == {exports.one_line(ACME_NAME), GLOBEX_NAME}
        assert {s["NAME"] for s in splits if s["ACCNT"] != "Accounts Receivable"} == {""}


class TestXero:
    HEADER: ClassVar[list[str]] = [
        "*Narration",
        "*Date",
        "Description",
        "*AccountCode",
        "*TaxRate",
        "*Amount",
    ]

    def test_journals_balance_with_the_configured_tax_rate_and_receivable_account(
        self, session: Session, varied: Varied
    ) -> None:
        text = export(
            session, varied.batch, "XERO_CSV", xero_tax_rate="No GST", xero_receivable_account="1150"
        )
        rows = list(csv.reader(io.StringIO(text)))
        assert rows[0] == self.HEADER
        assert_one_line_fields(text, rows)
        records = [dict(zip(self.HEADER, row, strict=True)) for row in rows[1:]]
        journals: dict[tuple[str, str], Decimal] = defaultdict(lambda: ZERO)
        net: dict[str, Decimal] = defaultdict(lambda: ZERO)
        for row in records:
            journals[row["*Narration"], row["*Date"]] += D(row["*Amount"])
            net[row["*AccountCode"]] += D(row["*Amount"])
            assert row["*TaxRate"] == "No GST"
        assert len(journals) == entry_count(session, varied.batch)
        assert set(journals.values()) == {ZERO}
        expected = trial(session)
        expected["1150"] = expected.pop("1100")
        assert {code: v for code, v in net.items() if v} == expected
        receivable = [r for r in records if r["*AccountCode"] == "1150"]
        assert len(receivable) == receivable_line_count(session, varied)
        assert all(
            r["Description"].startswith((exports.one_line(ACME_NAME), GLOBEX_NAME)) for r in receivable
        )

    def test_by_default_the_receivable_account_is_the_ar_code_and_tax_exempt(
        self, session: Session, varied: Varied
    ) -> None:
        records = list(csv.DictReader(io.StringIO(export(session, varied.batch, "XERO_CSV"))))
        assert {r["*TaxRate"] for r in records} == {"Tax Exempt"}
        assert "1100" in {r["*AccountCode"] for r in records}

    def test_a_batch_over_300_lines_is_split_between_whole_journals(self, session: Session) -> None:
        factories.chart_of_accounts(session)
        rates = factories.rates(session)
        deal = factories.agreement(session, agreement_type=factories.block_time_type(session, rates=rates))
        for _ in range(160):  # 160 purchases: 320 journal lines
            agreements.purchase_block(
                session, agreement_id=deal.id, units=D("1"), unit_price=D("10.00"), effective_date=DAY
            )
        created = batches.create_batch(session, through_date=DAY)
        batch = batches.post_batch(session, batch_id=created.id)

        files = exports.export_files(session, batch_id=batch.id, format="XERO_CSV")

        assert [f.name for f in files] == [
            f"{batch.identifier}-xero-1-of-2.csv",
            f"{batch.identifier}-xero-2-of-2.csv",
        ]
        seen: dict[str, int] = {}
        lines = 0
        for number, file in enumerate(files):
            rows = list(csv.reader(io.StringIO(file.content)))
            assert rows[0] == self.HEADER and len(rows) <= exports.XERO_MAX_LINES
            journals: dict[str, Decimal] = defaultdict(lambda: ZERO)
            for row in rows[1:]:
                journals[row[0]] += D(row[5])
                assert seen.setdefault(row[0], number) == number  # a journal never spans two files
            assert set(journals.values()) == {ZERO}
            lines += len(rows) - 1
        assert lines == 320 and len(seen) == 160
        with pytest.raises(InvalidInput, match="is 2 files"):
            exports.export_batch(session, batch_id=batch.id, format="XERO_CSV")
        assert len(exports.export_files(session, batch_id=batch.id, format="QBO_CSV")) == 1


class TestBeancount:
    def load(self, text: str) -> list[bc.Directive]:
        entries, errors, options = loader.load_string(text)
        assert errors == [], errors
        assert options["operating_currency"] == ["USD"]
        return entries

    def test_beancount_loads_it_without_errors_and_its_balances_are_the_trial_balance(
        self, session: Session, varied: Varied
    ) -> None:
        text = export(session, varied.batch, "BEANCOUNT")
        entries = self.load(text)
        opens = {e.account: e for e in entries if isinstance(e, bc.Open)}
        transactions = [e for e in entries if isinstance(e, bc.Transaction)]
        assert len(transactions) == entry_count(session, varied.batch)
        net: dict[str, Decimal] = defaultdict(lambda: ZERO)
        for transaction in transactions:
            assert sum(p.units.number for p in transaction.postings) == 0
            for posting in transaction.postings:
                assert posting.units.currency == "USD"
                net[opens[posting.account].meta["code"]] += posting.units.number
        assert {code: v for code, v in net.items() if v} == trial(session)

    def test_one_transaction_per_entry_in_date_order_with_its_source(
        self, session: Session, varied: Varied
    ) -> None:
        text = export(session, varied.batch, "BEANCOUNT")
        transactions = [e for e in self.load(text) if isinstance(e, bc.Transaction)]
        rows = (
            session.execute(
                select(JournalEntry)
                .where(JournalEntry.batch_id == varied.batch.id)
                .order_by(JournalEntry.date, JournalEntry.id)
            )
            .scalars()
            .all()
        )
        assert [
            (t.date, t.meta["entry-id"], t.meta["source-type"], t.meta["source-id"]) for t in transactions
        ] == [(e.date, str(e.id), e.source_type, str(e.source_id)) for e in rows]
        assert {t.meta["batch"] for t in transactions} == {varied.batch.identifier}
        # The file itself is in date order, and free text stayed on one line.
        dated = [line[:10] for line in text.splitlines() if line[:1].isdigit()]
        assert dated == sorted(dated)
        write_off = next(t for t in transactions if t.meta["source-type"] == "ADJUSTMENT")
        assert write_off.narration == "Write-off: " + exports.one_line(TRICKY)
        assert write_off.payee == exports.one_line(ACME_NAME)

    def test_account_names_come_from_code_and_name(self, session: Session, varied: Varied) -> None:
        entries = self.load(export(session, varied.batch, "BEANCOUNT"))
        assert {e.account for e in entries if isinstance(e, bc.Open)} == {
            "Assets:1100-Accounts-Receivable",
            "Liabilities:2400-Deferred-Revenue",
            "Income:4000-Service-Revenue",
            "Income:4200-Breakage",
        }

    def test_odd_codes_and_names_still_make_valid_distinct_accounts(self, session: Session) -> None:
        accounts = [
            GLAccount(id=1, code="4.000", name="revenue: Ünïcode & co", type=AccountType.REVENUE),
            GLAccount(id=2, code="4-000", name="Revenue Unicode co", type=AccountType.REVENUE),
            GLAccount(id=3, code="--", name="!!!", type=AccountType.EXPENSE),
        ]
        names = exports.beancount_account_names(accounts)
        assert names == {
            1: "Income:4-000-revenue-Unicode-co",
            2: "Income:4-000-Revenue-Unicode-co",
            3: "Expenses:A3",
        }
        ledger_text = "".join(f"2026-01-01 open {name}\n" for name in names.values())
        assert loader.load_string(ledger_text)[1] == []


def in_memory_batch(
    memo: str, customer: str, code: str, name: str
) -> tuple[JournalBatch, list[exports.ExportLine]]:
    """One two-line entry built in memory, so that hypothesis can try any text quickly."""
    batch = JournalBatch(
        identifier="JB-000001", status=BatchStatus.POSTED, total_debit=D("1.00"), total_credit=D("1.00")
    )
    entry = JournalEntry(id=1, date=DAY, memo=memo, source_type="INVOICE", source_id=1)
    ar = GLAccount(id=1, code=code, name=name, type=AccountType.ASSET)
    revenue = GLAccount(id=2, code="4000", name="Service Revenue", type=AccountType.REVENUE)
    company = Company(id=1, identifier="X", name=customer)
    lines = [
        exports.ExportLine(entry, 1, ar, D("1.00"), ZERO, receivable=True, customer=company),
        exports.ExportLine(entry, 2, revenue, ZERO, D("1.00"), receivable=False, customer=company),
    ]
    return batch, lines


class TestAnyText:
    @given(
        memo=st.text(), customer=st.text(min_size=1), code=st.text(min_size=1, max_size=32), name=st.text()
    )
    def test_any_text_stays_one_line_and_beancount_still_loads_it(
        self, memo: str, customer: str, code: str, name: str
    ) -> None:
        batch, lines = in_memory_batch(memo, customer, code, name)
        files = {
            f: exports.render(batch, lines, format=f, settings=ExportSettings())[0].content
            for f in exports.FORMATS
        }
        entries, errors, _ = loader.load_string(files["BEANCOUNT"])
        assert errors == []
        (transaction,) = [e for e in entries if isinstance(e, bc.Transaction)]
        assert transaction.narration == exports.one_line(memo)
        assert transaction.payee == (exports.one_line(customer) or None)
        assert len(files["JSON"].splitlines()) == len(
            json.dumps(json.loads(files["JSON"]), indent=2).splitlines()
        )
        for fmt in ("CSV", "QBO_CSV", "XERO_CSV", "IIF"):
            text = files[fmt]
            if fmt == "IIF":
                rows = list(csv.reader(io.StringIO(text), delimiter="\t", quoting=csv.QUOTE_NONE))
            else:
                rows = list(csv.reader(io.StringIO(text)))
            assert_one_line_fields(text, rows)


class TestRefusals:
    def test_unknown_format_is_refused(self, session: Session, varied: Varied) -> None:
        with pytest.raises(InvalidInput):
            exports.export_batch(session, batch_id=varied.batch.id, format="PDF")

    def test_find_batch_by_identifier_or_id(self, session: Session, varied: Varied) -> None:
        assert exports.find_batch(session, reference=varied.batch.identifier).id == varied.batch.id
        assert exports.find_batch(session, reference=str(varied.batch.id)).id == varied.batch.id
