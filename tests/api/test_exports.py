"""The exports through HTTP: every format as one file, the Xero split as exportFiles,
and the installation's settings deciding what differs between packages (SPEC §4)."""

from __future__ import annotations

import csv
import datetime as dt
import io
from decimal import Decimal

import httpx
from beancount import loader
from sqlalchemy import Engine

from accounting import agreements, batches
from api.app import create_app
from models.db import unit_of_work
from models.enums import Role
from models.settings import Settings
from testkit import factories
from tests.accounting.test_exports import varied_batch
from tests.api.helpers import Client, create_token

D = Decimal
DAY = dt.date(2026, 5, 4)
FILES = (
    "query($id: ID!, $f: ExportFormat!) "
    "{ journalBatch(id: $id) { exportFiles(format: $f) { name content } } }"
)
ONE = "query($id: ID!, $f: ExportFormat!) { journalBatch(id: $id) { export(format: $f) } }"


def committed_varied_batch(engine: Engine) -> tuple[str, str]:
    with unit_of_work(engine) as session:
        batch = varied_batch(session).batch
        return str(batch.id), batch.identifier


class TestExportsOverHttp:
    async def test_every_format_is_one_file_named_after_the_batch(self, admin: Client, db: Engine) -> None:
        batch_id, identifier = committed_varied_batch(db)
        names = {}
        for fmt in ("CSV", "JSON", "IIF", "XERO_CSV", "QBO_CSV", "BEANCOUNT"):
            files = (await admin.data(FILES, id=batch_id, f=fmt))["journalBatch"]["exportFiles"]
            one = (await admin.data(ONE, id=batch_id, f=fmt))["journalBatch"]["export"]
            assert len(files) == 1 and files[0]["content"] == one
            names[fmt] = files[0]["name"]
        assert names == {
            "CSV": f"{identifier}.csv",
            "JSON": f"{identifier}.json",
            "IIF": f"{identifier}.iif",
            "XERO_CSV": f"{identifier}-xero.csv",
            "QBO_CSV": f"{identifier}-qbo.csv",
            "BEANCOUNT": f"{identifier}.beancount",
        }
        ledger_text = (await admin.data(ONE, id=batch_id, f="BEANCOUNT"))["journalBatch"]["export"]
        assert loader.load_string(ledger_text)[1] == []

    async def test_the_installation_settings_reach_the_files(self, settings: Settings, db: Engine) -> None:
        batch_id, _ = committed_varied_batch(db)
        custom = settings.model_copy(
            update={
                "qbo_date_format": "DD/MM/YYYY",
                "xero_tax_rate": "No VAT",
                "xero_receivable_account": "1150",
                "currency": "GBP",
            }
        )
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=create_app(custom)), base_url="http://blocktime.test"
        ) as http:
            client = Client(http, create_token(db, Role.ACCOUNTANT))
            xero = (await client.data(ONE, id=batch_id, f="XERO_CSV"))["journalBatch"]["export"]
            qbo = (await client.data(ONE, id=batch_id, f="QBO_CSV"))["journalBatch"]["export"]
            bean = (await client.data(ONE, id=batch_id, f="BEANCOUNT"))["journalBatch"]["export"]
        rows = list(csv.DictReader(io.StringIO(xero)))
        assert {r["*TaxRate"] for r in rows} == {"No VAT"}
        assert "1150" in {r["*AccountCode"] for r in rows} and "1100" not in {r["*AccountCode"] for r in rows}
        assert {r["Journal Date"] for r in csv.DictReader(io.StringIO(qbo))} == {"04/05/2026", "04/06/2026"}
        _, errors, options = loader.load_string(bean)
        assert errors == [] and options["operating_currency"] == ["GBP"]

    async def test_a_xero_export_over_300_lines_comes_as_files(self, admin: Client, db: Engine) -> None:
        with unit_of_work(db) as session:
            factories.chart_of_accounts(session)
            rates = factories.rates(session)
            deal = factories.agreement(
                session, agreement_type=factories.block_time_type(session, rates=rates)
            )
            for _ in range(151):
                agreements.purchase_block(
                    session, agreement_id=deal.id, units=D("1"), unit_price=D("10.00"), effective_date=DAY
                )
            batch = batches.post_batch(session, batch_id=batches.create_batch(session, through_date=DAY).id)
            batch_id, identifier = str(batch.id), batch.identifier

        code, message = await admin.error(ONE, id=batch_id, f="XERO_CSV")
        assert code == "BAD_USER_INPUT" and "is 2 files" in message and "exportFiles" in message
        files = (await admin.data(FILES, id=batch_id, f="XERO_CSV"))["journalBatch"]["exportFiles"]
        assert [f["name"] for f in files] == [
            f"{identifier}-xero-1-of-2.csv",
            f"{identifier}-xero-2-of-2.csv",
        ]
        assert [len(f["content"].splitlines()) for f in files] == [
            299,
            5,
        ]  # 149 and 2 journals, each + header
