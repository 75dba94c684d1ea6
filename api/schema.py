"""The GraphQL schema of ../shared/contract.graphql, and more.

`python -m api.schema` prints it; `schema.graphql` at the repository root is that
output (tests/api/test_schema.py fails when it is stale).
"""

from __future__ import annotations

import sys

import strawberry
from graphql import GraphQLError
from strawberry.schema.config import StrawberryConfig
from strawberry.types import ExecutionContext
from strawberry.types.scalar import ScalarDefinition

from api.access.mutations import AccessMutation
from api.access.queries import AccessQuery
from api.admin.mutations import AdminMutation
from api.admin.queries import AdminQuery
from api.agreements.mutations import AgreementMutation
from api.agreements.queries import AgreementQuery
from api.allowances.mutations import AllowanceMutation
from api.billing.mutations import BillingMutation
from api.billing.queries import BillingQuery
from api.catalog.mutations import CatalogMutation
from api.catalog.queries import CatalogQuery
from api.errors import log_errors
from api.jobs.queries import JobQuery
from api.ledger.mutations import LedgerMutation
from api.ledger.queries import LedgerQuery
from api.limits import limit_extensions
from api.notifications.mutations import NotificationMutation
from api.notifications.queries import NotificationQuery
from api.scalars import SCALAR_MAP
from api.time_entries.mutations import TimeEntryMutation
from api.time_entries.queries import TimeEntryQuery
from api.transaction import UnitOfWork


@strawberry.type
class Query(
    AccessQuery,
    CatalogQuery,
    AgreementQuery,
    TimeEntryQuery,
    BillingQuery,
    LedgerQuery,
    NotificationQuery,
    JobQuery,
    AdminQuery,
):
    pass


@strawberry.type
class Mutation(
    CatalogMutation,
    LedgerMutation,
    AgreementMutation,
    AllowanceMutation,
    TimeEntryMutation,
    BillingMutation,
    NotificationMutation,
    AccessMutation,
    AdminMutation,
):
    pass


class BlocktimeSchema(strawberry.Schema):
    def process_errors(
        self, errors: list[GraphQLError], execution_context: ExecutionContext | None = None
    ) -> None:
        # strawberry logs every error with a stack; only the unexpected ones deserve that.
        log_errors(errors, execution_context)


schema = BlocktimeSchema(
    query=Query,
    mutation=Mutation,
    # Errors get their codes (or are masked) in api.view, after every extension has run.
    extensions=[*limit_extensions(), UnitOfWork],
    config=StrawberryConfig(scalar_map=dict[object, ScalarDefinition](SCALAR_MAP.items())),
)


def sdl() -> str:
    return schema.as_str() + "\n"


if __name__ == "__main__":
    sys.stdout.write(sdl())
