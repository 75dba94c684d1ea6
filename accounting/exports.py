"""A posted batch for the accounting package (SPEC §4, Exports).

CSV and JSON for people and scripts; QuickBooks Desktop IIF, QuickBooks Online's
journal-entry CSV, Xero's manual-journal CSV and a beancount ledger, each written to
import into its package as it is: every entry balances, accounts are named
unambiguously (GL account codes and names are unique), receivable lines name the
customer where the format has a place for one, free text is one line, and what
differs between installations comes from `ExportSettings`.

An export is one or more files: Xero imports at most 300 lines a file, so a large
batch's Xero export is split between whole journals into several files. Every other
format is always one file.
"""

from __future__ import annotations

import csv
import io
import json
import re
import unicodedata
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING

from sqlalchemy import select
from sqlalchemy.orm import Session

from accounting.errors import InvalidInput, NotFound
from accounting.posting import ADJUSTMENT, INVOICE, LOT_EXPIRY, REVERSAL
from accounting.records import chunks
from accounting.validation import one_line
from models import (
    Adjustment,
    Agreement,
    Company,
    GLAccount,
    GLMapping,
    Invoice,
    JournalBatch,
    JournalEntry,
    JournalLine,
    Lot,
    LotMovement,
    TimeEntry,
)
from models.enums import AccountType, MappingKind

if TYPE_CHECKING:
    from models.settings import Settings

FORMATS = ("CSV", "JSON", "IIF", "XERO_CSV", "QBO_CSV", "BEANCOUNT")

# The date layouts QuickBooks Online's import offers (its company's region decides).
QBO_DATE_FORMATS = {"MM/DD/YYYY": "%m/%d/%Y", "DD/MM/YYYY": "%d/%m/%Y"}
# "You can import up to 300 lines in one template file" (Xero help, manual journal
# import); the header row is counted, so 299 journal lines a file.
XERO_MAX_LINES = 300
XERO_TEXT_LIMIT = 255
_BEANCOUNT_ROOTS = {
    AccountType.ASSET: "Assets",
    AccountType.LIABILITY: "Liabilities",
    AccountType.EQUITY: "Equity",
    AccountType.REVENUE: "Income",
    AccountType.EXPENSE: "Expenses",
}
_BEANCOUNT_CURRENCY = re.compile(r"[A-Z][A-Z0-9'._-]{0,22}[A-Z0-9]|[A-Z]")


@dataclass(frozen=True)
class ExportSettings:
    """What differs between installations (README, Configuration)."""

    currency: str = "USD"
    qbo_date_format: str = "MM/DD/YYYY"
    xero_tax_rate: str = "Tax Exempt"
    # Xero refuses manual journals on its system Accounts Receivable account: receivable
    # lines go to this account code instead (None: the AR account's own code).
    xero_receivable_account: str | None = None

    @classmethod
    def from_settings(cls, settings: Settings) -> ExportSettings:
        return cls(
            currency=settings.currency,
            qbo_date_format=settings.qbo_date_format,
            xero_tax_rate=settings.xero_tax_rate,
            xero_receivable_account=settings.xero_receivable_account or None,
        )


@dataclass(frozen=True)
class ExportFile:
    name: str
    content: str


@dataclass(frozen=True)
class ExportLine:
    entry: JournalEntry
    line_id: int
    account: GLAccount
    debit: Decimal
    credit: Decimal
    receivable: bool
    customer: Company | None

    @property
    def amount(self) -> Decimal:
        """Debits positive, credits negative (IIF, Xero, beancount)."""
        return self.debit - self.credit

    @property
    def name(self) -> str:
        """The customer on a receivable line (IIF NAME, QBO Name); blank elsewhere."""
        return one_line(self.customer.name) if self.receivable and self.customer else ""


def export_files(
    session: Session, *, batch_id: int, format: str, settings: ExportSettings | None = None
) -> list[ExportFile]:
    """The batch in `format`, as the files to import, in order (SPEC §4)."""
    if format not in FORMATS:
        raise InvalidInput(f"unknown export format {format}; expected one of {', '.join(FORMATS)}")
    batch, lines = _lines(session, batch_id)
    return render(batch, lines, format=format, settings=settings or ExportSettings())


