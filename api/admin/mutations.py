"""Changing what was created; removing mappings and webhooks; revoking tokens; retrying jobs.

In every Update input a field left out (strawberry.UNSET) is unchanged and null clears
a field that may be null; each change is audited with its old and new values.
"""

import datetime as dt
from collections.abc import Callable
from decimal import Decimal
from typing import Any, TypeVar

import strawberry
from sqlalchemy.orm import Session

from accounting import changes, mappings, notifications, outbox, tokens
from accounting.changes import UNCHANGED, Changed
from api.admin.types import ApiToken
from api.agreements.types import Agreement, AgreementType
from api.catalog.types import Company
from api.context import Info, wrap
from api.fields import mutation
from api.jobs.types import Job
from api.notifications.types import NotificationDelivery
from api.scalars import input_id, lookup_id
from api.transaction import perform
from models import Model

UPDATE_DESCRIPTION = "A field left out is unchanged, and null clears a field that may be null."
M = TypeVar("M", bound=Model)


def given(value: Any) -> Any:
    """strawberry.UNSET (left out) becomes accounting's UNCHANGED; null and values pass."""
    return UNCHANGED if value is strawberry.UNSET else value


def given_ids(values: list[strawberry.ID] | None, field: str) -> Any:
    if values is strawberry.UNSET or values is None:
        return given(values)
    return [input_id(value, field) for value in values]


@strawberry.input(description=UPDATE_DESCRIPTION)
class UpdateAgreementInput:
    name: str | None = strawberry.UNSET
    end_date: dt.date | None = strawberry.UNSET
    allow_overruns: bool | None = strawberry.UNSET
    low_balance_threshold: Decimal | None = strawberry.UNSET
    notify_emails: list[str] | None = strawberry.UNSET


@strawberry.input(description=UPDATE_DESCRIPTION)
class UpdateAgreementTypeInput:
    name: str | None = strawberry.UNSET
    allow_overruns: bool | None = strawberry.UNSET
    expire_after_months: int | None = strawberry.UNSET
    low_balance_threshold: Decimal | None = strawberry.UNSET
    low_balance_percent: Decimal | None = strawberry.UNSET
    excluded_work_type_ids: list[strawberry.ID] | None = strawberry.UNSET
    excluded_work_role_ids: list[strawberry.ID] | None = strawberry.UNSET


@strawberry.input(description=UPDATE_DESCRIPTION)
class UpdateCompanyInput:
    name: str | None = strawberry.UNSET
    billing_email: str | None = strawberry.UNSET


def _update(info: Info, action: str, id: strawberry.ID, apply: Callable[[Session], Changed[M]]) -> M:
    """perform() an update (roles from accounting.access.OPERATIONS); the audit entry holds
    each changed field's old and new value."""
    details: dict[str, Any] = {"id": id}

    def change(session: Session) -> M:
        result = apply(session)
        details["changes"] = result.changes
        return result.row

    return perform(info, action, change=change, details=details)


@strawberry.type
class AdminMutation:
    @mutation(description="Change an agreement from now on (SPEC §10). " + UPDATE_DESCRIPTION)
    def update_agreement(self, info: Info, id: strawberry.ID, input: UpdateAgreementInput) -> Agreement:
        row = _update(
            info,
            "updateAgreement",
            id,
            lambda session: changes.update_agreement(
                session,
                agreement_id=lookup_id(id, "agreement"),
                name=given(input.name),
                end_date=given(input.end_date),
                allow_overruns=given(input.allow_overruns),
                low_balance_threshold=given(input.low_balance_threshold),
                notify_emails=given(input.notify_emails),
            ),
        )
        return wrap(info, Agreement, row)

    @mutation(
        description="Change an agreement type from now on: time already logged keeps its coverage. "
        + UPDATE_DESCRIPTION
    )
    def update_agreement_type(
        self, info: Info, id: strawberry.ID, input: UpdateAgreementTypeInput
    ) -> AgreementType:
        row = _update(
            info,
            "updateAgreementType",
            id,
            lambda session: changes.update_agreement_type(
                session,
                agreement_type_id=lookup_id(id, "agreement type"),
                name=given(input.name),
                allow_overruns=given(input.allow_overruns),
                expire_after_months=given(input.expire_after_months),
                low_balance_threshold=given(input.low_balance_threshold),
                low_balance_percent=given(input.low_balance_percent),
                excluded_work_type_ids=given_ids(input.excluded_work_type_ids, "excludedWorkTypeIds"),
                excluded_work_role_ids=given_ids(input.excluded_work_role_ids, "excludedWorkRoleIds"),
            ),
        )
        return wrap(info, AgreementType, row)

    @mutation(description="Rename a company or change its billing e-mail. " + UPDATE_DESCRIPTION)
    def update_company(self, info: Info, id: strawberry.ID, input: UpdateCompanyInput) -> Company:
        row = _update(
            info,
            "updateCompany",
            id,
            lambda session: changes.update_company(
                session,
                company_id=lookup_id(id, "company"),
                name=given(input.name),
                billing_email=given(input.billing_email),
            ),
        )
        return wrap(info, Company, row)

    @mutation(description="Remove a GL mapping; posted entries keep their accounts.")
    def delete_gl_mapping(self, info: Info, id: strawberry.ID) -> bool:
        details: dict[str, Any] = {"id": id}

        def delete(session: Session) -> Model:
            mapping = mappings.delete_gl_mapping(session, mapping_id=lookup_id(id, "GL mapping"))
            details.update(kind=mapping.kind, scope=mapping.scope_key, accountId=mapping.account_id)
            return mapping

        perform(info, "deleteGlMapping", details=details, change=delete)
        return True

    @mutation(description="Stop deliveries to a webhook (ADMIN).")
    def delete_webhook(self, info: Info, id: strawberry.ID) -> bool:
        perform(
            info,
            "deleteWebhook",
            details={"id": id},
            change=lambda session: notifications.delete_webhook(session, webhook_id=lookup_id(id, "webhook")),
        )
        return True

    @mutation(description="The token fails with UNAUTHENTICATED from the next request on (ADMIN).")
    def revoke_api_token(self, info: Info, id: strawberry.ID) -> ApiToken:
        row = perform(
            info,
            "revokeApiToken",
            details={"id": id},
            change=lambda session: tokens.revoke_token(session, token_id=lookup_id(id, "API token")),
        )
        return wrap(info, ApiToken, row)

    @mutation(
        description="Put a FAILED job (a dead letter) back in the outbox; a failed delivery's "
        "job sends that delivery again (ADMIN)."
    )
    def retry_job(self, info: Info, id: strawberry.ID) -> Job:
        row = perform(
            info,
            "retryJob",
            details={"id": id},
            change=lambda session: outbox.retry_job(session, job_id=lookup_id(id, "outbox job")),
        )
        return wrap(info, Job, row)

    @mutation(description="Send a FAILED notification delivery again (ADMIN).")
    def retry_delivery(self, info: Info, id: strawberry.ID) -> NotificationDelivery:
        row = perform(
            info,
            "retryDelivery",
            details={"id": id},
            change=lambda session: notifications.retry_delivery(
                session, delivery_id=lookup_id(id, "notification delivery")
            ),
        )
        return wrap(info, NotificationDelivery, row)
