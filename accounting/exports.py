"""A posted batch for the accounting package: CSV, JSON, QuickBooks IIF, Xero CSV (SPEC §4)."""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.orm import Session

from accounting.errors import InvalidInput, NotFound
from models import GLAccount, JournalBatch, JournalEntry, JournalLine

FORMATS = ("CSV", "JSON", "IIF", "XERO_CSV")


@dataclass(frozen=True)
class ExportLine:
    entry: JournalEntry
    account: GLAccount
    debit: Decimal
    credit: Decimal


def _lines(session: Session, batch_id: int) -> tuple[JournalBatch, list[ExportLine]]:
    batch = session.get(JournalBatch, batch_id)
    if batch is None:
        raise NotFound("journal batch", batch_id)
    rows = session.execute(
        select(JournalEntry, JournalLine, GLAccount)
        .join(JournalLine, JournalLine.entry_id == JournalEntry.id)
        .join(GLAccount, GLAccount.id == JournalLine.account_id)
        .where(JournalEntry.batch_id == batch_id)
        .order_by(JournalEntry.date, JournalEntry.id, JournalLine.id)
    ).all()
    return batch, [ExportLine(entry, account, line.debit, line.credit) for entry, line, account in rows]


def export_batch(session: Session, *, batch_id: int, format: str) -> str:
    batch, lines = _lines(session, batch_id)
    if format == "CSV":
        return _csv(batch, lines)
    if format == "JSON":
        return _json(batch, lines)
    if format == "IIF":
        return _iif(batch, lines)
    if format == "XERO_CSV":
        return _xero(batch, lines)
    raise InvalidInput(f"unknown export format {format}; expected one of {', '.join(FORMATS)}")


def _csv(batch: JournalBatch, lines: list[ExportLine]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(
        [
            "batch",
            "entry_id",
            "date",
            "memo",
            "source_type",
            "source_id",
            "account_code",
            "account_name",
            "debit",
            "credit",
        ]
    )
    for line in lines:
        writer.writerow(
            [
                batch.identifier,
                line.entry.id,
                line.entry.date.isoformat(),
                line.entry.memo,
                line.entry.source_type,
                line.entry.source_id,
                line.account.code,
                line.account.name,
                f"{line.debit:.2f}",
                f"{line.credit:.2f}",
            ]
        )
    return out.getvalue()


def _json(batch: JournalBatch, lines: list[ExportLine]) -> str:
    entries: dict[int, dict[str, object]] = {}
    entry_lines: dict[int, list[dict[str, str]]] = {}
    for line in lines:
        if line.entry.id not in entries:
            entry_lines[line.entry.id] = []
            entries[line.entry.id] = {
                "id": str(line.entry.id),
                "date": line.entry.date.isoformat(),
                "memo": line.entry.memo,
                "sourceType": line.entry.source_type,
                "sourceId": str(line.entry.source_id),
                "lines": entry_lines[line.entry.id],
            }
        entry_lines[line.entry.id].append(
            {
                "accountCode": line.account.code,
                "accountName": line.account.name,
                "debit": f"{line.debit:.2f}",
                "credit": f"{line.credit:.2f}",
            }
        )
    return json.dumps(
        {
            "batch": batch.identifier,
            "status": batch.status.value,
            "postedAt": batch.posted_at.isoformat() if batch.posted_at else None,
            "totalDebit": f"{batch.total_debit:.2f}",
            "totalCredit": f"{batch.total_credit:.2f}",
            "entries": list(entries.values()),
        },
        indent=2,
    )


def _iif_text(value: str) -> str:
    return value.replace("\t", " ").replace("\n", " ").replace("\r", " ")


def _iif(batch: JournalBatch, lines: list[ExportLine]) -> str:
    """QuickBooks IIF general journal: a TRNS line, SPL lines, ENDTRNS; debits positive."""
    rows = [
        "!TRNS\tTRNSID\tTRNSTYPE\tDATE\tACCNT\tAMOUNT\tDOCNUM\tMEMO",
        "!SPL\tSPLID\tTRNSTYPE\tDATE\tACCNT\tAMOUNT\tDOCNUM\tMEMO",
        "!ENDTRNS",
    ]
    current: int | None = None
    for line in lines:
        amount = line.debit - line.credit
        tag = "TRNS" if line.entry.id != current else "SPL"
        if tag == "TRNS" and current is not None:
            rows.append("ENDTRNS")
        current = line.entry.id
        rows.append(
            "\t".join(
                [
                    tag,
                    str(line.entry.id),
                    "GENERAL JOURNAL",
                    line.entry.date.strftime("%m/%d/%Y"),
                    _iif_text(line.account.name),
                    f"{amount:.2f}",
                    f"{batch.identifier}-{line.entry.id}",
                    _iif_text(line.entry.memo),
                ]
            )
        )
    if current is not None:
        rows.append("ENDTRNS")
    return "\n".join(rows) + "\n"


def _xero(batch: JournalBatch, lines: list[ExportLine]) -> str:
    """Xero manual journal import: one narration per entry, debits positive, credits negative."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["*Narration", "*Date", "Description", "*AccountCode", "*TaxRate", "*Amount"])
    for line in lines:
        writer.writerow(
            [
                f"{batch.identifier}-{line.entry.id} {line.entry.memo}"[:255],
                line.entry.date.strftime("%d/%m/%Y"),
                line.entry.memo[:255],
                line.account.code,
                "Tax Exempt",
                f"{line.debit - line.credit:.2f}",
            ]
        )
    return out.getvalue()