def render(
    batch: JournalBatch, lines: list[ExportLine], *, format: str, settings: ExportSettings
) -> list[ExportFile]:
    """The files of `format` for a batch's lines (in date order), without a database."""
    stem = batch.identifier
    if format == "CSV":
        return [ExportFile(f"{stem}.csv", _csv(batch, lines))]
    if format == "JSON":
        return [ExportFile(f"{stem}.json", _json(batch, lines))]
    if format == "IIF":
        return [ExportFile(f"{stem}.iif", _iif(batch, lines))]
    if format == "QBO_CSV":
        return [ExportFile(f"{stem}-qbo.csv", _qbo(batch, lines, settings))]
    if format == "BEANCOUNT":
        return [ExportFile(f"{stem}.beancount", _beancount(batch, lines, settings))]
    if format != "XERO_CSV":
        raise InvalidInput(f"unknown export format {format}; expected one of {', '.join(FORMATS)}")
    parts = _xero(batch, lines, settings)
    if len(parts) == 1:
        return [ExportFile(f"{stem}-xero.csv", parts[0])]
    return [ExportFile(f"{stem}-xero-{n}-of-{len(parts)}.csv", content) for n, content in enumerate(parts, 1)]


def export_batch(
    session: Session, *, batch_id: int, format: str, settings: ExportSettings | None = None
) -> str:
    """The batch in `format` as one file; a Xero export too large for one file is refused
    with the number of files it needs (export_files delivers them)."""
    files = export_files(session, batch_id=batch_id, format=format, settings=settings)
    if len(files) > 1:
        raise InvalidInput(
            f"the {format} export of this batch is {len(files)} files (Xero imports at most "
            f"{XERO_MAX_LINES} lines a file): fetch them with exportFiles or `blocktime export`"
        )
    return files[0].content


def find_batch(session: Session, *, reference: str) -> JournalBatch:
    """A batch by its identifier (JB-000001) or its id."""
    reference = reference.strip()
    batch = session.scalar(select(JournalBatch).where(JournalBatch.identifier == reference))
    if batch is None and reference.isdigit():
        batch = session.get(JournalBatch, int(reference))
    if batch is None:
        raise NotFound("journal batch", reference)
    return batch


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
    # Receivable lines are those on the ACCOUNTS_RECEIVABLE mapping's account.
    receivable = set(
        session.scalars(select(GLMapping.account_id).where(GLMapping.kind == MappingKind.ACCOUNTS_RECEIVABLE))
    )
    customers = _customers(session, {entry for entry, _, _ in rows})
    return batch, [
        ExportLine(
            entry=entry,
            line_id=line.id,
            account=account,
            debit=line.debit,
            credit=line.credit,
            receivable=account.id in receivable,
            customer=customers.get(entry.id),
        )
        for entry, line, account in rows
    ]


def _customers(session: Session, entries: set[JournalEntry]) -> dict[int, Company]:
    """The company each entry's source belongs to, by entry id, in a few queries."""
    by_source: dict[str, dict[int, list[int]]] = defaultdict(lambda: defaultdict(list))
    for entry in entries:
        by_source[entry.source_type][entry.source_id].append(entry.id)
    lookups = {
        INVOICE: (Invoice.id, Invoice.company_id, ()),
        REVERSAL: (TimeEntry.id, TimeEntry.company_id, ()),
        ADJUSTMENT: (
            Adjustment.id,
            Agreement.company_id,
            ((Agreement, Agreement.id == Adjustment.agreement_id),),
        ),
        LOT_EXPIRY: (
            LotMovement.id,
            Agreement.company_id,
            ((Lot, Lot.id == LotMovement.lot_id), (Agreement, Agreement.id == Lot.agreement_id)),
        ),
    }
    company_of_entry: dict[int, int] = {}
    for source_type, sources in by_source.items():
        if source_type not in lookups:
            continue
        key, company, joins = lookups[source_type]
        for ids in chunks(sorted(set(sources))):
            query = select(key, company)
            for target, on in joins:
                query = query.join(target, on)
            for source_id, company_id in session.execute(query.where(key.in_(ids))):
                for entry_id in sources[source_id]:
                    company_of_entry[entry_id] = company_id
    companies: dict[int, Company] = {}
    for ids in chunks(sorted(set(company_of_entry.values()))):
        companies.update({c.id: c for c in session.scalars(select(Company).where(Company.id.in_(ids)))})
    return {entry_id: companies[company_id] for entry_id, company_id in company_of_entry.items()}


def _by_entry(lines: list[ExportLine]) -> list[list[ExportLine]]:
    grouped: dict[int, list[ExportLine]] = {}
    for line in lines:
        grouped.setdefault(line.entry.id, []).append(line)
    return list(grouped.values())


