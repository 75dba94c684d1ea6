"""Each export format parsed back: it must say what the ledger says."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
from collections import defaultdict
from decimal import Decimal

import pytest
from sqlalchemy.orm import Session

from accounting import agreements, batches, billing, drawdown, exports, ledger
from accounting.errors import InvalidInput
from models import JournalBatch
from tests import factories

D = Decimal
DAY = dt.date(2026, 5, 4)


@pytest.fixture
def batch(session: Session) -> JournalBatch:
    factories.chart_of_accounts(session)
    rates = factories.rates(session)
    deal = factories.agreement(
        session, agreement_type=factories.block_time_type(session, rates=rates, allow_overruns=True)
    )
    agreements.purchase_block(
        session, agreement_id=deal.id, units=D("3"), unit_price=D("133.33"), effective_date=DAY
    )
    for hours, work in (("1.25", rates.remote), ("2", rates.after_hours), ("2.5", rates.remote)):
        drawdown.log_time(
            session,
            company_id=deal.company_id,
            agreement_id=deal.id,
            work_type_id=work.id,
            work_role_id=rates.engineer.id,
            date=DAY,
            hours=D(hours),
            notes='tab\there, comma, "q"',
        )
    billing.run_billing(session, through_date=DAY)
    created = batches.create_batch(session, through_date=DAY)
    return batches.post_batch(session, batch_id=created.id)


def trial(session: Session) -> dict[str, Decimal]:
    return {r.account.code: r.debit - r.credit for r in ledger.trial_balance(session) if r.debit or r.credit}


class TestExports:
    def test_csv_matches_the_trial_balance(self, session: Session, batch: JournalBatch) -> None:
        rows = list(
            csv.DictReader(io.StringIO(exports.export_batch(session, batch_id=batch.id, format="CSV")))
        )
        net: dict[str, Decimal] = defaultdict(lambda: D("0"))
        for row in rows:
            net[row["account_code"]] += D(row["debit"]) - D(row["credit"])
        assert {code: v for code, v in net.items() if v} == trial(session)
        assert {row["batch"] for row in rows} == {batch.identifier}

    def test_json_entries_balance_and_total(self, session: Session, batch: JournalBatch) -> None:
        doc = json.loads(exports.export_batch(session, batch_id=batch.id, format="JSON"))
        assert doc["batch"] == batch.identifier and doc["status"] == "POSTED"
        for entry in doc["entries"]:
            assert sum(D(line["debit"]) for line in entry["lines"]) == sum(
                D(line["credit"]) for line in entry["lines"]
            )
        assert D(doc["totalDebit"]) == D(doc["totalCredit"]) == batch.total_debit

    def test_iif_transactions_balance(self, session: Session, batch: JournalBatch) -> None:
        text = exports.export_batch(session, batch_id=batch.id, format="IIF")
        lines = text.splitlines()
        assert lines[:3] == [
            "!TRNS\tTRNSID\tTRNSTYPE\tDATE\tACCNT\tAMOUNT\tDOCNUM\tMEMO",
            "!SPL\tSPLID\tTRNSTYPE\tDATE\tACCNT\tAMOUNT\tDOCNUM\tMEMO",
            "!ENDTRNS",
        ]
        transactions: list[list[Decimal]] = []
        for line in lines[3:]:
            fields = line.split("\t")
            if fields[0] == "TRNS":
                transactions.append([D(fields[5])])
                assert len(fields) == 8 and fields[2] == "GENERAL JOURNAL"
            elif fields[0] == "SPL":
                transactions[-1].append(D(fields[5]))
            else:
                assert fields == ["ENDTRNS"]
        assert len(transactions) == 3  # purchase, usage, one STANDARD
        assert all(sum(t) == 0 for t in transactions)
        assert sum(abs(a) for t in transactions for a in t) == 2 * batch.total_debit

    def test_xero_amounts_sum_to_zero_per_journal(self, session: Session, batch: JournalBatch) -> None:
        rows = list(
            csv.DictReader(io.StringIO(exports.export_batch(session, batch_id=batch.id, format="XERO_CSV")))
        )
        journals: dict[str, Decimal] = defaultdict(lambda: D("0"))
        for row in rows:
            journals[row["*Narration"]] += D(row["*Amount"])
            assert row["*Date"] == DAY.strftime("%d/%m/%Y")
        assert len(journals) == 3 and all(v == 0 for v in journals.values())

    def test_unknown_format_is_refused(self, session: Session, batch: JournalBatch) -> None:
        with pytest.raises(InvalidInput):
            exports.export_batch(session, batch_id=batch.id, format="PDF")
