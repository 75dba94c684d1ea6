"""Accounts, mappings and journal batches."""

import dataclasses
import datetime as dt

import strawberry

from accounting import batches, closing, mappings
from api.context import Info, wrap
from api.enums import AccountType, MappingKind
from api.fields import mutation
from api.ledger.types import GLAccount, GLMapping, JournalBatch
from api.scalars import input_id, optional_input_id
from api.transaction import perform


@strawberry.input
class CreateGLAccountInput:
    code: str
    name: str
    type: AccountType


@strawberry.input(description="Create or replace the mapping of one scope (kind, agreement type, category).")
class SetGLMappingInput:
    kind: MappingKind
    agreement_type_id: strawberry.ID | None = None
    category: str | None = None
    subcategory: str | None = None
    account_id: strawberry.ID


@strawberry.type
class LedgerMutation:
    @strawberry.mutation
    def create_gl_account(self, info: Info, input: CreateGLAccountInput) -> GLAccount:
        row = perform(
            info,
            "createGlAccount",
            details=dataclasses.asdict(input),
            change=lambda session: mappings.create_gl_account(
                session, code=input.code, name=input.name, type=input.type
            ),
        )
        return wrap(info, GLAccount, row)

    @strawberry.mutation
    def set_gl_mapping(self, info: Info, input: SetGLMappingInput) -> GLMapping:
        row = perform(
            info,
            "setGlMapping",
            details=dataclasses.asdict(input),
            change=lambda session: mappings.set_gl_mapping(
                session,
                kind=input.kind,
                account_id=input_id(input.account_id, "accountId"),
                agreement_type_id=optional_input_id(input.agreement_type_id, "agreementTypeId"),
                category=input.category,
                subcategory=input.subcategory,
            ),
        )
        return wrap(info, GLMapping, row)

    @mutation(
        description="Create a batch of everything invoiced and not yet posted, and enqueue its posting."
    )
    def post_journal_batch(self, info: Info, through_date: dt.date | None = None) -> JournalBatch:
        row = perform(
            info,
            "postJournalBatch",
            details=lambda batch: {"throughDate": batch.through_date},
            change=lambda session: batches.create_batch(session, through_date=through_date),
        )
        return wrap(info, JournalBatch, row)

    @mutation(
        description=(
            "Close the books through a date: CONFLICT while anything dated on or before it is unposted."
        )
    )
    def close_period(self, info: Info, through: dt.date) -> dt.date:
        row = perform(
            info,
            "closePeriod",
            details={"through": through},
            change=lambda session: closing.close_period(session, through=through),
        )
        return row.through