def _journal_number(batch: JournalBatch, entry: JournalEntry) -> str:
    return f"{batch.identifier}-{entry.id}"


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
                one_line(line.entry.memo),
                line.entry.source_type,
                line.entry.source_id,
                one_line(line.account.code),
                one_line(line.account.name),
                f"{line.debit:.2f}",
                f"{line.credit:.2f}",
            ]
        )
    return out.getvalue()


def _json(batch: JournalBatch, lines: list[ExportLine]) -> str:
    entries = [
        {
            "id": str(group[0].entry.id),
            "date": group[0].entry.date.isoformat(),
            "memo": one_line(group[0].entry.memo),
            "sourceType": group[0].entry.source_type,
            "sourceId": str(group[0].entry.source_id),
            "lines": [
                {
                    "accountCode": one_line(line.account.code),
                    "accountName": one_line(line.account.name),
                    "debit": f"{line.debit:.2f}",
                    "credit": f"{line.credit:.2f}",
                }
                for line in group
            ],
        }
        for group in _by_entry(lines)
    ]
    return json.dumps(
        {
            "batch": batch.identifier,
            "status": batch.status.value,
            "postedAt": batch.posted_at.isoformat() if batch.posted_at else None,
            "totalDebit": f"{batch.total_debit:.2f}",
            "totalCredit": f"{batch.total_credit:.2f}",
            "entries": entries,
        },
        indent=2,
    )


def _iif_memo(value: str) -> str:
    # QuickBooks reads a double quote in an IIF field as quoting; in a memo nothing needs
    # to match, so it becomes a single quote. Account and customer names must match
    # QuickBooks' lists exactly and are only flattened (a tab would end the field).
    return one_line(value).replace('"', "'")


def _iif(batch: JournalBatch, lines: list[ExportLine]) -> str:
    """QuickBooks Desktop IIF general journal: per entry a TRNS line, SPL lines, ENDTRNS.

    TRNSID identifies the transaction (the journal entry), SPLID each split (the
    journal line), so neither repeats the other; ACCNT is the account's name, unique
    in Blocktime as in QuickBooks; NAME is the customer on receivable lines (QuickBooks
    requires one on an Accounts Receivable line). Debits positive.
    """
    columns = "TRNSTYPE\tDATE\tACCNT\tNAME\tAMOUNT\tDOCNUM\tMEMO"
    rows = [f"!TRNS\tTRNSID\t{columns}", f"!SPL\tSPLID\t{columns}", "!ENDTRNS"]
    for group in _by_entry(lines):
        for position, line in enumerate(group):
            tag, ident = ("TRNS", line.entry.id) if position == 0 else ("SPL", line.line_id)
            fields = [
                tag,
                str(ident),
                "GENERAL JOURNAL",
                line.entry.date.strftime("%m/%d/%Y"),
                one_line(line.account.name),
                line.name,
                f"{line.amount:.2f}",
                _journal_number(batch, line.entry),
                _iif_memo(line.entry.memo),
            ]
            rows.append("\t".join(fields))
        rows.append("ENDTRNS")
    return "\n".join(rows) + "\n"


def _qbo(batch: JournalBatch, lines: list[ExportLine], settings: ExportSettings) -> str:
    """QuickBooks Online's journal-entry import: rows sharing a Journal No. are one entry."""
    try:
        date_format = QBO_DATE_FORMATS[settings.qbo_date_format]
    except KeyError:
        raise InvalidInput(
            f"QuickBooks Online date format {settings.qbo_date_format!r}; "
            f"expected one of {', '.join(QBO_DATE_FORMATS)}"
        ) from None
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["Journal No.", "Journal Date", "Account", "Debits", "Credits", "Description", "Name"])
    for line in lines:
        writer.writerow(
            [
                _journal_number(batch, line.entry),
                line.entry.date.strftime(date_format),
                one_line(line.account.name),
                f"{line.debit:.2f}" if line.debit else "",
                f"{line.credit:.2f}" if line.credit else "",
                one_line(line.entry.memo),
                line.name,
            ]
        )
    return out.getvalue()


def _xero(batch: JournalBatch, lines: list[ExportLine], settings: ExportSettings) -> list[str]:
    """Xero manual journals, one per entry (same narration and date), debits positive;
    split between whole journals into files of at most XERO_MAX_LINES lines."""
    tax_rate = one_line(settings.xero_tax_rate)
    if not tax_rate:
        raise InvalidInput("the Xero tax rate name is empty")
    receivable_code = one_line(settings.xero_receivable_account or "")
    header = ["*Narration", "*Date", "Description", "*AccountCode", "*TaxRate", "*Amount"]
    files: list[list[list[str]]] = []
    for group in _by_entry(lines):
        if len(group) > XERO_MAX_LINES - 1:
            raise InvalidInput(
                f"journal entry {group[0].entry.id} has {len(group)} lines, more than a Xero file holds"
            )
        if not files or len(files[-1]) + len(group) > XERO_MAX_LINES:
            files.append([header])
        entry = group[0].entry
        narration = one_line(f"{_journal_number(batch, entry)} {entry.memo}"[:XERO_TEXT_LIMIT])
        for line in group:
            description = entry.memo
            if line.receivable and line.customer is not None:
                description = f"{line.customer.name}: {description}"
            files[-1].append(
                [
                    narration,
                    entry.date.strftime("%d/%m/%Y"),
                    one_line(one_line(description)[:XERO_TEXT_LIMIT]),
                    receivable_code if line.receivable and receivable_code else one_line(line.account.code),
                    tax_rate,
                    f"{line.amount:.2f}",
                ]
            )
    if not files:
        files.append([header])
    written = []
    for rows in files:
        out = io.StringIO()
        csv.writer(out, lineterminator="\n").writerows(rows)
        written.append(out.getvalue())
    return written


def _beancount_component(text: str) -> str:
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    component = "-".join(re.findall(r"[A-Za-z0-9]+", ascii_text))
    # A component starts with a capital letter or a digit.
    return component[:1].upper() + component[1:]


def beancount_account_names(accounts: Iterable[GLAccount]) -> dict[int, str]:
    """Root:Code-Name for each account, valid in beancount and distinct from each other."""
    names: dict[int, str] = {}
    taken: set[str] = set()
    for account in sorted(accounts, key=lambda a: a.id):
        component = _beancount_component(f"{account.code} {account.name}") or f"A{account.id}"
        name = f"{_BEANCOUNT_ROOTS[account.type]}:{component}"
        if name in taken:  # two codes that differ only in punctuation
            name = f"{name}-{account.id}"
        taken.add(name)
        names[account.id] = name
    return names


def _beancount_string(text: str) -> str:
    return '"' + one_line(text).replace("\\", "\\\\").replace('"', '\\"') + '"'


def _beancount(batch: JournalBatch, lines: list[ExportLine], settings: ExportSettings) -> str:
    """A beancount ledger: open directives, then one transaction per journal entry in date
    order, with the entry's batch, id and source as metadata (bean-check accepts it)."""
    currency = settings.currency.strip().upper()
    if not _BEANCOUNT_CURRENCY.fullmatch(currency):
        raise InvalidInput(f"currency {settings.currency!r} is not a beancount commodity name")
    accounts = {line.account.id: line.account for line in lines}
    names = beancount_account_names(accounts.values())
    first_use: dict[int, str] = {}
    for line in lines:
        first_use.setdefault(line.account.id, line.entry.date.isoformat())
    out = [
        f"; Blocktime journal batch {batch.identifier}",
        f'option "title" {_beancount_string("Blocktime " + batch.identifier)}',
        f'option "operating_currency" "{currency}"',
        "",
    ]
    for account_id in sorted(accounts, key=lambda a: (first_use[a], names[a])):
        account = accounts[account_id]
        out.append(f"{first_use[account_id]} open {names[account_id]} {currency}")
        out.append(f"  code: {_beancount_string(account.code)}")
        out.append(f"  name: {_beancount_string(account.name)}")
    for group in _by_entry(lines):
        entry = group[0].entry
        customer = group[0].customer
        payee = f"{_beancount_string(customer.name)} " if customer and one_line(customer.name) else ""
        out += [
            "",
            f"{entry.date.isoformat()} * {payee}{_beancount_string(entry.memo)}",
            f"  batch: {_beancount_string(batch.identifier)}",
            f"  entry-id: {_beancount_string(str(entry.id))}",
            f"  source-type: {_beancount_string(entry.source_type)}",
            f"  source-id: {_beancount_string(str(entry.source_id))}",
        ]
        out += [f"  {names[line.account.id]}  {line.amount:.2f} {currency}" for line in group]
    return "\n".join(out) + "\n"
